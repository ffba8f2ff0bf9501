//! Credentials judged for the use they are put to: one repository an Application syncs from or
//! pushes to (the Source Hydrator, Image Updater's write-back), with the credential Argo CD would
//! choose for it or none; one ApplicationSet generator's token, for the `scm` role. The same
//! pipeline as a Secret's judgement — the configured providers only, the grant and reach caches, the
//! circuit breaker — with the use's own need and repositories.

use super::{Engine, Reach, ReviewContext};
use crate::config::{Provider, ProviderKind};
use crate::credential::Role;
use crate::credential::{self, CredentialKind, SecretObject, SecretType, TokenField};
use crate::grant::IntrospectError;
use crate::policy::{Need, Outcome, Problem};
use crate::providers::{Auth, Listed, Listing, ProviderApi};
use crate::repo_url::RepoUrl;
use crate::token::Token;
use std::collections::BTreeMap;

use crate::uses::plan::{self, Choice, RepoUse};
use crate::uses::{
    Access, Application, ApplicationSet, Credentials, Generator, GeneratorKind, ImageUpdater, ObjectKey, Purpose,
    RepoFinding, ScmFinding, UseVerdict,
};

/// Where a generator's token comes from, once its Secret has been read.
#[derive(Debug, Clone)]
pub enum ScmToken {
    /// The generator names no credential.
    Anonymous,
    /// A token from `secret`: sent as HTTP Basic with `username`, or as a bearer token.
    Token {
        secret: ObjectKey,
        token: Token,
        username: Option<String>,
        bearer: bool,
    },
    /// A GitHub App's Secret (`appSecretName`).
    App { secret: SecretObject },
    /// What the generator names cannot be used as it stands (a missing Secret or key, a Secret that
    /// strict mode refuses): the finding, already made.
    Unusable {
        secret: Option<ObjectKey>,
        verdict: UseVerdict,
        message: String,
    },
}

/// The host a generator that names no API asks (Argo CD's clients' defaults: api.github.com,
/// gitlab.com, api.bitbucket.org, dev.azure.com, the hosts of the built-in providers): its configured
/// provider is the one asked. Gitea and Bitbucket Data Center have no default.
fn default_host(kind: ProviderKind) -> Option<&'static str> {
    crate::config::DEFAULT_PROVIDERS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, host, _)| *host)
}

/// A path on the provider for a generator's target, as the provider's calls name it.
fn target_path(provider: ProviderKind, owner: &str, project: Option<&str>, repo: Option<&str>) -> String {
    match (provider, repo) {
        (ProviderKind::BitbucketServer, Some(r)) => format!("scm/{owner}/{r}"),
        (ProviderKind::AzureDevops, Some(r)) => format!("{owner}/{}/_git/{r}", project.unwrap_or_default()),
        (ProviderKind::AzureDevops, None) => format!("{owner}/{}", project.unwrap_or_default()),
        (ProviderKind::Gitlab, _) | (_, None) => owner.to_owned(),
        (_, Some(r)) => format!("{owner}/{r}"),
    }
}

impl<P: ProviderApi> Engine<P> {
    /// The configured provider a generator's `api` names (matched on the scheme, host and port of the
    /// providers' `apiUrl`, and the kind), or why there is none. Only a configured provider is ever
    /// asked: a generator cannot send its token anywhere else through scopegate.
    pub fn generator_provider(&self, g: &Generator) -> Result<&Provider, String> {
        let api = match (g.api.as_deref(), default_host(g.provider)) {
            (Some(a), _) => a.to_owned(),
            (None, Some(host)) => {
                return self
                    .config
                    .provider_for_host(host)
                    .filter(|p| p.kind == g.provider)
                    .ok_or_else(|| {
                        format!(
                            "it names no API, so it asks {host}, and no provider for {host} is configured (providers in scopegate's configuration): nothing was sent"
                        )
                    });
            }
            (None, None) => {
                return Err(format!(
                    "it names no API (the {} generator needs `api`)",
                    g.provider.display_name()
                ));
            }
        };
        let parsed = url::Url::parse(api.trim()).map_err(|_| format!("its api {api:?} is not a URL"))?;
        self.config
            .providers
            .iter()
            .find(|p| {
                p.kind == g.provider
                    && p.api_url.scheme() == parsed.scheme()
                    && p.api_url.host_str() == parsed.host_str()
                    && p.api_url.port_or_known_default() == parsed.port_or_known_default()
            })
            .ok_or_else(|| {
                format!(
                    "no configured provider has the API {api} ({} providers are listed under providers in scopegate's configuration): nothing was sent",
                    g.provider.display_name()
                )
            })
    }

