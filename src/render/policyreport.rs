//! Evaluations as `wgpolicyk8s.io/v1alpha2` PolicyReports, one per namespace (the format Kyverno's
//! Policy Reporter reads): a `token-scopes` result per credential Secret, a `repository-access`
//! result per credential that must reach repositories and per Application (or ApplicationSet) that
//! needs repositories, and an `scm-credential` result per ApplicationSet generator that holds a token.
//! Pure; the names scopegate's reports carry are here, for whoever writes or deletes them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::annotations::timestamp;
use super::evaluation::{Evaluation, ReachResult};
use super::uses::UseEvaluation;
use crate::policy::Outcome;
use crate::uses::UseVerdict;

/// The report's name in each namespace.
pub const REPORT_NAME: &str = "scopegate";
pub const POLICY: &str = "scopegate";
/// The field manager of server-side apply, and the value of [`MANAGED_BY_LABEL`].
pub const FIELD_MANAGER: &str = "scopegate";
/// The label scopegate's PolicyReports carry.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// `pass`, `fail`, `warn`, `error` or `skip`, and a severity, for a Secret's verdict.
fn token_result(e: &Evaluation) -> (&'static str, &'static str) {
    match e.verdict {
        Outcome::Ignored | Outcome::NotAToken | Outcome::Skipped => ("skip", "info"),
        Outcome::Invalid if !e.allowed => ("fail", "critical"),
        _ if !e.allowed => ("fail", "high"),
        Outcome::Insufficient | Outcome::Invalid => ("fail", "high"),
        // The provider could not be asked: the check itself could not run.
        Outcome::Unverified if e.provider_failed => ("error", "medium"),
        Outcome::Unverified => ("warn", "medium"),
        _ if e.expiring => ("warn", "medium"),
        _ if !e.warnings.is_empty() => ("warn", "low"),
        Outcome::Ok => ("pass", "info"),
    }
}

fn properties(e: &Evaluation) -> BTreeMap<&'static str, String> {
    let mut p = BTreeMap::new();
    p.insert("verdict", e.verdict.as_str().to_owned());
    let mut put = |k: &'static str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            p.insert(k, v);
        }
    };
    put("provider", e.provider.map(|v| v.as_str().to_owned()));
    put("tokenKind", e.token_kind.map(|v| v.as_str().to_owned()));
    put("role", e.role.map(|v| v.as_str().to_owned()));
    put("url", e.url.clone());
    put("expiresAt", e.expires_at.map(timestamp));
    put("owner", e.owner.clone());
    if !e.missing.is_empty() {
        p.insert("missing", e.missing.join(","));
    }
    if !e.excess.is_empty() {
        p.insert("excess", e.excess.join(","));
    }
    p
}

fn resource(e: &Evaluation) -> Value {
    let mut r = json!({"apiVersion": "v1", "kind": "Secret", "namespace": e.namespace, "name": e.name});
    if let Some(uid) = &e.uid {
        r["uid"] = json!(uid);
    }
    r
}

fn use_resource(u: &UseEvaluation) -> Value {
    let mut r =
        json!({"apiVersion": u.kind.api_version(), "kind": u.kind.as_str(), "namespace": u.namespace, "name": u.name});
    if let Some(uid) = &u.uid {
        r["uid"] = json!(uid);
    }
    r
}

/// `pass`, `fail`, `warn` or `error`, and a severity, for a use's verdict.
fn use_result(v: UseVerdict, provider_failed: bool) -> (&'static str, &'static str) {
    match v {
        UseVerdict::Ok => ("pass", "info"),
        UseVerdict::Unverified if provider_failed => ("error", "medium"),
        UseVerdict::Unverified => ("warn", "medium"),
        UseVerdict::Invalid => ("fail", "critical"),
        _ => ("fail", "high"),
    }
}

