//! Which credential Argo CD uses for a repository, by its own rules (argo-cd `util/db`:
//! `GetRepository`, `GetWriteRepository`, `getRepositorySecret`, `getRepositoryCredentialIndex`):
//!
//! 1. the `repository` Secret (`repository-write` for a push) whose URL is the same as the
//!    repository's — the one scoped to the Application's project first, else one scoped to no project;
//! 2. when there is none, or it carries no credentials of its own, the `repo-creds` template
//!    (`repo-write-creds`) whose URL is the longest prefix of the repository's;
//! 3. else none: Argo CD asks anonymously.
//!
//! URLs are compared in Argo CD's normal form (`git.NormalizeGitURL`: lower case, scp-like SSH as
//! `ssh://`, no `.git` suffix, no `ssh://`). Each namespace that holds credential Secrets is one Argo CD
//! instance, whose Applications use its credentials. Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::Access;
use crate::credential::SecretType;

/// Argo CD's normal form of a repository URL, for comparing and prefix matching.
pub fn normalize(url: &str) -> String {
    let mut u = url.trim().to_lowercase();
    if is_scp_like(&u) {
        // git@host:org/repo → ssh://git@host/org/repo
        if let Some(i) = u.find(':') {
            u.replace_range(i..=i, "/");
        }
        u.insert_str(0, "ssh://");
    }
    if let Some(stripped) = u.strip_suffix(".git") {
        u = stripped.to_owned();
    }
    u.strip_prefix("ssh://").map(str::to_owned).unwrap_or(u)
}

/// Whether a URL carries a credential of its own (`https://user:token@host/…`, `https://token@host/…`,
/// a password in an `ssh://` URL). Argo CD uses it rather than any Secret, and scopegate never prints it.
pub fn has_credentials(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url.trim()) else {
        return false;
    };
    u.password().is_some() || (matches!(u.scheme(), "http" | "https") && !u.username().is_empty())
}

/// `user@host:path` without a scheme.
fn is_scp_like(u: &str) -> bool {
    !u.contains("://")
        && u.split_once('@')
            .is_some_and(|(user, rest)| !user.contains('/') && !user.contains(':') && rest.contains(':'))
}

/// Whether a URL is written out, rather than a template (`{{ .url }}`, `{{url}}`) an ApplicationSet fills.
pub fn is_literal(url: &str) -> bool {
    !url.trim().is_empty() && !url.contains("{{") && !url.contains("}}")
}

/// An Argo CD credential Secret, as the resolution sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRef {
    pub namespace: String,
    pub name: String,
    pub secret_type: SecretType,
    /// The URL as written (trimmed).
    pub url: String,
    /// `project`, for `repository` Secrets scoped to one project (empty: none).
    pub project: String,
    /// For `repository` and `repository-write` Secrets: whether they carry credentials of their own.
    pub own_credentials: bool,
}

/// How the credential was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The repository's own Secret.
    Repository,
    /// A credential template, by the longest matching prefix.
    Template,
}

/// The credential Argo CD would send for one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution<'a> {
    Credential {
        credential: &'a CredentialRef,
        via: Via,
    },
    /// No Secret gives it credentials: Argo CD asks anonymously.
    None,
}

/// One Argo CD instance's credentials, indexed.
#[derive(Debug, Default)]
struct Instance {
    /// `repository` / `repository-write` Secrets by normalised URL, in the order they were given.
    own: BTreeMap<(bool, String), Vec<usize>>,
    /// Templates: (write, normalised prefix, index), in the order they were given.
    templates: Vec<(bool, String, usize)>,
}

/// The credential Secrets of a cluster (or of `check`'s files), ready to resolve repositories.
#[derive(Debug, Default)]
pub struct Credentials {
    refs: Vec<CredentialRef>,
    instances: BTreeMap<String, Instance>,
}

