//! `scopegate audit`: every credential Secret in a cluster judged as the webhook would judge its
//! creation now, with the webhook's engine and grant cache (a token used by many Secrets is asked
//! about once); coverage: each `repo-creds` template probed, read-only, against the repositories Argo
//! CD syncs through it, and the runtime token against the Shared Configuration Repository; then a
//! table, JSON, or PolicyReports (optionally applied to the cluster).

pub mod coverage;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cluster::{Cluster, Scope};
use crate::config::Config;
use crate::credential::{RUNTIME_SECRET_NAME, SecretObject, SecretType};
use crate::engine::{Access, Engine};
use crate::policy::Outcome;
use crate::render::evaluation::{Evaluation, Status};
use crate::render::policyreport::{self, FIELD_MANAGER, REPORT_NAME};
use crate::render::table::{self, Cell, Colour, Style};

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
    /// Skip the coverage check (which repositories each credential template must reach).
    #[arg(long)]
    pub no_coverage: bool,
}

/// What the audit found, before it is printed.
pub struct Findings {
    pub evaluations: Vec<Evaluation>,
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
    if coverage {
        check_coverage(engine, cluster, scope, concurrency, &mut evaluations, &mut notes).await?;
    }
    Ok(Findings {
        evaluations: evaluations.into_iter().map(|(e, _)| e).collect(),
        notes,
    })
}

/// Probe each template against what Argo CD syncs through it, and the runtime token against the
/// Shared Configuration Repository.
async fn check_coverage(
    engine: &Engine,
    cluster: &Cluster,
    scope: &Scope,
    concurrency: usize,
    evaluations: &mut [(Evaluation, SecretObject)],
    notes: &mut Vec<String>,
) -> Result<()> {
    // The credential Secrets with a URL, and the Secrets that use a template (no credentials of their own).
    let mut creds: Vec<coverage::CredentialRef> = Vec::new();
    let mut owner: Vec<usize> = Vec::new();
    let mut uses: Vec<coverage::Use> = Vec::new();
    for (i, (e, s)) in evaluations.iter().enumerate() {
        let (Some(secret_type), Some(url)) = (s.secret_type(), s.url()) else {
            continue;
        };
        let own_credentials = s.has_own_credentials() || coverage::has_credentials(&url);
        if !secret_type.is_template() && !own_credentials {
            uses.push(coverage::Use {
                namespace: s.namespace.clone(),
                url: url.clone(),
                access: if secret_type == SecretType::Repository {
                    Access::Read
                } else {
                    Access::Write
                },
                user: format!("Secret {}", e.display_name()),
            });
        }
        creds.push(coverage::CredentialRef {
            namespace: s.namespace.clone(),
            secret_type,
            url,
            own_credentials,
        });
        owner.push(i);
    }
    let has_templates = creds.iter().any(|c| c.secret_type.is_template());
    if has_templates {
        for (kind, plural) in [("Application", "applications"), ("ApplicationSet", "applicationsets")] {
            let Some(objects) = cluster.argocd_objects(scope, kind, plural).await? else {
                notes.push(format!(
                    "no {kind}s: the argoproj.io {kind} API is not installed in this cluster"
                ));
                continue;
            };
            for o in objects {
                let namespace = o.metadata.namespace.clone().unwrap_or_default();
                let user = format!("{kind} {namespace}/{}", o.metadata.name.as_deref().unwrap_or_default());
                let v = serde_json::to_value(&o).unwrap_or_default();
                let reads = if kind == "Application" {
                    coverage::application_urls(&v)
                } else {
                    coverage::applicationset_urls(&v)
                };
                let pushes = coverage::push_urls(&v);
                if reads.iter().chain(&pushes).any(|u| coverage::has_credentials(u)) {
                    // Argo CD uses those, not a Secret; the URL itself is never printed.
                    notes.push(format!(
                        "{user} has credentials in a repository URL, readable by everyone who may read {kind}s: move them to a repository Secret (that URL was not checked)"
                    ));
                }
                let mut add =
                    |urls: Vec<String>, access: Access| {
                        uses.extend(urls.into_iter().filter(|u| !coverage::has_credentials(u)).map(|url| {
                            coverage::Use {
                                namespace: namespace.clone(),
                                url,
                                access,
                                user: user.clone(),
                            }
                        }));
                    };
                add(reads, Access::Read);
                add(pushes, Access::Write);
            }
        }
    }
    let (planned, unplaced) = coverage::plan_all(&creds, &uses);
    notes.extend(unplaced);
    let mut probes: Vec<(usize, String, Access, Vec<String>)> = planned
        .into_iter()
        .map(|p| (owner[p.credential], p.url, p.access, p.used_by))
        .collect();
    let runtimes: Vec<usize> = (0..evaluations.len())
        .filter(|&i| evaluations[i].1.name == RUNTIME_SECRET_NAME && evaluations[i].0.verdict != Outcome::Ignored)
        .collect();
    match &engine.config().shared_configuration_repo {
        Some(shared) => {
            for i in runtimes {
                probes.push((i, shared.clone(), Access::Write, vec!["sharedConfigurationRepo".into()]));
            }
        }
        None if !runtimes.is_empty() => notes.push(format!(
            "sharedConfigurationRepo is not in the configuration, so whether the runtime token{} can push to the Shared Configuration Repository was not checked",
            if runtimes.len() > 1 { "s" } else { "" }
        )),
        None => {}
    }
    let bar = progress(probes.len(), "probing repositories");
    let results: Vec<_> = {
        let evaluations = &*evaluations;
        futures::stream::iter(probes)
            .map(|(i, url, access, used_by)| {
                let bar = bar.clone();
                async move {
                    let reach = engine.reach(&evaluations[i].1, &url, access).await;
                    bar.inc(1);
                    (i, url, access, used_by, reach)
                }
            })
            .buffered(concurrency)
            .collect()
            .await
    };
    bar.finish_and_clear();
    for (i, url, access, used_by, reach) in results {
        evaluations[i].0.add_reach(&url, access, reach, used_by);
    }
    Ok(())
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
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, shown)?;
            writeln!(out)?;
        }
        Format::Policyreport => {
            for r in policyreport::reports(shown, now) {
                writeln!(out, "---")?;
                out.write_all(serde_norway::to_string(&r)?.as_bytes())?;
            }
        }
        Format::Table => match &soon {
            Some((within, soon)) => {
                out.write_all(expiry_table(soon, now, style).as_bytes())?;
                writeln!(out, "\n{} token(s) expire within {}", soon.len(), span(*within))?;
            }
            None => {
                out.write_all(table::evaluations(shown, style).as_bytes())?;
                writeln!(out, "\n{}", summary(shown))?;
            }
        },
    }
    for n in &findings.notes {
        eprintln!("scopegate audit: {n}");
    }
    // The expiry view asks one question: does anything expire soon?
    let clean = match &soon {
        Some((_, soon)) => soon.is_empty(),
        None => shown.iter().all(|e| e.allowed && e.unreachable.is_empty()),
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
        let reports = policyreport::reports(&findings.evaluations, now);
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
