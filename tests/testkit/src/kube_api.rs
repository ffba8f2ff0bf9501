//! A loopback stand-in for the Kubernetes API server, for `scopegate audit` and `scopegate watch`, and
//! for kubectl: HTTPS with its own CA (put in the kubeconfig it writes), bearer-token authentication,
//! discovery, and the endpoints scopegate uses, answering as kube-apiserver does:
//!
//! - lists with `metadata.resourceVersion`, items without `kind`/`apiVersion`, pages of at most
//!   `page_size` items with `continue` tokens, label and field selectors, metadata-only lists
//!   (`as=PartialObjectMetadataList`);
//! - watches (`watch=true`): JSON-lines streams of `ADDED`/`MODIFIED`/`DELETED` from a
//!   `resourceVersion` (synthetic `ADDED`s from `0` or none), `BOOKMARK`s when
//!   `allowWatchBookmarks=true`, an `ERROR` 410 `Expired` for a resourceVersion it no longer has, a
//!   label selector turning an object that leaves (enters) it into `DELETED` (`ADDED`), metadata-only
//!   watches (`as=PartialObjectMetadata`); streams the test can cut;
//! - create (409 `AlreadyExists`), update (409 `Conflict` on a stale `resourceVersion`), merge and
//!   strategic-merge patches, JSON patches, server-side apply with field ownership (409 `Conflict`
//!   when another manager owns a field the apply changes, unless forced), delete;
//! - `events.k8s.io/v1` Events, also served as `v1` Events the way the API server converts them (what
//!   `kubectl events` reads);
//! - `Status` objects for errors. Every request is recorded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, watch};

pub const TOKEN: &str = "kube-api-test-token";

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub accept: String,
    pub content_type: String,
    pub body: Option<Value>,
}

/// A resource the stand-in serves.
struct Kind {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
}

const KINDS: &[Kind] = &[
    Kind {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        namespaced: true,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        namespaced: false,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
    },
    Kind {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
    },
    Kind {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        namespaced: true,
    },
    Kind {
        group: "wgpolicyk8s.io",
        version: "v1alpha2",
        plural: "policyreports",
        kind: "PolicyReport",
        namespaced: true,
    },
    Kind {
        group: "argoproj.io",
        version: "v1alpha1",
        plural: "applications",
        kind: "Application",
        namespaced: true,
    },
    Kind {
        group: "argoproj.io",
        version: "v1alpha1",
        plural: "applicationsets",
        kind: "ApplicationSet",
        namespaced: true,
    },
    Kind {
        group: "argocd-image-updater.argoproj.io",
        version: "v1alpha1",
        plural: "imageupdaters",
        kind: "ImageUpdater",
        namespaced: true,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
    },
];

fn kind_of(group: &str, plural: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.group == group && k.plural == plural)
}

fn api_version(k: &Kind) -> String {
    if k.group.is_empty() {
        k.version.to_owned()
    } else {
        format!("{}/{}", k.group, k.version)
    }
}

/// Where objects are kept: v1 Events are a view of `events.k8s.io` Events.
fn storage(group: &str, plural: &str) -> (String, String) {
    match (group, plural) {
        ("", "events") => ("events.k8s.io".into(), "events".into()),
        _ => (group.to_owned(), plural.to_owned()),
    }
}

/// One change, as a watch reports it.
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub object: Value,
    /// The object before a modification (for label-selector watches).
    pub before: Option<Value>,
}

#[derive(Default)]
struct Inner {
    /// (group, plural, namespace) → objects, in creation order.
    objects: BTreeMap<(String, String, String), Vec<Value>>,
    /// Server-side apply: (group, plural, namespace, name) → field path → manager.
    owners: BTreeMap<(String, String, String, String), BTreeMap<String, String>>,
    /// Fields each manager set by apply, for removing them when a later apply leaves them out.
    applied: BTreeMap<(String, String, String, String, String), BTreeSet<String>>,
    requests: Vec<Recorded>,
    record: bool,
    absent: BTreeSet<String>,
    forbidden: BTreeSet<String>,
    page_size: usize,
    resource_version: u64,
    history: VecDeque<Change>,
    /// Changes at or below this resourceVersion are gone: a watch from before it gets 410.
    compacted: u64,
}

#[derive(Clone)]
pub struct FakeKube {
    pub addr: SocketAddr,
    pub ca_pem: String,
    inner: Arc<Mutex<Inner>>,
    changes: broadcast::Sender<Change>,
    /// Bumped to end every open watch stream.
    cut: Arc<watch::Sender<u64>>,
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    (code, axum::Json(status_body(code.as_u16(), reason, message))).into_response()
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code
    })
}

