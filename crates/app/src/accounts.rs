//! Saved accounts and this install's identity, in the config directory.
//! Only server, appKey, account and deviceId are saved; tokens never touch
//! these files. Every write goes to a temporary file that is synced and then
//! renamed over the old one, so a crash leaves either the old file or the new.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The accounts file inside the config directory.
pub const ACCOUNTS_FILE: &str = "accounts.json";
/// The install file inside the config directory.
pub const INSTALL_FILE: &str = "install.json";

/// An account the app remembers (never its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedAccount {
    /// The gateway URL.
    pub url: String,
    /// The app.
    pub app_key: String,
    /// The account name.
    pub account: String,
    /// The deviceId it logs in with.
    pub device_id: String,
    /// Its token is in the keychain and it logs in at start.
    pub remember: bool,
    /// When it was last logged in to (ms since the epoch).
    pub last_used: u64,
    /// Its proxy, without a password (that is in the keychain): absent for
    /// the system's settings, `direct` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}

impl SavedAccount {
    /// The id the UI and commands use.
    pub fn id(&self) -> String {
        account_id(&self.url, &self.app_key, &self.account)
    }

    /// The id an older version kept its token under.
    pub fn legacy_id(&self) -> String {
        legacy_account_id(&self.url, &self.app_key, &self.account)
    }
}

/// The id of an account on a gateway and app: `account@appKey@url`, with `%`
/// and `@` inside each part written as `%25` and `%40`, so no two accounts
/// share an id (it keys the keychain entry too).
pub fn account_id(url: &str, app_key: &str, account: &str) -> String {
    fn part(s: &str) -> String {
        s.replace('%', "%25").replace('@', "%40")
    }
    format!("{}@{}@{}", part(account), part(app_key), part(url))
}

