//! The controller's work on the uses of credentials: the jobs the [`UseIndex`](super::uses::UseIndex)
//! asks for — a probe of one (credential, repository, purpose), a generator's token — run at most
//! [`MAX_USE_TASKS`] at once, once at start (or when the use appears or its credential changes) and
//! again every `watch.recheckInterval`, the first re-checks spread over the interval; their results
//! turned into series, Events on the Applications and ApplicationSets, and report updates.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject};
use tokio::time::Instant;
use tracing::warn;

use super::controller::Controller;
use super::uses::{FollowedKind, Job, JobInput, Jobs, UseJudged};
use crate::cluster::{ARGOCD_CMD_PARAMS, TOKENREF_STRICT_MODE};
use crate::credential::{SecretObject, SecretType};
use crate::engine::uses::{KeyLookup, ScmToken, key_lookup, missing_named, scm_token};
use crate::metrics::{RepositoryLabels, ScmLabels};
use crate::render::uses::UseKind;
use crate::uses::plan::{Choice, RepoUse};
use crate::uses::{Credentials, ObjectKey, RepoFinding, ScmAuth, UseVerdict};

/// Job tasks out at once.
pub(super) const MAX_USE_TASKS: usize = 32;
/// How long after a Secret changes the uses resolve against the credentials again (changes in
/// between join: a relist of 10 000 Secrets resolves once).
const CREDENTIALS_SETTLE: Duration = Duration::from_millis(200);

fn kind_of(k: UseKind) -> FollowedKind {
    match k {
        UseKind::Application => FollowedKind::Application,
        UseKind::ApplicationSet => FollowedKind::ApplicationSet,
    }
}

/// The ImageUpdater kind has no findings of its own; Applications and ApplicationSets do.
fn use_kind(k: FollowedKind) -> Option<UseKind> {
    match k {
        FollowedKind::Application => Some(UseKind::Application),
        FollowedKind::ApplicationSet => Some(UseKind::ApplicationSet),
        FollowedKind::ImageUpdater => None,
    }
}

/// A Secret a job names, read alone: `Ok(None)` when there is none.
async fn read_secret(client: &kube::Client, ns: &str, name: &str) -> Result<Option<DynamicObject>, String> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
    );
    api.get_opt(name).await.map_err(|e| match e {
        // A decoding error's text could quote the Secret.
        kube::Error::SerdeError(_) => "an answer that could not be decoded".to_owned(),
        other => other.to_string(),
    })
}

/// Argo CD's tokenRef strict mode, from `argocd-cmd-params-cm` (off when it cannot be read, as Argo
/// CD's default; said in the log).
async fn strict_mode(client: &kube::Client, ns: &str) -> bool {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    match api.get_opt(ARGOCD_CMD_PARAMS).await {
        Ok(cm) => cm
            .and_then(|c| c.data)
            .and_then(|d| d.get(TOKENREF_STRICT_MODE).cloned())
            .is_some_and(|v| v.trim() == "true"),
        Err(e) => {
            warn!(namespace = ns, configmap = ARGOCD_CMD_PARAMS, error = %e, "reading Argo CD's parameters failed: tokenRef strict mode taken as off");
            false
        }
    }
}

impl Controller {
    fn interval_(&self) -> Duration {
        self.engine.config().watch.recheck_interval
    }

    fn uses_running(&self) -> bool {
        self.leader && self.synced.len() == self.streams
    }

    /// The Secrets changed: the uses resolve again soon; a changed credential's probes run now.
    pub(super) fn credentials_changed(&mut self, secret: Option<&ObjectKey>) {
        if self.creds_due.is_none() {
            self.creds_due = Some(Instant::now() + CREDENTIALS_SETTLE);
        }
        if let Some(k) = secret
            && self.uses_running()
        {
            let now = Instant::now();
            for job in self.uses.jobs_of_credential(k) {
                self.use_schedule.set(job, now);
            }
        }
    }

    /// When the credentials are due to be resolved again.
    pub(super) fn credentials_due(&self) -> Option<Instant> {
        self.creds_due
    }

