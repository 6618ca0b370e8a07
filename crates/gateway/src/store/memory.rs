//! The store's in-memory backend (`--memory`): nothing survives a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{AccountFlags, AccountKey, App, Apps, Backend, Flag, Flags, StoreError};

/// What the store cannot keep in its caches alone.
#[derive(Debug, Default)]
pub(super) struct MemoryBackend {
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

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        lock(&self.meta).insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}
