//! Secret → Credential: which Secrets scopegate handles, which role their token plays, and the token
//! itself. Pure: no configuration beyond the Secret, no network.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use kube::core::DynamicObject;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::token::Token;

/// The label Argo CD reads to find repository credentials.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";
/// The name of the Codefresh GitOps Runtime token Secret.
pub const RUNTIME_SECRET_NAME: &str = "runtime-repo-creds-secret";
/// The name prefix of the Codefresh Git user token Secrets.
pub const USER_SECRET_PREFIX: &str = "git-default-";
/// Annotation asking for a stricter role.
pub const ROLE_ANNOTATION: &str = "scopegate.dev/role";
/// Annotation asking to skip validation.
pub const SKIP_ANNOTATION: &str = "scopegate.dev/skip-validation";
/// Annotation naming the repositories to probe for a credential template (URLs or paths, comma- or
/// space-separated).
pub const PROBE_ANNOTATION: &str = "scopegate.dev/probe-repositories";

/// The value of the Argo CD secret-type label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretType {
    Repository,
    RepoCreds,
    RepositoryWrite,
    RepoWriteCreds,
}

impl SecretType {
    /// Every value of the `argocd.argoproj.io/secret-type` label scopegate checks.
    pub const ALL: [SecretType; 4] = [
        Self::Repository,
        Self::RepoCreds,
        Self::RepositoryWrite,
        Self::RepoWriteCreds,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "repository" => Self::Repository,
            "repo-creds" => Self::RepoCreds,
            "repository-write" => Self::RepositoryWrite,
            "repo-write-creds" => Self::RepoWriteCreds,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Repository => "repository",
            Self::RepoCreds => "repo-creds",
            Self::RepositoryWrite => "repository-write",
            Self::RepoWriteCreds => "repo-write-creds",
        }
    }

    /// A credential template (URL prefix) rather than one repository.
    pub fn is_template(self) -> bool {
        matches!(self, Self::RepoCreds | Self::RepoWriteCreds)
    }
}

/// What the token is for, from least to most demanding. Each role's requirements include the previous
/// role's, so "stricter" is simply "greater".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Argo CD clones and pulls.
    Read,
    /// Argo CD pushes (Source Hydrator).
    Write,
    /// A Codefresh Git user token.
    User,
    /// The Codefresh GitOps Runtime token.
    Runtime,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Read, Role::Write, Role::User, Role::Runtime];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "read" => Self::Read,
            "write" => Self::Write,
            "user" => Self::User,
            "runtime" => Self::Runtime,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::User => "user",
            Self::Runtime => "runtime",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role that applies, and what became of an annotation asking for another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleChoice {
    pub effective: Role,
    pub derived: Role,
    /// The annotation's value when it was ignored (weaker than derived, or not a role).
    pub ignored_request: Option<String>,
}

/// The Kubernetes Secret, reduced to what scopegate reads.
#[derive(Debug, Clone, Default)]
pub struct SecretObject {
    pub namespace: String,
    pub name: String,
    pub generate_name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    data: Option<Value>,
    string_data: Option<Value>,
}

impl SecretObject {
    pub fn from_dynamic(obj: &DynamicObject) -> Self {
        let m = &obj.metadata;
        Self {
            namespace: m.namespace.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
            generate_name: m.generate_name.clone().unwrap_or_default(),
            labels: m.labels.clone().unwrap_or_default(),
            annotations: m.annotations.clone().unwrap_or_default(),
            data: obj.data.get("data").cloned(),
            string_data: obj.data.get("stringData").cloned(),
        }
    }

    /// Take the Secret out of a dynamic object without copying it.
    pub fn from_dynamic_owned(obj: DynamicObject) -> Self {
        let DynamicObject { metadata: m, data, .. } = obj;
        let (data, string_data) = match data {
            Value::Object(mut map) => (map.remove("data"), map.remove("stringData")),
            _ => (None, None),
        };
        Self {
            namespace: m.namespace.unwrap_or_default(),
            name: m.name.unwrap_or_default(),
            generate_name: m.generate_name.unwrap_or_default(),
            labels: m.labels.unwrap_or_default(),
            annotations: m.annotations.unwrap_or_default(),
            data,
            string_data,
        }
    }

