//! Which repositories each credential template serves, by Argo CD's rules: a repository URL uses the
//! `repository` Secret for the same URL when that Secret carries credentials of its own; otherwise the
//! `repo-creds` template whose URL is the longest prefix of it (both normalised as Argo CD's
//! `git.NormalizeGitURL` does: lower case, scp-like SSH as `ssh://`, no `.git` suffix, no `ssh://`).
//! Pure: the audit feeds it the Secrets, Applications and ApplicationSets it listed.

use std::collections::BTreeMap;

use serde_json::Value;

/// Argo CD's normal form of a repository URL, for prefix matching.
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

/// `user@host:path` without a scheme.
fn is_scp_like(u: &str) -> bool {
    !u.contains("://")
        && u.split_once('@')
            .is_some_and(|(user, rest)| !user.contains('/') && !user.contains(':') && rest.contains(':'))
}

/// Whether a URL is written out, rather than a template (`{{ .url }}`, `{{url}}`) an ApplicationSet fills.
fn is_literal(url: &str) -> bool {
    !url.is_empty() && !url.contains("{{") && !url.contains("}}")
}

/// The Git repository URLs of an Argo CD source (`spec.source`, an item of `spec.sources`); a Helm
/// chart source (`chart`) is not Git.
fn source_urls(source: &Value, out: &mut Vec<String>) {
    if source.get("chart").is_some_and(|c| !c.is_null()) {
        return;
    }
    if let Some(u) = source.get("repoURL").and_then(Value::as_str) {
        out.push(u.to_owned());
    }
}

fn spec_urls(spec: &Value, out: &mut Vec<String>) {
    if let Some(s) = spec.get("source") {
        source_urls(s, out);
    }
    if let Some(sources) = spec.get("sources").and_then(Value::as_array) {
        for s in sources {
            source_urls(s, out);
        }
    }
}

/// The repositories an Application syncs from.
pub fn application_urls(app: &Value) -> Vec<String> {
    let mut out = Vec::new();
    spec_urls(&app["spec"], &mut out);
    out.retain(|u| is_literal(u));
    out
}

/// The repositories an ApplicationSet reads: its template's literal sources, and the repositories its
/// Git generators read (at any depth of matrix and merge generators).
pub fn applicationset_urls(set: &Value) -> Vec<String> {
    let mut out = Vec::new();
    spec_urls(&set["spec"]["template"]["spec"], &mut out);
    fn generators(gens: &Value, out: &mut Vec<String>) {
        for g in gens.as_array().into_iter().flatten() {
            if let Some(u) = g["git"]["repoURL"].as_str() {
                out.push(u.to_owned());
            }
            for nested in ["matrix", "merge"] {
                generators(&g[nested]["generators"], out);
            }
        }
    }
    generators(&set["spec"]["generators"], &mut out);
    out.retain(|u| is_literal(u));
    out
}

/// A repository a credential must reach, and what needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The URL as first written by what needs it.
    pub url: String,
    pub used_by: Vec<String>,
}

/// For each template (by index into `templates`), the repositories it serves.
///
/// `templates`: the `repo-creds` URLs. `own`: the URLs of `repository` Secrets with credentials of their
/// own (those repositories never use a template). `uses`: every repository URL in use, with what uses it.
pub fn plan(templates: &[String], own: &[String], uses: &[(String, String)]) -> BTreeMap<usize, Vec<Need>> {
    let templates: Vec<String> = templates.iter().map(|t| normalize(t)).collect();
    let own: std::collections::BTreeSet<String> = own.iter().map(|u| normalize(u)).collect();
    let mut by_template: BTreeMap<usize, BTreeMap<String, Need>> = BTreeMap::new();
    for (url, user) in uses {
        let n = normalize(url);
        if n.is_empty() || own.contains(&n) {
            continue;
        }
        let best = templates
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.is_empty() && n.starts_with(t.as_str()))
            .max_by_key(|(_, t)| t.len())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let need = by_template.entry(i).or_default().entry(n).or_insert_with(|| Need {
                url: url.clone(),
                used_by: Vec::new(),
            });
            if !need.used_by.contains(user) {
                need.used_by.push(user.clone());
            }
        }
    }
    by_template
        .into_iter()
        .map(|(i, needs)| (i, needs.into_values().collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn the_longest_prefix_wins_and_repositories_with_their_own_credentials_use_them() {
        let templates = vec![
            "https://github.com/acme".to_owned(),
            "https://github.com/acme/platform-".to_owned(),
            "https://gitlab.com/acme".to_owned(),
        ];
        let own = vec!["https://github.com/acme/private.git".to_owned()];
        let uses = vec![
            (
                "https://github.com/acme/app.git".to_owned(),
                "Application argocd/app".to_owned(),
            ),
            (
                "https://github.com/acme/app".to_owned(),
                "Application argocd/app-2".to_owned(),
            ),
            (
                "https://github.com/acme/platform-base".to_owned(),
                "Application argocd/base".to_owned(),
            ),
            (
                "https://github.com/acme/private".to_owned(),
                "Application argocd/p".to_owned(),
            ),
            (
                "https://bitbucket.org/other/x".to_owned(),
                "Application argocd/x".to_owned(),
            ),
            // Argo CD matches on the string: acme is a prefix of acme-labs.
            (
                "https://github.com/acme-labs/tool".to_owned(),
                "Application argocd/tool".to_owned(),
            ),
        ];
        let p = plan(&templates, &own, &uses);
        assert_eq!(
            p[&0],
            vec![
                Need {
                    url: "https://github.com/acme-labs/tool".into(),
                    used_by: vec!["Application argocd/tool".into()]
                },
                Need {
                    url: "https://github.com/acme/app.git".into(),
                    used_by: vec!["Application argocd/app".into(), "Application argocd/app-2".into()]
                },
            ]
        );
        assert_eq!(p[&1].len(), 1);
        assert_eq!(p[&1][0].url, "https://github.com/acme/platform-base");
        assert!(!p.contains_key(&2));
    }

    #[test]
    fn applications_and_applicationsets_name_their_literal_git_sources() {
        let app = json!({"spec": {
            "source": {"repoURL": "https://github.com/acme/app", "path": "k8s"},
            "sources": [
                {"repoURL": "https://charts.example.com", "chart": "nginx"},
                {"repoURL": "https://github.com/acme/values", "ref": "values"}
            ]
        }});
        assert_eq!(
            application_urls(&app),
            ["https://github.com/acme/app", "https://github.com/acme/values"]
        );
        let set = json!({"spec": {
            "generators": [
                {"git": {"repoURL": "https://github.com/acme/clusters", "revision": "HEAD"}},
                {"matrix": {"generators": [
                    {"git": {"repoURL": "https://github.com/acme/envs"}},
                    {"list": {"elements": []}}
                ]}}
            ],
            "template": {"spec": {"source": {"repoURL": "{{url}}"}, "sources": [
                {"repoURL": "https://github.com/acme/shared"}
            ]}}
        }});
        assert_eq!(
            applicationset_urls(&set),
            [
                "https://github.com/acme/shared",
                "https://github.com/acme/clusters",
                "https://github.com/acme/envs"
            ]
        );
    }
}
