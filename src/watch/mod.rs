//! `scopegate watch`: every credential Secret in the cluster kept judged, all the time — the fourth
//! front end on the same engine. Watches ([`source`]) feed one controller task that owns the
//! [`index`]; the leader ([`leader`]) judges what changed at once and every distinct credential again
//! each `watch.recheckInterval` ([`schedule`]), and reports changes of verdict ([`sinks`]): per-Secret
//! series on the admin port, Events on the Secret, PolicyReports, one log line. Followers keep the
//! index warm and report nothing.

pub(crate) mod index;
mod leader;
mod schedule;
mod sinks;
mod source;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use futures::future::join_all;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::info;

use crate::admin::Admin;
use crate::cache::CacheKey;
use crate::cluster::{Cluster, Scope};
use crate::config::{Config, Mode};
use crate::credential::SecretObject;
use crate::engine::Engine;
use crate::metrics::{EngineMetrics, Registry, WatchMetrics};
use crate::render::evaluation::Evaluation;
use index::{Change, Current, Index, SecretKey, Upserted};
use schedule::Schedule;
use sinks::{Debounce, Events, ReportJob};
use source::{Namespaces, SourceEvent};

/// `scopegate watch`'s command line.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Configuration file (YAML), as the webhook's. Without one the defaults apply.
    #[arg(long, env = "SCOPEGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account).
    #[arg(long, value_name = "FILE", env = "SCOPEGATE_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: the current one).
    #[arg(long, env = "SCOPEGATE_CONTEXT")]
    pub context: Option<String>,
    /// Watch this namespace (repeat for more; default: all namespaces).
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        env = "SCOPEGATE_NAMESPACES",
        value_delimiter = ',',
        conflicts_with = "all_namespaces"
    )]
    pub namespaces: Vec<String>,
    /// Watch every namespace (the default).
    #[arg(short = 'A', long, env = "SCOPEGATE_ALL_NAMESPACES")]
    pub all_namespaces: bool,
    /// Plain-HTTP admin address: /healthz, /readyz, /metrics.
    #[arg(long, default_value = "0.0.0.0:9090", env = "SCOPEGATE_ADMIN_LISTEN")]
    pub admin_listen: SocketAddr,
    /// Run as the only replica: lead without a Lease.
    #[arg(long, env = "SCOPEGATE_NO_LEADER_ELECTION")]
    pub no_leader_election: bool,
}

/// Judgement tasks out at once (each judges one credential's Secrets, or a batch of Secrets without
/// one): enough to keep `providerConcurrency` calls busy, few enough that waiting costs no memory.
const MAX_TASKS: usize = 64;
/// Secrets without a credential key (no provider call) judged by one task.
const KEYLESS_PER_TASK: usize = 64;

/// What a judgement task sends back.
struct Judged {
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
struct Controller {
    engine: Arc<Engine>,
    index: Index,
    schedule: Schedule,
    metrics: Arc<WatchMetrics>,
    events: Option<Events>,
    reports: Option<mpsc::Sender<ReportJob>>,
    debounce: Debounce,
    judged_tx: mpsc::Sender<Judged>,
    /// Secrets to judge because they are new or changed, by credential key (one task per key: the
    /// first judgement asks, the others find its answer).
    waiting: BTreeMap<Option<CacheKey>, BTreeSet<SecretKey>>,
    /// Credentials whose re-check is due.
    due: VecDeque<CacheKey>,
    /// Judgement tasks out; at most [`MAX_TASKS`], so that what waits is a key in a queue, not a task.
    tasks: usize,
    leader: bool,
    /// Streams whose first list is done; all are: the index is complete.
    synced: BTreeSet<usize>,
    streams: usize,
    /// The first re-checks are spread once the index is complete and this replica leads.
    spread_pending: bool,
    admin: Admin,
}

impl Controller {
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

