//! The uses of credentials, judged, in the forms `check` and `audit` report them: one object per
//! Application or ApplicationSet (`--uses -o json`), the rows of a table, the results of a
//! PolicyReport. Pure.

use serde::{Serialize, Serializer};

use super::table::{Cell, Colour, Style};
use crate::uses::{Access, ObjectKey, Purpose, RepoFinding, ScmFinding, UseVerdict};

/// Which kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr)]
pub enum UseKind {
    Application,
    ApplicationSet,
}

impl UseKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The object's `apiVersion`.
    pub fn api_version(self) -> &'static str {
        "argoproj.io/v1alpha1"
    }
}

impl Purpose {
    /// The name a report gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Sync => "sync",
            Purpose::Hydrate => "hydrate",
            Purpose::WriteBack { pull_request: false } => "write-back",
            Purpose::WriteBack { pull_request: true } => "write-back-pull-request",
        }
    }
}

fn as_str<S: Serializer>(v: &UseVerdict, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn key_str<S: Serializer>(v: &Option<ObjectKey>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some((ns, name)) => s.serialize_str(&format!("{ns}/{name}")),
        None => s.serialize_none(),
    }
}

/// One repository an object needs, and what its probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UseRepository {
    pub url: String,
    #[serde(serialize_with = "access_str")]
    pub access: Access,
    /// `sync`, `hydrate`, `write-back`, `write-back-pull-request`.
    #[serde(serialize_with = "purpose_str")]
    pub purpose: Purpose,
    /// The credential Secret (`namespace/name`), `null` when none covers it.
    #[serde(serialize_with = "key_str")]
    pub credential: Option<ObjectKey>,
    #[serde(serialize_with = "as_str")]
    pub verdict: UseVerdict,
    /// What was found, in words.
    pub message: String,
}

fn access_str<S: Serializer>(v: &Access, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn purpose_str<S: Serializer>(v: &Purpose, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn opt_timestamp<S: Serializer>(v: &Option<jiff::Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(t) => s.serialize_str(&super::annotations::timestamp(*t)),
        None => s.serialize_none(),
    }
}

/// One generator's token, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UseGenerator {
    /// Its path in the ApplicationSet (`generators[0].scmProvider`).
    pub generator: String,
    /// `scmProvider` or `pullRequest`.
    pub kind: &'static str,
    pub provider: &'static str,
    /// The Secret holding its token (`namespace/name`), `null` when it names none.
    #[serde(serialize_with = "key_str")]
    pub secret: Option<ObjectKey>,
    #[serde(serialize_with = "as_str")]
    pub verdict: UseVerdict,
    pub token_kind: Option<&'static str>,
    pub missing: Vec<String>,
    #[serde(serialize_with = "opt_timestamp")]
    pub expires_at: Option<jiff::Timestamp>,
    pub message: String,
}

impl From<&ScmFinding> for UseGenerator {
    fn from(f: &ScmFinding) -> Self {
        Self {
            generator: f.generator.clone(),
            kind: f.kind.as_str(),
            provider: f.provider.as_str(),
            secret: f.secret.clone(),
            verdict: f.verdict,
            token_kind: f.token_kind.map(|k| k.as_str()),
            missing: f.missing.clone(),
            expires_at: f.expires_at,
            message: f.message.clone(),
        }
    }
}

/// An Application's or ApplicationSet's uses, judged. Field names and values are the `--uses -o json`
/// contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UseEvaluation {
    /// `Application` or `ApplicationSet`.
    #[serde(serialize_with = "kind_str")]
    pub kind: UseKind,
    pub namespace: String,
    pub name: String,
    /// Where it came from: `FILE#N`, `stdin#N`, `cluster`.
    pub source: String,
    /// The worst of its findings (`ok` when it has none).
    #[serde(serialize_with = "as_str")]
    pub verdict: UseVerdict,
    /// What is wrong, each finding's words; `""` when nothing is.
    pub message: String,
    /// Each repository it needs, with the credential Argo CD (or Image Updater) would use.
    pub repositories: Vec<UseRepository>,
    /// Each generator holding a token (ApplicationSets).
    pub generators: Vec<UseGenerator>,
    #[serde(skip)]
    pub uid: Option<String>,
    /// Some finding could not be established because the provider could not be asked.
    #[serde(skip)]
    pub provider_failed: bool,
}

