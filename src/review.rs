//! AdmissionReview in, AdmissionReview out: the part of the webhook that knows the admission contract
//! and nothing about HTTP or providers.

use std::collections::BTreeMap;
use std::time::Duration;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::{DynamicObject, response::StatusSummary};
use serde_json::Value;
use tokio::time::Instant;

use crate::config::Mode;
use crate::credential::SecretObject;
use crate::engine::{Decision, Engine, ReviewContext};
use crate::policy::{Problem, Verdict};
use crate::report;

/// The two webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhook {
    Validate,
    Mutate,
}

impl Webhook {
    pub fn as_str(self) -> &'static str {
        match self {
            Webhook::Validate => "validate",
            Webhook::Mutate => "mutate",
        }
    }
}

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
/// keep the shape of the message and drop the values. Field names in "missing field" are ours, not input.
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
/// server's decoder accepts, but the documented wire form is the string.
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

/// Parse the API server's `?timeout=` (a Go duration such as `10s`, `1m0s` or `2.5s`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The deadline for an answer: the API server's timeout less a margin (a fifth, at most one second),
/// or ten seconds (its default) when it sent none.
pub fn deadline(timeout: Option<Duration>, start: Instant) -> Instant {
    let t = timeout.unwrap_or(Duration::from_secs(10));
    let margin = (t / 5).min(Duration::from_secs(1));
    start + t.saturating_sub(margin)
}

/// What happened, for the log line and the metrics.
#[derive(Debug, Clone)]
pub struct Summary {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub operation: &'static str,
    /// The verdict, or `ignored` when scopegate does not handle the object.
    pub verdict: &'static str,
    pub allowed: bool,
    pub dry_run: bool,
    /// Whether the provider's answer came from the cache (`None`: no provider was asked).
    pub cache_hit: Option<bool>,
    /// The token's expiry, when the provider reported one.
    pub expires_at: Option<jiff::Timestamp>,
}

fn operation(op: &Operation) -> &'static str {
    match op {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

fn is_secret(req: &AdmissionRequest<DynamicObject>) -> bool {
    req.kind.group.is_empty() && req.kind.version == "v1" && req.kind.kind == "Secret"
}

/// Answer one admission request.
pub async fn review(
    engine: &Engine,
    webhook: Webhook,
    req: AdmissionRequest<DynamicObject>,
    deadline: Option<Instant>,
) -> (AdmissionReview<DynamicObject>, Summary) {
    let mut summary = Summary {
        uid: req.uid.clone(),
        namespace: req.namespace.clone().unwrap_or_default(),
        name: req.name.clone(),
        operation: operation(&req.operation),
        verdict: crate::metrics::IGNORED,
        allowed: true,
        dry_run: req.dry_run,
        cache_hit: None,
        expires_at: None,
    };
    let res = AdmissionResponse::from(&req);
    if !is_secret(&req) || !matches!(req.operation, Operation::Create | Operation::Update) {
        return (res.into_review(), summary);
    }
    let is_update = req.operation == Operation::Update;
    let AdmissionRequest {
        object,
        old_object,
        user_info,
        ..
    } = req;
    let Some(obj) = object else {
        summary.allowed = false;
        let res = deny(
            res,
            400,
            "BadRequest",
            "the AdmissionReview has no request.object".into(),
        );
        return (res.into_review(), summary);
    };
    // The request is ours: the object moves into the engine's view of it, no copy.
    let secret = SecretObject::from_dynamic_owned(obj);
    if summary.name.is_empty() {
        summary.name = secret.display_name().to_owned();
    }
    let ctx = ReviewContext {
        old: old_object.filter(|_| is_update).map(SecretObject::from_dynamic_owned),
        username: user_info.username.unwrap_or_default(),
        groups: user_info.groups.unwrap_or_default(),
        deadline,
    };
    let decision = engine.judge(&secret, &ctx).await;
    let Some(verdict) = &decision.verdict else {
        return (res.into_review(), summary);
    };
    summary.verdict = verdict.outcome.as_str();
    summary.cache_hit = decision.cache_hit;
    summary.expires_at = verdict.expires_at;
    let res = match webhook {
        Webhook::Validate => validate(res, &decision, engine.config().mode, &secret),
        Webhook::Mutate => mutate(res, &decision, verdict, &secret),
    };
    summary.allowed = res.allowed;
    (res.into_review(), summary)
}

fn deny(mut res: AdmissionResponse, code: u16, reason: &str, message: String) -> AdmissionResponse {
    res = res.deny(message);
    res.result.code = code;
    res.result.reason = reason.to_owned();
    res.result.status = Some(StatusSummary::Failure);
    res
}

fn warnings<'a>(subject: &str, texts: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
    let out: Vec<String> = texts
        .flat_map(|t| report::split_warning(&format!("scopegate: {subject}: {t}")))
        .collect();
    (!out.is_empty()).then_some(out)
}

