//! Which repositories each credential template serves, by Argo CD's rules: a repository URL uses the
//! `repository` Secret for the same URL when that Secret carries credentials of its own; otherwise the
//! `repo-creds` template whose URL is the longest prefix of it (both normalised as Argo CD's
//! `git.NormalizeGitURL` does: lower case, scp-like SSH as `ssh://`, no `.git` suffix, no `ssh://`).
//! Pushes (the source hydrator's) take `repository-write` Secrets and `repo-write-creds` templates by
//! the same rule. Each namespace that holds credential Secrets is one Argo CD instance: its
//! Applications use its credentials. Pure: the audit feeds it what it listed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::credential::SecretType;
use crate::engine::Access;

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
    // The source hydrator reads its dry source…
    if let Some(u) = hydrator_url(spec) {
        out.push(u.to_owned());
    }
}

/// …and pushes the hydrated manifests to the same repository (`syncSource` names only a branch and a
/// path in it; `hydrateTo` a branch).
fn hydrator_url(spec: &Value) -> Option<&str> {
    spec["sourceHydrator"]["drySource"]["repoURL"].as_str()
}

/// The repositories an Application syncs from.
pub fn application_urls(app: &Value) -> Vec<String> {
    let mut out = Vec::new();
    spec_urls(&app["spec"], &mut out);
    out.retain(|u| is_literal(u));
    out
}

/// The repositories an Application (or an ApplicationSet's template) pushes to: the source
/// hydrator's.
pub fn push_urls(obj: &Value) -> Vec<String> {
    [&obj["spec"], &obj["spec"]["template"]["spec"]]
        .into_iter()
        .filter_map(hydrator_url)
        .filter(|u| is_literal(u))
        .map(str::to_owned)
        .collect()
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
        // As Argo CD: the first template with the longest matching prefix.
        let mut best: Option<(usize, usize)> = None;
        for (i, t) in templates.iter().enumerate() {
            if !t.is_empty() && n.starts_with(t.as_str()) && best.is_none_or(|(_, len)| t.len() > len) {
                best = Some((i, t.len()));
            }
        }
        let best = best.map(|(i, _)| i);
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

/// A credential Secret, as coverage sees it.
#[derive(Debug, Clone)]
pub struct CredentialRef {
    pub namespace: String,
    pub secret_type: SecretType,
    pub url: String,
    /// For `repository` and `repository-write` Secrets: whether they carry credentials of their own.
    pub own_credentials: bool,
}

/// Something that needs a repository: where it is, the URL, whether it reads or pushes, and its name
/// (`Application argocd/app`).
#[derive(Debug, Clone)]
pub struct Use {
    pub namespace: String,
    pub url: String,
    pub access: Access,
    pub user: String,
}

/// One probe to make: credential `credential` (an index into the `CredentialRef`s) must reach `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub credential: usize,
    pub url: String,
    pub access: Access,
    pub used_by: Vec<String>,
}

