//! `scopegate check`: the webhook's judgement of Secret manifests (or of one token) without a
//! cluster. The providers are still asked.
//!
//! Inputs: YAML or JSON files with any number of documents, `List`s (`kind: List`, `SecretList`, …),
//! and AdmissionReviews (their `request.object`); `-` reads standard input. Secrets are judged (those
//! scopegate does not handle are listed with verdict `ignored`); Argo CD Applications and
//! ApplicationSets (and Image Updater's ImageUpdaters, and an `argocd-cmd-params-cm` ConfigMap for
//! tokenRef strict mode) beside them have their uses of those Secrets judged, as the watcher judges
//! them in a cluster. Other objects are passed over (and counted on standard error).

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use kube::core::DynamicObject;
use serde::Deserialize;
use serde_json::{Value, json};

use std::collections::BTreeMap;

use crate::cluster::{ARGOCD_CMD_PARAMS, TOKENREF_STRICT_MODE};
use crate::credential::{Role, SecretObject};
use crate::engine::Engine;
use crate::engine::uses::UseWorld;
use crate::render::evaluation::{Evaluation, Status};
use crate::render::table;
use crate::render::uses::{self as use_render, UseEvaluation, UseKind};
use crate::uses::resolve::{self, CredentialRef, Credentials};
use crate::uses::{Application, ApplicationSet, ImageUpdater, ObjectKey};

/// How many Secrets are judged at once.
const CONCURRENCY: usize = 8;

/// Where Secrets come from.
#[derive(Debug)]
pub enum Input {
    /// Manifest files; `-` is standard input.
    Files(Vec<String>),
    /// One token for one repository URL.
    Token {
        url: String,
        token_file: String,
        username: Option<String>,
        role: Role,
    },
}

/// `scopegate check`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Read all of `path` (or standard input for `-`).
fn read_source(path: &str) -> Result<String> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
    } else {
        text = std::fs::read_to_string(Path::new(path)).with_context(|| format!("cannot read {path}"))?;
    }
    Ok(text)
}

/// The files `-f` names: a file, `-`, or a directory's `.yaml`, `.yml` and `.json` files (not its
/// subdirectories), in name order, as kubectl reads them.
fn expand(path: &str) -> Result<Vec<String>> {
    let p = Path::new(path);
    if path == "-" || !p.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<String> = std::fs::read_dir(p)
        .with_context(|| format!("cannot read the directory {path}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|f| {
            f.is_file()
                && f.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
        })
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{path} holds no .yaml, .yml or .json file");
    }
    Ok(files)
}

/// The token in a file (or standard input), with one trailing newline removed: files end with one.
pub fn read_token(path: &str) -> Result<zeroize::Zeroizing<String>> {
    let mut text = zeroize::Zeroizing::new(read_source(path).map_err(|e| {
        // Never the content; the path is the user's own argument.
        anyhow::anyhow!("{e:#}")
    })?);
    if text.ends_with("\r\n") {
        let n = text.len() - 2;
        text.truncate(n);
    } else if text.ends_with('\n') {
        let n = text.len() - 1;
        text.truncate(n);
    }
    if text.is_empty() {
        bail!("{} holds no token", if path == "-" { "standard input" } else { path });
    }
    Ok(text)
}

/// What `check` reads of its files.
#[derive(Default)]
pub struct Manifests {
    /// Each Secret, named by where it came from (`FILE#N`).
    pub secrets: Vec<(String, SecretObject)>,
    /// The same Secrets as written, for the keys ApplicationSet generators name.
    pub raw: Vec<serde_json::Value>,
    pub apps: Vec<(String, Application)>,
    pub sets: Vec<(String, ApplicationSet)>,
    pub updaters: Vec<ImageUpdater>,
    /// An `argocd-cmd-params-cm` ConfigMap's tokenRef strict mode, when one is among the files.
    pub strict: Option<bool>,
    /// Objects passed over.
    pub others: usize,
}

impl Manifests {
    fn extend(&mut self, other: Manifests) {
        self.secrets.extend(other.secrets);
        self.raw.extend(other.raw);
        self.apps.extend(other.apps);
        self.sets.extend(other.sets);
        self.updaters.extend(other.updaters);
        self.strict = other.strict.or(self.strict);
        self.others += other.others;
    }
}

