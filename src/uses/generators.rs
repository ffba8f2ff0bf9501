//! ApplicationSet generators that hold SCM tokens: the SCM Provider generator (`scmProvider`) lists an
//! organisation's repositories, their branches and files; the Pull Request generator (`pullRequest`)
//! lists one repository's pull requests. Each names a provider, an API base, what it lists, and where
//! its token is: a key of a Secret in the ApplicationSet's namespace (`tokenRef`, `accessTokenRef`,
//! `appPasswordRef`, `basicAuth.passwordRef`, `bearerToken.tokenRef`), or a GitHub App's Secret in
//! Argo CD's namespace (`appSecretName`). Generators nest in `matrix` and `merge` generators; every
//! level is walked. Field names as argo-cd's `applicationset_types.go` has them. Pure.

use serde_json::Value;

use super::{ObjectKey, resolve, string_map};
use crate::config::ProviderKind;

/// At most this many generators of one ApplicationSet are looked at (every nesting level counted).
pub const MAX_GENERATORS: usize = 64;
/// Nesting deeper than this is not walked (Argo CD itself allows two levels).
const MAX_DEPTH: usize = 4;

/// Which generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr)]
pub enum GeneratorKind {
    /// Lists an organisation's (group's, project's) repositories, their branches and files.
    #[strum(serialize = "scmProvider")]
    ScmProvider,
    /// Lists one repository's pull requests.
    #[strum(serialize = "pullRequest")]
    PullRequest,
}

impl GeneratorKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn display_name(self) -> &'static str {
        match self {
            GeneratorKind::ScmProvider => "SCM Provider generator",
            GeneratorKind::PullRequest => "Pull Request generator",
        }
    }
}

/// A key of a Secret (`secretName`, `key`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretRef {
    pub secret_name: String,
    pub key: String,
}

/// How a generator authenticates, and where its credential is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScmAuth {
    /// No credential named: the generator asks anonymously (public repositories only).
    Anonymous,
    /// A token, in the ApplicationSet's namespace.
    Token(SecretRef),
    /// A Bitbucket username with a password, app password or API token from a Secret.
    Basic { username: String, password: SecretRef },
    /// A Bitbucket bearer token.
    Bearer(SecretRef),
    /// A GitHub App's credentials: a Secret in Argo CD's namespace, in the `repo-creds` format.
    GithubApp { secret_name: String },
}

impl ScmAuth {
    /// The Secret key a token is read from, when there is one.
    pub fn secret_ref(&self) -> Option<&SecretRef> {
        match self {
            ScmAuth::Token(r) | ScmAuth::Bearer(r) | ScmAuth::Basic { password: r, .. } => Some(r),
            ScmAuth::Anonymous | ScmAuth::GithubApp { .. } => None,
        }
    }
}

/// One SCM Provider or Pull Request generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generator {
    /// Where it is in the ApplicationSet, then its kind: `generators[0].scmProvider`,
    /// `generators[1].matrix.generators[0].pullRequest`.
    pub path: String,
    pub kind: GeneratorKind,
    pub provider: ProviderKind,
    /// The API base it names (`api`), when it names one.
    pub api: Option<String>,
    /// The organisation (GitHub, Azure DevOps), group (GitLab), owner (Gitea, Bitbucket Cloud) or
    /// project key (Bitbucket Data Center) — for the Pull Request generator, the repository's owner.
    pub owner: String,
    /// Azure DevOps: the team project.
    pub project: Option<String>,
    /// The Pull Request generator's repository (GitLab: the project, in `owner`).
    pub repo: Option<String>,
    pub auth: ScmAuth,
    /// The provider kind scopegate does not judge (AWS CodeCommit: no token, the controller's own AWS
    /// identity), or a field that is a template.
    pub not_judged: Option<String>,
}

/// An ApplicationSet, reduced to its generators that hold SCM tokens and the repositories it reads
/// itself (its Git generators', and its template's written-out sources).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationSet {
    pub namespace: String,
    pub name: String,
    pub generators: Vec<Generator>,
    pub reads: Vec<String>,
    pub pushes: Vec<String>,
    /// Generators beyond [`MAX_GENERATORS`], not looked at.
    pub generators_left_out: usize,
}

impl ApplicationSet {
    pub fn from_value(obj: &Value) -> Option<Self> {
        let meta = &obj["metadata"];
        let name = meta["name"].as_str()?.to_owned();
        let namespace = meta["namespace"].as_str().unwrap_or_default().to_owned();
        let spec = &obj["spec"];
        let mut set = ApplicationSet {
            namespace,
            name,
            ..Self::default()
        };
        let (mut reads, pushes, _) = super::spec_repositories(&spec["template"]["spec"]);
        let mut seen = 0;
        walk(
            &spec["generators"],
            "generators",
            0,
            &mut seen,
            &mut set.generators,
            &mut reads,
        );
        set.generators_left_out = seen.saturating_sub(MAX_GENERATORS);
        set.reads = reads;
        set.pushes = pushes;
        Some(set)
    }

