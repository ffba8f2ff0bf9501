//! The documentation site (`docs/`, `mkdocs.yml`) and what it promises: the reference pages are what
//! the code makes (a stale page fails here: `make docs-reference`), every page is in the navigation,
//! the configuration files in the repository validate against the schema editors are given, `scopegate
//! config check` says what `serve` would say, and the README stays one screen whose links land.
//! (`make docs` builds the site with `mkdocs build --strict`, which `make test` runs too.)

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_reference_pages_are_what_the_code_makes() {
    let mut stale = Vec::new();
    for (name, text) in scopegate::reference::pages() {
        let on_disk = std::fs::read_to_string(Path::new(ROOT).join("docs/reference").join(name)).unwrap_or_default();
        if on_disk != text {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "docs/reference is stale: {stale:?}: run `make docs-reference` and commit the pages"
    );
}

/// Every Markdown page under `docs/`, relative to it.
fn pages(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            pages(&p, base, out);
        } else if p.extension().is_some_and(|x| x == "md") {
            out.insert(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn every_page_is_in_the_navigation_and_every_navigation_entry_is_a_page() {
    let docs = Path::new(ROOT).join("docs");
    let mut on_disk = BTreeSet::new();
    pages(&docs, &docs, &mut on_disk);
    let nav: BTreeSet<String> = read("mkdocs.yml")
        .lines()
        .filter_map(|l| l.trim().strip_suffix(".md").map(|s| format!("{s}.md")))
        .filter_map(|l| l.rsplit(": ").next().map(|s| s.trim_start_matches("- ").to_owned()))
        .collect();
    assert!(on_disk.len() >= 30, "{on_disk:?}");
    assert_eq!(
        on_disk, nav,
        "pages not in mkdocs.yml's nav, or nav entries that are no page"
    );
}

#[test]
fn the_repositorys_configuration_files_validate_against_the_schema() {
    let schema = scopegate::config::schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema is a JSON Schema");
    let mut files: Vec<PathBuf> = vec![
        Path::new(ROOT).join("examples/config.yaml"),
        Path::new(ROOT).join("manifests/base/config.yaml"),
    ];
    // The configuration examples of the site.
    let mut blocks = Vec::new();
    for page in [
        "docs/operations/configuration-file.md",
        "docs/how-to/custom-requirements.md",
        "docs/how-to/enterprise-ca-and-proxy.md",
    ] {
        let text = read(page);
        for block in text.split("```yaml\n").skip(1) {
            let block = block.split("```").next().unwrap_or_default();
            if block
                .lines()
                .any(|l| l.starts_with("providers:") || l.starts_with("requirements:") || l.starts_with("mode:"))
            {
                blocks.push((page, block.to_owned()));
            }
        }
    }
    assert!(blocks.len() >= 3, "{blocks:?}");
    for f in files.drain(..) {
        blocks.push(("file", std::fs::read_to_string(&f).unwrap()));
    }
    // The examples name a CA bundle where a cluster mounts one; here, a CA made for the test.
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(
        &ca_file,
        scopegate_testkit::network::TestCa::new("docs example CA").unwrap().pem,
    )
    .unwrap();
    for (from, yaml) in blocks {
        let yaml = yaml.replace("/etc/scopegate/provider-ca/ca.pem", &ca_file.display().to_string());
        let value: serde_json::Value = serde_norway::from_str(&yaml).unwrap_or_else(|e| panic!("{from}: {e}\n{yaml}"));
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{from}:\n{yaml}\n{errors:?}");
        scopegate::config::Config::from_yaml(&yaml).unwrap_or_else(|e| panic!("{from}: {e}\n{yaml}"));
    }
    // And the schema refuses what the parser refuses: an unknown key, a bad enum value.
    for bad in ["modes: enforce\n", "mode: strict\n", "cache: {ttl: 5m, size: 3}\n"] {
        let value: serde_json::Value = serde_norway::from_str(bad).unwrap();
        assert!(!validator.is_valid(&value), "{bad}");
        assert!(scopegate::config::Config::from_yaml(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn config_check_says_what_serve_would_say() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "providers:\n  - kind: gitlab\n    host: gitlab.corp\n    apiUrl: https://gitlab.corp/api/v4\n    writeProbes: true\n",
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let check = run_scopegate(args(&["config", "check", bad]), None).await;
    assert_eq!(check.code, Some(2), "{check:?}");
    assert!(check.stderr.contains("providers[0].writeProbes"), "{check:?}");
    let certs = loopback_certs(dir.path());
    drop(certs);
    let serve = run_scopegate(
        args(&[
            "serve",
            "--config",
            bad,
            "--tls-cert",
            dir.path().join("tls.crt").to_str().unwrap(),
            "--tls-key",
            dir.path().join("tls.key").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ]),
        None,
    )
    .await;
    assert_eq!(serve.code, Some(2));
    let last = |s: &str| s.lines().last().unwrap_or_default().to_owned();
    assert_eq!(last(&check.stderr), last(&serve.stderr), "the same message");
    let good = run_scopegate(
        args(&["config", "check", &format!("{ROOT}/examples/config.yaml")]),
        None,
    )
    .await;
    assert_eq!(good.code, Some(0), "{good:?}");
    let schema = run_scopegate(args(&["config", "schema"]), None).await;
    assert_eq!(schema.code, Some(0));
    let printed: serde_json::Value = serde_json::from_str(&schema.stdout).unwrap();
    assert_eq!(printed, scopegate::config::schema());
}

/// Every alert of the PrometheusRule and every panel of the dashboard is on the page that explains
/// them.
#[test]
fn every_alert_and_panel_is_explained() {
    let page = read("docs/how-to/alerts-and-dashboards.md");
    let rules = read("manifests/monitoring/prometheusrule.yaml");
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 10);
    for a in alerts {
        assert!(page.contains(&format!("`{a}`")), "{a} is not on the alerts page");
    }
    let dashboard: serde_json::Value = serde_json::from_str(&read("manifests/monitoring/dashboard.json")).unwrap();
    for p in dashboard["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap();
        assert!(
            page.contains(&format!("| {title} |")),
            "panel {title:?} is not on the alerts page"
        );
    }
}

#[test]
fn the_readme_is_one_screen_and_its_links_land() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 160,
        "the README is {lines} lines: keep it one screen, the rest belongs on the site"
    );
    for needle in ["make demo", "make test", "docs/"] {
        assert!(readme.contains(needle), "{needle}");
    }
    for (i, _) in readme.match_indices("](") {
        let target = readme[i + 2..].split(')').next().unwrap_or_default();
        if target.starts_with("http") || target.starts_with('#') {
            continue;
        }
        let file = target.split('#').next().unwrap_or_default();
        assert!(
            Path::new(ROOT).join(file).exists(),
            "the README links to {target}, which is not there"
        );
    }
}
