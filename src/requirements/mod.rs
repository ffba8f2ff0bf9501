//! Roles and what each needs: the tables of Codefresh's "Git tokens for GitOps" (docs/reference/requirements.md
//! is generated from them), as data, one vocabulary per family of tokens; and the
//! [`Requirements`] in force — these defaults, or the configuration's `requirements` overrides,
//! checked against each family's vocabulary. Pure data: nothing here does I/O or imports the crate.
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

mod vocabulary;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// What the token is for. The roles a credential Secret's name and label give go from least to most
/// demanding under the built-in table, `read < write < user < runtime` (an override may make a role
/// need less than a weaker one; the role annotation still only moves up this order). `scm` is the
/// role of a token an ApplicationSet generator holds: it stands apart, first, so that the role
/// annotation never asks for it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
    clap::ValueEnum,
)]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    /// An ApplicationSet generator lists an organisation's repositories, their branches and files
    /// (the SCM Provider generator), or a repository's pull requests (the Pull Request generator).
    #[value(skip)]
    Scm,
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
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every role: `scm`, then the roles of credential Secrets, weakest first.
    pub fn all() -> impl Iterator<Item = Role> {
        <Self as strum::IntoEnumIterator>::iter()
    }

    /// The roles a credential Secret's name and label give, weakest first: the chain the role
    /// annotation moves up.
    pub fn secret_roles() -> impl Iterator<Item = Role> {
        Self::all().filter(|r| *r != Role::Scm)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A vocabulary of scopes or permissions: the columns of the requirement table (docs/reference/requirements.md), named as the
/// configuration's `requirements` names them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr, strum::EnumString, strum::EnumIter,
)]
#[strum(serialize_all = "kebab-case")]
pub enum ScopeFamily {
    /// GitHub classic personal access tokens and OAuth tokens (`X-OAuth-Scopes`).
    GithubClassic,
    /// GitHub fine-grained tokens and GitHub App installations: `permission:level`.
    #[strum(serialize = "github-fine-grained")]
    GithubPermissions,
    /// GitLab personal, project and group access tokens.
    Gitlab,
    /// Bitbucket Cloud access tokens (and formerly app passwords).
    BitbucketCloud,
    /// Bitbucket Cloud API tokens: Atlassian's granular scope names.
    BitbucketApiToken,
    /// Bitbucket Data Center HTTP access tokens: repository permissions.
    BitbucketServer,
    /// Gitea and Forgejo access tokens: Gitea's scopes, and `repository-admin` (the owner's
    /// administrator permission on the repository, which its webhooks need).
    Gitea,
    /// Azure DevOps personal access tokens: `vso.*` scopes, and `edit-subscriptions` (the project
    /// permission the runtime's service hooks need).
    AzureDevops,
}

