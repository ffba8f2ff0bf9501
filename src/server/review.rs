//! One admission request answered: the request's Secret judged by the engine, the judgement rendered
//! as the validating webhook's denial and warnings or the mutating webhook's annotation patch.

use kube::core::Status;
use kube::core::admission::Operation;
use tokio::time::Instant;

use super::wire::{Answer, Request};
use crate::config::Mode;
use crate::credential::SecretObject;
use crate::engine::{Engine, Judgement, Origin, ReviewContext};
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
    /// The invalid-token budget that kept the provider from being asked, if one did.
    pub budget_spent: Option<crate::grant::BudgetSpent>,
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

fn is_secret(req: &Request) -> bool {
    req.kind.group.is_empty() && req.kind.version == "v1" && req.kind.kind == "Secret"
}

/// Answer one admission request.
pub async fn review(
    engine: &Engine,
    webhook: Webhook,
    req: Request,
    deadline: Option<Instant>,
    origin: Origin,
) -> (Answer, Summary) {
    let judged = is_secret(&req) && matches!(req.operation, Operation::Create | Operation::Update);
    let mut summary = Summary {
        uid: req.uid,
        namespace: req.namespace.unwrap_or_default(),
        name: req.name,
        operation: req.operation,
        verdict: Outcome::Ignored,
        allowed: true,
        dry_run: req.dry_run,
        cache_hit: None,
        expires_at: None,
        budget_spent: None,
    };
    let res = Answer::allow(summary.uid.clone());
    if !judged {
        return (res, summary);
    }
    let is_update = summary.operation == Operation::Update;
    let Some(secret) = req.object else {
        summary.allowed = false;
        let res = deny(
            res,
            400,
            "BadRequest",
            "the AdmissionReview has no request.object".into(),
        );
        return (res, summary);
    };
    if summary.name.is_empty() {
        summary.name = secret.display_name().to_owned();
    }
    let ctx = ReviewContext {
        old: req.old_object.filter(|_| is_update),
        username: req.user_info.username.unwrap_or_default(),
        groups: req.user_info.groups.unwrap_or_default(),
        deadline,
        fresh_since: None,
        origin: Some(origin),
        need: None,
        targets: None,
    };
    let judgement = engine.judge(&secret, &ctx).await;
    if judgement.is_ignored() {
        return (res, summary);
    }
    summary.verdict = judgement.verdict.outcome;
    summary.cache_hit = judgement.cache_hit;
    summary.expires_at = judgement.verdict.expires_at;
    summary.budget_spent = judgement.budget_spent;
    let res = match webhook {
        Webhook::Validate => validate(res, &judgement, engine.config().mode, &secret),
        Webhook::Mutate => mutate(res, &judgement, &secret),
    };
    summary.allowed = res.allowed;
    (res, summary)
}

fn deny(mut res: Answer, code: u16, reason: &str, message: String) -> Answer {
    res.allowed = false;
    res.status = Status::failure(&message, reason).with_code(code);
    res
}

/// The validating webhook: enforce, warn or record, by mode.
fn validate(res: Answer, judgement: &Judgement, mode: Mode, secret: &SecretObject) -> Answer {
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
fn mutate(res: Answer, judgement: &Judgement, secret: &SecretObject) -> Answer {
    let patch = annotation_patch(
        &secret.annotations,
        &annotations(&judgement.verdict, judgement.checked_at),
    );
    // The mutation replaces the role annotation with the effective role, so the validating webhook
    // can no longer see a weaker ask: say it here.
    let mut res = res;
    let role_notes = |f: &&crate::engine::Finding| matches!(f.problem, Problem::RoleIgnored { .. });
    if judgement.findings.iter().any(|f| role_notes(&f)) {
        let subject = secret_ref(&secret.namespace, secret.display_name());
        res.warnings = admission_warnings(
            &subject,
            judgement.findings.iter().filter(role_notes).map(|f| f.message.as_str()),
        );
    }
    if patch.0.is_empty() {
        return res;
    }
    // A patch of strings always serialises; should it not, admit unannotated rather than block.
    res.patch = serde_json::to_vec(&patch).ok();
    res
}
