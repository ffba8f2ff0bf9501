//! Scope implication: what a granted scope also grants, per provider.
//!
//! Providers report scopes *normalised*: GitHub drops scopes implied by another one (`repo` is reported,
//! `public_repo` is not), GitLab's `api` does not appear as `read_api`. So before comparing with the
//! requirement table, the granted set is closed under these edges.

use std::sync::Arc;

use crate::requirements::{Role, ScopeFamily};

/// GitHub's documented hierarchy (docs "Scopes for OAuth apps": a scope and its indented sub-scopes),
/// plus the edges TruffleHog's scope map adds for scopes the table omits. `repo`'s prose also mentions
/// repository hooks, but `admin:repo_hook` is a separate scope in the table and "Git tokens for GitOps" requires both,
/// so that sentence is not an edge here.
const GITHUB: &[(&str, &[&str])] = &[
    (
        "repo",
        &[
            "repo:status",
            "repo_deployment",
            "public_repo",
            "repo:invite",
            "security_events",
        ],
    ),
    ("admin:repo_hook", &["write:repo_hook"]),
    ("write:repo_hook", &["read:repo_hook"]),
    ("admin:org", &["write:org", "manage_runners:org"]),
    ("write:org", &["read:org"]),
    ("admin:public_key", &["write:public_key"]),
    ("write:public_key", &["read:public_key"]),
    ("user", &["read:user", "user:email", "user:follow"]),
    ("project", &["read:project"]),
    ("write:packages", &["read:packages"]),
    ("admin:gpg_key", &["write:gpg_key"]),
    ("write:gpg_key", &["read:gpg_key"]),
    (
        "admin:enterprise",
        &[
            "manage_runners:enterprise",
            "manage_billing:enterprise",
            "read:enterprise",
        ],
    ),
    ("write:discussion", &["read:discussion"]),
    ("audit_log", &["read:audit_log"]),
    ("copilot", &["manage_billing:copilot"]),
    ("admin:ssh_signing_key", &["write:ssh_signing_key"]),
    ("write:ssh_signing_key", &["read:ssh_signing_key"]),
];

/// GitLab (lib/gitlab/auth.rb `abilities_for_scopes`): `api` carries every ability of `read_api`,
/// `read_repository` and `write_repository`; `write_repository` includes `download_code`; and
/// `read_api`'s read-only abilities include `download_code`, so it clones like `read_repository`.
const GITLAB: &[(&str, &[&str])] = &[
    ("api", &["read_api", "read_repository", "write_repository"]),
    ("write_repository", &["read_repository"]),
    ("read_api", &["read_repository"]),
    ("write_registry", &["read_registry"]),
    ("write_virtual_registry", &["read_virtual_registry"]),
];

/// Bitbucket Cloud (the scope descriptions on developer.atlassian.com, as TruffleHog's map encodes them).
/// `repository:admin` implies neither `repository` nor `repository:write`.
const BITBUCKET_CLOUD: &[(&str, &[&str])] = &[
    ("repository:write", &["repository"]),
    ("pullrequest", &["repository"]),
    ("pullrequest:write", &["pullrequest", "repository:write"]),
    ("project", &["repository"]),
    ("pipeline:write", &["pipeline"]),
    ("pipeline:variable", &["pipeline:write"]),
    ("runner:write", &["runner"]),
    ("account:write", &["account"]),
    ("team:write", &["team"]),
    ("issue:write", &["issue"]),
    ("snippet:write", &["snippet"]),
];

/// Bitbucket Data Center: a higher permission includes the lower ones, and a project permission
/// applies to every repository in the project.
const BITBUCKET_SERVER: &[(&str, &[&str])] = &[
    ("REPO_ADMIN", &["REPO_WRITE"]),
    ("REPO_WRITE", &["REPO_READ"]),
    ("PROJECT_ADMIN", &["PROJECT_WRITE", "REPO_ADMIN"]),
    ("PROJECT_WRITE", &["PROJECT_READ", "REPO_WRITE"]),
    ("PROJECT_READ", &["REPO_READ"]),
];

