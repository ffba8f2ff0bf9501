//! A loopback stand-in for the Kubernetes API server, for `scopegate audit`: HTTPS with its own CA (put
//! in the kubeconfig it writes), bearer-token authentication, and the list, get and server-side apply
//! endpoints the audit uses, answering as kube-apiserver does — list objects with `metadata.
//! resourceVersion`, items without `kind`/`apiVersion`, pages of at most `page_size` items with
//! `continue` tokens (a server may return fewer than `limit`), label selectors, metadata-only lists
//! (`as=PartialObjectMetadataList`), `Status` objects for errors. Every request is recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

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

#[derive(Default)]
struct Inner {
    /// (plural, namespace) → objects, in insertion order.
    objects: BTreeMap<(String, String), Vec<Value>>,
    requests: Vec<Recorded>,
    /// Resources whose API is not installed (404).
    absent: BTreeSet<String>,
    /// Resources the caller may not list (403).
    forbidden: BTreeSet<String>,
    page_size: usize,
    resource_version: u64,
}

#[derive(Clone)]
pub struct FakeKube {
    pub addr: SocketAddr,
    pub ca_pem: String,
    inner: Arc<Mutex<Inner>>,
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16()
        })),
    )
        .into_response()
}

fn plural_of(obj: &Value) -> String {
    match obj["kind"].as_str().unwrap_or_default() {
        "Secret" => "secrets".into(),
        "Application" => "applications".into(),
        "ApplicationSet" => "applicationsets".into(),
        "PolicyReport" => "policyreports".into(),
        other => format!("{}s", other.to_lowercase()),
    }
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
    let body: Bytes = to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let parsed: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body)
            .ok()
            .or_else(|| serde_norway::from_slice(&body).ok())
    };
    fake.lock().requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        accept: accept.clone(),
        content_type: content_type.clone(),
        body: parsed.clone(),
    });
    if auth != format!("Bearer {TOKEN}") {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/[namespaces/NS/]PLURAL[/NAME] or /apis/GROUP/VERSION/[namespaces/NS/]PLURAL[/NAME]
    let rest: &[&str] = match segs.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
    };
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        _ => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
    };
    {
        let inner = fake.lock();
        if inner.absent.contains(plural) {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
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
    match (method, name) {
        (Method::GET, None) => fake.list(plural, namespace, &query, &accept),
        (Method::GET, Some(name)) => match fake.get(plural, namespace.unwrap_or_default(), name) {
            Some(obj) => axum::Json(obj).into_response(),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("{plural} \"{name}\" not found"),
            ),
        },
        (Method::PATCH, Some(name)) => {
            if content_type != "application/apply-patch+yaml" {
                return status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedMediaType",
                    "not an apply patch",
                );
            }
            let Some(mut obj) = parsed else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "no body");
            };
            obj["metadata"]["resourceVersion"] = json!(fake.next_version().to_string());
            let ns = namespace.unwrap_or_default().to_owned();
            let mut inner = fake.lock();
            let list = inner.objects.entry((plural.to_owned(), ns)).or_default();
            list.retain(|o| o["metadata"]["name"] != name);
            list.push(obj.clone());
            axum::Json(obj).into_response()
        }
        (Method::DELETE, Some(name)) => {
            let ns = namespace.unwrap_or_default().to_owned();
            let mut inner = fake.lock();
            let list = inner.objects.entry((plural.to_owned(), ns)).or_default();
            match list.iter().position(|o| o["metadata"]["name"] == name) {
                // A custom resource without finalizers is gone at once: the answer is the object.
                Some(i) => axum::Json(list.remove(i)).into_response(),
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
                ..Inner::default()
            })),
        };
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
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

    fn next_version(&self) -> u64 {
        let mut inner = self.lock();
        inner.resource_version += 1;
        inner.resource_version
    }

    /// Store an object (with `kind`, `apiVersion` and `metadata.namespace`), as created.
    pub fn add(&self, mut obj: Value) {
        let version = self.next_version();
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        obj["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{version:012}"));
        obj["metadata"]["resourceVersion"] = json!(version.to_string());
        obj["metadata"]["creationTimestamp"] = json!("2026-11-01T10:00:00Z");
        let key = (plural_of(&obj), ns);
        let mut inner = self.lock();
        let list = inner.objects.entry(key).or_default();
        list.retain(|o| o["metadata"]["name"] != name.as_str());
        list.push(obj);
    }

    /// Delete a stored object, as `kubectl delete` would.
    pub fn delete(&self, plural: &str, namespace: &str, name: &str) {
        if let Some(list) = self.lock().objects.get_mut(&(plural.to_owned(), namespace.to_owned())) {
            list.retain(|o| o["metadata"]["name"] != name);
        }
    }

    /// The API of `plural` is not installed: 404 for every request to it.
    pub fn remove_api(&self, plural: &str) {
        self.lock().absent.insert(plural.to_owned());
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

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Stored objects of `plural` in `namespace`.
    pub fn objects(&self, plural: &str, namespace: &str) -> Vec<Value> {
        self.lock()
            .objects
            .get(&(plural.to_owned(), namespace.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// A kubeconfig for this server, with `namespace` as the context's namespace.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: https://{addr}\n    certificate-authority-data: {ca}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: auditor\n    namespace: {namespace}\ncurrent-context: fake\nusers:\n- name: auditor\n  user:\n    token: {TOKEN}\n",
            addr = self.addr
        )
    }

    fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        self.objects(plural, namespace)
            .into_iter()
            .find(|o| o["metadata"]["name"] == name)
    }

    fn list(&self, plural: &str, namespace: Option<&str>, query: &BTreeMap<String, String>, accept: &str) -> Response {
        let (all, page_size, version) = {
            let inner = self.lock();
            let all: Vec<Value> = inner
                .objects
                .iter()
                .filter(|((p, ns), _)| p == plural && namespace.is_none_or(|n| n == ns))
                .flat_map(|(_, objs)| objs.iter().cloned())
                .collect();
            (all, inner.page_size, inner.resource_version)
        };
        let selector = query.get("labelSelector").cloned().unwrap_or_default();
        let matching: Vec<Value> = all
            .into_iter()
            .filter(|o| selector_matches(&selector, &o["metadata"]["labels"]))
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
        let (kind, api_version) = if metadata_only {
            ("PartialObjectMetadataList".to_owned(), "meta.k8s.io/v1".to_owned())
        } else {
            let kind = match plural {
                "secrets" => "SecretList",
                "applications" => "ApplicationList",
                "applicationsets" => "ApplicationSetList",
                "policyreports" => "PolicyReportList",
                _ => "List",
            };
            let api = match plural {
                "secrets" => "v1",
                "policyreports" => "wgpolicyk8s.io/v1alpha2",
                _ => "argoproj.io/v1alpha1",
            };
            (kind.to_owned(), api.to_owned())
        };
        axum::Json(json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items}))
            .into_response()
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
}