    fn on_source(&mut self, event: SourceEvent) {
        match event {
            SourceEvent::Upsert { stream, secret } => {
                let id = (secret.namespace.clone(), secret.name.clone());
                let old_key = self.index.credential_key(&id);
                let key = self.engine.credential_key(&secret);
                if let Upserted::Judge { .. } = self.index.upsert(stream, *secret, key) {
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
                }
            }
            SourceEvent::Relisted { stream, keys } => {
                for (change, credential) in self.index.relisted(stream, &keys) {
                    self.forget(change, credential);
                }
                if self.synced.insert(stream) && self.synced.len() == self.streams {
                    info!(secrets = self.index.len(), "every watch has listed its Secrets");
                    self.admin.set_ready(true);
                    self.maybe_spread();
                }
            }
        }
    }

    fn on_judged(&mut self, judged: Judged) {
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

    fn on_due(&mut self) {
        let due = self.schedule.take_due(Instant::now());
        self.due.extend(due);
        self.pump();
    }

    fn on_leadership(&mut self, leads: bool) {
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
        }
    }

    fn flush_reports(&mut self) {
        let Some(reports) = &self.reports else { return };
        for ns in self.debounce.take_due(Instant::now()) {
            let evaluations = self.index.evaluations_in(&ns);
            if reports.try_send((ns.clone(), evaluations)).is_err() {
                // The writer is behind: try again at the next debounce.
                self.debounce
                    .touch(&ns, Instant::now(), self.engine.config().watch.report_debounce);
            }
        }
    }
}

/// Sleep until `at`, or forever.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `scopegate watch`, until `stop` completes.
pub async fn run(config: Config, opts: Options, stop: impl Future<Output = ()>) -> Result<()> {
    let cluster = Arc::new(Cluster::connect(opts.kubeconfig.as_deref(), opts.context.as_deref()).await?);
    let client = cluster.client();
    let mut registry = Registry::new();
    let engine_metrics = Arc::new(EngineMetrics::register(&mut registry));
    let metrics = Arc::new(WatchMetrics::register(&mut registry));
    let engine = Arc::new(
        Engine::with_observers(config, engine_metrics.clone(), engine_metrics.clone())
            .context("building the engine")?,
    );
    engine_metrics.initialise(engine.config().providers.iter().map(|p| p.host.as_str()));
    let watch_config = engine.config().watch.clone();
    let admin = Admin::new(registry);
    let admin_listener = crate::admin::bind(opts.admin_listen).await?;
    let (admin_stop, mut admin_stopped) = watch::channel(false);
    let admin_task = tokio::spawn(crate::admin::serve(admin_listener, admin.clone(), async move {
        let _ = admin_stopped.wait_for(|s| *s).await;
    }));

    // The watches: labelled Secrets in each namespace (or all), git-default-* names where user
    // tokens are looked for.
    let scope: Vec<Namespaces> = if opts.namespaces.is_empty() {
        vec![Namespaces::All]
    } else {
        opts.namespaces.iter().map(|n| Namespaces::One(n.clone())).collect()
    };
    let user_scope: Vec<Namespaces> = if watch_config.user_token_namespaces.is_empty() {
        scope.clone()
    } else {
        watch_config
            .user_token_namespaces
            .iter()
            .filter(|n| opts.namespaces.is_empty() || opts.namespaces.contains(n))
            .map(|n| Namespaces::One(n.clone()))
            .collect()
    };
    let (source_tx, mut source_rx) = mpsc::channel(4096);
    let mut stream = 0;
    let mut source_tasks = Vec::new();
    for ns in &scope {
        source_tasks.push(tokio::spawn(source::labelled(
            client.clone(),
            ns.clone(),
            stream,
            source_tx.clone(),
        )));
        stream += 1;
    }
    for ns in &user_scope {
        source_tasks.push(tokio::spawn(source::user_tokens(
            client.clone(),
            ns.clone(),
            stream,
            source_tx.clone(),
        )));
        stream += 1;
    }
    drop(source_tx);

    let identity = leader::identity();
    let leadership = if opts.no_leader_election {
        leader::Leadership::alone()
    } else {
        let namespace = std::env::var("POD_NAMESPACE")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| cluster.context_namespace.clone())
            .unwrap_or_else(|| "scopegate".into());
        info!(identity = identity.as_str(), lease = %format!("{namespace}/{}", watch_config.lease_name), "electing a leader");
        leader::Leadership::elect(
            client.clone(),
            &namespace,
            &watch_config.lease_name,
            &identity,
            watch_config.lease_duration,
        )
        .await?
    };
    let mut is_leader = leadership.is_leader.clone();