    /// Resolve the uses against the credentials the index holds now.
    pub(super) fn rebuild_credentials(&mut self) {
        self.creds_due = None;
        let jobs = self
            .uses
            .set_credentials(Credentials::new(self.index.credential_refs()));
        self.on_jobs(jobs);
        // Who uses which credential may have changed for any object.
        let objects: Vec<(UseKind, ObjectKey)> = self
            .uses
            .namespaces()
            .into_iter()
            .flat_map(|ns| {
                self.uses
                    .evaluations_in(&ns)
                    .into_iter()
                    .map(|e| (e.kind, (e.namespace, e.name)))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (k, key) in objects {
            self.object_changed(kind_of(k), &key);
        }
    }

    /// Jobs came and went, objects' uses changed.
    pub(super) fn on_jobs(&mut self, jobs: Jobs) {
        for job in &jobs.removed {
            self.use_schedule.remove(job);
            self.use_judged.remove(job);
        }
        if self.uses_running() {
            let now = Instant::now();
            for job in jobs.added {
                self.use_schedule.set(job, now);
            }
        }
        self.export_series();
        for (k, key) in &jobs.changed {
            self.object_changed(kind_of(*k), key);
        }
    }

    /// Everything runs now (this replica leads, and every watch has listed).
    pub(super) fn start_uses(&mut self) {
        if !self.uses_running() {
            return;
        }
        self.use_schedule.clear();
        self.use_due.clear();
        self.use_judged.clear();
        let now = Instant::now();
        for job in self.uses.jobs() {
            self.use_schedule.set(job, now);
        }
        self.pump_uses();
    }

    /// Leadership lost: nothing runs, nothing is said, no series.
    pub(super) fn stop_uses(&mut self) {
        self.use_schedule.clear();
        self.use_due.clear();
        self.use_judged.clear();
        self.uses.forget_results();
        self.export_series();
    }

    /// When the next job falls due.
    pub(super) fn next_use(&self) -> Option<Instant> {
        self.use_schedule.next()
    }

    pub(super) fn on_use_due(&mut self) {
        let due = self.use_schedule.take_due(Instant::now());
        self.use_due.extend(due);
        self.pump_uses();
    }

    /// Start job tasks while there are due jobs and room.
    fn pump_uses(&mut self) {
        while self.use_tasks < MAX_USE_TASKS {
            let Some(job) = self.use_due.pop_front() else { return };
            if self.spawn_use(job) {
                self.use_tasks += 1;
            } else {
                self.use_schedule.remove(&job);
            }
        }
    }

    /// Run one job; `false` when it is gone.
    fn spawn_use(&mut self, job: Job) -> bool {
        let Some(input) = self.uses.input(job) else {
            return false;
        };
        let engine = self.engine.clone();
        let tx = self.use_tx.clone();
        let client = self.client.clone();
        let fresh = Some(std::time::Instant::now());
        let argocd_ns = self.engine.config().watch.argocd_namespace.clone();
        match (job, input) {
            (Job::Probe(id), JobInput::Probe { choice, url, purpose }) => {
                let secret: Option<SecretObject> = match &choice {
                    Choice::Secret(k) => self.index.secret(k).map(|(s, _)| s.clone()),
                    _ => None,
                };
                tokio::spawn(async move {
                    let found = match &choice {
                        Choice::Secret(k) => match &secret {
                            Some(s) => engine.judge_repository(Some((k, s)), &url, purpose, fresh).await,
                            // Gone since: the next resolution drops this probe.
                            None => engine.judge_repository(None, &url, purpose, fresh).await,
                        },
                        Choice::Named(k) => {
                            let read = match &client {
                                Some(c) => read_secret(c, &k.0, &k.1).await,
                                None => Err("no cluster".to_owned()),
                            };
                            match read {
                                Ok(Some(o)) => {
                                    // Image Updater's Secret: its credential, for this repository.
                                    let s = SecretObject::from_dynamic_owned(o).used_for(SecretType::Repository, &url);
                                    engine.judge_repository(Some((k, &s)), &url, purpose, fresh).await
                                }
                                Ok(None) => missing_named(
                                    &RepoUse {
                                        url: url.clone(),
                                        purpose,
                                        choice: choice.clone(),
                                    },
                                    k,
                                    "does not exist",
                                ),
                                Err(e) => RepoFinding {
                                    url: url.clone(),
                                    purpose,
                                    credential: Some(k.clone()),
                                    verdict: UseVerdict::Unverified,
                                    message: format!("cannot read Secret {}/{}: {e}", k.0, k.1),
                                    provider_failed: true,
                                },
                            }
                        }
                        _ => engine.judge_repository(None, &url, purpose, fresh).await,
                    };
                    let _ = tx.send(UseJudged::Probe { id, found }).await;
                });
                true
            }
            (Job::Scm(id), JobInput::Scm { set, generator }) => {
                tokio::spawn(async move {
                    let g = *generator;
                    let mut lookup = KeyLookup::NoSecret;
                    let mut app = None;
                    let mut strict = false;
                    let mut unreadable = None;
                    if let Some(c) = &client {
                        match &g.auth {
                            ScmAuth::GithubApp { secret_name } => match read_secret(c, &argocd_ns, secret_name).await {
                                Ok(o) => app = o.map(SecretObject::from_dynamic_owned),
                                Err(e) => {
                                    unreadable = Some(format!("cannot read Secret {argocd_ns}/{secret_name}: {e}"))
                                }
                            },
                            auth => {
                                if let Some(r) = auth.secret_ref() {
                                    match read_secret(c, &set.0, &r.secret_name).await {
                                        Ok(o) => {
                                            let raw = o.and_then(|o| serde_json::to_value(o).ok());
                                            lookup = key_lookup(raw.as_ref(), &r.key);
                                        }
                                        Err(e) => {
                                            unreadable =
                                                Some(format!("cannot read Secret {}/{}: {e}", set.0, r.secret_name))
                                        }
                                    }
                                    strict = strict_mode(c, &argocd_ns).await;
                                }
                            }
                        }
                    }
                    let token = match unreadable {
                        Some(message) => ScmToken::Unusable {
                            secret: None,
                            verdict: UseVerdict::Unverified,
                            message,
                        },
                        None => scm_token(
                            &set,
                            &g,
                            strict,
                            &argocd_ns,
                            "does not exist",
                            |_, _, _| lookup.clone(),
                            |_, _| app.clone(),
                        ),
                    };
                    let found = engine.judge_scm(&g, token, fresh).await;
                    let _ = tx.send(UseJudged::Scm { id, found }).await;
                });
                true
            }
            _ => false,
        }
    }

    /// A job's result.
    pub(super) fn on_use_judged(&mut self, judged: UseJudged) {
        self.use_tasks = self.use_tasks.saturating_sub(1);
        if !self.leader {
            return;
        }
        let now = Instant::now();
        let interval = self.interval_();
        let (job, failed) = match judged {
            UseJudged::Probe { id, found } => {
                let failed = found.provider_failed;
                let users = self.uses.record_probe(id, found);
                // The series first: what the log and the Events say is already on /metrics.
                self.export_series();
                for (k, key) in users {
                    self.object_changed(kind_of(k), &key);
                }
                (Job::Probe(id), failed)
            }
            UseJudged::Scm { id, found } => {
                let failed = found.provider_failed;
                if let Some((set, _)) = self.uses.record_scm(id, found.clone()) {
                    self.export_series();
                    if let Some(event) = self.uses.scm_event(&set, &found)
                        && let Some(events) = &self.events
                    {
                        events.publish_use(&event);
                    }
                    self.object_changed(FollowedKind::ApplicationSet, &set);
                }
                (Job::Scm(id), failed)
            }
        };
        self.export_series();
        // The next run: an interval on (the first re-check spread over the interval), or sooner after
        // a failure.
        if self.uses.input(job).is_some() {
            let first = self.use_judged.insert(job);
            self.use_schedule.done(job, failed, now, interval);
            if first && !failed {
                let id = match job {
                    Job::Probe(i) | Job::Scm(i) => i,
                };
                // A fixed fraction of the interval per job, spread evenly (the golden ratio's).
                let fraction = (id as f64 * 0.618_033_988_749_895).fract();
                self.use_schedule.set(job, now + interval + interval.mul_f64(fraction));
            }
        } else {
            self.use_schedule.remove(&job);
        }
        self.pump_uses();
    }

    fn touch_report(&mut self, ns: &str) {
        if self.reports.is_some() {
            let delay = self.engine.config().watch.report_debounce;
            self.debounce.touch(ns, Instant::now(), delay);
        }
    }

    /// An object's findings may have changed: its log line, its Event, its report.
    pub(super) fn object_changed(&mut self, kind: FollowedKind, key: &ObjectKey) {
        if !self.leader {
            return;
        }
        let Some(k) = use_kind(kind) else { return };
        if let Some((before, now, why)) = self.uses.verdict_change(k, key) {
            let reason: String = why.chars().take(300).collect();
            tracing::info!(
                kind = k.as_str(),
                namespace = key.0.as_str(),
                name = key.1.as_str(),
                old = before.map_or("none", UseVerdict::as_str),
                new = now.as_str(),
                reason,
                "use verdict changed"
            );
        }
        if let Some(event) = self.uses.repository_event(k, key)
            && let Some(events) = &self.events
        {
            events.publish_use(&event);
        }
        self.touch_report(&key.0);
    }

    /// Keep the series of the uses true to the index: the leader exports them, a follower none.
    pub(super) fn export_series(&mut self) {
        let (repos, scm) = if self.leader {
            (
                self.uses.all_series(),
                self.uses
                    .scm_findings()
                    .into_iter()
                    .map(|(set, f)| ScmLabels {
                        namespace: set.0,
                        applicationset: set.1,
                        generator: f.generator,
                        provider: f.provider.as_str(),
                        verdict: f.verdict.as_str(),
                    })
                    .collect(),
            )
        } else {
            Default::default()
        };
        let labels = |(repo, ns, name): &(String, String, String), v: UseVerdict| RepositoryLabels {
            repo_url: repo.clone(),
            verdict: v.as_str(),
            namespace: ns.clone(),
            name: name.clone(),
        };
        for (k, v) in &self.exported_repos {
            if repos.get(k) != Some(v) {
                self.metrics.repository_access.remove(&labels(k, *v));
            }
        }
        for (k, v) in &repos {
            if self.exported_repos.get(k) != Some(v) {
                self.metrics.repository_access.get_or_create(&labels(k, *v)).set(1);
            }
        }
        self.exported_repos = repos;
        let scm: std::collections::BTreeSet<ScmLabels> = scm;
        for l in self.exported_scm.difference(&scm) {
            self.metrics.scm_credential_verdict.remove(l);
        }
        for l in scm.difference(&self.exported_scm) {
            self.metrics.scm_credential_verdict.get_or_create(l).set(1);
        }
        self.exported_scm = scm;
    }
}
