//! The parsing paths the fuzz targets (`fuzz/`) and the manifest tests drive from outside the crate,
//! and the harnesses the fuzz targets run. Each harness states its properties as assertions: a
//! failing one is a finding, as a panic is.
//!
//! - [`review`]: an AdmissionReview body, read as the webhook reads it — what it reads of the Secret is
//!   what kube's types read of it, the answer serialises, and the annotation patch applies.
//! - [`config`]: the configuration parser.
//! - [`url_and_host`]: a Secret's URL, the provider it is matched to, and the URLs scopegate would call
//!   for it — always on the configured provider's origins, whatever the Secret's author wrote.
//! - [`provider_answers`] (with the `fuzzing` feature, and in the crate's tests): one provider's
//!   answers, headers and bodies, read by the real provider module and judged by the real engine; what
//!   scopegate would show never holds the token, and every call went to the configured provider.

pub use crate::credential::{SecretObject, SecretType, classify, role_of};
pub use crate::render::annotations::{annotation_patch, keys as annotation};
pub use crate::repo_url::RepoUrl;
pub use crate::server::wire::{parse as parse_review, to_json as review_to_json};

use std::collections::BTreeMap;

use crate::config::{Config, Provider};
use crate::providers::{api_url, git_repo_url};
use crate::server::wire::Answer;

/// The review parsing path: nothing panics; a review the webhook reads has an answer that
/// serialises; what it reads of the object (and the old object) is what kube's `DynamicObject`
/// reading gives; and the annotation patch scopegate would send applies to the object as sent,
/// leaving exactly the wanted `scopegate.dev/` annotations.
pub fn review(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = RepoUrl::parse(text);
    }
    let Ok(req) = parse_review(data) else { return };
    assert!(
        review_to_json(&Answer::allow(req.uid.clone())).is_ok(),
        "an answer always serialises"
    );
    let body: serde_json::Value =
        serde_json::from_slice(data).unwrap_or_else(|e| panic!("read as a review, but not JSON: {e}"));
    let wanted: BTreeMap<&'static str, String> = [
        (annotation::VERDICT, "ok".to_owned()),
        (annotation::ROLE, "read".to_owned()),
        (annotation::SCOPES, "repo".to_owned()),
    ]
    .into_iter()
    .collect();
    for (lean, raw) in [
        (req.object, &body["request"]["object"]),
        (req.old_object, &body["request"]["oldObject"]),
    ] {
        let Some(secret) = lean else { continue };
        // kube's types are stricter about metadata (timestamps, managed fields): where they read the
        // object at all, they read the same.
        if let Ok(obj) = serde_json::from_value::<kube::core::DynamicObject>(raw.clone()) {
            let kube = SecretObject::from_dynamic(&obj);
            assert!(
                secret.same_inputs(&kube) && secret.uid == kube.uid,
                "the webhook reads {secret:?}, kube's types {kube:?}"
            );
        }
        let _ = role_of(&secret);
        let _ = classify(&secret);
        let mut doc = raw.clone();
        if !doc.get("metadata").is_some_and(serde_json::Value::is_object) {
            continue;
        }
        let patch = annotation_patch(&secret.annotations, &wanted);
        if let Err(e) = json_patch::patch(&mut doc, &patch) {
            panic!("the annotation patch does not apply: {e}");
        }
        let after = &doc["metadata"]["annotations"];
        for (k, v) in &wanted {
            assert_eq!(after[*k].as_str(), Some(v.as_str()), "{k} is set");
        }
        if let Some(map) = after.as_object() {
            for k in map.keys() {
                let ours = k.starts_with(annotation::PREFIX) && !annotation::INPUTS.contains(&k.as_str());
                assert!(!ours || wanted.contains_key(k.as_str()), "stale {k} removed");
            }
        }
    }
}

