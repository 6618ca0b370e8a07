use serde::{Deserialize, Serialize};

/// A login token. Its `Debug` prints `<redacted>` and it has no `Display`, so
/// it cannot end up in a log line or an error message by accident; the text is
/// reachable only through [`Token::expose`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text, for the few places that must send or verify it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the token is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl From<String> for Token {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Token {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = Token::new("very-secret-token");
        let shown = format!("{token:?} {:?}", Some(&token));
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn serializes_as_a_plain_string() {
        let token = Token::new("abc");
        assert_eq!(
            serde_json::to_string(&token).ok().as_deref(),
            Some("\"abc\"")
        );
    }
}