    /// `name`, or `generateName` when the API server has not named it yet.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.generate_name
        } else {
            &self.name
        }
    }

    pub fn secret_type(&self) -> Option<SecretType> {
        self.labels.get(SECRET_TYPE_LABEL).and_then(|v| SecretType::parse(v))
    }

    fn is_user_token_secret(&self) -> bool {
        self.name.starts_with(USER_SECRET_PREFIX)
            || (self.name.is_empty() && self.generate_name.starts_with(USER_SECRET_PREFIX))
    }

    /// Whether scopegate looks at this Secret at all.
    pub fn is_handled(&self) -> bool {
        self.secret_type().is_some() || self.is_user_token_secret()
    }

    /// A key of `stringData` (which the API server folds over `data`) or of `data` (base64).
    fn field(&self, key: &str) -> Result<Option<Zeroizing<String>>, Malformed> {
        if let Some(v) = self.string_data.as_ref().and_then(|d| d.get(key)) {
            return match v {
                Value::String(s) => Ok(Some(Zeroizing::new(s.clone()))),
                Value::Null => Ok(None),
                _ => Err(Malformed::new(format!("stringData.{key}"), "is not a string")),
            };
        }
        let Some(v) = self.data.as_ref().and_then(|d| d.get(key)) else {
            return Ok(None);
        };
        let encoded = match v {
            Value::String(s) => s,
            Value::Null => return Ok(None),
            _ => {
                return Err(Malformed::new(format!("data.{key}"), "is not a base64 string"));
            }
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|_| {
                Malformed::new(
                    format!("data.{key}"),
                    "is not valid base64 (encode the value with `echo -n 'VALUE' | base64 -w0`, or put it in stringData)",
                )
            })?;
        // The decoded bytes become the string in place; on failure they are wiped.
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Some(Zeroizing::new(text))),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                Err(Malformed::new(format!("data.{key}"), "does not decode to UTF-8 text"))
            }
        }
    }

    fn field_name(&self, key: &str) -> String {
        let in_string_data = self.string_data.as_ref().and_then(|d| d.get(key)).is_some();
        if in_string_data {
            format!("stringData.{key}")
        } else {
            format!("data.{key}")
        }
    }

    fn has_field(&self, key: &str) -> bool {
        let non_empty = |d: &Option<Value>| {
            d.as_ref()
                .and_then(|d| d.get(key))
                .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()) || v.is_number())
        };
        non_empty(&self.string_data) || non_empty(&self.data)
    }
}

/// A Secret that cannot be used as written: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub field: String,
    pub problem: String,
    /// The value has surrounding whitespace or a trailing newline.
    pub whitespace: bool,
}

impl Malformed {
    fn new(field: String, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
            whitespace: false,
        }
    }
}

/// A repository URL as Argo CD accepts it: `https://host/path`, `ssh://…`, `git@host:path`, or a bare
/// `host/path` (OCI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    /// `https`, `http`, `ssh`, `oci`, … (`ssh` for the scp-like form).
    pub scheme: String,
    /// Lower-case host, with `:port` when the URL names a non-default port.
    pub host: String,
    /// Path segments, without empty ones.
    pub path: Vec<String>,
}

impl RepoUrl {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        if raw.contains("://") {
            let url = url::Url::parse(raw).ok()?;
            let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
            let host = match (url.scheme(), url.port()) {
                ("https" | "http", Some(p)) => format!("{host}:{p}"),
                _ => host,
            };
            let path = url
                .path_segments()
                .map(|s| s.filter(|p| !p.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default();
            return Some(Self {
                scheme: url.scheme().to_owned(),
                host,
                path,
            });
        }
        // scp-like: [user@]host:path
        if let Some((before, after)) = raw.split_once(':')
            && !before.contains('/')
        {
            let host = before.rsplit('@').next()?.to_ascii_lowercase();
            if host.is_empty() {
                return None;
            }
            return Some(Self {
                scheme: "ssh".into(),
                host,
                path: after.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
            });
        }
        let (host, rest) = raw.split_once('/').unwrap_or((raw, ""));
        if host.is_empty() || host.contains('@') {
            return None;
        }
        Some(Self {
            scheme: String::new(),
            host: host.to_ascii_lowercase(),
            path: rest.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        })
    }