/// Gitea: `write:X` ⊃ `read:X`; `all` ⊃ every `write:X` (go-gitea/gitea `access_token_scope.go`).
#[rustfmt::skip]
const GITEA: &[(&str, &[&str])] = &[
    ("all", &["write:activitypub", "write:admin", "write:issue", "write:misc", "write:notification",
              "write:organization", "write:package", "write:repository", "write:user"]),
    ("write:activitypub", &["read:activitypub"]),
    ("write:admin", &["read:admin"]),
    ("write:issue", &["read:issue"]),
    ("write:misc", &["read:misc"]),
    ("write:notification", &["read:notification"]),
    ("write:organization", &["read:organization"]),
    ("write:package", &["read:package"]),
    ("write:repository", &["read:repository"]),
    ("write:user", &["read:user"]),
];

/// Azure DevOps: each Code level includes the ones below it (learn.microsoft.com, "Scopes").
const AZURE_DEVOPS: &[(&str, &[&str])] = &[
    ("vso.code_full", &["vso.code_manage", "vso.code_status"]),
    ("vso.code_manage", &["vso.code_write"]),
    ("vso.code_write", &["vso.code"]),
    ("vso.hooks_write", &["vso.hooks"]),
    ("vso.work_write", &["vso.work"]),
    ("vso.build_execute", &["vso.build"]),
    ("vso.project_manage", &["vso.project_write"]),
    ("vso.project_write", &["vso.project"]),
    ("vso.packaging_write", &["vso.packaging"]),
    ("vso.release_execute", &["vso.release"]),
];

fn edges(family: ScopeFamily) -> &'static [(&'static str, &'static [&'static str])] {
    match family {
        ScopeFamily::GithubClassic => GITHUB,
        ScopeFamily::Gitlab => GITLAB,
        ScopeFamily::BitbucketCloud => BITBUCKET_CLOUD,
        ScopeFamily::BitbucketServer => BITBUCKET_SERVER,
        ScopeFamily::Gitea => GITEA,
        ScopeFamily::AzureDevops => AZURE_DEVOPS,
        // Atlassian's granular API-token scopes imply nothing: write does not even imply read.
        ScopeFamily::BitbucketApiToken => &[],
        // Levels are a rule, not a list: see `implied`.
        ScopeFamily::GithubPermissions => &[],
    }
}

/// The scopes `scope` directly implies (the tests check [`implies`] against this closure).
#[cfg(test)]
fn implied(family: ScopeFamily, scope: &str) -> Vec<String> {
    if family == ScopeFamily::GithubPermissions {
        // GitHub permission levels: `name:admin` ⊃ `name:write` ⊃ `name:read`.
        return match scope.rsplit_once(':') {
            Some((name, "admin")) => vec![format!("{name}:write")],
            Some((name, "write")) => vec![format!("{name}:read")],
            _ => Vec::new(),
        };
    }
    edges(family)
        .iter()
        .find(|(s, _)| *s == scope)
        .map(|(_, c)| c.iter().map(|s| (*s).to_owned()).collect())
        .unwrap_or_default()
}

/// Every scope the granted ones carry, themselves included.
#[cfg(test)]
fn closure<'a>(family: ScopeFamily, granted: impl IntoIterator<Item = &'a str>) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = granted.into_iter().map(str::to_owned).collect();
    while let Some(s) = todo.pop() {
        for child in implied(family, &s) {
            if !out.contains(&child) {
                todo.push(child);
            }
        }
        out.insert(s);
    }
    out
}

/// Whether `from` carries `to` (itself or through implications). No allocation: the admission path
/// asks this for every required scope.
pub fn implies(family: ScopeFamily, from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    if family == ScopeFamily::GithubPermissions {
        // `name:admin` ⊃ `name:write` ⊃ `name:read`.
        let rank = |level: &str| match level {
            "read" => Some(1),
            "write" => Some(2),
            "admin" => Some(3),
            _ => None,
        };
        return match (from.rsplit_once(':'), to.rsplit_once(':')) {
            (Some((a, la)), Some((b, lb))) if a == b => matches!((rank(la), rank(lb)), (Some(x), Some(y)) if x >= y),
            _ => false,
        };
    }
    edges(family)
        .iter()
        .find(|(s, _)| *s == from)
        .is_some_and(|(_, children)| children.iter().any(|c| implies(family, c, to)))
}

