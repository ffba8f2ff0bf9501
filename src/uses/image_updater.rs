//! Argo CD Image Updater's write-back: where it commits new image versions, and with which
//! credential (argocd-image-updater `pkg/argocd`: `newWBCFromSettings`, `getGitCredsSource`,
//! `mergeWBCSettings`, `FilterApplicationsForUpdate`).
//!
//! - v1.x: `ImageUpdater` resources (`argocd-image-updater.argoproj.io/v1alpha1`) select the
//!   Applications of their own namespace by `applicationRefs[].namePattern` (a glob) and
//!   `labelSelectors`, the most specific reference first; each reference's `writeBackConfig` is laid
//!   over the resource's. With `useAnnotations: true` the Application's annotations decide instead.
//! - 0.x: the Application's `argocd-image-updater.argoproj.io/write-back-method` annotation, on
//!   Applications with an `image-list` annotation.
//!
//! Methods: `argocd` (the default: the Application itself is changed, no Git) or `git`, with
//! credentials `repocreds` (the default: the credential Argo CD uses for the repository — a
//! `repository` or `repo-creds` Secret, not a write one — which must therefore push) or
//! `secret:[<namespace>/]<name>` (a Secret in the Application's namespace with `username` and
//! `password`, or GitHub App fields). `gitConfig.pullRequest` (v1.2+) opens pull requests instead of
//! pushing to the branch. The repository is `gitConfig.repository` (annotation `git-repository`) when
//! set, else the Application's source. Pure.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Application, ObjectKey, string_map};

pub const IMAGE_LIST_ANNOTATION: &str = "argocd-image-updater.argoproj.io/image-list";
pub const WRITE_BACK_METHOD_ANNOTATION: &str = "argocd-image-updater.argoproj.io/write-back-method";
pub const GIT_REPOSITORY_ANNOTATION: &str = "argocd-image-updater.argoproj.io/git-repository";

/// At most this many `applicationRefs` of one ImageUpdater are looked at.
pub const MAX_REFS: usize = 64;

/// Where the Git credentials come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GitCreds {
    /// `repocreds`: the credential Argo CD uses for the repository.
    RepoCreds,
    /// `secret:[<namespace>/]<name>`.
    Secret { namespace: Option<String>, name: String },
}

/// A write-back method, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WriteBackMethod {
    /// `argocd`: no Git.
    Argocd,
    Git(GitCreds),
    /// A method Image Updater refuses (it skips the Application): what it said.
    Invalid(String),
}

impl WriteBackMethod {
    /// Image Updater's reading of a method (`newWBCFromSettings`, `getGitCredsSource`).
    pub fn parse(method: Option<&str>) -> Self {
        let Some(method) = method.map(str::trim).filter(|m| !m.is_empty() && *m != "argocd") else {
            return WriteBackMethod::Argocd;
        };
        let (kind, creds) = match method.find(':') {
            Some(i) if i > 0 => (&method[..i], &method[i + 1..]),
            _ => (method, "repocreds"),
        };
        if kind != "git" {
            return WriteBackMethod::Invalid(format!("invalid update mechanism: {method}"));
        }
        if creds == "repocreds" {
            return WriteBackMethod::Git(GitCreds::RepoCreds);
        }
        let Some(secret) = creds.strip_prefix("secret:") else {
            return WriteBackMethod::Invalid(format!(
                "unexpected credentials format: expected 'repocreds', 'secret:<secret>' or 'secret:<namespace>/<secret>' but got '{creds}'"
            ));
        };
        match secret.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => WriteBackMethod::Git(GitCreds::Secret {
                namespace: Some(ns.to_owned()),
                name: name.to_owned(),
            }),
            None if !secret.is_empty() => WriteBackMethod::Git(GitCreds::Secret {
                namespace: None,
                name: secret.to_owned(),
            }),
            _ => WriteBackMethod::Invalid(format!(
                "wrong writeBackConfig.method format specified git:secret: '{secret}'"
            )),
        }
    }
}

/// A `writeBackConfig` as written (or the annotations' equivalent): every field optional, so that a
/// reference's settings can be laid over the resource's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct WriteBackSettings {
    pub method: Option<String>,
    /// `gitConfig.repository`.
    pub repository: Option<String>,
    /// `gitConfig.pullRequest` is set (with a provider).
    pub pull_request: Option<bool>,
}

