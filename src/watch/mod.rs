//! `scopegate watch`: every credential Secret in the cluster kept judged, all the time — the fourth
//! front end on the same engine. Watches ([`source`]) feed one controller task that owns the
//! [`index`]; the leader ([`leader`]) judges what changed at once and every distinct credential again
//! each `watch.recheckInterval` ([`schedule`]), and reports changes of verdict ([`sinks`]): per-Secret
//! series on the admin port, Events on the Secret, PolicyReports, one log line. Followers keep the
//! index warm and report nothing.
//!
//! The uses of credentials ([`uses`], [`use_jobs`]): the Applications, ApplicationSets and
//! ImageUpdaters `watch.follow` names are followed too; each distinct (credential, repository,
//! purpose) is probed once per interval however many objects share it, each generator's token
//! judged; changes become series, Events on the objects, and PolicyReport results.

mod controller;
pub(crate) mod index;

pub(crate) use index::Reason as EventReason;
mod leader;
mod schedule;
mod sinks;
mod source;
mod use_jobs;
pub(crate) mod uses;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::admin::Admin;
use crate::cluster::{Cluster, Scope};
use crate::config::Config;
use crate::engine::Engine;
use crate::metrics::{EngineMetrics, Registry, WatchMetrics};
use controller::Controller;
use schedule::until;
use sinks::Events;
use source::Namespaces;
use uses::FollowedKind;

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
    engine_metrics.initialise(&engine.config().providers);
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
    // The objects that use credentials, each kind while its API exists (looked for again every
    // interval, at most every five minutes, when it does not).
    let follow = watch_config.follow;
    let rediscover = watch_config.recheck_interval.min(std::time::Duration::from_secs(300));
    let kinds = [
        (follow.applications || follow.image_updater, FollowedKind::Application),
        (follow.application_sets, FollowedKind::ApplicationSet),
        (follow.image_updater, FollowedKind::ImageUpdater),
    ];
    for (_, kind) in kinds.into_iter().filter(|(on, _)| *on) {
        for ns in &scope {
            source_tasks.push(tokio::spawn(source::followed(
                client.clone(),
                kind,
                ns.clone(),
                stream,
                source_tx.clone(),
                rediscover,
            )));
            stream += 1;
        }
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
    let (use_tx, mut use_rx) = mpsc::channel(1024);
    let mut c = Controller::new(
        engine,
        metrics,
        Some(Events::new(client.clone(), &identity)),
        report_tx,
        judged_tx,
        use_tx,
        Some(client.clone()),
        stream,
        admin.clone(),
    );
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
        let next = c
            .schedule
            .next()
            .into_iter()
            .chain(c.debounce.next())
            .chain(c.next_use())
            .chain(c.credentials_due())
            .min();
        tokio::select! {
            () = &mut stop => break,
            Some(event) = source_rx.recv() => c.on_source(event),
            Some(judged) = judged_rx.recv() => c.on_judged(judged),
            Some(judged) = use_rx.recv() => c.on_use_judged(judged),
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
                if c.credentials_due().is_some_and(|at| at <= tokio::time::Instant::now()) && c.synced.len() == c.streams {
                    c.rebuild_credentials();
                }
                c.on_use_due();
                c.flush_reports();
            }
        }
        // Reports left in namespaces that no longer hold credential Secrets go, once per leadership.
        if !stale_reports_checked && c.leader && c.reports.is_some() && c.synced.len() == c.streams {
            stale_reports_checked = true;
            let mut present = c.index.namespaces();
            present.extend(c.uses.namespaces());
            let (cluster, reports) = (cluster.clone(), c.reports.clone());
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
                                    let _ = r.send((ns, Vec::new(), Vec::new())).await;
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
