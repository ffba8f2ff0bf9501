//! The uses of credentials: what Argo CD's Applications sync and push, what ApplicationSet
//! generators list with their SCM tokens, and where Argo CD Image Updater writes back — each object
//! reduced at once to what a judgement of its uses needs ([`Application`], [`ApplicationSet`],
//! [`ImageUpdater`]; no whole spec is kept), and Argo CD's rules for which credential each use
//! takes ([`resolve`]). Pure: the watcher, the audit and `check` feed it objects and act on what it
//! says.

pub mod generators;
pub mod image_updater;
pub mod plan;
pub mod resolve;

use std::collections::BTreeMap;

use serde_json::Value;

pub use generators::{ApplicationSet, Generator, GeneratorKind, ScmAuth};
pub use image_updater::{ImageUpdater, WriteBackSettings};
pub use resolve::Credentials;

/// At most this many Git sources of one Application are followed (Argo CD sets no limit; a
/// multi-source Application rarely has more than a handful).
pub const MAX_SOURCES: usize = 64;

/// Which access a use needs of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Access {
    /// Clone and fetch: the upload-pack advertisement.
    Read,
    /// Push: the receive-pack advertisement.
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// `(namespace, name)` of an object.
pub type ObjectKey = (String, String);

/// Why an Application needs a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// A source it syncs (`spec.source`, `spec.sources[]`, the Source Hydrator's dry and sync sources).
    Sync,
    /// The Source Hydrator pushes its hydrated manifests.
    Hydrate,
    /// Argo CD Image Updater writes back to it (`pull_request`: by opening pull requests).
    WriteBack { pull_request: bool },
}

impl Purpose {
    pub fn access(self) -> Access {
        match self {
            Purpose::Sync => Access::Read,
            Purpose::Hydrate | Purpose::WriteBack { .. } => Access::Write,
        }
    }

    /// What needs it, in words: "syncs from it", "Image Updater writes back with it".
    pub fn describe(self) -> &'static str {
        match self {
            Purpose::Sync => "Argo CD syncs from it",
            Purpose::Hydrate => "the Source Hydrator pushes to it",
            Purpose::WriteBack { pull_request: false } => "Image Updater writes back with it",
            Purpose::WriteBack { pull_request: true } => "Image Updater writes back with it, by pull request",
        }
    }
}

/// What scopegate found about one use.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub enum UseVerdict {
    /// The use works: the repository answers with the credential Argo CD would choose (or anonymously,
    /// where none covers it), the generator's token lists what it must and has what the `scm` role needs.
    Ok,
    /// What could be established was not enough to say (the provider failing or rate limiting, a host
    /// that is not configured, a credential that is not a token).
    Unverified,
    /// The repository refuses the credential Argo CD would choose for it (or does not exist for it).
    Unreachable,
    /// No credential covers the repository, and it does not answer anonymously (or a push, which needs
    /// a credential); for a generator, no Secret or key holds its token.
    NoCredential,
    /// The credential reaches the repository but may not do what the use needs: a refused push, a
    /// generator's token without the scopes or permissions of the `scm` role.
    Insufficient,
    /// The token is refused outright (wrong, revoked, expired), or the configuration makes the
    /// component fail (a Secret strict mode rejects, a method Image Updater refuses).
    Invalid,
}

impl UseVerdict {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn is_ok(self) -> bool {
        self == UseVerdict::Ok
    }
}

/// What one repository use found: an Application's (or ApplicationSet's) need of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFinding {
    /// The repository URL as the object names it (never with credentials: those are left out).
    pub url: String,
    pub purpose: Purpose,
    /// The credential Secret Argo CD (or Image Updater) would use; `None`: none, asked anonymously.
    pub credential: Option<ObjectKey>,
    pub verdict: UseVerdict,
    /// What was found, in words (never a token).
    pub message: String,
    /// The provider could not be asked: the verdict says so, and is not the use's fault.
    pub provider_failed: bool,
}