    /// `owner/repo` (or `group/sub/project`), without a trailing `.git`.
    pub fn repo_path(&self) -> String {
        let mut segs: Vec<&str> = self.path.iter().map(String::as_str).collect();
        if let Some(last) = segs.last_mut() {
            *last = last.strip_suffix(".git").unwrap_or(last);
        }
        segs.join("/")
    }

    /// A printable form, never with credentials, query or fragment.
    pub fn display(&self) -> String {
        let scheme = if self.scheme.is_empty() {
            String::new()
        } else {
            format!("{}://", self.scheme)
        };
        format!("{scheme}{}/{}", self.host, self.path.join("/"))
    }
}

/// The Argo CD Secret fields that carry a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    Password,
    BearerToken,
}

impl TokenField {
    pub fn key(self) -> &'static str {
        match self {
            TokenField::Password => "password",
            TokenField::BearerToken => "bearerToken",
        }
    }
}

/// A credential Secret that holds a token.
#[derive(Debug, Clone)]
pub struct Credential {
    pub secret_type: Option<SecretType>,
    pub role: RoleChoice,
    pub url: RepoUrl,
    /// `type` from the Secret (`git` when absent).
    pub repo_type: String,
    pub username: Option<String>,
    pub token: Token,
    pub token_field: TokenField,
}

/// A credential Secret that holds GitHub App credentials.
#[derive(Debug, Clone)]
pub struct AppCredential {
    pub secret_type: Option<SecretType>,
    pub role: RoleChoice,
    pub url: RepoUrl,
    pub app_id: u64,
    pub installation_id: Option<u64>,
    pub private_key: Token,
    /// `githubAppEnterpriseBaseUrl`: the GitHub Enterprise API the app lives on.
    pub enterprise_base_url: Option<String>,
}

/// What a credential Secret holds when it is not a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonToken {
    SshKey,
    TlsClientCert,
    CloudIdentity,
    None,
}

impl NonToken {
    pub fn as_str(self) -> &'static str {
        match self {
            NonToken::SshKey => "ssh-key",
            NonToken::TlsClientCert => "tls-client-cert",
            NonToken::CloudIdentity => "cloud-identity",
            NonToken::None => "none",
        }
    }
}

/// What a Secret is to scopegate.
#[derive(Debug, Clone)]
pub enum Subject {
    /// Not a credential Secret: admitted untouched.
    Ignored,
    /// A credential Secret that cannot be used as written.
    Malformed { role: RoleChoice, problem: Malformed },
    /// A credential Secret whose credential is not a token.
    NotAToken {
        role: RoleChoice,
        url: Option<RepoUrl>,
        what: NonToken,
    },
    /// A token to check.
    Token(Box<Credential>),
    /// GitHub App credentials to check.
    GithubApp(Box<AppCredential>),
}

/// The role a Secret's token plays, from its name and label, and the annotation asking for a stricter one.
pub fn role_of(secret: &SecretObject) -> RoleChoice {
    let derived = if secret.name == RUNTIME_SECRET_NAME {
        Role::Runtime
    } else if secret.is_user_token_secret() {
        Role::User
    } else if matches!(
        secret.secret_type(),
        Some(SecretType::RepositoryWrite | SecretType::RepoWriteCreds)
    ) {
        Role::Write
    } else {
        Role::Read
    };
    match secret.annotations.get(ROLE_ANNOTATION) {
        None => RoleChoice {
            effective: derived,
            derived,
            ignored_request: None,
        },
        Some(asked) => match Role::parse(asked) {
            Some(r) if r >= derived => RoleChoice {
                effective: r,
                derived,
                ignored_request: None,
            },
            _ => RoleChoice {
                effective: derived,
                derived,
                ignored_request: Some(asked.clone()),
            },
        },
    }
}

