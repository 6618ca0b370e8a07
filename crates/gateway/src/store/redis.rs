//! The store's Redis backend, shared by every node of a cluster: apps in the
//! hash `vst:apps`, account flags in `vst:flags`, meta in `vst:meta`, and the
//! last login device per app in `vst:last:{appKey}`.

use std::sync::Arc;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{AccountFlags, App, Apps, Backend, Flags, StoreError};

const APPS: &str = "vst:apps";
const FLAGS: &str = "vst:flags";
const META: &str = "vst:meta";

/// Sets a hash field and returns its previous value, atomically.
const SWAP_LAST: &str = include_str!("swap_last.lua");

pub(super) struct RedisBackend {
    conn: ConnectionManager,
    swap: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisBackend")
    }
}

impl RedisBackend {
    pub(super) async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let (_, conn) = crate::registry::redis::connect(url).await?;
        Ok(Self {
            conn,
            swap: Arc::new(redis::Script::new(SWAP_LAST)),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

fn flags_field(app_key: &str, account: &str) -> String {
    format!("{app_key}:{account}")
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl Backend for RedisBackend {
    async fn load(&self) -> Result<(Apps, Flags), StoreError> {
        let mut apps = Apps::new();
        let stored: Vec<(String, String)> = self.conn().hgetall(APPS).await?;
        for (key, raw) in stored {
            match serde_json::from_str::<App>(&raw) {
                Ok(app) => {
                    apps.insert(key, Arc::new(app));
                }
                Err(e) => tracing::warn!(app = %key, error = %e, "unreadable app in Redis"),
            }
        }
        let mut flags = Flags::new();
        let stored: Vec<(String, String)> = self.conn().hgetall(FLAGS).await?;
        for (field, raw) in stored {
            if let (Some((app, account)), Ok(value)) = (
                field.split_once(':'),
                serde_json::from_str::<AccountFlags>(&raw),
            ) {
                flags.insert((app.to_owned(), account.to_owned()), value);
            }
        }
        Ok((apps, flags))
    }

    async fn insert_app(&self, app: &App) -> Result<(), StoreError> {
        let set: bool = self.conn().hset_nx(APPS, &app.app_key, json(app)?).await?;
        if set {
            Ok(())
        } else {
            Err(StoreError::AppExists(app.app_key.clone()))
        }
    }

    async fn update_app(&self, app: &App) -> Result<(), StoreError> {
        let () = self.conn().hset(APPS, &app.app_key, json(app)?).await?;
        Ok(())
    }

    async fn set_flags(
        &self,
        app_key: &str,
        account: &str,
        flags: AccountFlags,
    ) -> Result<(), StoreError> {
        let field = flags_field(app_key, account);
        if flags == AccountFlags::default() {
            let _: i64 = self.conn().hdel(FLAGS, &field).await?;
        } else {
            let () = self.conn().hset(FLAGS, &field, json(&flags)?).await?;
        }
        Ok(())
    }

    async fn swap_last_login(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .swap
            .key(format!("vst:last:{app_key}"))
            .arg(account)
            .arg(device_id)
            .invoke_async(&mut self.conn())
            .await?)
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.conn().hget(META, key).await?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let () = self.conn().hset(META, key, value).await?;
        Ok(())
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn restore(&self, apps: &Apps, flags: &Flags) -> Result<(), StoreError> {
        for app in apps.values() {
            let _: bool = self
                .conn()
                .hset_nx(APPS, &app.app_key, json(&**app)?)
                .await?;
        }
        for ((app, account), value) in flags {
            let _: bool = self
                .conn()
                .hset_nx(FLAGS, flags_field(app, account), json(value)?)
                .await?;
        }
        Ok(())
    }
}
