//! Secret → credential: which Secrets scopegate handles, which role their token plays, and what they
//! hold. Pure: no configuration beyond the Secret, no network.
//!
//! - [`secret`]: the Secret as read, its fields decoded once;
//! - this module: roles and [`classify`] (a token, GitHub App credentials, something else, or malformed);
//! - [`app`]: GitHub App fields; [`kind`]: token kinds from provider and prefix.

pub mod app;
pub mod kind;
pub mod secret;

pub use app::AppCredential;
pub use kind::TokenKind;
use secret::FieldName;
pub use secret::{MalformedField, SecretObject, key_value};

use crate::repo_url::RepoUrl;
pub use crate::requirements::Role;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum SecretType {
    Repository,
    RepoCreds,
    RepositoryWrite,
    RepoWriteCreds,
}

impl SecretType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every value of the `argocd.argoproj.io/secret-type` label scopegate checks.
    pub fn all() -> impl Iterator<Item = SecretType> {
        <Self as strum::IntoEnumIterator>::iter()
    }

    /// A credential template (URL prefix) rather than one repository.
    pub fn is_template(self) -> bool {
        matches!(self, Self::RepoCreds | Self::RepoWriteCreds)
    }

    /// A Secret Argo CD pushes with (the source hydrator's).
    pub fn is_write(self) -> bool {
        matches!(self, Self::RepositoryWrite | Self::RepoWriteCreds)
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

/// The Argo CD Secret fields that carry a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    Password,
    BearerToken,
}

impl TokenField {
    pub fn key(self) -> &'static str {
        self.secret_key().as_str()
    }

    pub(crate) fn secret_key(self) -> FieldName {
        match self {
            TokenField::Password => FieldName::Password,
            TokenField::BearerToken => FieldName::BearerToken,
        }
    }
}

/// A credential Secret that holds a token.
#[derive(Debug, Clone)]
pub struct Credential {
    pub role: RoleChoice,
    pub url: RepoUrl,
    /// `type` from the Secret (`git` when absent).
    pub repo_type: String,
    pub username: Option<String>,
    pub token: Token,
    pub token_field: TokenField,
    /// `forceHttpBasicAuth`: Argo CD sends `Authorization: Basic base64(username:password)` itself,
    /// with the username as written (possibly empty).
    pub force_basic: bool,
}

/// What a credential Secret holds when it is not a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum NonToken {
    SshKey,
    TlsClientCert,
    CloudIdentity,
    None,
}

impl NonToken {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What kind of credential a Secret holds: a token of some kind, or something else. Its name is the
/// `scopegate.dev/token-kind` annotation's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Token(TokenKind),
    Other(NonToken),
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Token(k) => k.as_str(),
            CredentialKind::Other(n) => n.as_str(),
        }
    }

    pub fn token(self) -> Option<TokenKind> {
        match self {
            CredentialKind::Token(k) => Some(k),
            CredentialKind::Other(_) => None,
        }
    }
}

/// What a Secret is to scopegate.
#[derive(Debug, Clone)]
pub enum Classified {
    /// Not a credential Secret: admitted untouched.
    Ignored,
    /// A credential Secret that cannot be used as written.
    Malformed { role: RoleChoice, problem: MalformedField },
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

impl SecretObject {
    pub fn secret_type(&self) -> Option<SecretType> {
        self.labels.get(SECRET_TYPE_LABEL).and_then(|v| v.parse().ok())
    }

    fn is_user_token_secret(&self) -> bool {
        self.name.starts_with(USER_SECRET_PREFIX)
            || (self.name.is_empty() && self.generate_name.starts_with(USER_SECRET_PREFIX))
    }

    /// Whether scopegate looks at this Secret at all.
    pub fn is_handled(&self) -> bool {
        self.secret_type().is_some() || self.is_user_token_secret()
    }

    /// The Secret's `url`, trimmed; `None` when absent or unreadable.
    pub fn url(&self) -> Option<String> {
        self.field(FieldName::Url)
            .ok()
            .flatten()
            .map(|u| u.expose().trim().to_owned())
    }

    /// The Secret's `url` as a display form without credentials.
    pub fn display_url(&self) -> Option<String> {
        let raw = self.field(FieldName::Url).ok().flatten()?;
        RepoUrl::parse(raw.expose()).map(|u| u.display())
    }

    /// `insecure: "true"`: Argo CD skips certificate verification for this repository. `Err` when the
    /// value is not a boolean Argo CD can read.
    pub fn insecure(&self) -> Result<bool, MalformedField> {
        self.flag(FieldName::Insecure)
    }

    /// Whether the Secret carries credentials of its own (a non-blank credential field): then Argo CD
    /// uses them for its repository rather than a credential template's.
    pub fn has_own_credentials(&self) -> bool {
        CREDENTIAL_KEYS.iter().any(|k| self.has_non_blank(*k))
    }