fn kind_str<S: Serializer>(v: &UseKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

/// Whether a verdict is something to act on (`ok` and `unverified` are not findings: nothing was
/// found wrong).
pub fn is_finding(v: UseVerdict) -> bool {
    !matches!(v, UseVerdict::Ok | UseVerdict::Unverified)
}

impl UseEvaluation {
    pub fn new(
        kind: UseKind,
        key: &ObjectKey,
        source: String,
        repos: &[RepoFinding],
        generators: &[ScmFinding],
    ) -> Self {
        let verdict = repos
            .iter()
            .map(|r| r.verdict)
            .chain(generators.iter().map(|g| g.verdict))
            .max()
            .unwrap_or(UseVerdict::Ok);
        let message = repos
            .iter()
            .filter(|r| !r.verdict.is_ok())
            .map(|r| r.message.clone())
            .chain(
                generators
                    .iter()
                    .filter(|g| !g.verdict.is_ok())
                    .map(|g| g.message.clone()),
            )
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            kind,
            namespace: key.0.clone(),
            name: key.1.clone(),
            source,
            verdict,
            message,
            repositories: repos
                .iter()
                .map(|r| UseRepository {
                    url: r.url.clone(),
                    access: r.purpose.access(),
                    purpose: r.purpose,
                    credential: r.credential.clone(),
                    verdict: r.verdict,
                    message: r.message.clone(),
                })
                .collect(),
            generators: generators.iter().map(UseGenerator::from).collect(),
            uid: None,
            provider_failed: repos.iter().any(|r| r.provider_failed) || generators.iter().any(|g| g.provider_failed),
        }
    }

    pub fn display_name(&self) -> String {
        format!("{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }

    /// The URLs of the repositories whose finding is to act on.
    pub fn unreachable(&self) -> Vec<String> {
        self.repositories
            .iter()
            .filter(|r| is_finding(r.verdict))
            .map(|r| r.url.clone())
            .collect()
    }

    /// Whether anything found is to act on.
    pub fn has_findings(&self) -> bool {
        self.repositories.iter().any(|r| is_finding(r.verdict)) || self.generators.iter().any(|g| is_finding(g.verdict))
    }
}

pub fn verdict_colour(v: UseVerdict) -> Colour {
    match v {
        UseVerdict::Ok => Colour::Green,
        UseVerdict::Unverified => Colour::Yellow,
        _ => Colour::Red,
    }
}

/// The table of the uses that are not `ok`, one row per finding, and a summary line.
pub fn table(uses: &[UseEvaluation], style: Style) -> String {
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for u in uses {
        for r in u.repositories.iter().filter(|r| !r.verdict.is_ok()) {
            rows.push(vec![
                Cell::new(u.display_name()),
                Cell::new(r.purpose.as_str()),
                Cell::new(r.url.clone()),
                Cell::new(
                    r.credential
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |(ns, n)| format!("{ns}/{n}")),
                ),
                Cell::coloured(r.verdict.as_str(), verdict_colour(r.verdict)),
            ]);
        }
        for g in u.generators.iter().filter(|g| !g.verdict.is_ok()) {
            rows.push(vec![
                Cell::new(u.display_name()),
                Cell::new(g.kind),
                Cell::new(g.generator.clone()),
                Cell::new(
                    g.secret
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |(ns, n)| format!("{ns}/{n}")),
                ),
                Cell::coloured(g.verdict.as_str(), verdict_colour(g.verdict)),
            ]);
        }
    }
    let mut out = String::new();
    if !rows.is_empty() {
        out.push_str(&super::table::render(
            &["OBJECT", "USE", "REPOSITORY OR GENERATOR", "CREDENTIAL", "VERDICT"],
            &rows,
            style,
        ));
        out.push('\n');
        for u in uses
            .iter()
            .filter(|u| !u.message.is_empty() && u.verdict != UseVerdict::Ok)
        {
            out.push_str(&format!("{}: {}\n", u.display_name(), u.message));
        }
        out.push('\n');
    }
    out.push_str(&summary(uses));
    out.push('\n');
    out
}

