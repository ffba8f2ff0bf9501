//! GitHub App credentials (`githubAppID`, `githubAppInstallationID`, `githubAppPrivateKey`): sign an app
//! JWT and read the installation, whose `permissions` and `repository_selection` say what Argo CD's
//! installation tokens will be able to do.
//!
//! All calls are `GET`s authenticated as the app: `GET /app/installations/{id}`, or, when the Secret
//! names no installation (Argo CD 3.3 discovers it), `GET /repos/{o}/{r}/installation`,
//! `GET /orgs/{org}/installation` or `GET /users/{user}/installation`. Minting an installation token
//! (`POST /app/installations/{id}/access_tokens`) would be a side effect, so scopegate never does.

use std::collections::BTreeSet;

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::Value;

use super::api_url;
use super::client::{Auth, ProviderClient};
use super::github::HEADERS;
use crate::config::Provider;
use crate::credential::TokenKind;
use crate::grant::{Grant, IntrospectError};
use crate::token::Token;

/// The app credential from the Secret.
#[derive(Debug, Clone, Copy)]
pub struct AppRequest<'a> {
    pub app_id: u64,
    pub installation_id: Option<u64>,
    /// PEM private key (PKCS#1 `RSA PRIVATE KEY`, as GitHub issues it, or PKCS#8).
    pub private_key: &'a Token,
    /// The organisation or user from the Secret's URL (first path segment).
    pub owner: Option<&'a str>,
    /// Repositories to check the installation reaches.
    pub targets: &'a [String],
}

#[derive(Deserialize)]
struct Account {
    login: String,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
    #[serde(default)]
    account: Option<Account>,
    #[serde(default)]
    repository_selection: Option<String>,
    #[serde(default)]
    permissions: serde_json::Map<String, Value>,
    #[serde(default)]
    suspended_at: Option<String>,
}

/// Sign a GitHub App JWT (RS256): issued a minute in the past for clock drift, valid nine minutes.
pub fn app_jwt(app_id: u64, private_key: &Token, now_unix: i64) -> Result<Token, String> {
    let key = PrivateKeyDer::from_pem_slice(private_key.expose().as_bytes())
        .map_err(|_| "githubAppPrivateKey is not a PEM private key".to_owned())?;
    let pair = match &key {
        PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
        PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
        _ => return Err("githubAppPrivateKey is not an RSA private key".into()),
    }
    .map_err(|e| format!("githubAppPrivateKey is not a usable RSA private key ({e})"))?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = b64(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = b64(format!(
        r#"{{"iat":{},"exp":{},"iss":"{app_id}"}}"#,
        now_unix - 60,
        now_unix + 540
    )
    .as_bytes());
    let signing_input = format!("{header}.{claims}");
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "signing the GitHub App JWT failed".to_owned())?;
    Ok(Token::new(format!("{signing_input}.{}", b64(&sig))))
}

fn refused(status: u16, what: &str) -> IntrospectError {
    IntrospectError::Rejected {
        detail: format!(
            "GitHub refused the app's JWT while reading {what} (HTTP {status}): githubAppID or githubAppPrivateKey is wrong"
        ),
    }
}

pub async fn introspect(
    client: &ProviderClient,
    provider: &Provider,
    req: &AppRequest<'_>,
) -> Result<Grant, IntrospectError> {
    let jwt = app_jwt(req.app_id, req.private_key, jiff::Timestamp::now().as_second())
        .map_err(|detail| IntrospectError::Rejected { detail })?;
    let auth = Auth::Jwt(&jwt);
    let installation = find_installation(client, provider, req, auth).await?;
    if installation.suspended_at.is_some() {
        return Err(IntrospectError::Rejected {
            detail: format!("the GitHub App installation {} is suspended", installation.id),
        });
    }
    let mut grant = Grant::new(TokenKind::GithubApp);
    grant.owner = installation.account.map(|a| a.login.into());
    grant.owner_is_bot = Some(true);
    grant.scopes = Some(std::sync::Arc::new(
        installation
            .permissions
            .iter()
            .filter_map(|(name, level)| level.as_str().map(|l| format!("{}:{l}", permission_name(name))))
            .collect::<BTreeSet<_>>(),
    ));
    if installation.repository_selection.as_deref() == Some("selected") {
        let covered = futures::future::try_join_all(
            req.targets
                .iter()
                .map(|target| covers(client, provider, auth, installation.id, target)),
        )
        .await?;
        for (target, covered) in req.targets.iter().zip(covered) {
            if !covered {
                grant.unreachable.push(target.clone());
            }
        }
    }
    Ok(grant)
}