impl WriteBackSettings {
    fn from_value(v: &Value) -> Option<Self> {
        if !v.is_object() {
            return None;
        }
        let git = &v["gitConfig"];
        Some(Self {
            method: v["method"].as_str().map(str::to_owned),
            repository: git["repository"]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            pull_request: git.get("pullRequest").filter(|p| p.is_object()).map(|_| true),
        })
    }

    /// `over` laid over `self` (`mergeWBCSettings`: a field the reference sets wins).
    fn merged(&self, over: Option<&WriteBackSettings>) -> WriteBackSettings {
        let Some(o) = over else { return self.clone() };
        WriteBackSettings {
            method: o.method.clone().or_else(|| self.method.clone()),
            repository: o.repository.clone().or_else(|| self.repository.clone()),
            pull_request: o.pull_request.or(self.pull_request),
        }
    }
}

/// Image Updater's write-back annotations of an Application, when it has any.
pub(super) fn from_annotations(annotations: &Value) -> Option<WriteBackSettings> {
    let get = |k: &str| {
        annotations
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let s = WriteBackSettings {
        method: get(WRITE_BACK_METHOD_ANNOTATION),
        repository: get(GIT_REPOSITORY_ANNOTATION),
        pull_request: None,
    };
    (s.method.is_some() || s.repository.is_some()).then_some(s)
}

/// A Kubernetes label selector (`matchLabels`, `matchExpressions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    /// (key, operator, values).
    pub match_expressions: Vec<(String, String, Vec<String>)>,
}

impl LabelSelector {
    fn from_value(v: &Value) -> Option<Self> {
        if !v.is_object() {
            return None;
        }
        let match_expressions = v["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["key"].as_str().unwrap_or_default().to_owned(),
                    e["operator"].as_str().unwrap_or_default().to_owned(),
                    e["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect(),
                )
            })
            .collect();
        Some(Self {
            match_labels: string_map(&v["matchLabels"]),
            match_expressions,
        })
    }

    /// Whether `labels` match, as `metav1.LabelSelectorAsSelector` reads the selector; an operator it
    /// does not know matches nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|(k, op, values)| match op.as_str() {
                "In" => labels.get(k).is_some_and(|v| values.contains(v)),
                "NotIn" => labels.get(k).is_none_or(|v| !values.contains(v)),
                "Exists" => labels.contains_key(k),
                "DoesNotExist" => !labels.contains_key(k),
                _ => false,
            })
    }
}

/// One `applicationRefs` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRef {
    pub name_pattern: String,
    pub selector: Option<LabelSelector>,
    pub use_annotations: bool,
    pub write_back: Option<WriteBackSettings>,
}

impl AppRef {
    /// Image Updater's `calculateSpecificity`: an exact name first, then more literal characters, then
    /// a label selector with more terms.
    fn specificity(&self) -> usize {
        let p = &self.name_pattern;
        let mut score = 0;
        if !p.contains(['*', '?', '[', ']']) {
            score += 1_000_000;
        }
        let mut literals = 0;
        let mut in_set = false;
        for c in p.chars() {
            match c {
                '[' if !in_set => in_set = true,
                ']' if in_set => in_set = false,
                '*' | '?' if !in_set => {}
                _ if !in_set => literals += 1,
                _ => {}
            }
        }
        score += literals;
        if let Some(s) = &self.selector {
            score += 10_000 + 100 * (s.match_labels.len() + s.match_expressions.len());
        }
        score
    }

    fn selects(&self, app: &Application) -> bool {
        glob_match(&self.name_pattern, &app.name) == Some(true)
            && self.selector.as_ref().is_none_or(|s| s.matches(&app.labels))
    }
}

/// An `ImageUpdater` resource, reduced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUpdater {
    pub namespace: String,
    pub name: String,
    /// `spec.writeBackConfig`.
    pub default: WriteBackSettings,
    /// Most specific first.
    pub refs: Vec<AppRef>,
    /// A name pattern Go's `filepath.Match` refuses: Image Updater then updates nothing of this
    /// resource.
    pub invalid_pattern: Option<String>,
}