/// What a role lacks and what it carries in excess, for a shared scope set: computed once per set,
/// family and role, then reused (the grant cache interns scope sets, so most reviews hit this). The memo
/// keeps a clone of the set's `Arc`, so the address it is keyed by cannot be reused while it is there.
pub fn assess(
    family: ScopeFamily,
    role: Role,
    needed: &Arc<[String]>,
    granted: &crate::grant::Scopes,
) -> Arc<Assessment> {
    type Memo = quick_cache::sync::Cache<
        (usize, usize, ScopeFamily, Role),
        (crate::grant::Scopes, Arc<[String]>, Arc<Assessment>),
    >;
    static MEMO: std::sync::LazyLock<Memo> = std::sync::LazyLock::new(|| quick_cache::sync::Cache::new(4096));
    // Keyed by the addresses of the granted set and of the requirement (a configuration's own table),
    // both kept alive by the entry so that neither address can be reused while it is there.
    let key = (Arc::as_ptr(granted) as usize, needed.as_ptr() as usize, family, role);
    if let Some((kept, kept_needed, a)) = MEMO.get(&key)
        && Arc::ptr_eq(&kept, granted)
        && Arc::ptr_eq(&kept_needed, needed)
    {
        return a;
    }
    let names = || granted.iter().map(String::as_str);
    let a = Arc::new(Assessment {
        missing: missing(family, needed, names()),
        excess: excess(family, role, needed, names()),
    });
    MEMO.insert(key, (granted.clone(), needed.clone(), a.clone()));
    a
}

/// A scope set's standing against a role.
#[derive(Debug, PartialEq, Eq)]
pub struct Assessment {
    pub missing: Vec<String>,
    pub excess: Vec<String>,
}

/// Whether any granted scope carries `scope`.
pub fn carries<'a>(family: ScopeFamily, granted: impl IntoIterator<Item = &'a str>, scope: &str) -> bool {
    granted.into_iter().any(|g| implies(family, g, scope))
}

/// The required scopes the granted ones do not carry, in the requirement's order.
pub fn missing<'a>(
    family: ScopeFamily,
    required: &[impl AsRef<str>],
    granted: impl IntoIterator<Item = &'a str> + Clone,
) -> Vec<String> {
    required
        .iter()
        .map(AsRef::as_ref)
        .filter(|r| !carries(family, granted.clone(), r))
        .map(str::to_owned)
        .collect()
}