/// What the validating webhook answers about a decision, by mode: a denial, and warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enforcement {
    /// `(HTTP status code, message)` when the request is refused.
    pub denial: Option<(u16, String)>,
    /// Each warning as one text, not yet split to the API server's length limit.
    pub warnings: Vec<String>,
}

/// The validating webhook's answer: enforce, warn or record, by mode. `subject` names the Secret.
pub fn enforcement(decision: &Decision, mode: Mode, subject: &str) -> Enforcement {
    let denials: Vec<(u16, &str)> = decision.denials().collect();
    let own = |texts: &mut dyn Iterator<Item = &str>| texts.map(str::to_owned).collect::<Vec<_>>();
    match mode {
        Mode::Audit => Enforcement::default(),
        Mode::Warn => Enforcement {
            denial: None,
            warnings: own(&mut denials.iter().map(|(_, m)| *m).chain(decision.warnings())),
        },
        Mode::Enforce => {
            let warnings = own(&mut decision.warnings());
            if denials.is_empty() {
                return Enforcement { denial: None, warnings };
            }
            let code = if denials.iter().any(|(c, _)| *c == 400) {
                400
            } else {
                403
            };
            let text = denials.iter().map(|(_, m)| *m).collect::<Vec<_>>().join(" ");
            Enforcement {
                denial: Some((code, format!("{subject}: {text}"))),
                warnings,
            }
        }
    }
}

/// The validating webhook: enforce, warn or record, by mode.
fn validate(res: AdmissionResponse, decision: &Decision, mode: Mode, secret: &SecretObject) -> AdmissionResponse {
    if decision.findings.is_empty() {
        return res;
    }
    let subject = report::subject(&secret.namespace, secret.display_name());
    let e = enforcement(decision, mode, &subject);
    let mut res = res;
    res.warnings = warnings(&subject, e.warnings.iter().map(String::as_str));
    match e.denial {
        None => res,
        Some((code, message)) => {
            let reason = if code == 400 { "BadRequest" } else { "Forbidden" };
            deny(res, code, reason, message)
        }
    }
}

/// Annotation keys scopegate writes. Every other `scopegate.dev/` key except the inputs is removed.
pub mod annotation {
    pub const PREFIX: &str = "scopegate.dev/";
    pub const VERDICT: &str = "scopegate.dev/verdict";
    pub const PROVIDER: &str = "scopegate.dev/provider";
    pub const TOKEN_KIND: &str = "scopegate.dev/token-kind";
    pub const ROLE: &str = "scopegate.dev/role";
    pub const SCOPES: &str = "scopegate.dev/scopes";
    pub const MISSING: &str = "scopegate.dev/missing";
    pub const EXCESS: &str = "scopegate.dev/excess";
    pub const EXPIRES_AT: &str = "scopegate.dev/expires-at";
    pub const OWNER: &str = "scopegate.dev/owner";
    pub const REASON: &str = "scopegate.dev/reason";
    pub const CHECKED_AT: &str = "scopegate.dev/checked-at";
    /// Annotations people write for scopegate to read; never touched.
    pub const INPUTS: &[&str] = &[crate::credential::SKIP_ANNOTATION, crate::credential::PROBE_ANNOTATION];
}