/// What one ApplicationSet generator's token was found to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScmFinding {
    /// The generator's path in the ApplicationSet (`generators[0].scmProvider`).
    pub generator: String,
    pub kind: GeneratorKind,
    pub provider: crate::config::ProviderKind,
    /// The Secret holding the token (a GitHub App's Secret for `appSecretName`); `None`: none named.
    pub secret: Option<ObjectKey>,
    pub verdict: UseVerdict,
    pub message: String,
    /// The token's kind, scopes, what the `scm` role needs and it lacks, and when it expires.
    pub token_kind: Option<crate::credential::CredentialKind>,
    pub missing: Vec<String>,
    pub expires_at: Option<jiff::Timestamp>,
    pub provider_failed: bool,
}

/// Argo CD's `Application` (argoproj.io/v1alpha1), reduced to what the judgement of its uses reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Application {
    pub namespace: String,
    pub name: String,
    /// `spec.project` (Argo CD's `default` when empty).
    pub project: String,
    /// Its labels (Image Updater selects Applications by them).
    pub labels: BTreeMap<String, String>,
    /// The Git repositories it reads, each once, in order (URLs with credentials in them left out).
    pub reads: Vec<String>,
    /// The repositories the Source Hydrator pushes to.
    pub pushes: Vec<String>,
    /// The source Image Updater writes back to when nothing names another (its
    /// `getApplicationSource`: the only source, else the first Helm, Kustomize or plugin source, else
    /// the first).
    pub write_back_source: Option<String>,
    /// Image Updater's `argocd-image-updater.argoproj.io/*` write-back annotations.
    pub annotations: Option<WriteBackSettings>,
    /// Whether it carries Image Updater 0.x's `image-list` annotation (0.x updates only those).
    pub image_list: bool,
    /// How many of its repository URLs carry credentials (never kept, never checked).
    pub urls_with_credentials: usize,
}

/// The Git URL of an Argo CD source, unless it is a Helm chart (`chart`) or an OCI source.
fn git_url(source: &Value) -> Option<&str> {
    if source.get("chart").is_some_and(|c| !c.is_null()) {
        return None;
    }
    let url = source.get("repoURL")?.as_str()?;
    (!url.trim_start().starts_with("oci://")).then_some(url)
}

fn push_unique(out: &mut Vec<String>, url: &str) {
    if out.len() < MAX_SOURCES && !out.iter().any(|u| u == url) {
        out.push(url.to_owned());
    }
}

/// The repositories an Application spec (or an ApplicationSet's template spec) reads and pushes to.
pub(crate) fn spec_repositories(spec: &Value) -> (Vec<String>, Vec<String>, usize) {
    let mut reads: Vec<String> = Vec::new();
    let mut pushes: Vec<String> = Vec::new();
    let mut with_credentials = 0;
    let mut take = |url: Option<&str>, into: &mut Vec<String>| {
        let Some(url) = url.filter(|u| resolve::is_literal(u)) else {
            return;
        };
        if resolve::has_credentials(url) {
            with_credentials += 1;
        } else {
            push_unique(into, url.trim());
        }
    };
    take(spec.get("source").and_then(git_url), &mut reads);
    for s in spec.get("sources").and_then(Value::as_array).into_iter().flatten() {
        take(git_url(s), &mut reads);
    }
    let hydrator = &spec["sourceHydrator"];
    if let Some(dry) = hydrator["drySource"]["repoURL"].as_str() {
        // The sync source is the dry source's repository unless it names another (Argo CD's
        // `GetSyncSource`): the hydrator pushes there, and Argo CD syncs from there.
        let sync = hydrator["syncSource"]["repoURL"]
            .as_str()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or(dry);
        take(Some(dry), &mut reads);
        take(Some(sync), &mut reads);
        take(Some(sync), &mut pushes);
    }
    (reads, pushes, with_credentials)
}

/// Image Updater's choice of the source it writes back to.
fn write_back_source(spec: &Value) -> Option<String> {
    if let Some(url) = spec.get("source").and_then(git_url) {
        return Some(url.trim().to_owned());
    }
    let sources = spec.get("sources")?.as_array()?;
    sources
        .iter()
        .find(|s| {
            ["helm", "kustomize", "plugin"]
                .iter()
                .any(|k| s.get(*k).is_some_and(|v| !v.is_null()))
        })
        .or_else(|| sources.first())
        .and_then(git_url)
        .map(|u| u.trim().to_owned())
}

