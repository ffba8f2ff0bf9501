//! The binary's start-up contract: certificates, and configuration refused with a message naming the key.

use std::process::Command;

use base64::Engine as _;

fn scopegate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scopegate"))
}

#[test]
fn certs_writes_four_files_and_prints_the_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out = scopegate()
        .args(["certs", "--out-dir"])
        .arg(dir.path())
        .args(["--service", "hook", "--namespace", "tools"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bundle = String::from_utf8(out.stdout).unwrap();
    let pem = base64::engine::general_purpose::STANDARD.decode(bundle.trim()).unwrap();
    assert_eq!(pem, std::fs::read(dir.path().join("ca.crt")).unwrap());
    for f in ["ca.crt", "ca.key", "tls.crt", "tls.key"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("hook.tools.svc"));
}

fn serve_with_config(yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let issued = scopegate::certs::issue(&scopegate::certs::CertRequest::new("s", "n")).unwrap();
    scopegate::certs::write(dir.path(), &issued).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    let out = scopegate()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--tls-cert")
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_configuration_is_refused_at_start_up_naming_the_key() {
    let err = serve_with_config("mode: enforce\nonProviderEror: deny\n");
    assert!(err.contains("onProviderEror"), "{err}");
    let err = serve_with_config("mode: block\n");
    assert!(err.contains("mode") && err.contains("block"), "{err}");
    let err =
        serve_with_config("providers:\n  - kind: github\n    host: ghe.corp\n    apiUrl: http://ghe.corp/api/v3\n");
    assert!(err.contains("providers[0].apiUrl"), "{err}");
    // A CA bundle that is missing or is not certificates.
    let err = serve_with_config(
        "providers:\n  - kind: github\n    host: ghe.corp\n    apiUrl: https://ghe.corp/api/v3\n    caFile: /nonexistent/ca.pem\n",
    );
    assert!(
        err.contains("providers[0].caFile") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
    let garbage = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        garbage.path(),
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = serve_with_config(&format!(
        "providers:\n  - kind: github\n    host: ghe.corp\n    apiUrl: https://ghe.corp/api/v3\n    caFile: {}\n",
        garbage.path().display()
    ));
    assert!(err.contains("providers[0].caFile"), "{err}");
    std::fs::write(garbage.path(), "just text\n").unwrap();
    let err = serve_with_config(&format!(
        "providers:\n  - kind: github\n    host: ghe.corp\n    apiUrl: https://ghe.corp/api/v3\n    caFile: {}\n",
        garbage.path().display()
    ));
    assert!(
        err.contains("providers[0].caFile") && err.contains("no PEM certificate"),
        "{err}"
    );
    // Proxies: the key named, the password never shown.
    let err = serve_with_config("proxy:\n  url: socks5://user:hunter2@proxy.corp:1080\n");
    assert!(err.contains("proxy.url") && !err.contains("hunter2"), "{err}");
    let err = serve_with_config(
        "providers:\n  - kind: gitlab\n    host: gitlab.corp\n    apiUrl: https://gitlab.corp/api/v4\n    proxy:\n      url: http://proxy.corp:3128\n      noProxy: [10.0.0.0/99]\n",
    );
    assert!(err.contains("providers[0].proxy.noProxy[0]"), "{err}");
    // Requirements: an unknown role, family, scope, permission or level.
    for (yaml, key) in [
        ("requirements:\n  admin:\n    gitlab: [api]\n", "requirements.admin"),
        (
            "requirements:\n  user:\n    github-classic: [repo, admin:hooks]\n",
            "requirements.user.github-classic[1]",
        ),
        (
            "requirements:\n  runtime:\n    github-fine-grained: {contents: write, webhook: write}\n",
            "requirements.runtime.github-fine-grained.webhook",
        ),
        (
            "requirements:\n  read:\n    gitlab-access-level: boss\n",
            "requirements.read.gitlab-access-level",
        ),
    ] {
        let err = serve_with_config(yaml);
        assert!(err.contains(key), "{yaml}: {err}");
    }
}

#[test]
fn missing_or_broken_certificates_are_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("tls.key"), "not a key").unwrap();
    let out = scopegate()
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls.crt"), "{err}");
    let out = scopegate()
        .args([
            "serve",
            "--tls-cert",
            "/nonexistent/tls.crt",
            "--tls-key",
            "/nonexistent/tls.key",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tls.crt"));
}