    /// Judge one repository use of an Application (or ApplicationSet): `credential` is the Secret Argo
    /// CD (or Image Updater) would use, `None` when none covers the repository. A push, and a read
    /// with a credential, are probed with the credential; a read without one, anonymously.
    pub async fn judge_repository(
        &self,
        credential: Option<(&ObjectKey, &SecretObject)>,
        url: &str,
        purpose: Purpose,
        fresh_since: Option<std::time::Instant>,
    ) -> RepoFinding {
        let access = purpose.access();
        let shown = RepoUrl::parse(url).map_or_else(|| url.to_owned(), |u| u.display());
        let finding = |verdict, message: String, provider_failed| RepoFinding {
            url: url.to_owned(),
            purpose,
            credential: credential.map(|(k, _)| k.clone()),
            verdict,
            message,
            provider_failed,
        };
        let Some((key, secret)) = credential else {
            if access == Access::Write {
                return finding(
                    UseVerdict::NoCredential,
                    format!(
                        "no credential Secret covers {shown} for {}: {}, and a push needs one",
                        match purpose {
                            Purpose::WriteBack { .. } =>
                                "reading (Image Updater pushes with Argo CD's repository or repo-creds credential)",
                            _ => "pushing (a repository-write Secret or a repo-write-creds template)",
                        },
                        purpose.describe()
                    ),
                    false,
                );
            }
            return match self.reach_fresh(None, url, access, fresh_since).await {
                Reach::Reachable => finding(
                    UseVerdict::Ok,
                    format!("{shown} answers without credentials (no credential Secret covers it)"),
                    false,
                ),
                Reach::Unreachable(why) => finding(
                    UseVerdict::NoCredential,
                    format!(
                        "no credential Secret covers {shown}, and it does not answer without one ({}): add a repository Secret or a repo-creds template for it",
                        why.split(':').next().unwrap_or(&why)
                    ),
                    false,
                ),
                Reach::Unknown(why) => finding(UseVerdict::Unverified, format!("{shown}: {why}"), false),
                Reach::Failed(why) => finding(UseVerdict::Unverified, format!("{shown}: {why}"), true),
            };
        };
        let with = format!("Secret {}/{}", key.0, key.1);
        let reached = self.reach_fresh(Some(secret), url, access, fresh_since).await;
        let mut found = match reached {
            Reach::Reachable => finding(
                UseVerdict::Ok,
                format!(
                    "{shown} {} with {with}",
                    if access == Access::Read {
                        "answers"
                    } else {
                        "accepts a push"
                    }
                ),
                false,
            ),
            Reach::Unreachable(why) if access == Access::Read => {
                finding(UseVerdict::Unreachable, format!("{shown} refuses {with}: {why}"), false)
            }
            Reach::Unreachable(why) => finding(
                UseVerdict::Insufficient,
                format!("{shown} refuses a push with {with} ({}): {why}", purpose.describe()),
                false,
            ),
            Reach::Unknown(why) => finding(UseVerdict::Unverified, format!("{shown} with {with}: {why}"), false),
            Reach::Failed(why) => finding(UseVerdict::Unverified, format!("{shown} with {with}: {why}"), true),
        };
        // Image Updater's pull requests need the provider's pull-request write permission besides the push.
        if let (UseVerdict::Ok, Purpose::WriteBack { pull_request: true }) = (found.verdict, purpose) {
            let (verdict, words, failed) = self.pull_request_permission(secret, url, fresh_since).await;
            if verdict != UseVerdict::Ok {
                found.verdict = verdict;
                found.message =
                    format!("{shown} accepts a push with {with}, but Image Updater opens pull requests: {words}");
                found.provider_failed = failed;
            }
        }
        found
    }

