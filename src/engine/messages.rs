//! Words: one place turns problems into the messages a person reads in `kubectl`'s output, and builds
//! the links that open a provider's token form with exactly the required scopes. Pure.

use url::form_urlencoded::byte_serialize;

use crate::config::{Config, OnFailure, OnUnverified, Provider, ProviderKind};
use crate::credential::{CredentialKind, Role, TokenField, TokenKind};
use crate::policy::{Problem, ScopeFamily, Verdict};
use crate::repo_url::RepoUrl;
use crate::requirements::Requirements;

/// What a message may mention about the Secret.
pub(crate) struct MessageContext<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub provider: Option<&'a Provider>,
    pub verdict: &'a Verdict,
    pub token_field: Option<TokenField>,
    /// The Secret's repository URL.
    pub repo: Option<&'a RepoUrl>,
    pub config: &'a Config,
}

impl MessageContext<'_> {
    fn secret(&self) -> String {
        if self.namespace.is_empty() {
            self.name.to_owned()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// The organisation or user the URL points into (for pre-filled token forms).
    fn repo_owner(&self) -> Option<&str> {
        self.repo.and_then(RepoUrl::owner)
    }

    fn provider_name(&self) -> &'static str {
        self.provider.map(|p| p.kind.display_name()).unwrap_or("the provider")
    }

    fn token_words(&self) -> String {
        let kind = self.token_kind().map(TokenKind::describe).unwrap_or("token");
        format!("{} {kind}", self.provider_name())
    }

    fn token_kind(&self) -> Option<TokenKind> {
        self.verdict.token_kind.and_then(CredentialKind::token)
    }

    fn field(&self) -> String {
        self.token_field.map(|f| f.key()).unwrap_or("password").to_owned()
    }

    fn role(&self) -> Role {
        self.verdict.role.unwrap_or(Role::Read)
    }
}

fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let v: Vec<&str> = items.into_iter().map(String::as_str).collect();
    if v.is_empty() {
        "no scopes".to_owned()
    } else {
        v.join(", ")
    }
}

fn enc(s: &str) -> String {
    byte_serialize(s.as_bytes()).collect()
}

/// GitHub's fine-grained token form, pre-filled with the owner and exactly the role's permissions
/// (one query parameter per permission, `read` or `write`).
pub fn fine_grained_form_link(
    requirements: &Requirements,
    host: &str,
    role: Role,
    owner: Option<&str>,
    name: &str,
) -> String {
    let mut link = format!("https://{host}/settings/personal-access-tokens/new?name={}", enc(name));
    if let Some(o) = owner {
        link.push_str(&format!("&target_name={}", enc(o)));
    }
    for p in requirements.required(ScopeFamily::GithubPermissions, role).iter() {
        if let Some((perm, level)) = p.split_once(':') {
            link.push_str(&format!("&{perm}={level}"));
        }
    }
    link
}

/// A link to the provider's token form with the role's scopes pre-selected, where the provider has one.
pub fn token_form_link(
    requirements: &Requirements,
    provider: &Provider,
    family: ScopeFamily,
    role: Role,
    description: &str,
) -> Option<String> {
    let scopes = requirements.required(family, role).join(",");
    match (provider.kind, family) {
        (ProviderKind::Github, ScopeFamily::GithubClassic) => Some(format!(
            "https://{}/settings/tokens/new?scopes={scopes}&description={}",
            provider.host,
            enc(description)
        )),
        (ProviderKind::Gitlab, ScopeFamily::Gitlab) => Some(format!(
            "https://{}/-/user_settings/personal_access_tokens?name={}&scopes={scopes}",
            provider.host,
            enc(description)
        )),
        _ => None,
    }
}

/// The family a new token would belong to, for advice after a refusal.
fn family_for(ctx: &MessageContext<'_>) -> Option<ScopeFamily> {
    let provider = ctx.provider?;
    ctx.token_kind()
        .and_then(|k| crate::policy::family_of(provider.kind, k))
        .or(Some(match provider.kind {
            ProviderKind::Github => ScopeFamily::GithubClassic,
            ProviderKind::Gitlab => ScopeFamily::Gitlab,
            ProviderKind::BitbucketCloud => ScopeFamily::BitbucketCloud,
            ProviderKind::BitbucketServer => ScopeFamily::BitbucketServer,
            ProviderKind::Gitea => ScopeFamily::Gitea,
            ProviderKind::AzureDevops => ScopeFamily::AzureDevops,
        }))
}

