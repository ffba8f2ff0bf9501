//! Where the watcher's changes go: the per-Secret series, Kubernetes Events (kube's event recorder) on
//! Secrets and on the Applications and ApplicationSets whose uses changed, the PolicyReports
//! (debounced per namespace, written one after another by one task), and the log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use super::index::{Change, Current, Reason, SecretKey};
use crate::cluster::Cluster;
use crate::metrics::{CredentialLabels, ExpiryLabels, SecretLabels, VerdictLabels, WatchMetrics};
use crate::render::evaluation::Evaluation;
use crate::render::policyreport;
use crate::render::uses::UseEvaluation;

/// The controller that reports, as Events name it.
pub(crate) const REPORTING_CONTROLLER: &str = "scopegate.dev/watch";
/// An Event's note is at most this long (the Events API's limit).
const MAX_NOTE: usize = 1024;

fn credential_labels(key: &SecretKey, e: &Evaluation) -> CredentialLabels {
    CredentialLabels {
        namespace: key.0.clone(),
        name: key.1.clone(),
        verdict: e.verdict.as_str(),
        provider: e.provider.map_or("", |p| p.as_str()),
        token_kind: e.token_kind.map_or("", |k| k.as_str()),
        role: e.role.map_or("", |r| r.as_str()),
    }
}

fn expiry_labels(key: &SecretKey, e: &Evaluation) -> Option<ExpiryLabels> {
    e.expires_at.map(|_| ExpiryLabels {
        namespace: key.0.clone(),
        name: key.1.clone(),
        provider: e.provider.map_or("", |p| p.as_str()),
        owner: e.owner.clone().unwrap_or_default(),
    })
}

/// Keep the per-Secret series and the counts true to a change.
pub(crate) fn update_metrics(m: &WatchMetrics, change: &Change) {
    let secret = SecretLabels {
        namespace: change.key.0.clone(),
        name: change.key.1.clone(),
    };
    if let Some(before) = &change.before {
        let e = &before.evaluation;
        m.credential_verdict.remove(&credential_labels(&change.key, e));
        if let Some(l) = expiry_labels(&change.key, e) {
            m.credential_expiry.remove(&l);
        }
        m.credentials
            .get_or_create(&VerdictLabels {
                verdict: e.verdict.as_str(),
            })
            .dec();
    }
    match &change.after {
        Some(after) => {
            let e = &after.evaluation;
            m.credential_verdict
                .get_or_create(&credential_labels(&change.key, e))
                .set(1);
            if let (Some(l), Some(t)) = (expiry_labels(&change.key, e), e.expires_at) {
                m.credential_expiry.get_or_create(&l).set(t.as_second() as f64);
            }
            match after.checked_at.or(change.before.as_ref().and_then(|b| b.checked_at)) {
                Some(t) => {
                    m.credential_last_checked
                        .get_or_create(&secret)
                        .set(t.as_second() as f64);
                }
                None => {
                    m.credential_last_checked.remove(&secret);
                }
            }
            m.credentials
                .get_or_create(&VerdictLabels {
                    verdict: e.verdict.as_str(),
                })
                .inc();
        }
        None => {
            m.credential_last_checked.remove(&secret);
        }
    }
}

/// The log line of a change of verdict.
pub(crate) fn log(change: &Change) {
    if !change.verdict_changed() {
        return;
    }
    let Some(after) = &change.after else {
        info!(
            namespace = change.key.0.as_str(),
            name = change.key.1.as_str(),
            "credential Secret gone: its series removed"
        );
        return;
    };
    let old = change.before.as_ref().map_or("none", |b| b.evaluation.verdict.as_str());
    let reason: String = after.evaluation.message.chars().take(300).collect();
    info!(
        namespace = change.key.0.as_str(),
        name = change.key.1.as_str(),
        old,
        new = after.evaluation.verdict.as_str(),
        expiring = after.evaluation.expiring,
        reason,
        "verdict changed"
    );
}

