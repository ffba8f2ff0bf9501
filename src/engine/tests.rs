//! The engine behind the provider interface: a fake [`ProviderApi`] answers from memory and records
//! what it was asked, so each test says what the engine asked, and what it made of the answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::core::DynamicObject;
use serde_json::{Value, json};

use super::*;
use crate::cache::NoCacheObserver;
use crate::config::Provider;
use crate::credential::{CredentialKind, TokenKind};
use crate::grant::parse_scope_list;
use crate::providers::{Advertisement, AppRequest, Auth, GitService, Listed, Listing, NoObserver, Request};

/// What the fake was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    Introspect {
        kind: TokenKind,
        targets: Vec<String>,
        wanted: Vec<String>,
    },
    Advertisement {
        path: String,
        service: GitService,
    },
    Listing {
        listing: String,
    },
}

/// A provider that answers from memory. A token it has no answer for never gets one.
#[derive(Default)]
struct Fake {
    grants: HashMap<&'static str, Result<Grant, IntrospectError>>,
    advertisement: Option<Result<Advertisement, IntrospectError>>,
    listed: Option<Result<Listed, IntrospectError>>,
    asked: Mutex<Vec<Asked>>,
}

impl Fake {
    fn grant(mut self, token: &'static str, answer: Result<Grant, IntrospectError>) -> Self {
        self.grants.insert(token, answer);
        self
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

impl ProviderApi for Arc<Fake> {
    async fn introspect(&self, _: &Provider, req: &Request<'_>) -> Result<Grant, IntrospectError> {
        self.asked.lock().unwrap().push(Asked::Introspect {
            kind: req.kind,
            targets: req.targets.to_vec(),
            wanted: req.wanted.to_vec(),
        });
        match self.grants.get(req.token.expose()) {
            Some(answer) => answer.clone(),
            None => std::future::pending().await,
        }
    }

    async fn introspect_app(&self, _: &Provider, _: &AppRequest<'_>) -> Result<Grant, IntrospectError> {
        Err(IntrospectError::unavailable("the fake has no apps"))
    }

    async fn advertisement(
        &self,
        _: &Provider,
        path: &str,
        _: Auth<'_>,
        service: GitService,
    ) -> Result<Advertisement, IntrospectError> {
        self.asked.lock().unwrap().push(Asked::Advertisement {
            path: path.to_owned(),
            service,
        });
        self.advertisement
            .clone()
            .unwrap_or_else(|| Err(IntrospectError::unavailable("no advertisement")))
    }

    async fn list(&self, _: &Provider, listing: &Listing<'_>, _: Auth<'_>) -> Result<Listed, IntrospectError> {
        self.asked.lock().unwrap().push(Asked::Listing {
            listing: format!("{listing:?}"),
        });
        self.listed
            .clone()
            .unwrap_or_else(|| Err(IntrospectError::unavailable("no listing")))
    }
}

fn engine_with(yaml: &str, fake: Fake) -> (Engine<Arc<Fake>>, Arc<Fake>) {
    let fake = Arc::new(fake);
    let config = Config::from_yaml(yaml).unwrap();
    let engine = Engine::with_providers(config, fake.clone(), Arc::new(NoObserver), Arc::new(NoCacheObserver)).unwrap();
    (engine, fake)
}

fn secret(name: &str, secret_type: &str, string_data: Value, annotations: Value) -> SecretObject {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "labels": {crate::credential::SECRET_TYPE_LABEL: secret_type},
            "annotations": annotations,
        },
        "stringData": string_data,
    }))
    .unwrap();
    SecretObject::from_dynamic(&obj)
}

fn repository(url: &str, token: &str) -> SecretObject {
    secret("repo", "repository", json!({"url": url, "password": token}), json!({}))
}

fn classic(scopes: &str) -> Result<Grant, IntrospectError> {
    let mut g = Grant::new(TokenKind::Classic);
    g.scopes = Some(parse_scope_list(scopes));
    g.owner = Some("octocat".into());
    Ok(g)
}

fn problems(j: &Judgement) -> Vec<&Problem> {
    j.findings.iter().map(|f| &f.problem).collect()
}

#[tokio::test]
async fn a_secret_scopegate_does_not_handle_is_ignored_without_a_call() {
    let (engine, fake) = engine_with("", Fake::default());
    let obj: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"}})).unwrap();
    let j = engine
        .judge(&SecretObject::from_dynamic(&obj), &ReviewContext::default())
        .await;
    assert!(j.is_ignored());
    assert!(j.findings.is_empty() && j.cache_hit.is_none());
    assert!(fake.asked().is_empty());
}

