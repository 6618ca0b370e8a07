//! Login tokens: JWT HS256 signed with the app's secret, `sub` = account,
//! `aud` = appKey, `exp` = expiry (seconds since the epoch). Minted by the
//! gateway's admin API, `vestibule-cli token`, or an app's own backend.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::Token;

/// The claims a login token carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account.
    pub sub: String,
    /// The appKey.
    pub aud: String,
    /// Expiry, seconds since the Unix epoch; absent for a static token (NIM's
    /// tokens without expiry), which only a sign-out or idleness ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// The token was issued for another app.
    #[error("token was issued for another appKey")]
    WrongApp,
    /// The token was issued for another account.
    #[error("token was issued for another account")]
    WrongAccount,
    /// Bad signature, not a JWT, wrong algorithm, missing claims.
    #[error("invalid token")]
    Invalid,
    /// The secret cannot be used for signing (empty).
    #[error("the signing secret is empty")]
    EmptySecret,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mints a token for `account` of `app_key`, valid for `ttl`.
pub fn mint(
    secret: &str,
    app_key: &str,
    account: &str,
    ttl: Duration,
) -> Result<Token, TokenError> {
    let now = unix_now();
    mint_at(
        secret,
        app_key,
        account,
        now,
        now.saturating_add(ttl.as_secs()),
    )
}

/// Mints a static token: no expiry (NIM's static tokens).
pub fn mint_static(secret: &str, app_key: &str, account: &str) -> Result<Token, TokenError> {
    encode(secret, app_key, account, unix_now(), None)
}

/// Mints a token with explicit `iat` and `exp` (seconds since the epoch).
pub fn mint_at(
    secret: &str,
    app_key: &str,
    account: &str,
    iat: u64,
    exp: u64,
) -> Result<Token, TokenError> {
    encode(secret, app_key, account, iat, Some(exp))
}

fn encode(
    secret: &str,
    app_key: &str,
    account: &str,
    iat: u64,
    exp: Option<u64>,
) -> Result<Token, TokenError> {
    if secret.is_empty() {
        return Err(TokenError::EmptySecret);
    }
    let claims = Claims {
        sub: account.to_owned(),
        aud: app_key.to_owned(),
        exp,
        iat,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map(Token::new)
    .map_err(|_| TokenError::Invalid)
}

/// Verifies a token for `account` of `app_key` against the app's secret.
/// No leeway: a token is expired the second its `exp` has passed.
pub fn verify(
    secret: &str,
    app_key: &str,
    account: &str,
    token: &Token,
) -> Result<Claims, TokenError> {
    if secret.is_empty() {
        return Err(TokenError::EmptySecret);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_audience(&[app_key]);
    // `exp` is checked when present; a static token has none.
    validation.set_required_spec_claims(&["sub", "aud"]);
    let data = jsonwebtoken::decode::<Claims>(
        token.expose(),
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::InvalidAudience => TokenError::WrongApp,
        _ => TokenError::Invalid,
    })?;
    if data.claims.sub != account {
        return Err(TokenError::WrongAccount);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify() {
        let token = mint("s3cret", "demo", "alice", Duration::from_secs(60));
        let Ok(token) = token else {
            panic!("{token:?}")
        };
        let claims = verify("s3cret", "demo", "alice", &token);
        let Ok(claims) = claims else {
            panic!("{claims:?}")
        };
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.aud, "demo");
        assert!(claims.exp.is_some_and(|exp| exp >= claims.iat + 59));
    }

    #[test]
    fn static_tokens_have_no_expiry_and_verify() {
        let Ok(token) = mint_static("s3cret", "demo", "alice") else {
            panic!()
        };
        let claims = verify("s3cret", "demo", "alice", &token);
        assert!(matches!(claims, Ok(Claims { exp: None, .. })), "{claims:?}");
        assert_eq!(
            verify("s3cret", "demo", "bob", &token),
            Err(TokenError::WrongAccount)
        );
    }

    #[test]
    fn each_wrong_thing_is_named() {
        let Ok(token) = mint("s3cret", "demo", "alice", Duration::from_secs(60)) else {
            panic!()
        };
        assert_eq!(
            verify("other", "demo", "alice", &token),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify("s3cret", "demo2", "alice", &token),
            Err(TokenError::WrongApp)
        );
        assert_eq!(
            verify("s3cret", "demo", "bob", &token),
            Err(TokenError::WrongAccount)
        );
        assert_eq!(
            verify("s3cret", "demo", "alice", &Token::new("nonsense")),
            Err(TokenError::Invalid)
        );
        let now = unix_now();
        let Ok(old) = mint_at("s3cret", "demo", "alice", now - 100, now - 1) else {
            panic!()
        };
        assert_eq!(
            verify("s3cret", "demo", "alice", &old),
            Err(TokenError::Expired)
        );
        assert_eq!(
            mint("", "demo", "alice", Duration::from_secs(1)),
            Err(TokenError::EmptySecret)
        );
    }

    #[test]
    fn other_algorithms_are_refused() {
        // A token with alg "none" must never pass.
        let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImF1ZCI6ImRlbW8iLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MH0.";
        assert_eq!(
            verify("s3cret", "demo", "alice", &Token::new(unsigned)),
            Err(TokenError::Invalid)
        );
    }
}