    /// Whether the credential may open pull requests on the repository (the `write` role with
    /// [`crate::requirements::PULL_REQUESTS`]).
    async fn pull_request_permission(
        &self,
        secret: &SecretObject,
        url: &str,
        fresh_since: Option<std::time::Instant>,
    ) -> (UseVerdict, String, bool) {
        let Some(repo) = RepoUrl::parse(url) else {
            return (UseVerdict::Unverified, "not a repository URL".into(), false);
        };
        let Some(provider) = self.config.provider_for_host(&repo.host) else {
            return (
                UseVerdict::Unverified,
                format!("{} is not a configured provider", repo.host),
                false,
            );
        };
        let target = crate::providers::repository_path(provider, &repo);
        let judged_as = secret.used_for(SecretType::RepositoryWrite, url);
        let ctx = ReviewContext {
            fresh_since,
            need: Some(Need {
                role: Role::Write,
                pull_requests: true,
            }),
            targets: Some(vec![target]),
            ..ReviewContext::default()
        };
        let j = self.judge(&judged_as, &ctx).await;
        let words: Vec<&str> = j.findings.iter().map(|f| f.message.as_str()).take(2).collect();
        let verdict = match j.verdict.outcome {
            Outcome::Ok => UseVerdict::Ok,
            Outcome::Insufficient => UseVerdict::Insufficient,
            Outcome::Invalid => UseVerdict::Invalid,
            _ => UseVerdict::Unverified,
        };
        (verdict, words.join(" "), j.provider_failed())
    }