impl ScopeFamily {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    #[cfg(test)]
    pub const ALL: [ScopeFamily; 8] = [
        ScopeFamily::GithubClassic,
        ScopeFamily::GithubPermissions,
        ScopeFamily::Gitlab,
        ScopeFamily::BitbucketCloud,
        ScopeFamily::BitbucketApiToken,
        ScopeFamily::BitbucketServer,
        ScopeFamily::Gitea,
        ScopeFamily::AzureDevops,
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
    Requirement { family: GithubClassic, role: Role::Scm, scopes: &["repo"] },
    Requirement { family: GithubClassic, role: Role::Runtime, scopes: &["repo", "admin:repo_hook"] },
    Requirement { family: GithubClassic, role: Role::User, scopes: &["repo"] },
    Requirement { family: GithubClassic, role: Role::Write, scopes: &["repo"] },
    Requirement { family: GithubClassic, role: Role::Read, scopes: &["repo"] },
    // GitHub and GitHub Enterprise, fine-grained tokens and GitHub Apps.
    Requirement { family: GithubPermissions, role: Role::Scm, scopes: &["contents:read", "metadata:read"] },
    Requirement { family: GithubPermissions, role: Role::Runtime, scopes: GITHUB_PERMISSIONS_RUNTIME },
    Requirement { family: GithubPermissions, role: Role::User, scopes: GITHUB_PERMISSIONS_PUSH },
    Requirement { family: GithubPermissions, role: Role::Write, scopes: GITHUB_PERMISSIONS_PUSH },
    Requirement { family: GithubPermissions, role: Role::Read, scopes: &["contents:read", "metadata:read"] },
    // GitLab Cloud and GitLab Server.
    Requirement { family: Gitlab, role: Role::Scm, scopes: &["read_api"] },
    Requirement { family: Gitlab, role: Role::Runtime, scopes: &["api"] },
    Requirement { family: Gitlab, role: Role::User, scopes: &["write_repository", "read_api"] },
    Requirement { family: Gitlab, role: Role::Write, scopes: &["write_repository"] },
    Requirement { family: Gitlab, role: Role::Read, scopes: &["read_repository"] },
    // Bitbucket Cloud access tokens.
    Requirement { family: BitbucketCloud, role: Role::Scm, scopes: &["repository"] },
    Requirement { family: BitbucketCloud, role: Role::Runtime, scopes: BITBUCKET_RUNTIME },
    Requirement { family: BitbucketCloud, role: Role::User, scopes: BITBUCKET_RUNTIME },
    Requirement { family: BitbucketCloud, role: Role::Write, scopes: &["repository:write"] },
    Requirement { family: BitbucketCloud, role: Role::Read, scopes: &["repository"] },
    // Bitbucket Cloud API tokens: clone needs read, push needs read and write.
    Requirement { family: BitbucketApiToken, role: Role::Scm, scopes: &["read:repository:bitbucket"] },
    Requirement { family: BitbucketApiToken, role: Role::Runtime, scopes: BITBUCKET_API_RUNTIME },
    Requirement { family: BitbucketApiToken, role: Role::User, scopes: BITBUCKET_API_RUNTIME },
    Requirement { family: BitbucketApiToken, role: Role::Write, scopes: &["read:repository:bitbucket", "write:repository:bitbucket"] },
    Requirement { family: BitbucketApiToken, role: Role::Read, scopes: &["read:repository:bitbucket"] },
    // Bitbucket Data Center / Server.
    Requirement { family: BitbucketServer, role: Role::Scm, scopes: &["REPO_READ"] },
    Requirement { family: BitbucketServer, role: Role::Runtime, scopes: &["REPO_ADMIN"] },
    Requirement { family: BitbucketServer, role: Role::User, scopes: &["REPO_ADMIN"] },
    Requirement { family: BitbucketServer, role: Role::Write, scopes: &["REPO_WRITE"] },
    Requirement { family: BitbucketServer, role: Role::Read, scopes: &["REPO_READ"] },
    // Gitea and Forgejo: the runtime's webhooks need the owner to administer the repository.
    Requirement { family: Gitea, role: Role::Scm, scopes: &["read:repository", "read:organization"] },
    Requirement { family: Gitea, role: Role::Runtime, scopes: &["write:repository", "repository-admin", "read:user"] },
    Requirement { family: Gitea, role: Role::User, scopes: &["write:repository"] },
    Requirement { family: Gitea, role: Role::Write, scopes: &["write:repository"] },
    Requirement { family: Gitea, role: Role::Read, scopes: &["read:repository"] },
    // Azure DevOps: Code (Read) clones, Code (Read & write) pushes; the runtime's webhooks are service
    // hook subscriptions, which need the project permission "Edit subscriptions".
    Requirement { family: AzureDevops, role: Role::Scm, scopes: &["vso.code"] },
    Requirement { family: AzureDevops, role: Role::Runtime, scopes: &["vso.code_write", "edit-subscriptions"] },
    Requirement { family: AzureDevops, role: Role::User, scopes: &["vso.code_write"] },
    Requirement { family: AzureDevops, role: Role::Write, scopes: &["vso.code_write"] },
    Requirement { family: AzureDevops, role: Role::Read, scopes: &["vso.code"] },
];

/// What a role needs beyond its row when its use involves pull requests, per family: the Pull Request
/// generator lists a repository's pull requests (`scm`); Argo CD Image Updater's pull-request mode
/// opens them (`write`). Where a role's row already covers it (a classic token's `repo`, GitLab's
/// `read_api` for listing, Bitbucket Data Center's repository permissions, Gitea's `*:repository`,
/// Azure DevOps' `vso.code*`), nothing. An override of the role's row keeps this addition.
#[rustfmt::skip]
pub static PULL_REQUESTS: &[(Role, ScopeFamily, &[&str])] = &[
    (Role::Scm, GithubPermissions, &["pull_requests:read"]),
    (Role::Scm, BitbucketCloud, &["pullrequest"]),
    (Role::Scm, BitbucketApiToken, &["read:pullrequest:bitbucket"]),
    (Role::Write, GithubPermissions, &["pull_requests:write"]),
    (Role::Write, Gitlab, &["api"]),
    (Role::Write, BitbucketCloud, &["pullrequest:write"]),
    (Role::Write, BitbucketApiToken, &["write:pullrequest:bitbucket"]),
];

/// What a judgement holds a credential to: a role, and whether its use involves pull requests
/// ([`PULL_REQUESTS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Need {
    pub role: Role,
    pub pull_requests: bool,
}