/// Azure DevOps's token page for the organisation (or collection) the Secret's URL names.
fn azure_token_page(ctx: &MessageContext<'_>) -> String {
    let Some(provider) = ctx.provider else {
        return "https://dev.azure.com/{organisation}/_usersSettings/tokens".into();
    };
    let org = ctx
        .repo
        .and_then(|u| {
            crate::config::visualstudio_org(&u.host)
                .map(str::to_owned)
                .or_else(|| crate::providers::azure_devops::organisation(provider, &u.repo_path()))
        })
        .unwrap_or_else(|| "{organisation}".into());
    let base = provider.git_url.as_str().trim_end_matches('/');
    format!("{base}/{org}/_usersSettings/tokens")
}

/// What to do to get a credential that passes.
fn advice(ctx: &MessageContext<'_>, family: ScopeFamily) -> String {
    let role = ctx.role();
    let secret = ctx.secret();
    let requirements = &ctx.config.requirements;
    let scopes = requirements.required(family, role).join(", ");
    if let Some(link) = ctx
        .provider
        .and_then(|p| token_form_link(requirements, p, family, role, &secret))
    {
        return format!(
            "Create a token with the scopes the {role} role needs ({scopes}) at {link} and put it in Secret {secret}."
        );
    }
    match family {
        ScopeFamily::GithubPermissions if ctx.token_kind() == Some(TokenKind::GithubApp) => format!(
            "Give the GitHub App the permissions the {role} role needs ({scopes}) in its settings (Permissions & events), \
             have the installation accept them, and make sure it includes the repository."
        ),
        ScopeFamily::GithubPermissions => {
            let host = ctx.provider.map(|p| p.host.as_str()).unwrap_or("github.com");
            format!(
                "Create a fine-grained token with the permissions the {role} role needs ({scopes}) on the repositories Argo CD uses at {} and put it in Secret {secret}.",
                fine_grained_form_link(requirements, host, role, ctx.repo_owner(), &secret)
            )
        }
        ScopeFamily::BitbucketCloud => format!(
            "Create a repository, project or workspace access token with the scopes {scopes} (Bitbucket: Repository settings > Security > Access tokens) and put it in Secret {secret}."
        ),
        ScopeFamily::BitbucketApiToken => format!(
            "Create an API token with scopes for Bitbucket ({scopes}) at https://id.atlassian.com/manage-profile/security/api-tokens and put it in Secret {secret}."
        ),
        ScopeFamily::Gitea => format!(
            "Create an access token with the scopes {scopes} at https://{}/user/settings/applications (its owner must be an administrator of the repository where the role needs repository-admin) and put it in Secret {secret}.",
            ctx.provider.map(|p| p.host.as_str()).unwrap_or("HOST")
        ),
        ScopeFamily::AzureDevops => format!(
            "Create a personal access token with the scopes {scopes} at {} and put it in Secret {secret}.",
            azure_token_page(ctx)
        ),
        ScopeFamily::BitbucketServer => format!(
            "Create an HTTP access token with {scopes} permission (Bitbucket: Manage account, or the repository's or project's settings > HTTP access tokens) and put it in Secret {secret}."
        ),
        _ => format!("Use a token with the scopes {scopes} in Secret {secret}."),
    }
}

