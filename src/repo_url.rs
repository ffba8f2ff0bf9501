//! Repository URLs in every form Argo CD accepts: `https://host/path`, `ssh://…`, `git@host:path`, or a
//! bare `host/path` (OCI). Pure.

/// A repository URL (or a credential template's URL prefix), reduced to what scopegate compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    /// `https`, `http`, `ssh`, `oci`, … (`ssh` for the scp-like form, empty for a bare `host/path`).
    pub scheme: String,
    /// Lower-case host, with `:port` when the URL names a non-default port.
    pub host: String,
    /// Path segments, without empty ones.
    pub path: Vec<String>,
}

impl RepoUrl {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        if raw.contains("://") {
            let url = url::Url::parse(raw).ok()?;
            let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
            let host = match (url.scheme(), url.port()) {
                ("https" | "http", Some(p)) => format!("{host}:{p}"),
                _ => host,
            };
            let path = url
                .path_segments()
                .map(|s| s.filter(|p| !p.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default();
            return Some(Self {
                scheme: url.scheme().to_owned(),
                host,
                path,
            });
        }
        // scp-like: [user@]host:path
        if let Some((before, after)) = raw.split_once(':')
            && !before.contains('/')
        {
            let host = before.rsplit('@').next()?.to_ascii_lowercase();
            if host.is_empty() {
                return None;
            }
            return Some(Self {
                scheme: "ssh".into(),
                host,
                path: after.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
            });
        }
        let (host, rest) = raw.split_once('/').unwrap_or((raw, ""));
        if host.is_empty() || host.contains('@') {
            return None;
        }
        Some(Self {
            scheme: String::new(),
            host: host.to_ascii_lowercase(),
            path: rest.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        })
    }

    /// `owner/repo` (or `group/sub/project`), without a trailing `.git`.
    pub fn repo_path(&self) -> String {
        let mut segs: Vec<&str> = self.path.iter().map(String::as_str).collect();
        if let Some(last) = segs.last_mut() {
            *last = last.strip_suffix(".git").unwrap_or(last);
        }
        segs.join("/")
    }

    /// The organisation or user the URL points into (its first path segment).
    pub fn owner(&self) -> Option<&str> {
        self.path.first().map(String::as_str)
    }

    /// Whether scopegate can ask about it over Git's smart HTTP.
    pub fn is_http(&self) -> bool {
        self.scheme == "https" || self.scheme == "http"
    }

    /// A printable form, never with credentials, query or fragment.
    pub fn display(&self) -> String {
        let scheme = if self.scheme.is_empty() {
            String::new()
        } else {
            format!("{}://", self.scheme)
        };
        format!("{scheme}{}/{}", self.host, self.path.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_urls_in_every_form_argo_cd_accepts() {
        let u = RepoUrl::parse("https://GitHub.com/argoproj/argo-cd.git").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.repo_path().as_str()),
            ("https", "github.com", "argoproj/argo-cd")
        );
        let u = RepoUrl::parse("https://user:secret@ghe.corp:8443/org/repo?x=1#y").unwrap();
        assert_eq!(u.host, "ghe.corp:8443");
        assert_eq!(u.display(), "https://ghe.corp:8443/org/repo");
        let u = RepoUrl::parse("git@github.com:argoproj-labs").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.repo_path().as_str()),
            ("ssh", "github.com", "argoproj-labs")
        );
        let u = RepoUrl::parse("ssh://git@github.com/argoproj/argocd-example-apps").unwrap();
        assert_eq!(u.host, "github.com");
        let u = RepoUrl::parse("contoso.azurecr.io/charts").unwrap();
        assert_eq!(
            (u.host.as_str(), u.repo_path().as_str()),
            ("contoso.azurecr.io", "charts")
        );
        let u = RepoUrl::parse("https://gitlab.com/group/sub/project.git").unwrap();
        assert_eq!(u.repo_path(), "group/sub/project");
        assert_eq!(u.owner(), Some("group"));
        assert!(RepoUrl::parse("").is_none());
        assert!(RepoUrl::parse("https://").is_none());
    }
}
