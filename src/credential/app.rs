//! GitHub App credentials as Argo CD stores them: `githubAppID`, `githubAppInstallationID` (optional
//! since Argo CD 3.3, which discovers the installation), `githubAppPrivateKey` (PEM) and
//! `githubAppEnterpriseBaseUrl` (GitHub Enterprise). Pure.

use super::secret::{FieldName, MalformedField, SecretObject};
use super::{Classified, RoleChoice};
use crate::repo_url::RepoUrl;
use crate::token::Token;

/// A credential Secret that holds GitHub App credentials.
#[derive(Debug, Clone)]
pub struct AppCredential {
    pub role: RoleChoice,
    pub url: RepoUrl,
    pub app_id: u64,
    pub installation_id: Option<u64>,
    pub private_key: Token,
    /// `githubAppEnterpriseBaseUrl`: the GitHub Enterprise API the app lives on.
    pub enterprise_base_url: Option<String>,
}

/// Whether the Secret holds GitHub App credentials rather than another non-token credential.
pub(super) fn holds_app(secret: &SecretObject) -> bool {
    (secret.has_field(FieldName::GithubAppPrivateKey) || secret.has_field(FieldName::GithubAppId))
        && !secret.has_field(FieldName::SshPrivateKey)
}

/// The app's fields, or the first one that cannot be used.
pub(super) fn classify(secret: &SecretObject, role: RoleChoice, url: Option<RepoUrl>) -> Classified {
    match read(secret, &role, url) {
        Ok(app) => Classified::GithubApp(Box::new(app)),
        Err(problem) => Classified::Malformed { role, problem },
    }
}

fn number(secret: &SecretObject, key: FieldName) -> Result<Option<u64>, MalformedField> {
    match secret.field(key)? {
        None => Ok(None),
        Some(v) if v.expose().trim().is_empty() => Ok(None),
        Some(v) => {
            v.expose().trim().parse::<u64>().map(Some).map_err(|_| {
                MalformedField::new(secret.field_name(key), "is not a number (the GitHub App's numeric ID)")
            })
        }
    }
}

fn read(secret: &SecretObject, role: &RoleChoice, url: Option<RepoUrl>) -> Result<AppCredential, MalformedField> {
    let app_id = number(secret, FieldName::GithubAppId)?.ok_or_else(|| {
        MalformedField::new(
            "githubAppID".into(),
            "is missing: a GitHub App credential needs the app's ID",
        )
    })?;
    let installation_id = number(secret, FieldName::GithubAppInstallationId)?;
    let private_key = secret
        .field(FieldName::GithubAppPrivateKey)?
        .filter(|k| !k.expose().trim().is_empty())
        .ok_or_else(|| {
            MalformedField::new(
                "githubAppPrivateKey".into(),
                "is missing: a GitHub App credential needs the app's private key",
            )
        })?;
    {
        use rustls_pki_types::pem::PemObject;
        if rustls_pki_types::PrivateKeyDer::from_pem_slice(private_key.expose().as_bytes()).is_err() {
            return Err(MalformedField::new(
                secret.field_name(FieldName::GithubAppPrivateKey),
                "is not a PEM private key (the .pem file GitHub gives when the key is generated)",
            ));
        }
    }
    let url = url.ok_or_else(|| MalformedField::new("url".into(), "is missing"))?;
    let enterprise_base_url = secret
        .field(FieldName::GithubAppEnterpriseBaseUrl)?
        .map(|u| u.expose().trim().to_owned())
        .filter(|u| !u.is_empty());
    Ok(AppCredential {
        role: role.clone(),
        url,
        app_id,
        installation_id,
        private_key: private_key.clone(),
        enterprise_base_url,
    })
}
