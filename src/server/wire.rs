//! The admission wire format: a request body into the [`Request`] scopegate reads, an [`Answer`] into
//! the response review's bytes, and the API server's `?timeout=` into a deadline. Nothing here judges.
//!
//! A request is read in one pass into what scopegate uses — kube's names and types for its parts
//! (`GroupVersionKind`, `Operation`, the API's `UserInfo`), the object straight into the
//! [`SecretObject`] the engine judges — and everything else in the body (managed fields, the
//! Secret's other keys, `options`) is skipped unread. kube's `AdmissionReview<DynamicObject>` reads
//! the same body into dynamic values first, buffering the request to flatten the review's type
//! fields, then the engine read them again: a third of the CPU a cached review took (docs/operations/performance.md). `src/fuzzing/properties.rs` holds the two readings to the same result.

use std::time::Duration;

use kube::core::GroupVersionKind;
use kube::core::admission::Operation;
use tokio::time::Instant;

use crate::credential::SecretObject;

/// A body that is not an AdmissionReview scopegate can answer.
#[derive(Debug, thiserror::Error)]
pub enum BadReview {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not an admission.k8s.io/v1 AdmissionReview: {0}")]
    NotAReview(String),
    #[error("apiVersion {0:?} is not supported: scopegate answers admission.k8s.io/v1 AdmissionReview only")]
    Version(String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
}

/// What scopegate reads of an admission request (`admission.k8s.io/v1` `AdmissionRequest`): the
/// fields kube's `AdmissionRequest` requires are required here too.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub uid: String,
    pub kind: GroupVersionKind,
    /// Required, as in kube's type; scopegate decides by `kind`.
    #[allow(dead_code)]
    resource: serde::de::IgnoredAny,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub operation: Operation,
    pub user_info: k8s_openapi::api::authentication::v1::UserInfo,
    pub object: Option<SecretObject>,
    pub old_object: Option<SecretObject>,
    #[serde(default)]
    pub dry_run: bool,
}

/// The review around a request: its type fields and the request.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    #[serde(default)]
    request: Option<Request>,
}

/// Parse a request body. Error messages never quote values from the body (they could be secrets).
pub fn parse(body: &[u8]) -> Result<Request, BadReview> {
    let review: Envelope = serde_json::from_slice(body).map_err(|e| {
        let at = format!("line {} column {}", e.line(), e.column());
        match e.classify() {
            serde_json::error::Category::Data => {
                BadReview::NotAReview(format!("{} at {at}", redact_serde(&e.to_string())))
            }
            _ => BadReview::NotJson(format!("malformed JSON at {at}")),
        }
    })?;
    if review.kind != "AdmissionReview" {
        return Err(BadReview::NotAReview(format!("kind is {:?}", review.kind)));
    }
    if review.api_version != "admission.k8s.io/v1" {
        return Err(BadReview::Version(review.api_version));
    }
    review.request.ok_or(BadReview::NoRequest)
}

/// serde's messages quote input values in backticks (`invalid type: string "…"`, ``unknown variant `…` ``);
/// keep the shape of the message and drop the values. Field names in "missing field" are ours, not
/// input. Hand-written because no library redacts serde's messages, and a body may hold a token.
fn redact_serde(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    if msg.starts_with("missing field") || msg.starts_with("duplicate field") {
        return msg.to_owned();
    }
    let mut out = String::new();
    let mut inside = false;
    for c in msg.chars() {
        if c == '`' {
            if !inside {
                out.push_str("`…");
            }
            inside = !inside;
            if !inside {
                out.push('`');
            }
            continue;
        }
        if !inside {
            out.push(c);
        }
    }
    // Quoted strings in "invalid type: string \"…\"" messages.
    match out.find(": string \"") {
        Some(i) => {
            let rest = &out[i + 10..];
            let end = rest.find('"').map(|j| i + 10 + j + 1).unwrap_or(out.len());
            format!("{}: string{}", &out[..i], &out[end..])
        }
        None => out,
    }
}

/// The answer to one request: `AdmissionResponse`'s fields, kube's `Status` for the result.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub uid: String,
    pub allowed: bool,
    pub status: kube::core::Status,
    /// A JSON patch (serialised), for the mutating webhook.
    pub patch: Option<Vec<u8>>,
    pub warnings: Option<Vec<String>>,
}