    /// Judge an ApplicationSet generator's token for the `scm` role: the listing the generator makes
    /// (a page of the organisation's repositories, or of the repository's pull requests), then the
    /// token's scopes or permissions — on the repository the Pull Request generator names, or the
    /// first one the listing shows.
    pub async fn judge_scm(
        &self,
        g: &Generator,
        token: ScmToken,
        fresh_since: Option<std::time::Instant>,
    ) -> ScmFinding {
        let about = format!("{} ({})", g.path, g.kind.display_name());
        let mut finding = ScmFinding {
            generator: g.path.clone(),
            kind: g.kind,
            provider: g.provider,
            secret: None,
            verdict: UseVerdict::Unverified,
            message: String::new(),
            token_kind: None,
            missing: Vec::new(),
            expires_at: None,
            provider_failed: false,
        };
        let say = |mut f: ScmFinding, verdict: UseVerdict, words: String| {
            f.verdict = verdict;
            f.message = format!("{about}: {words}");
            f
        };
        if let Some(why) = &g.not_judged {
            return say(finding, UseVerdict::Unverified, format!("not judged: {why}"));
        }
        if let ScmToken::Unusable {
            secret,
            verdict,
            message,
        } = token
        {
            finding.secret = secret;
            return say(finding, verdict, message);
        }
        let provider = match self.generator_provider(g) {
            Ok(p) => p,
            Err(why) => return say(finding, UseVerdict::Unverified, why),
        };
        let target = g
            .repo
            .as_deref()
            .map(|r| target_path(g.provider, &g.owner, g.project.as_deref(), Some(r)));
        let listing = match g.kind {
            GeneratorKind::ScmProvider => Listing::Repositories {
                owner: &g.owner,
                project: g.project.as_deref(),
            },
            GeneratorKind::PullRequest => Listing::PullRequests {
                owner: &g.owner,
                project: g.project.as_deref(),
                repo: g.repo.as_deref().unwrap_or_default(),
            },
        };
        let lists = match g.kind {
            GeneratorKind::ScmProvider => format!("list the repositories of {}", g.owner),
            GeneratorKind::PullRequest => format!(
                "list the pull requests of {}",
                target.as_deref().unwrap_or(g.owner.as_str())
            ),
        };
        let (secret, auth_token) = match &token {
            ScmToken::Anonymous => (None, None),
            ScmToken::Token {
                secret,
                token,
                username,
                bearer,
            } => (Some(secret.clone()), Some((token, username.as_deref(), *bearer))),
            ScmToken::App { secret } => (Some((secret.namespace.clone(), secret.name.clone())), None),
            ScmToken::Unusable { .. } => (None, None),
        };
        finding.secret = secret.clone();
        // A token that names another provider, or whose checksum fails, is not sent at all.
        if let Some((t, _, _)) = auth_token {
            if let Some(other) = credential::kind::provider_by_prefix(t)
                && other != provider.kind
            {
                return say(
                    finding,
                    UseVerdict::Invalid,
                    format!(
                        "the token looks like a {} token, but the generator asks {}; scopegate did not send it there",
                        other.display_name(),
                        provider.kind.display_name()
                    ),
                );
            }
            if provider.kind == ProviderKind::Github
                && let Some(Err(why)) = credential::kind::github_checksum(t)
            {
                return say(
                    finding,
                    UseVerdict::Invalid,
                    format!("the token is truncated or mistyped ({why}); nothing was sent to GitHub"),
                );
            }
        }
        // The listing, as the generator makes it (a GitHub App is not asked to list: scopegate never
        // mints an installation token).
        let mut first = None;
        if !matches!(token, ScmToken::App { .. }) {
            let auth = match auth_token {
                None => Auth::Anonymous,
                Some((t, _, true)) => Auth::Bearer(t),
                Some((t, Some(user), false)) => Auth::Basic(user, t),
                Some((t, None, false)) if provider.kind == ProviderKind::AzureDevops => Auth::Basic("", t),
                Some((t, None, false)) => Auth::Bearer(t),
            };
            let listed = self
                .upstream
                .call(provider, self.providers.list(provider, &listing, auth))
                .await;
            match listed {
                Ok(Listed::Listed { first: f }) => first = f,
                Ok(Listed::Refused { status, detail }) if auth_token.is_none() => {
                    return say(
                        finding,
                        UseVerdict::NoCredential,
                        format!(
                            "it names no token, and {} refuses to {lists} without one (HTTP {status}: {detail}): give the generator a tokenRef",
                            provider.kind.display_name()
                        ),
                    );
                }
                Ok(Listed::Refused { status, detail }) => {
                    return say(
                        finding,
                        UseVerdict::Insufficient,
                        format!(
                            "{} refuses to {lists} with the token in {} (HTTP {status}: {detail}): the token does not reach it, or lacks what the scm role needs",
                            provider.kind.display_name(),
                            secret
                                .as_ref()
                                .map(|k| format!("Secret {}/{}", k.0, k.1))
                                .unwrap_or_default()
                        ),
                    );
                }
                Err(IntrospectError::Rejected { detail }) => return say(finding, UseVerdict::Invalid, detail),
                Err(e) => {
                    finding.provider_failed = true;
                    return say(
                        finding,
                        UseVerdict::Unverified,
                        format!(
                            "{} at {} could not be asked ({e})",
                            provider.kind.display_name(),
                            provider.api_url
                        ),
                    );
                }
            }
        }
        // The token's scopes or permissions, for the scm role.
        let target = target.or(first);
        let url = format!(
            "https://{}/{}",
            provider.host,
            target
                .clone()
                .unwrap_or_else(|| target_path(g.provider, &g.owner, g.project.as_deref(), None))
        );
        let (judged, secret_key) = match (&token, &secret) {
            (
                ScmToken::Token {
                    token,
                    username,
                    bearer,
                    ..
                },
                Some(key),
            ) => (
                SecretObject::synthetic(
                    &key.0,
                    &key.1,
                    SecretType::Repository,
                    &url,
                    username.as_deref(),
                    token.clone(),
                    if *bearer {
                        TokenField::BearerToken
                    } else {
                        TokenField::Password
                    },
                ),
                key,
            ),
            (ScmToken::App { secret: app }, Some(key)) => (app.used_for(SecretType::RepoCreds, &url), key),
            _ => {
                return say(
                    finding,
                    UseVerdict::Ok,
                    format!(
                        "it names no token, and {} lets it {lists} without one",
                        provider.kind.display_name()
                    ),
                );
            }
        };
        let ctx = ReviewContext {
            fresh_since,
            need: Some(Need {
                role: Role::Scm,
                pull_requests: g.kind == GeneratorKind::PullRequest,
            }),
            targets: Some(target.into_iter().collect()),
            ..ReviewContext::default()
        };
        let j = self.judge(&judged, &ctx).await;
        finding.token_kind = j.verdict.token_kind;
        finding.missing = j.verdict.missing.clone();
        finding.expires_at = j.verdict.expires_at;
        finding.provider_failed = j.provider_failed();
        let verdict = match j.verdict.outcome {
            Outcome::Ok => UseVerdict::Ok,
            Outcome::Insufficient => UseVerdict::Insufficient,
            Outcome::Invalid => UseVerdict::Invalid,
            _ => UseVerdict::Unverified,
        };
        let words: Vec<String> = j
            .findings
            .iter()
            .filter(|f| !matches!(f.problem, Problem::ProviderFailed { .. }) || verdict != UseVerdict::Ok)
            .map(|f| match &f.problem {
                Problem::ProviderFailed { detail, .. } => format!(
                    "{} at {} could not be asked ({detail})",
                    provider.kind.display_name(),
                    provider.api_url
                ),
                _ => f.message.clone(),
            })
            .collect();
        let words = if words.is_empty() {
            format!(
                "the {} in Secret {}/{} can {lists} and has what the scm role needs",
                match j.verdict.token_kind {
                    Some(CredentialKind::Token(k)) => format!("{} {}", provider.kind.display_name(), k.describe()),
                    _ => "token".into(),
                },
                secret_key.0,
                secret_key.1,
            )
        } else {
            words.join(" ")
        };
        say(finding, verdict, words)
    }
}

