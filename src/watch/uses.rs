//! The watcher's state of the uses of credentials, owned by the controller's task beside the Secret
//! [`Index`](super::index::Index): the Applications, ApplicationSets and ImageUpdaters followed
//! (reduced), what each needs of which repository with which credential ([`plan`]), and the jobs that
//! establish it — one per distinct (credential, repository, purpose), however many objects share it,
//! and one per ApplicationSet generator — with their last results; and the rules for which change is
//! worth an Event. Pure: the controller feeds it what the watches and the jobs said, and acts on what
//! it returns.

use std::collections::{BTreeMap, BTreeSet};

use super::index::Reason;
use crate::render::uses::{UseEvaluation, UseKind, is_finding};
use crate::uses::plan::{self, Choice, RepoUse};
use crate::uses::{
    Application, ApplicationSet, Credentials, Generator, ImageUpdater, ObjectKey, Purpose, RepoFinding, ScmFinding,
    UseVerdict, resolve,
};

/// One object a watch reports.
#[derive(Debug, Clone)]
pub(crate) enum Followed {
    App(Box<Application>),
    Set(Box<ApplicationSet>),
    Updater(Box<ImageUpdater>),
}

/// Which kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum FollowedKind {
    Application,
    ApplicationSet,
    ImageUpdater,
}

/// A job: a probe of one (credential, repository, purpose), or one generator's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Job {
    Probe(u64),
    Scm(u64),
}

/// What a probe job is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ProbeKey {
    pub choice: Choice,
    /// The repository in Argo CD's normal form.
    pub repo: String,
    pub purpose: Purpose,
}

/// What a job task sends back.
pub(crate) enum UseJudged {
    Probe { id: u64, found: RepoFinding },
    Scm { id: u64, found: ScmFinding },
}

/// What a job needs to run.
#[derive(Debug, Clone)]
pub(crate) enum JobInput {
    Probe {
        choice: Choice,
        /// The URL as the first object that needed it wrote it.
        url: String,
        purpose: Purpose,
    },
    Scm {
        set: ObjectKey,
        generator: Box<Generator>,
    },
}

struct ProbeState {
    key: ProbeKey,
    url: String,
    result: Option<RepoFinding>,
    users: BTreeSet<(UseKind, ObjectKey)>,
}

struct ScmState {
    set: ObjectKey,
    generator: Generator,
    result: Option<ScmFinding>,
}

struct Entry<T> {
    obj: T,
    uid: Option<String>,
    streams: BTreeSet<usize>,
    /// Its uses, each with its probe job (none for a use no probe decides).
    uses: Vec<(RepoUse, Option<u64>)>,
    /// Its generators' jobs (ApplicationSets).
    scm: Vec<u64>,
    /// The findings the last Warning named (empty: none since the last Normal).
    said: BTreeSet<(String, Purpose, UseVerdict)>,
    /// Per generator: the verdict the last Warning named.
    said_scm: BTreeMap<String, UseVerdict>,
    /// The verdict last logged.
    logged: Option<UseVerdict>,
}

impl<T> Entry<T> {
    fn new(obj: T, uid: Option<String>, stream: usize) -> Self {
        Self {
            obj,
            uid,
            streams: BTreeSet::from([stream]),
            uses: Vec::new(),
            scm: Vec::new(),
            said: BTreeSet::new(),
            said_scm: BTreeMap::new(),
            logged: None,
        }
    }
}

/// An Event to write about an Application or ApplicationSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UseEvent {
    pub kind: UseKind,
    pub key: ObjectKey,
    pub uid: Option<String>,
    pub reason: Reason,
    pub note: String,
}

/// What a change did to the jobs.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    pub added: Vec<Job>,
    pub removed: Vec<Job>,
    /// The object removed is gone (no watch reports it any more).
    pub gone: bool,
    /// Objects whose uses changed without a job's result (a use added or dropped).
    pub changed: Vec<(UseKind, ObjectKey)>,
}

