//! Tokens live in the OS keychain and nowhere else. Where there is no
//! keychain, remember-me is off and the UI says why.

use std::collections::HashMap;
use std::sync::Mutex;

use vestibule_client::Token;

/// The keychain service name tokens are stored under.
pub const SERVICE: &str = "im.vestibule.desktop";

/// Why the vault cannot keep or give a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// There is no keychain to talk to (no Secret Service running, locked, refused).
    #[error(
        "no OS keychain is running (on Linux: GNOME Keyring or another Secret Service), so tokens cannot be remembered"
    )]
    Unavailable,
    /// The keychain answered with an error.
    #[error("the OS keychain failed: {0}")]
    Failed(String),
}

/// Where remembered tokens go.
pub trait TokenVault: Send + Sync + std::fmt::Debug {
    /// `Ok(())` when tokens can be stored, or why not.
    fn availability(&self) -> Result<(), VaultError>;
    /// The token stored for `account_id`.
    fn get(&self, account_id: &str) -> Result<Option<Token>, VaultError>;
    /// Stores a token.
    fn set(&self, account_id: &str, token: &Token) -> Result<(), VaultError>;
    /// Forgets a token (no error if there was none).
    fn delete(&self, account_id: &str) -> Result<(), VaultError>;
}

/// The OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows).
#[derive(Debug)]
pub struct Keychain {
    available: Result<(), VaultError>,
}

impl Keychain {
    /// Probes the keychain once; every later call reuses the answer.
    pub fn probe() -> Self {
        let available = match keyring::Entry::new(SERVICE, "__vestibule_probe__") {
            Ok(entry) => match entry.get_password() {
                Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(describe(&e)),
            },
            Err(e) => Err(describe(&e)),
        };
        if let Err(reason) = &available {
            tracing::warn!(%reason, "no usable keychain: remember-me is off");
        }
        Self { available }
    }

    fn entry(&self, account_id: &str) -> Result<keyring::Entry, VaultError> {
        self.available.clone()?;
        keyring::Entry::new(SERVICE, account_id).map_err(|e| describe(&e))
    }
}

fn describe(e: &keyring::Error) -> VaultError {
    match e {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            VaultError::Unavailable
        }
        other => VaultError::Failed(other.to_string()),
    }
}

impl TokenVault for Keychain {
    fn availability(&self) -> Result<(), VaultError> {
        self.available.clone()
    }

    fn get(&self, account_id: &str) -> Result<Option<Token>, VaultError> {
        match self.entry(account_id)?.get_password() {
            Ok(token) => Ok(Some(Token::new(token))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(describe(&e)),
        }
    }

    fn set(&self, account_id: &str, token: &Token) -> Result<(), VaultError> {
        self.entry(account_id)?
            .set_password(token.expose())
            .map_err(|e| describe(&e))
    }

    fn delete(&self, account_id: &str) -> Result<(), VaultError> {
        match self.entry(account_id)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(describe(&e)),
        }
    }
}

/// A vault in memory: for tests, or to model a machine without a keychain.
#[derive(Debug, Default)]
pub struct MemoryVault {
    tokens: Mutex<HashMap<String, Token>>,
    unavailable: bool,
}

impl MemoryVault {
    /// A working in-memory vault.
    pub fn new() -> Self {
        Self::default()
    }

    /// A vault that refuses everything, like a machine with no keychain.
    pub fn unavailable() -> Self {
        Self {
            tokens: Mutex::default(),
            unavailable: true,
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Token>> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TokenVault for MemoryVault {
    fn availability(&self) -> Result<(), VaultError> {
        if self.unavailable {
            Err(VaultError::Unavailable)
        } else {
            Ok(())
        }
    }

    fn get(&self, account_id: &str) -> Result<Option<Token>, VaultError> {
        self.availability()?;
        Ok(self.tokens().get(account_id).cloned())
    }

    fn set(&self, account_id: &str, token: &Token) -> Result<(), VaultError> {
        self.availability()?;
        self.tokens().insert(account_id.to_owned(), token.clone());
        Ok(())
    }

    fn delete(&self, account_id: &str) -> Result<(), VaultError> {
        self.availability()?;
        self.tokens().remove(account_id);
        Ok(())
    }
}
