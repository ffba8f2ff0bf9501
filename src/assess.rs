//! One credential Secret judged as the validating webhook would judge its creation now, in the form
//! `scopegate check` and `scopegate audit` report: the row of a table, an object of `-o json`, a
//! result of a PolicyReport.

use serde::Serialize;

use crate::credential::{SKIP_ANNOTATION, SecretObject};
use crate::engine::{Access, Engine, Reach, ReviewContext};
use crate::policy::Problem;
use crate::report;
use crate::review;

/// What scopegate found about one Secret. Field names are the `-o json` contract.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub namespace: String,
    pub name: String,
    /// Where the Secret came from: `FILE#N` (the N-th Secret of a file), `stdin#N`, `--url`, `cluster`.
    pub source: String,
    /// Whether the validating webhook would admit it, with the configured mode.
    pub allowed: bool,
    /// `ok`, `insufficient`, `invalid`, `unverified`, `not-a-token`, `skipped`, or `ignored` for a
    /// Secret scopegate does not handle.
    pub verdict: String,
    pub provider: Option<String>,
    pub token_kind: Option<String>,
    pub role: Option<String>,
    /// The Secret's repository URL (or prefix), without credentials.
    pub url: Option<String>,
    pub scopes: Vec<String>,
    pub missing: Vec<String>,
    pub excess: Vec<String>,
    /// RFC 3339.
    pub expires_at: Option<String>,
    pub owner: Option<String>,
    /// What the webhook would say: the denial, or else the warnings; empty when there is nothing to say.
    pub message: String,
    pub warnings: Vec<String>,
    /// Whether the token expires within `expiryWarningDays`.
    pub expiring: bool,
    /// Repositories this credential must reach (audit: what Argo CD syncs through it, the Shared
    /// Configuration Repository for the runtime token), each with what a probe found.
    pub repositories: Vec<RepositoryReach>,
    /// The URLs of `repositories` it cannot reach.
    pub unreachable: Vec<String>,
    #[serde(skip)]
    pub expires_at_ts: Option<jiff::Timestamp>,
    #[serde(skip)]
    pub uid: Option<String>,
    /// The provider could not be asked (the verdict is `unverified` for that reason).
    #[serde(skip)]
    pub provider_failed: bool,
}

/// One repository a credential must reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryReach {
    pub url: String,
    /// `read` or `write`.
    pub access: &'static str,
    /// `reachable`, `unreachable` or `unknown`.
    pub result: &'static str,
    /// Why, when not reachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What needs it: `Application argocd/app`, `ApplicationSet …`, `Secret …`, `sharedConfigurationRepo`.
    pub used_by: Vec<String>,
}

impl Evaluation {
    /// Record what a probe of `url` found.
    pub fn add_reach(&mut self, url: &str, access: Access, reach: Reach, used_by: Vec<String>) {
        let (result, reason) = match reach {
            Reach::Reachable => ("reachable", None),
            Reach::Unreachable(why) => ("unreachable", Some(why)),
            Reach::Unknown(why) => ("unknown", Some(why)),
        };
        if result == "unreachable" {
            self.unreachable.push(url.to_owned());
        }
        self.repositories.push(RepositoryReach {
            url: url.to_owned(),
            access: access.as_str(),
            result,
            reason,
            used_by,
        });
    }

    /// `namespace/name`, or the source when the Secret has no name.
    pub fn display_name(&self) -> String {
        match (self.namespace.is_empty(), self.name.is_empty()) {
            (_, true) => self.source.clone(),
            (true, false) => self.name.clone(),
            (false, false) => format!("{}/{}", self.namespace, self.name),
        }
    }
}

/// Judge `secret` as the validating webhook would judge its creation by nobody in particular.
///
/// A `scopegate.dev/skip-validation` annotation is set aside (the token itself is judged) and said so:
/// who may skip depends on who writes the Secret, which an audit does not know.
pub async fn evaluate(engine: &Engine, secret: &SecretObject, source: String) -> Evaluation {
    let mut judged = secret.clone();
    let skip_set = judged.annotations.remove(SKIP_ANNOTATION).is_some();
    let decision = engine.judge(&judged, &ReviewContext::default()).await;
    let mut e = Evaluation {
        namespace: secret.namespace.clone(),
        name: secret.display_name().to_owned(),
        source,
        allowed: true,
        verdict: crate::metrics::IGNORED.to_owned(),
        ..Evaluation::default()
    };
    let Some(v) = &decision.verdict else {
        return e;
    };
    e.verdict = v.outcome.as_str().to_owned();
    e.provider = v.provider.map(|p| p.as_str().to_owned());
    e.token_kind = v.token_kind.map(str::to_owned);
    e.role = v.role.map(|r| r.as_str().to_owned());
    e.url = credential_url(secret);
    e.scopes = v.scopes.iter().cloned().collect();
    e.missing = v.missing.clone();
    e.excess = v.excess.clone();
    e.expires_at_ts = v.expires_at;
    e.expires_at = v
        .expires_at
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string());
    e.owner = v.owner.clone();
    e.provider_failed = decision
        .problems
        .iter()
        .any(|p| matches!(p, Problem::ProviderFailed { .. }));
    e.expiring = decision
        .problems
        .iter()
        .any(|p| matches!(p, Problem::ExpiresSoon { .. }));
    let subject = report::subject(&secret.namespace, secret.display_name());
    let enforcement = review::enforcement(&decision, engine.config().mode, &subject);
    e.warnings = enforcement.warnings;
    if skip_set {
        e.warnings.push(format!(
            "{SKIP_ANNOTATION} is set: the webhook admits this Secret without these checks when the user who writes it may skip (skipValidation)."
        ));
    }
    match enforcement.denial {
        Some((_, message)) => {
            e.allowed = false;
            e.message = message;
        }
        None => e.message = e.warnings.join(" "),
    }
    if e.message.is_empty()
        && let Some(r) = &v.reason
    {
        e.message = r.clone();
    }
    e
}

/// The Secret's `url`, as a display form without credentials.
fn credential_url(secret: &SecretObject) -> Option<String> {
    let fields = crate::credential::CredentialFields::read(secret).ok()?;
    let raw = fields.url()?;
    crate::credential::RepoUrl::parse(raw).map(|u| u.display())
}