#[tokio::test]
async fn a_token_with_what_its_role_needs_is_ok_and_asked_about_once() {
    let (engine, fake) = engine_with(
        "",
        Fake::default().grant("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", classic("repo, user")),
    );
    let s = repository(
        "https://github.com/acme/app",
        "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",
    );
    let j = engine.judge(&s, &ReviewContext::default()).await;
    assert_eq!(j.verdict.outcome, Outcome::Ok);
    assert_eq!(j.verdict.provider, Some(crate::config::ProviderKind::Github));
    assert_eq!(j.verdict.token_kind, Some(CredentialKind::Token(TokenKind::Classic)));
    assert_eq!(j.verdict.owner.as_deref(), Some("octocat"));
    assert!(j.findings.is_empty());
    assert_eq!(j.cache_hit, Some(false));
    let again = engine.judge(&s, &ReviewContext::default()).await;
    assert_eq!(again.cache_hit, Some(true));
    assert_eq!(fake.asked().len(), 1, "the second judgement came from the cache");
}

#[tokio::test]
async fn missing_scopes_deny_with_a_message_that_says_what_to_do() {
    let (engine, _) = engine_with(
        "",
        Fake::default().grant("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", classic("repo")),
    );
    let s = secret(
        "runtime-repo-creds-secret",
        "repo-creds",
        json!({"url": "https://github.com/acme", "password": "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"}),
        json!({}),
    );
    let j = engine.judge(&s, &ReviewContext::default()).await;
    assert_eq!(j.verdict.outcome, Outcome::Insufficient);
    assert_eq!(j.verdict.missing, ["admin:repo_hook"]);
    let f = &j.findings[0];
    assert!(matches!(f.problem, Problem::Insufficient { .. }));
    assert_eq!(f.severity, Severity::Deny(403));
    assert!(f.message.contains("lacks scope: admin:repo_hook"), "{}", f.message);
    assert!(
        f.message
            .contains("https://github.com/settings/tokens/new?scopes=repo,admin:repo_hook")
    );
    // The runtime token acts as a person: said, not denied.
    assert!(
        j.findings
            .iter()
            .any(|f| matches!(f.problem, Problem::PersonalRuntimeToken { .. }) && f.severity == Severity::Warn)
    );
}

#[tokio::test]
async fn what_is_decided_without_a_provider_asks_none() {
    let (engine, fake) = engine_with("", Fake::default());
    let cases = [
        (
            repository(
                "https://github.com/acme/app",
                "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\n",
            ),
            Outcome::Invalid,
            Severity::Deny(400),
        ),
        (
            repository("https://git.unknown.example/acme/app", "tok"),
            Outcome::Unverified,
            Severity::Warn,
        ),
        (
            repository("https://github.com/acme/app", "glpat-notgithub"),
            Outcome::Invalid,
            Severity::Deny(403),
        ),
    ];
    for (s, outcome, severity) in cases {
        let j = engine.judge(&s, &ReviewContext::default()).await;
        assert_eq!(j.verdict.outcome, outcome, "{:?}", problems(&j));
        assert_eq!(j.findings[0].severity, severity, "{:?}", problems(&j));
        assert!(j.cache_hit.is_none());
    }
    let unknown = engine
        .judge(
            &repository("https://git.unknown.example/acme/app", "tok"),
            &ReviewContext::default(),
        )
        .await;
    assert!(
        unknown
            .verdict
            .reason
            .unwrap()
            .contains("not a configured Git provider")
    );
    assert!(fake.asked().is_empty());
}

#[tokio::test]
async fn a_failing_provider_is_a_denial_under_the_default_policy_and_a_warning_under_allow() {
    let down = || Err(IntrospectError::unavailable("GitHub answered HTTP 503"));
    let s = repository(
        "https://github.com/acme/app",
        "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",
    );
    let (engine, _) = engine_with(
        "",
        Fake::default().grant("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", down()),
    );
    let j = engine.judge(&s, &ReviewContext::default()).await;
    assert_eq!(j.verdict.outcome, Outcome::Unverified);
    assert!(matches!(
        j.findings[0].problem,
        Problem::ProviderFailed {
            rate_limited: false,
            ..
        }
    ));
    assert_eq!(j.findings[0].severity, Severity::Deny(403));
    let (engine, _) = engine_with(
        "onProviderError: allow\n",
        Fake::default().grant("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", down()),
    );
    let j = engine.judge(&s, &ReviewContext::default()).await;
    assert_eq!(j.findings[0].severity, Severity::Warn);
    assert!(
        j.findings[0].message.contains("admitted unverified"),
        "{}",
        j.findings[0].message
    );
}

#[tokio::test]
async fn an_update_that_keeps_the_credential_turns_its_denials_into_warnings() {
    let (engine, _) = engine_with(
        "",
        Fake::default().grant("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", classic("read:user")),
    );
    let s = repository(
        "https://github.com/acme/app",
        "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",
    );
    let mut labelled = s.clone();
    labelled.labels.insert("team".into(), "platform".into());
    let ctx = ReviewContext {
        old: Some(s.clone()),
        ..ReviewContext::default()
    };
    let j = engine.judge(&labelled, &ctx).await;
    assert_eq!(j.verdict.outcome, Outcome::Insufficient);
    assert_eq!(j.findings[0].severity, Severity::Warn);
    assert!(
        j.findings[0].message.starts_with(EXISTING_PREFIX),
        "{}",
        j.findings[0].message
    );
    let rotated = ReviewContext {
        old: Some(repository(
            "https://github.com/acme/app",
            "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",
        )),
        ..ReviewContext::default()
    };
    assert_eq!(
        engine.judge(&s, &rotated).await.findings[0].severity,
        Severity::Deny(403)
    );
}

