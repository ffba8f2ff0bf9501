//! The mutating webhook's record of a verdict: the `scopegate.dev/` annotations, and the JSON patch that
//! makes a Secret carry exactly them. Pure.

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use serde_json::Value;

use crate::policy::Verdict;

/// Annotation keys scopegate writes. Every other `scopegate.dev/` key except the inputs is removed.
pub mod keys {
    pub const PREFIX: &str = "scopegate.dev/";
    pub const VERDICT: &str = "scopegate.dev/verdict";
    pub const PROVIDER: &str = "scopegate.dev/provider";
    pub const TOKEN_KIND: &str = "scopegate.dev/token-kind";
    pub const ROLE: &str = "scopegate.dev/role";
    pub const SCOPES: &str = "scopegate.dev/scopes";
    pub const MISSING: &str = "scopegate.dev/missing";
    pub const EXCESS: &str = "scopegate.dev/excess";
    pub const EXPIRES_AT: &str = "scopegate.dev/expires-at";
    pub const OWNER: &str = "scopegate.dev/owner";
    pub const REASON: &str = "scopegate.dev/reason";
    pub const CHECKED_AT: &str = "scopegate.dev/checked-at";
    /// Annotations people write for scopegate to read; never touched.
    pub const INPUTS: &[&str] = &[crate::credential::SKIP_ANNOTATION, crate::credential::PROBE_ANNOTATION];

    /// What each annotation scopegate writes holds (the reference's words; `annotations` writes them).
    pub const WRITTEN: &[(&str, &str)] = &[
        (VERDICT, "The verdict."),
        (
            PROVIDER,
            "The provider kind of the Secret's host, when it is a configured provider.",
        ),
        (
            TOKEN_KIND,
            "What the credential is: a token kind, or for other credentials what they are.",
        ),
        (
            ROLE,
            "The role that applied: the one derived from the Secret, or a stricter one it asked for.",
        ),
        (
            SCOPES,
            "The scopes or permissions the token has, sorted, comma-separated (probed ones for kinds whose permissions no API lists).",
        ),
        (
            MISSING,
            "What the role needs and the token lacks, comma-separated: scopes, `permission:level`, `role:Developer` for a GitLab bot, `access:owner/repo` for a repository a GitHub App does not include.",
        ),
        (EXCESS, "Dangerous scopes the role does not need, comma-separated."),
        (
            EXPIRES_AT,
            "When the token expires (RFC 3339), when the provider reports it.",
        ),
        (
            OWNER,
            "Who the token acts as (a login or bot name, never the token), when known.",
        ),
        (
            REASON,
            "One line on why the verdict is not `ok`, when there is more to say.",
        ),
        (CHECKED_AT, "When the verdict was reached (RFC 3339)."),
    ];

    /// What each annotation people may write asks of scopegate.
    pub const READ: &[(&str, &str)] = &[
        (
            crate::credential::ROLE_ANNOTATION,
            "A stricter role than the Secret's own (`read < write < user < runtime`); a weaker or unknown value is ignored with a warning. The mutating webhook replaces it with the role that applied.",
        ),
        (
            crate::credential::SKIP_ANNOTATION,
            "`\"true\"`: skip validation (verdict `skipped`), honoured only for users or groups listed under `skipValidation`; kept across updates that keep the credential.",
        ),
        (
            crate::credential::PROBE_ANNOTATION,
            "The repositories (URLs or paths, comma- or space-separated) a credential template's permissions are probed on.",
        ),
    ];
}

/// A timestamp as annotated and reported: RFC 3339, whole seconds, UTC.
pub fn timestamp(t: jiff::Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

/// The annotations for a verdict.
pub fn annotations(v: &Verdict, checked_at: jiff::Timestamp) -> BTreeMap<&'static str, String> {
    use keys::*;
    let mut a = BTreeMap::new();
    a.insert(VERDICT, v.outcome.as_str().to_owned());
    if let Some(p) = v.provider {
        a.insert(PROVIDER, p.as_str().to_owned());
    }
    if let Some(k) = v.token_kind {
        a.insert(TOKEN_KIND, k.as_str().to_owned());
    }
    if let Some(r) = v.role {
        a.insert(ROLE, r.as_str().to_owned());
    }
    // A BTreeSet: already sorted.
    a.insert(
        SCOPES,
        v.scopes.iter().map(String::as_str).collect::<Vec<_>>().join(","),
    );
    a.insert(MISSING, v.missing.join(","));
    a.insert(EXCESS, v.excess.join(","));
    if let Some(t) = v.expires_at {
        a.insert(EXPIRES_AT, timestamp(t));
    }
    if let Some(o) = &v.owner {
        a.insert(OWNER, o.clone());
    }
    if let Some(r) = &v.reason {
        // Annotation values have no hard limit, but a reason is one line.
        a.insert(REASON, r.chars().take(512).collect());
    }
    a.insert(CHECKED_AT, timestamp(checked_at));
    a
}

fn pointer(key: &str) -> PointerBuf {
    PointerBuf::from_tokens(["metadata", "annotations", key])
}

/// The JSON patch that makes the object's `scopegate.dev/` annotations exactly `wanted` (inputs kept),
/// given the annotations it has.
pub fn annotation_patch(existing: &BTreeMap<String, String>, wanted: &BTreeMap<&'static str, String>) -> Patch {
    if existing.is_empty() {
        // Absent or empty: one `add` of the whole map creates (or replaces) it.
        let map: serde_json::Map<String, Value> = wanted
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        return Patch(vec![PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(["metadata", "annotations"]),
            value: Value::Object(map),
        })]);
    }
    let mut ops = Vec::new();
    for key in existing.keys() {
        if key.starts_with(keys::PREFIX) && !keys::INPUTS.contains(&key.as_str()) && !wanted.contains_key(key.as_str())
        {
            ops.push(PatchOperation::Remove(RemoveOperation { path: pointer(key) }));
        }
    }
    for (key, value) in wanted {
        if existing.get(*key) != Some(value) {
            ops.push(PatchOperation::Add(AddOperation {
                path: pointer(key),
                value: Value::String(value.clone()),
            }));
        }
    }
    Patch(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{CredentialKind, NonToken, Role};
    use crate::policy::Outcome;

    #[test]
    fn a_verdict_becomes_annotations_and_a_patch_that_replaces_stale_ones() {
        let mut v = Verdict::new(Outcome::NotAToken, Some(Role::Read));
        v.token_kind = Some(CredentialKind::Other(NonToken::SshKey));
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let a = annotations(&v, at);
        assert_eq!(a[keys::VERDICT], "not-a-token");
        assert_eq!(a[keys::TOKEN_KIND], "ssh-key");
        assert_eq!(a[keys::CHECKED_AT], "2027-01-15T08:00:00Z");
        let existing: BTreeMap<String, String> = [
            (keys::OWNER.to_owned(), "forged".to_owned()),
            (crate::credential::SKIP_ANNOTATION.to_owned(), "true".to_owned()),
            ("other".to_owned(), "x".to_owned()),
        ]
        .into_iter()
        .collect();
        let patch = serde_json::to_value(annotation_patch(&existing, &a)).unwrap();
        let ops = patch.as_array().unwrap();
        assert_eq!(ops[0]["op"], "remove");
        assert_eq!(ops[0]["path"], "/metadata/annotations/scopegate.dev~1owner");
        assert_eq!(ops.len(), 1 + a.len());
    }
}
