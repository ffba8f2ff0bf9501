//! The names each family's requirements may use: what a `requirements` override is checked against.

use super::ScopeFamily;

/// GitHub's classic token scopes (GitHub docs, "Scopes for OAuth apps"; `site_admin` on Enterprise
/// Server).
#[rustfmt::skip]
const GITHUB_CLASSIC_SCOPES: &[&str] = &[
    "repo", "repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events",
    "admin:repo_hook", "write:repo_hook", "read:repo_hook", "admin:org", "write:org", "read:org",
    "manage_runners:org", "admin:public_key", "write:public_key", "read:public_key", "admin:org_hook", "gist",
    "notifications", "user", "read:user", "user:email", "user:follow", "project", "read:project", "delete_repo",
    "write:packages", "read:packages", "delete:packages", "admin:gpg_key", "write:gpg_key", "read:gpg_key",
    "codespace", "codespace:secrets", "workflow", "admin:enterprise", "manage_runners:enterprise",
    "manage_billing:enterprise", "read:enterprise", "scim:enterprise", "audit_log", "read:audit_log", "copilot",
    "manage_billing:copilot", "write:discussion", "read:discussion", "admin:ssh_signing_key",
    "write:ssh_signing_key", "read:ssh_signing_key", "site_admin",
];

/// GitHub's permission names for fine-grained tokens and GitHub Apps (the keys of an installation's
/// `permissions`, GitHub's REST API description), with `webhooks` for repository webhooks
/// (`repository_hooks` in an installation's answer). Each takes a level: `read`, `write` or `admin`.
#[rustfmt::skip]
pub(super) const GITHUB_PERMISSIONS: &[&str] = &[
    "actions", "administration", "attestations", "checks", "codespaces", "contents", "custom_properties",
    "dependabot_secrets", "deployments", "discussions", "environments", "issues", "merge_queues", "metadata",
    "packages", "pages", "pull_requests", "repository_projects", "secret_scanning_alerts", "secrets",
    "security_events", "single_file", "statuses", "variables", "vulnerability_alerts", "webhooks", "workflows",
    "members", "organization_administration", "organization_custom_roles", "organization_hooks",
    "organization_packages", "organization_personal_access_tokens", "organization_plan", "organization_projects",
    "organization_secrets", "organization_self_hosted_runners", "organization_user_blocking", "team_discussions",
    "email_addresses", "followers", "git_ssh_keys", "gpg_keys", "interaction_limits", "profile", "starring",
];
/// A GitHub permission's levels, weakest first.
pub const GITHUB_LEVELS: [&str; 3] = ["read", "write", "admin"];

/// GitLab's token scopes (GitLab docs, "Personal access token scopes").
#[rustfmt::skip]
const GITLAB_SCOPES: &[&str] = &[
    "api", "read_api", "read_user", "create_runner", "manage_runner", "k8s_proxy", "read_repository",
    "write_repository", "read_registry", "write_registry", "read_virtual_registry", "write_virtual_registry",
    "sudo", "admin_mode", "read_service_ping", "ai_features", "self_rotate", "read_observability",
    "write_observability",
];

/// Bitbucket Cloud access-token scopes (developer.atlassian.com, "Bitbucket Cloud OAuth scopes").
#[rustfmt::skip]
const BITBUCKET_CLOUD_SCOPES: &[&str] = &[
    "account", "account:write", "email", "team", "team:write", "repository", "repository:write",
    "repository:admin", "repository:delete", "pullrequest", "pullrequest:write", "webhook", "issue",
    "issue:write", "wiki", "snippet", "snippet:write", "project", "project:admin", "pipeline", "pipeline:write",
    "pipeline:variable", "runner", "runner:write",
];