impl Application {
    /// Reduce an Application as the API server returns it.
    pub fn from_value(obj: &Value) -> Option<Self> {
        let meta = &obj["metadata"];
        let name = meta["name"].as_str()?.to_owned();
        let namespace = meta["namespace"].as_str().unwrap_or_default().to_owned();
        let spec = &obj["spec"];
        let project = spec["project"]
            .as_str()
            .filter(|p| !p.is_empty())
            .unwrap_or("default")
            .to_owned();
        let labels = string_map(&meta["labels"]);
        let annotations = &meta["annotations"];
        let (reads, pushes, urls_with_credentials) = spec_repositories(spec);
        Some(Self {
            namespace,
            name,
            project,
            labels,
            reads,
            pushes,
            write_back_source: write_back_source(spec)
                .filter(|u| resolve::is_literal(u) && !resolve::has_credentials(u)),
            annotations: image_updater::from_annotations(annotations),
            image_list: annotations
                .get(image_updater::IMAGE_LIST_ANNOTATION)
                .and_then(Value::as_str)
                .is_some_and(|v| !v.trim().is_empty()),
            urls_with_credentials,
        })
    }

    pub fn key(&self) -> ObjectKey {
        (self.namespace.clone(), self.name.clone())
    }
}

/// A `map[string]string` of the API, as read; other values are passed over.
pub(crate) fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_application_is_reduced_to_its_git_repositories() {
        let app = Application::from_value(&json!({
            "metadata": {"name": "app", "namespace": "argocd", "labels": {"team": "a"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{…}"}},
            "spec": {
                "source": {"repoURL": "https://github.com/acme/app", "path": "k8s"},
                "sources": [
                    {"repoURL": "https://charts.example.com", "chart": "nginx"},
                    {"repoURL": "oci://ghcr.io/acme/charts"},
                    {"repoURL": "https://github.com/acme/values", "ref": "values"},
                    {"repoURL": "https://github.com/acme/app"},
                    {"repoURL": "https://bot: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@github.com/acme/secret"},
                    {"repoURL": "{{ .url }}"}
                ]
            }
        }))
        .unwrap();
        assert_eq!(app.project, "default");
        assert_eq!(
            app.reads,
            ["https://github.com/acme/app", "https://github.com/acme/values"]
        );
        assert!(app.pushes.is_empty());
        assert_eq!(app.urls_with_credentials, 1);
        assert_eq!(app.write_back_source.as_deref(), Some("https://github.com/acme/app"));
        assert_eq!(app.labels["team"], "a");
        assert!(app.annotations.is_none() && !app.image_list);
    }

    #[test]
    fn the_source_hydrator_reads_its_dry_and_sync_sources_and_pushes_to_the_sync_one() {
        let app = Application::from_value(&json!({
            "metadata": {"name": "h", "namespace": "argocd"},
            "spec": {"project": "team", "sourceHydrator": {
                "drySource": {"repoURL": "https://github.com/acme/dry", "targetRevision": "HEAD", "path": "apps"},
                "syncSource": {"targetBranch": "env/prod", "path": "apps"}
            }}
        }))
        .unwrap();
        assert_eq!(app.project, "team");
        assert_eq!(app.reads, ["https://github.com/acme/dry"]);
        assert_eq!(app.pushes, ["https://github.com/acme/dry"]);
        let app = Application::from_value(&json!({
            "metadata": {"name": "h", "namespace": "argocd"},
            "spec": {"sourceHydrator": {
                "drySource": {"repoURL": "https://github.com/acme/dry"},
                "syncSource": {"targetBranch": "main", "path": "apps", "repoURL": "https://github.com/acme/rendered"}
            }}
        }))
        .unwrap();
        assert_eq!(
            app.reads,
            ["https://github.com/acme/dry", "https://github.com/acme/rendered"]
        );
        assert_eq!(app.pushes, ["https://github.com/acme/rendered"]);
    }

    #[test]
    fn image_updater_writes_back_to_the_helm_or_kustomize_source_of_several() {
        let app = Application::from_value(&json!({
            "metadata": {"name": "m", "namespace": "argocd"},
            "spec": {"sources": [
                {"repoURL": "https://github.com/acme/values", "ref": "values"},
                {"repoURL": "https://github.com/acme/app", "kustomize": {}}
            ]}
        }))
        .unwrap();
        assert_eq!(app.write_back_source.as_deref(), Some("https://github.com/acme/app"));
        assert!(Application::from_value(&json!({"metadata": {}})).is_none());
    }
}
