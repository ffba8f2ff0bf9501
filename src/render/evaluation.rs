//! One credential Secret judged as the validating webhook would judge its creation now, in the form
//! `scopegate check` and `scopegate audit` report: the row of a table, an object of `-o json`, a
//! result of a PolicyReport. Pure.

use serde::{Serialize, Serializer};

use super::annotations::timestamp;
use super::enforcement::{enforcement, secret_ref};
use crate::config::{Mode, ProviderKind};
use crate::credential::{CredentialKind, Role, SKIP_ANNOTATION, SecretObject};
use crate::engine::{Access, Judgement, Reach};
use crate::policy::{Outcome, Problem};

/// What scopegate found about one Secret. Field names and values are the `-o json` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub namespace: String,
    pub name: String,
    /// Where the Secret came from: `FILE#N` (the N-th Secret of a file), `stdin#N`, `--url`, `cluster`.
    pub source: String,
    /// Whether the validating webhook would admit it, with the configured mode.
    pub allowed: bool,
    #[serde(serialize_with = "as_str")]
    pub verdict: Outcome,
    #[serde(serialize_with = "opt_as_str")]
    pub provider: Option<ProviderKind>,
    #[serde(serialize_with = "opt_as_str")]
    pub token_kind: Option<CredentialKind>,
    #[serde(serialize_with = "opt_as_str")]
    pub role: Option<Role>,
    /// The Secret's repository URL (or prefix), without credentials.
    pub url: Option<String>,
    pub scopes: Vec<String>,
    pub missing: Vec<String>,
    pub excess: Vec<String>,
    /// RFC 3339, whole seconds.
    #[serde(serialize_with = "opt_timestamp")]
    pub expires_at: Option<jiff::Timestamp>,
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
    pub uid: Option<String>,
    /// The provider could not be asked (the verdict is `unverified` for that reason).
    #[serde(skip)]
    pub provider_failed: bool,
}

/// What a probe found about one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum ReachResult {
    Reachable,
    Unreachable,
    Unknown,
}

impl ReachResult {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One repository a credential must reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryReach {
    pub url: String,
    #[serde(serialize_with = "as_str")]
    pub access: Access,
    #[serde(serialize_with = "as_str")]
    pub result: ReachResult,
    /// Why, when not reachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What needs it: `Application argocd/app`, `ApplicationSet …`, `Secret …`, `sharedConfigurationRepo`.
    pub used_by: Vec<String>,
}

/// The one string of a type (its `as_str`), for serde.
pub(crate) trait Named {
    fn name(&self) -> &'static str;
}

macro_rules! named {
    ($($t:ty),*) => {$(impl Named for $t { fn name(&self) -> &'static str { self.as_str() } })*};
}
named!(Outcome, ProviderKind, CredentialKind, Role, Access, ReachResult);

fn as_str<S: Serializer, T: Named>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

fn opt_as_str<S: Serializer, T: Named>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.name()),
        None => s.serialize_none(),
    }
}

fn opt_timestamp<S: Serializer>(v: &Option<jiff::Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(t) => s.serialize_str(&timestamp(*t)),
        None => s.serialize_none(),
    }
}

