//! Which repositories a credential's permissions are probed on, for the kinds whose permissions no API
//! lists (GitHub fine-grained tokens and Apps, GitLab bots' roles, Bitbucket Data Center). Pure.

use crate::credential::{PROBE_ANNOTATION, SecretObject, SecretType};
use crate::repo_url::RepoUrl;

/// The repositories (paths on the credential's host) to probe: those named in
/// `scopegate.dev/probe-repositories`; else a repository Secret's own repository; else, for a
/// credential template, the Shared Configuration Repository when the template's prefix covers it.
pub(crate) fn probe_targets(secret: &SecretObject, url: &RepoUrl, shared_repo: Option<&str>) -> Vec<String> {
    if let Some(list) = secret.annotations.get(PROBE_ANNOTATION) {
        return list
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|item| {
                if item.contains("://") || item.contains('@') {
                    RepoUrl::parse(item)
                        .filter(|u| u.host == url.host)
                        .map(|u| u.repo_path())
                } else {
                    Some(item.trim_matches('/').trim_end_matches(".git").to_owned())
                }
            })
            .filter(|p| !p.is_empty())
            .collect();
    }
    let template = secret.secret_type().is_some_and(SecretType::is_template);
    if !template {
        let own = url.repo_path();
        return if own.is_empty() { Vec::new() } else { vec![own] };
    }
    shared_repo
        .and_then(RepoUrl::parse)
        .filter(|shared| shared.host == url.host && shared.path.len() > url.path.len())
        .filter(|shared| {
            let prefix = url.repo_path();
            let shared_path = shared.repo_path();
            prefix.is_empty() || shared_path.starts_with(&format!("{prefix}/"))
        })
        .map(|shared| vec![shared.repo_path()])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::DynamicObject;
    use serde_json::json;

    fn secret(name: &str, kind: &str) -> SecretObject {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "argocd", "labels": {crate::credential::SECRET_TYPE_LABEL: kind}},
        }))
        .unwrap();
        SecretObject::from_dynamic(&obj)
    }

    #[test]
    fn probe_targets_follow_the_secret() {
        let url = RepoUrl::parse("https://github.com/acme/app.git").unwrap();
        let repo = secret("r", "repository");
        assert_eq!(probe_targets(&repo, &url, None), ["acme/app"]);
        let prefix = RepoUrl::parse("https://github.com/acme").unwrap();
        let creds = secret("c", "repo-creds");
        assert!(probe_targets(&creds, &prefix, None).is_empty());
        assert_eq!(
            probe_targets(&creds, &prefix, Some("https://github.com/acme/isc.git")),
            ["acme/isc"]
        );
        assert!(probe_targets(&creds, &prefix, Some("https://github.com/other/isc")).is_empty());
        assert!(probe_targets(&creds, &prefix, Some("https://gitlab.com/acme/isc")).is_empty());
        let mut annotated = creds.clone();
        annotated.annotations.insert(
            PROBE_ANNOTATION.into(),
            "https://github.com/acme/one.git, acme/two\nhttps://gitlab.com/x/y".into(),
        );
        assert_eq!(
            probe_targets(&annotated, &prefix, Some("https://github.com/acme/isc")),
            ["acme/one", "acme/two"]
        );
    }
}