/// The configuration file parser: nothing panics; a configuration it accepts holds the bounds the
/// rest of scopegate relies on, and parses the same way again.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(c) = Config::from_yaml(text) else { return };
    assert!(!c.provider_timeout.is_zero(), "providerTimeout is more than zero");
    assert!(c.provider_concurrency >= 1, "providerConcurrency is at least 1");
    assert!(c.server.max_connections >= 1, "server.maxConnections is at least 1");
    assert!(
        c.server.max_concurrent_streams >= 1,
        "server.maxConcurrentStreams is at least 1"
    );
    assert!(
        !c.server.handshake_timeout.is_zero(),
        "server.handshakeTimeout is more than zero"
    );
    assert!(
        !c.server.header_timeout.is_zero(),
        "server.headerTimeout is more than zero"
    );
    for p in &c.providers {
        assert!(!p.host.is_empty(), "a provider has a host");
        assert_eq!(p.host, p.host.to_ascii_lowercase(), "provider hosts are lower case");
        assert!(p.api_url.host_str().is_some(), "{} has an API host", p.host);
        assert!(p.git_url.host_str().is_some(), "{} has a Git host", p.host);
        assert!(
            c.provider_for_host(&p.host).is_some(),
            "{} is found by its own host",
            p.host
        );
    }
    let again = Config::from_yaml(text).map(|c2| c2 == c);
    assert!(matches!(again, Ok(true)), "the same text parses the same way");
}

/// A Secret's URL: parsing never panics; the host scopegate matches is lower case and carries no
/// user information; and every URL scopegate would call for the repository — the provider's API and
/// its Git host — keeps the configured origin and base path, whatever the Secret's path holds.
pub fn url_and_host(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(url) = RepoUrl::parse(text) else { return };
    assert_eq!(
        url.host,
        url.host.to_ascii_lowercase(),
        "hosts are compared in lower case"
    );
    assert!(!url.host.contains('@'), "the user part is not the host: {:?}", url.host);
    let _ = url.display();
    let _ = url.owner();
    let config = url_config();
    let provider = config
        .provider_for_host(&url.host)
        .or_else(|| config.providers.first())
        .cloned();
    let Some(provider) = provider else { return };
    let path = url.repo_path();
    let segments: Vec<&str> = path.split('/').collect();
    assert_calls_stay_on(&provider, &api_url(&provider, &segments), &provider.api_url);
    assert_calls_stay_on(&provider, &api_url(&provider, &[&path]), &provider.api_url);
    assert_calls_stay_on(&provider, &git_repo_url(&provider, &path), &provider.git_url);
}

/// Providers with base paths, so that a path that climbs out of one would show.
fn url_config() -> &'static Config {
    static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::from_yaml(
            "providers:\n\
             - kind: bitbucket-server\n  host: bitbucket.corp:8443\n  apiUrl: https://bitbucket.corp:8443/rest/api/1.0\n  gitUrl: https://bitbucket.corp:8443/scm\n\
             - kind: gitlab\n  host: gitlab.corp\n  apiUrl: https://gitlab.corp/gitlab/api/v4\n  gitUrl: https://gitlab.corp/gitlab\n\
             - kind: azure-devops\n  host: tfs.corp\n  apiUrl: https://tfs.corp/tfs\n  gitUrl: https://tfs.corp/tfs\n",
        )
        .unwrap_or_default()
    })
}

fn assert_calls_stay_on(provider: &Provider, called: &url::Url, base: &url::Url) {
    assert_eq!(
        called.origin(),
        base.origin(),
        "{} calls only its configured origin",
        provider.host
    );
    let prefix = base.path().trim_end_matches('/');
    assert!(
        called.path().starts_with(prefix),
        "{called} stays under {base} for {}",
        provider.host
    );
    assert!(
        called
            .path_segments()
            .is_some_and(|mut s| s.all(|s| s != ".." && s != ".")),
        "{called} has no dot segments"
    );
}

