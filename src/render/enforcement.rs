//! What the validating webhook answers about a judgement, by mode: a denial and warnings. `check` and
//! `audit` report the same answer. Pure.

use crate::config::Mode;
use crate::engine::Judgement;

/// What the validating webhook answers about a judgement, by mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enforcement {
    /// `(HTTP status code, message)` when the request is refused.
    pub denial: Option<(u16, String)>,
    /// Each warning as one text, not yet split to the API server's length limit.
    pub warnings: Vec<String>,
}

/// The validating webhook's answer: enforce, warn or record, by mode. `subject` names the Secret
/// ([`secret_ref`]).
pub fn enforcement(judgement: &Judgement, mode: Mode, subject: &str) -> Enforcement {
    let denials: Vec<(u16, &str)> = judgement.denials().collect();
    let own = |texts: &mut dyn Iterator<Item = &str>| texts.map(str::to_owned).collect::<Vec<_>>();
    match mode {
        Mode::Audit => Enforcement::default(),
        Mode::Warn => Enforcement {
            denial: None,
            warnings: own(&mut denials.iter().map(|(_, m)| *m).chain(judgement.warnings())),
        },
        Mode::Enforce => {
            let warnings = own(&mut judgement.warnings());
            if denials.is_empty() {
                return Enforcement { denial: None, warnings };
            }
            let code = if denials.iter().any(|(c, _)| *c == 400) {
                400
            } else {
                403
            };
            let text = denials.iter().map(|(_, m)| *m).collect::<Vec<_>>().join(" ");
            Enforcement {
                denial: Some((code, format!("{subject}: {text}"))),
                warnings,
            }
        }
    }
}

/// The Secret a message is about, for the start of a warning or a denial: `Secret ns/name`.
pub fn secret_ref(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("Secret {name}")
    } else {
        format!("Secret {namespace}/{name}")
    }
}

/// The API server truncates a warning longer than this.
pub const MAX_WARNING: usize = 256;

/// Warnings as the API server shows them: each prefixed `scopegate: Secret ns/name:`, split at
/// spaces into pieces of at most [`MAX_WARNING`] characters; `None` when there are none.
pub fn admission_warnings<'a>(subject: &str, texts: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
    let out: Vec<String> = texts
        .flat_map(|t| split_warning(&format!("scopegate: {subject}: {t}")))
        .collect();
    (!out.is_empty()).then_some(out)
}

/// Split text into warnings of at most [`MAX_WARNING`] characters, at spaces, so that no link is cut.
/// One pass over the text: each piece's length in characters is kept, not counted again.
pub fn split_warning(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word_len = word.chars().count();
        let extra = usize::from(cur_len > 0);
        if cur_len + extra + word_len > MAX_WARNING && cur_len > 0 {
            out.push(std::mem::take(&mut cur));
            cur_len = 0;
        }
        if word_len > MAX_WARNING {
            // A single word longer than a warning: cut it, there is no better place.
            let chars: Vec<char> = word.chars().collect();
            for chunk in chars.chunks(MAX_WARNING) {
                if cur_len > 0 {
                    out.push(std::mem::take(&mut cur));
                }
                cur = chunk.iter().collect();
                cur_len = chunk.len();
            }
            continue;
        }
        if cur_len > 0 {
            cur.push(' ');
            cur_len += 1;
        }
        cur.push_str(word);
        cur_len += word_len;
    }
    if cur_len > 0 {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Finding;
    use crate::policy::{Outcome, Problem, Severity, Verdict};

    fn judgement(findings: &[(Severity, &str)]) -> Judgement {
        Judgement {
            verdict: Verdict::new(Outcome::Insufficient, None),
            findings: findings
                .iter()
                .map(|(severity, message)| Finding {
                    problem: Problem::Invalid { detail: String::new() },
                    severity: *severity,
                    message: (*message).to_owned(),
                })
                .collect(),
            checked_at: jiff::Timestamp::UNIX_EPOCH,
            cache_hit: None,
            answered_at: None,
            budget_spent: None,
        }
    }

    #[test]
    fn modes_deny_warn_or_record() {
        let j = judgement(&[
            (Severity::Deny(403), "lacks repo."),
            (Severity::Deny(400), "url is missing."),
            (Severity::Warn, "expires soon."),
            (Severity::Silent, "excess."),
        ]);
        let e = enforcement(&j, Mode::Enforce, "Secret a/b");
        assert_eq!(
            e.denial,
            Some((400, "Secret a/b: lacks repo. url is missing.".to_owned()))
        );
        assert_eq!(e.warnings, ["expires soon."]);
        let e = enforcement(&j, Mode::Warn, "Secret a/b");
        assert_eq!(e.denial, None);
        assert_eq!(e.warnings, ["lacks repo.", "url is missing.", "expires soon."]);
        assert_eq!(enforcement(&j, Mode::Audit, "Secret a/b"), Enforcement::default());
    }

    #[test]
    fn warnings_split_at_spaces_and_keep_links_whole() {
        let link = format!("https://github.com/settings/tokens/new?scopes={}", "x".repeat(150));
        let text = format!("{} {link} {}", "word ".repeat(40), "tail ".repeat(30));
        let parts = split_warning(&text);
        assert!(parts.len() >= 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_WARNING));
        assert!(parts.iter().any(|p| p.contains(&link)), "the link is in one piece");
        assert_eq!(parts.join(" "), text.split_whitespace().collect::<Vec<_>>().join(" "));
        let huge = "y".repeat(600);
        let parts = split_warning(&huge);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_WARNING));
        assert_eq!(split_warning("short"), ["short"]);
        assert_eq!(secret_ref("", "x"), "Secret x");
    }
}