/// The objects of one source's text: every document, the items of Lists, the object of AdmissionReviews.
pub fn manifests_in(text: &str, source: &str) -> Result<Manifests> {
    let mut objects = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or_default();
            anyhow::anyhow!("{source}: document {} is not YAML or JSON{at}", i + 1)
        })?;
        flatten(value, &mut objects);
    }
    let mut m = Manifests::default();
    let mut n = 0;
    for obj in objects {
        let (api, kind) = (
            obj["apiVersion"].as_str().unwrap_or_default(),
            obj["kind"].as_str().unwrap_or_default(),
        );
        match (api, kind) {
            ("v1", "Secret") => {
                n += 1;
                let dynamic: DynamicObject = serde_json::from_value(obj.clone()).map_err(|_| {
                    anyhow::anyhow!("{source}#{n}: the Secret is not a valid Kubernetes object (its metadata?)")
                })?;
                m.secrets
                    .push((format!("{source}#{n}"), SecretObject::from_dynamic_owned(dynamic)));
                m.raw.push(obj);
            }
            ("argoproj.io/v1alpha1", "Application") => {
                n += 1;
                let app = Application::from_value(&obj)
                    .ok_or_else(|| anyhow::anyhow!("{source}#{n}: the Application has no metadata.name"))?;
                m.apps.push((format!("{source}#{n}"), app));
            }
            ("argoproj.io/v1alpha1", "ApplicationSet") => {
                n += 1;
                let set = ApplicationSet::from_value(&obj)
                    .ok_or_else(|| anyhow::anyhow!("{source}#{n}: the ApplicationSet has no metadata.name"))?;
                m.sets.push((format!("{source}#{n}"), set));
            }
            ("argocd-image-updater.argoproj.io/v1alpha1", "ImageUpdater") => {
                n += 1;
                m.updaters.extend(ImageUpdater::from_value(&obj));
            }
            ("v1", "ConfigMap") if obj["metadata"]["name"] == ARGOCD_CMD_PARAMS => {
                m.strict = Some(
                    obj["data"][TOKENREF_STRICT_MODE]
                        .as_str()
                        .is_some_and(|v| v.trim() == "true"),
                );
            }
            _ => m.others += 1,
        }
    }
    Ok(m)
}

/// The Secrets in one source's text, and how many other objects it holds.
#[cfg(test)]
fn secrets_in(text: &str, source: &str) -> Result<(Vec<(String, SecretObject)>, usize)> {
    let m = manifests_in(text, source)?;
    Ok((m.secrets, m.others + m.apps.len() + m.sets.len()))
}

/// Objects out of a document: itself, a List's items, an AdmissionReview's object.
fn flatten(value: Value, out: &mut Vec<Value>) {
    match value {
        Value::Null => {}
        Value::Object(mut map) => {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
            if kind == "AdmissionReview" {
                if let Some(obj) = map
                    .get_mut("request")
                    .and_then(|r| r.get_mut("object"))
                    .map(Value::take)
                {
                    flatten(obj, out);
                }
            } else if kind.ends_with("List") && map.get("items").is_some_and(Value::is_array) {
                if let Some(Value::Array(items)) = map.remove("items") {
                    for item in items {
                        flatten(item, out);
                    }
                }
            } else {
                out.push(Value::Object(map));
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten(item, out);
            }
        }
        other => out.push(other),
    }
}

/// The Secret Argo CD would hold for `--url`: the role decides the name and label.
fn synthetic_secret(url: &str, username: Option<&str>, token: &str, role: Role) -> Result<SecretObject> {
    let (name, secret_type) = match role {
        // `--role` never offers scm (an ApplicationSet generator's role: `check -f appset.yaml`).
        Role::Read | Role::Scm => ("scopegate-check", Some("repository")),
        Role::Write => ("scopegate-check", Some("repository-write")),
        Role::User => ("git-default-scopegate-check", None),
        Role::Runtime => (crate::credential::RUNTIME_SECRET_NAME, Some("repo-creds")),
    };
    let mut string_data = json!({ "url": url, "password": token });
    if let Some(u) = username {
        string_data["username"] = json!(u);
    }
    let mut metadata = json!({ "name": name });
    if let Some(t) = secret_type {
        metadata["labels"] = json!({ crate::credential::SECRET_TYPE_LABEL: t });
    }
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": string_data,
    }))
    .map_err(|_| anyhow::anyhow!("cannot build a Secret for --url"))?;
    Ok(SecretObject::from_dynamic_owned(obj))
}