impl ImageUpdater {
    pub fn from_value(obj: &Value) -> Option<Self> {
        let meta = &obj["metadata"];
        let name = meta["name"].as_str()?.to_owned();
        let namespace = meta["namespace"].as_str().unwrap_or_default().to_owned();
        let spec = &obj["spec"];
        let mut refs: Vec<AppRef> = spec["applicationRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MAX_REFS)
            .map(|r| AppRef {
                name_pattern: r["namePattern"].as_str().unwrap_or_default().to_owned(),
                selector: LabelSelector::from_value(&r["labelSelectors"]),
                use_annotations: r["useAnnotations"].as_bool().unwrap_or(false),
                write_back: WriteBackSettings::from_value(&r["writeBackConfig"]),
            })
            .collect();
        let invalid_pattern = refs
            .iter()
            .find(|r| glob_match(&r.name_pattern, "validation").is_none())
            .map(|r| r.name_pattern.clone());
        // Stable: equal scores keep their order.
        refs.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        Some(Self {
            namespace,
            name,
            default: WriteBackSettings::from_value(&spec["writeBackConfig"]).unwrap_or_default(),
            refs,
            invalid_pattern,
        })
    }

    pub fn key(&self) -> ObjectKey {
        (self.namespace.clone(), self.name.clone())
    }

    /// The write-back settings this resource gives `app`, when it selects it.
    pub fn settings_for(&self, app: &Application) -> Option<WriteBackSettings> {
        if app.namespace != self.namespace || self.invalid_pattern.is_some() {
            return None;
        }
        let r = self.refs.iter().find(|r| r.selects(app))?;
        Some(if r.use_annotations {
            app.annotations.clone().unwrap_or_default()
        } else {
            self.default.merged(r.write_back.as_ref())
        })
    }
}

/// Image Updater's write-back of one Application through Git: the repository, where the
/// credential comes from, and whether it opens pull requests; or what makes Image Updater skip it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WriteBack {
    Git {
        repository: String,
        creds: GitCreds,
        pull_request: bool,
        /// Which ImageUpdater decided it (`None`: the 0.x annotations).
        by: Option<ObjectKey>,
    },
    /// Image Updater refuses the configuration: it will not write back at all.
    Refused { reason: String, by: Option<ObjectKey> },
}

/// How Image Updater writes back for `app`: the first ImageUpdater (of its namespace) that selects
/// it decides; without one, the 0.x annotations on an Application with an `image-list`. `None`: not
/// through Git (method `argocd`, or nothing selects it).
pub fn write_back(app: &Application, updaters: &[&ImageUpdater]) -> Option<WriteBack> {
    let (settings, by) = match updaters
        .iter()
        .find_map(|u| u.settings_for(app).map(|s| (s, Some(u.key()))))
    {
        Some(found) => found,
        None if app.image_list => (app.annotations.clone()?, None),
        None => return None,
    };
    match WriteBackMethod::parse(settings.method.as_deref()) {
        WriteBackMethod::Argocd => None,
        WriteBackMethod::Invalid(reason) => Some(WriteBack::Refused { reason, by }),
        WriteBackMethod::Git(creds) => {
            let Some(repository) = settings.repository.or_else(|| app.write_back_source.clone()) else {
                return Some(WriteBack::Refused {
                    reason: format!("application source is not defined for {}/{}", app.namespace, app.name),
                    by,
                });
            };
            if let GitCreds::Secret {
                namespace: Some(ns), ..
            } = &creds
                && *ns != app.namespace
            {
                return Some(WriteBack::Refused {
                    reason: format!("secret namespace '{ns}' differs from app namespace '{}'", app.namespace),
                    by,
                });
            }
            Some(WriteBack::Git {
                repository,
                creds,
                pull_request: settings.pull_request.unwrap_or(false),
                by,
            })
        }
    }
}

/// One element of a glob.
#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Star,
    Any,
    Lit(char),
    Class { negated: bool, ranges: Vec<(char, char)> },
}

impl Tok {
    fn matches(&self, c: char) -> bool {
        match self {
            Tok::Star => true,
            Tok::Any => c != '/',
            Tok::Lit(l) => *l == c,
            Tok::Class { negated, ranges } => {
                c != '/' && ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
            }
        }
    }
}

/// A glob's elements, or `None` when Go's `filepath.Match` would call it malformed.
fn tokens(pattern: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    let escaped = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, c: char| -> Option<char> {
        if c == '\\' { chars.next() } else { Some(c) }
    };
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::Any),
            '\\' => out.push(Tok::Lit(chars.next()?)),
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    let c = chars.next()?;
                    if c == ']' && !ranges.is_empty() {
                        break;
                    }
                    let lo = escaped(&mut chars, c)?;
                    let hi = if chars.peek() == Some(&'-') {
                        chars.next();
                        let h = chars.next()?;
                        if h == ']' {
                            return None;
                        }
                        escaped(&mut chars, h)?
                    } else {
                        lo
                    };
                    if hi < lo {
                        return None;
                    }
                    ranges.push((lo, hi));
                }
                out.push(Tok::Class { negated, ranges });
            }
            c => out.push(Tok::Lit(c)),
        }
    }
    Some(out)
}

