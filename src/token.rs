//! The token: a value that can be compared, hashed and sent to its provider, and never printed.
//!
//! `Debug` and `Display` print `<redacted>`; the bytes are wiped when the value is dropped. The only way
//! to the raw value is [`Token::expose`], which is crate-private and used where a provider request is
//! built.

use std::fmt;

use zeroize::Zeroizing;

/// A secret credential value (password, access token, private key).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Zeroizing<String>);

impl Token {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The raw value, for building the provider request and nothing else.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    pub fn starts_with(&self, prefix: &str) -> bool {
        self.0.starts_with(prefix)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let t = Token::new("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".into());
        assert_eq!(format!("{t}"), "<redacted>");
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        assert_eq!(format!("{:?}", Some(&t)), "Some(Token(<redacted>))");
        assert_eq!(t.expose(), "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");
    }
}