/// The requirement table's name for an installation's permission: GitHub's API calls repository
/// webhooks `repository_hooks`, its settings pages (and fine-grained tokens' form) "Webhooks".
fn permission_name(api_name: &str) -> &str {
    match api_name {
        "repository_hooks" => "webhooks",
        other => other,
    }
}

async fn find_installation(
    client: &ProviderClient,
    provider: &Provider,
    req: &AppRequest<'_>,
    auth: Auth<'_>,
) -> Result<Installation, IntrospectError> {
    let read = |segments: Vec<String>| {
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        client.get(provider, api_url(provider, &segs), auth, HEADERS)
    };
    let candidates: Vec<Vec<String>> = match (req.installation_id, req.targets.first(), req.owner) {
        (Some(id), _, _) => vec![vec!["app".into(), "installations".into(), id.to_string()]],
        (None, Some(t), _) if t.split('/').filter(|s| !s.is_empty()).count() >= 2 => {
            let mut it = t.split('/').filter(|s| !s.is_empty());
            let (o, r) = (it.next().unwrap_or_default(), it.next().unwrap_or_default());
            vec![vec![
                "repos".into(),
                o.into(),
                r.trim_end_matches(".git").into(),
                "installation".into(),
            ]]
        }
        (None, _, Some(owner)) => vec![
            vec!["orgs".into(), owner.into(), "installation".into()],
            vec!["users".into(), owner.into(), "installation".into()],
        ],
        (None, _, None) => {
            return Err(IntrospectError::NotIntrospectable {
                reason: "the Secret names no githubAppInstallationID and its URL no organisation to find the installation by"
                    .into(),
            });
        }
    };
    let what = candidates
        .first()
        .map(|c| format!("/{}", c.join("/")))
        .unwrap_or_default();
    for path in candidates {
        let resp = read(path).await?;
        match resp.status.as_u16() {
            200 => {
                return serde_json::from_slice(&resp.body).map_err(|_| {
                    IntrospectError::unavailable("GitHub answered with something that is not an installation")
                });
            }
            401 => return Err(refused(401, &what)),
            404 => continue,
            _ => return Err(resp.unexpected("GitHub", req.private_key)),
        }
    }
    Err(IntrospectError::Rejected {
        detail: match req.installation_id {
            Some(id) => format!(
                "GitHub App {} has no installation {id} (GET {what} answered 404)",
                req.app_id
            ),
            None => format!(
                "GitHub App {} is not installed where the Secret's URL points (GET {what} answered 404)",
                req.app_id
            ),
        },
    })
}

/// Whether a `selected`-repositories installation includes a repository.
async fn covers(
    client: &ProviderClient,
    provider: &Provider,
    auth: Auth<'_>,
    installation_id: u64,
    target: &str,
) -> Result<bool, IntrospectError> {
    let mut it = target.split('/').filter(|s| !s.is_empty());
    let (Some(o), Some(r)) = (it.next(), it.next()) else {
        return Ok(false);
    };
    let resp = client
        .get(
            provider,
            api_url(provider, &["repos", o, r.trim_end_matches(".git"), "installation"]),
            auth,
            HEADERS,
        )
        .await?;
    match resp.status.as_u16() {
        200 => Ok(serde_json::from_slice::<Installation>(&resp.body).is_ok_and(|i| i.id == installation_id)),
        401 => Err(refused(401, target)),
        404 => Ok(false),
        s if s >= 500 => Err(IntrospectError::unavailable(format!(
            "GitHub answered HTTP {s} while checking {target}"
        ))),
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwt_is_rs256_signed_by_the_app_key() {
        let key = Token::new(include_str!("../../tests/fixtures/keys/github-app-test.pem").into());
        let jwt = app_jwt(4242, &key, 1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "4242");
        assert_eq!(claims["iat"], 1_700_000_000 - 60);
        assert_eq!(claims["exp"], 1_700_000_000 + 540);
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            include_bytes!("../../tests/fixtures/keys/github-app-test.pub.der"),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(signed.as_bytes(), &b64.decode(parts[2]).unwrap())
            .unwrap();
        assert_eq!(format!("{jwt:?}"), "Token(<redacted>)");
    }

    #[test]
    fn keys_that_are_not_rsa_pem_are_refused_with_a_reason() {
        let e = app_jwt(
            1,
            &Token::new("-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----\n".into()),
            0,
        )
        .unwrap_err();
        assert!(e.contains("githubAppPrivateKey"), "{e}");
        let e = app_jwt(1, &Token::new("<your private key here>".into()), 0).unwrap_err();
        assert!(e.contains("PEM"), "{e}");
    }
}