/// Bitbucket Cloud API-token scopes (Atlassian's granular names).
#[rustfmt::skip]
const BITBUCKET_API_SCOPES: &[&str] = &[
    "read:user:bitbucket", "read:workspace:bitbucket", "admin:workspace:bitbucket", "read:repository:bitbucket",
    "write:repository:bitbucket", "admin:repository:bitbucket", "delete:repository:bitbucket",
    "read:pullrequest:bitbucket", "write:pullrequest:bitbucket", "read:webhook:bitbucket",
    "write:webhook:bitbucket", "delete:webhook:bitbucket", "read:project:bitbucket", "admin:project:bitbucket",
    "read:pipeline:bitbucket", "write:pipeline:bitbucket", "admin:pipeline:bitbucket", "read:runner:bitbucket",
    "write:runner:bitbucket", "read:issue:bitbucket", "write:issue:bitbucket", "delete:issue:bitbucket",
    "read:wiki:bitbucket", "write:wiki:bitbucket", "read:snippet:bitbucket", "write:snippet:bitbucket",
    "delete:snippet:bitbucket", "read:ssh-key:bitbucket", "write:ssh-key:bitbucket", "delete:ssh-key:bitbucket",
    "read:gpg-key:bitbucket", "write:gpg-key:bitbucket", "delete:gpg-key:bitbucket", "read:permission:bitbucket",
    "write:permission:bitbucket", "delete:permission:bitbucket", "read:package:bitbucket",
    "write:package:bitbucket", "admin:package:bitbucket",
];

/// Bitbucket Data Center permissions a token can carry.
#[rustfmt::skip]
const BITBUCKET_SERVER_PERMISSIONS: &[&str] = &[
    "REPO_READ", "REPO_WRITE", "REPO_ADMIN", "PROJECT_READ", "PROJECT_WRITE", "PROJECT_ADMIN",
];

/// Gitea's (and Forgejo's) token scopes (go-gitea/gitea `models/auth/access_token_scope.go`), and
/// `repository-admin`: not a scope but the owner's administrator permission on the repository.
#[rustfmt::skip]
const GITEA_SCOPES: &[&str] = &[
    "all", "read:activitypub", "write:activitypub", "read:admin", "write:admin", "read:issue", "write:issue",
    "read:misc", "write:misc", "read:notification", "write:notification", "read:organization",
    "write:organization", "read:package", "write:package", "read:repository", "write:repository", "read:user",
    "write:user", "repository-admin",
];

/// Azure DevOps PAT scopes (learn.microsoft.com, "Scopes"), and `edit-subscriptions`: not a scope but
/// the project permission service hook subscriptions need.
#[rustfmt::skip]
const AZURE_DEVOPS_SCOPES: &[&str] = &[
    "vso.code", "vso.code_write", "vso.code_manage", "vso.code_full", "vso.code_status", "vso.hooks",
    "vso.hooks_write", "vso.hooks_interact", "vso.build", "vso.build_execute", "vso.work", "vso.work_write",
    "vso.project", "vso.project_write", "vso.project_manage", "vso.profile", "vso.graph", "vso.identity",
    "vso.packaging", "vso.packaging_write", "vso.release", "vso.release_execute", "edit-subscriptions",
];

impl ScopeFamily {
    /// The names a requirement in this family may use (GitHub permissions: without their level).
    pub fn vocabulary(self) -> &'static [&'static str] {
        match self {
            ScopeFamily::GithubClassic => GITHUB_CLASSIC_SCOPES,
            ScopeFamily::GithubPermissions => GITHUB_PERMISSIONS,
            ScopeFamily::Gitlab => GITLAB_SCOPES,
            ScopeFamily::BitbucketCloud => BITBUCKET_CLOUD_SCOPES,
            ScopeFamily::BitbucketApiToken => BITBUCKET_API_SCOPES,
            ScopeFamily::BitbucketServer => BITBUCKET_SERVER_PERMISSIONS,
            ScopeFamily::Gitea => GITEA_SCOPES,
            ScopeFamily::AzureDevops => AZURE_DEVOPS_SCOPES,
        }
    }
}