/// What a front end knows of a Secret a generator names by key.
#[derive(Debug, Clone)]
pub enum KeyLookup {
    /// No such Secret (or it cannot be read).
    NoSecret,
    /// The Secret: whether it carries the `scm-creds` type label, and the key's value.
    Found {
        scm_label: bool,
        value: Result<Option<Token>, credential::MalformedField>,
    },
}

/// The label value Argo CD's tokenRef strict mode requires on a Secret a generator names.
pub const SCM_CREDS: &str = "scm-creds";

/// Where a generator's token comes from, as Argo CD's ApplicationSet controller reads it
/// (`utils.GetSecretRef`: the Secret in the ApplicationSet's namespace; in strict mode only with the
/// `scm-creds` label; the key must be there), or the finding that says why it cannot be had.
/// `appSecretName` is a Secret in Argo CD's namespace.
pub fn scm_token(
    appset: &ObjectKey,
    g: &Generator,
    strict: bool,
    argocd_namespace: &str,
    absent: &str,
    read_key: impl Fn(&str, &str, &str) -> KeyLookup,
    read_app: impl Fn(&str, &str) -> Option<SecretObject>,
) -> ScmToken {
    use crate::uses::ScmAuth;
    let (r, username, bearer) = match &g.auth {
        ScmAuth::Anonymous => return ScmToken::Anonymous,
        ScmAuth::GithubApp { secret_name } => {
            return match read_app(argocd_namespace, secret_name) {
                Some(secret) => ScmToken::App { secret },
                None => ScmToken::Unusable {
                    secret: Some((argocd_namespace.to_owned(), secret_name.clone())),
                    verdict: UseVerdict::NoCredential,
                    message: format!(
                        "its appSecretName names Secret {argocd_namespace}/{secret_name}, which {absent} (GitHub App Secrets are read from Argo CD's namespace)"
                    ),
                },
            };
        }
        ScmAuth::Token(r) => (r, None, false),
        ScmAuth::Bearer(r) => (r, None, true),
        ScmAuth::Basic { username, password } => (password, Some(username.clone()), false),
    };
    let ns = &appset.0;
    let key = (ns.clone(), r.secret_name.clone());
    let unusable = |verdict, message: String| ScmToken::Unusable {
        secret: Some(key.clone()),
        verdict,
        message,
    };
    match read_key(ns, &r.secret_name, &r.key) {
        KeyLookup::NoSecret => unusable(
            UseVerdict::NoCredential,
            format!(
                "its token is in Secret {ns}/{}, which {absent}: the generator fails (tokens are read from the ApplicationSet's namespace)",
                r.secret_name
            ),
        ),
        KeyLookup::Found { scm_label: false, .. } if strict => unusable(
            UseVerdict::Invalid,
            format!(
                "Argo CD runs in tokenRef strict mode (applicationsetcontroller.enable.tokenref.strict.mode: \"true\" in argocd-cmd-params-cm), and Secret {ns}/{} does not carry the label {}={SCM_CREDS}: the generator fails with 'secret must have label'. Label it: kubectl label secret -n {ns} {} {}={SCM_CREDS}",
                r.secret_name,
                credential::SECRET_TYPE_LABEL,
                r.secret_name,
                credential::SECRET_TYPE_LABEL
            ),
        ),
        KeyLookup::Found { value: Ok(None), .. } => unusable(
            UseVerdict::NoCredential,
            format!(
                "Secret {ns}/{} has no key {:?}: the generator fails (key \"{}\" not found)",
                r.secret_name, r.key, r.key
            ),
        ),
        KeyLookup::Found { value: Err(m), .. } => unusable(
            UseVerdict::Invalid,
            format!("Secret {ns}/{}: {} {}", r.secret_name, m.field, m.defect),
        ),
        KeyLookup::Found { value: Ok(Some(t)), .. } if t.expose().trim().is_empty() => unusable(
            UseVerdict::NoCredential,
            format!("Secret {ns}/{}'s key {:?} is empty", r.secret_name, r.key),
        ),
        KeyLookup::Found {
            value: Ok(Some(token)), ..
        } => ScmToken::Token {
            secret: key.clone(),
            token,
            username,
            bearer,
        },
    }
}