impl Answer {
    /// Allowed, with nothing to say: the answer to everything scopegate does not judge.
    pub fn allow(uid: String) -> Self {
        Self {
            uid,
            allowed: true,
            ..Self::default()
        }
    }
}

/// The response review as it goes on the wire: kube's `AdmissionReview` field names, with `patch`
/// (Go `[]byte`) as the documented base64 string (kube-core writes an array of numbers, which the API
/// server's decoder also accepts).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct WireReview<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: WireResponse<'a>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    uid: &'a str,
    allowed: bool,
    status: &'a kube::core::Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a Vec<String>>,
}

/// Serialise an answer as the response review for the wire.
pub fn to_json(answer: &Answer) -> Result<Vec<u8>, serde_json::Error> {
    use base64::Engine as _;
    let patch = answer
        .patch
        .as_ref()
        .map(|p| base64::engine::general_purpose::STANDARD.encode(p));
    serde_json::to_vec(&WireReview {
        api_version: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: WireResponse {
            uid: &answer.uid,
            allowed: answer.allowed,
            status: &answer.status,
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch,
            warnings: answer.warnings.as_ref(),
        },
    })
}

/// The query string the API server appends to the webhook path: `?timeout=10s` (a Go duration).
#[derive(Debug, Default, serde::Deserialize)]
pub struct WebhookQuery {
    pub timeout: Option<kube::core::Duration>,
}

impl WebhookQuery {
    /// The timeout the API server gave, if it gave a usable one.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout.filter(|d| !d.is_negative()).map(Duration::from)
    }
}

