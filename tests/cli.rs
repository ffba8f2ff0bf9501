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