/// The message for one problem.
pub(crate) fn message(problem: &Problem, ctx: &MessageContext<'_>) -> String {
    let role = ctx.role();
    match problem {
        Problem::Malformed(m) if m.whitespace => format!(
            "{} {}: the value was probably encoded with `echo VALUE | base64`, which keeps the newline, and Argo CD would fail later with \"authentication required\". \
             Encode it with `echo -n 'VALUE' | base64` (or put it in stringData) and apply again.",
            m.field, m.defect
        ),
        Problem::Malformed(m) => format!("{} {}.", m.field, m.defect),
        Problem::Insufficient { family, missing, why } => {
            let owner = ctx
                .verdict
                .owner
                .as_deref()
                .map(|o| format!(" (owner {o})"))
                .unwrap_or_default();
            let noun = match family {
                ScopeFamily::GithubPermissions | ScopeFamily::BitbucketServer => "permission",
                _ => "scope",
            };
            let because = if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            };
            format!(
                "{}{owner} for role {role} lacks {noun}{}: {}{because}; it has {}. {}",
                ctx.token_words(),
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                list(ctx.verdict.scopes.iter()),
                advice(ctx, *family)
            )
        }
        Problem::Invalid { detail } => {
            let todo = match family_for(ctx) {
                Some(f) => advice(ctx, f),
                None => format!("Put a valid token in Secret {}.", ctx.secret()),
            };
            let what = if ctx.token_field.is_some() {
                format!(" in {}", ctx.field())
            } else {
                String::new()
            };
            format!("{}{what} is not usable: {detail}. {todo}", ctx.token_words())
        }
        Problem::ForeignToken { token_provider } => format!(
            "the token in {} looks like a {} token, but {} is on {}; scopegate did not send it there. Use a {} token for this repository.",
            ctx.field(),
            token_provider.display_name(),
            ctx.repo.map(|r| r.display()).unwrap_or_else(|| "the URL".into()),
            ctx.provider_name(),
            ctx.provider_name()
        ),
        Problem::ProviderFailed { detail, rate_limited } => {
            let api = ctx.provider.map(|p| format!(" at {}", p.api_url)).unwrap_or_default();
            let what = if *rate_limited {
                "is rate limiting scopegate"
            } else {
                "could not be asked"
            };
            let then = match ctx.config.on_provider_error {
                OnFailure::Deny => {
                    "onProviderError is deny, so the Secret is refused until the token can be checked; try again shortly"
                }
                OnFailure::Allow => "onProviderError is allow, so the Secret is admitted unverified",
            };
            format!(
                "{}{api} {what} ({detail}); the token was not verified. {then}.",
                ctx.provider_name()
            )
        }
        Problem::Unverified { reason } => {
            let then = match ctx.config.on_unverified {
                OnUnverified::Deny => " onUnverified is deny, so the Secret is refused.",
                OnUnverified::Allow => "",
            };
            format!(
                "the {} for role {role} could not be verified: {reason}.{then}",
                ctx.token_words()
            )
        }
        Problem::UnknownHost { host } => format!(
            "{host} is not a configured Git provider, so the token was not checked (add it under providers in scopegate's configuration)."
        ),
        Problem::NotGit { repo_type } => {
            format!("a {repo_type} repository: its password is not a Git token, so scopegate did not check it.")
        }
        Problem::SkipNotAllowed { user } => format!(
            "the Secret asks to skip validation (scopegate.dev/skip-validation: \"true\"), but {user} is not in skipValidation.allowedUsers and none of its groups is in skipValidation.allowedGroups. \
             Remove the annotation, or ask a platform administrator to apply it."
        ),
        Problem::Skipped { user } => format!(
            "validation skipped at the request of {user} (scopegate.dev/skip-validation): the onus of a valid and secure token is on you."
        ),
        Problem::RoleIgnored { asked, derived } => format!(
            "scopegate.dev/role {asked:?} ignored: a Secret may only ask for a stricter role than {derived} (read < write < user < runtime)."
        ),
        Problem::ExpiresSoon { at, days } => format!(
            "the {} expires on {at} ({}); replace it before Argo CD starts failing.",
            ctx.token_words(),
            match days {
                0 => "within a day".to_owned(),
                1 => "in 1 day".to_owned(),
                d => format!("in {d} days"),
            }
        ),
        Problem::Excess { scopes } => format!(
            "the {} carries {} the {role} role does not need and that are dangerous: {}. Create one with only the scopes it needs{}",
            ctx.token_words(),
            if scopes.len() == 1 { "a scope" } else { "scopes" },
            scopes.join(", "),
            match ctx.config.excess_privileges {
                crate::config::ExcessPolicy::Deny => " (excessPrivileges is deny).",
                _ => ".",
            }
        ),
        Problem::Stale { age, detail } => format!(
            "{}{} is failing ({detail}); this verdict comes from its last answer, {} old.",
            ctx.provider_name(),
            ctx.provider.map(|p| format!(" at {}", p.api_url)).unwrap_or_default(),
            humantime::format_duration(std::time::Duration::from_secs(age.as_secs()))
        ),
        Problem::PersonalRuntimeToken { owner } => format!(
            "the runtime token acts as {owner}, a person's account: use a service or robot account for the GitOps Runtime (list service accounts under serviceAccounts in scopegate's configuration to mark them)."
        ),
        Problem::InsecureRepository => format!(
            "Secret {} sets insecure: Argo CD does not verify the Git server's certificate for this repository, so anyone on the network path can pose as the server and read the credential; trust the server's CA instead (argocd-tls-certs-cm). scopegate verified the provider's certificate as always.",
            ctx.secret()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Outcome;

    fn provider(kind: ProviderKind, host: &str) -> Provider {
        Provider::new(
            kind,
            host,
            url::Url::parse(&format!("https://api.{host}")).unwrap(),
            url::Url::parse(&format!("https://{host}")).unwrap(),
        )
    }

    #[test]
    fn fine_grained_link_prefills_owner_and_permissions() {
        assert_eq!(
            fine_grained_form_link(
                &Requirements::default(),
                "github.com",
                Role::Runtime,
                Some("acme"),
                "argocd/runtime-repo-creds-secret"
            ),
            "https://github.com/settings/personal-access-tokens/new?name=argocd%2Fruntime-repo-creds-secret&target_name=acme&administration=write&contents=write&metadata=read&webhooks=write"
        );
        assert!(
            fine_grained_form_link(&Requirements::default(), "github.com", Role::Read, None, "x")
                .ends_with("?name=x&contents=read&metadata=read")
        );
    }

    #[test]
    fn github_link_preselects_the_role_scopes() {
        let p = provider(ProviderKind::Github, "github.com");
        assert_eq!(
            token_form_link(
                &Requirements::default(),
                &p,
                ScopeFamily::GithubClassic,
                Role::Runtime,
                "argocd/runtime-repo-creds-secret"
            )
            .unwrap(),
            "https://github.com/settings/tokens/new?scopes=repo,admin:repo_hook&description=argocd%2Fruntime-repo-creds-secret"
        );
        let ghe = provider(ProviderKind::Github, "ghe.corp:8443");
        assert!(
            token_form_link(
                &Requirements::default(),
                &ghe,
                ScopeFamily::GithubClassic,
                Role::Read,
                "x"
            )
            .unwrap()
            .starts_with("https://ghe.corp:8443/settings/tokens/new?scopes=repo&")
        );
    }

    #[test]
    fn gitlab_link_preselects_the_role_scopes() {
        let p = provider(ProviderKind::Gitlab, "gitlab.com");
        assert_eq!(
            token_form_link(
                &Requirements::default(),
                &p,
                ScopeFamily::Gitlab,
                Role::User,
                "argocd/git-default-1"
            )
            .unwrap(),
            "https://gitlab.com/-/user_settings/personal_access_tokens?name=argocd%2Fgit-default-1&scopes=write_repository,read_api"
        );
        assert!(
            token_form_link(
                &Requirements::default(),
                &provider(ProviderKind::BitbucketCloud, "bitbucket.org"),
                ScopeFamily::BitbucketCloud,
                Role::Read,
                "x"
            )
            .is_none()
        );
    }

    #[test]
    fn insufficient_message_says_what_to_do() {
        let p = provider(ProviderKind::Github, "github.com");
        let mut v = Verdict::new(Outcome::Insufficient, Some(Role::Runtime));
        v.provider = Some(ProviderKind::Github);
        v.token_kind = Some(CredentialKind::Token(TokenKind::Classic));
        v.scopes = std::sync::Arc::new(["repo".to_owned(), "user".to_owned()].into_iter().collect());
        v.missing = vec!["admin:repo_hook".into()];
        v.owner = Some("octocat".into());
        let config = Config::default();
        let ctx = MessageContext {
            namespace: "argocd",
            name: "runtime-repo-creds-secret",
            provider: Some(&p),
            verdict: &v,
            token_field: Some(TokenField::Password),
            repo: None,
            config: &config,
        };
        let m = message(
            &Problem::Insufficient {
                family: ScopeFamily::GithubClassic,
                missing: v.missing.clone(),
                why: vec![],
            },
            &ctx,
        );
        for part in [
            "GitHub classic personal access token",
            "octocat",
            "runtime",
            "admin:repo_hook",
            "it has repo, user",
            "https://github.com/settings/tokens/new?scopes=repo,admin:repo_hook",
        ] {
            assert!(m.contains(part), "{part} not in {m}");
        }
    }
}