/// How many of each verdict, over every repository use and generator.
pub fn summary(uses: &[UseEvaluation]) -> String {
    let apps = uses.iter().filter(|u| u.kind == UseKind::Application).count();
    let sets = uses.len() - apps;
    let mut counts: std::collections::BTreeMap<UseVerdict, usize> = std::collections::BTreeMap::new();
    for u in uses {
        for v in u
            .repositories
            .iter()
            .map(|r| r.verdict)
            .chain(u.generators.iter().map(|g| g.verdict))
        {
            *counts.entry(v).or_default() += 1;
        }
    }
    let parts: Vec<String> = <UseVerdict as strum::IntoEnumIterator>::iter()
        .map(|v| format!("{} {}", counts.get(&v).copied().unwrap_or(0), v.as_str()))
        .collect();
    format!(
        "{apps} Applications and {sets} ApplicationSets: {} uses: {}",
        counts.values().sum::<usize>(),
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProviderKind;
    use crate::uses::GeneratorKind;

    #[test]
    fn an_object_has_every_field_a_secret_has_then_its_kind_and_generators() {
        let repo = RepoFinding {
            url: "https://github.com/acme/app".into(),
            purpose: Purpose::WriteBack { pull_request: false },
            credential: Some(("argocd".into(), "creds".into())),
            verdict: UseVerdict::Insufficient,
            message: "refused".into(),
            provider_failed: false,
        };
        let scm = ScmFinding {
            generator: "generators[0].scmProvider".into(),
            kind: GeneratorKind::ScmProvider,
            provider: ProviderKind::Github,
            secret: None,
            verdict: UseVerdict::NoCredential,
            message: "no Secret".into(),
            token_kind: None,
            missing: vec![],
            expires_at: None,
            provider_failed: false,
        };
        let e = UseEvaluation::new(
            UseKind::ApplicationSet,
            &("argocd".into(), "set".into()),
            "cluster".into(),
            &[repo],
            &[scm],
        );
        assert_eq!(e.verdict, UseVerdict::Insufficient);
        assert!(e.has_findings());
        let v = serde_json::to_value(&e).unwrap();
        let text = serde_json::to_string(&e).unwrap();
        let keys = [
            "kind",
            "namespace",
            "name",
            "source",
            "verdict",
            "message",
            "repositories",
            "generators",
        ];
        let positions: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(positions.is_sorted(), "{text}");
        assert_eq!(v.as_object().unwrap().len(), keys.len());
        assert_eq!(v["kind"], "ApplicationSet");
        assert_eq!(v["repositories"][0]["purpose"], "write-back");
        assert_eq!(v["repositories"][0]["access"], "write");
        assert_eq!(v["repositories"][0]["credential"], "argocd/creds");
        assert_eq!(v["repositories"][0]["verdict"], "insufficient");
        assert_eq!(v["generators"][0]["verdict"], "no-credential");
        assert_eq!(v["generators"][0]["kind"], "scmProvider");
        assert_eq!(e.unreachable(), ["https://github.com/acme/app"]);
        let t = table(&[e], Style::plain());
        assert!(t.contains("write-back") && t.contains("no-credential"), "{t}");
        assert!(t.contains("0 Applications and 1 ApplicationSets: 2 uses: 0 ok"), "{t}");
    }
}
