//! `watch:` — how `scopegate watch` keeps the cluster's credential Secrets judged.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, invalid};

/// The validated `watch:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    /// How often each distinct credential is asked about again (at least 1 s).
    pub recheck_interval: Duration,
    /// Keep a PolicyReport per namespace current (`wgpolicyk8s.io/v1alpha2`).
    pub policy_reports: bool,
    /// How long after a verdict changes its namespace's report is applied (changes in between are
    /// applied together).
    pub report_debounce: Duration,
    /// The `coordination.k8s.io/v1` Lease the replicas elect a leader on.
    pub lease_name: String,
    /// How long a leader's lease lasts without renewal: a follower takes over within it.
    pub lease_duration: Duration,
    /// Where `git-default-*` Secrets are looked for; empty: every watched namespace.
    pub user_token_namespaces: BTreeSet<String>,
    /// Which objects that use credentials are followed, where their APIs exist.
    pub follow: Follow,
    /// Argo CD's namespace: its `argocd-cmd-params-cm`, the GitHub App Secrets ApplicationSets name by
    /// `appSecretName`, and the credentials of Applications in namespaces that hold none.
    pub argocd_namespace: String,
}

/// `watch.follow`: the objects whose uses of credentials are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    /// Argo CD `Application`s: the repositories they sync and push to.
    pub applications: bool,
    /// `ApplicationSet`s: their generators' SCM tokens and the repositories they read.
    pub application_sets: bool,
    /// Argo CD Image Updater's write-back (`ImageUpdater` resources, and the 0.x annotations on
    /// Applications).
    pub image_updater: bool,
}