/// What an Event says: the webhook's words for the verdict, never more than the Events API takes.
fn note(reason: Reason, key: &SecretKey, current: &Current) -> String {
    let e = &current.evaluation;
    let text = match reason {
        Reason::Verified => format!(
            "Secret {}/{}: the {} token for role {} was verified: it has what the role needs.",
            key.0,
            key.1,
            e.provider.map_or("Git", |p| p.display_name()),
            e.role.map_or("read", |r| r.as_str())
        ),
        _ if !e.message.is_empty() => e.message.clone(),
        _ => format!("Secret {}/{}: verdict {}.", key.0, key.1, e.verdict.as_str()),
    };
    cut(&text)
}

/// A note cut to the Events API's limit.
fn cut(text: &str) -> String {
    if text.len() <= MAX_NOTE {
        return text.to_owned();
    }
    let mut at = MAX_NOTE - 3;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    format!("{}…", &text[..at])
}

/// Writes Events through kube's recorder (which turns a repeat into a series on one Event).
#[derive(Clone)]
pub(crate) struct Events {
    recorder: Recorder,
}

impl Events {
    pub fn new(client: kube::Client, identity: &str) -> Self {
        Self {
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: REPORTING_CONTROLLER.into(),
                    instance: Some(identity.to_owned()),
                },
            ),
        }
    }

    /// Publish an Event about an Application or ApplicationSet, off the controller's task.
    pub fn publish_use(&self, e: &super::uses::UseEvent) {
        let event = Event {
            type_: if e.reason.is_warning() {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: e.reason.as_str().to_owned(),
            note: Some(cut(&e.note)),
            action: match e.reason {
                Reason::RepositoryReachable | Reason::RepositoryUnreachable => "CheckRepository",
                _ => "CheckToken",
            }
            .into(),
            secondary: None,
        };
        let regarding = ObjectReference {
            api_version: Some(e.kind.api_version().into()),
            kind: Some(e.kind.as_str().into()),
            namespace: Some(e.key.0.clone()),
            name: Some(e.key.1.clone()),
            uid: e.uid.clone(),
            ..Default::default()
        };
        self.send(event, regarding);
    }

    fn send(&self, event: Event, regarding: ObjectReference) {
        let recorder = self.recorder.clone();
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&event, &regarding).await {
                warn!(
                    error = %e,
                    kind = regarding.kind.as_deref().unwrap_or_default(),
                    namespace = regarding.namespace.as_deref().unwrap_or_default(),
                    name = regarding.name.as_deref().unwrap_or_default(),
                    reason = event.reason.as_str(),
                    "writing an Event failed"
                );
            }
        });
    }

    /// Publish the Event of a change, off the controller's task.
    pub fn publish(&self, change: &Change, uid: Option<String>) {
        let (Some(reason), Some(after)) = (change.event, &change.after) else {
            return;
        };
        let event = Event {
            type_: if reason.is_warning() {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.as_str().to_owned(),
            note: Some(note(reason, &change.key, after)),
            action: "CheckToken".into(),
            secondary: None,
        };
        let regarding = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
            namespace: Some(change.key.0.clone()),
            name: Some(change.key.1.clone()),
            uid,
            ..Default::default()
        };
        self.send(event, regarding);
    }
}

/// A namespace's report to write: its Secrets' evaluations and its objects' uses, or none (the
/// report goes).
pub(crate) type ReportJob = (String, Vec<Evaluation>, Vec<UseEvaluation>);

/// The namespaces whose reports are due, with when.
#[derive(Default)]
pub(crate) struct Debounce {
    pending: BTreeMap<String, Instant>,
}

impl Debounce {
    /// A change in `namespace`: its report is written at `now + delay` (a later change in the
    /// meantime joins it).
    pub fn touch(&mut self, namespace: &str, now: Instant, delay: std::time::Duration) {
        self.pending.entry(namespace.to_owned()).or_insert(now + delay);
    }

    pub fn next(&self) -> Option<Instant> {
        self.pending.values().min().copied()
    }