/// The results of one object's uses, each with its `result`: `repository-access` for the
/// repositories it needs, and an `scm-credential` result per generator holding a token.
fn use_results(u: &UseEvaluation, timestamp: &Value) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let result =
        |rule: &str, (result, severity): (&'static str, &str), message: String, properties: BTreeMap<&str, String>| {
            (
                result,
                json!({
                    "source": "scopegate",
                    "policy": POLICY,
                    "rule": rule,
                    "category": "Git credentials",
                    "result": result,
                    "severity": severity,
                    "scored": true,
                    "timestamp": timestamp,
                    "resources": [use_resource(u)],
                    "message": message,
                    "properties": properties,
                }),
            )
        };
    if !u.repositories.is_empty() {
        let worst = u.repositories.iter().map(|r| r.verdict).max().unwrap_or(UseVerdict::Ok);
        let failed = u.repositories.iter().any(|r| r.verdict == UseVerdict::Unverified) && u.provider_failed;
        let mut props = BTreeMap::new();
        props.insert("verdict", worst.as_str().to_owned());
        props.insert(
            "repositories",
            u.repositories
                .iter()
                .map(|r| r.url.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        let unreachable = u.unreachable();
        if !unreachable.is_empty() {
            props.insert("unreachable", unreachable.join(","));
        }
        let bad: Vec<&str> = u
            .repositories
            .iter()
            .filter(|r| !r.verdict.is_ok())
            .map(|r| r.message.as_str())
            .collect();
        let message = if bad.is_empty() {
            format!("reaches all {} repositories it needs", u.repositories.len())
        } else {
            bad.join(" ")
        };
        out.push(result("repository-access", use_result(worst, failed), message, props));
    }
    for g in &u.generators {
        let mut props = BTreeMap::new();
        props.insert("verdict", g.verdict.as_str().to_owned());
        props.insert("generator", g.generator.clone());
        props.insert("provider", g.provider.to_owned());
        if let Some((ns, name)) = &g.secret {
            props.insert("secret", format!("{ns}/{name}"));
        }
        if !g.missing.is_empty() {
            props.insert("missing", g.missing.join(","));
        }
        let failed = g.verdict == UseVerdict::Unverified && u.provider_failed;
        out.push(result(
            "scm-credential",
            use_result(g.verdict, failed),
            g.message.clone(),
            props,
        ));
    }
    out
}

/// What one result says; [`Finding::json`] adds what every result of scopegate's carries.
struct Finding<'a> {
    rule: &'static str,
    result: &'static str,
    severity: &'static str,
    message: String,
    properties: BTreeMap<&'static str, String>,
    about: &'a Evaluation,
}

impl Finding<'_> {
    fn json(self, timestamp: &Value) -> Value {
        json!({
            "source": "scopegate",
            "policy": POLICY,
            "rule": self.rule,
            "category": "Git credentials",
            "result": self.result,
            "severity": self.severity,
            "scored": true,
            "timestamp": timestamp,
            "resources": [resource(self.about)],
            "message": self.message,
            "properties": self.properties,
        })
    }
}

