use super::*;
use base64::Engine as _;
use kube::core::DynamicObject;
use serde_json::{Value, json};

fn secret(v: Value) -> SecretObject {
    let obj: DynamicObject = serde_json::from_value(v).unwrap();
    SecretObject::from_dynamic(&obj)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn repo_secret(name: &str, kind: &str, data: Value) -> SecretObject {
    secret(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "argocd", "labels": {SECRET_TYPE_LABEL: kind}},
        "data": data,
    }))
}

#[test]
fn only_labelled_and_git_default_secrets_are_handled() {
    for t in ["repository", "repo-creds", "repository-write", "repo-write-creds"] {
        assert!(repo_secret("x", t, json!({})).is_handled(), "{t}");
    }
    for t in ["cluster", "scm-creds", "repo-config", ""] {
        assert!(!repo_secret("x", t, json!({})).is_handled(), "{t}");
    }
    let s = secret(json!({"metadata": {"name": "git-default-1234"}}));
    assert!(s.is_handled());
    let s = secret(json!({"metadata": {"generateName": "git-default-"}}));
    assert!(s.is_handled());
    let s = secret(json!({"metadata": {"name": "runtime-repo-creds-secret"}}));
    assert!(!s.is_handled(), "the runtime Secret is recognised by its label");
    assert!(matches!(
        classify(&secret(json!({"metadata": {"name": "other"}}))),
        Classified::Ignored
    ));
}

#[test]
fn roles_follow_names_then_labels() {
    let role = |name: &str, t: &str| role_of(&repo_secret(name, t, json!({}))).effective;
    assert_eq!(role("runtime-repo-creds-secret", "repo-creds"), Role::Runtime);
    assert_eq!(role("git-default-42", "repository"), Role::User);
    assert_eq!(role("git-default-42", "repository-write"), Role::User);
    assert_eq!(role("push", "repository-write"), Role::Write);
    assert_eq!(role("push", "repo-write-creds"), Role::Write);
    assert_eq!(role("pull", "repository"), Role::Read);
    assert_eq!(role("pull", "repo-creds"), Role::Read);
}

fn with_role_annotation(name: &str, t: &str, asked: &str) -> RoleChoice {
    let mut s = repo_secret(name, t, json!({}));
    s.annotations.insert(ROLE_ANNOTATION.into(), asked.into());
    role_of(&s)
}

#[test]
fn the_role_annotation_only_tightens() {
    let r = with_role_annotation("pull", "repository", "runtime");
    assert_eq!(
        (r.effective, r.derived, r.ignored_request),
        (Role::Runtime, Role::Read, None)
    );
    let r = with_role_annotation("push", "repository-write", "write");
    assert_eq!((r.effective, r.ignored_request), (Role::Write, None));
    let r = with_role_annotation("runtime-repo-creds-secret", "repo-creds", "read");
    assert_eq!(
        (r.effective, r.ignored_request.as_deref()),
        (Role::Runtime, Some("read"))
    );
    let r = with_role_annotation("push", "repository-write", "admin");
    assert_eq!(
        (r.effective, r.ignored_request.as_deref()),
        (Role::Write, Some("admin"))
    );
}

#[test]
fn tokens_come_from_data_and_string_data() {
    let s = repo_secret(
        "r",
        "repository",
        json!({"url": b64("https://github.com/org/repo.git"), "username": b64("git"), "password": b64("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")}),
    );
    let Classified::Token(c) = classify(&s) else {
        panic!("expected a token")
    };
    assert_eq!(c.url.host, "github.com");
    assert_eq!(c.url.repo_path(), "org/repo");
    assert_eq!(c.username.as_deref(), Some("git"));
    assert_eq!(c.token.expose(), "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");
    assert_eq!(c.token_field, TokenField::Password);
    assert_eq!(c.repo_type, "git");

    let s = secret(json!({
        "metadata": {"name": "r", "labels": {SECRET_TYPE_LABEL: "repository"}},
        "data": {"password": b64("old")},
        "stringData": {"url": "https://bitbucket.example.com/scm/p/r.git", "bearerToken": "BBDC-x", "password": "new"},
    }));
    let Classified::Token(c) = classify(&s) else {
        panic!("expected a token")
    };
    assert_eq!(c.token_field, TokenField::BearerToken);
    assert_eq!(c.token.expose(), "BBDC-x");
}