#[cfg(any(test, feature = "fuzzing"))]
pub use answers::{Case, cases, provider_answers};

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod answers {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
    use kube::core::DynamicObject;
    use serde_json::{Value, json};

    use crate::cache::NoCacheObserver;
    use crate::config::{Config, Mode, ProviderKind};
    use crate::credential::SecretObject;
    use crate::engine::{Engine, ReviewContext};
    use crate::providers::client::Response;
    use crate::providers::client::scripted::{self, Script};
    use crate::providers::{NoObserver, ProviderClient};
    use crate::render::annotations::annotations;
    use crate::render::enforcement::enforcement;
    use crate::render::evaluation::Evaluation;

    /// One Secret a provider's answers are read for.
    pub struct Case {
        pub name: &'static str,
        pub kind: ProviderKind,
        /// The Secret's annotations (a stricter role, the repositories to probe).
        pub annotations: &'static [(&'static str, &'static str)],
        pub secret_type: &'static str,
        pub data: &'static [(&'static str, &'static str)],
    }

    const APP_KEY: &str = include_str!("../../tests/fixtures/keys/github-app-test.pem");

    /// The Secrets, by provider: each token kind the provider module reads differently, for reading
    /// and for writing.
    pub fn cases(kind: ProviderKind) -> Vec<Case> {
        let all = [
            Case {
                name: "github classic, read",
                kind: ProviderKind::Github,
                secret_type: "repository",
                annotations: &[],
                data: &[
                    ("url", "https://github.com/acme/app.git"),
                    ("password", "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"),
                ],
            },
            Case {
                name: "github fine-grained, write",
                kind: ProviderKind::Github,
                secret_type: "repository-write",
                annotations: &[],
                data: &[
                    ("url", "https://github.com/acme/app.git"),
                    ("username", "x-access-token"),
                    (
                        "password",
                        "github_pat_11FuzzFineGrained0000000_00000000000000000000000000000000000000000000000001",
                    ),
                ],
            },
            Case {
                name: "github installation token, template",
                kind: ProviderKind::Github,
                secret_type: "repo-creds",
                annotations: &[],
                data: &[
                    ("url", "https://github.com/acme"),
                    ("password", "ghs_FuzzInstallationToken0000000020XNH9f"),
                ],
            },
            Case {
                name: "github oauth, write template",
                kind: ProviderKind::Github,
                secret_type: "repo-write-creds",
                annotations: &[],
                data: &[
                    ("url", "https://github.com/acme"),
                    ("password", "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"),
                ],
            },
            Case {
                name: "github app",
                kind: ProviderKind::Github,
                secret_type: "repository",
                annotations: &[],
                data: &[
                    ("url", "https://github.com/acme/app.git"),
                    ("githubAppID", "4242"),
                    ("githubAppInstallationID", "99"),
                    ("githubAppPrivateKey", APP_KEY),
                ],
            },
            Case {
                name: "github fine-grained, runtime template (requests built to be refused)",
                kind: ProviderKind::Github,
                secret_type: "repo-creds",
                annotations: &[
                    ("scopegate.dev/role", "runtime"),
                    ("scopegate.dev/probe-repositories", "acme/isc"),
                ],
                data: &[
                    ("url", "https://github.com/acme"),
                    (
                        "password",
                        "github_pat_11FuzzFineGrained0000000_00000000000000000000000000000000000000000000000002",
                    ),
                ],
            },
            Case {
                name: "gitlab personal, read",
                kind: ProviderKind::Gitlab,
                secret_type: "repository",
                annotations: &[],
                data: &[
                    ("url", "https://gitlab.com/group/sub/project.git"),
                    ("password", "glpat-FuzzPersonalToken0000001"),
                ],
            },
            Case {
                name: "gitlab personal, write template",
                kind: ProviderKind::Gitlab,
                secret_type: "repo-write-creds",
                annotations: &[],
                data: &[
                    ("url", "https://gitlab.com/group"),
                    ("username", "oauth2"),
                    ("password", "glpat-FuzzPersonalToken0000002"),
                ],
            },
            Case {
                name: "gitlab deploy token",
                kind: ProviderKind::Gitlab,
                secret_type: "repository",
                annotations: &[],
                data: &[
                    ("url", "https://gitlab.com/group/project.git"),
                    ("username", "gitlab+deploy-token-7"),
                    ("password", "gldt-FuzzDeployToken000000003"),
                ],
            },
            Case {
                name: "bitbucket cloud app password",
                kind: ProviderKind::BitbucketCloud,
                secret_type: "repository",
                annotations: &[],
                data: &[
                    ("url", "https://bitbucket.org/ws/repo.git"),
                    ("username", "octo"),
                    ("password", "ATBBFuzzAppPassword00000000000000001"),
                ],
            },
            Case {
                name: "bitbucket cloud access token, write",
                kind: ProviderKind::BitbucketCloud,
                secret_type: "repository-write",
                annotations: &[],
                data: &[
                    ("url", "https://bitbucket.org/ws/repo.git"),
                    ("username", "x-token-auth"),
                    ("password", "ATCTTFuzzAccessToken000000000000000002"),
                ],
            },
            Case {
                name: "bitbucket data center http access token",
                kind: ProviderKind::BitbucketServer,
                secret_type: "repository",
                annotations: &[],
                data: &[
                    ("url", "https://bitbucket.corp/scm/prj/repo.git"),
                    ("username", "svc"),
                    ("password", "BBDC-FuzzHttpAccessToken00000000000001"),
                ],
            },
            Case {
                name: "bitbucket data center bearer, write",
                kind: ProviderKind::BitbucketServer,
                secret_type: "repository-write",
                annotations: &[],
                data: &[
                    ("url", "https://bitbucket.corp/scm/prj/repo.git"),
                    ("bearerToken", "BBDC-FuzzHttpAccessToken00000000000002"),
                ],
            },
            Case {
                name: "gitea token, read",
                kind: ProviderKind::Gitea,
                secret_type: "repository",
                annotations: &[],
                data: &[
                    ("url", "https://gitea.corp/platform/gitops.git"),
                    ("username", "argocd"),
                    ("password", "5c09e0de0000000000000000000000000000f001"),
                ],
            },
            Case {
                name: "forgejo token in bearerToken, write",
                kind: ProviderKind::Gitea,
                secret_type: "repository-write",
                annotations: &[],
                data: &[
                    ("url", "https://gitea.corp/platform/gitops.git"),
                    ("bearerToken", "5c09e0de0000000000000000000000000000f002"),
                ],
            },
            Case {
                name: "gitea token, runtime template",
                kind: ProviderKind::Gitea,
                secret_type: "repo-creds",
                annotations: &[],
                data: &[
                    ("url", "https://gitea.corp/platform"),
                    ("password", "5c09e0de0000000000000000000000000000f003"),
                ],
            },
            Case {
                name: "azure devops pat, read",
                kind: ProviderKind::AzureDevops,
                secret_type: "repository",
                annotations: &[],
                data: &[
                    ("url", "https://acme@dev.azure.com/acme/Platform/_git/gitops"),
                    ("username", "argocd"),
                    ("password", "fuzzazurepat0000000000000000000000000000000000000001"),
                ],
            },
            Case {
                name: "azure devops pat on visualstudio.com, write",
                kind: ProviderKind::AzureDevops,
                secret_type: "repository-write",
                annotations: &[],
                data: &[
                    (
                        "url",
                        "https://acme.visualstudio.com/DefaultCollection/Platform/_git/gitops",
                    ),
                    ("password", "fuzzazurepat0000000000000000000000000000000000000002"),
                ],
            },
        ];
        all.into_iter().filter(|c| c.kind == kind).collect()
    }

    /// Where the answers of one scripted response end and the next begin.
    pub(crate) const SEPARATOR: &str = "\n~~~\n";

    /// The answers in `text`: each `HTTP/1.1 STATUS …`, header lines, an empty line and the body.
    /// Parsed leniently (what the fuzzer writes need not be well-formed HTTP); an answer without a
    /// status line is a 200 whose body is the whole text.
    pub(crate) fn parse_answers(text: &str) -> Vec<Response> {
        text.split(SEPARATOR).take(32).map(parse_answer).collect()
    }

    fn parse_answer(text: &str) -> Response {
        let mut status = StatusCode::OK;
        let mut headers = HeaderMap::new();
        let mut rest = text;
        if let Some(line_end) = text.find('\n')
            && text.starts_with("HTTP/")
        {
            let line = &text[..line_end];
            if let Some(s) = line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok())
                && let Ok(s) = StatusCode::from_u16(s)
            {
                status = s;
            }
            rest = &text[line_end + 1..];
            loop {
                let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
                rest = after;
                let line = line.trim_end_matches('\r');
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && let (Ok(k), Ok(v)) = (HeaderName::try_from(k.trim()), HeaderValue::from_str(v.trim()))
                {
                    headers.append(k, v);
                }
            }
        }
        Response {
            status,
            headers,
            body: Bytes::copy_from_slice(rest.as_bytes()),
        }
    }

    struct Harness {
        runtime: tokio::runtime::Runtime,
        config: Config,
        client: ProviderClient,
    }

    fn harness() -> &'static Harness {
        static HARNESS: std::sync::OnceLock<Harness> = std::sync::OnceLock::new();
        HARNESS.get_or_init(|| {
            // A small grant cache: an engine is made for every input.
            let config = Config::from_yaml(
                "cache: {maxEntries: 64}\n\
                 providers:\n\
                 - kind: bitbucket-server\n  host: bitbucket.corp\n  apiUrl: https://bitbucket.corp/rest/api/1.0\n  gitUrl: https://bitbucket.corp/scm\n\
                 - kind: gitea\n  host: gitea.corp\n  apiUrl: https://gitea.corp/api/v1\n",
            )
            .unwrap_or_else(|e| panic!("the harness's configuration: {e}"));
            let client = ProviderClient::new(&config, Arc::new(NoObserver))
                .unwrap_or_else(|e| panic!("the harness's provider client: {e}"));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("the harness's runtime: {e}"));
            Harness {
                runtime,
                config,
                client,
            }
        })
    }

    fn secret(case: &Case) -> SecretObject {
        let data: serde_json::Map<String, Value> = case.data.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "fuzzed",
                "namespace": "argocd",
                "labels": {crate::credential::SECRET_TYPE_LABEL: case.secret_type},
                "annotations": case.annotations.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<String, Value>>(),
            },
            "stringData": data,
        }))
        .unwrap_or_else(|e| panic!("the harness's Secret: {e}"));
        SecretObject::from_dynamic(&obj)
    }

    /// `data`'s first byte picks one of `kind`'s [`cases`]; the rest is the provider's answers, in
    /// order ([`parse_answers`]). The real provider module reads them and the real engine judges; the
    /// properties: nothing panics, every call went to the configured provider's API or Git host, and
    /// no token the calls carried appears in the annotations, the admission answer or the `-o json`
    /// evaluation. Returns what scopegate would show.
    pub fn provider_answers(kind: ProviderKind, data: &[u8]) -> Vec<String> {
        let Some((&pick, rest)) = data.split_first() else {
            return Vec::new();
        };
        let cases = cases(kind);
        let Some(case) = cases.get(usize::from(pick) % cases.len().max(1)) else {
            return Vec::new();
        };
        let h = harness();
        let secret = secret(case);
        let script = Arc::new(Mutex::new(Script {
            answers: parse_answers(&String::from_utf8_lossy(rest)).into(),
            ..Script::default()
        }));
        let engine = Engine::with_providers(
            h.config.clone(),
            h.client.clone(),
            Arc::new(NoObserver),
            Arc::new(NoCacheObserver),
        )
        .unwrap_or_else(|e| panic!("the harness's engine: {e}"));
        let judgement = h.runtime.block_on(scripted::with(
            script.clone(),
            engine.judge(&secret, &ReviewContext::default()),
        ));

        let script = script.lock().unwrap_or_else(|p| p.into_inner());
        let provider = h
            .config
            .providers
            .iter()
            .find(|p| p.kind == kind)
            .unwrap_or_else(|| panic!("the harness configures {kind:?}"));
        for (url, method) in script.asked.iter().zip(&script.methods) {
            assert!(
                url.origin() == provider.api_url.origin() || url.origin() == provider.git_url.origin(),
                "{}: {url} is not on {}",
                case.name,
                provider.host
            );
            // Anything but a GET is one of the requests built to be refused, on the API, for GitHub.
            if method != http::Method::GET {
                assert!(
                    kind == ProviderKind::Github
                        && url.origin() == provider.api_url.origin()
                        && crate::providers::refusal::RefusalProbe::all().any(|p| {
                            p.method() == method
                                && url
                                    .path()
                                    .ends_with(p.path_template().rsplit("{repo}").next().unwrap_or_default())
                        }),
                    "{}: {method} {url} is not a request built to be refused",
                    case.name
                );
            }
        }
        let mut shown = Vec::new();
        shown.extend(annotations(&judgement.verdict, judgement.checked_at).into_values());
        let e = enforcement(&judgement, Mode::Enforce, "Secret argocd/fuzzed");
        shown.extend(e.denial.map(|(_, m)| m));
        shown.extend(e.warnings);
        shown.extend(judgement.findings.iter().map(|f| f.message.clone()));
        let eval = Evaluation::new(&secret, "fuzz".into(), &judgement, false, Mode::Enforce);
        shown.push(serde_json::to_string(&eval).unwrap_or_else(|e| panic!("the evaluation serialises: {e}")));
        let secrets: BTreeSet<&str> = script
            .secrets
            .iter()
            .map(String::as_str)
            .chain(
                case.data
                    .iter()
                    .filter(|(k, _)| *k != "url" && *k != "username")
                    .map(|(_, v)| *v),
            )
            .filter(|s| s.len() >= 8)
            .collect();
        for text in &shown {
            for s in &secrets {
                assert!(!text.contains(s), "{}: a secret is shown in {text:?}", case.name);
            }
        }
        shown
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProviderKind;

    /// Every seed and every crash the fuzzers found, run through its harness on every `make test`.
    #[test]
    fn fuzz_seeds_and_regressions_hold() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut ran = 0;
        for (target, run) in [
            ("review", review as fn(&[u8])),
            ("config", config as fn(&[u8])),
            ("url_and_host", url_and_host),
            ("github", |d: &[u8]| drop(provider_answers(ProviderKind::Github, d))),
            ("gitlab", |d: &[u8]| drop(provider_answers(ProviderKind::Gitlab, d))),
            ("bitbucket_cloud", |d: &[u8]| {
                drop(provider_answers(ProviderKind::BitbucketCloud, d))
            }),
            ("bitbucket_server", |d: &[u8]| {
                drop(provider_answers(ProviderKind::BitbucketServer, d))
            }),
            ("gitea", |d: &[u8]| drop(provider_answers(ProviderKind::Gitea, d))),
            ("azure_devops", |d: &[u8]| {
                drop(provider_answers(ProviderKind::AzureDevops, d))
            }),
        ] {
            for dir in ["seeds", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    run(&std::fs::read(&path).unwrap());
                    ran += 1;
                }
            }
        }
        assert!(ran >= 20, "the seeds are where they should be ({ran} ran)");
    }

    /// The seeds for the requests built to be refused reach them, and each answer is read as §1.8 says.
    #[test]
    fn the_refusal_seeds_reach_the_requests_built_to_be_refused() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/github");
        for (seed, said) in [
            ("runtime-refusals-write", "webhooks:write"),
            ("runtime-refusals-read-only", "Webhooks: read only"),
            ("runtime-refusals-read-only", "the request needs repository_hooks=write"),
            ("runtime-refusals-integration", "Webhooks: read only"),
            (
                "runtime-refusals-accepted",
                "accepted (HTTP 201) a request built to be refused",
            ),
            ("runtime-refusals-validation", "GitHub answered HTTP 422"),
            ("runtime-refusals-rate-limited", "rate limiting"),
        ] {
            let shown = provider_answers(ProviderKind::Github, &std::fs::read(root.join(seed)).unwrap()).join("\n");
            assert!(shown.contains(said), "{seed}: {said:?} in:\n{shown}");
        }
    }

    /// Each case with each seed answer for its provider, first byte by first byte: every Secret of
    /// the harness meets every documented answer.
    #[test]
    fn every_case_reads_every_seed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for (target, kind) in [
            ("github", ProviderKind::Github),
            ("gitlab", ProviderKind::Gitlab),
            ("bitbucket_cloud", ProviderKind::BitbucketCloud),
            ("bitbucket_server", ProviderKind::BitbucketServer),
            ("gitea", ProviderKind::Gitea),
            ("azure_devops", ProviderKind::AzureDevops),
        ] {
            let n = cases(kind).len();
            assert!(n >= 2, "{target} has cases");
            for entry in std::fs::read_dir(root.join(target)).unwrap() {
                let body = std::fs::read(entry.unwrap().path()).unwrap();
                for pick in 0..n {
                    let mut d = vec![pick as u8];
                    d.extend_from_slice(body.get(1..).unwrap_or_default());
                    let shown = provider_answers(kind, &d);
                    assert!(!shown.is_empty(), "{target}: the judgement renders");
                }
            }
        }
    }

    #[test]
    fn an_answer_that_echoes_the_token_is_shown_scrubbed() {
        // The property is not vacuous: the provider's words reach the messages, with the token replaced.
        let echo = "\x00HTTP/1.1 500 Internal Server Error\ncontent-type: application/json\n\n\
                    {\"message\": \"bad token 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\"}";
        let shown = provider_answers(ProviderKind::Github, echo.as_bytes());
        assert!(shown.iter().any(|t| t.contains("bad token <redacted>")), "{shown:#?}");
    }

    #[test]
    fn answers_parse_leniently() {
        let a = answers::parse_answers(
            "HTTP/1.1 403 Forbidden\r\nx-oauth-scopes: repo\r\nbad header\r\n\r\n{}\n~~~\nplain",
        );
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].status.as_u16(), 403);
        assert_eq!(a[0].header("x-oauth-scopes"), Some("repo"));
        assert_eq!(&a[0].body[..], b"{}");
        assert_eq!(a[1].status.as_u16(), 200);
        assert_eq!(&a[1].body[..], b"plain");
    }
}
