//! What scopegate reads from (and writes to) a cluster, through kube's client: credential Secrets
//! (by label, and `git-default-*` by name from a metadata-only list), the Secrets and ConfigMap the
//! uses of credentials name (read one by one), Argo CD Applications and ApplicationSets and Image
//! Updater's ImageUpdaters, and PolicyReports by server-side apply. Lists are paged.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::credential::{SECRET_TYPE_LABEL, SecretType, USER_SECRET_PREFIX};
use crate::render::policyreport::{FIELD_MANAGER, MANAGED_BY_LABEL, REPORT_NAME};

/// Items per list request.
pub const PAGE: u32 = 250;

pub struct Cluster {
    client: Client,
    /// The context's namespace (or `default`).
    pub default_namespace: String,
    /// The namespace the kubeconfig context names, or the in-cluster service account's.
    pub context_namespace: Option<String>,
}

/// Which namespaces to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespace(String),
}

impl Scope {
    pub fn describe(&self) -> String {
        match self {
            Scope::All => "all namespaces".into(),
            Scope::Namespace(n) => format!("namespace {n}"),
        }
    }
}

fn secrets_resource() -> ApiResource {
    ApiResource::erase::<Secret>(&())
}

pub fn application_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Argo CD Image Updater's `ImageUpdater` resources (v1.x).
pub fn image_updater_resource() -> ApiResource {
    ApiResource {
        group: "argocd-image-updater.argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argocd-image-updater.argoproj.io/v1alpha1".into(),
        kind: "ImageUpdater".into(),
        plural: "imageupdaters".into(),
    }
}

/// Argo CD's ConfigMap of command-line parameters (`applicationsetcontroller.enable.tokenref.strict.mode`).
pub const ARGOCD_CMD_PARAMS: &str = "argocd-cmd-params-cm";
/// Its key that turns the ApplicationSet controller's tokenRef strict mode on.
pub const TOKENREF_STRICT_MODE: &str = "applicationsetcontroller.enable.tokenref.strict.mode";

pub fn policyreport_resource() -> ApiResource {
    ApiResource {
        group: "wgpolicyk8s.io".into(),
        version: "v1alpha2".into(),
        api_version: "wgpolicyk8s.io/v1alpha2".into(),
        kind: "PolicyReport".into(),
        plural: "policyreports".into(),
    }
}

