//! The controller: one task owns the [`Index`]; it queues the Secrets to judge by credential, runs
//! at most [`MAX_TASKS`] judgement tasks at once, schedules re-checks, and hands each change of
//! verdict to the sinks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use futures::future::join_all;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::info;

use super::index::{Change, Current, Index, SecretKey, Upserted};
use super::schedule::Schedule;
use super::sinks::{self, Debounce, Events, ReportJob};
use super::source::SourceEvent;
use crate::admin::Admin;
use crate::cache::CacheKey;
use crate::config::Mode;
use crate::credential::SecretObject;
use crate::engine::Engine;
use crate::metrics::WatchMetrics;
use crate::render::evaluation::Evaluation;

/// Judgement tasks out at once (each judges one credential's Secrets, or a batch of Secrets without
/// one): enough to keep `providerConcurrency` calls busy, few enough that waiting costs no memory.
pub(super) const MAX_TASKS: usize = 64;
/// Secrets without a credential key (no provider call) judged by one task.
const KEYLESS_PER_TASK: usize = 64;

/// What a judgement task sends back.
pub(super) struct Judged {
    /// The credential whose re-check this was (`None`: Secrets judged because they changed).
    recheck: Option<CacheKey>,
    results: Vec<(SecretKey, u64, Current)>,
}

/// Judge Secrets at rest, as `check` and `audit` do; `fresh_since` makes it a re-check.
async fn judge(
    engine: &Engine,
    mode: Mode,
    batch: Vec<(SecretKey, u64, SecretObject)>,
    fresh_since: Option<std::time::Instant>,
) -> Vec<(SecretKey, u64, Current)> {
    join_all(batch.into_iter().map(|(key, generation, secret)| async move {
        let (judgement, skip_set_aside) = engine.judge_stored(&secret, fresh_since).await;
        let mut evaluation = Evaluation::new(&secret, "cluster".into(), &judgement, skip_set_aside, mode);
        evaluation.uid = secret.uid.clone();
        let provider_failed = judgement.provider_failed();
        // A Secret judged without a provider (not a token, not a configured host) was checked now.
        let checked_at = judgement
            .answered_at
            .or((judgement.cache_hit.is_none() && !provider_failed).then_some(judgement.checked_at));
        (
            key,
            generation,
            Current {
                evaluation,
                checked_at,
                provider_failed,
            },
        )
    }))
    .await
}

/// The one task that owns the index.
pub(super) struct Controller {
    pub(super) engine: Arc<Engine>,
    pub(super) index: Index,
    pub(super) schedule: Schedule,
    pub(super) metrics: Arc<WatchMetrics>,
    pub(super) events: Option<Events>,
    pub(super) reports: Option<mpsc::Sender<ReportJob>>,
    pub(super) debounce: Debounce,
    pub(super) judged_tx: mpsc::Sender<Judged>,
    /// Secrets to judge because they are new or changed, by credential key (one task per key: the
    /// first judgement asks, the others find its answer).
    pub(super) waiting: BTreeMap<Option<CacheKey>, BTreeSet<SecretKey>>,
    /// Credentials whose re-check is due.
    pub(super) due: VecDeque<CacheKey>,
    /// Judgement tasks out; at most [`MAX_TASKS`], so that what waits is a key in a queue, not a task.
    pub(super) tasks: usize,
    pub(super) leader: bool,
    /// Streams whose first list is done; all are: the index is complete.
    pub(super) synced: BTreeSet<usize>,
    pub(super) streams: usize,
    /// The first re-checks are spread once the index is complete and this replica leads.
    pub(super) spread_pending: bool,
    pub(super) admin: Admin,
    /// The uses of credentials: the followed objects, their jobs and results.
    pub(super) uses: super::uses::UseIndex,
    pub(super) use_schedule: Schedule<super::uses::Job>,
    /// Jobs due, waiting for room.
    pub(super) use_due: VecDeque<super::uses::Job>,
    /// Job tasks out (a bound holds them).
    pub(super) use_tasks: usize,
    pub(super) use_tx: mpsc::Sender<super::uses::UseJudged>,
    /// Jobs that have a result (a job's first re-check is spread over the interval).
    pub(super) use_judged: std::collections::HashSet<super::uses::Job>,
    /// When the credentials the uses resolve against are rebuilt (the Secrets changed).
    pub(super) creds_due: Option<Instant>,
    /// The series exported: `scopegate_repository_access` and `scopegate_scm_credential_verdict`.
    pub(super) exported_repos: BTreeMap<super::uses::SeriesKey, crate::uses::UseVerdict>,
    pub(super) exported_scm: BTreeSet<crate::metrics::ScmLabels>,
    /// How the jobs reach the cluster (Secrets they name, `argocd-cmd-params-cm`).
    pub(super) client: Option<kube::Client>,
}