fn malformed(s: &SecretObject) -> MalformedField {
    match classify(s) {
        Classified::Malformed { problem, .. } => problem,
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[test]
fn bad_base64_names_the_field() {
    let m = malformed(&repo_secret(
        "r",
        "repository",
        json!({"url": b64("https://github.com/o/r"), "password": "%%%"}),
    ));
    assert_eq!(m.field, "data.password");
    assert!(m.defect.contains("base64"));
    assert!(!m.whitespace);
    let m = malformed(&repo_secret("r", "repository", json!({"url": 12})));
    assert_eq!(m.field, "data.url");
}

#[test]
fn a_token_without_url_is_malformed() {
    let m = malformed(&repo_secret(
        "r",
        "repo-creds",
        json!({"password": b64("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")}),
    ));
    assert_eq!(m.field, "url");
    assert!(m.defect.contains("data.password"), "{}", m.defect);
}

#[test]
fn trailing_newlines_and_spaces_are_caught() {
    let m = malformed(&repo_secret(
        "r",
        "repository",
        json!({"url": b64("https://github.com/o/r"), "password": b64("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\n")}),
    ));
    assert_eq!((m.field.as_str(), m.whitespace), ("data.password", true));
    assert!(m.defect.contains("newline"));
    let m = malformed(&repo_secret(
        "r",
        "repository",
        json!({"url": b64("https://github.com/o/r\n"), "password": b64("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")}),
    ));
    assert_eq!(m.field, "data.url");
    let s = secret(json!({
        "metadata": {"name": "r", "labels": {SECRET_TYPE_LABEL: "repository"}},
        "stringData": {"url": "https://github.com/o/r", "bearerToken": " tok"},
    }));
    let m = malformed(&s);
    assert_eq!(m.field, "stringData.bearerToken");
    assert!(m.defect.contains("whitespace"));
}

#[test]
fn github_app_credentials() {
    let s = repo_secret(
        "app",
        "repo-creds",
        json!({"url": b64("https://github.com/acme"), "githubAppID": b64("123"), "githubAppInstallationID": b64("45"), "githubAppPrivateKey": b64(include_str!("../../tests/fixtures/keys/github-app-test.pem"))}),
    );
    let Classified::GithubApp(a) = classify(&s) else {
        panic!("expected an app")
    };
    assert_eq!((a.app_id, a.installation_id), (123, Some(45)));
    assert_eq!(a.enterprise_base_url, None);
    let s = repo_secret(
        "app",
        "repository",
        json!({"url": b64("https://github.com/acme/x"), "githubAppID": b64("<your app ID here>"), "githubAppPrivateKey": b64("k")}),
    );
    assert_eq!(malformed(&s).field, "data.githubAppID");
    let s = repo_secret(
        "app",
        "repository",
        json!({"url": b64("https://github.com/acme/x"), "githubAppID": b64("1")}),
    );
    assert_eq!(malformed(&s).field, "githubAppPrivateKey");
}

#[test]
fn non_token_credentials() {
    let cases = [
        (
            json!({"url": b64("git@github.com:o/r.git"), "sshPrivateKey": b64("-----BEGIN")}),
            NonToken::SshKey,
        ),
        (
            json!({"url": b64("git@github.com:o/r.git"), "sshPrivateKey": b64("-----BEGIN"), "githubAppID": b64("1")}),
            NonToken::SshKey,
        ),
        (
            json!({"url": b64("https://git.corp/o"), "tlsClientCertData": b64("c")}),
            NonToken::TlsClientCert,
        ),
        (
            json!({"url": b64("https://dev.azure.com/o"), "azureServicePrincipalClientSecret": b64("s")}),
            NonToken::CloudIdentity,
        ),
        (json!({"url": b64("https://github.com/o/r")}), NonToken::None),
        (
            json!({"url": b64("https://github.com/o/r"), "username": b64("only-user")}),
            NonToken::None,
        ),
    ];
    for (data, want) in cases {
        match classify(&repo_secret("r", "repository", data)) {
            Classified::NotAToken { what, .. } => assert_eq!(what, want),
            other => panic!("expected {want:?}, got {other:?}"),
        }
    }
}

#[test]
fn the_credential_fields_compare_decoded() {
    let a = repo_secret(
        "r",
        "repository",
        json!({"url": b64("https://github.com/o/r"), "password": b64("t")}),
    );
    let b =
        secret(json!({"metadata": {"name": "r"}, "stringData": {"url": "https://github.com/o/r", "password": "t"}}));
    let c = repo_secret(
        "r",
        "repository",
        json!({"url": b64("https://github.com/o/r"), "password": b64("u")}),
    );
    let broken = repo_secret(
        "r",
        "repository",
        json!({"url": b64("https://github.com/o/r"), "password": "%%%"}),
    );
    assert!(a.same_credential(&b));
    assert!(!a.same_credential(&c));
    assert!(
        !broken.same_credential(&broken),
        "an undecodable Secret is never the same credential"
    );
}

#[test]
fn names_are_the_label_and_annotation_values() {
    let types: Vec<&str> = SecretType::all().map(SecretType::as_str).collect();
    assert_eq!(
        types,
        ["repository", "repo-creds", "repository-write", "repo-write-creds"]
    );
    let roles: Vec<&str> = Role::all().map(Role::as_str).collect();
    assert_eq!(roles, ["scm", "read", "write", "user", "runtime"]);
    let roles: Vec<&str> = Role::secret_roles().map(Role::as_str).collect();
    assert_eq!(roles, ["read", "write", "user", "runtime"]);
    assert_eq!(NonToken::SshKey.as_str(), "ssh-key");
    assert_eq!(NonToken::TlsClientCert.as_str(), "tls-client-cert");
    assert_eq!(NonToken::CloudIdentity.as_str(), "cloud-identity");
    assert_eq!(NonToken::None.as_str(), "none");
    assert_eq!(CredentialKind::Token(TokenKind::FineGrained).as_str(), "fine-grained");
}

/// Argo CD's precedence (argo-cd util/git/creds.go, HTTPSCreds.Environ): with forceHttpBasicAuth and a
/// password, the password goes as HTTP Basic even beside a bearer token; otherwise the bearer token wins.
#[test]
fn the_token_judged_is_the_one_argo_cd_sends() {
    let case = |fields: Value| {
        let mut data = json!({"url": b64("https://bitbucket.example.com/scm/p/r.git"), "username": b64("bot")});
        for (k, v) in fields.as_object().unwrap() {
            data[k] = json!(b64(v.as_str().unwrap()));
        }
        match classify(&repo_secret("r", "repository", data)) {
            Classified::Token(c) => (c.token_field, c.token.expose().to_owned(), c.force_basic),
            other => panic!("{other:?}"),
        }
    };
    let both = json!({"password": "pw", "bearerToken": "BBDC-b"});
    assert_eq!(case(both.clone()), (TokenField::BearerToken, "BBDC-b".into(), false));
    let mut forced = both.clone();
    forced["forceHttpBasicAuth"] = json!("true");
    assert_eq!(case(forced), (TokenField::Password, "pw".into(), true));
    // Go's ParseBool spellings.
    for yes in ["1", "t", "T", "TRUE", "True"] {
        let mut f = both.clone();
        f["forceHttpBasicAuth"] = json!(yes);
        assert_eq!(case(f).0, TokenField::Password, "{yes}");
    }
    let mut off = both.clone();
    off["forceHttpBasicAuth"] = json!("false");
    assert_eq!(case(off).0, TokenField::BearerToken);
    // An empty password is no password: the bearer token is sent, as Bearer.
    let empty = json!({"password": "", "bearerToken": "BBDC-b", "forceHttpBasicAuth": "true"});
    assert_eq!(case(empty), (TokenField::BearerToken, "BBDC-b".into(), false));
    // A password alone with forceHttpBasicAuth: Basic, username as written.
    let alone = json!({"password": "pw", "forceHttpBasicAuth": "true"});
    assert_eq!(case(alone), (TokenField::Password, "pw".into(), true));
}

#[test]
fn booleans_argo_cd_cannot_read_are_malformed() {
    let data = |k: &str, v: &str| {
        let mut d = json!({"url": b64("https://github.com/org/repo"), "password": b64("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")});
        d[k] = json!(b64(v));
        d
    };
    let m = malformed(&repo_secret("r", "repository", data("forceHttpBasicAuth", "yes")));
    assert_eq!(m.field, "data.forceHttpBasicAuth");
    let m = malformed(&repo_secret("r", "repository", data("insecure", "true\n")));
    assert_eq!(m.field, "data.insecure");
    let s = repo_secret("r", "repository", data("insecure", "True"));
    assert_eq!(s.insecure(), Ok(true));
    assert!(matches!(classify(&s), Classified::Token(_)));
    assert_eq!(
        repo_secret("r", "repository", data("insecure", "0")).insecure(),
        Ok(false)
    );
}

/// The checksum reading holds for every real token published in public sources, and for none of the
/// hand-made placeholders (`tests/fixtures/github-token-checksums.txt` says where each comes from).
#[test]
fn github_checksums_hold_for_real_published_tokens() {
    let text = include_str!("../../tests/fixtures/github-token-checksums.txt");
    let (mut real, mut fake) = (0, 0);
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let token = line.split_whitespace().next().unwrap();
        let (expect_ok, token) = match token.strip_prefix('!') {
            Some(t) => (false, t),
            None => (true, token),
        };
        let verdict = kind::github_checksum(&Token::new(token.into()));
        assert_eq!(verdict.map(|r| r.is_ok()), Some(expect_ok), "{line}");
        if expect_ok { real += 1 } else { fake += 1 }
    }
    assert!(real >= 12 && fake >= 2, "{real} real, {fake} placeholders");
}

#[test]
fn github_checksums_refuse_what_github_never_issues() {
    let ok = "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";
    let check = |t: &str| kind::github_checksum(&Token::new(t.into()));
    assert_eq!(check(ok), Some(Ok(())));
    // One character mistyped, anywhere.
    for i in 4..ok.len() {
        let mut b = ok.as_bytes().to_vec();
        b[i] = if b[i] == b'a' { b'b' } else { b'a' };
        let t = String::from_utf8(b).unwrap();
        assert!(matches!(check(&t), Some(Err(_))), "{t}");
    }
    // Truncated, extended, with a stray character.
    assert!(check(&ok[..39]).unwrap().unwrap_err().contains("shorter"));
    assert!(check(&format!("{ok}x")).unwrap().unwrap_err().contains("longer"));
    assert!(check(&format!("{}-{}", &ok[..20], &ok[21..])).unwrap().is_err());
    // Other kinds have no checksum to check.
    for t in [
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
        "glpat-xxxxxxxxxxxxxxxxxxxx",
        "0123456789abcdef0123456789abcdef01234567",
    ] {
        assert_eq!(check(t), None, "{t}");
    }
}
