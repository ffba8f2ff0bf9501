//! The only requests scopegate ever sends that are not `GET`: requests built to be refused.
//!
//! No `GET` needs a fine-grained token's (or a GitHub App's) Webhooks, Commit statuses or Pull
//! requests **write** permission, so GitHub can only tell whether a token holds it by how it refuses
//! a request that needs it: a token without the permission gets 403 "Resource not accessible by
//! personal access token" (or "… by integration"), one with it gets past the permission check and
//! is refused for what the request names or carries — a hook that does not exist (404), a body
//! without the fields the call requires (422). TruffleHog's GitHub analyzer established these
//! (`pkg/analyzer/analyzers/github/finegrained/finegrained.go`); the reference (§1.8) has the detail.
//!
//! Each request here targets what cannot exist and carries a body that would change nothing even if
//! it did: an empty JSON object. The list is closed — a [`RefusalProbe`] has no other method, path or
//! body — and the provider client has no other way to send anything but a `GET`. Whether a
//! provider may receive them at all is its `writeProbes` setting.

use http::Method;

/// The hook id of the Webhooks request: GitHub's hook ids are far below it, and an empty patch
/// would change no hook anyway.
pub const NO_SUCH_HOOK: &str = "4294967289";

/// The commit of the Commit statuses request: not hexadecimal, so no commit's SHA; and a status
/// without a `state` is refused whatever the commit.
pub const NO_SUCH_COMMIT: &str = "scopegate-refusal-probe-no-such-commit";

/// The body every refusal probe carries.
pub const BODY: &str = "{}";

/// One request built to be refused, on one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::EnumIter)]
pub enum RefusalProbe {
    /// `PATCH /repos/{owner}/{repo}/hooks/4294967289` `{}`.
    Webhooks,
    /// `POST /repos/{owner}/{repo}/statuses/{no such commit}` `{}`.
    Statuses,
    /// `POST /repos/{owner}/{repo}/pulls` `{}`.
    PullRequests,
}

impl RefusalProbe {
    /// Every refusal probe.
    pub fn all() -> impl Iterator<Item = RefusalProbe> {
        <Self as strum::IntoEnumIterator>::iter()
    }

    /// The one for a permission of the `github-fine-grained` vocabulary, if its write level has one.
    pub fn for_permission(permission: &str) -> Option<RefusalProbe> {
        Self::all().find(|p| p.permission() == permission)
    }

    /// The permission (in the requirement table's vocabulary) whose write level the probe establishes.
    pub fn permission(self) -> &'static str {
        match self {
            RefusalProbe::Webhooks => "webhooks",
            RefusalProbe::Statuses => "statuses",
            RefusalProbe::PullRequests => "pull_requests",
        }
    }

    pub fn method(self) -> Method {
        match self {
            RefusalProbe::Webhooks => Method::PATCH,
            RefusalProbe::Statuses | RefusalProbe::PullRequests => Method::POST,
        }
    }

    /// The path under the API URL, as segments.
    pub fn segments<'a>(self, owner: &'a str, repo: &'a str) -> Vec<&'a str> {
        match self {
            RefusalProbe::Webhooks => vec!["repos", owner, repo, "hooks", NO_SUCH_HOOK],
            RefusalProbe::Statuses => vec!["repos", owner, repo, "statuses", NO_SUCH_COMMIT],
            RefusalProbe::PullRequests => vec!["repos", owner, repo, "pulls"],
        }
    }

    /// The path as the documentation writes it.
    pub fn path_template(self) -> String {
        format!("/{}", self.segments("{owner}", "{repo}").join("/"))
    }

    /// The status that means the permission check passed: the token has the write level.
    pub fn write_status(self) -> u16 {
        match self {
            RefusalProbe::Webhooks => 404,
            RefusalProbe::Statuses | RefusalProbe::PullRequests => 422,
        }
    }

    /// Why it cannot change anything (the documentation's words).
    pub fn harmless_because(self) -> &'static str {
        match self {
            RefusalProbe::Webhooks => {
                "the hook id does not exist (GitHub answers 404 past the permission check), and an empty patch would change no hook"
            }
            RefusalProbe::Statuses => {
                "the commit cannot exist (not a SHA), and a status without a state is refused with 422 whatever the commit"
            }
            RefusalProbe::PullRequests => "a pull request without head and base is refused with 422; nothing is opened",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_closed_and_each_request_is_what_the_documentation_says() {
        let listed: Vec<(Method, String, u16)> = RefusalProbe::all()
            .map(|p| (p.method(), p.path_template(), p.write_status()))
            .collect();
        assert_eq!(
            listed,
            [
                (Method::PATCH, "/repos/{owner}/{repo}/hooks/4294967289".to_owned(), 404),
                (
                    Method::POST,
                    "/repos/{owner}/{repo}/statuses/scopegate-refusal-probe-no-such-commit".to_owned(),
                    422
                ),
                (Method::POST, "/repos/{owner}/{repo}/pulls".to_owned(), 422),
            ]
        );
        assert_eq!(BODY, "{}");
        assert!(!NO_SUCH_COMMIT.chars().all(|c| c.is_ascii_hexdigit()), "never a SHA");
        assert_eq!(RefusalProbe::for_permission("webhooks"), Some(RefusalProbe::Webhooks));
        assert_eq!(RefusalProbe::for_permission("contents"), None);
    }
}