/// Everything a judgement of uses at rest reads (`audit`, `check`): the objects, the credentials,
/// and the Secrets they name, already read.
pub struct UseWorld<'a> {
    pub apps: &'a [Application],
    pub sets: &'a [ApplicationSet],
    pub updaters: &'a [ImageUpdater],
    pub creds: &'a Credentials,
    /// Every Secret a use may take, read: the credential Secrets, and those Image Updater and
    /// `appSecretName` name.
    pub secrets: &'a BTreeMap<ObjectKey, SecretObject>,
    /// The Secrets generators name by key, as read (their `data`, `stringData` and labels).
    pub raw: &'a BTreeMap<ObjectKey, serde_json::Value>,
    pub argocd_namespace: &'a str,
    /// Argo CD's tokenRef strict mode.
    pub strict: bool,
    /// How a named Secret that is not there is said to be: "does not exist" (a cluster), "is not among
    /// the manifests checked" (`check`).
    pub absent: &'static str,
}

/// What a judgement of uses found, per object.
#[derive(Debug, Default)]
pub struct JudgedUses {
    pub apps: Vec<(ObjectKey, Vec<RepoFinding>)>,
    pub sets: Vec<(ObjectKey, Vec<RepoFinding>, Vec<ScmFinding>)>,
    /// How many distinct probes were made (each credential and repository once).
    pub probes: usize,
}

/// A use that is not probed: what it is found to be without asking anyone.
pub fn unprobed(u: &RepoUse) -> Option<RepoFinding> {
    let (verdict, message) = match &u.choice {
        Choice::Unplaced(n) => (
            UseVerdict::Unverified,
            format!(
                "{}: which Argo CD instance's credentials it takes is not known ({n} namespaces hold credential Secrets, and it is in none of them; watch.argocdNamespace names the one whose Applications live elsewhere)",
                u.url
            ),
        ),
        Choice::Refused(reason) => (
            UseVerdict::Invalid,
            format!("Image Updater refuses the write-back configuration, so it writes nothing back: {reason}"),
        ),
        _ => return None,
    };
    Some(RepoFinding {
        url: u.url.clone(),
        purpose: u.purpose,
        credential: None,
        verdict,
        message,
        provider_failed: false,
    })
}

/// The labels and one key of a Secret, as read whole.
pub fn key_lookup(raw: Option<&serde_json::Value>, key: &str) -> KeyLookup {
    match raw {
        None => KeyLookup::NoSecret,
        Some(s) => KeyLookup::Found {
            scm_label: s["metadata"]["labels"][credential::SECRET_TYPE_LABEL].as_str() == Some(SCM_CREDS),
            value: credential::key_value(s, key),
        },
    }
}