const EXISTING_PREFIX: &str = "existing violation, admitted because this update leaves the credential as it was:";

#[tokio::test]
async fn skipping_needs_a_configured_requester() {
    let (engine, fake) = engine_with(
        "skipValidation:\n  allowedUsers: [alice]\n",
        Fake::default().grant("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", classic("repo")),
    );
    let s = secret(
        "repo",
        "repository",
        json!({"url": "https://github.com/acme/app", "password": "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"}),
        json!({crate::credential::SKIP_ANNOTATION: "true"}),
    );
    let alice = ReviewContext {
        username: "alice".into(),
        ..ReviewContext::default()
    };
    let j = engine.judge(&s, &alice).await;
    assert_eq!(j.verdict.outcome, Outcome::Skipped);
    assert!(fake.asked().is_empty(), "a honoured skip asks nothing");
    let bob = ReviewContext {
        username: "bob".into(),
        ..ReviewContext::default()
    };
    let j = engine.judge(&s, &bob).await;
    assert_eq!(j.verdict.outcome, Outcome::Ok);
    assert!(matches!(j.findings[0].problem, Problem::SkipNotAllowed { .. }));
    assert_eq!(j.findings[0].severity, Severity::Deny(403));
    let (j, set_aside) = engine.judge_stored(&s, None).await;
    assert!(set_aside);
    assert_eq!(j.verdict.outcome, Outcome::Ok);
    assert!(
        j.findings.is_empty(),
        "at rest the annotation is set aside: {:?}",
        problems(&j)
    );
}

#[tokio::test]
async fn no_answer_before_the_deadline_is_a_provider_failure() {
    // The fake never answers a token it does not know.
    let (engine, _) = engine_with("", Fake::default());
    let ctx = ReviewContext {
        deadline: Some(Instant::now() + Duration::from_millis(20)),
        ..ReviewContext::default()
    };
    let j = engine
        .judge(
            &repository(
                "https://github.com/acme/app",
                "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",
            ),
            &ctx,
        )
        .await;
    assert_eq!(j.verdict.outcome, Outcome::Unverified);
    assert!(
        matches!(&j.findings[0].problem, Problem::ProviderFailed { detail, .. } if detail.contains("admission deadline")),
        "{:?}",
        problems(&j)
    );
    assert_eq!(j.cache_hit, Some(false));
}

#[tokio::test]
async fn fine_grained_tokens_are_probed_on_the_secrets_repository_for_the_roles_permissions() {
    let mut g = Grant::new(TokenKind::FineGrained);
    g.checks.insert("contents:read".into(), crate::grant::Check::Granted);
    g.checks.insert("metadata:read".into(), crate::grant::Check::Granted);
    let (engine, fake) = engine_with("", Fake::default().grant("github_pat_11AAA", Ok(g)));
    let j = engine
        .judge(
            &repository("https://github.com/acme/app.git", "github_pat_11AAA"),
            &ReviewContext::default(),
        )
        .await;
    assert_eq!(j.verdict.outcome, Outcome::Ok);
    assert_eq!(
        fake.asked(),
        [Asked::Introspect {
            kind: TokenKind::FineGrained,
            targets: vec!["acme/app".into()],
            wanted: vec!["contents:read".to_owned(), "metadata:read".to_owned()],
        }]
    );
}

#[tokio::test]
async fn reach_asks_the_advertisement_once_and_keeps_only_real_answers() {
    let fake = Fake {
        advertisement: Some(Ok(Advertisement::Refused(404))),
        ..Fake::default()
    };
    let (engine, fake) = engine_with("", fake);
    let s = repository("https://github.com/acme", "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");
    for _ in 0..2 {
        match engine.reach(&s, "https://github.com/acme/gone", Access::Read).await {
            Reach::Unreachable(why) => assert!(why.contains("HTTP 404"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        fake.asked(),
        [Asked::Advertisement {
            path: "acme/gone".into(),
            service: GitService::GitUploadPack,
        }]
    );
    assert!(matches!(
        engine.reach(&s, "git@github.com:acme/x.git", Access::Read).await,
        Reach::Unknown(why) if why.contains("HTTPS only")
    ));
    assert!(matches!(
        engine.reach(&s, "https://gitlab.com/acme/x", Access::Read).await,
        Reach::Unknown(why) if why.contains("not on the credential's host")
    ));
    let (failing, fake) = engine_failing_advertisement();
    for _ in 0..2 {
        assert!(matches!(
            failing.reach(&s, "https://github.com/acme/app", Access::Write).await,
            Reach::Failed(why) if why.contains("could not be asked")
        ));
    }
    assert_eq!(
        fake.asked().len(),
        2,
        "a failure is not kept: the next audit asks again"
    );
}

fn engine_failing_advertisement() -> (Engine<Arc<Fake>>, Arc<Fake>) {
    engine_with("", Fake::default())
}
