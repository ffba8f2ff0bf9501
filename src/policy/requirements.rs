//! The requirements: the tables of Codefresh's "Git tokens for GitOps" (the README's "Required scopes
//! and permissions" reproduces them), as data, one vocabulary per family of tokens.
//!
//! | role    | GitHub classic             | GitLab                          | Bitbucket Cloud                                              |
//! |---------|----------------------------|---------------------------------|--------------------------------------------------------------|
//! | runtime | `repo`, `admin:repo_hook`  | `api`                           | `account`, `team`, `webhook`, `repository:write`, `repository:admin` |
//! | user    | `repo`                     | `write_repository`, `read_api`  | as runtime                                                   |
//! | write   | `repo`                     | `write_repository`              | `repository:write`                                           |
//! | read    | `repo`                     | `read_repository`               | `repository`                                                 |
//!
//! GitHub fine-grained tokens (and GitHub App installations, which use the same permission names):
//! runtime Administration, Contents and Webhooks read and write, Metadata read; user and write Contents
//! read and write, Metadata read; read Contents and Metadata read.
//!
//! Runtime and user come from "Git tokens for GitOps" (its Bitbucket rows: Account read, Workspace
//! membership read, Webhooks read and write, Repositories write and admin). It writes GitLab's
//! `api_read`; the scope is called `read_api`. Write and read are what Argo CD itself needs to push and to clone.
//! Bitbucket API tokens carry the same needs in Atlassian's granular names, where write does not imply
//! read; Bitbucket Data Center has repository permissions, where `REPO_ADMIN` covers webhooks.

use crate::credential::Role;

/// A vocabulary of scopes or permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeFamily {
    /// GitHub classic personal access tokens and OAuth tokens (`X-OAuth-Scopes`).
    GithubClassic,
    /// GitHub fine-grained tokens and GitHub App installations: `permission:level`.
    GithubPermissions,
    /// GitLab personal, project and group access tokens.
    Gitlab,
    /// Bitbucket Cloud access tokens (and formerly app passwords).
    BitbucketCloud,
    /// Bitbucket Cloud API tokens: Atlassian's granular scope names.
    BitbucketApiToken,
    /// Bitbucket Data Center HTTP access tokens: repository permissions.
    BitbucketServer,
}

impl ScopeFamily {
    #[cfg(test)]
    pub const ALL: [ScopeFamily; 6] = [
        ScopeFamily::GithubClassic,
        ScopeFamily::GithubPermissions,
        ScopeFamily::Gitlab,
        ScopeFamily::BitbucketCloud,
        ScopeFamily::BitbucketApiToken,
        ScopeFamily::BitbucketServer,
    ];
}

/// One cell of the tables.
#[derive(Debug)]
pub struct Requirement {
    pub family: ScopeFamily,
    pub role: Role,
    pub scopes: &'static [&'static str],
}

const BITBUCKET_RUNTIME: &[&str] = &["account", "team", "webhook", "repository:write", "repository:admin"];
const GITHUB_PERMISSIONS_RUNTIME: &[&str] = &[
    "administration:write",
    "contents:write",
    "metadata:read",
    "webhooks:write",
];
const GITHUB_PERMISSIONS_PUSH: &[&str] = &["contents:write", "metadata:read"];
const BITBUCKET_API_RUNTIME: &[&str] = &[
    "read:user:bitbucket",
    "read:workspace:bitbucket",
    "read:webhook:bitbucket",
    "write:webhook:bitbucket",
    "read:repository:bitbucket",
    "write:repository:bitbucket",
    "admin:repository:bitbucket",
];

use ScopeFamily::*;