/// One PolicyReport per namespace that holds evaluated Secrets or Applications and ApplicationSets
/// whose uses were judged.
pub fn reports(evals: &[Evaluation], uses: &[UseEvaluation], now: jiff::Timestamp) -> Vec<Value> {
    let mut by_ns: BTreeMap<&str, (Vec<&Evaluation>, Vec<&UseEvaluation>)> = BTreeMap::new();
    for e in evals.iter().filter(|e| !e.namespace.is_empty()) {
        by_ns.entry(e.namespace.as_str()).or_default().0.push(e);
    }
    for u in uses.iter().filter(|u| !u.namespace.is_empty()) {
        by_ns.entry(u.namespace.as_str()).or_default().1.push(u);
    }
    let timestamp = json!({"seconds": now.as_second(), "nanos": 0});
    by_ns
        .into_iter()
        .map(|(ns, (evals, uses))| {
            let mut results = Vec::new();
            let mut summary: BTreeMap<&str, u64> = ["pass", "fail", "warn", "error", "skip"]
                .into_iter()
                .map(|k| (k, 0))
                .collect();
            for e in evals {
                let (result, severity) = token_result(e);
                let message = if e.message.is_empty() {
                    format!("verdict {}", e.verdict.as_str())
                } else {
                    e.message.clone()
                };
                let finding = Finding {
                    rule: "token-scopes",
                    result,
                    severity,
                    message,
                    properties: properties(e),
                    about: e,
                };
                results.push(finding.json(&timestamp));
                *summary.entry(result).or_default() += 1;
                if !e.repositories.is_empty() {
                    let unknown: Vec<&str> = e
                        .repositories
                        .iter()
                        .filter(|r| r.result == ReachResult::Unknown)
                        .map(|r| r.url.as_str())
                        .collect();
                    let (result, severity, message) = if !e.unreachable.is_empty() {
                        (
                            "fail",
                            "high",
                            format!(
                                "cannot reach {} of the {} repositories it must: {}",
                                e.unreachable.len(),
                                e.repositories.len(),
                                e.unreachable.join(", ")
                            ),
                        )
                    } else if !unknown.is_empty() {
                        ("warn", "medium", format!("could not check {}", unknown.join(", ")))
                    } else {
                        (
                            "pass",
                            "info",
                            format!("reaches all {} repositories it must", e.repositories.len()),
                        )
                    };
                    let mut props = BTreeMap::new();
                    props.insert(
                        "repositories",
                        e.repositories
                            .iter()
                            .map(|r| r.url.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                    if !e.unreachable.is_empty() {
                        props.insert("unreachable", e.unreachable.join(","));
                    }
                    let finding = Finding {
                        rule: "repository-access",
                        result,
                        severity,
                        message,
                        properties: props,
                        about: e,
                    };
                    results.push(finding.json(&timestamp));
                    *summary.entry(result).or_default() += 1;
                }
            }
            for u in uses {
                for (result, r) in use_results(u, &timestamp) {
                    *summary.entry(result).or_default() += 1;
                    results.push(r);
                }
            }
            json!({
                "apiVersion": "wgpolicyk8s.io/v1alpha2",
                "kind": "PolicyReport",
                "metadata": {
                    "name": REPORT_NAME,
                    "namespace": ns,
                    "labels": {MANAGED_BY_LABEL: FIELD_MANAGER},
                },
                "summary": summary,
                "results": results,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Access, Reach};
    use crate::render::evaluation::evaluation;

    fn eval(verdict: Outcome, allowed: bool) -> Evaluation {
        evaluation("argocd", "s", verdict, allowed)
    }

    #[test]
    fn each_finding_gets_its_result_and_severity() {
        let mut provider_down = eval(Outcome::Unverified, true);
        provider_down.provider_failed = true;
        let mut expiring = eval(Outcome::Ok, true);
        expiring.expiring = true;
        let mut excess = eval(Outcome::Ok, true);
        excess.warnings = vec!["excess scopes".into()];
        let cases = [
            (eval(Outcome::Invalid, false), "fail", "critical"),
            (eval(Outcome::Insufficient, false), "fail", "high"),
            (eval(Outcome::Unverified, false), "fail", "high"),
            (eval(Outcome::Insufficient, true), "fail", "high"),
            (provider_down, "error", "medium"),
            (eval(Outcome::Unverified, true), "warn", "medium"),
            (expiring, "warn", "medium"),
            (excess, "warn", "low"),
            (eval(Outcome::Ok, true), "pass", "info"),
            (eval(Outcome::NotAToken, true), "skip", "info"),
            (eval(Outcome::Skipped, true), "skip", "info"),
            (eval(Outcome::Ignored, true), "skip", "info"),
        ];
        for (e, result, severity) in cases {
            assert_eq!(token_result(&e), (result, severity), "{e:?}");
        }
    }

    #[test]
    fn one_report_per_namespace_whose_summary_counts_its_results() {
        let mut other = eval(Outcome::Insufficient, false);
        other.namespace = "codefresh".into();
        let mut covered = eval(Outcome::Ok, true);
        covered.name = "creds".into();
        covered.add_reach(
            "https://github.com/acme/a",
            Access::Read,
            Reach::Unreachable("404".into()),
            vec!["Application argocd/a".into()],
        );
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let reports = reports(&[eval(Outcome::Ok, true), covered, other], &[], now);
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0]["metadata"]["namespace"], "argocd");
        assert_eq!(reports[0]["metadata"]["labels"][MANAGED_BY_LABEL], FIELD_MANAGER);
        assert_eq!(
            reports[0]["summary"],
            json!({"pass": 2, "fail": 1, "warn": 0, "error": 0, "skip": 0})
        );
        assert_eq!(reports[0]["results"][2]["rule"], "repository-access");
        assert_eq!(
            reports[0]["results"][2]["timestamp"],
            json!({"seconds": 1_800_000_000, "nanos": 0})
        );
        assert_eq!(reports[1]["summary"]["fail"], 1);
    }
}
