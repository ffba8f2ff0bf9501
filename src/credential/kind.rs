//! Token kinds: what a token is, from its provider and its prefix (refined later by what the provider
//! says about it). Pure.

use crate::config::ProviderKind;
use crate::token::Token;

/// What a token is, from its provider and prefix (refined by what the provider says about it). The
/// names are the `scopegate.dev/token-kind` annotation's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum TokenKind {
    // GitHub
    Classic,
    Oauth,
    FineGrained,
    AppUser,
    AppInstallation,
    AppRefresh,
    // GitLab
    Personal,
    Project,
    Group,
    DeployToken,
    CiJobToken,
    #[strum(serialize = "other")]
    OtherGitlabToken,
    // Bitbucket Cloud
    AccessToken,
    RepoAccessToken,
    ProjectAccessToken,
    WorkspaceAccessToken,
    ApiToken,
    AppPassword,
    // GitHub App credentials (app ID + private key), as Argo CD stores them.
    GithubApp,
    // Bitbucket Data Center
    HttpAccessToken,
    Unknown,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Words for a message: "classic personal access token", "project access token", …
    pub fn describe(self) -> &'static str {
        match self {
            TokenKind::Classic => "classic personal access token",
            TokenKind::Oauth => "OAuth token",
            TokenKind::FineGrained => "fine-grained personal access token",
            TokenKind::AppUser => "GitHub App user access token",
            TokenKind::AppInstallation => "GitHub App installation token",
            TokenKind::AppRefresh => "GitHub App refresh token",
            TokenKind::Personal => "personal access token",
            TokenKind::Project => "project access token",
            TokenKind::Group => "group access token",
            TokenKind::DeployToken => "deploy token",
            TokenKind::CiJobToken => "CI/CD job token",
            TokenKind::OtherGitlabToken => "token",
            TokenKind::AccessToken => "access token",
            TokenKind::RepoAccessToken => "repository access token",
            TokenKind::ProjectAccessToken => "project access token",
            TokenKind::WorkspaceAccessToken => "workspace access token",
            TokenKind::ApiToken => "API token",
            TokenKind::AppPassword => "app password",
            TokenKind::GithubApp => "GitHub App installation",
            TokenKind::HttpAccessToken => "HTTP access token",
            TokenKind::Unknown => "token",
        }
    }
}

const GITHUB_PREFIXES: [(&str, TokenKind); 6] = [
    ("github_pat_", TokenKind::FineGrained),
    ("ghp_", TokenKind::Classic),
    ("gho_", TokenKind::Oauth),
    ("ghu_", TokenKind::AppUser),
    ("ghs_", TokenKind::AppInstallation),
    ("ghr_", TokenKind::AppRefresh),
];

/// GitLab's documented prefixes (doc/security/tokens "Token prefixes"). Self-managed instances may
/// add an instance prefix in front (`instance-glpat-…`), so these are matched anywhere after one.
const GITLAB_PREFIXES: [(&str, TokenKind); 11] = [
    ("glpat-", TokenKind::Personal),
    ("gldt-", TokenKind::DeployToken),
    ("glcbt-", TokenKind::CiJobToken),
    ("gloas-", TokenKind::OtherGitlabToken),
    ("glrt-", TokenKind::OtherGitlabToken),
    ("glptt-", TokenKind::OtherGitlabToken),
    ("glft-", TokenKind::OtherGitlabToken),
    ("glimt-", TokenKind::OtherGitlabToken),
    ("glagent-", TokenKind::OtherGitlabToken),
    ("glsoat-", TokenKind::OtherGitlabToken),
    ("glffct-", TokenKind::OtherGitlabToken),
];

const BITBUCKET_CLOUD_PREFIXES: [(&str, TokenKind); 3] = [
    ("ATCT", TokenKind::AccessToken),
    ("ATAT", TokenKind::ApiToken),
    ("ATBB", TokenKind::AppPassword),
];

fn gitlab_kind(token: &Token) -> Option<TokenKind> {
    let s = token.expose();
    GITLAB_PREFIXES
        .iter()
        .find(|(p, _)| s.starts_with(p) || s.match_indices(p).any(|(i, _)| i > 0 && s.as_bytes()[i - 1] == b'-'))
        .map(|&(_, k)| k)
}