/// The fields that make up the credential, decoded: two Secrets with equal values hold the same
/// credential.
#[derive(PartialEq, Eq)]
pub struct CredentialFields {
    url: Option<Zeroizing<String>>,
    username: Option<Zeroizing<String>>,
    password: Option<Zeroizing<String>>,
    bearer_token: Option<Zeroizing<String>>,
}

impl CredentialFields {
    pub fn read(secret: &SecretObject) -> Result<Self, Malformed> {
        Ok(Self {
            url: secret.field("url")?,
            username: secret.field("username")?,
            password: secret.field("password")?,
            bearer_token: secret.field("bearerToken")?,
        })
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_deref().map(String::as_str)
    }
}

/// The Secret fields that make a `repository` Secret carry credentials of its own (then Argo CD uses
/// them, not a credential template's).
const CREDENTIAL_KEYS: [&str; 9] = [
    "username",
    "password",
    "bearerToken",
    "sshPrivateKey",
    "tlsClientCertData",
    "githubAppPrivateKey",
    "gcpServiceAccountKey",
    "azureServicePrincipalClientSecret",
    "useAzureWorkloadIdentity",
];

impl SecretObject {
    /// The Secret's `url`, decoded; `None` when absent or unreadable.
    pub fn url(&self) -> Option<String> {
        self.field("url").ok().flatten().map(|u| u.trim().to_owned())
    }

    /// Whether the Secret carries credentials of its own (a non-empty credential field).
    pub fn has_own_credentials(&self) -> bool {
        CREDENTIAL_KEYS
            .iter()
            .any(|k| self.field(k).ok().flatten().is_some_and(|v| !v.trim().is_empty()))
    }
}

fn whitespace_problem(secret: &SecretObject, key: &str, value: &str) -> Option<Malformed> {
    if value.trim() == value {
        return None;
    }
    let what = if value.ends_with('\n') {
        "ends with a newline"
    } else {
        "has leading or trailing whitespace"
    };
    Some(Malformed {
        field: secret.field_name(key),
        problem: what.into(),
        whitespace: true,
    })
}

fn github_app(secret: &SecretObject, role: RoleChoice, url: Option<RepoUrl>) -> Subject {
    let number =
        |key: &str| -> Result<Option<u64>, Malformed> {
            match secret.field(key)? {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                    Malformed::new(secret.field_name(key), "is not a number (the GitHub App's numeric ID)")
                }),
            }
        };
    let app = (|| -> Result<AppCredential, Malformed> {
        let app_id = number("githubAppID")?.ok_or_else(|| {
            Malformed::new(
                "githubAppID".into(),
                "is missing: a GitHub App credential needs the app's ID",
            )
        })?;
        let installation_id = number("githubAppInstallationID")?;
        let private_key = secret
            .field("githubAppPrivateKey")?
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| {
                Malformed::new(
                    "githubAppPrivateKey".into(),
                    "is missing: a GitHub App credential needs the app's private key",
                )
            })?;
        {
            use rustls_pki_types::pem::PemObject;
            if rustls_pki_types::PrivateKeyDer::from_pem_slice(private_key.as_bytes()).is_err() {
                return Err(Malformed::new(
                    secret.field_name("githubAppPrivateKey"),
                    "is not a PEM private key (the .pem file GitHub gives when the key is generated)",
                ));
            }
        }

        let url = url.clone().ok_or_else(|| Malformed::new("url".into(), "is missing"))?;
        let enterprise_base_url = secret
            .field("githubAppEnterpriseBaseUrl")?
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        Ok(AppCredential {
            secret_type: secret.secret_type(),
            role: role.clone(),
            url,
            app_id,
            installation_id,
            private_key: Token::new(private_key.to_string()),
            enterprise_base_url,
        })
    })();
    match app {
        Ok(a) => Subject::GithubApp(Box::new(a)),
        Err(problem) => Subject::Malformed { role, problem },
    }
}

