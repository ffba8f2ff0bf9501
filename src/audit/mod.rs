//! `scopegate audit`: every credential Secret in a cluster judged as the webhook would judge its
//! creation now, with the webhook's engine and grant cache (a token used by many Secrets is asked
//! about once); coverage: each `repo-creds` template probed, read-only, against the repositories Argo
//! CD syncs through it, and the runtime token against the Shared Configuration Repository; then a
//! table, JSON, or PolicyReports (optionally applied to the cluster).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cluster::{Cluster, Scope, application_resource, image_updater_resource};
use crate::config::Config;
use crate::credential::{RUNTIME_SECRET_NAME, SecretObject};
use crate::engine::uses::UseWorld;
use crate::engine::{Access, Engine, Reach};
use crate::policy::Outcome;
use crate::render::evaluation::{Evaluation, Status};
use crate::render::policyreport::{self, FIELD_MANAGER, REPORT_NAME};
use crate::render::table::{self, Cell, Colour, Style};
use crate::render::uses::{self as use_render, UseEvaluation, UseKind};
use crate::uses::plan::{self, Choice, RepoUse};
use crate::uses::resolve::{self, CredentialRef, Credentials, Resolution, Via};
use crate::uses::{Application, ApplicationSet, ImageUpdater, ObjectKey, Purpose, RepoFinding, ScmAuth, UseVerdict};

/// `scopegate audit`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Policyreport,
}

/// `scopegate audit`'s command line.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Configuration file (YAML), as the webhook's. Without one the defaults apply.
    #[arg(long, env = "SCOPEGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
    /// The namespace to audit (default: the context's).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Audit every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Write the PolicyReports (one per namespace, `wgpolicyk8s.io/v1alpha2`) to the cluster with
    /// server-side apply.
    #[arg(long, conflicts_with = "expiring")]
    pub apply_reports: bool,
    /// Only list the tokens that expire within this long (e.g. 30d), soonest first.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::positive_duration)]
    pub expiring: Option<Duration>,
    /// How many Secrets are judged at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Skip the coverage check and the uses of credentials (what Applications sync and push to,
    /// ApplicationSet generators' tokens, Image Updater's write-back).
    #[arg(long)]
    pub no_coverage: bool,
    /// Report the uses of credentials — each Application and ApplicationSet, with what it needs of
    /// which repository and its generators' tokens — instead of the credential Secrets (table and
    /// JSON; PolicyReports always hold both).
    #[arg(long, conflicts_with_all = ["no_coverage", "expiring"])]
    pub uses: bool,
}

/// What the audit found, before it is printed.
pub struct Findings {
    pub evaluations: Vec<Evaluation>,
    /// The Applications' and ApplicationSets' uses of credentials.
    pub uses: Vec<UseEvaluation>,
    /// Notes on what could not be looked at (no Argo CD Applications, …).
    pub notes: Vec<String>,
}

fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {pos}/{len} {wide_bar}") {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// Read the cluster and judge: Secrets, then coverage.
pub async fn audit(
    engine: &Engine,
    cluster: &Cluster,
    scope: &Scope,
    concurrency: usize,
    coverage: bool,
) -> Result<Findings> {
    let objects = cluster
        .credential_secrets(scope, &engine.config().watch.user_token_namespaces)
        .await?;
    let secrets: Vec<(Option<String>, SecretObject)> = objects
        .into_iter()
        .map(|o| (o.metadata.uid.clone(), SecretObject::from_dynamic_owned(o)))
        .collect();
    let bar = progress(secrets.len(), "judging Secrets");
    let mut evaluations: Vec<(Evaluation, SecretObject)> = futures::stream::iter(secrets)
        .map(|(uid, secret)| {
            let bar = bar.clone();
            async move {
                let (judgement, skip_set_aside) = engine.judge_stored(&secret, None).await;
                let mut e = Evaluation::new(
                    &secret,
                    "cluster".to_owned(),
                    &judgement,
                    skip_set_aside,
                    engine.config().mode,
                );
                e.uid = uid;
                bar.inc(1);
                (e, secret)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    bar.finish_and_clear();
    evaluations.sort_by(|a, b| (&a.0.namespace, &a.0.name).cmp(&(&b.0.namespace, &b.0.name)));
    let mut notes = Vec::new();
    let uses = if coverage {
        check_coverage(engine, cluster, scope, concurrency, &mut evaluations, &mut notes).await?
    } else {
        Vec::new()
    };
    Ok(Findings {
        evaluations: evaluations.into_iter().map(|(e, _)| e).collect(),
        uses,
        notes,
    })
}

/// A finding of a use, as a credential's coverage shows it.
fn reach_of(f: &RepoFinding) -> Reach {
    match f.verdict {
        UseVerdict::Ok => Reach::Reachable,
        UseVerdict::Unverified if f.provider_failed => Reach::Failed(f.message.clone()),
        UseVerdict::Unverified => Reach::Unknown(f.message.clone()),
        _ => Reach::Unreachable(f.message.clone()),
    }
}

/// The objects that use credentials, in scope, reduced; `None` for a kind whose API is not installed
/// (said in a note).
async fn followed<T>(
    cluster: &Cluster,
    scope: &Scope,
    follow: bool,
    ar: &kube::api::ApiResource,
    notes: &mut Vec<String>,
    reduce: impl Fn(&serde_json::Value) -> Option<T>,
) -> Result<Vec<(T, Option<String>)>> {
    if !follow {
        return Ok(Vec::new());
    }
    let Some(objects) = cluster
        .objects(scope, ar)
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}; coverage needs them (--no-coverage leaves coverage out)"))?
    else {
        notes.push(format!(
            "no {}s: the {} {} API is not installed in this cluster",
            ar.kind, ar.group, ar.kind
        ));
        return Ok(Vec::new());
    };
    Ok(objects
        .into_iter()
        .filter_map(|o| {
            let uid = o.metadata.uid.clone();
            let v = serde_json::to_value(&o).ok()?;
            reduce(&v).map(|t| (t, uid))
        })
        .collect())
}

/// The uses of credentials: each repository the Applications and ApplicationSets in scope need,
/// probed with the credential Argo CD would choose (once per credential and repository), each
/// ApplicationSet generator's token judged for the `scm` role, Image Updater's write-back; and, on
/// each credential template, the repositories Argo CD reaches through it (its coverage), and the
/// runtime token against the Shared Configuration Repository.
async fn check_coverage(
    engine: &Engine,
    cluster: &Cluster,
    scope: &Scope,
    concurrency: usize,
    evaluations: &mut [(Evaluation, SecretObject)],
    notes: &mut Vec<String>,
) -> Result<Vec<UseEvaluation>> {
    let watch = &engine.config().watch;
    let follow = watch.follow;
    let argocd_ns = watch.argocd_namespace.as_str();
    let apps = followed(
        cluster,
        scope,
        follow.applications || follow.image_updater,
        &application_resource("Application", "applications"),
        notes,
        Application::from_value,
    )
    .await?;
    let sets = followed(
        cluster,
        scope,
        follow.application_sets,
        &application_resource("ApplicationSet", "applicationsets"),
        notes,
        ApplicationSet::from_value,
    )
    .await?;
    let updaters = followed(
        cluster,
        scope,
        follow.image_updater,
        &image_updater_resource(),
        notes,
        ImageUpdater::from_value,
    )
    .await?;
    let mut apps: Vec<(Application, Option<String>)> = apps;
    if !follow.applications {
        // Followed for Image Updater only: their sources are not judged.
        for (a, _) in &mut apps {
            a.reads.clear();
            a.pushes.clear();
        }
    }
    if !follow.image_updater {
        for (a, _) in &mut apps {
            a.image_list = false;
            a.annotations = None;
        }
    }
    for (a, _) in &apps {
        if a.urls_with_credentials > 0 {
            notes.push(format!(
                "Application {}/{} has credentials in a repository URL, readable by everyone who may read Applications: move them to a repository Secret (that URL was not checked)",
                a.namespace, a.name
            ));
        }
    }

    // The credentials, by Argo CD's rules; Argo CD's namespace too when an object in scope may use them.
    let mut secrets: BTreeMap<ObjectKey, SecretObject> = BTreeMap::new();
    let mut refs: Vec<CredentialRef> = Vec::new();
    let add_cred =
        |s: &SecretObject, refs: &mut Vec<CredentialRef>, secrets: &mut BTreeMap<ObjectKey, SecretObject>| {
            let (Some(secret_type), Some(url)) = (s.secret_type(), s.url()) else {
                return;
            };
            refs.push(CredentialRef {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
                secret_type,
                own_credentials: s.has_own_credentials() || resolve::has_credentials(&url),
                project: s.project(),
                url,
            });
            secrets.insert((s.namespace.clone(), s.name.clone()), s.clone());
        };
    for (_, s) in evaluations.iter() {
        add_cred(s, &mut refs, &mut secrets);
    }
    let holds: BTreeSet<String> = refs.iter().map(|r| r.namespace.clone()).collect();
    let elsewhere = apps
        .iter()
        .map(|(a, _)| &a.namespace)
        .chain(sets.iter().map(|(s, _)| &s.namespace));
    if matches!(scope, Scope::Namespace(_))
        && !holds.contains(argocd_ns)
        && elsewhere.into_iter().any(|ns| !holds.contains(ns))
    {
        match cluster.labelled_secrets(&Scope::Namespace(argocd_ns.to_owned())).await {
            Ok(found) => {
                for o in found {
                    add_cred(&SecretObject::from_dynamic_owned(o), &mut refs, &mut secrets);
                }
            }
            Err(e) => notes.push(format!(
                "{e:#}: the uses of Argo CD's credentials in {argocd_ns} were not resolved"
            )),
        }
    }
    let creds = Credentials::new(refs);

    // The Secrets the uses name: Image Updater's (git:secret) and GitHub Apps' (appSecretName),
    // read whole; the generators' tokens, by key.
    let app_list: Vec<Application> = apps.iter().map(|(a, _)| a.clone()).collect();
    let set_list: Vec<ApplicationSet> = sets.iter().map(|(s, _)| s.clone()).collect();
    let updater_list: Vec<ImageUpdater> = updaters.into_iter().map(|(u, _)| u).collect();
    let mut named: BTreeSet<ObjectKey> = BTreeSet::new();
    for a in &app_list {
        let here: Vec<&ImageUpdater> = updater_list.iter().filter(|u| u.namespace == a.namespace).collect();
        for u in plan::application(a, &creds, argocd_ns, &here) {
            if let Choice::Named(k) = u.choice {
                named.insert(k);
            }
        }
    }
    let mut by_key: BTreeSet<ObjectKey> = BTreeSet::new();
    for s in &set_list {
        for g in &s.generators {
            match &g.auth {
                ScmAuth::GithubApp { secret_name } => {
                    named.insert((argocd_ns.to_owned(), secret_name.clone()));
                }
                auth => {
                    if let Some(r) = auth.secret_ref() {
                        by_key.insert((s.namespace.clone(), r.secret_name.clone()));
                    }
                }
            }
        }
    }
    let unread: Vec<ObjectKey> = named.into_iter().filter(|k| !secrets.contains_key(k)).collect();
    for key in unread {
        match cluster.secret(&key.0, &key.1).await {
            Ok(Some(o)) => {
                secrets.insert(key, SecretObject::from_dynamic_owned(o));
            }
            Ok(None) => {}
            Err(e) => notes.push(format!("{e:#}")),
        }
    }
    let mut raw: BTreeMap<ObjectKey, serde_json::Value> = BTreeMap::new();
    for key in &by_key {
        match cluster.secret(&key.0, &key.1).await {
            Ok(Some(o)) => {
                raw.insert(key.clone(), serde_json::to_value(&o).unwrap_or_default());
            }
            Ok(None) => {}
            Err(e) => notes.push(format!("{e:#}")),
        }
    }
    let strict = if by_key.is_empty() {
        false
    } else {
        cluster.tokenref_strict_mode(argocd_ns).await.unwrap_or_else(|e| {
            notes.push(format!("{e:#}: tokenRef strict mode taken as off, Argo CD's default"));
            false
        })
    };

    let bar = progress(0, "probing repositories");
    let world = UseWorld {
        apps: &app_list,
        sets: &set_list,
        updaters: &updater_list,
        creds: &creds,
        secrets: &secrets,
        raw: &raw,
        argocd_namespace: argocd_ns,
        strict,
        absent: "does not exist",
    };
    let judged = engine.judge_uses(&world, concurrency).await;
    drop(raw);

    // Coverage: what each template serves — the repository Secrets without credentials of their
    // own, the Applications and ApplicationSets — grouped by repository in Argo CD's normal form.
    let index: BTreeMap<ObjectKey, usize> = evaluations
        .iter()
        .enumerate()
        .map(|(i, (_, s))| ((s.namespace.clone(), s.name.clone()), i))
        .collect();
    let is_template = |k: &ObjectKey| {
        index
            .get(k)
            .and_then(|&i| evaluations[i].1.secret_type())
            .is_some_and(|t| t.is_template())
    };
    type Covered = BTreeMap<(usize, String, Access), (String, Vec<String>, Option<RepoFinding>)>;
    let mut covered: Covered = BTreeMap::new();
    let mut cover = |k: &ObjectKey, u: &RepoUse, user: String, found: Option<&RepoFinding>| {
        let Some(&i) = index.get(k) else { return };
        let entry = covered
            .entry((i, resolve::normalize(&u.url), u.access()))
            .or_insert_with(|| (u.url.clone(), Vec::new(), None));
        if !entry.1.contains(&user) {
            entry.1.push(user);
        }
        if entry.2.is_none() {
            entry.2 = found.cloned();
        }
    };
    // Repository Secrets without credentials of their own use a template.
    let mut secret_uses: Vec<(RepoUse, String)> = Vec::new();
    for (e, s) in evaluations.iter() {
        let (Some(t), Some(url)) = (s.secret_type(), s.url()) else {
            continue;
        };
        if t.is_template() || s.has_own_credentials() || resolve::has_credentials(&url) {
            continue;
        }
        let access = if t.is_write() { Access::Write } else { Access::Read };
        if let Resolution::Credential {
            credential,
            via: Via::Template,
        } = creds.resolve(&s.namespace, &url, &s.project(), access)
        {
            let purpose = if t.is_write() { Purpose::Hydrate } else { Purpose::Sync };
            let u = RepoUse {
                url,
                purpose,
                choice: Choice::Secret((credential.namespace.clone(), credential.name.clone())),
            };
            secret_uses.push((u, format!("Secret {}", e.display_name())));
        }
    }
    for (u, user) in &secret_uses {
        if let Choice::Secret(k) = &u.choice {
            let f = match secrets.get(k) {
                Some(s) => Some(engine.judge_repository(Some((k, s)), &u.url, u.purpose, None).await),
                None => None,
            };
            cover(k, u, user.clone(), f.as_ref());
        }
    }
    let mut uses: Vec<UseEvaluation> = Vec::new();
    let uid_of = |list: &[(ObjectKey, Option<String>)], k: &ObjectKey| {
        list.iter().find(|(x, _)| x == k).and_then(|(_, u)| u.clone())
    };
    let app_uids: Vec<(ObjectKey, Option<String>)> = apps.iter().map(|(a, u)| (a.key(), u.clone())).collect();
    let set_uids: Vec<(ObjectKey, Option<String>)> = sets.iter().map(|(s, u)| (s.key(), u.clone())).collect();
    for (a, (key, findings)) in app_list.iter().zip(&judged.apps) {
        let here: Vec<&ImageUpdater> = updater_list.iter().filter(|u| u.namespace == a.namespace).collect();
        let planned = plan::application(a, &creds, argocd_ns, &here);
        for (u, f) in planned.iter().zip(findings) {
            if let Choice::Secret(k) = &u.choice
                && is_template(k)
            {
                cover(k, u, format!("Application {}/{}", key.0, key.1), Some(f));
            }
        }
        let mut e = UseEvaluation::new(UseKind::Application, key, "cluster".into(), findings, &[]);
        e.uid = uid_of(&app_uids, key);
        uses.push(e);
    }
    for (s, (key, findings, generators)) in set_list.iter().zip(&judged.sets) {
        let planned = plan::application_set(s, &creds, argocd_ns);
        for (u, f) in planned.iter().zip(findings) {
            if let Choice::Secret(k) = &u.choice
                && is_template(k)
            {
                cover(k, u, format!("ApplicationSet {}/{}", key.0, key.1), Some(f));
            }
        }
        let mut e = UseEvaluation::new(UseKind::ApplicationSet, key, "cluster".into(), findings, generators);
        e.uid = uid_of(&set_uids, key);
        uses.push(e);
    }
    for ((i, _, access), (url, used_by, found)) in covered {
        let reach = found
            .as_ref()
            .map_or_else(|| Reach::Unknown("not probed".into()), reach_of);
        evaluations[i].0.add_reach(&url, access, reach, used_by);
    }
    let unplaced: Vec<String> = uses
        .iter()
        .filter(|u| {
            u.repositories
                .iter()
                .any(|r| r.message.contains("which Argo CD instance"))
        })
        .map(UseEvaluation::display_name)
        .collect();
    if !unplaced.is_empty() {
        notes.push(format!(
            "coverage left out {} ({}): they are in namespaces without credential Secrets, and {} namespaces hold some, so which Argo CD instance syncs them is not known",
            unplaced.len(),
            unplaced.join(", "),
            creds.instances().len()
        ));
    }

    // The runtime token must push to the Shared Configuration Repository.
    let runtimes: Vec<usize> = (0..evaluations.len())
        .filter(|&i| evaluations[i].1.name == RUNTIME_SECRET_NAME && evaluations[i].0.verdict != Outcome::Ignored)
        .collect();
    match &engine.config().shared_configuration_repo {
        Some(shared) => {
            for i in runtimes {
                let reach = engine.reach(&evaluations[i].1, shared, Access::Write).await;
                evaluations[i]
                    .0
                    .add_reach(shared, Access::Write, reach, vec!["sharedConfigurationRepo".into()]);
            }
        }
        None if !runtimes.is_empty() => notes.push(format!(
            "sharedConfigurationRepo is not in the configuration, so whether the runtime token{} can push to the Shared Configuration Repository was not checked",
            if runtimes.len() > 1 { "s" } else { "" }
        )),
        None => {}
    }
    bar.finish_and_clear();
    Ok(uses)
}

/// The expiry view: tokens that expire within `within` (or already have), soonest first.
pub fn expiring(evals: &[Evaluation], within: Duration, now: jiff::Timestamp) -> Vec<Evaluation> {
    let limit = now
        .as_second()
        .saturating_add(i64::try_from(within.as_secs()).unwrap_or(i64::MAX));
    let mut out: Vec<Evaluation> = evals
        .iter()
        .filter(|e| e.expires_at.is_some_and(|t| t.as_second() <= limit))
        .cloned()
        .collect();
    out.sort_by_key(|e| e.expires_at);
    out
}

/// A duration as a person wrote it: `30d`, `12h`, else humantime's form.
fn span(d: Duration) -> String {
    match d.as_secs() {
        s if s > 0 && s.is_multiple_of(86_400) && d.subsec_nanos() == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s.is_multiple_of(3_600) && d.subsec_nanos() == 0 => format!("{}h", s / 3_600),
        _ => humantime::format_duration(d).to_string(),
    }
}

/// The summary line of the table.
pub fn summary(evals: &[Evaluation]) -> String {
    let count = |v: Outcome| evals.iter().filter(|e| e.verdict == v).count();
    let denied = evals.iter().filter(|e| !e.allowed).count();
    let expiring = evals.iter().filter(|e| e.expiring).count();
    let unreachable: usize = evals.iter().map(|e| e.unreachable.len()).sum();
    format!(
        "{} credential Secrets: {} ok, {} insufficient, {} invalid, {} expiring, {} unverified, {} other; {} would be denied; {} unreachable repositories",
        evals.len(),
        count(Outcome::Ok),
        count(Outcome::Insufficient),
        count(Outcome::Invalid),
        expiring,
        count(Outcome::Unverified),
        evals.len()
            - count(Outcome::Ok)
            - count(Outcome::Insufficient)
            - count(Outcome::Invalid)
            - count(Outcome::Unverified),
        denied,
        unreachable
    )
}

fn expiry_table(evals: &[Evaluation], now: jiff::Timestamp, style: Style) -> String {
    let rows: Vec<Vec<Cell>> = evals
        .iter()
        .map(|e| {
            let days = e
                .expires_at
                .map(|t| (t.as_second() - now.as_second()).div_euclid(86_400))
                .unwrap_or_default();
            vec![
                Cell::new(e.display_name()),
                Cell::new(
                    e.expires_at
                        .map(crate::render::annotations::timestamp)
                        .unwrap_or_default(),
                ),
                if days < 0 {
                    Cell::coloured("expired", Colour::Red)
                } else {
                    Cell::coloured(format!("{days}d"), if days < 7 { Colour::Red } else { Colour::Yellow })
                },
                Cell::new(e.provider.map_or("-", |p| p.as_str())),
                Cell::new(e.token_kind.map_or("-", |k| k.as_str())),
                Cell::new(e.owner.clone().unwrap_or_else(|| "-".into())),
            ]
        })
        .collect();
    table::render(&["SECRET", "EXPIRES", "IN", "PROVIDER", "KIND", "OWNER"], &rows, style)
}

/// Print the findings; the status says whether there is anything to act on.
pub fn print(
    findings: &Findings,
    args: &Options,
    out: &mut dyn Write,
    terminal: bool,
    now: jiff::Timestamp,
) -> Result<Status> {
    let style = Style::for_terminal(terminal);
    let soon = args
        .expiring
        .map(|within| (within, expiring(&findings.evaluations, within, now)));
    let shown = soon.as_ref().map_or(&findings.evaluations, |(_, s)| s);
    match args.output {
        Format::Json if args.uses => {
            serde_json::to_writer_pretty(&mut *out, &findings.uses)?;
            writeln!(out)?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, shown)?;
            writeln!(out)?;
        }
        Format::Policyreport => {
            let uses: &[UseEvaluation] = if soon.is_some() { &[] } else { &findings.uses };
            for r in policyreport::reports(shown, uses, now) {
                writeln!(out, "---")?;
                out.write_all(serde_norway::to_string(&r)?.as_bytes())?;
            }
        }
        Format::Table => match &soon {
            Some((within, soon)) => {
                out.write_all(expiry_table(soon, now, style).as_bytes())?;
                writeln!(out, "\n{} token(s) expire within {}", soon.len(), span(*within))?;
            }
            None if args.uses => out.write_all(use_render::table(&findings.uses, style).as_bytes())?,
            None => {
                out.write_all(table::evaluations(shown, style).as_bytes())?;
                writeln!(out, "\n{}", summary(shown))?;
                if !findings.uses.is_empty() {
                    writeln!(out)?;
                    out.write_all(use_render::table(&findings.uses, style).as_bytes())?;
                }
            }
        },
    }
    for n in &findings.notes {
        eprintln!("scopegate audit: {n}");
    }
    // The expiry view asks one question: does anything expire soon?
    let clean = match &soon {
        Some((_, soon)) => soon.is_empty(),
        None => {
            shown.iter().all(|e| e.allowed && e.unreachable.is_empty())
                && !findings.uses.iter().any(UseEvaluation::has_findings)
        }
    };
    Ok(if clean { Status::Clean } else { Status::Findings })
}

/// `scopegate audit`.
pub async fn run(config: Config, args: Options) -> Result<Status> {
    let engine = Engine::new(config).context("building the engine")?;
    let cluster = Cluster::connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let scope = if args.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(
            args.namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone()),
        )
    };
    let coverage = !args.no_coverage && args.expiring.is_none();
    let findings = audit(&engine, &cluster, &scope, usize::from(args.concurrency), coverage).await?;
    let now = jiff::Timestamp::now();
    // The findings first: a report that cannot be written loses nothing that was found.
    let status = {
        let stdout = std::io::stdout();
        let terminal = stdout.is_terminal();
        let mut lock = stdout.lock();
        let status = print(&findings, &args, &mut lock, terminal, now)?;
        lock.flush()?;
        status
    };
    if args.apply_reports {
        let reports = policyreport::reports(&findings.evaluations, &findings.uses, now);
        for r in &reports {
            cluster.apply_report(r).await?;
        }
        // A namespace whose credential Secrets are all gone keeps no report of them.
        let current: std::collections::BTreeSet<String> = reports
            .iter()
            .filter_map(|r| r["metadata"]["namespace"].as_str().map(str::to_owned))
            .collect();
        let stale = cluster.stale_reports(&scope, &current).await?;
        for (ns, name) in &stale {
            cluster.delete_report(ns, name).await?;
        }
        eprintln!(
            "scopegate audit: applied {} PolicyReport(s) named {} (field manager {}){}",
            reports.len(),
            REPORT_NAME,
            FIELD_MANAGER,
            if stale.is_empty() {
                String::new()
            } else {
                format!(
                    "; deleted {} left from Secrets since removed ({})",
                    stale.len(),
                    stale
                        .iter()
                        .map(|(ns, n)| format!("{ns}/{n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(name: &str, verdict: Outcome, allowed: bool, expires: Option<i64>) -> Evaluation {
        let mut e = crate::render::evaluation::evaluation("argocd", name, verdict, allowed);
        e.expires_at = expires.map(|s| jiff::Timestamp::from_second(s).unwrap());
        e
    }

    #[test]
    fn the_expiry_view_keeps_what_expires_within_soonest_first() {
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let day = 86_400;
        let evals = vec![
            eval("late", Outcome::Ok, true, Some(1_800_000_000 + 40 * day)),
            eval("soon", Outcome::Ok, true, Some(1_800_000_000 + 3 * day)),
            eval("never", Outcome::Ok, true, None),
            eval("gone", Outcome::Ok, true, Some(1_800_000_000 - day)),
            eval("edge", Outcome::Ok, true, Some(1_800_000_000 + 30 * day)),
        ];
        let names: Vec<String> = expiring(&evals, Duration::from_secs(30 * day as u64), now)
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["gone", "soon", "edge"]);
        let table = expiry_table(
            &expiring(&evals, Duration::from_secs(30 * day as u64), now),
            now,
            Style::plain(),
        );
        assert!(table.contains("expired"), "{table}");
        assert!(table.contains("3d"), "{table}");
    }

    #[test]
    fn the_summary_counts_each_verdict() {
        let mut expiring_ok = eval("b", Outcome::Ok, true, None);
        expiring_ok.expiring = true;
        let mut unreachable = eval("c", Outcome::Ok, true, None);
        unreachable.unreachable = vec!["https://github.com/acme/x".into()];
        let evals = vec![
            eval("a", Outcome::Ok, true, None),
            expiring_ok,
            unreachable,
            eval("d", Outcome::Insufficient, false, None),
            eval("e", Outcome::Invalid, false, None),
            eval("f", Outcome::Unverified, true, None),
            eval("g", Outcome::NotAToken, true, None),
        ];
        assert_eq!(
            summary(&evals),
            "7 credential Secrets: 3 ok, 1 insufficient, 1 invalid, 1 expiring, 1 unverified, 1 other; 2 would be denied; 1 unreachable repositories"
        );
    }

    #[test]
    fn durations_read_as_they_were_written() {
        assert_eq!(span(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(span(Duration::from_secs(12 * 3_600)), "12h");
        assert_eq!(span(Duration::from_secs(90)), "1m 30s");
    }
}