/// What `check` found.
pub struct Checked {
    pub evaluations: Vec<Evaluation>,
    pub uses: Vec<UseEvaluation>,
}

/// Judge the inputs. Errors (unreadable or unparsable input) come back before any provider is asked.
pub async fn evaluate(engine: &Engine, input: &Input) -> Result<Checked> {
    let mut pending: Vec<(String, SecretObject)> = Vec::new();
    let mut manifests = Manifests::default();
    match input {
        Input::Files(files) => {
            let mut expanded = Vec::new();
            for f in files {
                expanded.extend(expand(f)?);
            }
            for f in &expanded {
                let text = read_source(f)?;
                let source = if f == "-" { "stdin" } else { f.as_str() };
                manifests.extend(manifests_in(&text, source)?);
            }
            if manifests.others > 0 {
                eprintln!(
                    "scopegate check: passed over {} object(s) that are not Secrets, Applications, ApplicationSets or ImageUpdaters",
                    manifests.others
                );
            }
            if manifests.secrets.is_empty() && manifests.apps.is_empty() && manifests.sets.is_empty() {
                bail!(
                    "no Secret in {} (nor an Application or ApplicationSet)",
                    files.join(", ")
                );
            }
            pending = std::mem::take(&mut manifests.secrets);
        }
        Input::Token {
            url,
            token_file,
            username,
            role,
        } => {
            let token = read_token(token_file)?;
            let secret = synthetic_secret(url, username.as_deref(), &token, *role)?;
            pending.push(("--url".to_owned(), secret));
        }
    }
    let uses = judge_uses(engine, &manifests, &pending).await;
    let evals = futures::stream::iter(pending)
        .map(|(source, secret)| async move {
            let from_url = source == "--url";
            let (judgement, skip_set_aside) = engine.judge_stored(&secret, None).await;
            let mut e = Evaluation::new(&secret, source, &judgement, skip_set_aside, engine.config().mode);
            if from_url {
                // The row names the URL, not the made-up Secret the role needed.
                e.name = e.url.clone().unwrap_or_default();
                let made_up = format!("Secret {}", secret.name);
                e.message = e
                    .message
                    .replace(&format!("{made_up}: "), "")
                    .replace(&made_up, "your Secret");
                for w in &mut e.warnings {
                    *w = w.replace(&made_up, "your Secret");
                }
            }
            e
        })
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    Ok(Checked {
        evaluations: evals,
        uses,
    })
}