/// The provider a token's own prefix names, when it names one unambiguously.
pub fn provider_by_prefix(token: &Token) -> Option<ProviderKind> {
    if GITHUB_PREFIXES.iter().any(|(p, _)| token.starts_with(p)) {
        Some(ProviderKind::Github)
    } else if token.starts_with("glpat-") || token.starts_with("gldt-") {
        Some(ProviderKind::Gitlab)
    } else if BITBUCKET_CLOUD_PREFIXES.iter().any(|(p, _)| token.starts_with(p)) {
        Some(ProviderKind::BitbucketCloud)
    } else if token.starts_with("BBDC-") {
        Some(ProviderKind::BitbucketServer)
    } else {
        None
    }
}

/// GitHub's token prefixes that carry a checksum (GitHub blog, "Behind GitHub's new authentication
/// token formats", 2021-04-05): `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, then 30 random base62
/// characters, then 6 characters of checksum. Fine-grained tokens (`github_pat_`) have none documented.
const GITHUB_CHECKSUMMED: [&str; 5] = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"];

/// The base62 alphabet of the checksum: digits, upper case, lower case.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A GitHub token's checksum, offline: `None` for a token without one (another prefix), `Some(Ok(()))`
/// when it matches, `Some(Err(why))` when the token cannot be one GitHub issued (truncated, mistyped,
/// or pasted with something extra).
///
/// The checksum is the CRC-32 (IEEE) of the 30 random characters, in base62 with the alphabet
/// `0-9A-Za-z`, left-padded with `0` to six characters. GitHub documents only that the last six
/// characters are a 32-bit CRC checksum; the encoding was confirmed on real tokens published in public
/// sources (leaked and revoked, or detectors' documentation examples), none of which satisfies any
/// other reading: `tests/fixtures/github-token-checksums.txt` lists them and where each was published,
/// and the unit tests check every one.
pub fn github_checksum(token: &Token) -> Option<Result<(), &'static str>> {
    let t = token.expose();
    let prefix = GITHUB_CHECKSUMMED.iter().find(|p| t.starts_with(**p))?;
    let rest = &t.as_bytes()[prefix.len()..];
    if rest.len() != 36 {
        return Some(Err(if rest.len() < 36 {
            "it is shorter than every token GitHub issues (40 characters)"
        } else {
            "it is longer than every token GitHub issues (40 characters)"
        }));
    }
    if !rest.iter().all(u8::is_ascii_alphanumeric) {
        return Some(Err("it holds characters GitHub's tokens never contain"));
    }
    let (random, checksum) = rest.split_at(30);
    let mut crc = crc32fast::hash(random);
    let mut expected = [b'0'; 6];
    for slot in expected.iter_mut().rev() {
        *slot = BASE62[(crc % 62) as usize];
        crc /= 62;
    }
    Some(if expected == checksum {
        Ok(())
    } else {
        Err("its last six characters are not the checksum of the rest")
    })
}