#[rustfmt::skip]
pub static REQUIREMENTS: &[Requirement] = &[
    // GitHub and GitHub Enterprise, classic tokens.
    Requirement { family: GithubClassic, role: Role::Runtime, scopes: &["repo", "admin:repo_hook"] },
    Requirement { family: GithubClassic, role: Role::User, scopes: &["repo"] },
    Requirement { family: GithubClassic, role: Role::Write, scopes: &["repo"] },
    Requirement { family: GithubClassic, role: Role::Read, scopes: &["repo"] },
    // GitHub and GitHub Enterprise, fine-grained tokens and GitHub Apps.
    Requirement { family: GithubPermissions, role: Role::Runtime, scopes: GITHUB_PERMISSIONS_RUNTIME },
    Requirement { family: GithubPermissions, role: Role::User, scopes: GITHUB_PERMISSIONS_PUSH },
    Requirement { family: GithubPermissions, role: Role::Write, scopes: GITHUB_PERMISSIONS_PUSH },
    Requirement { family: GithubPermissions, role: Role::Read, scopes: &["contents:read", "metadata:read"] },
    // GitLab Cloud and GitLab Server.
    Requirement { family: Gitlab, role: Role::Runtime, scopes: &["api"] },
    Requirement { family: Gitlab, role: Role::User, scopes: &["write_repository", "read_api"] },
    Requirement { family: Gitlab, role: Role::Write, scopes: &["write_repository"] },
    Requirement { family: Gitlab, role: Role::Read, scopes: &["read_repository"] },
    // Bitbucket Cloud access tokens.
    Requirement { family: BitbucketCloud, role: Role::Runtime, scopes: BITBUCKET_RUNTIME },
    Requirement { family: BitbucketCloud, role: Role::User, scopes: BITBUCKET_RUNTIME },
    Requirement { family: BitbucketCloud, role: Role::Write, scopes: &["repository:write"] },
    Requirement { family: BitbucketCloud, role: Role::Read, scopes: &["repository"] },
    // Bitbucket Cloud API tokens: clone needs read, push needs read and write.
    Requirement { family: BitbucketApiToken, role: Role::Runtime, scopes: BITBUCKET_API_RUNTIME },
    Requirement { family: BitbucketApiToken, role: Role::User, scopes: BITBUCKET_API_RUNTIME },
    Requirement { family: BitbucketApiToken, role: Role::Write, scopes: &["read:repository:bitbucket", "write:repository:bitbucket"] },
    Requirement { family: BitbucketApiToken, role: Role::Read, scopes: &["read:repository:bitbucket"] },
    // Bitbucket Data Center / Server.
    Requirement { family: BitbucketServer, role: Role::Runtime, scopes: &["REPO_ADMIN"] },
    Requirement { family: BitbucketServer, role: Role::User, scopes: &["REPO_ADMIN"] },
    Requirement { family: BitbucketServer, role: Role::Write, scopes: &["REPO_WRITE"] },
    Requirement { family: BitbucketServer, role: Role::Read, scopes: &["REPO_READ"] },
];

/// The scopes a role needs in a family.
pub fn required(family: ScopeFamily, role: Role) -> &'static [&'static str] {
    REQUIREMENTS
        .iter()
        .find(|r| r.family == family && r.role == role)
        .map(|r| r.scopes)
        .unwrap_or(&[])
}

/// The least GitLab role a project or group access token's bot needs on the project, per role:
/// Reporter clones private projects, Developer pushes to unprotected branches, Maintainer manages
/// webhooks.
pub const GITLAB_BOT_ACCESS: [(Role, u8); 4] = [
    (Role::Read, 20),
    (Role::Write, 30),
    (Role::User, 30),
    (Role::Runtime, 40),
];

pub fn gitlab_bot_access(role: Role) -> u8 {
    GITLAB_BOT_ACCESS
        .iter()
        .find(|(r, _)| *r == role)
        .map(|(_, l)| *l)
        .unwrap_or(40)
}

/// GitLab's role names (`access_level`).
pub fn gitlab_access_name(level: u8) -> &'static str {
    match level {
        0..=4 => "no access",
        5..=9 => "Minimal Access",
        10..=19 => "Guest",
        20..=29 => "Reporter",
        30..=39 => "Developer",
        40..=49 => "Maintainer",
        _ => "Owner",
    }
}

