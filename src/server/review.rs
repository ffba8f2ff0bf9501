//! One admission request answered: the request's Secret judged by the engine, the judgement rendered
//! as the validating webhook's denial and warnings or the mutating webhook's annotation patch.

use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::{DynamicObject, response::StatusSummary};
use tokio::time::Instant;

use crate::config::Mode;
use crate::credential::SecretObject;
use crate::engine::{Engine, Judgement, ReviewContext};
use crate::policy::{Outcome, Problem};
use crate::render::annotations::{annotation_patch, annotations};
use crate::render::enforcement::{admission_warnings, enforcement, secret_ref};

/// The two webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Webhook {
    Validate,
    Mutate,
}

impl Webhook {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What happened, for the log line and the metrics.
#[derive(Debug, Clone)]
pub struct Summary {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub operation: Operation,
    /// The verdict (`ignored` when scopegate does not handle the object).
    pub verdict: Outcome,
    pub allowed: bool,
    pub dry_run: bool,
    /// Whether the provider's answer came from the cache (`None`: no provider was asked).
    pub cache_hit: Option<bool>,
    /// The token's expiry, when the provider reported one.
    pub expires_at: Option<jiff::Timestamp>,
}

/// The operation's name, as the API server writes it.
pub fn operation_name(op: &Operation) -> &'static str {
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
    client: Option<std::net::IpAddr>,
) -> (AdmissionReview<DynamicObject>, Summary) {
    let mut summary = Summary {
        uid: req.uid.clone(),
        namespace: req.namespace.clone().unwrap_or_default(),
        name: req.name.clone(),
        operation: req.operation.clone(),
        verdict: Outcome::Ignored,
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
        fresh_since: None,
        client,
    };
    let judgement = engine.judge(&secret, &ctx).await;
    if judgement.is_ignored() {
        return (res.into_review(), summary);
    }
    summary.verdict = judgement.verdict.outcome;
    summary.cache_hit = judgement.cache_hit;
    summary.expires_at = judgement.verdict.expires_at;
    let res = match webhook {
        Webhook::Validate => validate(res, &judgement, engine.config().mode, &secret),
        Webhook::Mutate => mutate(res, &judgement, &secret),
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

/// The validating webhook: enforce, warn or record, by mode.
fn validate(res: AdmissionResponse, judgement: &Judgement, mode: Mode, secret: &SecretObject) -> AdmissionResponse {
    if judgement.findings.is_empty() {
        return res;
    }
    let subject = secret_ref(&secret.namespace, secret.display_name());
    let e = enforcement(judgement, mode, &subject);
    let mut res = res;
    res.warnings = admission_warnings(&subject, e.warnings.iter().map(String::as_str));
    match e.denial {
        None => res,
        Some((code, message)) => {
            let reason = if code == 400 { "BadRequest" } else { "Forbidden" };
            deny(res, code, reason, message)
        }
    }
}

/// The mutating webhook: never denies a well-formed request; records the verdict in annotations.
fn mutate(res: AdmissionResponse, judgement: &Judgement, secret: &SecretObject) -> AdmissionResponse {
    let patch = annotation_patch(
        &secret.annotations,
        &annotations(&judgement.verdict, judgement.checked_at),
    );
    // The mutation replaces the role annotation with the effective role, so the validating webhook
    // can no longer see a weaker ask: say it here.
    let subject = secret_ref(&secret.namespace, secret.display_name());
    let role_notes = judgement
        .findings
        .iter()
        .filter(|f| matches!(f.problem, Problem::RoleIgnored { .. }))
        .map(|f| f.message.as_str());
    let mut res = res;
    res.warnings = admission_warnings(&subject, role_notes);
    if patch.0.is_empty() {
        return res;
    }
    match res.clone().with_patch(patch) {
        Ok(r) => r,
        // A patch of strings always serialises; should it not, admit unannotated rather than block.
        Err(_) => res,
    }
}