impl Controller {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        engine: Arc<Engine>,
        metrics: Arc<WatchMetrics>,
        events: Option<Events>,
        reports: Option<mpsc::Sender<ReportJob>>,
        judged_tx: mpsc::Sender<Judged>,
        use_tx: mpsc::Sender<super::uses::UseJudged>,
        client: Option<kube::Client>,
        streams: usize,
        admin: Admin,
    ) -> Self {
        let argocd_namespace = engine.config().watch.argocd_namespace.clone();
        Self {
            engine,
            index: Index::default(),
            schedule: Schedule::default(),
            metrics,
            events,
            reports,
            debounce: Debounce::default(),
            judged_tx,
            waiting: BTreeMap::new(),
            due: VecDeque::new(),
            tasks: 0,
            leader: false,
            synced: BTreeSet::new(),
            streams,
            spread_pending: false,
            admin,
            uses: super::uses::UseIndex::new(&argocd_namespace),
            use_schedule: Schedule::default(),
            use_due: VecDeque::new(),
            use_tasks: 0,
            use_tx,
            use_judged: std::collections::HashSet::new(),
            creds_due: None,
            exported_repos: BTreeMap::new(),
            exported_scm: BTreeSet::new(),
            client,
        }
    }

    fn interval(&self) -> std::time::Duration {
        self.engine.config().watch.recheck_interval
    }

    fn mode(&self) -> Mode {
        self.engine.config().mode
    }

    /// Start one judgement task.
    fn spawn_judge(&mut self, recheck: Option<CacheKey>, keys: Vec<SecretKey>) {
        let batch: Vec<(SecretKey, u64, SecretObject)> = keys
            .into_iter()
            .filter_map(|k| self.index.secret(&k).map(|(s, g)| (k, g, s.clone())))
            .collect();
        let (engine, mode, tx) = (self.engine.clone(), self.mode(), self.judged_tx.clone());
        let fresh_since = recheck.map(|_| std::time::Instant::now());
        self.tasks += 1;
        tokio::spawn(async move {
            let results = judge(&engine, mode, batch, fresh_since).await;
            let _ = tx.send(Judged { recheck, results }).await;
        });
    }

    /// Start judgement tasks while there is work and room: changed Secrets first, then re-checks.
    fn pump(&mut self) {
        while self.tasks < MAX_TASKS {
            if let Some((key, members)) = self.waiting.pop_first() {
                // Secrets without a credential key cost no provider call: many to a task.
                let mut members: Vec<SecretKey> = members.into_iter().collect();
                if key.is_none() && members.len() > KEYLESS_PER_TASK {
                    let rest = members.split_off(KEYLESS_PER_TASK);
                    self.waiting.insert(None, rest.into_iter().collect());
                }
                self.spawn_judge(None, members);
            } else if let Some(key) = self.due.pop_front() {
                let members: Vec<SecretKey> = self.index.group(&key).cloned().collect();
                self.spawn_judge(Some(key), members);
            } else {
                return;
            }
        }
    }

    /// Queue a Secret for judgement.
    fn enqueue(&mut self, id: SecretKey) {
        let key = self.index.credential_key(&id);
        self.waiting.entry(key).or_default().insert(id);
    }

    /// Judge everything now (this replica just became the leader, or just started as it).
    fn judge_all(&mut self) {
        let all: Vec<SecretKey> = self.index.keys().cloned().collect();
        for id in all {
            self.enqueue(id);
        }
        self.schedule.clear();
        self.due.clear();
        self.spread_pending = true;
        self.maybe_spread();
        self.pump();
    }

    /// Once the index is complete and this replica leads, spread the first re-checks of every
    /// credential over the interval.
    fn maybe_spread(&mut self) {
        if !(self.spread_pending && self.leader && self.synced.len() == self.streams) {
            return;
        }
        self.spread_pending = false;
        let keys: Vec<CacheKey> = self.index.credential_keys().copied().collect();
        self.schedule.spread(&keys, Instant::now(), self.interval());
        // The index is complete: the uses resolve against every credential, and run now.
        self.rebuild_credentials();
        self.start_uses();
    }

    fn apply(&mut self, change: Change) {
        sinks::update_metrics(&self.metrics, &change);
        sinks::log(&change);
        if let Some(events) = &self.events {
            let uid = change.after.as_ref().and_then(|a| a.evaluation.uid.clone());
            events.publish(&change, uid);
        }
        if self.reports.is_some() {
            let delay = self.engine.config().watch.report_debounce;
            self.debounce.touch(&change.key.0, Instant::now(), delay);
        }
    }

    /// A Secret left; its credential may have left with it.
    fn forget(&mut self, change: Option<Change>, key: Option<CacheKey>) {
        if let Some(c) = change {
            self.apply(c);
        }
        if let Some(k) = key
            && self.index.group(&k).next().is_none()
        {
            self.schedule.remove(&k);
        }
    }

    pub(super) fn on_source(&mut self, event: SourceEvent) {
        match event {
            SourceEvent::Upsert { stream, secret } => {
                let id = (secret.namespace.clone(), secret.name.clone());
                let old_key = self.index.credential_key(&id);
                let key = self.engine.credential_key(&secret);
                if let Upserted::Judge { .. } = self.index.upsert(stream, *secret, key) {
                    self.credentials_changed(Some(&id));
                    if let Some(old) = old_key
                        && Some(old) != key
                        && self.index.group(&old).next().is_none()
                    {
                        self.schedule.remove(&old);
                    }
                    if self.leader {
                        self.enqueue(id);
                        self.pump();
                    }
                }
            }
            SourceEvent::Remove { stream, key } => {
                if let Some((change, credential)) = self.index.remove(stream, &key) {
                    self.forget(change, credential);
                    self.credentials_changed(None);
                }
            }
            SourceEvent::FollowedUpsert { stream, obj, uid } => {
                let jobs = self.uses.upsert(stream, obj, uid);
                self.on_jobs(jobs);
            }
            SourceEvent::FollowedRemove { stream, kind, key } => {
                let jobs = self.uses.remove(stream, kind, &key);
                let gone = jobs.gone;
                self.on_jobs(jobs);
                self.object_changed(kind, &key);
                if gone {
                    info!(
                        kind = ?kind,
                        namespace = key.0.as_str(),
                        name = key.1.as_str(),
                        "followed object gone: its uses and their series removed"
                    );
                }
            }
            SourceEvent::FollowedRelisted { stream, kind, keys } => {
                let jobs = self.uses.relisted(stream, kind, &keys);
                self.on_jobs(jobs);
                self.synced_stream(stream);
            }
            SourceEvent::Relisted { stream, keys } => {
                let gone = self.index.relisted(stream, &keys);
                if !gone.is_empty() {
                    self.credentials_changed(None);
                }
                for (change, credential) in gone {
                    self.forget(change, credential);
                }
                self.synced_stream(stream);
            }
        }
    }

    /// A stream has listed; when every one has, the watcher is ready.
    fn synced_stream(&mut self, stream: usize) {
        if self.synced.insert(stream) && self.synced.len() == self.streams {
            info!(
                secrets = self.index.len(),
                objects = self.uses.objects(),
                "every watch has listed its Secrets"
            );
            self.admin.set_ready(true);
            self.maybe_spread();
        }
    }

    pub(super) fn on_judged(&mut self, judged: Judged) {
        self.tasks = self.tasks.saturating_sub(1);
        if !self.leader {
            return;
        }
        let mut failed = false;
        let mut credentials = BTreeSet::new();
        for (key, generation, current) in judged.results {
            failed |= current.provider_failed;
            credentials.extend(self.index.credential_key(&key));
            if let Some(change) = self.index.record(&key, generation, current) {
                self.apply(change);
            }
        }
        let now = Instant::now();
        match judged.recheck {
            Some(key) if self.index.group(&key).next().is_some() => {
                self.schedule.done(key, failed, now, self.interval());
            }
            Some(key) => self.schedule.remove(&key),
            None => {
                // Secrets judged because they changed: a credential not yet scheduled (new) is
                // re-checked an interval from now, or sooner after a failure.
                for key in credentials {
                    if !self.schedule.has(&key) && !self.spread_pending {
                        let wait = if failed {
                            std::time::Duration::from_secs(1)
                        } else {
                            self.interval()
                        };
                        self.schedule.set(key, now + wait);
                    }
                }
            }
        }
        self.pump();
    }

    pub(super) fn on_due(&mut self) {
        let due = self.schedule.take_due(Instant::now());
        self.due.extend(due);
        self.pump();
    }

    pub(super) fn on_leadership(&mut self, leads: bool) {
        if leads == self.leader {
            return;
        }
        self.leader = leads;
        self.metrics.leader.set(i64::from(leads));
        if leads {
            info!("leading: judging every credential Secret");
            self.judge_all();
        } else {
            info!("following: another replica leads");
            for change in self.index.forget_judgements() {
                sinks::update_metrics(&self.metrics, &change);
            }
            self.schedule.clear();
            self.debounce.clear();
            self.waiting.clear();
            self.due.clear();
            self.stop_uses();
        }
    }

    pub(super) fn flush_reports(&mut self) {
        let Some(reports) = &self.reports else { return };
        for ns in self.debounce.take_due(Instant::now()) {
            let evaluations = self.index.evaluations_in(&ns);
            let uses = self.uses.evaluations_in(&ns);
            if reports.try_send((ns.clone(), evaluations, uses)).is_err() {
                // The writer is behind: try again at the next debounce.
                self.debounce
                    .touch(&ns, Instant::now(), self.engine.config().watch.report_debounce);
            }
        }
    }
}