fn not_found() -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// One requirement of a label selector.
fn requirement_matches(req: &str, labels: &Value) -> bool {
    let req = req.trim();
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let set = |s: &str| -> Vec<String> {
        s.trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(|v| v.trim().to_owned())
            .collect()
    };
    if let Some((k, v)) = req.split_once(" notin ") {
        return label(k.trim()).is_none_or(|l| !set(v).iter().any(|x| x == l));
    }
    if let Some((k, v)) = req.split_once(" in ") {
        return label(k.trim()).is_some_and(|l| set(v).iter().any(|x| x == l));
    }
    if let Some((k, v)) = req.split_once("!=") {
        return label(k.trim()) != Some(v.trim());
    }
    if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
        return label(k.trim()) == Some(v.trim());
    }
    if let Some(k) = req.strip_prefix('!') {
        return label(k.trim()).is_none();
    }
    label(req).is_some()
}

/// A label selector: requirements separated by commas outside parentheses.
pub fn selector_matches(selector: &str, labels: &Value) -> bool {
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .all(|p| requirement_matches(p, labels))
}

/// A field selector (`a.b=v,c!=w`) over an object's fields.
fn fields_match(selector: &str, obj: &Value) -> bool {
    selector.split(',').filter(|p| !p.trim().is_empty()).all(|req| {
        let field = |path: &str| {
            let mut v = obj;
            for seg in path.trim().split('.') {
                v = &v[seg];
            }
            v.as_str().map(str::to_owned).unwrap_or_default()
        };
        if let Some((k, v)) = req.split_once("!=") {
            field(k) != v.trim()
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            field(k) == v.trim()
        } else {
            false
        }
    })
}

/// An `events.k8s.io/v1` Event as the API server shows it through `v1`.
fn core_event(ev: &Value) -> Value {
    let count = ev["series"]["count"].as_i64().unwrap_or(1);
    let last = ev["series"]["lastObservedTime"]
        .as_str()
        .or(ev["eventTime"].as_str())
        .map(|t| t.split('.').next().unwrap_or(t).trim_end_matches('Z').to_owned() + "Z");
    json!({
        "kind": "Event", "apiVersion": "v1",
        "metadata": ev["metadata"],
        "involvedObject": ev["regarding"],
        "related": ev["related"],
        "reason": ev["reason"],
        "message": ev["note"],
        "type": ev["type"],
        "action": ev["action"],
        "eventTime": ev["eventTime"],
        "firstTimestamp": ev["eventTime"].as_str().map(|t| t.split('.').next().unwrap_or(t).trim_end_matches('Z').to_owned() + "Z"),
        "lastTimestamp": last,
        "count": count,
        "source": {"component": ev["reportingController"]},
        "reportingComponent": ev["reportingController"],
        "reportingInstance": ev["reportingInstance"],
    })
}

/// The leaf fields of an object, as `a.b.c` paths (arrays are atomic), leaving out identity.
fn leaves(v: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if matches!(
                    path.as_str(),
                    "apiVersion" | "kind" | "metadata.name" | "metadata.namespace" | "metadata.resourceVersion"
                ) {
                    continue;
                }
                if child.is_object() && child.as_object().is_some_and(|c| !c.is_empty()) {
                    leaves(child, &path, out);
                } else {
                    out.insert(path, child.clone());
                }
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, seg| v.get(seg))
}