impl Jobs {
    fn merge(&mut self, other: Jobs) {
        self.added.extend(other.added);
        self.removed.extend(other.removed);
        self.gone |= other.gone;
        self.changed.extend(other.changed);
    }
}

/// A `scopegate_repository_access` series: (repository, credential namespace, credential name).
pub(crate) type SeriesKey = (String, String, String);

#[derive(Default)]
pub(crate) struct UseIndex {
    apps: BTreeMap<ObjectKey, Entry<Application>>,
    sets: BTreeMap<ObjectKey, Entry<ApplicationSet>>,
    updaters: BTreeMap<ObjectKey, (ImageUpdater, BTreeSet<usize>)>,
    probe_ids: BTreeMap<ProbeKey, u64>,
    probes: BTreeMap<u64, ProbeState>,
    scms: BTreeMap<u64, ScmState>,
    next: u64,
    creds: Credentials,
    argocd_namespace: String,
}

fn series_key(p: &ProbeState) -> SeriesKey {
    let (ns, name) = match &p.key.choice {
        Choice::Secret((ns, name)) | Choice::Named((ns, name)) => (ns.clone(), name.clone()),
        _ => (String::new(), String::new()),
    };
    (p.key.repo.clone(), ns, name)
}

impl UseIndex {
    pub fn new(argocd_namespace: &str) -> Self {
        Self {
            argocd_namespace: argocd_namespace.to_owned(),
            ..Self::default()
        }
    }

    pub fn objects(&self) -> usize {
        self.apps.len() + self.sets.len()
    }

    /// How many probe jobs there are (distinct credential, repository and purpose).
    #[cfg(test)]
    pub fn probe_jobs(&self) -> usize {
        self.probes.len()
    }

