//! The watcher's one piece of state, owned by one task: every credential Secret in scope (as read,
//! trimmed), which provider question (credential key) it shares with others, and the verdict last
//! recorded for it; and the rule for which change of verdict is worth an Event. Pure: the controller
//! feeds it what the watches and the engine said, and acts on what it returns.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use crate::cache::CacheKey;
use crate::credential::SecretObject;
use crate::policy::Outcome;
use crate::render::evaluation::Evaluation;

/// `(namespace, name)`.
pub(crate) type SecretKey = (String, String);

/// A Secret's judgement as the watcher keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Current {
    /// What check, audit and the PolicyReports show of it.
    pub evaluation: Evaluation,
    /// When the provider gave the answer the verdict rests on (`None`: none did).
    pub checked_at: Option<Timestamp>,
    /// The provider could not be asked: the verdict says so, and is not the token's fault.
    pub provider_failed: bool,
}

/// What the Events said last about a Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Said {
    /// The Warning last written (`None`: none, or a `TokenVerified` since).
    warning: Option<Reason>,
    /// The token whose coming expiry was reported (`TokenExpiring` is written once per token).
    expiring_reported: Option<CacheKey>,
}

/// The reasons of the Events the watcher writes (the doc comments are the reference's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage)]
pub(crate) enum Reason {
    /// The token lacks scopes or permissions its role needs (verdict `insufficient`).
    #[strum(serialize = "TokenInsufficient")]
    Insufficient,
    /// The provider refuses the token (wrong, revoked, expired), or the Secret cannot be used as
    /// written (verdict `invalid`).
    #[strum(serialize = "TokenInvalid")]
    Invalid,
    /// The token expires within `expiryWarningDays` (once per token).
    #[strum(serialize = "TokenExpiring")]
    Expiring,
    /// What the token may do could not be established (verdict `unverified`).
    #[strum(serialize = "TokenUnverified")]
    Unverified,
    /// The Secret is `ok` again after a Warning.
    #[strum(serialize = "TokenVerified")]
    Verified,
    /// On an Application or ApplicationSet: a repository it needs refuses the credential Argo CD
    /// would use (or none covers it, or a push or Image Updater's write-back is refused).
    #[strum(serialize = "RepositoryUnreachable")]
    RepositoryUnreachable,
    /// On an Application or ApplicationSet: every repository it needs answers again after a Warning.
    #[strum(serialize = "RepositoryReachable")]
    RepositoryReachable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn is_warning(self) -> bool {
        !matches!(self, Reason::Verified | Reason::RepositoryReachable)
    }
}

struct Entry {
    secret: SecretObject,
    /// The watch streams that report it (a Secret leaves when none does).
    streams: BTreeSet<usize>,
    key: Option<CacheKey>,
    /// Bumped when what a judgement reads changes: an answer about an older one is dropped.
    generation: u64,
    current: Option<Current>,
    said: Said,
}

/// A recorded change of a Secret's judgement, for the metrics, the Events, the reports and the logs.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub key: SecretKey,
    pub before: Option<Current>,
    /// `None`: the Secret is gone (or no longer judged here).
    pub after: Option<Current>,
    /// The Event to write, if this change is worth one.
    pub event: Option<Reason>,
}

impl Change {
    /// Whether the verdict (or the token's expiring) changed, rather than only what it rests on.
    pub fn verdict_changed(&self) -> bool {
        let view = |c: &Option<Current>| c.as_ref().map(|c| (c.evaluation.verdict, c.evaluation.expiring));
        view(&self.before) != view(&self.after)
    }
}

/// What an update of a Secret needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Upserted {
    /// Nothing a judgement reads changed.
    Same,
    /// New, or changed: judge it (its generation is this).
    Judge { generation: u64 },
}

#[derive(Default)]
pub(crate) struct Index {
    entries: BTreeMap<SecretKey, Entry>,
    groups: BTreeMap<CacheKey, BTreeSet<SecretKey>>,
}

impl Index {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The Secret and its generation, for a judgement.
    pub fn secret(&self, key: &SecretKey) -> Option<(&SecretObject, u64)> {
        self.entries.get(key).map(|e| (&e.secret, e.generation))
    }

    #[cfg(test)]
    pub fn current(&self, key: &SecretKey) -> Option<&Current> {
        self.entries.get(key).and_then(|e| e.current.as_ref())
    }

