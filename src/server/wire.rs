//! The admission wire format: a request body into kube's `AdmissionRequest`, a response review into
//! bytes, and the API server's `?timeout=` into a deadline. Nothing here knows Secrets or verdicts.

use std::time::Duration;

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use tokio::time::Instant;

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

/// Parse a request body. Error messages never quote values from the body (they could be secrets).
pub fn parse(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, BadReview> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body).map_err(|e| {
        let at = format!("line {} column {}", e.line(), e.column());
        match e.classify() {
            serde_json::error::Category::Data => {
                BadReview::NotAReview(format!("{} at {at}", redact_serde(&e.to_string())))
            }
            _ => BadReview::NotJson(format!("malformed JSON at {at}")),
        }
    })?;
    if review.types.kind != "AdmissionReview" {
        return Err(BadReview::NotAReview(format!("kind is {:?}", review.types.kind)));
    }
    if review.types.api_version != "admission.k8s.io/v1" {
        return Err(BadReview::Version(review.types.api_version));
    }
    review.try_into().map_err(|_| BadReview::NoRequest)
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

/// The response review as it goes on the wire: kube's `AdmissionResponse` fields, except that
/// `patch` (Go `[]byte`) is a base64 string. kube-core writes it as an array of numbers, which the API
/// server's decoder accepts, but the documented wire form is the string (hence this struct).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct WireReview<'a> {
    api_version: &'a str,
    kind: &'a str,
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
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    audit_annotations: &'a std::collections::HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<&'a Vec<String>>,
}

/// Serialise a response review for the wire.
pub fn to_json(review: &AdmissionReview<DynamicObject>) -> Result<Vec<u8>, serde_json::Error> {
    use base64::Engine as _;
    let Some(res) = review.response.as_ref() else {
        return serde_json::to_vec(review);
    };
    let patch = res
        .patch
        .as_ref()
        .map(|p| base64::engine::general_purpose::STANDARD.encode(p));
    serde_json::to_vec(&WireReview {
        api_version: &review.types.api_version,
        kind: &review.types.kind,
        response: WireResponse {
            uid: &res.uid,
            allowed: res.allowed,
            status: &res.result,
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch,
            audit_annotations: &res.audit_annotations,
            warnings: res.warnings.as_ref(),
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
    use kube::core::admission::AdmissionResponse;
    use serde_json::Value;

    #[test]
    fn patches_are_sent_as_base64() {
        let req: AdmissionRequest<DynamicObject> = parse(include_bytes!(
            "../../tests/fixtures/shared/admission-v1-secret-create-openshift.trufflehog.json"
        ))
        .unwrap();
        let res = AdmissionResponse::from(&req)
            .with_patch(Patch(vec![PatchOperation::Remove(RemoveOperation {
                path: PointerBuf::from_tokens(["metadata", "annotations", "x"]),
            })]))
            .unwrap();
        let review = res.into_review();
        let v: Value = serde_json::from_slice(&to_json(&review).unwrap()).unwrap();
        // Everything else is exactly kube's serialisation.
        let mut kube_v = serde_json::to_value(&review).unwrap();
        kube_v["response"]["patch"] = v["response"]["patch"].clone();
        assert_eq!(v, kube_v);
        let p = v["response"]["patch"].as_str().unwrap();
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
        assert_eq!(decoded, br#"[{"op":"remove","path":"/metadata/annotations/x"}]"#);
        assert_eq!(v["response"]["patchType"], "JSONPatch");
        assert_eq!(v["response"]["uid"], "b9d17c49-1b2c-421a-8ae8-3b3d252d2f61");
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