    /// The namespaces that hold followed Applications and ApplicationSets.
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.apps
            .keys()
            .chain(self.sets.keys())
            .map(|(ns, _)| ns.clone())
            .collect()
    }

    /// Every job there is.
    pub fn jobs(&self) -> Vec<Job> {
        self.probes
            .keys()
            .map(|id| Job::Probe(*id))
            .chain(self.scms.keys().map(|id| Job::Scm(*id)))
            .collect()
    }

    /// The probe jobs that use the credential Secret `key`.
    pub fn jobs_of_credential(&self, key: &ObjectKey) -> Vec<Job> {
        self.probes
            .iter()
            .filter(|(_, p)| matches!(&p.key.choice, Choice::Secret(k) | Choice::Named(k) if k == key))
            .map(|(id, _)| Job::Probe(*id))
            .collect()
    }

    /// What a job needs to run; `None` when it is gone.
    pub fn input(&self, job: Job) -> Option<JobInput> {
        match job {
            Job::Probe(id) => self.probes.get(&id).map(|p| JobInput::Probe {
                choice: p.key.choice.clone(),
                url: p.url.clone(),
                purpose: p.key.purpose,
            }),
            Job::Scm(id) => self.scms.get(&id).map(|s| JobInput::Scm {
                set: s.set.clone(),
                generator: Box::new(s.generator.clone()),
            }),
        }
    }

    /// A watch reports an object. The jobs it added and removed.
    pub fn upsert(&mut self, stream: usize, obj: Followed, uid: Option<String>) -> Jobs {
        match obj {
            Followed::App(a) => {
                let key = a.key();
                let same = self.apps.get(&key).is_some_and(|e| e.obj == *a);
                let e = self
                    .apps
                    .entry(key.clone())
                    .or_insert_with(|| Entry::new((*a).clone(), uid.clone(), stream));
                e.streams.insert(stream);
                e.uid = uid;
                if same {
                    return Jobs::default();
                }
                e.obj = *a;
                self.plan_app(&key)
            }
            Followed::Set(s) => {
                let key = s.key();
                let same = self.sets.get(&key).is_some_and(|e| e.obj == *s);
                let e = self
                    .sets
                    .entry(key.clone())
                    .or_insert_with(|| Entry::new((*s).clone(), uid.clone(), stream));
                e.streams.insert(stream);
                e.uid = uid;
                if same {
                    return Jobs::default();
                }
                e.obj = *s;
                self.plan_set(&key)
            }
            Followed::Updater(u) => {
                let key = u.key();
                let ns = u.namespace.clone();
                let changed = self.updaters.get(&key).is_none_or(|(old, _)| *old != *u);
                let e = self
                    .updaters
                    .entry(key)
                    .or_insert_with(|| ((*u).clone(), BTreeSet::new()));
                e.1.insert(stream);
                e.0 = *u;
                if changed {
                    self.plan_apps_in(&ns)
                } else {
                    Jobs::default()
                }
            }
        }
    }

    /// A watch no longer reports an object (gone when no watch does).
    pub fn remove(&mut self, stream: usize, kind: FollowedKind, key: &ObjectKey) -> Jobs {
        let mut jobs = Jobs::default();
        match kind {
            FollowedKind::Application => {
                let Some(e) = self.apps.get_mut(key) else {
                    return jobs;
                };
                e.streams.remove(&stream);
                if !e.streams.is_empty() {
                    return jobs;
                }
                let e = self.apps.remove(key);
                for (_, job) in e.map(|e| e.uses).unwrap_or_default() {
                    jobs.merge(self.release(job, UseKind::Application, key));
                }
            }
            FollowedKind::ApplicationSet => {
                let Some(e) = self.sets.get_mut(key) else {
                    return jobs;
                };
                e.streams.remove(&stream);
                if !e.streams.is_empty() {
                    return jobs;
                }
                let Some(e) = self.sets.remove(key) else {
                    return jobs;
                };
                for (_, job) in e.uses {
                    jobs.merge(self.release(job, UseKind::ApplicationSet, key));
                }
                for id in e.scm {
                    self.scms.remove(&id);
                    jobs.removed.push(Job::Scm(id));
                }
            }
            FollowedKind::ImageUpdater => {
                let Some(e) = self.updaters.get_mut(key) else {
                    return jobs;
                };
                e.1.remove(&stream);
                if !e.1.is_empty() {
                    return jobs;
                }
                self.updaters.remove(key);
                jobs = self.plan_apps_in(&key.0);
            }
        }
        jobs.gone = true;
        jobs
    }

    /// A watch listed again: what it reported before and not now is gone from it.
    pub fn relisted(&mut self, stream: usize, kind: FollowedKind, now: &BTreeSet<ObjectKey>) -> Jobs {
        let gone: Vec<ObjectKey> = match kind {
            FollowedKind::Application => self
                .apps
                .iter()
                .filter(|(k, e)| e.streams.contains(&stream) && !now.contains(*k))
                .map(|(k, _)| k.clone())
                .collect(),
            FollowedKind::ApplicationSet => self
                .sets
                .iter()
                .filter(|(k, e)| e.streams.contains(&stream) && !now.contains(*k))
                .map(|(k, _)| k.clone())
                .collect(),
            FollowedKind::ImageUpdater => self
                .updaters
                .iter()
                .filter(|(k, e)| e.1.contains(&stream) && !now.contains(*k))
                .map(|(k, _)| k.clone())
                .collect(),
        };
        let mut jobs = Jobs::default();
        for k in gone {
            jobs.merge(self.remove(stream, kind, &k));
        }
        jobs
    }

    /// The credentials changed: every object is planned again.
    pub fn set_credentials(&mut self, creds: Credentials) -> Jobs {
        self.creds = creds;
        let mut jobs = Jobs::default();
        let apps: Vec<ObjectKey> = self.apps.keys().cloned().collect();
        for k in apps {
            jobs.merge(self.plan_app(&k));
        }
        let sets: Vec<ObjectKey> = self.sets.keys().cloned().collect();
        for k in sets {
            jobs.merge(self.plan_set(&k));
        }
        jobs
    }

    fn plan_apps_in(&mut self, ns: &str) -> Jobs {
        let keys: Vec<ObjectKey> = self
            .apps
            .range((ns.to_owned(), String::new())..)
            .take_while(|(k, _)| k.0 == ns)
            .map(|(k, _)| k.clone())
            .collect();
        let mut jobs = Jobs::default();
        for k in keys {
            jobs.merge(self.plan_app(&k));
        }
        jobs
    }

    /// A job for `u`, shared with every other use of the same key.
    fn acquire(&mut self, u: &RepoUse, user: (UseKind, ObjectKey), jobs: &mut Jobs) -> Option<u64> {
        let (choice, repo, purpose) = u.probe_key()?;
        let key = ProbeKey { choice, repo, purpose };
        let id = match self.probe_ids.get(&key) {
            Some(id) => *id,
            None => {
                self.next += 1;
                let id = self.next;
                self.probe_ids.insert(key.clone(), id);
                self.probes.insert(
                    id,
                    ProbeState {
                        key,
                        url: u.url.clone(),
                        result: None,
                        users: BTreeSet::new(),
                    },
                );
                jobs.added.push(Job::Probe(id));
                id
            }
        };
        if let Some(p) = self.probes.get_mut(&id) {
            p.users.insert(user);
        }
        Some(id)
    }

    /// One use of `job` by `kind`/`key` ends; the job goes with its last user.
    fn release(&mut self, job: Option<u64>, kind: UseKind, key: &ObjectKey) -> Jobs {
        let mut jobs = Jobs::default();
        let Some(id) = job else { return jobs };
        let Some(p) = self.probes.get_mut(&id) else { return jobs };
        p.users.remove(&(kind, key.clone()));
        if p.users.is_empty() {
            let p = self.probes.remove(&id);
            if let Some(p) = p {
                self.probe_ids.remove(&p.key);
            }
            jobs.removed.push(Job::Probe(id));
        }
        jobs
    }

    fn replace_uses(&mut self, kind: UseKind, key: &ObjectKey, planned: Vec<RepoUse>) -> Jobs {
        let mut jobs = Jobs::default();
        let mut with_jobs = Vec::with_capacity(planned.len());
        for u in planned {
            let job = self.acquire(&u, (kind, key.clone()), &mut jobs);
            with_jobs.push((u, job));
        }
        let old = match kind {
            UseKind::Application => self
                .apps
                .get_mut(key)
                .map(|e| std::mem::replace(&mut e.uses, with_jobs)),
            UseKind::ApplicationSet => self
                .sets
                .get_mut(key)
                .map(|e| std::mem::replace(&mut e.uses, with_jobs)),
        };
        let kept: BTreeSet<u64> = match kind {
            UseKind::Application => self
                .apps
                .get(key)
                .map(|e| e.uses.iter().filter_map(|(_, j)| *j).collect()),
            UseKind::ApplicationSet => self
                .sets
                .get(key)
                .map(|e| e.uses.iter().filter_map(|(_, j)| *j).collect()),
        }
        .unwrap_or_default();
        let old = old.unwrap_or_default();
        let now: Vec<&RepoUse> = match kind {
            UseKind::Application => self.apps.get(key).map(|e| e.uses.iter().map(|(u, _)| u).collect()),
            UseKind::ApplicationSet => self.sets.get(key).map(|e| e.uses.iter().map(|(u, _)| u).collect()),
        }
        .unwrap_or_default();
        if old.len() != now.len() || old.iter().zip(&now).any(|((a, _), b)| a != *b) {
            jobs.changed.push((kind, key.clone()));
        }
        for (_, job) in old {
            if job.is_some_and(|j| !kept.contains(&j)) {
                jobs.merge(self.release(job, kind, key));
            }
        }
        // A job added and released at once (a use that moved) is neither.
        jobs.added.retain(|j| !jobs.removed.contains(j));
        jobs
    }

    fn plan_app(&mut self, key: &ObjectKey) -> Jobs {
        let Some(e) = self.apps.get(key) else {
            return Jobs::default();
        };
        let updaters: Vec<&ImageUpdater> = self
            .updaters
            .values()
            .filter(|(u, _)| u.namespace == e.obj.namespace)
            .map(|(u, _)| u)
            .collect();
        let planned = plan::application(&e.obj, &self.creds, &self.argocd_namespace, &updaters);
        self.replace_uses(UseKind::Application, key, planned)
    }

    fn plan_set(&mut self, key: &ObjectKey) -> Jobs {
        let Some(e) = self.sets.get(key) else {
            return Jobs::default();
        };
        let planned = plan::application_set(&e.obj, &self.creds, &self.argocd_namespace);
        let generators = e.obj.generators.clone();
        let mut jobs = self.replace_uses(UseKind::ApplicationSet, key, planned);
        // Generators: one job each, kept while the generator is the same.
        let old: Vec<u64> = self
            .sets
            .get_mut(key)
            .map(|e| std::mem::take(&mut e.scm))
            .unwrap_or_default();
        let mut ids = Vec::new();
        let mut reused = BTreeSet::new();
        for g in generators {
            let found = old
                .iter()
                .find(|id| !reused.contains(*id) && self.scms.get(id).is_some_and(|s| s.generator == g))
                .copied();
            let id = match found {
                Some(id) => id,
                None => {
                    self.next += 1;
                    let id = self.next;
                    self.scms.insert(
                        id,
                        ScmState {
                            set: key.clone(),
                            generator: g,
                            result: None,
                        },
                    );
                    jobs.added.push(Job::Scm(id));
                    id
                }
            };
            reused.insert(id);
            ids.push(id);
        }
        for id in old.into_iter().filter(|id| !reused.contains(id)) {
            self.scms.remove(&id);
            jobs.removed.push(Job::Scm(id));
        }
        if let Some(e) = self.sets.get_mut(key) {
            e.scm = ids;
        }
        jobs
    }

    /// A probe's result: the objects that use it, when it changed anything.
    pub fn record_probe(&mut self, id: u64, found: RepoFinding) -> Vec<(UseKind, ObjectKey)> {
        let Some(p) = self.probes.get_mut(&id) else {
            return Vec::new();
        };
        // A provider failure keeps the finding there is (a first one is recorded).
        if found.provider_failed && p.result.is_some() {
            return Vec::new();
        }
        if p.result.as_ref() == Some(&found) {
            return Vec::new();
        }
        p.result = Some(found);
        p.users.iter().cloned().collect()
    }

    /// A generator's result: the ApplicationSet, and the generator's finding before.
    pub fn record_scm(&mut self, id: u64, found: ScmFinding) -> Option<(ObjectKey, Option<ScmFinding>)> {
        let s = self.scms.get_mut(&id)?;
        if found.provider_failed && s.result.is_some() {
            return None;
        }
        if s.result.as_ref() == Some(&found) {
            return None;
        }
        let before = s.result.replace(found);
        Some((s.set.clone(), before))
    }

    /// Every current generator finding with its ApplicationSet (for the series when leadership ends).
    pub fn scm_findings(&self) -> Vec<(ObjectKey, ScmFinding)> {
        self.scms
            .values()
            .filter_map(|s| s.result.clone().map(|r| (s.set.clone(), r)))
            .collect()
    }

    /// Every series with its verdict.
    pub fn all_series(&self) -> BTreeMap<SeriesKey, UseVerdict> {
        let mut out: BTreeMap<SeriesKey, UseVerdict> = BTreeMap::new();
        for p in self.probes.values() {
            if let Some(r) = &p.result {
                let v = out.entry(series_key(p)).or_insert(r.verdict);
                *v = (*v).max(r.verdict);
            }
        }
        out
    }

    /// Forget every result (leadership lost).
    pub fn forget_results(&mut self) {
        for p in self.probes.values_mut() {
            p.result = None;
        }
        for s in self.scms.values_mut() {
            s.result = None;
        }
        for e in self.apps.values_mut() {
            e.said.clear();
            e.logged = None;
        }
        for e in self.sets.values_mut() {
            e.said.clear();
            e.said_scm.clear();
            e.logged = None;
        }
    }

    /// An object's findings so far: each use with a result (or one no probe decides), each generator
    /// with one.
    fn findings(&self, kind: UseKind, key: &ObjectKey) -> Option<(Vec<RepoFinding>, Vec<ScmFinding>, Option<String>)> {
        let (uses, scm, uid) = match kind {
            UseKind::Application => self.apps.get(key).map(|e| (&e.uses, &e.scm, e.uid.clone()))?,
            UseKind::ApplicationSet => self.sets.get(key).map(|e| (&e.uses, &e.scm, e.uid.clone()))?,
        };
        let repos = uses
            .iter()
            .filter_map(|(u, job)| match job {
                Some(id) => self.probes.get(id)?.result.as_ref().map(|r| RepoFinding {
                    url: u.url.clone(),
                    ..r.clone()
                }),
                None => crate::engine::uses::unprobed(u),
            })
            .collect();
        let gens = scm.iter().filter_map(|id| self.scms.get(id)?.result.clone()).collect();
        Some((repos, gens, uid))
    }

    /// Whether some use of an object has not been judged yet (its job has no result).
    fn pending(&self, kind: UseKind, key: &ObjectKey) -> bool {
        let (uses, scm) = match kind {
            UseKind::Application => match self.apps.get(key) {
                Some(e) => (&e.uses, &e.scm),
                None => return false,
            },
            UseKind::ApplicationSet => match self.sets.get(key) {
                Some(e) => (&e.uses, &e.scm),
                None => return false,
            },
        };
        uses.iter()
            .filter_map(|(_, j)| *j)
            .any(|id| self.probes.get(&id).is_some_and(|p| p.result.is_none()))
            || scm
                .iter()
                .any(|id| self.scms.get(id).is_some_and(|s| s.result.is_none()))
    }

    /// An object's uses, judged so far, as the reports show them.
    pub fn evaluation(&self, kind: UseKind, key: &ObjectKey) -> Option<UseEvaluation> {
        let (repos, gens, uid) = self.findings(kind, key)?;
        if repos.is_empty() && gens.is_empty() {
            return None;
        }
        let mut e = UseEvaluation::new(kind, key, "cluster".into(), &repos, &gens);
        e.uid = uid;
        Some(e)
    }

    /// An object's verdict (the worst of its findings), when it changed since last asked: (before,
    /// now, what is wrong).
    pub fn verdict_change(
        &mut self,
        kind: UseKind,
        key: &ObjectKey,
    ) -> Option<(Option<UseVerdict>, UseVerdict, String)> {
        if self.pending(kind, key) {
            return None;
        }
        let e = self.evaluation(kind, key)?;
        let logged = match kind {
            UseKind::Application => &mut self.apps.get_mut(key)?.logged,
            UseKind::ApplicationSet => &mut self.sets.get_mut(key)?.logged,
        };
        if *logged == Some(e.verdict) {
            return None;
        }
        let before = logged.replace(e.verdict);
        Some((before, e.verdict, e.message))
    }

    /// The evaluations of a namespace's objects.
    pub fn evaluations_in(&self, ns: &str) -> Vec<UseEvaluation> {
        let mut out = Vec::new();
        for (k, _) in self
            .apps
            .range((ns.to_owned(), String::new())..)
            .take_while(|(k, _)| k.0 == ns)
        {
            out.extend(self.evaluation(UseKind::Application, k));
        }
        for (k, _) in self
            .sets
            .range((ns.to_owned(), String::new())..)
            .take_while(|(k, _)| k.0 == ns)
        {
            out.extend(self.evaluation(UseKind::ApplicationSet, k));
        }
        out
    }

    /// The Event an object's repository findings are worth now, given what was said: a Warning when
    /// the findings to act on changed, a Normal when the last of them went.
    pub fn repository_event(&mut self, kind: UseKind, key: &ObjectKey) -> Option<UseEvent> {
        // Said once every use has been judged: a use still waiting for its probe is not yet fine.
        if self.pending(kind, key) {
            return None;
        }
        let (repos, _, uid) = self.findings(kind, key)?;
        let now: BTreeSet<(String, Purpose, UseVerdict)> = repos
            .iter()
            .filter(|r| is_finding(r.verdict))
            .map(|r| (resolve::normalize(&r.url), r.purpose, r.verdict))
            .collect();
        let said = match kind {
            UseKind::Application => &mut self.apps.get_mut(key)?.said,
            UseKind::ApplicationSet => &mut self.sets.get_mut(key)?.said,
        };
        if now == *said {
            return None;
        }
        let was = std::mem::replace(said, now.clone());
        let (reason, note) = if now.is_empty() {
            if was.is_empty() {
                return None;
            }
            (
                Reason::RepositoryReachable,
                format!(
                    "{} {}/{}: every repository it needs answers with the credential Argo CD uses for it.",
                    kind.as_str(),
                    key.0,
                    key.1
                ),
            )
        } else {
            let words: Vec<String> = repos
                .iter()
                .filter(|r| is_finding(r.verdict))
                .map(|r| format!("{} ({}).", r.message, r.verdict.as_str()))
                .collect();
            (
                Reason::RepositoryUnreachable,
                format!("{} {}/{}: {}", kind.as_str(), key.0, key.1, words.join(" ")),
            )
        };
        Some(UseEvent {
            kind,
            key: key.clone(),
            uid,
            reason,
            note,
        })
    }

    /// The Event a generator's finding is worth, given what was said about it.
    pub fn scm_event(&mut self, key: &ObjectKey, found: &ScmFinding) -> Option<UseEvent> {
        let e = self.sets.get_mut(key)?;
        let warning = match found.verdict {
            UseVerdict::Insufficient => Some(Reason::Insufficient),
            UseVerdict::Invalid | UseVerdict::NoCredential | UseVerdict::Unreachable => Some(Reason::Invalid),
            UseVerdict::Unverified if !found.provider_failed => Some(Reason::Unverified),
            UseVerdict::Unverified => return None,
            UseVerdict::Ok => None,
        };
        let said = e.said_scm.get(&found.generator).copied();
        let reason = match warning {
            Some(_) if said == Some(found.verdict) => return None,
            Some(w) => {
                e.said_scm.insert(found.generator.clone(), found.verdict);
                w
            }
            None if said.is_some() => {
                e.said_scm.remove(&found.generator);
                Reason::Verified
            }
            None => return None,
        };
        let note = match reason {
            Reason::Verified => format!(
                "{}: the token has what the scm role needs again.",
                found.message.split(':').next().unwrap_or_default()
            ),
            _ => found.message.clone(),
        };
        Some(UseEvent {
            kind: UseKind::ApplicationSet,
            key: key.clone(),
            uid: e.uid.clone(),
            reason,
            note,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::SecretType;
    use crate::uses::resolve::CredentialRef;
    use serde_json::json;

    fn app(ns: &str, name: &str, repo: &str) -> Followed {
        Followed::App(Box::new(
            Application::from_value(&json!({
                "metadata": {"name": name, "namespace": ns},
                "spec": {"source": {"repoURL": repo}}
            }))
            .unwrap(),
        ))
    }

    fn creds() -> Credentials {
        Credentials::new(vec![CredentialRef {
            namespace: "argocd".into(),
            name: "acme".into(),
            secret_type: SecretType::RepoCreds,
            url: "https://github.com/acme".into(),
            project: String::new(),
            own_credentials: true,
        }])
    }

    fn finding(url: &str, verdict: UseVerdict) -> RepoFinding {
        RepoFinding {
            url: url.into(),
            purpose: Purpose::Sync,
            credential: Some(("argocd".into(), "acme".into())),
            verdict,
            message: format!("{url} said so"),
            provider_failed: false,
        }
    }

    fn key(name: &str) -> ObjectKey {
        ("argocd".into(), name.into())
    }

    #[test]
    fn objects_sharing_a_repository_share_one_probe_which_goes_with_the_last() {
        let mut u = UseIndex::new("argocd");
        u.set_credentials(creds());
        let a = u.upsert(0, app("argocd", "a", "https://github.com/acme/app"), None);
        assert_eq!(a.added, [Job::Probe(1)]);
        let b = u.upsert(0, app("argocd", "b", "https://github.com/Acme/App.git"), None);
        assert!(b.added.is_empty(), "the same credential and repository: {b:?}");
        let c = u.upsert(0, app("argocd", "c", "https://github.com/acme/other"), None);
        assert_eq!(c.added, [Job::Probe(2)]);
        assert_eq!(u.probe_jobs(), 2);
        // The same object again: nothing to do.
        assert!(
            u.upsert(0, app("argocd", "a", "https://github.com/acme/app"), None)
                .added
                .is_empty()
        );
        let users = u.record_probe(1, finding("https://github.com/acme/app", UseVerdict::Unreachable));
        assert_eq!(users.len(), 2);
        assert_eq!(
            u.all_series().into_iter().collect::<Vec<_>>(),
            [(
                ("https://github.com/acme/app".into(), "argocd".into(), "acme".into()),
                UseVerdict::Unreachable
            )]
        );
        assert!(u.remove(0, FollowedKind::Application, &key("a")).removed.is_empty());
        assert_eq!(
            u.remove(0, FollowedKind::Application, &key("b")).removed,
            [Job::Probe(1)]
        );
        // c moves to another repository: its old probe goes, a new one comes.
        let moved = u.upsert(0, app("argocd", "c", "https://github.com/acme/third"), None);
        assert_eq!((moved.added, moved.removed), (vec![Job::Probe(3)], vec![Job::Probe(2)]));
        let gone = u.relisted(0, FollowedKind::Application, &BTreeSet::new());
        assert_eq!(gone.removed, [Job::Probe(3)]);
        assert_eq!(u.objects(), 0);
    }

    #[test]
    fn events_follow_changes_of_findings_to_act_on() {
        let mut u = UseIndex::new("argocd");
        u.set_credentials(creds());
        u.upsert(
            0,
            app("argocd", "a", "https://github.com/acme/app"),
            Some("uid-a".into()),
        );
        u.record_probe(1, finding("https://github.com/acme/app", UseVerdict::Ok));
        assert_eq!(
            u.repository_event(UseKind::Application, &key("a")),
            None,
            "ok from the start says nothing"
        );
        u.record_probe(1, finding("https://github.com/acme/app", UseVerdict::Unreachable));
        let e = u.repository_event(UseKind::Application, &key("a")).unwrap();
        assert_eq!(e.reason, Reason::RepositoryUnreachable);
        assert_eq!(e.uid.as_deref(), Some("uid-a"));
        assert!(
            e.note
                .starts_with("Application argocd/a: https://github.com/acme/app said so"),
            "{}",
            e.note
        );
        assert_eq!(u.repository_event(UseKind::Application, &key("a")), None, "said");
        // A provider failure keeps the finding.
        let mut failed = finding("https://github.com/acme/app", UseVerdict::Unverified);
        failed.provider_failed = true;
        assert!(u.record_probe(1, failed).is_empty());
        u.record_probe(1, finding("https://github.com/acme/app", UseVerdict::Ok));
        let e = u.repository_event(UseKind::Application, &key("a")).unwrap();
        assert_eq!(e.reason, Reason::RepositoryReachable);
        assert!(!e.reason.is_warning());
        assert_eq!(
            u.evaluation(UseKind::Application, &key("a")).unwrap().verdict,
            UseVerdict::Ok
        );
    }
}