/// A kube error in words a person can act on.
fn explain(e: kube::Error, what: &str) -> anyhow::Error {
    match &e {
        kube::Error::Api(s) if s.code == 403 => anyhow!(
            "not allowed to {what}: {} (the scopegate-audit ClusterRole grants what the audit needs; see manifests/audit)",
            s.message
        ),
        kube::Error::Api(s) => anyhow!("cannot {what}: {} (HTTP {})", s.message, s.code),
        _ => anyhow!("cannot {what}: {e}"),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl Cluster {
    /// Connect with a kubeconfig file, the default kubeconfig ($KUBECONFIG, ~/.kube/config), or the
    /// in-cluster service account.
    pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Self> {
        let options = KubeConfigOptions {
            context: context.map(str::to_owned),
            ..Default::default()
        };
        let kc = match kubeconfig {
            Some(path) => Some(
                Kubeconfig::read_from(path).with_context(|| format!("reading the kubeconfig {}", path.display()))?,
            ),
            None => Kubeconfig::read().ok(),
        };
        // The namespace the context names, when it names one.
        let named = kc.as_ref().and_then(|kc| {
            let name = context.map(str::to_owned).or_else(|| kc.current_context.clone())?;
            kc.contexts
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.context.as_ref())
                .and_then(|c| c.namespace.clone())
        });
        let (config, from_kubeconfig) = match (kubeconfig, kc) {
            (Some(_), Some(kc)) => (
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .context("using the kubeconfig")?,
                true,
            ),
            _ if context.is_some() => (
                Config::from_kubeconfig(&options)
                    .await
                    .context("using the kubeconfig")?,
                true,
            ),
            _ => {
                let config = Config::infer()
                    .await
                    .context("finding a kubeconfig or an in-cluster service account")?;
                let in_cluster = config.cluster_url.host() == Some("kubernetes.default.svc")
                    || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() && named.is_none();
                (config, !in_cluster)
            }
        };
        let default_namespace = config.default_namespace.clone();
        let context_namespace = if from_kubeconfig {
            named
        } else {
            Some(default_namespace.clone())
        };
        let client = Client::try_from(config).context("building the Kubernetes client")?;
        Ok(Self {
            client,
            default_namespace,
            context_namespace,
        })
    }

    /// The client, for kube's runtime (watchers, the event recorder, the Lease).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    fn api(&self, scope: &Scope, ar: &ApiResource) -> Api<DynamicObject> {
        match scope {
            Scope::All => Api::all_with(self.client.clone(), ar),
            Scope::Namespace(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
        }
    }

    /// Every page of a list.
    async fn list_all(api: &Api<DynamicObject>, lp: ListParams, what: &str) -> Result<Vec<DynamicObject>> {
        let mut lp = lp.limit(PAGE);
        let mut out = Vec::new();
        loop {
            let page = api.list(&lp).await.map_err(|e| explain(e, what))?;
            out.extend(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
                _ => return Ok(out),
            }
        }
    }

    /// The credential Secrets in scope: labelled with one of the four secret types, and named
    /// `git-default-*` (found by a metadata-only list — in `user_token_namespaces` only, when it names
    /// any — then read one by one). Of every other Secret's metadata nothing is kept but, while its
    /// page is read, its name.
    pub async fn credential_secrets(
        &self,
        scope: &Scope,
        user_token_namespaces: &BTreeSet<String>,
    ) -> Result<Vec<DynamicObject>> {
        let api = self.api(scope, &secrets_resource());
        let types: Vec<&str> = SecretType::all().map(SecretType::as_str).collect();
        let selector = format!("{SECRET_TYPE_LABEL} in ({})", types.join(","));
        let what = format!("list Secrets in {}", scope.describe());
        let mut secrets = Self::list_all(&api, ListParams::default().labels(&selector), &what).await?;
        let seen: BTreeSet<(String, String)> = secrets
            .iter()
            .map(|s| {
                (
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default(),
                )
            })
            .collect();
        let user_scopes: Vec<Scope> = if user_token_namespaces.is_empty() {
            vec![scope.clone()]
        } else {
            user_token_namespaces
                .iter()
                .filter(|ns| matches!(scope, Scope::All) || *scope == Scope::Namespace((*ns).clone()))
                .map(|ns| Scope::Namespace(ns.clone()))
                .collect()
        };
        let mut names: Vec<(String, String)> = Vec::new();
        for user_scope in &user_scopes {
            let meta = self.api(user_scope, &secrets_resource());
            let mut lp = ListParams::default().limit(PAGE);
            loop {
                let page = meta.list_metadata(&lp).await.map_err(|e| explain(e, &what))?;
                let next = page.metadata.continue_.filter(|t| !t.is_empty());
                names.extend(page.items.into_iter().filter_map(|m| {
                    let name = m.metadata.name.filter(|n| n.starts_with(USER_SECRET_PREFIX))?;
                    Some((m.metadata.namespace.unwrap_or_default(), name))
                }));
                match next {
                    Some(token) => lp = lp.continue_token(&token),
                    None => break,
                }
            }
        }
        for (ns, name) in names.into_iter().filter(|k| !seen.contains(k)) {
            let one: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &ns, &secrets_resource());
            match one.get(&name).await {
                Ok(s) => secrets.push(s),
                // Deleted between the list and the read.
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(explain(e, &format!("read Secret {ns}/{name}"))),
            }
        }
        Ok(secrets)
    }

    /// The labelled credential Secrets (no `git-default-*` ones) of `scope`.
    pub async fn labelled_secrets(&self, scope: &Scope) -> Result<Vec<DynamicObject>> {
        let api = self.api(scope, &secrets_resource());
        let types: Vec<&str> = SecretType::all().map(SecretType::as_str).collect();
        let selector = format!("{SECRET_TYPE_LABEL} in ({})", types.join(","));
        Self::list_all(
            &api,
            ListParams::default().labels(&selector),
            &format!("list Secrets in {}", scope.describe()),
        )
        .await
    }

    /// One Secret, whole, or `None` when there is none by that name.
    pub async fn secret(&self, namespace: &str, name: &str) -> Result<Option<DynamicObject>> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &secrets_resource());
        api.get_opt(name)
            .await
            .map_err(|e| explain(e, &format!("read Secret {namespace}/{name}")))
    }

    /// Whether Argo CD's ApplicationSet controller runs in tokenRef strict mode, by
    /// `argocd-cmd-params-cm` in `namespace` (off when it or the key is absent, as in Argo CD).
    pub async fn tokenref_strict_mode(&self, namespace: &str) -> Result<bool> {
        use k8s_openapi::api::core::v1::ConfigMap;
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let cm = api
            .get_opt(ARGOCD_CMD_PARAMS)
            .await
            .map_err(|e| explain(e, &format!("read ConfigMap {namespace}/{ARGOCD_CMD_PARAMS}")))?;
        Ok(cm
            .and_then(|c| c.data)
            .and_then(|d| d.get(TOKENREF_STRICT_MODE).cloned())
            .is_some_and(|v| v.trim() == "true"))
    }

    /// Objects of one resource in scope; `None` when its API is not installed.
    pub async fn objects(&self, scope: &Scope, ar: &ApiResource) -> Result<Option<Vec<DynamicObject>>> {
        let api = self.api(scope, ar);
        let what = format!("list {}s in {}", ar.kind, scope.describe());
        let mut lp = ListParams::default().limit(PAGE);
        let mut out = Vec::new();
        loop {
            let page = match api.list(&lp).await {
                Ok(p) => p,
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => {
                    return Err(anyhow!(
                        "{:#}; coverage needs them (--no-coverage leaves coverage out)",
                        explain(e, &what)
                    ));
                }
            };
            out.extend(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
                _ => return Ok(Some(out)),
            }
        }
    }

    /// Server-side apply one PolicyReport (owned by field manager `scopegate`, conflicts forced).
    pub async fn apply_report(&self, report: &serde_json::Value) -> Result<()> {
        let ns = report["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = report["metadata"]["name"].as_str().unwrap_or_default();
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &policyreport_resource());
        api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(report))
            .await
            .map_err(|e| explain_report(e, &format!("apply PolicyReport {ns}/{name}")))?;
        Ok(())
    }

    /// scopegate's PolicyReports in scope, other than in the namespaces of `current`: (namespace, name).
    pub async fn stale_reports(&self, scope: &Scope, current: &BTreeSet<String>) -> Result<Vec<(String, String)>> {
        let api = self.api(scope, &policyreport_resource());
        let lp = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={FIELD_MANAGER}"));
        let mut lp = lp.limit(PAGE);
        let mut out = Vec::new();
        loop {
            let page = api
                .list_metadata(&lp)
                .await
                .map_err(|e| explain_report(e, &format!("list PolicyReports in {}", scope.describe())))?;
            for m in page.items {
                let (Some(ns), Some(name)) = (m.metadata.namespace, m.metadata.name) else {
                    continue;
                };
                if name == REPORT_NAME && !current.contains(&ns) {
                    out.push((ns, name));
                }
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
                _ => return Ok(out),
            }
        }
    }

    /// Delete one of scopegate's PolicyReports (already gone is fine).
    pub async fn delete_report(&self, namespace: &str, name: &str) -> Result<()> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &policyreport_resource());
        match api.delete(name, &Default::default()).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(explain_report(e, &format!("delete PolicyReport {namespace}/{name}"))),
        }
    }
}

/// As [`explain`], and a 404 on PolicyReports means their CRD is not installed.
fn explain_report(e: kube::Error, what: &str) -> anyhow::Error {
    match &e {
        kube::Error::Api(s) if s.code == 404 && s.message.contains("could not find the requested resource") => anyhow!(
            "cannot {what}: the PolicyReport API (wgpolicyk8s.io/v1alpha2) is not installed in this cluster; install its CRD (Kyverno installs it) or leave out --apply-reports"
        ),
        _ => explain(e, what),
    }
}