/// What kind of token this is, judging by the provider its URL points at and its prefix.
pub fn detect(provider: ProviderKind, token: &Token) -> TokenKind {
    match provider {
        ProviderKind::Github => {
            if let Some(&(_, k)) = GITHUB_PREFIXES.iter().find(|(p, _)| token.starts_with(p)) {
                k
            } else if token.len() == 40 && token.expose().bytes().all(|b| b.is_ascii_hexdigit()) {
                // Tokens made before April 2021: 40 hex digits, classic scopes.
                TokenKind::Classic
            } else {
                TokenKind::Unknown
            }
        }
        // Self-managed GitLab can use a custom prefix: a token without a known one is still asked about.
        ProviderKind::Gitlab => gitlab_kind(token).unwrap_or(TokenKind::Personal),
        ProviderKind::BitbucketCloud => BITBUCKET_CLOUD_PREFIXES
            .iter()
            .find(|(p, _)| token.starts_with(p))
            .map(|&(_, k)| k)
            .unwrap_or(TokenKind::Unknown),
        // `BBDC-…` since Bitbucket 8; older tokens are base64 of `id:secret`. Either way an HTTP access token.
        ProviderKind::BitbucketServer => TokenKind::HttpAccessToken,
        // Gitea's and Forgejo's tokens are 40 hex digits with no prefix: an access token.
        ProviderKind::Gitea => TokenKind::AccessToken,
        // Azure DevOps tokens are personal access tokens (52 or 84 characters, no prefix).
        ProviderKind::AzureDevops => TokenKind::Personal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Token {
        Token::new(s.into())
    }

    #[test]
    fn names_are_the_annotation_values() {
        use strum::IntoEnumIterator;
        let names: Vec<&str> = TokenKind::iter().map(TokenKind::as_str).collect();
        assert_eq!(
            names,
            [
                "classic",
                "oauth",
                "fine-grained",
                "app-user",
                "app-installation",
                "app-refresh",
                "personal",
                "project",
                "group",
                "deploy-token",
                "ci-job-token",
                "other",
                "access-token",
                "repo-access-token",
                "project-access-token",
                "workspace-access-token",
                "api-token",
                "app-password",
                "github-app",
                "http-access-token",
                "unknown"
            ]
        );
    }

    #[test]
    fn github_prefixes() {
        let gh = ProviderKind::Github;
        assert_eq!(
            detect(gh, &t("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")),
            TokenKind::Classic
        );
        assert_eq!(
            detect(gh, &t("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")),
            TokenKind::Oauth
        );
        assert_eq!(detect(gh, &t("github_pat_11ABC_def")), TokenKind::FineGrained);
        assert_eq!(
            detect(gh, &t("ghu_abc0000000000000000000000000001mHGcW")),
            TokenKind::AppUser
        );
        assert_eq!(
            detect(gh, &t("ghs_abc0000000000000000000000000001mHGcW")),
            TokenKind::AppInstallation
        );
        assert_eq!(
            detect(gh, &t("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")),
            TokenKind::AppRefresh
        );
        assert_eq!(
            detect(gh, &t("0123456789abcdef0123456789abcdef01234567")),
            TokenKind::Classic
        );
        assert_eq!(detect(gh, &t("something-else")), TokenKind::Unknown);
    }

    #[test]
    fn gitlab_prefixes_including_instance_prefixes() {
        let gl = ProviderKind::Gitlab;
        assert_eq!(detect(gl, &t("glpat-abc")), TokenKind::Personal);
        assert_eq!(detect(gl, &t("corp-glpat-abc")), TokenKind::Personal);
        assert_eq!(detect(gl, &t("gldt-abc")), TokenKind::DeployToken);
        assert_eq!(detect(gl, &t("glcbt-abc")), TokenKind::CiJobToken);
        assert_eq!(detect(gl, &t("glft-abc")), TokenKind::OtherGitlabToken);
        assert_eq!(detect(gl, &t("mycustomprefix_abc")), TokenKind::Personal);
    }

    #[test]
    fn bitbucket_cloud_prefixes() {
        let bb = ProviderKind::BitbucketCloud;
        assert_eq!(detect(bb, &t("ATCTT3xFfGN0abc")), TokenKind::AccessToken);
        assert_eq!(detect(bb, &t("ATATT3xFfGF0abc")), TokenKind::ApiToken);
        assert_eq!(detect(bb, &t("ATBBabc")), TokenKind::AppPassword);
        assert_eq!(detect(bb, &t("plain")), TokenKind::Unknown);
    }

    #[test]
    fn prefixes_that_name_a_provider() {
        assert_eq!(
            provider_by_prefix(&t("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")),
            Some(ProviderKind::Github)
        );
        assert_eq!(provider_by_prefix(&t("github_pat_x")), Some(ProviderKind::Github));
        assert_eq!(provider_by_prefix(&t("glpat-x")), Some(ProviderKind::Gitlab));
        assert_eq!(provider_by_prefix(&t("ATCTx")), Some(ProviderKind::BitbucketCloud));
        assert_eq!(provider_by_prefix(&t("BBDC-x")), Some(ProviderKind::BitbucketServer));
        assert_eq!(
            detect(ProviderKind::BitbucketServer, &t("MjUyOTcz")),
            TokenKind::HttpAccessToken
        );
        assert_eq!("repo-access-token".parse(), Ok(TokenKind::RepoAccessToken));
        assert_eq!(TokenKind::OtherGitlabToken.as_str(), "other");
        assert_eq!(TokenKind::GithubApp.as_str(), "github-app");
        assert_eq!(provider_by_prefix(&t("my-password")), None);
    }
}