fn remove_path(v: &mut Value, path: &str) {
    let mut segs: Vec<&str> = path.split('.').collect();
    let Some(last) = segs.pop() else { return };
    let mut cur = v;
    for s in segs {
        match cur.get_mut(s) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// RFC 7386 JSON merge patch (a strategic merge patch of plain fields behaves the same).
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

type Key4 = (String, String, String, String);

impl Inner {
    fn list_mut(&mut self, group: &str, plural: &str, ns: &str) -> &mut Vec<Value> {
        self.objects
            .entry((group.to_owned(), plural.to_owned(), ns.to_owned()))
            .or_default()
    }

    fn find(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.objects
            .get(&(group.to_owned(), plural.to_owned(), ns.to_owned()))
            .and_then(|l| l.iter().find(|o| o["metadata"]["name"] == name).cloned())
    }

    fn next_version(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }
}

impl FakeKube {
    /// Start on a loopback port with a fresh CA; lists come in pages of two.
    pub async fn start() -> anyhow::Result<Self> {
        let (ca_pem, cert_pem, key_pem) = ca_and_leaf()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fake = FakeKube {
            addr,
            ca_pem,
            inner: Arc::new(Mutex::new(Inner {
                page_size: 2,
                resource_version: 1000,
                record: true,
                ..Inner::default()
            })),
            changes: broadcast::channel(65_536).0,
            cut: Arc::new(watch::channel(0).0),
        };
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
        let provider = Arc::new(crate::crypto_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let app = axum::Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(crate::serve_tls(listener, acceptor, app));
        Ok(fake)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a change, publish it to open watches, and keep it for watches that resume.
    fn publish(&self, inner: &mut Inner, change: Change) {
        inner.history.push_back(change.clone());
        // The history a real watch cache keeps is bounded too; beyond it a resume gets 410.
        while inner.history.len() > 200_000 {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted = old.rv;
            }
        }
        let _ = self.changes.send(change);
    }

    /// Store a new object, or replace one, with a new resourceVersion; the change is watched.
    fn store(&self, inner: &mut Inner, group: &str, plural: &str, mut obj: Value) -> Value {
        let version = inner.next_version();
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let before = inner.find(group, plural, &ns, &name);
        if obj["metadata"]["uid"].is_null() {
            obj["metadata"]["uid"] = before
                .as_ref()
                .map(|b| b["metadata"]["uid"].clone())
                .unwrap_or_else(|| json!(format!("00000000-0000-4000-8000-{version:012}")));
        }
        if obj["metadata"]["creationTimestamp"].is_null() {
            obj["metadata"]["creationTimestamp"] = before
                .as_ref()
                .map(|b| b["metadata"]["creationTimestamp"].clone())
                .unwrap_or_else(|| json!("2026-11-01T10:00:00Z"));
        }
        obj["metadata"]["resourceVersion"] = json!(version.to_string());
        let list = inner.list_mut(group, plural, &ns);
        match list.iter().position(|o| o["metadata"]["name"] == name.as_str()) {
            Some(i) => list[i] = obj.clone(),
            None => list.push(obj.clone()),
        }
        let kind = if before.is_some() { "MODIFIED" } else { "ADDED" };
        self.publish(
            inner,
            Change {
                rv: version,
                kind,
                group: group.to_owned(),
                plural: plural.to_owned(),
                namespace: ns,
                object: obj.clone(),
                before,
            },
        );
        obj
    }

    fn remove(&self, inner: &mut Inner, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let list = inner.list_mut(group, plural, ns);
        let i = list.iter().position(|o| o["metadata"]["name"] == name)?;
        let mut obj = list.remove(i);
        let version = inner.next_version();
        obj["metadata"]["resourceVersion"] = json!(version.to_string());
        let key: Key4 = (group.into(), plural.into(), ns.into(), name.into());
        inner.owners.remove(&key);
        inner
            .applied
            .retain(|(g, p, n, o, _), _| !(g == group && p == plural && n == ns && o == name));
        self.publish(
            inner,
            Change {
                rv: version,
                kind: "DELETED",
                group: group.into(),
                plural: plural.into(),
                namespace: ns.into(),
                object: obj.clone(),
                before: None,
            },
        );
        Some(obj)
    }

    /// Store an object (with `kind`, `apiVersion` and `metadata.namespace`), as created or updated.
    pub fn add(&self, obj: Value) {
        let (group, plural) = group_plural(&obj);
        let mut inner = self.lock();
        self.store(&mut inner, &group, &plural, obj);
    }

    /// Delete a stored object, as `kubectl delete` would.
    pub fn delete(&self, plural: &str, namespace: &str, name: &str) {
        let group = KINDS
            .iter()
            .find(|k| k.plural == plural && !(k.group.is_empty() && plural == "events"))
            .map(|k| k.group)
            .unwrap_or_default();
        let mut inner = self.lock();
        self.remove(&mut inner, group, plural, namespace, name);
    }

    /// The API of `plural` is not installed: 404 for every request to it.
    pub fn remove_api(&self, plural: &str) {
        self.lock().absent.insert(plural.to_owned());
    }

    /// Serve `plural` again (its CRD installed).
    pub fn restore_api(&self, plural: &str) {
        self.lock().absent.remove(plural);
    }

    /// Listing `plural` is forbidden (403).
    pub fn forbid(&self, plural: &str) {
        self.lock().forbidden.insert(plural.to_owned());
    }

    /// Everything may be listed again.
    pub fn forbid_none(&self) {
        self.lock().forbidden.clear();
    }

    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    /// Keep recording requests (the default), or not (load tests).
    pub fn record_requests(&self, on: bool) {
        self.lock().record = on;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// End every open watch stream (as an API server does on restart or at a watch's timeout).
    pub fn cut_watches(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Forget every change so far: a watch resuming from an earlier resourceVersion gets 410 Gone.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.compacted = inner.resource_version;
        inner.history.clear();
    }

    /// Every change from now on, as it happens.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Open watch streams.
    pub fn watchers(&self) -> usize {
        self.changes.receiver_count()
    }

    /// Wait, at most `within`, until `plural` `namespace/name` does not exist; whether it is gone.
    pub async fn wait_gone(&self, plural: &str, namespace: &str, name: &str, within: Duration) -> bool {
        let mut changes = self.changes.subscribe();
        let absent = || {
            !self
                .objects(plural, namespace)
                .iter()
                .any(|o| o["metadata"]["name"] == name)
        };
        if absent() {
            return true;
        }
        tokio::time::timeout(within, async {
            loop {
                match changes.recv().await {
                    Ok(c)
                        if c.kind == "DELETED"
                            && c.plural == plural
                            && c.namespace == namespace
                            && c.object["metadata"]["name"] == name =>
                    {
                        return;
                    }
                    Ok(_) => {}
                    Err(_) if absent() => return,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        })
        .await
        .is_ok()
    }

    /// Wait, at most `within`, until an object of `plural` in `namespace` satisfies `pred` (as
    /// stored, or as it changes); that object.
    pub async fn wait_for(
        &self,
        plural: &str,
        namespace: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let mut changes = self.changes.subscribe();
        if let Some(found) = self.objects(plural, namespace).into_iter().find(|o| pred(o)) {
            return Some(found);
        }
        tokio::time::timeout(within, async {
            loop {
                match changes.recv().await {
                    Ok(c)
                        if c.plural == plural && c.namespace == namespace && c.kind != "DELETED" && pred(&c.object) =>
                    {
                        return Some(c.object);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(found) = self.objects(plural, namespace).into_iter().find(|o| pred(o)) {
                            return Some(found);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Stored objects of `plural` in `namespace`.
    pub fn objects(&self, plural: &str, namespace: &str) -> Vec<Value> {
        let inner = self.lock();
        inner
            .objects
            .iter()
            .filter(|((_, p, ns), _)| p == plural && ns == namespace)
            .flat_map(|(_, l)| l.iter().cloned())
            .collect()
    }

    /// A kubeconfig for this server, with `namespace` as the context's namespace.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: https://{addr}\n    certificate-authority-data: {ca}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: auditor\n    namespace: {namespace}\ncurrent-context: fake\nusers:\n- name: auditor\n  user:\n    token: {TOKEN}\n",
            addr = self.addr
        )
    }

    fn list(&self, kind: &Kind, namespace: Option<&str>, query: &BTreeMap<String, String>, accept: &str) -> Response {
        let (group, plural) = storage(kind.group, kind.plural);
        let (all, page_size, version) = {
            let inner = self.lock();
            let all: Vec<Value> = inner
                .objects
                .iter()
                .filter(|((g, p, ns), _)| *g == group && *p == plural && namespace.is_none_or(|n| n == ns))
                .flat_map(|(_, objs)| objs.iter().cloned())
                .collect();
            (all, inner.page_size, inner.resource_version)
        };
        let view = |o: Value| {
            if kind.group.is_empty() && kind.plural == "events" {
                core_event(&o)
            } else {
                o
            }
        };
        let selector = query.get("labelSelector").cloned().unwrap_or_default();
        let fields = query.get("fieldSelector").cloned().unwrap_or_default();
        let matching: Vec<Value> = all
            .into_iter()
            .map(view)
            .filter(|o| selector_matches(&selector, &o["metadata"]["labels"]) && fields_match(&fields, o))
            .collect();
        let start: usize = match query.get("continue") {
            Some(token) => match token.strip_prefix("offset-").and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return status(StatusCode::BAD_REQUEST, "BadRequest", "invalid continue token"),
            },
            None => 0,
        };
        let limit: usize = query
            .get("limit")
            .and_then(|l| l.parse().ok())
            .filter(|&l: &usize| l > 0)
            .unwrap_or(usize::MAX);
        let take = limit.min(page_size);
        let page: Vec<Value> = matching.iter().skip(start).take(take).cloned().collect();
        let end = start + page.len();
        let mut metadata = json!({"resourceVersion": version.to_string()});
        if end < matching.len() {
            metadata["continue"] = json!(format!("offset-{end}"));
            metadata["remainingItemCount"] = json!(matching.len() - end);
        }
        let metadata_only = accept.contains("as=PartialObjectMetadataList");
        let items: Vec<Value> = page
            .into_iter()
            .map(|mut o| {
                if metadata_only {
                    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"].take()})
                } else {
                    // List items carry no kind or apiVersion.
                    if let Some(m) = o.as_object_mut() {
                        m.remove("kind");
                        m.remove("apiVersion");
                    }
                    o
                }
            })
            .collect();
        let (list_kind, list_version) = if metadata_only {
            ("PartialObjectMetadataList".to_owned(), "meta.k8s.io/v1".to_owned())
        } else {
            (format!("{}List", kind.kind), api_version(kind))
        };
        axum::Json(json!({"kind": list_kind, "apiVersion": list_version, "metadata": metadata, "items": items}))
            .into_response()
    }

    fn watch(
        &self,
        kind: &'static Kind,
        namespace: Option<String>,
        query: &BTreeMap<String, String>,
        accept: &str,
    ) -> Response {
        let (group, plural) = storage(kind.group, kind.plural);
        let selector = query.get("labelSelector").cloned().unwrap_or_default();
        let fields = query.get("fieldSelector").cloned().unwrap_or_default();
        let bookmarks = query
            .get("allowWatchBookmarks")
            .is_some_and(|v| v == "true" || v == "1");
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(1800));
        let metadata_only = accept.contains("as=PartialObjectMetadata");
        let from: Option<u64> = query
            .get("resourceVersion")
            .filter(|rv| !rv.is_empty() && rv.as_str() != "0")
            .and_then(|rv| rv.parse().ok());
        let mut live = self.changes.subscribe();
        let mut cut = self.cut.subscribe();
        cut.borrow_and_update();
        let core_view = kind.group.is_empty() && kind.plural == "events";
        let present = move |o: &Value| -> Value {
            let o = if core_view { core_event(o) } else { o.clone() };
            if metadata_only {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
            } else {
                o
            }
        };
        let selected = {
            let (selector, fields) = (selector.clone(), fields.clone());
            move |o: &Value| {
                let o = if core_view { core_event(o) } else { o.clone() };
                selector_matches(&selector, &o["metadata"]["labels"]) && fields_match(&fields, &o)
            }
        };
        let relevant = {
            let (group, plural, namespace) = (group.clone(), plural.clone(), namespace.clone());
            move |c: &Change| {
                c.group == group && c.plural == plural && namespace.as_ref().is_none_or(|n| *n == c.namespace)
            }
        };
        // What a change looks like to this watch: a label selector sees objects enter and leave.
        let event_of = {
            let selected = selected.clone();
            move |c: &Change| -> Option<(&'static str, Value)> {
                let now = selected(&c.object);
                let was = c.before.as_ref().is_some_and(&selected);
                match (c.kind, was, now) {
                    ("DELETED", _, true) => Some(("DELETED", c.object.clone())),
                    ("DELETED", _, false) => None,
                    (_, false, true) => Some(("ADDED", c.object.clone())),
                    (_, true, true) => Some(("MODIFIED", c.object.clone())),
                    (_, true, false) => Some(("DELETED", c.object.clone())),
                    (_, false, false) => None,
                }
            }
        };
        let (initial, start_rv, expired) = {
            let inner = self.lock();
            match from {
                Some(rv) if rv < inner.compacted => (Vec::new(), inner.resource_version, true),
                Some(rv) => {
                    let replay: Vec<(&'static str, Value)> = inner
                        .history
                        .iter()
                        .filter(|c| c.rv > rv && relevant(c))
                        .filter_map(&event_of)
                        .collect();
                    (replay, inner.resource_version, false)
                }
                None => {
                    let all: Vec<(&'static str, Value)> = inner
                        .objects
                        .iter()
                        .filter(|((g, p, ns), _)| {
                            *g == group && *p == plural && namespace.as_ref().is_none_or(|n| n == ns)
                        })
                        .flat_map(|(_, l)| l.iter())
                        .filter(|o| selected(o))
                        .map(|o| ("ADDED", o.clone()))
                        .collect();
                    (all, inner.resource_version, false)
                }
            }
        };
        let bookmark_kind = json!({"kind": kind.kind, "apiVersion": api_version(kind)});
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(1024);
        let line = |t: &str, o: Value| -> Bytes {
            let mut b = serde_json::to_vec(&json!({"type": t, "object": o})).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        tokio::spawn(async move {
            if expired {
                let _ = tx
                    .send(Ok(line(
                        "ERROR",
                        status_body(
                            410,
                            "Expired",
                            "too old resource version: the requested resourceVersion is no longer available",
                        ),
                    )))
                    .await;
                return;
            }
            let mut last_rv = start_rv;
            for (t, o) in initial {
                if tx.send(Ok(line(t, present(&o)))).await.is_err() {
                    return;
                }
            }
            let bookmark = |rv: u64| {
                let mut b = bookmark_kind.clone();
                b["metadata"] = json!({"resourceVersion": rv.to_string()});
                b
            };
            if bookmarks && tx.send(Ok(line("BOOKMARK", bookmark(last_rv)))).await.is_err() {
                return;
            }
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tokio::select! {
                    change = live.recv() => match change {
                        Ok(c) => {
                            if c.rv <= start_rv || !relevant(&c) {
                                continue;
                            }
                            last_rv = c.rv;
                            if let Some((t, o)) = event_of(&c)
                                && tx.send(Ok(line(t, present(&o)))).await.is_err()
                            {
                                return;
                            }
                        }
                        // A slow reader missed changes: as an API server would, end the stream.
                        Err(_) => return,
                    },
                    _ = tick.tick(), if bookmarks => {
                        if tx.send(Ok(line("BOOKMARK", bookmark(last_rv)))).await.is_err() {
                            return;
                        }
                    }
                    _ = cut.changed() => return,
                    () = &mut deadline => return,
                }
            }
        });
        let body = Body::from_stream(tokio_stream_from(rx));
        ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
    }

    /// `POST`: create, or 409 `AlreadyExists`.
    fn create(&self, kind: &Kind, namespace: &str, mut obj: Value) -> Response {
        let (group, plural) = storage(kind.group, kind.plural);
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        if name.is_empty() {
            return status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "metadata.name: Required value",
            );
        }
        let mut inner = self.lock();
        if inner.find(&group, &plural, namespace, &name).is_some() {
            return status(
                StatusCode::CONFLICT,
                "AlreadyExists",
                &format!("{} \"{name}\" already exists", kind.plural),
            );
        }
        obj["metadata"]["namespace"] = json!(namespace);
        obj["kind"] = json!(kind.kind);
        obj["apiVersion"] = json!(api_version(kind));
        let stored = self.store(&mut inner, &group, &plural, obj);
        (StatusCode::CREATED, axum::Json(stored)).into_response()
    }

    /// `PUT`: replace, with optimistic concurrency on `metadata.resourceVersion`.
    fn update(&self, kind: &Kind, namespace: &str, name: &str, mut obj: Value, manager: &str) -> Response {
        let (group, plural) = storage(kind.group, kind.plural);
        let mut inner = self.lock();
        let Some(current) = inner.find(&group, &plural, namespace, name) else {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("{} \"{name}\" not found", kind.plural),
            );
        };
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
            && rv != current["metadata"]["resourceVersion"].as_str().unwrap_or_default()
        {
            return conflict_stale(kind, name);
        }
        obj["metadata"]["namespace"] = json!(namespace);
        obj["kind"] = json!(kind.kind);
        obj["apiVersion"] = json!(api_version(kind));
        take_ownership(
            &mut inner,
            (group.clone(), plural.clone(), namespace.into(), name.into()),
            &current,
            &obj,
            manager,
        );
        let stored = self.store(&mut inner, &group, &plural, obj);
        axum::Json(stored).into_response()
    }

    /// `PATCH` in each of the four content types.
    fn patch(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        content_type: &str,
        patch: Value,
        query: &BTreeMap<String, String>,
    ) -> Response {
        let (group, plural) = storage(kind.group, kind.plural);
        let manager = query.get("fieldManager").cloned().unwrap_or_else(|| "unknown".into());
        let key: Key4 = (group.clone(), plural.clone(), namespace.into(), name.into());
        let mut inner = self.lock();
        let current = inner.find(&group, &plural, namespace, name);
        if content_type.starts_with("application/apply-patch") {
            let force = query.get("force").is_some_and(|f| f == "true");
            if manager == "unknown" {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "fieldManager is required for apply patch",
                );
            }
            let mut base = current.clone().unwrap_or_else(|| {
                json!({"apiVersion": api_version(kind), "kind": kind.kind, "metadata": {"name": name, "namespace": namespace}})
            });
            let mut wanted = BTreeMap::new();
            leaves(&patch, "", &mut wanted);
            // Fields another manager owns and this apply changes: a conflict, unless forced.
            let owners = inner.owners.get(&key).cloned().unwrap_or_default();
            let conflicts: Vec<String> = wanted
                .iter()
                .filter(|(path, value)| {
                    owners.get(*path).is_some_and(|o| *o != manager) && get_path(&base, path) != Some(*value)
                })
                .map(|(path, _)| format!(".{path}"))
                .collect();
            if !conflicts.is_empty() && !force {
                let holders: BTreeSet<&String> = conflicts
                    .iter()
                    .filter_map(|c| owners.get(c.trim_start_matches('.')))
                    .collect();
                return status(
                    StatusCode::CONFLICT,
                    "Conflict",
                    &format!(
                        "Apply failed with {} conflict{}: conflict with {}: {}",
                        conflicts.len(),
                        if conflicts.len() == 1 { "" } else { "s" },
                        holders
                            .into_iter()
                            .map(|h| format!("\"{h}\""))
                            .collect::<Vec<_>>()
                            .join(", "),
                        conflicts.join(", ")
                    ),
                );
            }
            // Fields this manager applied before and leaves out now are removed (unless another owns them).
            let applied_key = (
                key.0.clone(),
                key.1.clone(),
                key.2.clone(),
                key.3.clone(),
                manager.clone(),
            );
            let before: BTreeSet<String> = inner.applied.get(&applied_key).cloned().unwrap_or_default();
            for path in before.iter().filter(|p| !wanted.contains_key(*p)) {
                if owners.get(path).is_none_or(|o| *o == manager) {
                    remove_path(&mut base, path);
                }
            }
            merge(&mut base, &patch);
            let owned = inner.owners.entry(key.clone()).or_default();
            for path in before.iter().filter(|p| !wanted.contains_key(*p)) {
                if owned.get(path).is_some_and(|o| *o == manager) {
                    owned.remove(path);
                }
            }
            for path in wanted.keys() {
                owned.insert(path.clone(), manager.clone());
            }
            inner.applied.insert(applied_key, wanted.keys().cloned().collect());
            let stored = self.store(&mut inner, &group, &plural, base);
            let code = if current.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            return (code, axum::Json(stored)).into_response();
        }
        let Some(current) = current else {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("{} \"{name}\" not found", kind.plural),
            );
        };
        let mut next = current.clone();
        if content_type.starts_with("application/json-patch") {
            let Ok(ops) = serde_json::from_value::<json_patch::Patch>(patch) else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "not a JSON patch");
            };
            if let Err(e) = json_patch::patch(&mut next, &ops) {
                return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &e.to_string());
            }
        } else if content_type.starts_with("application/merge-patch")
            || content_type.starts_with("application/strategic-merge-patch")
        {
            if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
                && rv != current["metadata"]["resourceVersion"].as_str().unwrap_or_default()
            {
                return conflict_stale(kind, name);
            }
            merge(&mut next, &patch);
        } else {
            return status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                &format!("the body of the request was in an unknown format: {content_type}"),
            );
        }
        take_ownership(&mut inner, key, &current, &next, &manager);
        let stored = self.store(&mut inner, &group, &plural, next);
        axum::Json(stored).into_response()
    }
}

fn conflict_stale(kind: &Kind, name: &str) -> Response {
    status(
        StatusCode::CONFLICT,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {}.{} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            kind.plural,
            if kind.group.is_empty() { "" } else { kind.group }
        ),
    )
}

/// An update or patch takes the fields it changes (and removes) from whoever owned them.
fn take_ownership(inner: &mut Inner, key: Key4, before: &Value, after: &Value, manager: &str) {
    let (mut was, mut now) = (BTreeMap::new(), BTreeMap::new());
    leaves(before, "", &mut was);
    leaves(after, "", &mut now);
    let owned = inner.owners.entry(key).or_default();
    for (path, value) in &now {
        if was.get(path) != Some(value) {
            owned.insert(path.clone(), manager.to_owned());
        }
    }
    for path in was.keys().filter(|p| !now.contains_key(*p)) {
        owned.remove(path);
    }
}

fn group_plural(obj: &Value) -> (String, String) {
    let av = obj["apiVersion"].as_str().unwrap_or("v1");
    let group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("").to_owned();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let plural = KINDS
        .iter()
        .find(|k| k.kind == kind && k.group == group)
        .map(|k| k.plural.to_owned())
        .unwrap_or_else(|| format!("{}s", kind.to_lowercase()));
    (group, plural)
}

/// The receiving half of a channel as a stream.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn discovery(fake: &FakeKube, segs: &[&str]) -> Option<Response> {
    // An API removed with `remove_api` is not discovered either (its CRD is not installed).
    let absent = fake.lock().absent.clone();
    let present = |k: &&Kind| !absent.contains(k.plural);
    let groups: BTreeMap<&str, Vec<&Kind>> =
        KINDS
            .iter()
            .filter(|k| !k.group.is_empty())
            .filter(present)
            .fold(BTreeMap::new(), |mut m, k| {
                m.entry(k.group).or_insert_with(Vec::new).push(k);
                m
            });
    let resources = |group: &str, version: &str| -> Value {
        let list: Vec<Value> = KINDS
            .iter()
            .filter(present)
            .filter(|k| k.group == group && k.version == version)
            .map(|k| {
                json!({
                    "name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced,
                    "kind": k.kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                })
            })
            .collect();
        let gv = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list})
    };
    let body = match segs {
        ["version"] => {
            json!({"major": "1", "minor": "34", "gitVersion": "v1.34.0-scopegate-standin", "platform": "linux/amd64"})
        }
        ["api"] => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": fake.addr.to_string()}]
        }),
        ["api", "v1"] => resources("", "v1"),
        ["apis"] => json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": groups.iter().map(|(g, kinds)| {
                let v = kinds[0].version;
                json!({"name": g, "versions": [{"groupVersion": format!("{g}/{v}"), "version": v}],
                       "preferredVersion": {"groupVersion": format!("{g}/{v}"), "version": v}})
            }).collect::<Vec<_>>()
        }),
        ["apis", group, version] if groups.contains_key(group) => resources(group, version),
        _ => return None,
    };
    Some(axum::Json(body).into_response())
}