/// Scopes that are dangerous when a role does not need them: (family, scope, the strictest role for
/// which it is excess). `delete_repo` is excess for every role; `workflow` only for a read role.
#[rustfmt::skip]
pub static DANGEROUS: &[(ScopeFamily, &str, Role)] = &[
    (GithubClassic, "delete_repo", Role::Runtime),
    (GithubClassic, "admin:org", Role::Runtime),
    (GithubClassic, "admin:enterprise", Role::Runtime),
    (GithubClassic, "site_admin", Role::Runtime),
    (GithubClassic, "admin:org_hook", Role::Runtime),
    (GithubClassic, "admin:public_key", Role::Runtime),
    (GithubClassic, "delete:packages", Role::Runtime),
    (GithubClassic, "workflow", Role::Read),
    (GithubPermissions, "administration:write", Role::User),
    (GithubPermissions, "organization_administration:write", Role::Runtime),
    (GithubPermissions, "members:write", Role::Runtime),
    (GithubPermissions, "workflows:write", Role::Read),
    (Gitlab, "sudo", Role::Runtime),
    (Gitlab, "admin_mode", Role::Runtime),
    (BitbucketCloud, "repository:delete", Role::Runtime),
    (BitbucketCloud, "project:admin", Role::Runtime),
    (BitbucketCloud, "account:write", Role::Runtime),
    (BitbucketCloud, "team:write", Role::Runtime),
    (BitbucketApiToken, "delete:repository:bitbucket", Role::Runtime),
    (BitbucketApiToken, "admin:project:bitbucket", Role::Runtime),
    (BitbucketApiToken, "admin:workspace:bitbucket", Role::Runtime),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_is_there_once() {
        for family in ScopeFamily::ALL {
            for role in Role::all() {
                let n = REQUIREMENTS
                    .iter()
                    .filter(|r| r.family == family && r.role == role)
                    .count();
                assert_eq!(n, 1, "{family:?} {role:?}");
            }
        }
        assert_eq!(REQUIREMENTS.len(), ScopeFamily::ALL.len() * Role::all().count());
    }

    // One test per cell of the tables, so a change to any cell names itself.
    #[test]
    fn github_runtime() {
        assert_eq!(required(GithubClassic, Role::Runtime), ["repo", "admin:repo_hook"]);
    }
    #[test]
    fn github_user() {
        assert_eq!(required(GithubClassic, Role::User), ["repo"]);
    }
    #[test]
    fn github_write() {
        assert_eq!(required(GithubClassic, Role::Write), ["repo"]);
    }
    #[test]
    fn github_read() {
        assert_eq!(required(GithubClassic, Role::Read), ["repo"]);
    }
    #[test]
    fn github_fine_grained_runtime() {
        // Administration: Read and write, Contents: Read and write, Metadata: Read-only, Webhook: Read and write.
        assert_eq!(
            required(GithubPermissions, Role::Runtime),
            [
                "administration:write",
                "contents:write",
                "metadata:read",
                "webhooks:write"
            ]
        );
    }
    #[test]
    fn github_fine_grained_user() {
        assert_eq!(
            required(GithubPermissions, Role::User),
            ["contents:write", "metadata:read"]
        );
    }
    #[test]
    fn github_fine_grained_write() {
        assert_eq!(
            required(GithubPermissions, Role::Write),
            ["contents:write", "metadata:read"]
        );
    }
    #[test]
    fn github_fine_grained_read() {
        assert_eq!(
            required(GithubPermissions, Role::Read),
            ["contents:read", "metadata:read"]
        );
    }
    #[test]
    fn gitlab_runtime() {
        assert_eq!(required(Gitlab, Role::Runtime), ["api"]);
    }
    #[test]
    fn gitlab_user_reads_the_seeds_api_read_as_read_api() {
        assert_eq!(required(Gitlab, Role::User), ["write_repository", "read_api"]);
    }
    #[test]
    fn gitlab_write() {
        assert_eq!(required(Gitlab, Role::Write), ["write_repository"]);
    }
    #[test]
    fn gitlab_read() {
        assert_eq!(required(Gitlab, Role::Read), ["read_repository"]);
    }
    #[test]
    fn bitbucket_runtime() {
        // Account: Read, Workspace membership: Read, Webhooks: Read and write, Repositories: Write, Admin.
        assert_eq!(
            required(BitbucketCloud, Role::Runtime),
            ["account", "team", "webhook", "repository:write", "repository:admin"]
        );
    }
    #[test]
    fn bitbucket_user_is_as_runtime() {
        assert_eq!(
            required(BitbucketCloud, Role::User),
            required(BitbucketCloud, Role::Runtime)
        );
    }
    #[test]
    fn bitbucket_write() {
        assert_eq!(required(BitbucketCloud, Role::Write), ["repository:write"]);
    }
    #[test]
    fn bitbucket_read() {
        assert_eq!(required(BitbucketCloud, Role::Read), ["repository"]);
    }
    #[test]
    fn bitbucket_api_tokens_need_read_next_to_write() {
        assert_eq!(required(BitbucketApiToken, Role::Read), ["read:repository:bitbucket"]);
        assert_eq!(
            required(BitbucketApiToken, Role::Write),
            ["read:repository:bitbucket", "write:repository:bitbucket"]
        );
        let runtime = required(BitbucketApiToken, Role::Runtime);
        for s in [
            "read:user:bitbucket",
            "read:workspace:bitbucket",
            "write:webhook:bitbucket",
            "admin:repository:bitbucket",
        ] {
            assert!(runtime.contains(&s), "{s}");
        }
        assert_eq!(required(BitbucketApiToken, Role::User), runtime);
    }
    #[test]
    fn bitbucket_data_center() {
        assert_eq!(required(BitbucketServer, Role::Read), ["REPO_READ"]);
        assert_eq!(required(BitbucketServer, Role::Write), ["REPO_WRITE"]);
        assert_eq!(required(BitbucketServer, Role::User), ["REPO_ADMIN"]);
        assert_eq!(required(BitbucketServer, Role::Runtime), ["REPO_ADMIN"]);
    }
    #[test]
    fn gitlab_bot_roles() {
        assert_eq!(gitlab_bot_access(Role::Read), 20);
        assert_eq!(gitlab_bot_access(Role::Write), 30);
        assert_eq!(gitlab_bot_access(Role::Runtime), 40);
        assert_eq!(gitlab_access_name(30), "Developer");
        assert_eq!(gitlab_access_name(20), "Reporter");
    }
    #[test]
    fn dangerous_scopes_are_never_required_by_the_roles_they_are_excess_for() {
        for (family, scope, upto) in DANGEROUS {
            for role in Role::all().filter(|r| r <= upto) {
                assert!(!required(*family, role).contains(scope), "{family:?} {role:?} {scope}");
            }
        }
    }
}
