//! The store's in-memory backend (`--memory`): nothing survives a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use vestibule_protocol::{SessionEnd, UnixMillis};

use super::{AccountFlags, AccountKey, App, Apps, Backend, Flag, Flags, SessionChange, StoreError};
use crate::sessions::DeviceSession;

fn key(app_key: &str, account: &str, device_id: &str) -> (String, String, String) {
    (app_key.to_owned(), account.to_owned(), device_id.to_owned())
}

/// What the store cannot keep in its caches alone.
#[derive(Debug, Default)]
pub(super) struct MemoryBackend {
    sessions: Mutex<HashMap<(String, String, String), DeviceSession>>,
    revocations: Mutex<HashMap<String, SessionEnd>>,
    /// The one copy the field-by-field updates apply to (the store's cache follows it).
    flags: Mutex<Flags>,
    last_login: Mutex<HashMap<AccountKey, String>>,
    meta: Mutex<HashMap<String, String>>,
}

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn load(&self) -> Result<(Apps, Flags), StoreError> {
        Ok((Apps::new(), Flags::new()))
    }

    async fn insert_app(&self, _app: &App) -> Result<(), StoreError> {
        Ok(())
    }

    async fn update_app(&self, _app: &App) -> Result<(), StoreError> {
        Ok(())
    }

    async fn set_flag(
        &self,
        app_key: &str,
        account: &str,
        flag: Flag,
        on: bool,
    ) -> Result<AccountFlags, StoreError> {
        let mut flags = lock(&self.flags);
        let entry = flags
            .entry((app_key.to_owned(), account.to_owned()))
            .or_default();
        *entry = entry.with(flag, on);
        Ok(*entry)
    }

    async fn swap_last_login(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = (app_key.to_owned(), account.to_owned());
        Ok(lock(&self.last_login).insert(key, device_id.to_owned()))
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.meta).get(key).cloned())
    }

    async fn session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<DeviceSession>, StoreError> {
        Ok(lock(&self.sessions)
            .get(&key(app_key, account, device_id))
            .cloned())
    }

    async fn sessions(
        &self,
        app_key: &str,
        account: &str,
    ) -> Result<Vec<DeviceSession>, StoreError> {
        Ok(lock(&self.sessions)
            .values()
            .filter(|s| s.app_key == app_key && s.account == account)
            .cloned()
            .collect())
    }

    async fn put_session(&self, session: &DeviceSession) -> Result<(), StoreError> {
        lock(&self.sessions).insert(
            key(
                &session.app_key,
                &session.account,
                &session.device.device_id,
            ),
            session.clone(),
        );
        Ok(())
    }

    async fn update_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        change: &SessionChange,
    ) -> Result<Option<DeviceSession>, StoreError> {
        let mut sessions = lock(&self.sessions);
        Ok(sessions
            .get_mut(&key(app_key, account, device_id))
            .map(|s| {
                change.apply(s);
                s.clone()
            }))
    }

    async fn end_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        end: &SessionEnd,
    ) -> Result<Option<DeviceSession>, StoreError> {
        let ended = lock(&self.sessions).remove(&key(app_key, account, device_id));
        if let Some(s) = &ended {
            let mut revocations = lock(&self.revocations);
            if revocations.len() >= 10_000 {
                let oldest = end.at.saturating_sub(crate::sessions::REVOCATION_KEPT_MS);
                revocations.retain(|_, e| e.at >= oldest);
            }
            revocations.insert(s.token_hash.clone(), end.clone());
        }
        Ok(ended)
    }

    async fn revocation(&self, token_hash: &str) -> Result<Option<SessionEnd>, StoreError> {
        Ok(lock(&self.revocations).get(token_hash).cloned())
    }

    async fn due_sessions(&self, now: UnixMillis) -> Result<Vec<DeviceSession>, StoreError> {
        Ok(lock(&self.sessions)
            .values()
            .filter(|s| s.expires_at.is_some_and(|e| e <= now))
            .cloned()
            .collect())
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        lock(&self.meta).insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}