    /// Every Secret's key.
    pub fn keys(&self) -> impl Iterator<Item = &SecretKey> {
        self.entries.keys()
    }

    /// The Argo CD credential Secrets, as Argo CD's choice of credential sees them.
    pub fn credential_refs(&self) -> Vec<crate::uses::resolve::CredentialRef> {
        self.entries
            .values()
            .filter_map(|e| {
                let s = &e.secret;
                let (secret_type, url) = (s.secret_type()?, s.url()?);
                Some(crate::uses::resolve::CredentialRef {
                    namespace: s.namespace.clone(),
                    name: s.name.clone(),
                    secret_type,
                    own_credentials: s.has_own_credentials() || crate::uses::resolve::has_credentials(&url),
                    project: s.project(),
                    url,
                })
            })
            .collect()
    }

    /// The Secrets that share a credential key.
    pub fn group(&self, key: &CacheKey) -> impl Iterator<Item = &SecretKey> {
        self.groups.get(key).into_iter().flatten()
    }

    /// Every credential key, with how many Secrets share it.
    pub fn credential_keys(&self) -> impl Iterator<Item = &CacheKey> {
        self.groups.keys()
    }

    /// The credential key of a Secret.
    pub fn credential_key(&self, key: &SecretKey) -> Option<CacheKey> {
        self.entries.get(key).and_then(|e| e.key)
    }

    /// The Secrets of a namespace with a recorded judgement.
    pub fn evaluations_in(&self, namespace: &str) -> Vec<Evaluation> {
        self.entries
            .range((namespace.to_owned(), String::new())..)
            .take_while(|((ns, _), _)| ns == namespace)
            .filter_map(|(_, e)| e.current.as_ref().map(|c| c.evaluation.clone()))
            .collect()
    }

    /// The namespaces that hold credential Secrets.
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.entries.keys().map(|(ns, _)| ns.clone()).collect()
    }

    fn regroup(&mut self, secret: &SecretKey, from: Option<CacheKey>, to: Option<CacheKey>) {
        if from == to {
            return;
        }
        if let Some(k) = from
            && let Some(members) = self.groups.get_mut(&k)
        {
            members.remove(secret);
            if members.is_empty() {
                self.groups.remove(&k);
            }
        }
        if let Some(k) = to {
            self.groups.entry(k).or_default().insert(secret.clone());
        }
    }

    /// A watch stream reports `secret` (trimmed to what is judged) with credential key `key`.
    pub fn upsert(&mut self, stream: usize, secret: SecretObject, key: Option<CacheKey>) -> Upserted {
        let id: SecretKey = (secret.namespace.clone(), secret.name.clone());
        match self.entries.get_mut(&id) {
            Some(e) => {
                e.streams.insert(stream);
                if e.secret.same_inputs(&secret) {
                    e.secret = secret;
                    return Upserted::Same;
                }
                e.secret = secret;
                e.generation += 1;
                let (from, generation) = (e.key, e.generation);
                e.key = key;
                self.regroup(&id, from, key);
                Upserted::Judge { generation }
            }
            None => {
                self.entries.insert(
                    id.clone(),
                    Entry {
                        secret,
                        streams: BTreeSet::from([stream]),
                        key,
                        generation: 0,
                        current: None,
                        said: Said::default(),
                    },
                );
                self.regroup(&id, None, key);
                Upserted::Judge { generation: 0 }
            }
        }
    }

    /// A watch stream no longer reports a Secret; it is gone when no stream does. The change
    /// (if it had a judgement) and the credential key it left.
    pub fn remove(&mut self, stream: usize, id: &SecretKey) -> Option<(Option<Change>, Option<CacheKey>)> {
        let e = self.entries.get_mut(id)?;
        e.streams.remove(&stream);
        if !e.streams.is_empty() {
            return None;
        }
        let e = self.entries.remove(id)?;
        self.regroup(id, e.key, None);
        let change = e.current.map(|before| Change {
            key: id.clone(),
            before: Some(before),
            after: None,
            event: None,
        });
        Some((change, e.key))
    }

    /// A stream listed again: the Secrets it reported before and not now are gone from it.
    pub fn relisted(&mut self, stream: usize, now: &BTreeSet<SecretKey>) -> Vec<(Option<Change>, Option<CacheKey>)> {
        let gone: Vec<SecretKey> = self
            .entries
            .iter()
            .filter(|(k, e)| e.streams.contains(&stream) && !now.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        gone.iter().filter_map(|k| self.remove(stream, k)).collect()
    }

    /// Record a judgement of generation `generation`. A provider failure keeps the verdict there is
    /// (a first one is recorded, without an Event); `None` when the Secret changed since, or nothing
    /// did.
    pub fn record(&mut self, id: &SecretKey, generation: u64, next: Current) -> Option<Change> {
        let e = self.entries.get_mut(id)?;
        if e.generation != generation {
            return None;
        }
        if next.provider_failed && e.current.is_some() {
            return None;
        }
        let event = if next.provider_failed {
            None
        } else {
            decide(&mut e.said, &next.evaluation, e.key)
        };
        if e.current.as_ref() == Some(&next) {
            return None;
        }
        let before = e.current.replace(next.clone());
        Some(Change {
            key: id.clone(),
            before,
            after: Some(next),
            event,
        })
    }

    /// Forget every recorded judgement (leadership lost): the changes, for the series to go.
    pub fn forget_judgements(&mut self) -> Vec<Change> {
        self.entries
            .iter_mut()
            .filter_map(|(k, e)| {
                e.said = Said::default();
                e.current.take().map(|before| Change {
                    key: k.clone(),
                    before: Some(before),
                    after: None,
                    event: None,
                })
            })
            .collect()
    }
}