impl Need {
    pub fn role(role: Role) -> Self {
        Self {
            role,
            pull_requests: false,
        }
    }
}

impl From<Role> for Need {
    fn from(role: Role) -> Self {
        Need::role(role)
    }
}

/// The scopes a role needs in a family, by the built-in table.
#[cfg(test)]
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
pub const GITLAB_BOT_ACCESS: [(Role, u8); 5] = [
    (Role::Scm, 20),
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

/// GitLab's roles as the `requirements` override names them (`gitlab-access-level`), with their
/// `access_level` values (GitLab's "Roles and permissions").
pub const GITLAB_LEVELS: [(&str, u8); 7] = [
    ("minimal-access", 5),
    ("guest", 10),
    ("planner", 15),
    ("reporter", 20),
    ("developer", 30),
    ("maintainer", 40),
    ("owner", 50),
];

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

/// The `requirements` configuration as written: per role, per family, a list of scopes, a map of
/// GitHub permissions to levels, or (for `gitlab-access-level`) one GitLab role.
pub type RawRequirements = BTreeMap<String, BTreeMap<String, RawRequirement>>;

/// The JSON Schema of the `requirements` overrides: each role of [`Role`] names cells by the token
/// families of [`ScopeFamily`] (and `gitlab-access-level`); the scopes themselves are checked against
/// each family's vocabulary when the file is loaded.
pub fn overrides_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut families = serde_json::Map::new();
    for family in <ScopeFamily as strum::IntoEnumIterator>::iter() {
        let description = match family {
            ScopeFamily::GithubPermissions => {
                "GitHub fine-grained tokens and GitHub Apps: permission: level (read, write, admin), as a map, or a list of permission:level"
            }
            ScopeFamily::BitbucketServer => "Bitbucket Data Center: REPO_READ, REPO_WRITE, REPO_ADMIN, PROJECT_*",
            _ => "the scopes, as a list (or one scope)",
        };
        families.insert(
            family.as_str().to_owned(),
            serde_json::json!({
                "description": description,
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "object", "additionalProperties": {"type": "string"}}
                ]
            }),
        );
    }
    families.insert(
        GITLAB_ACCESS_LEVEL.to_owned(),
        serde_json::json!({
            "description": "a GitLab project or group token's role on the project",
            "type": "string",
            "enum": GITLAB_LEVELS.map(|(name, _)| name)
        }),
    );
    let mut roles = serde_json::Map::new();
    for role in Role::all() {
        roles.insert(
            role.as_str().to_owned(),
            serde_json::json!({
                "description": format!("Cells of the {role} role, by token family."),
                "type": "object",
                "additionalProperties": false,
                "properties": families.clone()
            }),
        );
    }
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": false,
        "properties": roles
    })
}

/// One cell of a `requirements` override as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum RawRequirement {
    One(String),
    List(Vec<String>),
    Map(BTreeMap<String, String>),
}

/// A `requirements` override that names something no family knows: the key (under `requirements`)
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementError {
    pub key: String,
    pub message: String,
}

fn err(key: String, message: impl Into<String>) -> RequirementError {
    RequirementError {
        key,
        message: message.into(),
    }
}

/// The pseudo-family of a GitLab project or group token's role on the project.
pub const GITLAB_ACCESS_LEVEL: &str = "gitlab-access-level";

/// The requirements in force: the built-in table with the configuration's overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    cells: BTreeMap<(ScopeFamily, Role), Arc<[String]>>,
    /// Cells with [`PULL_REQUESTS`] added, per role and family.
    pull_request_cells: BTreeMap<(ScopeFamily, Role), Arc<[String]>>,
    gitlab_access: BTreeMap<Role, u8>,
    overridden: Vec<(ScopeFamily, Role)>,
}

