//! `scopegate check`: the binary run as a user runs it, on the example Secrets, on Argo CD's documented
//! Secrets, on standard input and on one token from a file, against loopback provider stand-ins.

mod common;

use std::collections::BTreeSet;

use common::*;
use scopegate_testkit::examples::mount_examples;
use scopegate_testkit::secret::yaml_documents;
use serde_json::{Value, json};
use wiremock::MockServer;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every token in the example Secrets: none may appear in any output.
const EXAMPLE_TOKENS: [&str; 13] = [
    "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",
    "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",
    "github_pat_11DEMO0000000000000000_FineGrainedDemoToken000000000000000000000000000000000000003",
    "glpat-DemoUserToken0000004",
    "ATCTT3xFfGN0DemoRepoAccessToken0000005",
    "BBDC-DemoProjectTokenWithWrite000000000000007",
    "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",
    "3c1f0e2d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
    "ATBBDemoAppPassword000000008",
    "5c09e0de0000000000000000000000000000f012",
    "demoazurepat00000000000000000000000000000000000013",
    scopegate_testkit::examples::FINE_RUNTIME_TOKEN,
    scopegate_testkit::examples::FINE_RUNTIME_NO_HOOKS_TOKEN,
];

/// The examples' configuration (as `make demo` uses it), pointed at `server`.
fn examples_config(server: &MockServer, dir: &tempfile::TempDir) -> String {
    let yaml = std::fs::read_to_string(format!("{ROOT}/examples/config.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:18480", &server.uri());
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.to_string_lossy().into_owned()
}

/// The examples' stand-in, a directory for files, and the examples' configuration pointing at it.
async fn examples_setup() -> (MockServer, tempfile::TempDir, String) {
    let server = MockServer::start().await;
    mount_examples(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let config = examples_config(&server, &dir);
    (server, dir, config)
}

fn example(name: &str) -> String {
    format!("{ROOT}/examples/secrets/{name}")
}

fn assert_no_example_token(run: &Run) {
    let out = run.all_output();
    for t in EXAMPLE_TOKENS {
        assert!(!out.contains(t), "a token leaked into the output: {out}");
    }
}

/// The `-o json` contract: these keys on every object, with these types.
fn assert_contract(e: &Value) {
    for key in ["namespace", "name", "verdict", "message"] {
        assert!(e[key].is_string(), "{key} is a string: {e}");
    }
    assert!(e["allowed"].is_boolean(), "{e}");
    for key in ["scopes", "missing", "excess"] {
        assert!(e[key].is_array(), "{key} is an array: {e}");
    }
    for key in ["provider", "tokenKind", "role", "expiresAt", "owner"] {
        assert!(
            e.get(key).is_some_and(|v| v.is_string() || v.is_null()),
            "{key} is present: {e}"
        );
    }
}

#[tokio::test]
async fn the_example_secrets_are_judged_as_the_webhook_judges_them() {
    let (_server, _dir, config) = examples_setup().await;
    let secrets_dir = format!("{ROOT}/examples/secrets");
    let run = run_scopegate(
        args(&["check", "--config", &config, "-f", &secrets_dir, "-o", "json"]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(1), "some would be denied: {run:?}");
    assert_no_example_token(&run);
    let all = run.json();
    let all = all.as_array().unwrap();
    for e in all {
        assert_contract(e);
    }
    // name, verdict, allowed, provider, tokenKind, role, scopes, missing, expiresAt, owner
    #[rustfmt::skip]
    let expected = [
        json!(["codefresh/runtime-repo-creds-secret", "ok", true, "github", "classic", "runtime",
               ["admin:repo_hook", "read:org", "repo"], [], "2027-06-30T12:00:00Z", "gitops-bot"]),
        json!(["codefresh-staging/runtime-repo-creds-secret", "insufficient", false, "github", "classic", "runtime",
               ["repo", "user"], ["admin:repo_hook"], "2027-01-15T08:30:00Z", "alice"]),
        json!(["argocd/guestbook-repo", "ok", true, "github", "fine-grained", "read",
               ["contents:read", "metadata:read"], [], "2027-03-30T15:00:00Z", "alice"]),
        json!(["codefresh/git-default-65f1c0d2a9e8", "insufficient", false, "gitlab", "personal", "user",
               ["read_api", "read_repository"], ["write_repository"], "2027-08-15T00:00:00Z", null]),
        json!(["argocd/hydrator-push", "ok", true, "bitbucket-cloud", "repo-access-token", "write",
               ["repository:write"], [], null, null]),
        json!(["argocd/legacy-apps-repo", "invalid", false, "github", "classic", "read", [], [], null, null]),
        json!(["argocd/infra-repo", "invalid", false, null, null, "read", [], [], null, null]),
        json!(["argocd/charts-repo-ssh", "not-a-token", true, "github", "ssh-key", "read", [], [], null, null]),
        json!(["argocd/gitea-mirror", "unverified", true, null, null, "read", [], [], null, null]),
        json!(["argocd/legacy-bitbucket", "invalid", false, "bitbucket-cloud", "app-password", "read", [], [], null, null]),
        json!(["argocd/hydrator-push-dc", "ok", true, "bitbucket-server", "http-access-token", "write",
               ["REPO_WRITE"], [], null, "platform-bot"]),
        json!(["argocd/hydrator-push-forgejo", "ok", true, "gitea", "access-token", "write",
               ["read:user", "write:repository"], [], null, "platform-bot"]),
        json!(["argocd/apps-repo-azure", "ok", true, "azure-devops", "personal", "read",
               ["vso.code"], [], null, "gitops-bot@acme.example"]),
        json!(["codefresh-eu/runtime-repo-creds-secret", "ok", true, "github", "fine-grained", "runtime",
               ["administration:read", "administration:write", "contents:read", "contents:write", "metadata:read",
                "webhooks:read", "webhooks:write"], [], "2027-05-31T00:00:00Z", "gitops-bot"]),
        json!(["codefresh-dev/runtime-repo-creds-secret", "insufficient", false, "github", "fine-grained", "runtime",
               ["administration:read", "administration:write", "contents:read", "contents:write", "metadata:read",
                "webhooks:read"], ["webhooks:write"], "2027-05-31T00:00:00Z", "gitops-bot"]),
    ];
    const FIELDS: [&str; 9] = [
        "verdict",
        "allowed",
        "provider",
        "tokenKind",
        "role",
        "scopes",
        "missing",
        "expiresAt",
        "owner",
    ];
    assert_eq!(all.len(), expected.len(), "one object per Secret: {all:#?}");
    for (e, row) in all.iter().zip(&expected) {
        let name = row[0].as_str().unwrap();
        assert_eq!(
            format!("{}/{}", e["namespace"].as_str().unwrap(), e["name"].as_str().unwrap()),
            name
        );
        for (i, field) in FIELDS.iter().enumerate() {
            assert_eq!(e[*field], row[i + 1], "{name} {field}: {e}");
        }
        // A denial says what to do.
        if row[2] == false {
            let m = e["message"].as_str().unwrap();
            assert!(m.contains(name), "{name}: the message names the Secret: {m}");
        }
    }
    // The files are read in name order, and each Secret is named by its source.
    assert_eq!(all[0]["source"], format!("{secrets_dir}/01-runtime-token-ok.yaml#1"));
    assert!(
        all[1]["message"]
            .as_str()
            .unwrap()
            .contains("https://github.com/settings/tokens/new?scopes=repo,admin:repo_hook"),
        "{}",
        all[1]
    );
    assert!(
        all[8]["message"]
            .as_str()
            .unwrap()
            .contains("not a configured Git provider")
    );
}

#[tokio::test]
async fn all_admitted_exits_0_and_the_table_is_aligned_and_plain_off_a_terminal() {
    let (_server, _dir, config) = examples_setup().await;
    let run = run_scopegate(
        args(&[
            "check",
            "--config",
            &config,
            "-f",
            &example("01-runtime-token-ok.yaml"),
            "-f",
            &example("03-repository-fine-grained.yaml"),
            "-f",
            &example("08-ssh-key.yaml"),
        ]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        !run.stdout.contains('\x1b'),
        "no colour off a terminal: {:?}",
        run.stdout
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three rows: {}", run.stdout);
    assert!(lines[0].starts_with("SECRET "), "{}", lines[0]);
    // Every column starts where its header does.
    for header in ["VERDICT", "ALLOWED", "PROVIDER", "KIND", "ROLE", "EXPIRES", "MISSING"] {
        let at = lines[0].find(header).unwrap();
        for row in &lines[1..] {
            assert!(row.len() > at, "{row}");
            assert_ne!(&row[at..at + 1], " ", "{header} column of {row:?}");
            assert_eq!(&row[at - 1..at], " ", "{header} column of {row:?}");
        }
    }
    assert!(
        lines[1].starts_with("codefresh/runtime-repo-creds-secret  ok  "),
        "{}",
        lines[1]
    );
    assert!(lines[3].contains("not-a-token"), "{}", lines[3]);
    assert_no_example_token(&run);
}

#[tokio::test]
async fn standard_input_lists_and_admission_reviews_are_read_and_others_passed_over() {
    let (server, _dir, config) = examples_setup().await;
    // What `kubectl get secrets -o yaml` prints: a List, with a ConfigMap beside it for good measure.
    let mut items: Vec<Value> = ["01-runtime-token-ok.yaml", "02-runtime-token-missing-hook-scope.yaml"]
        .iter()
        .flat_map(|f| yaml_documents(&std::fs::read_to_string(example(f)).unwrap()).unwrap())
        .collect();
    items.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}));
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items});
    let run = run_scopegate(
        args(&["check", "--config", &config, "-f", "-", "-o", "json"]),
        Some(serde_norway::to_string(&list).unwrap()),
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let v = run.json();
    let verdicts: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["source"].as_str().unwrap(), e["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(verdicts, [("stdin#1", "ok"), ("stdin#2", "insufficient")]);
    assert!(
        run.stderr.contains("passed over 1 object(s) that are not Secrets"),
        "{}",
        run.stderr
    );

    // An AdmissionReview captured from a live API server (OpenShift): a pull secret, not Argo CD's.
    let asked_before = server.received_requests().await.unwrap().len();
    let review = format!("{ROOT}/tests/fixtures/shared/admission-v1-secret-create-openshift.trufflehog.json");
    let run = run_scopegate(args(&["check", "--config", &config, "-f", &review, "-o", "json"]), None).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let v = run.json();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_contract(&v[0]);
    assert_eq!(v[0]["name"], "regcred");
    assert_eq!(v[0]["namespace"], "test-webhooks");
    assert_eq!(v[0]["verdict"], "ignored");
    assert_eq!(v[0]["allowed"], true);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        asked_before,
        "nothing is asked about a pull secret"
    );
}

#[tokio::test]
async fn one_token_from_a_file_or_standard_input_never_from_an_argument() {
    let (_server, dir, config) = examples_setup().await;
    let token_file = dir.path().join("token");
    // Files end with a newline; it is not part of the token.
    std::fs::write(&token_file, "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\n").unwrap();
    let token_path = token_file.to_string_lossy().into_owned();
    let url = "https://github.com/acme";
    let check_url = |extra: &[&str]| {
        let mut a = args(&["check", "--config", &config, "--url", url]);
        a.extend(args(extra));
        a
    };
    let run = run_scopegate(
        check_url(&["--token-file", &token_path, "--role", "runtime", "-o", "json"]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let v = run.json();
    assert_contract(&v[0]);
    assert_eq!(v[0]["name"], url);
    assert_eq!(v[0]["verdict"], "ok");
    assert_eq!(v[0]["role"], "runtime");
    assert_eq!(v[0]["owner"], "gitops-bot");

    // The read-only token for the runtime role, from standard input: what is missing, and what to do.
    let run = run_scopegate(
        check_url(&["--token-file", "-", "--role", "runtime"]),
        Some("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\n".into()),
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("insufficient"), "{}", run.stdout);
    assert!(run.stdout.contains("admin:repo_hook"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("scopegate-check"),
        "no made-up Secret name: {}",
        run.stdout
    );
    assert_no_example_token(&run);

    // The role decides the requirement: the same token is enough to read.
    let run = run_scopegate(
        check_url(&["--token-file", "-", "-o", "json"]),
        Some("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".into()),
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.json()[0]["role"], "read");

    // There is no flag that takes the token itself.
    let run = run_scopegate(
        args(&[
            "check",
            "--url",
            url,
            "--token",
            "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",
        ]),
        None,
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
}

#[tokio::test]
async fn errors_exit_2_and_say_what_is_wrong_without_content() {
    let (server, dir, config) = examples_setup().await;
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: v1\nkind: Secret\nstringData:\n  password: [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\n",
    )
    .unwrap();
    let empty_token = dir.path().join("empty");
    std::fs::write(&empty_token, "\n").unwrap();
    let configmap = dir.path().join("cm.yaml");
    std::fs::write(&configmap, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n").unwrap();
    let bad_config = dir.path().join("bad-config.yaml");
    std::fs::write(&bad_config, "mode: block\n").unwrap();
    let p = |f: &std::path::Path| f.to_string_lossy().into_owned();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            args(&["check", "--config", &config, "-f", "/nonexistent/s.yaml"]),
            "/nonexistent/s.yaml",
        ),
        (
            args(&["check", "--config", &config, "-f", &p(&broken)]),
            "is not YAML or JSON",
        ),
        (
            args(&["check", "--config", &config, "-f", &p(&configmap)]),
            "no Secret in",
        ),
        (
            args(&[
                "check",
                "--config",
                &config,
                "--url",
                "https://github.com/acme",
                "--token-file",
                &p(&empty_token),
            ]),
            "holds no token",
        ),
        (
            args(&["check", "--config", &p(&bad_config), "-f", &p(&configmap)]),
            "mode",
        ),
        (args(&["check", "--url", "https://github.com/acme"]), "--token-file"),
        (args(&["check"]), "required"),
    ];
    for (a, says) in cases {
        let run = run_scopegate(a.clone(), None).await;
        assert_eq!(run.code, Some(2), "{a:?}: {run:?}");
        assert!(run.stderr.contains(says), "{a:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{a:?}: {}", run.stdout);
        assert!(
            !run.stderr.contains("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"),
            "{}",
            run.stderr
        );
    }
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "no provider is asked when the input is wrong"
    );
}

/// Argo CD's documentation Secrets, exactly as it writes them: the verdicts the webhook gives them.
#[tokio::test]
async fn argo_cd_documentation_secrets_get_the_webhooks_verdicts() {
    let server = MockServer::start().await;
    Github::on(&server).reject_others().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, providers_yaml(&server)).unwrap();
    let expected = argocd_docs_expectations();
    let files: BTreeSet<&str> = expected.keys().map(|(f, _)| *f).collect();
    let mut a = args(&["check", "--config", &config.to_string_lossy(), "-o", "json"]);
    for f in &files {
        a.push("-f".into());
        a.push(format!("{ROOT}/tests/fixtures/shared/{f}"));
    }
    let run = run_scopegate(a, None).await;
    assert_eq!(run.code, Some(1), "the placeholder tokens are refused: {run:?}");
    let v = run.json();
    let mut seen = 0;
    for e in v.as_array().unwrap() {
        assert_contract(e);
        let source = e["source"].as_str().unwrap();
        let file = files
            .iter()
            .find(|f| source.contains(**f))
            .unwrap_or_else(|| panic!("{source}"));
        let name = e["name"].as_str().unwrap();
        let (verdict, allowed) = expected[&(*file, name)];
        assert_eq!(e["verdict"], verdict, "{file} {name}: {e}");
        assert_eq!(e["allowed"], allowed, "{file} {name}: {e}");
        seen += 1;
    }
    assert_eq!(seen, expected.len());
    assert!(!run.all_output().contains("my-password"), "{}", run.all_output());
}

/// On a terminal the table is coloured (the verdicts), unless NO_COLOR is set.
#[tokio::test]
async fn the_table_is_coloured_on_a_terminal() {
    let (_server, _dir, config) = examples_setup().await;
    let command = format!(
        "{} check --config {config} -f {} -f {}",
        env!("CARGO_BIN_EXE_scopegate"),
        example("01-runtime-token-ok.yaml"),
        example("02-runtime-token-missing-hook-scope.yaml")
    );
    let on_terminal = |no_colour: bool| {
        let command = command.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = std::process::Command::new("script");
            c.args(["-q", "-e", "-c", &command, "/dev/null"]).env("TERM", "xterm");
            if no_colour {
                c.env("NO_COLOR", "1");
            } else {
                c.env_remove("NO_COLOR");
            }
            c.output().expect("script (util-linux) runs")
        })
    };
    let shown = on_terminal(false).await.unwrap();
    assert_eq!(shown.status.code(), Some(1), "{shown:?}");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("\x1b[32mok\x1b[0m"), "{text:?}");
    assert!(text.contains("\x1b[31minsufficient\x1b[0m"), "{text:?}");
    let shown = on_terminal(true).await.unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("insufficient") && !text.contains('\x1b'), "{text:?}");
}