/// The Event a new verdict is worth, given what was said before; what is said is updated.
fn decide(said: &mut Said, e: &Evaluation, token: Option<CacheKey>) -> Option<Reason> {
    let warning = match e.verdict {
        Outcome::Insufficient => Some(Reason::Insufficient),
        Outcome::Invalid => Some(Reason::Invalid),
        Outcome::Unverified => Some(Reason::Unverified),
        Outcome::Ok if e.expiring => Some(Reason::Expiring),
        Outcome::Ok => None,
        // Not a token, skipped, not handled: nothing to say about a token.
        Outcome::NotAToken | Outcome::Skipped | Outcome::Ignored => {
            *said = Said::default();
            return None;
        }
    };
    match warning {
        Some(Reason::Expiring) => {
            let already = said.expiring_reported.is_some() && said.expiring_reported == token;
            let first_time = said.warning != Some(Reason::Expiring) && !already;
            said.warning = Some(Reason::Expiring);
            said.expiring_reported = token;
            first_time.then_some(Reason::Expiring)
        }
        Some(w) if said.warning == Some(w) => None,
        Some(w) => {
            said.warning = Some(w);
            Some(w)
        }
        None if said.warning.is_some() => {
            said.warning = None;
            Some(Reason::Verified)
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::evaluation::evaluation;

    fn current(verdict: Outcome, expiring: bool) -> Current {
        let mut evaluation = evaluation("argocd", "repo", verdict, true);
        evaluation.expiring = expiring;
        Current {
            evaluation,
            checked_at: None,
            provider_failed: false,
        }
    }

    fn secret(name: &str, token: &str) -> SecretObject {
        let obj: kube::core::DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "argocd", "labels": {crate::credential::SECRET_TYPE_LABEL: "repository"}},
            "stringData": {"url": "https://github.com/acme/app", "password": token},
        }))
        .unwrap();
        SecretObject::from_dynamic(&obj)
    }

    fn id(name: &str) -> SecretKey {
        ("argocd".into(), name.into())
    }

    #[test]
    fn events_follow_changes_of_verdict_only() {
        let mut said = Said::default();
        let t = Some([1u8; 32]);
        let e = |v, x| current(v, x).evaluation;
        assert_eq!(
            decide(&mut said, &e(Outcome::Ok, false), t),
            None,
            "ok from the start says nothing"
        );
        assert_eq!(
            decide(&mut said, &e(Outcome::Insufficient, false), t),
            Some(Reason::Insufficient)
        );
        assert_eq!(
            decide(&mut said, &e(Outcome::Insufficient, false), t),
            None,
            "unchanged"
        );
        assert_eq!(decide(&mut said, &e(Outcome::Invalid, false), t), Some(Reason::Invalid));
        assert_eq!(decide(&mut said, &e(Outcome::Ok, false), t), Some(Reason::Verified));
        assert_eq!(decide(&mut said, &e(Outcome::Ok, true), t), Some(Reason::Expiring));
        assert_eq!(decide(&mut said, &e(Outcome::Ok, true), t), None);
        assert_eq!(decide(&mut said, &e(Outcome::Invalid, false), t), Some(Reason::Invalid));
        assert_eq!(
            decide(&mut said, &e(Outcome::Ok, true), t),
            None,
            "TokenExpiring once per token"
        );
        let rotated = Some([2u8; 32]);
        assert_eq!(
            decide(&mut said, &e(Outcome::Ok, false), rotated),
            Some(Reason::Verified)
        );
        assert_eq!(
            decide(&mut said, &e(Outcome::Ok, true), rotated),
            Some(Reason::Expiring)
        );
        assert_eq!(
            decide(&mut said, &e(Outcome::Unverified, false), rotated),
            Some(Reason::Unverified)
        );
        assert_eq!(decide(&mut said, &e(Outcome::NotAToken, false), rotated), None);
        assert_eq!(
            decide(&mut said, &e(Outcome::Ok, false), rotated),
            None,
            "nothing to take back"
        );
    }

    #[test]
    fn a_provider_failure_keeps_the_verdict_and_stale_answers_are_dropped() {
        let mut index = Index::default();
        let Upserted::Judge { generation } = index.upsert(
            0,
            secret("repo", "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"),
            Some([1; 32]),
        ) else {
            panic!()
        };
        let change = index
            .record(&id("repo"), generation, current(Outcome::Invalid, false))
            .unwrap();
        assert_eq!(
            change.event,
            Some(Reason::Invalid),
            "a Secret failing at start gets its Warning"
        );
        let mut failed = current(Outcome::Unverified, false);
        failed.provider_failed = true;
        assert!(index.record(&id("repo"), generation, failed.clone()).is_none(), "kept");
        assert_eq!(index.current(&id("repo")).unwrap().evaluation.verdict, Outcome::Invalid);
        // Rotated: a new generation; an answer about the old token is dropped.
        let Upserted::Judge { generation: rotated } = index.upsert(
            0,
            secret("repo", "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"),
            Some([2; 32]),
        ) else {
            panic!()
        };
        assert!(
            index
                .record(&id("repo"), generation, current(Outcome::Ok, false))
                .is_none()
        );
        let change = index.record(&id("repo"), rotated, current(Outcome::Ok, false)).unwrap();
        assert_eq!(change.event, Some(Reason::Verified));
        assert!(change.verdict_changed());
        // The same Secret again: nothing to judge.
        assert_eq!(
            index.upsert(
                0,
                secret("repo", "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"),
                Some([2; 32])
            ),
            Upserted::Same
        );
        // A first judgement that could not ask the provider is recorded, without an Event.
        index.upsert(
            0,
            secret("new", "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"),
            Some([3; 32]),
        );
        let change = index.record(&id("new"), 0, failed).unwrap();
        assert_eq!(change.event, None);
    }

    #[test]
    fn secrets_share_a_credential_key_and_leave_when_no_stream_reports_them() {
        let mut index = Index::default();
        index.upsert(
            0,
            secret("a", "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"),
            Some([7; 32]),
        );
        index.upsert(
            0,
            secret("b", "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"),
            Some([7; 32]),
        );
        index.upsert(
            1,
            secret("b", "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"),
            Some([7; 32]),
        );
        assert_eq!(index.group(&[7; 32]).count(), 2);
        index.record(&id("a"), 0, current(Outcome::Ok, false));
        assert!(index.remove(1, &id("b")).is_none(), "stream 0 still reports it");
        let gone = index.relisted(0, &BTreeSet::from([id("b")]));
        assert_eq!(gone.len(), 1);
        assert!(gone[0].0.as_ref().is_some_and(|c| c.after.is_none()), "its series go");
        assert_eq!(index.group(&[7; 32]).collect::<Vec<_>>(), [&id("b")]);
        let (change, key) = index.remove(0, &id("b")).unwrap();
        assert!(change.is_none() && key == Some([7; 32]));
        assert_eq!(index.credential_keys().count(), 0);
        assert_eq!(index.len(), 0);
    }
}