impl Evaluation {
    /// A Secret judged at rest (`skip_set_aside`: its skip annotation was set aside), as the
    /// validating webhook in `mode` would answer its creation.
    pub fn new(secret: &SecretObject, source: String, judgement: &Judgement, skip_set_aside: bool, mode: Mode) -> Self {
        let v = &judgement.verdict;
        let mut e = Evaluation {
            namespace: secret.namespace.clone(),
            name: secret.display_name().to_owned(),
            source,
            allowed: true,
            verdict: v.outcome,
            provider: None,
            token_kind: None,
            role: None,
            url: None,
            scopes: Vec::new(),
            missing: Vec::new(),
            excess: Vec::new(),
            expires_at: None,
            owner: None,
            message: String::new(),
            warnings: Vec::new(),
            expiring: false,
            repositories: Vec::new(),
            unreachable: Vec::new(),
            uid: None,
            provider_failed: false,
        };
        if judgement.is_ignored() {
            return e;
        }
        e.provider = v.provider;
        e.token_kind = v.token_kind;
        e.role = v.role;
        e.url = secret.display_url();
        e.scopes = v.scopes.iter().cloned().collect();
        e.missing = v.missing.clone();
        e.excess = v.excess.clone();
        e.expires_at = v.expires_at;
        e.owner = v.owner.clone();
        e.provider_failed = judgement.has(|p| matches!(p, Problem::ProviderFailed { .. }));
        e.expiring = judgement.has(|p| matches!(p, Problem::ExpiresSoon { .. }));
        let enforced = enforcement(judgement, mode, &secret_ref(&secret.namespace, secret.display_name()));
        e.warnings = enforced.warnings;
        if skip_set_aside {
            e.warnings.push(format!(
                "{SKIP_ANNOTATION} is set: the webhook admits this Secret without these checks when the user who writes it may skip (skipValidation)."
            ));
        }
        match enforced.denial {
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

    /// Record what a probe of `url` found.
    pub fn add_reach(&mut self, url: &str, access: Access, reach: Reach, used_by: Vec<String>) {
        let (result, reason) = match reach {
            Reach::Reachable => (ReachResult::Reachable, None),
            Reach::Unreachable(why) => (ReachResult::Unreachable, Some(why)),
            Reach::Unknown(why) | Reach::Failed(why) => (ReachResult::Unknown, Some(why)),
        };
        if result == ReachResult::Unreachable {
            self.unreachable.push(url.to_owned());
        }
        self.repositories.push(RepositoryReach {
            url: url.to_owned(),
            access,
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

/// The exit status of `check` and `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every Secret would be admitted (and, for audit, reaches what it must).
    Clean = 0,
    /// At least one would be denied (or, for audit, cannot reach a repository it must).
    Findings = 1,
}

#[cfg(test)]
pub(crate) fn evaluation(namespace: &str, name: &str, verdict: Outcome, allowed: bool) -> Evaluation {
    let secret = SecretObject::default();
    let judgement = Judgement {
        verdict: crate::policy::Verdict::new(Outcome::Ignored, None),
        findings: Vec::new(),
        checked_at: jiff::Timestamp::UNIX_EPOCH,
        cache_hit: None,
        answered_at: None,
        budget_spent: None,
    };
    Evaluation {
        namespace: namespace.into(),
        name: name.into(),
        verdict,
        allowed,
        ..Evaluation::new(&secret, "test".into(), &judgement, false, Mode::Enforce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::TokenKind;

    #[test]
    fn the_json_names_and_values_are_the_contract() {
        let mut e = evaluation("argocd", "repo", Outcome::NotAToken, true);
        e.provider = Some(ProviderKind::BitbucketServer);
        e.token_kind = Some(CredentialKind::Token(TokenKind::HttpAccessToken));
        e.role = Some(Role::Runtime);
        e.expires_at = Some(jiff::Timestamp::from_second(1_800_000_000).unwrap());
        e.add_reach(
            "https://github.com/acme/a",
            Access::Write,
            Reach::Unreachable("no".into()),
            vec!["sharedConfigurationRepo".into()],
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["verdict"], "not-a-token");
        assert_eq!(v["provider"], "bitbucket-server");
        assert_eq!(v["tokenKind"], "http-access-token");
        assert_eq!(v["role"], "runtime");
        assert_eq!(v["expiresAt"], "2027-01-15T08:00:00Z");
        assert_eq!(v["repositories"][0]["access"], "write");
        assert_eq!(v["repositories"][0]["result"], "unreachable");
        assert_eq!(v["unreachable"][0], "https://github.com/acme/a");
        let text = serde_json::to_string(&e).unwrap();
        let positions: Vec<usize> = [
            "namespace",
            "name",
            "source",
            "allowed",
            "verdict",
            "provider",
            "tokenKind",
            "role",
            "url",
            "scopes",
            "missing",
            "excess",
            "expiresAt",
            "owner",
            "message",
            "warnings",
            "expiring",
            "repositories",
            "unreachable",
        ]
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
        assert!(positions.is_sorted(), "fields in the documented order: {text}");
        assert_eq!(v.as_object().unwrap().len(), positions.len());
    }
}