async fn handle(State(fake): State<FakeKube>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let (accept, content_type, auth) = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        (header("accept"), header("content-type"), header("authorization"))
    };
    let body: Bytes = to_bytes(req.into_body(), 4 << 20).await.unwrap_or_default();
    let parsed: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body)
            .ok()
            .or_else(|| serde_norway::from_slice(&body).ok())
    };
    {
        let mut inner = fake.lock();
        if inner.record {
            inner.requests.push(Recorded {
                method: method.to_string(),
                path: path.clone(),
                query: query.clone(),
                accept: accept.clone(),
                content_type: content_type.clone(),
                body: parsed.clone(),
            });
        }
    }
    if auth != format!("Bearer {TOKEN}") {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method == Method::GET
        && let Some(r) = discovery(&fake, &segs)
    {
        return r;
    }
    // /api/v1/[namespaces/NS/]PLURAL[/NAME] or /apis/GROUP/VERSION/[namespaces/NS/]PLURAL[/NAME]
    let (group, rest): (&str, &[&str]) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (group, rest),
        _ => return not_found(),
    };
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return not_found(),
    };
    let Some(kind) = kind_of(group, plural) else {
        return not_found();
    };
    {
        let inner = fake.lock();
        if inner.absent.contains(plural) {
            return not_found();
        }
        if inner.forbidden.contains(plural) {
            return status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!(
                    "{plural} is forbidden: User \"system:serviceaccount:scopegate:scopegate-audit\" cannot list resource \"{plural}\""
                ),
            );
        }
    }
    let ns = namespace.unwrap_or_default();
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method, name) {
        (Method::GET, None) if watching => fake.watch(kind, namespace.map(str::to_owned), &query, &accept),
        (Method::GET, None) => fake.list(kind, namespace, &query, &accept),
        (Method::GET, Some(name)) => {
            let (g, p) = storage(kind.group, kind.plural);
            let found = fake.lock().find(&g, &p, ns, name);
            match found {
                Some(obj) if kind.group.is_empty() && kind.plural == "events" => axum::Json(core_event(&obj)).into_response(),
                Some(obj) if accept.contains("as=PartialObjectMetadata") => axum::Json(
                    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}),
                )
                .into_response(),
                Some(obj) => axum::Json(obj).into_response(),
                None => status(StatusCode::NOT_FOUND, "NotFound", &format!("{plural} \"{name}\" not found")),
            }
        }
        (Method::POST, None) => match parsed {
            Some(obj) => fake.create(kind, ns, obj),
            None => status(StatusCode::BAD_REQUEST, "BadRequest", "no body"),
        },
        (Method::PUT, Some(name)) => match parsed {
            Some(obj) => fake.update(
                kind,
                ns,
                name,
                obj,
                query.get("fieldManager").map(String::as_str).unwrap_or("unknown"),
            ),
            None => status(StatusCode::BAD_REQUEST, "BadRequest", "no body"),
        },
        (Method::PATCH, Some(name)) => match parsed {
            Some(patch) => fake.patch(kind, ns, name, &content_type, patch, &query),
            None => status(StatusCode::BAD_REQUEST, "BadRequest", "no body"),
        },
        (Method::DELETE, Some(name)) => {
            let (g, p) = storage(kind.group, kind.plural);
            let mut inner = fake.lock();
            match fake.remove(&mut inner, &g, &p, ns, name) {
                // A custom resource without finalizers is gone at once: the answer is the object.
                Some(obj) => axum::Json(obj).into_response(),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("{plural} \"{name}\" not found"),
                ),
            }
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "not supported by the stand-in",
        ),
    }
}