impl Default for Requirements {
    fn default() -> Self {
        let mut r = Self {
            cells: REQUIREMENTS
                .iter()
                .map(|r| ((r.family, r.role), r.scopes.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
            pull_request_cells: BTreeMap::new(),
            gitlab_access: GITLAB_BOT_ACCESS.into_iter().collect(),
            overridden: Vec::new(),
        };
        r.add_pull_requests();
        r
    }
}

impl Requirements {
    /// The built-in table with `raw`'s cells in place of its own; every role, family, scope,
    /// permission and level checked against the vocabularies.
    pub fn with_overrides(raw: &RawRequirements) -> Result<Self, RequirementError> {
        let mut out = Self::default();
        for (role_name, families) in raw {
            let key = format!("requirements.{role_name}");
            let role: Role = role_name.parse().map_err(|_| {
                err(
                    key.clone(),
                    format!("not a role: {role_name:?} (runtime, user, write, read or scm)"),
                )
            })?;
            for (family_name, value) in families {
                let key = format!("{key}.{family_name}");
                if family_name == GITLAB_ACCESS_LEVEL {
                    let RawRequirement::One(level) = value else {
                        return Err(err(key, "must be one GitLab role, e.g. developer"));
                    };
                    out.gitlab_access.insert(role, gitlab_level(&key, level)?);
                    continue;
                }
                let family: ScopeFamily = family_name.parse().map_err(|_| {
                    err(
                        key.clone(),
                        format!(
                            "not a token family: {family_name:?} (github-classic, github-fine-grained, gitlab, \
                             gitlab-access-level, bitbucket-cloud, bitbucket-api-token, bitbucket-server, gitea or azure-devops)"
                        ),
                    )
                })?;
                let scopes = cell(family, &key, value)?;
                out.cells.insert((family, role), scopes.into());
                out.overridden.push((family, role));
            }
        }
        out.add_pull_requests();
        Ok(out)
    }

    /// The cells of uses with pull requests: the cells in force, and [`PULL_REQUESTS`].
    fn add_pull_requests(&mut self) {
        let mut cells = BTreeMap::new();
        for family in <ScopeFamily as strum::IntoEnumIterator>::iter() {
            for role in Role::all() {
                let mut cell: Vec<String> = self.required(family, role).to_vec();
                for (r, f, extra) in PULL_REQUESTS {
                    if *r == role && *f == family {
                        for e in *extra {
                            if !cell.iter().any(|c| c == e) {
                                cell.push((*e).to_owned());
                            }
                        }
                    }
                }
                cells.insert((family, role), cell.into());
            }
        }
        self.pull_request_cells = cells;
    }

    /// The scopes (or `permission:level`s) a need asks for in a family.
    pub fn needed(&self, family: ScopeFamily, need: Need) -> &Arc<[String]> {
        if need.pull_requests
            && let Some(cell) = self.pull_request_cells.get(&(family, need.role))
        {
            return cell;
        }
        self.required(family, need.role)
    }

    /// The scopes (or `permission:level`s) a role needs in a family.
    pub fn required(&self, family: ScopeFamily, role: Role) -> &Arc<[String]> {
        static NOTHING: LazyLock<Arc<[String]>> = LazyLock::new(|| Arc::from(Vec::new()));
        self.cells.get(&(family, role)).unwrap_or(&NOTHING)
    }

    /// The least GitLab `access_level` a project or group token's bot needs for a role.
    pub fn gitlab_access(&self, role: Role) -> u8 {
        self.gitlab_access
            .get(&role)
            .copied()
            .unwrap_or_else(|| gitlab_bot_access(role))
    }

    /// Whether the configuration changed this cell.
    pub fn is_overridden(&self, family: ScopeFamily, role: Role) -> bool {
        self.overridden.contains(&(family, role))
    }
}

fn gitlab_level(key: &str, level: &str) -> Result<u8, RequirementError> {
    let want = level.trim().to_ascii_lowercase().replace([' ', '_'], "-");
    GITLAB_LEVELS
        .iter()
        .find(|(name, _)| *name == want)
        .map(|(_, l)| *l)
        .ok_or_else(|| {
            err(
                key.to_owned(),
                format!(
                    "not a GitLab role: {level:?} ({})",
                    GITLAB_LEVELS.map(|(n, _)| n).join(", ")
                ),
            )
        })
}

/// One override cell, checked: scope names in the family's vocabulary; GitHub permissions as
/// `permission: level` (or `permission:level` in a list).
fn cell(family: ScopeFamily, key: &str, value: &RawRequirement) -> Result<Vec<String>, RequirementError> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    match (family, value) {
        (ScopeFamily::GithubPermissions, RawRequirement::Map(map)) => {
            for (name, level) in map {
                push(github_permission(&format!("{key}.{name}"), name, level)?);
            }
        }
        (ScopeFamily::GithubPermissions, RawRequirement::List(list)) => {
            for (i, item) in list.iter().enumerate() {
                let k = format!("{key}[{i}]");
                let (name, level) = item.split_once(':').ok_or_else(|| {
                    err(
                        k.clone(),
                        format!("{item:?} is not permission:level, e.g. contents:write"),
                    )
                })?;
                push(github_permission(&k, name, level)?);
            }
        }
        (ScopeFamily::GithubPermissions, RawRequirement::One(_)) => {
            return Err(err(
                key.to_owned(),
                "must map permissions to levels, e.g. {contents: write, metadata: read}",
            ));
        }
        (_, RawRequirement::List(list)) => {
            for (i, item) in list.iter().enumerate() {
                let scope = item.trim();
                if !family.vocabulary().contains(&scope) {
                    return Err(err(
                        format!("{key}[{i}]"),
                        format!("not a {} scope: {item:?}", family.as_str()),
                    ));
                }
                push(scope.to_owned());
            }
        }
        (_, _) => return Err(err(key.to_owned(), "must be a list of scopes, e.g. [repo]")),
    }
    if out.is_empty() {
        return Err(err(key.to_owned(), "names nothing: a role needs at least one scope"));
    }
    Ok(out)
}

fn github_permission(key: &str, name: &str, level: &str) -> Result<String, RequirementError> {
    let name = name.trim();
    let level = level.trim().to_ascii_lowercase();
    let name = if name == "repository_hooks" { "webhooks" } else { name };
    if !vocabulary::GITHUB_PERMISSIONS.contains(&name) {
        return Err(err(key.to_owned(), format!("not a GitHub permission: {name:?}")));
    }
    if !vocabulary::GITHUB_LEVELS.contains(&level.as_str()) {
        return Err(err(
            key.to_owned(),
            format!("not a permission level: {level:?} (read, write or admin)"),
        ));
    }
    Ok(format!("{name}:{level}"))
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
    fn gitea_and_azure_devops() {
        assert_eq!(required(Gitea, Role::Read), ["read:repository"]);
        assert_eq!(required(Gitea, Role::Write), ["write:repository"]);
        assert_eq!(required(Gitea, Role::User), ["write:repository"]);
        assert_eq!(
            required(Gitea, Role::Runtime),
            ["write:repository", "repository-admin", "read:user"]
        );
        assert_eq!(required(AzureDevops, Role::Read), ["vso.code"]);
        assert_eq!(required(AzureDevops, Role::Write), ["vso.code_write"]);
        assert_eq!(
            required(AzureDevops, Role::Runtime),
            ["vso.code_write", "edit-subscriptions"]
        );
        // Both are valid in the requirements override, checked against their vocabularies.
        let r = overrides(
            "read:
  gitea: [read:repository, read:user]
write:
  azure-devops: [vso.code_manage]
",
        )
        .unwrap();
        assert_eq!(&r.required(Gitea, Role::Read)[..], ["read:repository", "read:user"]);
        assert_eq!(&r.required(AzureDevops, Role::Write)[..], ["vso.code_manage"]);
        let e = overrides(
            "read:
  gitea: [read:repo]
",
        )
        .unwrap_err();
        assert_eq!(e.key, "requirements.read.gitea[0]");
        let e = overrides(
            "read:
  azure-devops: [code]
",
        )
        .unwrap_err();
        assert!(e.message.contains("not a azure-devops scope"), "{e:?}");
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

    fn overrides(yaml: &str) -> Result<Requirements, RequirementError> {
        let raw: RawRequirements = serde_norway::from_str(yaml).unwrap();
        Requirements::with_overrides(&raw)
    }

    #[test]
    fn overrides_replace_only_their_cells() {
        let r = overrides(
            "runtime:\n  github-fine-grained: {administration: write, contents: write, metadata: read, webhooks: write, \
             pull_requests: write, statuses: write}\nuser:\n  github-classic: [repo, admin:repo_hook]\n  \
             gitlab-access-level: Maintainer\n",
        )
        .unwrap();
        assert_eq!(
            &r.required(GithubPermissions, Role::Runtime)[..],
            [
                "administration:write",
                "contents:write",
                "metadata:read",
                "pull_requests:write",
                "statuses:write",
                "webhooks:write"
            ]
        );
        assert_eq!(&r.required(GithubClassic, Role::User)[..], ["repo", "admin:repo_hook"]);
        assert_eq!(r.gitlab_access(Role::User), 40);
        assert!(r.is_overridden(GithubClassic, Role::User));
        // Everything else is the built-in table.
        assert_eq!(
            &r.required(GithubClassic, Role::Runtime)[..],
            ["repo", "admin:repo_hook"]
        );
        assert!(!r.is_overridden(GithubClassic, Role::Runtime));
        assert_eq!(r.gitlab_access(Role::Read), 20);
        // A list of permission:level is the same as a map; the API's name for webhooks is accepted.
        let r = overrides("write:\n  github-fine-grained: [contents:write, repository_hooks:read]\n").unwrap();
        assert_eq!(
            &r.required(GithubPermissions, Role::Write)[..],
            ["contents:write", "webhooks:read"]
        );
    }

    #[test]
    fn unknown_names_are_refused_naming_the_key() {
        let cases = [
            ("admin:\n  gitlab: [api]\n", "requirements.admin", "not a role"),
            (
                "read:\n  github: [repo]\n",
                "requirements.read.github",
                "not a token family",
            ),
            (
                "read:\n  github-classic: [repo, repos]\n",
                "requirements.read.github-classic[1]",
                "not a github-classic scope",
            ),
            (
                "read:\n  gitlab: [read_repo]\n",
                "requirements.read.gitlab[0]",
                "not a gitlab scope",
            ),
            (
                "read:\n  bitbucket-server: [REPO_PUSH]\n",
                "requirements.read.bitbucket-server[0]",
                "not a bitbucket-server scope",
            ),
            (
                "read:\n  bitbucket-api-token: [read:repository]\n",
                "requirements.read.bitbucket-api-token[0]",
                "scope",
            ),
            (
                "read:\n  bitbucket-cloud: [repositories]\n",
                "requirements.read.bitbucket-cloud[0]",
                "scope",
            ),
            (
                "runtime:\n  github-fine-grained: {webhook: write}\n",
                "requirements.runtime.github-fine-grained.webhook",
                "not a GitHub permission",
            ),
            (
                "runtime:\n  github-fine-grained: {contents: push}\n",
                "requirements.runtime.github-fine-grained.contents",
                "not a permission level",
            ),
            (
                "runtime:\n  github-fine-grained: [contents]\n",
                "requirements.runtime.github-fine-grained[0]",
                "permission:level",
            ),
            (
                "user:\n  gitlab-access-level: boss\n",
                "requirements.user.gitlab-access-level",
                "not a GitLab role",
            ),
            (
                "user:\n  gitlab-access-level: [developer]\n",
                "requirements.user.gitlab-access-level",
                "one GitLab role",
            ),
            (
                "user:\n  github-classic: []\n",
                "requirements.user.github-classic",
                "names nothing",
            ),
            (
                "user:\n  github-classic: repo\n",
                "requirements.user.github-classic",
                "list of scopes",
            ),
        ];
        for (yaml, key, says) in cases {
            let e = overrides(yaml).expect_err(yaml);
            assert_eq!(e.key, key, "{yaml}");
            assert!(e.message.contains(says), "{yaml}: {}", e.message);
        }
    }

    #[test]
    fn the_built_in_table_uses_only_its_own_vocabularies() {
        for r in REQUIREMENTS {
            for scope in r.scopes {
                let name = match r.family {
                    GithubPermissions => scope.split(':').next().unwrap_or_default(),
                    _ => scope,
                };
                assert!(r.family.vocabulary().contains(&name), "{:?} {scope}", r.family);
            }
        }
        for (family, scope, _) in DANGEROUS {
            let name = match family {
                GithubPermissions => scope.split(':').next().unwrap_or_default(),
                _ => scope,
            };
            assert!(family.vocabulary().contains(&name), "{family:?} {scope}");
        }
        assert_eq!(GithubPermissions.as_str(), "github-fine-grained");
        assert_eq!(BitbucketApiToken.as_str(), "bitbucket-api-token");
        assert_eq!("bitbucket-server".parse::<ScopeFamily>().ok(), Some(BitbucketServer));
    }
}
