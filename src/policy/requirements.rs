//! The required scopes: the seed's tables ("Git tokens for GitOps"), as data.
//!
//! | role    | GitHub classic             | GitLab                          | Bitbucket Cloud                                              |
//! |---------|----------------------------|---------------------------------|--------------------------------------------------------------|
//! | runtime | `repo`, `admin:repo_hook`  | `api`                           | `account`, `team`, `webhook`, `repository:write`, `repository:admin` |
//! | user    | `repo`                     | `write_repository`, `read_api`  | as runtime                                                   |
//! | write   | `repo`                     | `write_repository`              | `repository:write`                                           |
//! | read    | `repo`                     | `read_repository`               | `repository`                                                 |
//!
//! Runtime and user come from the seed (its Bitbucket rows: Account read, Workspace membership read,
//! Webhooks read and write, Repositories write and admin). The seed writes GitLab's `api_read`; the
//! scope is called `read_api`. Write and read are what Argo CD itself needs to push and to clone.

use crate::credential::Role;

/// A provider's vocabulary of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeFamily {
    /// GitHub classic personal access tokens and OAuth tokens (`X-OAuth-Scopes`).
    GithubClassic,
    /// GitLab personal, project and group access tokens.
    Gitlab,
    /// Bitbucket Cloud access tokens (and, formerly, app passwords).
    BitbucketCloud,
}

/// One cell of the seed's tables.
#[derive(Debug)]
pub struct Requirement {
    pub family: ScopeFamily,
    pub role: Role,
    pub scopes: &'static [&'static str],
}

const BITBUCKET_RUNTIME: &[&str] = &["account", "team", "webhook", "repository:write", "repository:admin"];

pub static REQUIREMENTS: &[Requirement] = &[
    // GitHub and GitHub Enterprise, classic tokens.
    Requirement {
        family: ScopeFamily::GithubClassic,
        role: Role::Runtime,
        scopes: &["repo", "admin:repo_hook"],
    },
    Requirement {
        family: ScopeFamily::GithubClassic,
        role: Role::User,
        scopes: &["repo"],
    },
    Requirement {
        family: ScopeFamily::GithubClassic,
        role: Role::Write,
        scopes: &["repo"],
    },
    Requirement {
        family: ScopeFamily::GithubClassic,
        role: Role::Read,
        scopes: &["repo"],
    },
    // GitLab Cloud and GitLab Server.
    Requirement {
        family: ScopeFamily::Gitlab,
        role: Role::Runtime,
        scopes: &["api"],
    },
    Requirement {
        family: ScopeFamily::Gitlab,
        role: Role::User,
        scopes: &["write_repository", "read_api"],
    },
    Requirement {
        family: ScopeFamily::Gitlab,
        role: Role::Write,
        scopes: &["write_repository"],
    },
    Requirement {
        family: ScopeFamily::Gitlab,
        role: Role::Read,
        scopes: &["read_repository"],
    },
    // Bitbucket Cloud.
    Requirement {
        family: ScopeFamily::BitbucketCloud,
        role: Role::Runtime,
        scopes: BITBUCKET_RUNTIME,
    },
    Requirement {
        family: ScopeFamily::BitbucketCloud,
        role: Role::User,
        scopes: BITBUCKET_RUNTIME,
    },
    Requirement {
        family: ScopeFamily::BitbucketCloud,
        role: Role::Write,
        scopes: &["repository:write"],
    },
    Requirement {
        family: ScopeFamily::BitbucketCloud,
        role: Role::Read,
        scopes: &["repository"],
    },
];

/// The scopes a role needs in a family.
pub fn required(family: ScopeFamily, role: Role) -> &'static [&'static str] {
    REQUIREMENTS
        .iter()
        .find(|r| r.family == family && r.role == role)
        .map(|r| r.scopes)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ScopeFamily::*;

    #[test]
    fn every_cell_is_there_once() {
        for family in [GithubClassic, Gitlab, BitbucketCloud] {
            for role in Role::ALL {
                let n = REQUIREMENTS
                    .iter()
                    .filter(|r| r.family == family && r.role == role)
                    .count();
                assert_eq!(n, 1, "{family:?} {role:?}");
            }
        }
        assert_eq!(REQUIREMENTS.len(), 12);
    }

    // One test per cell of the seed's tables, so a change to any cell names itself.
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
}
