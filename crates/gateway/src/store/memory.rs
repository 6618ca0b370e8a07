//! The store's in-memory backend (`--memory`): nothing survives a restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use vestibule_protocol::{SessionEnd, UnixMillis};

use super::{AccountFlags, AccountKey, App, Apps, Backend, Flag, Flags, SessionChange, StoreError};
use crate::sessions::DeviceSession;

/// Sessions by app, then account: an account's sessions are one lookup
/// (device lists read them on every change) and lookups by `&str` allocate
/// nothing. An account has a few devices, so they sit in a `Vec` sized
/// exactly (most accounts have one: a map per account would cost more than
/// the session itself).
type Sessions = HashMap<String, HashMap<String, Vec<DeviceSession>>>;

fn find<'a>(devices: &'a [DeviceSession], device_id: &str) -> Option<&'a DeviceSession> {
    devices.iter().find(|s| s.device.device_id == device_id)
}

/// A session as this backend keeps it: without its app and account (the
/// maps' keys), two allocations less per signed-in device.
fn packed(session: &DeviceSession) -> DeviceSession {
    DeviceSession {
        app_key: String::new(),
        account: String::new(),
        ..session.clone()
    }
}

/// A kept session as callers see it, app and account filled in.
fn unpacked(mut session: DeviceSession, app_key: &str, account: &str) -> DeviceSession {
    app_key.clone_into(&mut session.app_key);
    account.clone_into(&mut session.account);
    session
}

/// How sessions ended, by token hash, oldest first out: kept 30 days, and
/// at most this many (a very late replay is then merely unknown).
const MAX_REVOCATIONS: usize = 100_000;

#[derive(Debug, Default)]
struct Revocations {
    by_hash: HashMap<String, SessionEnd>,
    order: VecDeque<(UnixMillis, String)>,
}

impl Revocations {
    fn insert(&mut self, hash: String, end: SessionEnd) {
        let oldest = end.at.saturating_sub(crate::sessions::REVOCATION_KEPT_MS);
        while let Some((at, front)) = self.order.front() {
            if *at >= oldest && self.order.len() < MAX_REVOCATIONS {
                break;
            }
            if self.by_hash.get(front).is_some_and(|e| e.at == *at) {
                self.by_hash.remove(front);
            }
            self.order.pop_front();
        }
        self.order.push_back((end.at, hash.clone()));
        self.by_hash.insert(hash, end);
    }
}

/// What the store cannot keep in its caches alone.
#[derive(Debug, Default)]
pub(super) struct MemoryBackend {
    sessions: Mutex<Sessions>,
    revocations: Mutex<Revocations>,
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
            .get(app_key)
            .and_then(|a| a.get(account))
            .and_then(|d| find(d, device_id))
            .map(|s| unpacked(s.clone(), app_key, account)))
    }

    async fn sessions(
        &self,
        app_key: &str,
        account: &str,
    ) -> Result<Vec<DeviceSession>, StoreError> {
        Ok(lock(&self.sessions)
            .get(app_key)
            .and_then(|a| a.get(account))
            .map(|d| {
                d.iter()
                    .map(|s| unpacked(s.clone(), app_key, account))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn put_session(&self, session: &DeviceSession) -> Result<(), StoreError> {
        let mut sessions = lock(&self.sessions);
        let devices = sessions
            .entry(session.app_key.clone())
            .or_default()
            .entry(session.account.clone())
            .or_default();
        match devices
            .iter_mut()
            .find(|s| s.device.device_id == session.device.device_id)
        {
            Some(slot) => *slot = packed(session),
            None => {
                devices.reserve_exact(1);
                devices.push(packed(session));
            }
        }
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
            .get_mut(app_key)
            .and_then(|a| a.get_mut(account))
            .and_then(|d| d.iter_mut().find(|s| s.device.device_id == device_id))
            .map(|s| {
                change.apply(s);
                unpacked(s.clone(), app_key, account)
            }))
    }

    async fn end_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        end: &SessionEnd,
    ) -> Result<Option<DeviceSession>, StoreError> {
        let ended = {
            let mut sessions = lock(&self.sessions);
            let accounts = sessions.get_mut(app_key);
            accounts.and_then(|a| {
                let devices = a.get_mut(account)?;
                let at = devices
                    .iter()
                    .position(|s| s.device.device_id == device_id)?;
                let ended = devices.swap_remove(at);
                if devices.is_empty() {
                    a.remove(account);
                } else {
                    devices.shrink_to_fit();
                }
                Some(unpacked(ended, app_key, account))
            })
        };
        if let Some(s) = &ended {
            lock(&self.revocations).insert(s.token_hash.clone(), end.clone());
        }
        Ok(ended)
    }

    async fn revocation(&self, token_hash: &str) -> Result<Option<SessionEnd>, StoreError> {
        Ok(lock(&self.revocations).by_hash.get(token_hash).cloned())
    }

    async fn due_sessions(&self, now: UnixMillis) -> Result<Vec<DeviceSession>, StoreError> {
        Ok(lock(&self.sessions)
            .iter()
            .flat_map(|(app_key, accounts)| {
                accounts.iter().flat_map(move |(account, devices)| {
                    devices
                        .iter()
                        .filter(move |s| s.expires_at.is_some_and(|e| e <= now))
                        .map(move |s| unpacked(s.clone(), app_key, account))
                })
            })
            .collect())
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        lock(&self.meta).insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestibule_protocol::EndReason;

    fn end(at: UnixMillis) -> SessionEnd {
        SessionEnd {
            reason: EndReason::LoggedOut,
            by: None,
            at,
        }
    }

    #[test]
    fn revocations_are_bounded_and_age_out_oldest_first() {
        let mut r = Revocations::default();
        for i in 0..(MAX_REVOCATIONS as u64 + 10) {
            r.insert(format!("h{i}"), end(1_000 + i));
        }
        assert_eq!(r.by_hash.len(), MAX_REVOCATIONS);
        assert!(!r.by_hash.contains_key("h0"), "the oldest went first");
        assert!(r.by_hash.contains_key(&format!("h{}", MAX_REVOCATIONS + 9)));
        // Thirty days later, everything before is gone at the next insert.
        r.insert(
            "late".into(),
            end(1_000 + crate::sessions::REVOCATION_KEPT_MS + 200_000),
        );
        assert_eq!(r.by_hash.len(), 1, "{}", r.by_hash.len());
        assert!(r.by_hash.contains_key("late"));
    }
}