    pub fn take_due(&mut self, now: Instant) -> Vec<String> {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(ns, _)| ns.clone())
            .collect();
        for ns in &due {
            self.pending.remove(ns);
        }
        due
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// Write one namespace's report: applied (server-side, scopegate's field manager) when it holds
/// credential Secrets or judged uses, deleted when it holds none any more.
async fn write_report(
    cluster: &Cluster,
    namespace: &str,
    evaluations: &[Evaluation],
    uses: &[UseEvaluation],
) -> anyhow::Result<()> {
    if evaluations.is_empty() && uses.is_empty() {
        return cluster.delete_report(namespace, policyreport::REPORT_NAME).await;
    }
    for report in policyreport::reports(evaluations, uses, jiff::Timestamp::now()) {
        cluster.apply_report(&report).await?;
    }
    Ok(())
}

/// A write that failed, to be tried again.
struct Retry {
    evaluations: Vec<Evaluation>,
    uses: Vec<UseEvaluation>,
    at: Instant,
    delay: Duration,
}

/// Back-off between attempts at a failed write: doubling from 1 s, at most a minute.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Write the reports it is sent, one after another. A write that fails (the API server away, a
/// conflict) is tried again with back-off until it succeeds or a newer report for that namespace
/// replaces it, so a report is never left behind its Secrets' verdicts.
pub(crate) async fn reporter(cluster: Arc<Cluster>, mut jobs: mpsc::Receiver<ReportJob>) {
    let mut retries: BTreeMap<String, Retry> = BTreeMap::new();
    loop {
        let next_retry = retries.values().map(|r| r.at).min();
        let (namespace, evaluations, uses, delay) = tokio::select! {
            job = jobs.recv() => match job {
                Some((namespace, evaluations, uses)) => {
                    retries.remove(&namespace);
                    (namespace, evaluations, uses, None)
                }
                None => break,
            },
            () = super::schedule::until(next_retry) => {
                let now = Instant::now();
                let Some(namespace) = retries.iter().find(|(_, r)| r.at <= now).map(|(ns, _)| ns.clone()) else {
                    continue;
                };
                let Some(retry) = retries.remove(&namespace) else { continue };
                (namespace, retry.evaluations, retry.uses, Some(retry.delay))
            }
        };
        if let Err(e) = write_report(&cluster, &namespace, &evaluations, &uses).await {
            let delay = delay.map_or(RETRY_FIRST, |d| (d * 2).min(RETRY_MAX));
            warn!(
                namespace = namespace.as_str(),
                error = format!("{e:#}"),
                retry_in = %humantime::format_duration(delay),
                "writing the PolicyReport failed"
            );
            retries.insert(
                namespace,
                Retry {
                    evaluations,
                    uses,
                    at: Instant::now() + delay,
                    delay,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Outcome;
    use crate::render::evaluation::evaluation;

    #[test]
    fn notes_are_the_webhooks_words_cut_to_the_events_limit() {
        let key = ("argocd".to_owned(), "repo".to_owned());
        let mut e = evaluation("argocd", "repo", Outcome::Insufficient, false);
        e.message = format!("Secret argocd/repo: {}", "é".repeat(2000));
        let c = Current {
            evaluation: e,
            checked_at: None,
            provider_failed: false,
        };
        let n = note(Reason::Insufficient, &key, &c);
        assert!(
            n.len() <= MAX_NOTE && n.starts_with("Secret argocd/repo: é"),
            "{}",
            n.len()
        );
        assert!(note(Reason::Verified, &key, &c).contains("was verified"));
    }

    #[test]
    fn a_namespace_waits_for_its_debounce_and_changes_join() {
        let mut d = Debounce::default();
        let now = Instant::now();
        let ten = std::time::Duration::from_secs(10);
        d.touch("argocd", now, ten);
        d.touch("argocd", now + std::time::Duration::from_secs(5), ten);
        assert!(d.take_due(now + std::time::Duration::from_secs(9)).is_empty());
        assert_eq!(d.take_due(now + ten), ["argocd"]);
        assert!(d.next().is_none());
    }
}