    pub fn key(&self) -> ObjectKey {
        (self.namespace.clone(), self.name.clone())
    }
}

fn walk(gens: &Value, at: &str, depth: usize, seen: &mut usize, out: &mut Vec<Generator>, reads: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    for (i, g) in gens.as_array().into_iter().flatten().enumerate() {
        *seen += 1;
        if *seen > MAX_GENERATORS {
            // Counted, not looked at (nor what it nests).
            continue;
        }
        let here = format!("{at}[{i}]");
        if let Some(url) = g["git"]["repoURL"].as_str()
            && resolve::is_literal(url)
            && !resolve::has_credentials(url)
            && !reads.iter().any(|u| u == url.trim())
            && reads.len() < super::MAX_SOURCES
        {
            reads.push(url.trim().to_owned());
        }
        if let Some(scm) = g.get("scmProvider").filter(|v| v.is_object()) {
            out.extend(scm_provider(scm, &format!("{here}.scmProvider")));
        }
        if let Some(pr) = g.get("pullRequest").filter(|v| v.is_object()) {
            out.extend(pull_request(pr, &format!("{here}.pullRequest")));
        }
        for nested in ["matrix", "merge"] {
            let children = &g[nested]["generators"];
            if children.is_array() {
                walk(
                    children,
                    &format!("{here}.{nested}.generators"),
                    depth + 1,
                    seen,
                    out,
                    reads,
                );
            }
        }
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn secret_ref(v: &Value) -> Option<SecretRef> {
    let m = string_map(v);
    Some(SecretRef {
        secret_name: m
            .get("secretName")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())?,
        key: m.get("key").cloned().unwrap_or_default(),
    })
}

/// Bitbucket's `basicAuth` or `bearerToken`, whichever is set (bearer first, as Argo CD decides).
fn bitbucket_auth(g: &Value) -> ScmAuth {
    if let Some(r) = secret_ref(&g["bearerToken"]["tokenRef"]) {
        return ScmAuth::Bearer(r);
    }
    match (
        text(&g["basicAuth"]["username"]),
        secret_ref(&g["basicAuth"]["passwordRef"]),
    ) {
        (Some(username), Some(password)) => ScmAuth::Basic { username, password },
        _ => ScmAuth::Anonymous,
    }
}

fn token(g: &Value, field: &str) -> ScmAuth {
    secret_ref(&g[field]).map_or(ScmAuth::Anonymous, ScmAuth::Token)
}

struct Spec {
    provider: ProviderKind,
    owner: Option<String>,
    project: Option<String>,
    repo: Option<String>,
    auth: ScmAuth,
    api: Option<String>,
}

fn generator(kind: GeneratorKind, path: &str, s: Spec) -> Generator {
    let templated = [&s.owner, &s.project, &s.repo, &s.api]
        .into_iter()
        .flatten()
        .any(|v| !resolve::is_literal(v));
    let missing = match (kind, &s.owner, &s.repo) {
        (_, None, _) => Some("it names no organisation or owner"),
        (GeneratorKind::PullRequest, _, None) if s.provider != ProviderKind::Gitlab => Some("it names no repository"),
        _ => None,
    };
    Generator {
        path: path.to_owned(),
        kind,
        provider: s.provider,
        api: s.api,
        owner: s.owner.unwrap_or_default(),
        project: s.project,
        repo: s.repo,
        auth: s.auth,
        not_judged: if templated {
            Some(
                "a field is a template, filled per generated parameter set: scopegate judges what is written out"
                    .into(),
            )
        } else {
            missing.map(str::to_owned)
        },
    }
}

fn scm_provider(scm: &Value, path: &str) -> Option<Generator> {
    let kind = GeneratorKind::ScmProvider;
    let spec = if let Some(g) = scm.get("github").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::Github,
            owner: text(&g["organization"]),
            project: None,
            repo: None,
            auth: match text(&g["appSecretName"]) {
                Some(secret_name) => ScmAuth::GithubApp { secret_name },
                None => token(g, "tokenRef"),
            },
            api: text(&g["api"]),
        }
    } else if let Some(g) = scm.get("gitlab").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::Gitlab,
            owner: text(&g["group"]),
            project: None,
            repo: None,
            auth: token(g, "tokenRef"),
            api: text(&g["api"]),
        }
    } else if let Some(g) = scm.get("gitea").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::Gitea,
            owner: text(&g["owner"]),
            project: None,
            repo: None,
            auth: token(g, "tokenRef"),
            api: text(&g["api"]),
        }
    } else if let Some(g) = scm.get("bitbucketServer").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::BitbucketServer,
            owner: text(&g["project"]),
            project: None,
            repo: None,
            auth: bitbucket_auth(g),
            api: text(&g["api"]),
        }
    } else if let Some(g) = scm.get("bitbucket").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::BitbucketCloud,
            owner: text(&g["owner"]),
            project: None,
            repo: None,
            auth: match (text(&g["user"]), secret_ref(&g["appPasswordRef"])) {
                (Some(username), Some(password)) => ScmAuth::Basic { username, password },
                _ => ScmAuth::Anonymous,
            },
            api: None,
        }
    } else if let Some(g) = scm.get("azureDevOps").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::AzureDevops,
            owner: text(&g["organization"]),
            project: text(&g["teamProject"]),
            repo: None,
            auth: token(g, "accessTokenRef"),
            api: text(&g["api"]),
        }
    } else {
        // AWS CodeCommit (the controller's own AWS identity), or nothing scopegate knows.
        return None;
    };
    Some(generator(kind, path, spec))
}