/// The uses of the Secrets in the files by the Applications and ApplicationSets beside them.
async fn judge_uses(engine: &Engine, m: &Manifests, secrets: &[(String, SecretObject)]) -> Vec<UseEvaluation> {
    if m.apps.is_empty() && m.sets.is_empty() {
        return Vec::new();
    }
    let argocd_namespace = engine.config().watch.argocd_namespace.as_str();
    let refs: Vec<CredentialRef> = secrets
        .iter()
        .filter_map(|(_, s)| {
            let (secret_type, url) = (s.secret_type()?, s.url()?);
            Some(CredentialRef {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
                secret_type,
                own_credentials: s.has_own_credentials() || resolve::has_credentials(&url),
                project: s.project(),
                url,
            })
        })
        .collect();
    let creds = Credentials::new(refs);
    let by_key: BTreeMap<ObjectKey, SecretObject> = secrets
        .iter()
        .map(|(_, s)| ((s.namespace.clone(), s.name.clone()), s.clone()))
        .collect();
    let raw: BTreeMap<ObjectKey, Value> = m
        .raw
        .iter()
        .map(|v| {
            let key = (
                v["metadata"]["namespace"].as_str().unwrap_or_default().to_owned(),
                v["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
            );
            (key, v.clone())
        })
        .collect();
    let apps: Vec<Application> = m.apps.iter().map(|(_, a)| a.clone()).collect();
    let sets: Vec<ApplicationSet> = m.sets.iter().map(|(_, s)| s.clone()).collect();
    let world = UseWorld {
        apps: &apps,
        sets: &sets,
        updaters: &m.updaters,
        creds: &creds,
        secrets: &by_key,
        raw: &raw,
        argocd_namespace,
        strict: m.strict.unwrap_or(false),
        absent: "is not among the manifests checked",
    };
    let judged = engine.judge_uses(&world, CONCURRENCY).await;
    let mut out: Vec<UseEvaluation> = m
        .apps
        .iter()
        .zip(&judged.apps)
        .map(|((source, _), (key, found))| UseEvaluation::new(UseKind::Application, key, source.clone(), found, &[]))
        .collect();
    out.extend(
        m.sets
            .iter()
            .zip(&judged.sets)
            .map(|((source, _), (key, found, gens))| {
                UseEvaluation::new(UseKind::ApplicationSet, key, source.clone(), found, gens)
            }),
    );
    out
}

/// Print what was found in `format` (`uses`: the uses instead of the Secrets); the status says
/// whether any Secret would be denied or any use fails.
pub fn print(checked: &Checked, format: Format, uses: bool, out: &mut dyn Write, terminal: bool) -> Result<Status> {
    let evals = &checked.evaluations;
    match format {
        Format::Json if uses => {
            serde_json::to_writer_pretty(&mut *out, &checked.uses)?;
            writeln!(out)?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, evals)?;
            writeln!(out)?;
        }
        Format::Table => {
            let style = table::Style::for_terminal(terminal);
            if !uses && !evals.is_empty() {
                out.write_all(table::evaluations(evals, style).as_bytes())?;
            }
            if !checked.uses.is_empty() {
                if !uses && !evals.is_empty() {
                    writeln!(out)?;
                }
                out.write_all(use_render::table(&checked.uses, style).as_bytes())?;
            }
        }
    }
    Ok(
        if evals.iter().all(|e| e.allowed) && !checked.uses.iter().any(UseEvaluation::has_findings) {
            Status::Clean
        } else {
            Status::Findings
        },
    )
}

/// `scopegate check`.
pub async fn run(engine: &Engine, input: &Input, format: Format, uses: bool) -> Result<Status> {
    let checked = evaluate(engine, input).await?;
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut lock = stdout.lock();
    print(&checked, format, uses, &mut lock, terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_lists_and_reviews_all_yield_their_secrets() {
        let text = r#"
apiVersion: v1
kind: Secret
metadata: {name: a, namespace: argocd}
stringData: {url: "https://github.com/acme/a"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-secret}
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Secret, metadata: {name: b, namespace: argocd}}
  - {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}
---
{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "1",
 "object": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c", "namespace": "x"}}}}
"#;
        let (secrets, others) = secrets_in(text, "f.yaml").unwrap();
        let names: Vec<(&str, &str)> = secrets.iter().map(|(s, o)| (s.as_str(), o.name.as_str())).collect();
        assert_eq!(names, [("f.yaml#1", "a"), ("f.yaml#2", "b"), ("f.yaml#3", "c")]);
        assert_eq!(others, 2);
        let m = manifests_in(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s, namespace: argocd}\nspec: {generators: []}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cmd-params-cm}\ndata: {applicationsetcontroller.enable.tokenref.strict.mode: \"true\"}\n",
            "s.yaml",
        )
        .unwrap();
        assert_eq!((m.sets.len(), m.strict, m.others), (1, Some(true), 0));
    }

    #[test]
    fn a_syntax_error_names_the_place_not_the_content() {
        let e = secrets_in("a: b\n---\nkey: [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\n", "s.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.yaml: document 2 is not YAML or JSON"), "{e}");
        assert!(!e.contains("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"), "{e}");
    }

    #[test]
    fn a_token_file_loses_one_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = |name: &str, content: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, content).unwrap();
            p.to_string_lossy().into_owned()
        };
        assert_eq!(
            read_token(&f("a", "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\n"))
                .unwrap()
                .as_str(),
            "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"
        );
        assert_eq!(
            read_token(&f("b", "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\r\n"))
                .unwrap()
                .as_str(),
            "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"
        );
        assert_eq!(
            read_token(&f("c", "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\n\n"))
                .unwrap()
                .as_str(),
            "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\n"
        );
        assert_eq!(
            read_token(&f("d", "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"))
                .unwrap()
                .as_str(),
            "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"
        );
        assert!(read_token(&f("e", "\n")).is_err());
    }
}
