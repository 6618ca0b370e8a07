//! Secrets the gateway holds: app secrets (they sign tokens) and the admin key
//! (kept only as a SHA-256 hash, compared in constant time).

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An app's token-signing secret. `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct AppSecret(String);

impl AppSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// A fresh random secret (256 bits, URL-safe characters).
    pub fn generate() -> Self {
        Self(random_string(43))
    }

    /// The secret text, for signing and verifying.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppSecret(<redacted>)")
    }
}

impl Serialize for AppSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AppSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

/// A random string of `len` characters from `[A-Za-z0-9_-]`.
pub fn random_string(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// The stored form of the admin key: hex SHA-256.
pub fn hash_admin_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Compares a presented admin key with the stored hash in constant time.
pub fn admin_key_matches(presented: &str, stored_hash: &str) -> bool {
    let presented = hash_admin_key(presented);
    presented.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_key_hash_matches_only_the_key() {
        let stored = hash_admin_key("correct horse");
        assert!(admin_key_matches("correct horse", &stored));
        assert!(!admin_key_matches("correct hors", &stored));
        assert!(!admin_key_matches("", &stored));
        assert!(!stored.contains("horse"));
    }

    #[test]
    fn secrets_are_random_and_redacted() {
        let a = AppSecret::generate();
        let b = AppSecret::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