/// The annotations for a verdict.
pub fn annotations(v: &Verdict, checked_at: jiff::Timestamp) -> BTreeMap<&'static str, String> {
    use annotation::*;
    let second = |t: jiff::Timestamp| t.round(jiff::Unit::Second).unwrap_or(t).to_string();
    let mut a = BTreeMap::new();
    a.insert(VERDICT, v.outcome.as_str().to_owned());
    if let Some(p) = v.provider {
        a.insert(PROVIDER, p.as_str().to_owned());
    }
    if let Some(k) = v.token_kind {
        a.insert(TOKEN_KIND, k.to_owned());
    }
    if let Some(r) = v.role {
        a.insert(ROLE, r.as_str().to_owned());
    }
    // A BTreeSet: already sorted.
    a.insert(
        SCOPES,
        v.scopes.iter().map(String::as_str).collect::<Vec<_>>().join(","),
    );
    a.insert(MISSING, v.missing.join(","));
    a.insert(EXCESS, v.excess.join(","));
    if let Some(t) = v.expires_at {
        a.insert(EXPIRES_AT, second(t));
    }
    if let Some(o) = &v.owner {
        a.insert(OWNER, o.clone());
    }
    if let Some(r) = &v.reason {
        // Annotation values have no hard limit, but a reason is one line.
        a.insert(REASON, r.chars().take(512).collect());
    }
    a.insert(CHECKED_AT, second(checked_at));
    a
}

fn pointer(key: &str) -> PointerBuf {
    PointerBuf::from_tokens(["metadata", "annotations", key])
}

/// The JSON patch that makes the object's `scopegate.dev/` annotations exactly `wanted` (inputs kept),
/// given the annotations it has.
pub fn annotation_patch(existing: &BTreeMap<String, String>, wanted: &BTreeMap<&'static str, String>) -> Patch {
    if existing.is_empty() {
        // Absent or empty: one `add` of the whole map creates (or replaces) it.
        let map: serde_json::Map<String, Value> = wanted
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        return Patch(vec![PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(["metadata", "annotations"]),
            value: Value::Object(map),
        })]);
    }
    let mut ops = Vec::new();
    for key in existing.keys() {
        if key.starts_with(annotation::PREFIX)
            && !annotation::INPUTS.contains(&key.as_str())
            && !wanted.contains_key(key.as_str())
        {
            ops.push(PatchOperation::Remove(RemoveOperation { path: pointer(key) }));
        }
    }
    for (key, value) in wanted {
        if existing.get(*key) != Some(value) {
            ops.push(PatchOperation::Add(AddOperation {
                path: pointer(key),
                value: Value::String(value.clone()),
            }));
        }
    }
    Patch(ops)
}

/// The mutating webhook: never denies a well-formed request; records the verdict in annotations.
fn mutate(res: AdmissionResponse, decision: &Decision, verdict: &Verdict, secret: &SecretObject) -> AdmissionResponse {
    let patch = annotation_patch(&secret.annotations, &annotations(verdict, decision.checked_at));
    // The mutation replaces the role annotation with the effective role, so the validating webhook
    // can no longer see a weaker ask: say it here.
    let subject = report::subject(&secret.namespace, secret.display_name());
    let role_notes: Vec<&str> = decision
        .problems
        .iter()
        .zip(&decision.findings)
        .filter(|(p, _)| matches!(p, Problem::RoleIgnored { .. }))
        .map(|(_, f)| f.message.as_str())
        .collect();
    let mut res = res;
    res.warnings = warnings(&subject, role_notes.into_iter());
    if patch.0.is_empty() {
        return res;
    }
    match res.clone().with_patch(patch) {
        Ok(r) => r,
        // A patch of strings always serialises; should it not, admit unannotated rather than block.
        Err(_) => res,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_are_sent_as_base64() {
        let req: AdmissionRequest<DynamicObject> = parse(include_bytes!(
            "../tests/fixtures/shared/admission-v1-secret-create-openshift.trufflehog.json"
        ))
        .unwrap();
        let res = AdmissionResponse::from(&req)
            .with_patch(Patch(vec![PatchOperation::Remove(RemoveOperation {
                path: pointer("x"),
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
    fn go_durations() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_go_duration("2.5s"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("ten"), None);
        assert_eq!(parse_go_duration("10"), None);
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
            redact_serde("unknown variant `ghp_secret`, expected one of `CREATE`"),
            "unknown variant `…`, expected one of `…`"
        );
        assert_eq!(
            redact_serde("invalid type: string \"ghp_secret\", expected u32"),
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
        let e = parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"ghp_leak"}}"#)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("ghp_leak"), "{e}");
    }
}