    /// Whether two versions of a Secret hold the same credential (url, username, password,
    /// bearerToken, compared decoded); never when either cannot be decoded.
    pub fn same_credential(&self, other: &SecretObject) -> bool {
        fn fields(s: &SecretObject) -> Result<Vec<Option<&Token>>, MalformedField> {
            IDENTITY_KEYS.iter().map(|k| s.field(*k)).collect()
        }
        match (fields(self), fields(other)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// The fields that make up a token credential: two Secrets with equal values hold the same one.
const IDENTITY_KEYS: [FieldName; 4] = [
    FieldName::Url,
    FieldName::Username,
    FieldName::Password,
    FieldName::BearerToken,
];

/// The Secret fields that make a `repository` Secret carry credentials of its own.
const CREDENTIAL_KEYS: [FieldName; 9] = [
    FieldName::Username,
    FieldName::Password,
    FieldName::BearerToken,
    FieldName::SshPrivateKey,
    FieldName::TlsClientCertData,
    FieldName::GithubAppPrivateKey,
    FieldName::GcpServiceAccountKey,
    FieldName::AzureServicePrincipalClientSecret,
    FieldName::UseAzureWorkloadIdentity,
];

/// The role a Secret's token plays, from its name and label, and the annotation asking for a stricter one.
pub fn role_of(secret: &SecretObject) -> RoleChoice {
    let derived = if secret.name == RUNTIME_SECRET_NAME {
        Role::Runtime
    } else if secret.is_user_token_secret() {
        Role::User
    } else if secret.secret_type().is_some_and(SecretType::is_write) {
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
        Some(asked) => match asked.parse::<Role>() {
            Ok(r) if r >= derived => RoleChoice {
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

fn whitespace_problem(secret: &SecretObject, key: FieldName, value: &str) -> Option<MalformedField> {
    if value.trim() == value {
        return None;
    }
    let what = if value.ends_with('\n') {
        "ends with a newline"
    } else {
        "has leading or trailing whitespace"
    };
    Some(MalformedField {
        field: secret.field_name(key),
        defect: what.into(),
        whitespace: true,
    })
}

/// What a Secret holds, judged by its fields alone.
pub fn classify(secret: &SecretObject) -> Classified {
    if !secret.is_handled() {
        return Classified::Ignored;
    }
    let role = role_of(secret);
    let mut values = Vec::with_capacity(IDENTITY_KEYS.len());
    for key in IDENTITY_KEYS {
        match secret.field(key) {
            Ok(v) => values.push(v),
            Err(problem) => return Classified::Malformed { role, problem },
        }
    }
    for (key, value) in IDENTITY_KEYS.iter().zip(&values) {
        if let Some(v) = value
            && let Some(problem) = whitespace_problem(secret, *key, v.expose())
        {
            return Classified::Malformed { role, problem };
        }
    }
    let [url_field, username, password, bearer_token] = [values[0], values[1], values[2], values[3]];
    fn present(v: Option<&Token>) -> Option<&Token> {
        v.filter(|s| !s.is_empty())
    }
    let force_basic = match secret.flag(FieldName::ForceHttpBasicAuth) {
        Ok(f) => f,
        Err(problem) => return Classified::Malformed { role, problem },
    };
    if let Err(problem) = secret.insecure() {
        return Classified::Malformed { role, problem };
    }
    // Argo CD prefers HTTPS credentials over every other kind when both are present; among them it
    // sends the password with HTTP Basic when forceHttpBasicAuth is set, else the bearer token when
    // there is one, else the password (argo-cd util/git/creds.go, HTTPSCreds.Environ).
    let token = match (present(bearer_token), present(password)) {
        (_, Some(t)) if force_basic => Some((TokenField::Password, t)),
        (Some(t), _) => Some((TokenField::BearerToken, t)),
        (None, Some(t)) => Some((TokenField::Password, t)),
        (None, None) => None,
    };
    let url = match present(url_field).map(|u| RepoUrl::parse(u.expose())) {
        Some(None) => {
            return Classified::Malformed {
                role,
                problem: MalformedField::new(secret.field_name(FieldName::Url), "is not a repository URL"),
            };
        }
        Some(Some(u)) => Some(u),
        None => None,
    };
    let Some((token_field, token)) = token else {
        if app::holds_app(secret) {
            return app::classify(secret, role, url);
        }
        let what = if secret.has_field(FieldName::SshPrivateKey) {
            NonToken::SshKey
        } else if secret.has_field(FieldName::TlsClientCertData) {
            NonToken::TlsClientCert
        } else if secret.has_field(FieldName::GcpServiceAccountKey)
            || secret.has_field(FieldName::AzureServicePrincipalClientSecret)
            || secret.has_field(FieldName::UseAzureWorkloadIdentity)
        {
            NonToken::CloudIdentity
        } else {
            NonToken::None
        };
        return Classified::NotAToken { role, url, what };
    };
    let Some(url) = url else {
        return Classified::Malformed {
            role,
            problem: MalformedField::new(
                "url".into(),
                format!(
                    "is missing: the Secret holds a token in {} but no repository URL, so nothing can tell which provider it is for",
                    secret.field_name(token_field.secret_key())
                ),
            ),
        };
    };
    let repo_type = secret
        .field(FieldName::Type)
        .ok()
        .flatten()
        .map(|t| t.expose().trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "git".into());
    Classified::Token(Box::new(Credential {
        role,
        url,
        repo_type,
        username: present(username).map(|u| u.expose().to_owned()),
        token: token.clone(),
        token_field,
        force_basic: force_basic && token_field == TokenField::Password,
    }))
}

#[cfg(test)]
mod tests;