impl<P: ProviderApi> Engine<P> {
    /// Judge every use of `w`: each distinct (credential, repository, purpose) probed once, at most
    /// `concurrency` at a time; each generator's token judged.
    pub async fn judge_uses(&self, w: &UseWorld<'_>, concurrency: usize) -> JudgedUses {
        use futures::StreamExt;
        let concurrency = concurrency.max(1);
        let updaters_in =
            |ns: &str| -> Vec<&ImageUpdater> { w.updaters.iter().filter(|u| u.namespace == ns).collect() };
        let app_uses: Vec<(ObjectKey, Vec<RepoUse>)> = w
            .apps
            .iter()
            .map(|a| {
                (
                    a.key(),
                    plan::application(a, w.creds, w.argocd_namespace, &updaters_in(&a.namespace)),
                )
            })
            .collect();
        let set_uses: Vec<(ObjectKey, Vec<RepoUse>)> = w
            .sets
            .iter()
            .map(|s| (s.key(), plan::application_set(s, w.creds, w.argocd_namespace)))
            .collect();
        let mut distinct: BTreeMap<(Choice, String, Purpose), &RepoUse> = BTreeMap::new();
        for u in app_uses.iter().chain(&set_uses).flat_map(|(_, us)| us) {
            if let Some(k) = u.probe_key() {
                distinct.entry(k).or_insert(u);
            }
        }
        let probes = distinct.len();
        let found: BTreeMap<(Choice, String, Purpose), RepoFinding> = futures::stream::iter(distinct)
            .map(|(k, u)| async move {
                let f = match &u.choice {
                    Choice::Secret(key) => match w.secrets.get(key) {
                        Some(s) => self.judge_repository(Some((key, s)), &u.url, u.purpose, None).await,
                        None => missing_named(u, key, w.absent),
                    },
                    // A Secret Image Updater is told to use: its credential, for this repository.
                    Choice::Named(key) => match w.secrets.get(key) {
                        Some(s) => {
                            let s = s.used_for(SecretType::Repository, &u.url);
                            self.judge_repository(Some((key, &s)), &u.url, u.purpose, None).await
                        }
                        None => missing_named(u, key, w.absent),
                    },
                    _ => self.judge_repository(None, &u.url, u.purpose, None).await,
                };
                (k, f)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let findings = |uses: &[RepoUse]| -> Vec<RepoFinding> {
            uses.iter()
                .filter_map(|u| match u.probe_key() {
                    Some(k) => found.get(&k).map(|f| RepoFinding {
                        url: u.url.clone(),
                        ..f.clone()
                    }),
                    None => unprobed(u),
                })
                .collect()
        };
        let apps = app_uses.iter().map(|(k, us)| (k.clone(), findings(us))).collect();
        let generators: Vec<(usize, &Generator)> = w
            .sets
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.generators.iter().map(move |g| (i, g)))
            .collect();
        let mut scm: Vec<(usize, usize, ScmFinding)> = futures::stream::iter(generators.into_iter().enumerate())
            .map(|(order, (i, g))| async move {
                let key = w.sets[i].key();
                let token = scm_token(
                    &key,
                    g,
                    w.strict,
                    w.argocd_namespace,
                    w.absent,
                    |ns, name, k| key_lookup(w.raw.get(&(ns.to_owned(), name.to_owned())), k),
                    |ns, name| w.secrets.get(&(ns.to_owned(), name.to_owned())).cloned(),
                );
                (i, order, self.judge_scm(g, token, None).await)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        scm.sort_by_key(|(_, order, _)| *order);
        let sets = set_uses
            .iter()
            .enumerate()
            .map(|(i, (k, us))| {
                let gens = scm
                    .iter()
                    .filter(|(j, _, _)| *j == i)
                    .map(|(_, _, f)| f.clone())
                    .collect();
                (k.clone(), findings(us), gens)
            })
            .collect();
        JudgedUses { apps, sets, probes }
    }
}

/// Image Updater is told to use a Secret that is not there.
pub fn missing_named(u: &RepoUse, key: &ObjectKey, absent: &str) -> RepoFinding {
    RepoFinding {
        url: u.url.clone(),
        purpose: u.purpose,
        credential: Some(key.clone()),
        verdict: UseVerdict::NoCredential,
        message: format!(
            "Image Updater writes back with Secret {}/{}, which {absent}: it fails to write back",
            key.0, key.1
        ),
        provider_failed: false,
    }
}