    let (report_tx, report_task) = if watch_config.policy_reports {
        let (tx, rx) = mpsc::channel(1024);
        (Some(tx), Some(tokio::spawn(sinks::reporter(cluster.clone(), rx))))
    } else {
        (None, None)
    };
    let (judged_tx, mut judged_rx) = mpsc::channel(1024);
    let mut c = Controller {
        engine,
        index: Index::default(),
        schedule: Schedule::default(),
        metrics,
        events: Some(Events::new(client.clone(), &identity)),
        reports: report_tx,
        debounce: Debounce::default(),
        judged_tx,
        waiting: BTreeMap::new(),
        due: VecDeque::new(),
        tasks: 0,
        leader: false,
        synced: BTreeSet::new(),
        streams: stream,
        spread_pending: false,
        admin: admin.clone(),
    };
    info!(
        streams = stream,
        interval = %humantime::format_duration(watch_config.recheck_interval),
        policy_reports = watch_config.policy_reports,
        "watching credential Secrets"
    );
    let initially = *is_leader.borrow_and_update();
    c.on_leadership(initially);
    let mut stale_reports_checked = false;
    tokio::pin!(stop);
    loop {
        let next = c.schedule.next().into_iter().chain(c.debounce.next()).min();
        tokio::select! {
            () = &mut stop => break,
            Some(event) = source_rx.recv() => c.on_source(event),
            Some(judged) = judged_rx.recv() => c.on_judged(judged),
            changed = is_leader.changed() => match changed {
                Ok(()) => {
                    let leads = *is_leader.borrow_and_update();
                    c.on_leadership(leads);
                    stale_reports_checked = false;
                }
                // The election stopped: lead no more.
                Err(_) => c.on_leadership(false),
            },
            () = until(next) => {
                c.on_due();
                c.flush_reports();
            }
        }
        // Reports left in namespaces that no longer hold credential Secrets go, once per leadership.
        if !stale_reports_checked && c.leader && c.reports.is_some() && c.synced.len() == c.streams {
            stale_reports_checked = true;
            let (cluster, reports, present) = (cluster.clone(), c.reports.clone(), c.index.namespaces());
            let scopes: Vec<Scope> = if opts.namespaces.is_empty() {
                vec![Scope::All]
            } else {
                opts.namespaces.iter().map(|n| Scope::Namespace(n.clone())).collect()
            };
            tokio::spawn(async move {
                for scope in scopes {
                    match cluster.stale_reports(&scope, &present).await {
                        Ok(stale) => {
                            for (ns, _) in stale {
                                if let Some(r) = &reports {
                                    let _ = r.send((ns, Vec::new())).await;
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = format!("{e:#}"), "listing scopegate's PolicyReports failed"),
                    }
                }
            });
        }
    }
    info!("stopping");
    admin.set_ready(false);
    for t in source_tasks {
        t.abort();
    }
    c.metrics.leader.set(0);
    drop(c);
    leadership.release().await;
    if let Some(t) = report_task {
        // Writes already queued finish; nothing new is queued.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), t).await;
    }
    let _ = admin_stop.send(true);
    let _ = admin_task.await;
    info!("stopped");
    Ok(())
}