/// The dangerous scopes the grant carries that the role does not need (see `requirements::DANGEROUS`).
pub fn excess<'a>(
    family: ScopeFamily,
    role: Role,
    needed: &[String],
    granted: impl IntoIterator<Item = &'a str> + Clone,
) -> Vec<String> {
    crate::requirements::DANGEROUS
        .iter()
        .filter(|(f, scope, upto)| {
            *f == family
                && role <= *upto
                && carries(family, granted.clone(), scope)
                && !carries(family, needed.iter().map(String::as_str), scope)
        })
        .map(|(_, scope, _)| (*scope).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirements::required;
    use ScopeFamily::*;
    use std::collections::BTreeSet;

    /// A cell of the built-in table, owned.
    fn dflt(family: ScopeFamily, role: Role) -> Vec<String> {
        required(family, role).iter().map(|s| (*s).to_owned()).collect()
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn github_normalised_scopes_expand() {
        let c = closure(GithubClassic, ["repo"]);
        for s in [
            "repo",
            "public_repo",
            "repo:status",
            "repo_deployment",
            "repo:invite",
            "security_events",
        ] {
            assert!(c.contains(s), "{s}");
        }
        assert!(
            !c.contains("admin:repo_hook"),
            "repo does not stand in for admin:repo_hook"
        );
        assert_eq!(
            closure(GithubClassic, ["admin:repo_hook"]),
            set(&["admin:repo_hook", "write:repo_hook", "read:repo_hook"])
        );
        assert_eq!(
            closure(GithubClassic, ["write:repo_hook"]),
            set(&["write:repo_hook", "read:repo_hook"])
        );
        assert_eq!(
            closure(GithubClassic, ["admin:org"]),
            set(&["admin:org", "write:org", "read:org", "manage_runners:org"])
        );
        assert_eq!(
            closure(GithubClassic, ["user"]),
            set(&["user", "read:user", "user:email", "user:follow"])
        );
        assert_eq!(
            closure(GithubClassic, ["public_repo"]),
            set(&["public_repo"]),
            "children never imply parents"
        );
    }

    #[test]
    fn gitlab_api_carries_the_repository_scopes() {
        assert_eq!(
            closure(Gitlab, ["api"]),
            set(&["api", "read_api", "read_repository", "write_repository"])
        );
        assert_eq!(
            closure(Gitlab, ["write_repository"]),
            set(&["write_repository", "read_repository"])
        );
        assert_eq!(closure(Gitlab, ["read_repository"]), set(&["read_repository"]));
        assert!(!closure(Gitlab, ["read_api"]).contains("write_repository"));
    }

    #[test]
    fn bitbucket_write_implies_read_but_admin_implies_neither() {
        assert_eq!(
            closure(BitbucketCloud, ["repository:write"]),
            set(&["repository:write", "repository"])
        );
        assert_eq!(
            closure(BitbucketCloud, ["repository:admin"]),
            set(&["repository:admin"])
        );
        assert_eq!(
            closure(BitbucketCloud, ["pullrequest:write"]),
            set(&["pullrequest:write", "pullrequest", "repository:write", "repository"])
        );
        assert!(closure(BitbucketCloud, ["webhook"]).len() == 1);
    }

    #[test]
    fn missing_is_in_requirement_order() {
        assert_eq!(
            missing(GithubClassic, &["repo", "admin:repo_hook"], ["user"]),
            ["repo", "admin:repo_hook"]
        );
        assert_eq!(
            missing(GithubClassic, &["repo", "admin:repo_hook"], ["repo", "write:repo_hook"]),
            ["admin:repo_hook"]
        );
        assert!(missing(Gitlab, &["write_repository", "read_api"], ["api"]).is_empty());
        assert_eq!(missing(Gitlab, &["api"], ["read_api", "write_repository"]), ["api"]);
        assert_eq!(
            missing(
                BitbucketCloud,
                required(BitbucketCloud, Role::Runtime),
                ["repository:admin", "webhook"]
            ),
            ["account", "team", "repository:write"]
        );
    }

    #[test]
    fn implies_agrees_with_closure() {
        let all = |f: ScopeFamily| -> Vec<&'static str> {
            edges(f)
                .iter()
                .flat_map(|(a, cs)| std::iter::once(*a).chain(cs.iter().copied()))
                .collect()
        };
        for family in [
            GithubClassic,
            Gitlab,
            BitbucketCloud,
            BitbucketServer,
            Gitea,
            AzureDevops,
        ] {
            for scope in all(family) {
                assert!(
                    family.vocabulary().contains(&scope),
                    "{family:?}: {scope} is in the vocabulary"
                );
            }
            for from in all(family) {
                let c = closure(family, [from]);
                for to in all(family) {
                    assert_eq!(implies(family, from, to), c.contains(to), "{family:?} {from} {to}");
                }
            }
        }
        assert!(implies(Gitea, "all", "read:repository"));
        assert!(!implies(Gitea, "read:repository", "write:repository"));
        assert!(implies(AzureDevops, "vso.code_full", "vso.code"));
        assert!(!implies(AzureDevops, "vso.code", "vso.code_write"));
        assert!(implies(GithubPermissions, "contents:write", "contents:read"));
        assert!(implies(
            GithubPermissions,
            "administration:admin",
            "administration:write"
        ));
        assert!(!implies(GithubPermissions, "contents:read", "contents:write"));
        assert!(!implies(GithubPermissions, "contents:write", "metadata:read"));
    }

    #[test]
    fn assessments_are_memoised_per_shared_set() {
        let granted: crate::grant::Scopes = Arc::new(set(&["repo", "delete_repo"]));
        let table = crate::requirements::Requirements::default();
        let runtime = table.required(GithubClassic, Role::Runtime);
        let a = assess(GithubClassic, Role::Runtime, runtime, &granted);
        assert_eq!(a.missing, ["admin:repo_hook"]);
        assert_eq!(a.excess, ["delete_repo"]);
        assert!(Arc::ptr_eq(
            &a,
            &assess(GithubClassic, Role::Runtime, runtime, &granted)
        ));
        let read = table.required(GithubClassic, Role::Read);
        let other = assess(GithubClassic, Role::Read, read, &granted);
        assert!(other.missing.is_empty());
        let equal_but_distinct: crate::grant::Scopes = Arc::new(set(&["repo", "delete_repo"]));
        assert_eq!(*assess(GithubClassic, Role::Runtime, runtime, &equal_but_distinct), *a);
        // Another configuration's table is another key, even for the same set and role.
        let custom: Arc<[String]> = Arc::from(vec!["repo".to_owned()]);
        assert!(
            assess(GithubClassic, Role::Runtime, &custom, &granted)
                .missing
                .is_empty()
        );
    }

    #[test]
    fn github_permission_levels() {
        assert_eq!(
            closure(GithubPermissions, ["contents:write"]),
            set(&["contents:write", "contents:read"])
        );
        assert_eq!(
            closure(GithubPermissions, ["administration:admin"]),
            set(&["administration:admin", "administration:write", "administration:read"])
        );
        assert_eq!(closure(GithubPermissions, ["metadata:read"]), set(&["metadata:read"]));
    }

    #[test]
    fn bitbucket_api_token_scopes_imply_nothing() {
        assert_eq!(
            closure(BitbucketApiToken, ["write:repository:bitbucket"]),
            set(&["write:repository:bitbucket"])
        );
        assert_eq!(
            missing(
                BitbucketApiToken,
                required(BitbucketApiToken, Role::Write),
                ["write:repository:bitbucket"]
            ),
            ["read:repository:bitbucket"]
        );
    }

    #[test]
    fn bitbucket_server_permissions_nest() {
        assert_eq!(
            closure(BitbucketServer, ["REPO_ADMIN"]),
            set(&["REPO_ADMIN", "REPO_WRITE", "REPO_READ"])
        );
        assert!(closure(BitbucketServer, ["PROJECT_READ"]).contains("REPO_READ"));
        assert!(!closure(BitbucketServer, ["PROJECT_READ"]).contains("REPO_WRITE"));
    }

    #[test]
    fn excess_is_dangerous_and_unneeded() {
        assert_eq!(
            excess(
                GithubClassic,
                Role::Read,
                &dflt(GithubClassic, Role::Read),
                ["repo", "delete_repo", "workflow", "user"]
            ),
            ["delete_repo", "workflow"]
        );
        assert_eq!(
            excess(
                GithubClassic,
                Role::Write,
                &dflt(GithubClassic, Role::Write),
                ["repo", "workflow"]
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            excess(
                GithubClassic,
                Role::Runtime,
                &dflt(GithubClassic, Role::Runtime),
                ["repo", "admin:repo_hook", "admin:org"]
            ),
            ["admin:org"]
        );
        assert_eq!(
            excess(Gitlab, Role::Runtime, &dflt(Gitlab, Role::Runtime), ["api", "sudo"]),
            ["sudo"]
        );
        assert_eq!(
            excess(
                GithubPermissions,
                Role::Read,
                &dflt(GithubPermissions, Role::Read),
                ["administration:write", "contents:read"]
            ),
            ["administration:write"]
        );
        assert!(
            excess(
                GithubPermissions,
                Role::Runtime,
                &dflt(GithubPermissions, Role::Runtime),
                ["administration:write"]
            )
            .is_empty()
        );
        assert_eq!(
            excess(
                BitbucketCloud,
                Role::Write,
                &dflt(BitbucketCloud, Role::Write),
                ["repository:write", "repository:delete"]
            ),
            ["repository:delete"]
        );
    }

    /// The roles of credential Secrets form a chain: whatever satisfies a stricter role satisfies every
    /// weaker one. (`scm` stands apart: a generator's needs are not a repository's.)
    #[test]
    fn stricter_roles_include_weaker_ones() {
        for family in ScopeFamily::ALL {
            for pair in Role::secret_roles().collect::<Vec<_>>().windows(2) {
                let (weaker, stricter) = (pair[0], pair[1]);
                let strict_grant = required(family, stricter);
                assert!(
                    missing(family, required(family, weaker), strict_grant.iter().copied()).is_empty(),
                    "{family:?}: {stricter:?} does not cover {weaker:?}"
                );
            }
        }
    }
}