/// The id older versions used (`account@appKey@url` with nothing escaped),
/// to find keychain entries they left.
pub fn legacy_account_id(url: &str, app_key: &str, account: &str) -> String {
    format!("{account}@{app_key}@{url}")
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountsFile {
    version: u32,
    accounts: Vec<SavedAccount>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstallFile {
    device_id: String,
}

/// Why saved data could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system said no.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not what we wrote.
    #[error("{path} is damaged: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// The accounts file.
#[derive(Debug)]
pub struct AccountStore {
    path: PathBuf,
    accounts: Vec<SavedAccount>,
}

impl AccountStore {
    /// Loads the accounts in `config_dir` (none if the file does not exist yet).
    /// A damaged file is set aside as `accounts.json.damaged` rather than lost.
    pub fn load(config_dir: &Path) -> Result<Self, StorageError> {
        let path = config_dir.join(ACCOUNTS_FILE);
        let accounts = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<AccountsFile>(&bytes) {
                Ok(file) => file.accounts,
                Err(source) => {
                    let aside = path.with_extension("json.damaged");
                    tracing::error!(path = %path.display(), error = %source, "accounts file damaged; setting it aside");
                    std::fs::rename(&path, &aside).map_err(|source| StorageError::Io {
                        path: aside.clone(),
                        source,
                    })?;
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(StorageError::Io { path, source }),
        };
        Ok(Self { path, accounts })
    }

    /// Every saved account, oldest first.
    pub fn accounts(&self) -> &[SavedAccount] {
        &self.accounts
    }

    /// The account with this id.
    pub fn get(&self, id: &str) -> Option<&SavedAccount> {
        self.accounts.iter().find(|a| a.id() == id)
    }

    /// The most recently used account.
    pub fn last_used(&self) -> Option<&SavedAccount> {
        self.accounts.iter().max_by_key(|a| a.last_used)
    }

    /// Adds or replaces an account and writes the file.
    pub fn upsert(&mut self, account: SavedAccount) -> Result<(), StorageError> {
        let id = account.id();
        match self.accounts.iter_mut().find(|a| a.id() == id) {
            Some(existing) => *existing = account,
            None => self.accounts.push(account),
        }
        self.save()
    }

    /// Removes an account and writes the file.
    pub fn remove(&mut self, id: &str) -> Result<bool, StorageError> {
        let before = self.accounts.len();
        self.accounts.retain(|a| a.id() != id);
        if self.accounts.len() == before {
            return Ok(false);
        }
        self.save().map(|()| true)
    }

    fn save(&self) -> Result<(), StorageError> {
        let file = AccountsFile {
            version: 1,
            accounts: self.accounts.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|source| StorageError::Corrupt {
            path: self.path.clone(),
            source,
        })?;
        write_atomically(&self.path, &bytes)
    }
}

/// This install's stable deviceId, created on first use.
pub fn install_device_id(config_dir: &Path) -> Result<String, StorageError> {
    let path = config_dir.join(INSTALL_FILE);
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(file) = serde_json::from_slice::<InstallFile>(&bytes)
        && !file.device_id.is_empty()
    {
        return Ok(file.device_id);
    }
    let device_id = format!("desktop-{}", uuid::Uuid::new_v4().simple());
    let bytes = serde_json::to_vec_pretty(&InstallFile {
        device_id: device_id.clone(),
    })
    .map_err(|source| StorageError::Corrupt {
        path: path.clone(),
        source,
    })?;
    write_atomically(&path, &bytes)?;
    Ok(device_id)
}

/// Writes `bytes` to `path` so that a crash at any point leaves either the
/// old content or the new: temp file in the same directory, fsync, rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let io = |source| StorageError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    // Make the rename itself durable.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, used: u64) -> SavedAccount {
        SavedAccount {
            url: "ws://127.0.0.1:1/v1/ws".into(),
            app_key: "demo".into(),
            account: name.into(),
            device_id: "d".into(),
            remember: true,
            last_used: used,
            proxy: None,
        }
    }

    #[test]
    fn account_ids_cannot_collide() {
        // An account or appKey containing '@' must not read as another split.
        assert_ne!(
            account_id("ws://h/v1/ws", "b@c", "a"),
            account_id("ws://h/v1/ws", "c", "a@b")
        );
        assert_ne!(
            account_id("ws://h/v1/ws", "c", "a@b"),
            account_id("b@ws://h/v1/ws", "c", "a")
        );
        assert_ne!(account_id("u", "k%40", "a"), account_id("u", "k@", "a"));
        // Ordinary names read as before.
        assert_eq!(
            account_id("ws://127.0.0.1:7878/v1/ws", "demo", "alice"),
            "alice@demo@ws://127.0.0.1:7878/v1/ws"
        );
    }

    #[test]
    fn accounts_survive_a_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = AccountStore::load(dir.path()).expect("load");
        store.upsert(account("alice", 1)).expect("save");
        store.upsert(account("bob", 2)).expect("save");
        store.upsert(account("alice", 3)).expect("save");
        let store = AccountStore::load(dir.path()).expect("reload");
        let names: Vec<&str> = store
            .accounts()
            .iter()
            .map(|a| a.account.as_str())
            .collect();
        assert_eq!(names, ["alice", "bob"]);
        assert_eq!(store.last_used().map(|a| a.account.as_str()), Some("alice"));
    }

    #[test]
    fn a_damaged_file_is_set_aside_not_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(ACCOUNTS_FILE), b"{ half a file").expect("write");
        let store = AccountStore::load(dir.path()).expect("load");
        assert!(store.accounts().is_empty());
        let aside = std::fs::read(dir.path().join("accounts.json.damaged")).expect("kept");
        assert_eq!(aside, b"{ half a file");
    }

    #[test]
    fn a_crash_mid_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = AccountStore::load(dir.path()).expect("load");
        store.upsert(account("alice", 1)).expect("save");
        let before = std::fs::read(dir.path().join(ACCOUNTS_FILE)).expect("read");
        // A writer that dies after writing half of the new content into its temp file:
        let mut temp = tempfile::NamedTempFile::new_in(dir.path()).expect("temp");
        temp.write_all(&before[..before.len() / 2]).expect("half");
        let (_file, temp_path) = temp.keep().expect("keep as if the process died");
        // The real file is untouched and still loads.
        assert_eq!(
            std::fs::read(dir.path().join(ACCOUNTS_FILE)).expect("read"),
            before
        );
        let store = AccountStore::load(dir.path()).expect("load");
        assert_eq!(store.accounts().len(), 1);
        assert!(temp_path.exists());
    }

    #[test]
    fn the_install_id_is_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = install_device_id(dir.path()).expect("id");
        assert!(first.starts_with("desktop-"));
        assert_eq!(install_device_id(dir.path()).expect("id"), first);
    }
}