/// The repositories (paths on the credential's host) whose permissions are probed for a credential:
/// those named in `scopegate.dev/probe-repositories`; else a repository Secret's own repository; else,
/// for a credential template, the Shared Configuration Repository when the template's prefix covers it.
pub fn probe_targets(secret: &SecretObject, url: &RepoUrl, shared_repo: Option<&str>) -> Vec<String> {
    if let Some(list) = secret.annotations.get(PROBE_ANNOTATION) {
        return list
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|item| {
                if item.contains("://") || item.contains('@') {
                    RepoUrl::parse(item)
                        .filter(|u| u.host == url.host)
                        .map(|u| u.repo_path())
                } else {
                    Some(item.trim_matches('/').trim_end_matches(".git").to_owned())
                }
            })
            .filter(|p| !p.is_empty())
            .collect();
    }
    let template = secret.secret_type().is_some_and(SecretType::is_template);
    if !template {
        let own = url.repo_path();
        return if own.is_empty() { Vec::new() } else { vec![own] };
    }
    shared_repo
        .and_then(RepoUrl::parse)
        .filter(|shared| shared.host == url.host && shared.path.len() > url.path.len())
        .filter(|shared| {
            let prefix = url.repo_path();
            let shared_path = shared.repo_path();
            prefix.is_empty() || shared_path.starts_with(&format!("{prefix}/"))
        })
        .map(|shared| vec![shared.repo_path()])
        .unwrap_or_default()
}