fn pull_request(pr: &Value, path: &str) -> Option<Generator> {
    let kind = GeneratorKind::PullRequest;
    let spec = if let Some(g) = pr.get("github").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::Github,
            owner: text(&g["owner"]),
            project: None,
            repo: text(&g["repo"]),
            auth: match text(&g["appSecretName"]) {
                Some(secret_name) => ScmAuth::GithubApp { secret_name },
                None => token(g, "tokenRef"),
            },
            api: text(&g["api"]),
        }
    } else if let Some(g) = pr.get("gitlab").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::Gitlab,
            owner: text(&g["project"]),
            project: None,
            repo: None,
            auth: token(g, "tokenRef"),
            api: text(&g["api"]),
        }
    } else if let Some(g) = pr.get("gitea").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::Gitea,
            owner: text(&g["owner"]),
            project: None,
            repo: text(&g["repo"]),
            auth: token(g, "tokenRef"),
            api: text(&g["api"]),
        }
    } else if let Some(g) = pr.get("bitbucketServer").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::BitbucketServer,
            owner: text(&g["project"]),
            project: None,
            repo: text(&g["repo"]),
            auth: bitbucket_auth(g),
            api: text(&g["api"]),
        }
    } else if let Some(g) = pr.get("bitbucket").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::BitbucketCloud,
            owner: text(&g["owner"]),
            project: None,
            repo: text(&g["repo"]),
            auth: bitbucket_auth(g),
            api: text(&g["api"]),
        }
    } else if let Some(g) = pr.get("azuredevops").filter(|v| v.is_object()) {
        Spec {
            provider: ProviderKind::AzureDevops,
            owner: text(&g["organization"]),
            project: text(&g["project"]),
            repo: text(&g["repo"]),
            auth: token(g, "tokenRef"),
            api: text(&g["api"]),
        }
    } else {
        return None;
    };
    Some(generator(kind, path, spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_generator_at_every_level_with_its_token_reference() {
        let set = ApplicationSet::from_value(&json!({
            "metadata": {"name": "previews", "namespace": "argocd"},
            "spec": {
                "generators": [
                    {"scmProvider": {"github": {"organization": "acme", "tokenRef": {"secretName": "gh", "key": "token"}}}},
                    {"matrix": {"generators": [
                        {"git": {"repoURL": "https://github.com/acme/envs", "revision": "HEAD"}},
                        {"merge": {"generators": [
                            {"pullRequest": {"gitlab": {"project": "1234", "api": "https://gitlab.corp/", "tokenRef": {"secretName": "gl", "key": "t"}}}},
                            {"pullRequest": {"bitbucketServer": {"project": "KEY", "repo": "app", "api": "https://bb.corp/rest",
                                "basicAuth": {"username": "bot", "passwordRef": {"secretName": "bb", "key": "password"}}}}}
                        ]}}
                    ]}},
                    {"scmProvider": {"github": {"organization": "acme", "appSecretName": "gh-app"}}},
                    {"scmProvider": {"azureDevOps": {"organization": "acme", "teamProject": "Platform",
                        "accessTokenRef": {"secretName": "ado", "key": "pat"}}}},
                    {"pullRequest": {"bitbucket": {"owner": "ws", "repo": "r", "bearerToken": {"tokenRef": {"secretName": "bbc", "key": "t"}}}}},
                    {"scmProvider": {"awsCodeCommit": {"region": "eu-west-1"}}},
                    {"pullRequest": {"github": {"owner": "{{ .owner }}", "repo": "app"}}}
                ],
                "template": {"spec": {"source": {"repoURL": "{{ .url }}"}}}
            }
        }))
        .unwrap();
        let paths: Vec<&str> = set.generators.iter().map(|g| g.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "generators[0].scmProvider",
                "generators[1].matrix.generators[1].merge.generators[0].pullRequest",
                "generators[1].matrix.generators[1].merge.generators[1].pullRequest",
                "generators[2].scmProvider",
                "generators[3].scmProvider",
                "generators[4].pullRequest",
                "generators[6].pullRequest",
            ]
        );
        let g = &set.generators;
        assert_eq!(
            g[0].auth,
            ScmAuth::Token(SecretRef {
                secret_name: "gh".into(),
                key: "token".into()
            })
        );
        assert_eq!(
            (g[0].provider, g[0].owner.as_str(), g[0].api.as_deref()),
            (ProviderKind::Github, "acme", None)
        );
        assert_eq!((g[1].provider, g[1].owner.as_str()), (ProviderKind::Gitlab, "1234"));
        assert_eq!(g[1].api.as_deref(), Some("https://gitlab.corp/"));
        assert!(
            matches!(&g[2].auth, ScmAuth::Basic { username, password } if username == "bot" && password.secret_name == "bb")
        );
        assert_eq!(g[2].repo.as_deref(), Some("app"));
        assert_eq!(
            g[3].auth,
            ScmAuth::GithubApp {
                secret_name: "gh-app".into()
            }
        );
        assert_eq!(
            (g[4].provider, g[4].project.as_deref()),
            (ProviderKind::AzureDevops, Some("Platform"))
        );
        assert!(matches!(&g[5].auth, ScmAuth::Bearer(r) if r.secret_name == "bbc"));
        assert_eq!(g[5].provider, ProviderKind::BitbucketCloud);
        assert!(g[6].not_judged.is_some(), "a templated owner is not judged");
        assert!(g[..6].iter().all(|g| g.not_judged.is_none()));
        assert_eq!(set.reads, ["https://github.com/acme/envs"]);
    }

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            "[a-z{}. ]{0,8}".prop_map(Value::String),
            Just(json!("github")),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("generators".to_owned()),
                        Just("matrix".to_owned()),
                        Just("merge".to_owned()),
                        Just("scmProvider".to_owned()),
                        Just("pullRequest".to_owned()),
                        Just("github".to_owned()),
                        Just("tokenRef".to_owned()),
                        Just("secretName".to_owned()),
                        Just("organization".to_owned()),
                        Just("repo".to_owned()),
                        Just("owner".to_owned()),
                        Just("git".to_owned()),
                        Just("repoURL".to_owned()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_spec_is_walked_without_a_panic_and_within_the_bounds(spec in json()) {
            let set = ApplicationSet::from_value(&json!({"metadata": {"name": "x", "namespace": "n"}, "spec": spec}));
            let set = set.unwrap();
            proptest::prop_assert!(set.generators.len() <= MAX_GENERATORS);
            proptest::prop_assert!(set.reads.len() <= crate::uses::MAX_SOURCES);
            let _ = crate::uses::Application::from_value(&json!({"metadata": {"name": "x"}, "spec": spec}));
            let _ = crate::uses::ImageUpdater::from_value(&json!({"metadata": {"name": "x"}, "spec": spec}));
        }
    }

    #[test]
    fn the_walk_is_bounded() {
        let many: Vec<Value> = (0..100)
            .map(|_| json!({"scmProvider": {"gitea": {"owner": "o", "api": "https://gitea.corp"}}}))
            .collect();
        let set = ApplicationSet::from_value(
            &json!({"metadata": {"name": "x", "namespace": "n"}, "spec": {"generators": many}}),
        )
        .unwrap();
        assert_eq!(set.generators.len(), MAX_GENERATORS);
        assert_eq!(set.generators_left_out, 100 - MAX_GENERATORS);
        assert_eq!(set.generators[0].auth, ScmAuth::Anonymous);
        let mut deep = json!({"scmProvider": {"gitea": {"owner": "o"}}});
        for _ in 0..10 {
            deep = json!({"matrix": {"generators": [deep]}});
        }
        let set =
            ApplicationSet::from_value(&json!({"metadata": {"name": "x"}, "spec": {"generators": [deep]}})).unwrap();
        assert!(set.generators.is_empty(), "nesting beyond the bound is not walked");
    }
}