impl Default for Follow {
    fn default() -> Self {
        Self {
            applications: true,
            application_sets: true,
            image_updater: true,
        }
    }
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            recheck_interval: Duration::from_secs(3600),
            policy_reports: false,
            report_debounce: Duration::from_secs(10),
            lease_name: "scopegate-watch".into(),
            lease_duration: Duration::from_secs(15),
            user_token_namespaces: BTreeSet::new(),
            follow: Follow::default(),
            argocd_namespace: "argocd".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawFollow {
    /// Judge what Argo CD Applications sync and push to (argoproj.io/v1alpha1 applications).
    #[serde(default)]
    #[schemars(extend("default" = true))]
    applications: Option<bool>,
    /// Judge ApplicationSets' generator tokens and the repositories they read (argoproj.io/v1alpha1
    /// applicationsets).
    #[serde(default)]
    #[schemars(extend("default" = true))]
    application_sets: Option<bool>,
    /// Judge Argo CD Image Updater's write-back (argocd-image-updater.argoproj.io/v1alpha1
    /// imageupdaters, and the write-back-method annotation of its 0.x releases).
    #[serde(default)]
    #[schemars(extend("default" = true))]
    image_updater: Option<bool>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawWatch {
    /// Each distinct credential is asked about again this often (at least 1s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::config::HumanDuration>", extend("default" = "1h"))]
    recheck_interval: Option<Duration>,
    /// Keep a PolicyReport per namespace current.
    #[serde(default)]
    #[schemars(extend("default" = false))]
    policy_reports: Option<bool>,
    /// A namespace's report is applied this long after a change of verdict (at most 1h).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::config::HumanDuration>", extend("default" = "10s"))]
    report_debounce: Option<Duration>,
    /// The Lease the replicas elect a leader on, in the pod's namespace.
    #[serde(default)]
    #[schemars(extend("default" = "scopegate-watch"))]
    lease_name: Option<String>,
    /// A follower takes over within this (whole seconds, at least 2s).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<crate::config::HumanDuration>", extend("default" = "15s"))]
    lease_duration: Option<Duration>,
    /// Where `git-default-*` Secrets are looked for; empty: every watched namespace.
    #[serde(default)]
    user_token_namespaces: Vec<String>,
    /// Which objects that use credentials are followed (each only where its API exists).
    #[serde(default)]
    follow: Option<RawFollow>,
    /// Argo CD's namespace: its argocd-cmd-params-cm (tokenRef strict mode), the GitHub App Secrets
    /// ApplicationSets name, the credentials of Applications in other namespaces.
    #[serde(default)]
    #[schemars(extend("default" = "argocd"))]
    argocd_namespace: Option<String>,
}

/// A DNS-1123 subdomain (a Lease's name) or label (a namespace).
fn dns_name(s: &str, max: usize, dots: bool) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
        && (dots || !s.contains('.'))
}

impl RawWatch {
    pub(super) fn validate(self) -> Result<WatchConfig, ConfigError> {
        let d = WatchConfig::default();
        let recheck_interval = self.recheck_interval.unwrap_or(d.recheck_interval);
        if recheck_interval < Duration::from_secs(1) {
            return Err(invalid("watch.recheckInterval", "must be at least 1s"));
        }
        let report_debounce = self.report_debounce.unwrap_or(d.report_debounce);
        if report_debounce > Duration::from_secs(3600) {
            return Err(invalid("watch.reportDebounce", "must be at most 1h"));
        }
        let lease_name = self.lease_name.unwrap_or(d.lease_name);
        if !dns_name(&lease_name, 253, true) {
            return Err(invalid(
                "watch.leaseName",
                format!("not a Kubernetes object name (lower-case letters, digits, '-' and '.'): {lease_name:?}"),
            ));
        }
        let lease_duration = self.lease_duration.unwrap_or(d.lease_duration);
        if lease_duration < Duration::from_secs(2) || lease_duration.subsec_nanos() != 0 {
            return Err(invalid(
                "watch.leaseDuration",
                "must be a whole number of seconds, at least 2s (a Lease counts in seconds)",
            ));
        }
        let mut user_token_namespaces = BTreeSet::new();
        for (i, ns) in self.user_token_namespaces.into_iter().enumerate() {
            if !dns_name(&ns, 63, false) {
                return Err(invalid(
                    format!("watch.userTokenNamespaces[{i}]"),
                    format!("not a namespace name: {ns:?}"),
                ));
            }
            user_token_namespaces.insert(ns);
        }
        let argocd_namespace = self.argocd_namespace.unwrap_or(d.argocd_namespace);
        if !dns_name(&argocd_namespace, 63, false) {
            return Err(invalid(
                "watch.argocdNamespace",
                format!("not a namespace name: {argocd_namespace:?}"),
            ));
        }
        let f = self.follow.unwrap_or_default();
        Ok(WatchConfig {
            recheck_interval,
            policy_reports: self.policy_reports.unwrap_or(d.policy_reports),
            report_debounce,
            lease_name,
            lease_duration,
            user_token_namespaces,
            follow: Follow {
                applications: f.applications.unwrap_or(d.follow.applications),
                application_sets: f.application_sets.unwrap_or(d.follow.application_sets),
                image_updater: f.image_updater.unwrap_or(d.follow.image_updater),
            },
            argocd_namespace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::time::Duration;

    fn err(yaml: &str) -> String {
        Config::from_yaml(yaml).unwrap_err().to_string()
    }

    #[test]
    fn the_documented_defaults() {
        let w = Config::default().watch;
        assert_eq!(w.recheck_interval, Duration::from_secs(3600));
        assert!(!w.policy_reports);
        assert_eq!(w.report_debounce, Duration::from_secs(10));
        assert_eq!(w.lease_name, "scopegate-watch");
        assert_eq!(w.lease_duration, Duration::from_secs(15));
        assert!(w.user_token_namespaces.is_empty());
        assert_eq!(w.follow, super::Follow::default());
        assert!(w.follow.applications && w.follow.application_sets && w.follow.image_updater);
        assert_eq!(w.argocd_namespace, "argocd");
    }

    #[test]
    fn every_key_parses_and_wrong_values_name_it() {
        let c = Config::from_yaml(
            "watch:\n  recheckInterval: 5m\n  policyReports: true\n  reportDebounce: 2s\n  leaseName: sg-watch\n  leaseDuration: 30s\n  userTokenNamespaces: [codefresh]\n  follow: {applications: true, applicationSets: false, imageUpdater: false}\n  argocdNamespace: gitops\n",
        )
        .unwrap();
        assert!(c.watch.follow.applications && !c.watch.follow.application_sets && !c.watch.follow.image_updater);
        assert_eq!(c.watch.argocd_namespace, "gitops");
        assert_eq!(c.watch.recheck_interval, Duration::from_secs(300));
        assert!(c.watch.policy_reports);
        assert!(c.watch.user_token_namespaces.contains("codefresh"));
        for (yaml, key) in [
            ("watch:\n  recheckInterval: 500ms\n", "watch.recheckInterval"),
            ("watch:\n  recheckInterval: soon\n", "watch.recheckInterval"),
            ("watch:\n  leaseName: Not_A_Name\n", "watch.leaseName"),
            ("watch:\n  leaseDuration: 1s\n", "watch.leaseDuration"),
            ("watch:\n  leaseDuration: 2500ms\n", "watch.leaseDuration"),
            (
                "watch:\n  userTokenNamespaces: [Bad NS]\n",
                "watch.userTokenNamespaces[0]",
            ),
            ("watch:\n  recheckIntervall: 1h\n", "recheckIntervall"),
            ("watch:\n  follow: {apps: true}\n", "apps"),
            ("watch:\n  argocdNamespace: Argo_CD\n", "watch.argocdNamespace"),
        ] {
            let e = err(yaml);
            assert!(e.contains(key), "{yaml}: {e}");
        }
    }
}