/// Classify a Secret.
pub fn classify(secret: &SecretObject) -> Subject {
    if !secret.is_handled() {
        return Subject::Ignored;
    }
    let role = role_of(secret);
    let fields = match CredentialFields::read(secret) {
        Ok(f) => f,
        Err(problem) => return Subject::Malformed { role, problem },
    };
    for (key, value) in [
        ("url", &fields.url),
        ("username", &fields.username),
        ("password", &fields.password),
        ("bearerToken", &fields.bearer_token),
    ] {
        if let Some(v) = value.as_deref()
            && let Some(problem) = whitespace_problem(secret, key, v)
        {
            return Subject::Malformed { role, problem };
        }
    }
    let CredentialFields {
        url: url_field,
        username,
        password,
        bearer_token,
    } = fields;
    let present = |v: Option<Zeroizing<String>>| v.filter(|s| !s.is_empty());
    // Argo CD prefers HTTPS credentials over every other kind when both are present.
    let token = match (present(bearer_token), present(password)) {
        (Some(t), _) => Some((TokenField::BearerToken, t)),
        (None, Some(t)) => Some((TokenField::Password, t)),
        (None, None) => None,
    };
    let url_text = url_field.as_deref().map(String::as_str).filter(|s| !s.is_empty());
    let url = match url_text.map(RepoUrl::parse) {
        Some(None) => {
            return Subject::Malformed {
                role,
                problem: Malformed::new(secret.field_name("url"), "is not a repository URL"),
            };
        }
        Some(Some(u)) => Some(u),
        None => None,
    };
    let Some((token_field, token)) = token else {
        let is_app = secret.has_field("githubAppPrivateKey") || secret.has_field("githubAppID");
        if is_app && !secret.has_field("sshPrivateKey") {
            return github_app(secret, role, url);
        }
        let what = if secret.has_field("sshPrivateKey") {
            NonToken::SshKey
        } else if secret.has_field("tlsClientCertData") {
            NonToken::TlsClientCert
        } else if secret.has_field("gcpServiceAccountKey")
            || secret.has_field("azureServicePrincipalClientSecret")
            || secret.has_field("useAzureWorkloadIdentity")
        {
            NonToken::CloudIdentity
        } else {
            NonToken::None
        };
        return Subject::NotAToken { role, url, what };
    };
    let Some(url) = url else {
        return Subject::Malformed {
            role,
            problem: Malformed::new(
                "url".into(),
                format!(
                    "is missing: the Secret holds a token in {} but no repository URL, so nothing can tell which provider it is for",
                    secret.field_name(token_field.key())
                ),
            ),
        };
    };
    let repo_type = secret
        .field("type")
        .ok()
        .flatten()
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "git".into());
    Subject::Token(Box::new(Credential {
        secret_type: secret.secret_type(),
        role,
        url,
        repo_type,
        username: present(username).map(|u| u.to_string()),
        token: Token::from_zeroizing(token),
        token_field,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(v: Value) -> SecretObject {
        let obj: DynamicObject = serde_json::from_value(v).unwrap();
        SecretObject::from_dynamic(&obj)
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn repo_secret(name: &str, kind: &str, data: Value) -> SecretObject {
        secret(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "argocd", "labels": {SECRET_TYPE_LABEL: kind}},
            "data": data,
        }))
    }

    #[test]
    fn only_labelled_and_git_default_secrets_are_handled() {
        for t in ["repository", "repo-creds", "repository-write", "repo-write-creds"] {
            assert!(repo_secret("x", t, json!({})).is_handled(), "{t}");
        }
        for t in ["cluster", "scm-creds", "repo-config", ""] {
            assert!(!repo_secret("x", t, json!({})).is_handled(), "{t}");
        }
        let s = secret(json!({"metadata": {"name": "git-default-1234"}}));
        assert!(s.is_handled());
        let s = secret(json!({"metadata": {"generateName": "git-default-"}}));
        assert!(s.is_handled());
        let s = secret(json!({"metadata": {"name": "runtime-repo-creds-secret"}}));
        assert!(!s.is_handled(), "the runtime Secret is recognised by its label");
        assert!(matches!(
            classify(&secret(json!({"metadata": {"name": "other"}}))),
            Subject::Ignored
        ));
    }

    #[test]
    fn roles_follow_names_then_labels() {
        let role = |name: &str, t: &str| role_of(&repo_secret(name, t, json!({}))).effective;
        assert_eq!(role("runtime-repo-creds-secret", "repo-creds"), Role::Runtime);
        assert_eq!(role("git-default-42", "repository"), Role::User);
        assert_eq!(role("git-default-42", "repository-write"), Role::User);
        assert_eq!(role("push", "repository-write"), Role::Write);
        assert_eq!(role("push", "repo-write-creds"), Role::Write);
        assert_eq!(role("pull", "repository"), Role::Read);
        assert_eq!(role("pull", "repo-creds"), Role::Read);
    }

    fn with_role_annotation(name: &str, t: &str, asked: &str) -> RoleChoice {
        let mut s = repo_secret(name, t, json!({}));
        s.annotations.insert(ROLE_ANNOTATION.into(), asked.into());
        role_of(&s)
    }

    #[test]
    fn the_role_annotation_only_tightens() {
        let r = with_role_annotation("pull", "repository", "runtime");
        assert_eq!(
            (r.effective, r.derived, r.ignored_request),
            (Role::Runtime, Role::Read, None)
        );
        let r = with_role_annotation("push", "repository-write", "write");
        assert_eq!((r.effective, r.ignored_request), (Role::Write, None));
        let r = with_role_annotation("runtime-repo-creds-secret", "repo-creds", "read");
        assert_eq!(
            (r.effective, r.ignored_request.as_deref()),
            (Role::Runtime, Some("read"))
        );
        let r = with_role_annotation("push", "repository-write", "admin");
        assert_eq!(
            (r.effective, r.ignored_request.as_deref()),
            (Role::Write, Some("admin"))
        );
    }

    #[test]
    fn tokens_come_from_data_and_string_data() {
        let s = repo_secret(
            "r",
            "repository",
            json!({"url": b64("https://github.com/org/repo.git"), "username": b64("git"), "password": b64("ghp_x")}),
        );
        let Subject::Token(c) = classify(&s) else {
            panic!("expected a token")
        };
        assert_eq!(c.url.host, "github.com");
        assert_eq!(c.url.repo_path(), "org/repo");
        assert_eq!(c.username.as_deref(), Some("git"));
        assert_eq!(c.token.expose(), "ghp_x");
        assert_eq!(c.token_field, TokenField::Password);
        assert_eq!(c.repo_type, "git");

        let s = secret(json!({
            "metadata": {"name": "r", "labels": {SECRET_TYPE_LABEL: "repository"}},
            "data": {"password": b64("old")},
            "stringData": {"url": "https://bitbucket.example.com/scm/p/r.git", "bearerToken": "BBDC-x", "password": "new"},
        }));
        let Subject::Token(c) = classify(&s) else {
            panic!("expected a token")
        };
        assert_eq!(c.token_field, TokenField::BearerToken);
        assert_eq!(c.token.expose(), "BBDC-x");
    }

    fn malformed(s: &SecretObject) -> Malformed {
        match classify(s) {
            Subject::Malformed { problem, .. } => problem,
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn bad_base64_names_the_field() {
        let m = malformed(&repo_secret(
            "r",
            "repository",
            json!({"url": b64("https://github.com/o/r"), "password": "%%%"}),
        ));
        assert_eq!(m.field, "data.password");
        assert!(m.problem.contains("base64"));
        assert!(!m.whitespace);
        let m = malformed(&repo_secret("r", "repository", json!({"url": 12})));
        assert_eq!(m.field, "data.url");
    }

    #[test]
    fn a_token_without_url_is_malformed() {
        let m = malformed(&repo_secret("r", "repo-creds", json!({"password": b64("ghp_x")})));
        assert_eq!(m.field, "url");
        assert!(m.problem.contains("data.password"), "{}", m.problem);
    }

    #[test]
    fn trailing_newlines_and_spaces_are_caught() {
        let m = malformed(&repo_secret(
            "r",
            "repository",
            json!({"url": b64("https://github.com/o/r"), "password": b64("ghp_x\n")}),
        ));
        assert_eq!((m.field.as_str(), m.whitespace), ("data.password", true));
        assert!(m.problem.contains("newline"));
        let m = malformed(&repo_secret(
            "r",
            "repository",
            json!({"url": b64("https://github.com/o/r\n"), "password": b64("ghp_x")}),
        ));
        assert_eq!(m.field, "data.url");
        let s = secret(json!({
            "metadata": {"name": "r", "labels": {SECRET_TYPE_LABEL: "repository"}},
            "stringData": {"url": "https://github.com/o/r", "bearerToken": " tok"},
        }));
        let m = malformed(&s);
        assert_eq!(m.field, "stringData.bearerToken");
        assert!(m.problem.contains("whitespace"));
    }

    #[test]
    fn github_app_credentials() {
        let s = repo_secret(
            "app",
            "repo-creds",
            json!({"url": b64("https://github.com/acme"), "githubAppID": b64("123"), "githubAppInstallationID": b64("45"), "githubAppPrivateKey": b64(include_str!("../tests/fixtures/keys/github-app-test.pem"))}),
        );
        let Subject::GithubApp(a) = classify(&s) else {
            panic!("expected an app")
        };
        assert_eq!((a.app_id, a.installation_id), (123, Some(45)));
        assert_eq!(a.enterprise_base_url, None);
        let s = repo_secret(
            "app",
            "repository",
            json!({"url": b64("https://github.com/acme/x"), "githubAppID": b64("<your app ID here>"), "githubAppPrivateKey": b64("k")}),
        );
        assert_eq!(malformed(&s).field, "data.githubAppID");
        let s = repo_secret(
            "app",
            "repository",
            json!({"url": b64("https://github.com/acme/x"), "githubAppID": b64("1")}),
        );
        assert_eq!(malformed(&s).field, "githubAppPrivateKey");
    }

    #[test]
    fn probe_targets_follow_the_secret() {
        let url = RepoUrl::parse("https://github.com/acme/app.git").unwrap();
        let repo = repo_secret("r", "repository", json!({}));
        assert_eq!(probe_targets(&repo, &url, None), ["acme/app"]);
        let prefix = RepoUrl::parse("https://github.com/acme").unwrap();
        let creds = repo_secret("c", "repo-creds", json!({}));
        assert!(probe_targets(&creds, &prefix, None).is_empty());
        assert_eq!(
            probe_targets(&creds, &prefix, Some("https://github.com/acme/isc.git")),
            ["acme/isc"]
        );
        assert!(probe_targets(&creds, &prefix, Some("https://github.com/other/isc")).is_empty());
        assert!(probe_targets(&creds, &prefix, Some("https://gitlab.com/acme/isc")).is_empty());
        let mut annotated = creds.clone();
        annotated.annotations.insert(
            PROBE_ANNOTATION.into(),
            "https://github.com/acme/one.git, acme/two\nhttps://gitlab.com/x/y".into(),
        );
        assert_eq!(
            probe_targets(&annotated, &prefix, Some("https://github.com/acme/isc")),
            ["acme/one", "acme/two"]
        );
    }

    #[test]
    fn non_token_credentials() {
        let cases = [
            (
                json!({"url": b64("git@github.com:o/r.git"), "sshPrivateKey": b64("-----BEGIN")}),
                NonToken::SshKey,
            ),
            (
                json!({"url": b64("git@github.com:o/r.git"), "sshPrivateKey": b64("-----BEGIN"), "githubAppID": b64("1")}),
                NonToken::SshKey,
            ),
            (
                json!({"url": b64("https://git.corp/o"), "tlsClientCertData": b64("c")}),
                NonToken::TlsClientCert,
            ),
            (
                json!({"url": b64("https://dev.azure.com/o"), "azureServicePrincipalClientSecret": b64("s")}),
                NonToken::CloudIdentity,
            ),
            (json!({"url": b64("https://github.com/o/r")}), NonToken::None),
            (
                json!({"url": b64("https://github.com/o/r"), "username": b64("only-user")}),
                NonToken::None,
            ),
        ];
        for (data, want) in cases {
            match classify(&repo_secret("r", "repository", data)) {
                Subject::NotAToken { what, .. } => assert_eq!(what, want),
                other => panic!("expected {want:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn repo_urls_in_every_form_argo_cd_accepts() {
        let u = RepoUrl::parse("https://GitHub.com/argoproj/argo-cd.git").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.repo_path().as_str()),
            ("https", "github.com", "argoproj/argo-cd")
        );
        let u = RepoUrl::parse("https://user:secret@ghe.corp:8443/org/repo?x=1#y").unwrap();
        assert_eq!(u.host, "ghe.corp:8443");
        assert_eq!(u.display(), "https://ghe.corp:8443/org/repo");
        let u = RepoUrl::parse("git@github.com:argoproj-labs").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.repo_path().as_str()),
            ("ssh", "github.com", "argoproj-labs")
        );
        let u = RepoUrl::parse("ssh://git@github.com/argoproj/argocd-example-apps").unwrap();
        assert_eq!(u.host, "github.com");
        let u = RepoUrl::parse("contoso.azurecr.io/charts").unwrap();
        assert_eq!(
            (u.host.as_str(), u.repo_path().as_str()),
            ("contoso.azurecr.io", "charts")
        );
        let u = RepoUrl::parse("https://gitlab.com/group/sub/project.git").unwrap();
        assert_eq!(u.repo_path(), "group/sub/project");
        assert!(RepoUrl::parse("").is_none());
        assert!(RepoUrl::parse("https://").is_none());
    }

    #[test]
    fn the_credential_fields_compare_decoded() {
        let a = repo_secret(
            "r",
            "repository",
            json!({"url": b64("https://github.com/o/r"), "password": b64("t")}),
        );
        let b = secret(
            json!({"metadata": {"name": "r"}, "stringData": {"url": "https://github.com/o/r", "password": "t"}}),
        );
        let c = repo_secret(
            "r",
            "repository",
            json!({"url": b64("https://github.com/o/r"), "password": b64("u")}),
        );
        assert!(CredentialFields::read(&a).unwrap() == CredentialFields::read(&b).unwrap());
        assert!(CredentialFields::read(&a).unwrap() != CredentialFields::read(&c).unwrap());
    }
}