/// Every probe coverage needs, and notes on uses that could not be placed.
///
/// A use belongs to the Argo CD instance of its own namespace (a namespace that holds credential
/// Secrets); a use elsewhere (Applications in any namespace) to the only instance when there is one,
/// and otherwise to none: that is said in a note rather than guessed.
pub fn plan_all(creds: &[CredentialRef], uses: &[Use]) -> (Vec<Probe>, Vec<String>) {
    let instances: BTreeSet<&str> = creds.iter().map(|c| c.namespace.as_str()).collect();
    let mut grouped: BTreeMap<(&str, Access), Vec<(String, String)>> = BTreeMap::new();
    let mut unplaced: BTreeSet<&str> = BTreeSet::new();
    for u in uses {
        let ns = if instances.contains(u.namespace.as_str()) {
            u.namespace.as_str()
        } else if instances.len() == 1 {
            instances.iter().next().copied().unwrap_or_default()
        } else {
            unplaced.insert(u.user.as_str());
            continue;
        };
        grouped
            .entry((ns, u.access))
            .or_default()
            .push((u.url.clone(), u.user.clone()));
    }
    let mut probes = Vec::new();
    for ((ns, access), uses) in grouped {
        let (template_type, own_type) = match access {
            Access::Read => (SecretType::RepoCreds, SecretType::Repository),
            Access::Write => (SecretType::RepoWriteCreds, SecretType::RepositoryWrite),
        };
        let in_ns = |t: SecretType| {
            creds
                .iter()
                .enumerate()
                .filter(move |(_, c)| c.namespace == ns && c.secret_type == t)
        };
        let templates: Vec<usize> = in_ns(template_type).map(|(i, _)| i).collect();
        if templates.is_empty() {
            continue;
        }
        let template_urls: Vec<String> = templates.iter().map(|&i| creds[i].url.clone()).collect();
        let own: Vec<String> = in_ns(own_type)
            .filter(|(_, c)| c.own_credentials)
            .map(|(_, c)| c.url.clone())
            .collect();
        for (t, needs) in plan(&template_urls, &own, &uses) {
            for need in needs {
                probes.push(Probe {
                    credential: templates[t],
                    url: need.url,
                    access,
                    used_by: need.used_by,
                });
            }
        }
    }
    let mut notes = Vec::new();
    if !unplaced.is_empty() {
        let names: Vec<&str> = unplaced.into_iter().collect();
        notes.push(format!(
            "coverage left out {} ({}): they are in namespaces without credential Secrets, and {} namespaces hold some, so which Argo CD instance syncs them is not known",
            names.len(),
            names.join(", "),
            instances.len()
        ));
    }
    (probes, notes)
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

    fn cred(ns: &str, t: SecretType, url: &str, own: bool) -> CredentialRef {
        CredentialRef {
            namespace: ns.into(),
            secret_type: t,
            url: url.into(),
            own_credentials: own,
        }
    }

    fn used(ns: &str, url: &str, access: Access, user: &str) -> Use {
        Use {
            namespace: ns.into(),
            url: url.into(),
            access,
            user: user.into(),
        }
    }

    #[test]
    fn each_namespace_is_an_instance_and_pushes_take_write_templates() {
        let creds = vec![
            cred("argocd", SecretType::RepoCreds, "https://github.com/acme", false),
            cred("runtime", SecretType::RepoCreds, "https://github.com/acme", false),
            cred("argocd", SecretType::RepoWriteCreds, "https://github.com/acme", false),
            cred(
                "argocd",
                SecretType::RepositoryWrite,
                "https://github.com/acme/pinned",
                true,
            ),
        ];
        let uses = vec![
            used(
                "argocd",
                "https://github.com/acme/a",
                Access::Read,
                "Application argocd/a",
            ),
            used(
                "runtime",
                "https://github.com/acme/b",
                Access::Read,
                "Application runtime/b",
            ),
            used(
                "argocd",
                "https://github.com/acme/a",
                Access::Write,
                "Application argocd/a",
            ),
            used(
                "argocd",
                "https://github.com/acme/pinned",
                Access::Write,
                "Application argocd/p",
            ),
            // Apps in any namespace: two instances, so this one is not guessed.
            used(
                "team-x",
                "https://github.com/acme/c",
                Access::Read,
                "Application team-x/c",
            ),
        ];
        let (probes, notes) = plan_all(&creds, &uses);
        let got: Vec<(usize, &str, Access)> = probes
            .iter()
            .map(|p| (p.credential, p.url.as_str(), p.access))
            .collect();
        assert_eq!(
            got,
            [
                (0, "https://github.com/acme/a", Access::Read),
                (2, "https://github.com/acme/a", Access::Write),
                (1, "https://github.com/acme/b", Access::Read),
            ]
        );
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("Application team-x/c"), "{notes:?}");
    }

    #[test]
    fn with_one_instance_applications_elsewhere_use_it() {
        let creds = vec![cred("argocd", SecretType::RepoCreds, "https://gitlab.com/acme/", false)];
        let uses = vec![used(
            "team-x",
            "https://gitlab.com/acme/c.git",
            Access::Read,
            "Application team-x/c",
        )];
        let (probes, notes) = plan_all(&creds, &uses);
        assert_eq!(
            probes,
            [Probe {
                credential: 0,
                url: "https://gitlab.com/acme/c.git".into(),
                access: Access::Read,
                used_by: vec!["Application team-x/c".into()],
            }]
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn the_source_hydrator_reads_and_pushes_its_dry_source() {
        let app = json!({"spec": {"sourceHydrator": {
            "drySource": {"repoURL": "https://github.com/acme/dry", "targetRevision": "HEAD", "path": "apps"},
            "syncSource": {"targetBranch": "env/prod", "path": "apps"}
        }}});
        assert_eq!(application_urls(&app), ["https://github.com/acme/dry"]);
        assert_eq!(push_urls(&app), ["https://github.com/acme/dry"]);
        let set = json!({"spec": {"template": {"spec": {"sourceHydrator": {"drySource": {"repoURL": "{{repo}}"}}}}}});
        assert!(push_urls(&set).is_empty());
    }
}