/// The deadline for an answer: the API server's timeout less a margin (a fifth, at most one second),
/// or ten seconds (its default) when it sent none.
pub fn deadline(timeout: Option<Duration>, start: Instant) -> Instant {
    let t = timeout.unwrap_or(Duration::from_secs(10));
    let margin = (t / 5).min(Duration::from_secs(1));
    start + t.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use json_patch::jsonptr::PointerBuf;
    use json_patch::{Patch, PatchOperation, RemoveOperation};
    use kube::core::DynamicObject;
    use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
    use serde_json::Value;

    /// The answer on the wire is kube's serialisation of the same response, but for the patch, which
    /// is the documented base64 string.
    #[test]
    fn answers_are_kubes_responses_with_base64_patches() {
        let body = include_bytes!("../../tests/fixtures/shared/admission-v1-secret-create-openshift.trufflehog.json");
        let req = parse(body).unwrap();
        let kube_req: AdmissionRequest<DynamicObject> = serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(req.uid, kube_req.uid);
        assert_eq!(req.kind, kube_req.kind);
        assert_eq!(req.operation, kube_req.operation);
        let patch = Patch(vec![PatchOperation::Remove(RemoveOperation {
            path: PointerBuf::from_tokens(["metadata", "annotations", "x"]),
        })]);
        let answer = Answer {
            patch: Some(serde_json::to_vec(&patch).unwrap()),
            warnings: Some(vec!["w".into()]),
            ..Answer::allow(req.uid.clone())
        };
        let v: Value = serde_json::from_slice(&to_json(&answer).unwrap()).unwrap();
        let mut res = AdmissionResponse::from(&kube_req).with_patch(patch).unwrap();
        res.warnings = Some(vec!["w".into()]);
        let mut kube_v = serde_json::to_value(res.into_review()).unwrap();
        kube_v["response"]["patch"] = v["response"]["patch"].clone();
        assert_eq!(v, kube_v);
        let p = v["response"]["patch"].as_str().unwrap();
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
        assert_eq!(decoded, br#"[{"op":"remove","path":"/metadata/annotations/x"}]"#);
        assert_eq!(v["response"]["patchType"], "JSONPatch");
        assert_eq!(v["response"]["uid"], "b9d17c49-1b2c-421a-8ae8-3b3d252d2f61");
        // A denial: kube's Status as kube writes it.
        let denied = Answer {
            allowed: false,
            status: kube::core::Status::failure("no", "Forbidden").with_code(403),
            ..Answer::allow(req.uid.clone())
        };
        let v: Value = serde_json::from_slice(&to_json(&denied).unwrap()).unwrap();
        let kube_v = serde_json::to_value(AdmissionResponse::from(&kube_req).deny("no").into_review()).unwrap();
        assert_eq!(v["response"]["allowed"], kube_v["response"]["allowed"]);
        assert_eq!(v["response"]["status"]["message"], "no");
        assert_eq!(v["response"]["status"]["code"], 403);
    }

    /// The lean request holds what kube's reads of the same captured reviews: the same object.
    #[test]
    fn requests_read_what_kube_reads() {
        for body in [
            &include_bytes!("../../tests/fixtures/shared/admission-v1-secret-create-openshift.trufflehog.json")[..],
            &include_bytes!("../../tests/fixtures/shared/admission-v1-pod-create.kubewarden-policy-server.json")[..],
            &include_bytes!("../../tests/fixtures/shared/admission-v1-pod-create-gke.kube-rs.json")[..],
        ] {
            let req = parse(body).unwrap();
            let kube_req: AdmissionRequest<DynamicObject> =
                serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
                    .unwrap()
                    .try_into()
                    .unwrap();
            assert_eq!(
                (&req.uid, &req.kind, &req.name),
                (&kube_req.uid, &kube_req.kind, &kube_req.name)
            );
            assert_eq!((&req.namespace, req.dry_run), (&kube_req.namespace, kube_req.dry_run));
            assert_eq!(req.user_info, kube_req.user_info);
            for (lean, kube) in [(&req.object, &kube_req.object), (&req.old_object, &kube_req.old_object)] {
                match (lean, kube) {
                    (Some(l), Some(k)) => {
                        let k = SecretObject::from_dynamic(k);
                        assert!(l.same_inputs(&k) && l.uid == k.uid, "{l:?} / {k:?}");
                    }
                    (None, None) => {}
                    _ => panic!("one reading has an object and the other none"),
                }
            }
        }
    }

    #[test]
    fn the_api_servers_timeouts_are_go_durations() {
        let timeout = |q: &str| {
            let uri: axum::http::Uri = format!("/validate?{q}").parse().unwrap();
            axum::extract::Query::<WebhookQuery>::try_from_uri(&uri)
                .ok()
                .and_then(|q| q.timeout())
        };
        assert_eq!(timeout("timeout=10s"), Some(Duration::from_secs(10)));
        assert_eq!(timeout("timeout=1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(timeout("timeout=2.5s"), Some(Duration::from_millis(2500)));
        assert_eq!(timeout("timeout=500ms"), Some(Duration::from_millis(500)));
        assert_eq!(timeout("timeout=1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(timeout(""), None);
        assert_eq!(timeout("timeout=ten"), None);
        assert_eq!(timeout("timeout=10"), None);
        assert_eq!(timeout("timeout=-5s"), None);
        assert_eq!(timeout("other=1&timeout=3s"), Some(Duration::from_secs(3)));
    }

    #[test]
    fn deadlines_keep_a_margin() {
        let start = Instant::now();
        assert_eq!(
            deadline(Some(Duration::from_secs(10)), start) - start,
            Duration::from_secs(9)
        );
        assert_eq!(
            deadline(Some(Duration::from_secs(2)), start) - start,
            Duration::from_millis(1600)
        );
        assert_eq!(deadline(None, start) - start, Duration::from_secs(9));
    }

    #[test]
    fn serde_messages_lose_their_values() {
        assert_eq!(
            redact_serde("unknown variant `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`, expected one of `CREATE`"),
            "unknown variant `…`, expected one of `…`"
        );
        assert_eq!(
            redact_serde("invalid type: string \"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\", expected u32"),
            "invalid type: string, expected u32"
        );
        assert_eq!(
            redact_serde("missing field `request` at line 1 column 2"),
            "missing field `request`"
        );
    }

    #[test]
    fn bodies_that_are_not_reviews() {
        assert!(matches!(parse(b"not json"), Err(BadReview::NotJson(_))));
        assert!(matches!(parse(b"{}"), Err(BadReview::NotAReview(_))));
        assert!(matches!(
            parse(br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":null}"#),
            Err(BadReview::Version(_))
        ));
        assert!(matches!(
            parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#),
            Err(BadReview::NoRequest)
        ));
        let e = parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"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"}}"#)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("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"), "{e}");
    }
}