/// Go's `filepath.Match` on a name: `*`, `?`, `[…]` classes (`^` negates, ranges), `\` escapes.
/// `None` for a malformed pattern. Linear in the name for each star, whatever the pattern.
pub fn glob_match(pattern: &str, name: &str) -> Option<bool> {
    let toks = tokens(pattern)?;
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // The last star seen, and where in the name its match ends so far.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                star = Some((p, n));
                p += 1;
            }
            Some(t) if t.matches(name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                // Let the star take one more character (never a separator).
                Some((sp, sn)) if name[sn] != '/' => {
                    star = Some((sp, sn + 1));
                    p = sp + 1;
                    n = sn + 1;
                }
                _ => return Some(false),
            },
        }
    }
    Some(toks[p..].iter().all(|t| *t == Tok::Star))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn methods_read_as_image_updater_reads_them() {
        use WriteBackMethod::*;
        assert_eq!(WriteBackMethod::parse(None), Argocd);
        assert_eq!(WriteBackMethod::parse(Some("  argocd ")), Argocd);
        assert_eq!(WriteBackMethod::parse(Some("git")), Git(GitCreds::RepoCreds));
        assert_eq!(
            WriteBackMethod::parse(Some(" git:repocreds ")),
            Git(GitCreds::RepoCreds)
        );
        assert_eq!(
            WriteBackMethod::parse(Some("git:secret:argocd/git-creds")),
            Git(GitCreds::Secret {
                namespace: Some("argocd".into()),
                name: "git-creds".into()
            })
        );
        assert_eq!(
            WriteBackMethod::parse(Some("git:secret:git-creds")),
            Git(GitCreds::Secret {
                namespace: None,
                name: "git-creds".into()
            })
        );
        assert!(matches!(
            WriteBackMethod::parse(Some("git:https://github.com/x/y.git")),
            Invalid(_)
        ));
        assert!(matches!(WriteBackMethod::parse(Some("helm")), Invalid(_)));
        assert!(matches!(WriteBackMethod::parse(Some("git:secret:")), Invalid(_)));
    }

    #[test]
    fn globs_match_as_go_filepath_match_does() {
        for (p, n, want) in [
            ("*", "app", Some(true)),
            ("app-*", "app-prod", Some(true)),
            ("app-*", "web-prod", Some(false)),
            ("app-?", "app-1", Some(true)),
            ("app-?", "app-12", Some(false)),
            ("app-[0-9]", "app-7", Some(true)),
            ("app-[^0-9]", "app-7", Some(false)),
            ("app-[^0-9]", "app-x", Some(true)),
            ("app\\*", "app*", Some(true)),
            ("app-[", "app-x", None),
            ("app-[z-a]", "app-x", None),
            ("exact", "exact", Some(true)),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} on {n}");
        }
    }

    fn app(name: &str, labels: &[(&str, &str)], annotations: Value) -> Application {
        Application::from_value(&json!({
            "metadata": {"name": name, "namespace": "argocd",
                "labels": labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "annotations": annotations},
            "spec": {"source": {"repoURL": format!("https://github.com/acme/{name}"), "path": "k8s"}}
        }))
        .unwrap()
    }

    #[test]
    fn the_most_specific_reference_decides_and_its_settings_lie_over_the_resource_s() {
        let u = ImageUpdater::from_value(&json!({
            "metadata": {"name": "iu", "namespace": "argocd"},
            "spec": {
                "writeBackConfig": {"method": "git", "gitConfig": {"branch": "main"}},
                "applicationRefs": [
                    {"namePattern": "*"},
                    {"namePattern": "web-*", "labelSelectors": {"matchLabels": {"tier": "front"}},
                     "writeBackConfig": {"method": "git:secret:web-creds", "gitConfig": {"pullRequest": {"github": {}}}}},
                    {"namePattern": "legacy", "useAnnotations": true}
                ]
            }
        }))
        .unwrap();
        let plain = app("api", &[], json!({}));
        assert_eq!(
            write_back(&plain, &[&u]),
            Some(WriteBack::Git {
                repository: "https://github.com/acme/api".into(),
                creds: GitCreds::RepoCreds,
                pull_request: false,
                by: Some(("argocd".into(), "iu".into())),
            })
        );
        let web = app("web-shop", &[("tier", "front")], json!({}));
        assert!(matches!(
            write_back(&web, &[&u]),
            Some(WriteBack::Git { creds: GitCreds::Secret { name, .. }, pull_request: true, .. }) if name == "web-creds"
        ));
        // Without the label the catch-all decides.
        let web_back = app("web-admin", &[("tier", "back")], json!({}));
        assert!(matches!(
            write_back(&web_back, &[&u]),
            Some(WriteBack::Git {
                creds: GitCreds::RepoCreds,
                ..
            })
        ));
        // useAnnotations: the Application's own annotations, here none: method argocd.
        let legacy = app("legacy", &[], json!({}));
        assert_eq!(write_back(&legacy, &[&u]), None);
        let legacy = app(
            "legacy",
            &[],
            json!({WRITE_BACK_METHOD_ANNOTATION: "git:secret:other/creds"}),
        );
        assert!(matches!(write_back(&legacy, &[&u]), Some(WriteBack::Refused { .. })));
    }

    #[test]
    fn without_a_resource_the_0x_annotations_decide_on_applications_image_updater_updates() {
        let a = app(
            "a",
            &[],
            json!({IMAGE_LIST_ANNOTATION: "nginx", WRITE_BACK_METHOD_ANNOTATION: "git",
                   GIT_REPOSITORY_ANNOTATION: "https://github.com/acme/deploy"}),
        );
        assert!(matches!(
            write_back(&a, &[]),
            Some(WriteBack::Git { repository, by: None, .. }) if repository == "https://github.com/acme/deploy"
        ));
        let not_updated = app("b", &[], json!({WRITE_BACK_METHOD_ANNOTATION: "git"}));
        assert_eq!(write_back(&not_updated, &[]), None);
        let in_other_ns = ImageUpdater::from_value(&json!({"metadata": {"name": "iu", "namespace": "team"},
            "spec": {"writeBackConfig": {"method": "git"}, "applicationRefs": [{"namePattern": "*"}]}}))
        .unwrap();
        assert_eq!(write_back(&not_updated, &[&in_other_ns]), None);
        let bad = ImageUpdater::from_value(&json!({"metadata": {"name": "iu", "namespace": "argocd"},
            "spec": {"writeBackConfig": {"method": "git"}, "applicationRefs": [{"namePattern": "["}, {"namePattern": "*"}]}}))
        .unwrap();
        assert!(bad.invalid_pattern.is_some());
        assert_eq!(write_back(&not_updated, &[&bad]), None);
    }

    /// Go's `filepath.Match`, transcribed as a plain recursion: the reference the linear matcher is
    /// held to.
    fn reference(p: &[Tok], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((Tok::Star, rest)) => {
                (0..=n.len()).any(|k| n[..k].iter().all(|c| *c != '/') && reference(rest, &n[k..]))
            }
            Some((t, rest)) => n.first().is_some_and(|c| t.matches(*c)) && reference(rest, &n[1..]),
        }
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 2000, ..Default::default() })]
        #[test]
        fn the_linear_matcher_agrees_with_the_recursive_one(
            pattern in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "*", "?", "[ab]", "[^a]", "[a-b]", "\\*"]),
                0..7,
            )
            .prop_map(|v: Vec<&str>| v.concat()),
            name in "[ab/]{0,9}",
        ) {
            let toks = tokens(&pattern).unwrap();
            let chars: Vec<char> = name.chars().collect();
            proptest::prop_assert_eq!(glob_match(&pattern, &name), Some(reference(&toks, &chars)));
        }

        #[test]
        fn any_text_is_a_pattern_or_refused_without_a_panic(pattern in ".{0,40}", name in ".{0,40}") {
            let _ = glob_match(&pattern, &name);
        }
    }

    #[test]
    fn a_pattern_of_many_stars_stays_linear() {
        let pattern = "*a".repeat(30) + "b";
        let name = "a".repeat(253);
        assert_eq!(glob_match(&pattern, &name), Some(false));
    }

    #[test]
    fn label_selectors_match_as_kubernetes_does() {
        let s = LabelSelector::from_value(&json!({
            "matchLabels": {"team": "a"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "stage"]},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        let l = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(s.matches(&l(&[("team", "a"), ("env", "prod")])));
        assert!(!s.matches(&l(&[("team", "a"), ("env", "dev")])));
        assert!(!s.matches(&l(&[("team", "a"), ("env", "prod"), ("legacy", "")])));
        assert!(!s.matches(&l(&[("env", "prod")])));
    }
}