impl Credentials {
    pub fn new(refs: Vec<CredentialRef>) -> Self {
        let mut instances: BTreeMap<String, Instance> = BTreeMap::new();
        for (i, c) in refs.iter().enumerate() {
            let instance = instances.entry(c.namespace.clone()).or_default();
            let write = c.secret_type.is_write();
            let url = normalize(&c.url);
            if url.is_empty() {
                continue;
            }
            if c.secret_type.is_template() {
                instance.templates.push((write, url, i));
            } else {
                instance.own.entry((write, url)).or_default().push(i);
            }
        }
        Self { refs, instances }
    }

    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// The namespaces that hold credential Secrets: the Argo CD instances.
    pub fn instances(&self) -> BTreeSet<&str> {
        self.instances.keys().map(String::as_str).collect()
    }

    /// The Argo CD instance whose credentials an object in `namespace` uses: its own namespace when
    /// that holds credential Secrets; else the only instance there is; else `argocd_namespace` when it
    /// holds some; else none is known (several instances, and the object in none of them).
    pub fn instance_for<'a>(&'a self, namespace: &str, argocd_namespace: &str) -> Option<&'a str> {
        if let Some((k, _)) = self.instances.get_key_value(namespace) {
            return Some(k);
        }
        if self.instances.len() == 1 {
            return self.instances.keys().next().map(String::as_str);
        }
        self.instances.get_key_value(argocd_namespace).map(|(k, _)| k.as_str())
    }

    /// The credential Argo CD's instance in `instance` sends for `url`, for an Application of
    /// `project`, to read (clone, fetch) or to push.
    pub fn resolve(&self, instance: &str, url: &str, project: &str, access: Access) -> Resolution<'_> {
        let Some(inst) = self.instances.get(instance) else {
            return Resolution::None;
        };
        let write = access == Access::Write;
        let n = normalize(url);
        if let Some(same) = inst.own.get(&(write, n.clone())) {
            // The project's own first, else the first scoped to no project.
            let scoped = same.iter().find(|&&i| self.refs[i].project == project);
            let unscoped = || same.iter().find(|&&i| self.refs[i].project.is_empty());
            if let Some(&i) = scoped.or_else(unscoped)
                && self.refs[i].own_credentials
            {
                return Resolution::Credential {
                    credential: &self.refs[i],
                    via: Via::Repository,
                };
            }
        }
        // As Argo CD: the first template with the longest matching prefix.
        let mut best: Option<(usize, usize)> = None;
        for (w, prefix, i) in &inst.templates {
            if *w == write && n.starts_with(prefix.as_str()) && best.is_none_or(|(_, len)| prefix.len() > len) {
                best = Some((*i, prefix.len()));
            }
        }
        match best {
            Some((i, _)) => Resolution::Credential {
                credential: &self.refs[i],
                via: Via::Template,
            },
            None => Resolution::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalise_as_argo_cd_does() {
        assert_eq!(
            normalize("https://GitHub.com/Acme/App.git"),
            "https://github.com/acme/app"
        );
        assert_eq!(
            normalize(" https://github.com/acme/app "),
            "https://github.com/acme/app"
        );
        assert_eq!(normalize("git@github.com:acme/app.git"), "git@github.com/acme/app");
        assert_eq!(
            normalize("ssh://git@github.com/acme/app.git"),
            "git@github.com/acme/app"
        );
        assert_eq!(normalize("https://github.com/acme/"), "https://github.com/acme/");
    }

    #[test]
    fn credentials_in_a_url_are_recognised() {
        assert!(has_credentials(
            "https://bot: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@github.com/acme/app"
        ));
        assert!(has_credentials(
            "https://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@github.com/acme/app"
        ));
        assert!(has_credentials("ssh://git:secret@github.com/acme/app"));
        assert!(!has_credentials("ssh://git@github.com/acme/app"));
        assert!(!has_credentials("git@github.com:acme/app.git"));
        assert!(!has_credentials("https://github.com/acme/app"));
        assert!(is_literal("https://github.com/acme/app"));
        assert!(!is_literal("{{ .url }}") && !is_literal(" "));
    }

    fn cred(ns: &str, name: &str, t: SecretType, url: &str, project: &str, own: bool) -> CredentialRef {
        CredentialRef {
            namespace: ns.into(),
            name: name.into(),
            secret_type: t,
            url: url.into(),
            project: project.into(),
            own_credentials: own,
        }
    }

    fn chosen(r: Resolution<'_>) -> Option<(&str, Via)> {
        match r {
            Resolution::Credential { credential, via } => Some((credential.name.as_str(), via)),
            Resolution::None => None,
        }
    }

    #[test]
    fn the_project_s_repository_secret_then_the_unscoped_one_then_the_longest_template() {
        use SecretType::*;
        let c = Credentials::new(vec![
            cred("argocd", "acme", RepoCreds, "https://github.com/acme", "", true),
            cred(
                "argocd",
                "platform",
                RepoCreds,
                "https://github.com/acme/platform-",
                "",
                true,
            ),
            cred(
                "argocd",
                "app-any",
                Repository,
                "https://github.com/acme/app.git",
                "",
                true,
            ),
            cred(
                "argocd",
                "app-team",
                Repository,
                "https://github.com/Acme/app",
                "team",
                true,
            ),
            // A repository Secret without credentials takes the template's.
            cred("argocd", "bare", Repository, "https://github.com/acme/bare", "", false),
            cred("argocd", "write", RepoWriteCreds, "https://github.com/acme", "", true),
        ]);
        let r = |url: &str, project: &str, access| chosen(c.resolve("argocd", url, project, access));
        assert_eq!(
            r("https://github.com/acme/app", "team", Access::Read),
            Some(("app-team", Via::Repository))
        );
        assert_eq!(
            r("https://github.com/acme/app", "default", Access::Read),
            Some(("app-any", Via::Repository))
        );
        assert_eq!(
            r("https://github.com/acme/bare.git", "default", Access::Read),
            Some(("acme", Via::Template))
        );
        assert_eq!(
            r("https://github.com/acme/platform-base", "default", Access::Read),
            Some(("platform", Via::Template))
        );
        // Argo CD matches on the string: acme is a prefix of acme-labs.
        assert_eq!(
            r("https://github.com/acme-labs/x", "default", Access::Read),
            Some(("acme", Via::Template))
        );
        assert_eq!(r("https://gitlab.com/acme/x", "default", Access::Read), None);
        // Pushes take the write Secrets only.
        assert_eq!(
            r("https://github.com/acme/app", "default", Access::Write),
            Some(("write", Via::Template))
        );
        assert_eq!(
            chosen(c.resolve("other", "https://github.com/acme/app", "default", Access::Read)),
            None
        );
    }

    #[test]
    fn an_object_belongs_to_its_namespace_s_instance_or_the_only_one_or_the_configured_one() {
        use SecretType::*;
        let one = Credentials::new(vec![cred(
            "argocd",
            "a",
            RepoCreds,
            "https://github.com/acme",
            "",
            true,
        )]);
        assert_eq!(one.instance_for("team-x", "argocd"), Some("argocd"));
        assert_eq!(one.instance_for("team-x", "elsewhere"), Some("argocd"));
        let two = Credentials::new(vec![
            cred("argocd", "a", RepoCreds, "https://github.com/acme", "", true),
            cred("runtime", "b", RepoCreds, "https://github.com/acme", "", true),
        ]);
        assert_eq!(two.instance_for("runtime", "argocd"), Some("runtime"));
        assert_eq!(two.instance_for("team-x", "argocd"), Some("argocd"));
        assert_eq!(two.instance_for("team-x", "nowhere"), None);
        assert_eq!(Credentials::default().instance_for("argocd", "argocd"), None);
    }
}