/// A CA, and a certificate it signed for 127.0.0.1 and localhost: (CA PEM, certificate PEM, key PEM).
pub fn ca_and_leaf() -> anyhow::Result<(String, String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors_match_as_the_api_server_does() {
        let labels = json!({"argocd.argoproj.io/secret-type": "repo-creds", "team": "a"});
        assert!(selector_matches(
            "argocd.argoproj.io/secret-type in (repository,repo-creds)",
            &labels
        ));
        assert!(!selector_matches(
            "argocd.argoproj.io/secret-type in (repository)",
            &labels
        ));
        assert!(selector_matches("team=a,argocd.argoproj.io/secret-type", &labels));
        assert!(!selector_matches("team!=a", &labels));
        assert!(selector_matches("!missing", &labels));
        assert!(selector_matches("", &json!(null)));
        assert!(!selector_matches("team", &json!(null)));
    }

    #[test]
    fn field_selectors_and_the_v1_view_of_events() {
        let ev = json!({
            "metadata": {"name": "x.1", "namespace": "argocd"},
            "regarding": {"kind": "Secret", "name": "repo", "namespace": "argocd"},
            "note": "lacks repo", "reason": "TokenInsufficient", "type": "Warning",
            "eventTime": "2026-12-01T10:00:00.123456Z", "reportingController": "scopegate.dev/watch",
        });
        let core = core_event(&ev);
        assert_eq!(core["message"], "lacks repo");
        assert_eq!(core["involvedObject"]["name"], "repo");
        assert_eq!(core["count"], 1);
        assert_eq!(core["lastTimestamp"], "2026-12-01T10:00:00Z");
        assert!(fields_match(
            "involvedObject.kind=Secret,involvedObject.name=repo",
            &core
        ));
        assert!(!fields_match("involvedObject.name=other", &core));
    }

    #[test]
    fn merge_patches_set_and_remove() {
        let mut v = json!({"spec": {"a": 1, "b": 2}});
        merge(&mut v, &json!({"spec": {"a": null, "c": 3}}));
        assert_eq!(v, json!({"spec": {"b": 2, "c": 3}}));
    }
}
