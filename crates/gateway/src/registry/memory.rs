//! The embedded session registry: sharded maps in this process.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use vestibule_protocol::{Code, Device, KickReason};

use super::{
    DeviceList, Granted, KickNotice, KickOutcome, Mailbox, NewSession, Refused, SessionKey,
    SessionMsg, SessionRegistry,
};
use crate::clock::unix_millis;
use crate::policy::{Decision, DevicePolicy, Present, decide};

const SHARDS: usize = 64;

type AccountKey = (String, String);

#[derive(Debug)]
struct Entry {
    device: Device,
    mailbox: Mailbox,
}

#[derive(Debug, Default)]
struct Account {
    sessions: Vec<Entry>,
    rev: u64,
}

impl Account {
    fn list(&self) -> Arc<DeviceList> {
        Arc::new(DeviceList {
            devices: self.sessions.iter().map(|e| e.device.clone()).collect(),
            rev: self.rev,
        })
    }

    /// Pushes the current list to every session except `skip`.
    fn push(&self, skip: Option<&str>) -> Arc<DeviceList> {
        let list = self.list();
        for entry in &self.sessions {
            if Some(entry.device.connection_id.as_str()) != skip {
                entry.mailbox.send(SessionMsg::Devices(list.clone()));
            }
        }
        list
    }
}

/// Sessions of this process, sharded by account.
#[derive(Debug)]
pub struct MemoryRegistry {
    shards: Box<[Mutex<HashMap<AccountKey, Account>>]>,
    hasher: RandomState,
    rev: AtomicU64,
    sessions: AtomicUsize,
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRegistry {
    /// An empty registry. Revisions start from the wall clock in microseconds,
    /// so they keep rising across gateway restarts.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            rev: AtomicU64::new(unix_millis().saturating_mul(1000)),
            sessions: AtomicUsize::new(0),
        }
    }

    fn shard(&self, app_key: &str, account: &str) -> MutexGuard<'_, HashMap<AccountKey, Account>> {
        let index = self.hasher.hash_one((app_key, account)) as usize % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn next_rev(&self) -> u64 {
        self.rev.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Removes the sessions at `indexes`, sending each its message.
    fn take_out(&self, account: &mut Account, mut indexes: Vec<(usize, SessionMsg)>) -> Vec<Entry> {
        indexes.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
        let mut removed = Vec::with_capacity(indexes.len());
        for (i, msg) in indexes {
            let entry = account.sessions.remove(i);
            entry.mailbox.send(msg);
            removed.push(entry);
        }
        self.sessions.fetch_sub(removed.len(), Ordering::Relaxed);
        removed
    }
}

#[async_trait]
impl SessionRegistry for MemoryRegistry {
    async fn login(&self, policy: &DevicePolicy, session: NewSession) -> Result<Granted, Refused> {
        let key = (session.key.app_key.clone(), session.key.account.clone());
        let mut shard = self.shard(&key.0, &key.1);
        let account = shard.entry(key).or_default();
        let present: Vec<Present<'_>> = account
            .sessions
            .iter()
            .map(|e| Present {
                device_id: &e.device.device_id,
                device_type: e.device.device_type,
                login_time: e.device.login_time,
            })
            .collect();
        let decision = decide(
            policy,
            &present,
            &session.device.device_id,
            session.device.device_type,
        );
        let (replace, evict) = match decision {
            Decision::Reject(code) => {
                if account.sessions.is_empty() {
                    let key = (session.key.app_key.clone(), session.key.account.clone());
                    shard.remove(&key);
                }
                return Err(Refused {
                    code,
                    retry_after: None,
                });
            }
            Decision::Accept { replace, evict } => (replace, evict),
        };
        let by = session.as_kicker();
        let evicted = evict.len();
        let mut out: Vec<(usize, SessionMsg)> = evict
            .into_iter()
            .map(|(i, reason)| {
                let notice = KickNotice {
                    reason,
                    by: Some(by.clone()),
                };
                (i, SessionMsg::Kicked(Arc::new(notice)))
            })
            .collect();
        out.extend(replace.map(|i| (i, SessionMsg::Replaced)));
        self.take_out(account, out);
        let connection_id = session.key.connection_id.clone();
        account.sessions.push(Entry {
            device: session.device_entry(),
            mailbox: session.mailbox,
        });
        self.sessions.fetch_add(1, Ordering::Relaxed);
        account.rev = self.next_rev();
        let devices = account.push(Some(&connection_id));
        Ok(Granted {
            devices,
            repeat_login: replace.is_some(),
            evicted,
        })
    }

    async fn remove(&self, key: &SessionKey) -> bool {
        let account_key = (key.app_key.clone(), key.account.clone());
        let mut shard = self.shard(&key.app_key, &key.account);
        let Some(account) = shard.get_mut(&account_key) else {
            return false;
        };
        let Some(i) = account
            .sessions
            .iter()
            .position(|e| e.device.connection_id == key.connection_id)
        else {
            return false;
        };
        account.sessions.remove(i);
        self.sessions.fetch_sub(1, Ordering::Relaxed);
        if account.sessions.is_empty() {
            shard.remove(&account_key);
        } else {
            account.rev = self.next_rev();
            account.push(None);
        }
        true
    }

    async fn kick(
        &self,
        kicker_key: &SessionKey,
        device_ids: &[String],
        guard: Option<Duration>,
    ) -> Result<KickOutcome, Code> {
        let account_key = (kicker_key.app_key.clone(), kicker_key.account.clone());
        let mut shard = self.shard(&kicker_key.app_key, &kicker_key.account);
        let Some(account) = shard.get_mut(&account_key) else {
            return Err(Code::Forbidden);
        };
        let by = super::authorize_kicker(
            account.sessions.iter().map(|e| &e.device),
            &kicker_key.connection_id,
            guard,
        )?;
        let mut outcome = KickOutcome::default();
        let mut targets = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in device_ids.iter().filter(|id| seen.insert(id.as_str())) {
            let found = account
                .sessions
                .iter()
                .position(|e| e.device.device_id == *id && e.device.device_id != by.device_id);
            match found {
                Some(i) if !targets.iter().any(|(t, _)| *t == i) => {
                    let notice = KickNotice {
                        reason: KickReason::ByDevice,
                        by: Some(by.clone()),
                    };
                    targets.push((i, SessionMsg::Kicked(Arc::new(notice))));
                    outcome.kicked.push(id.clone());
                }
                Some(_) => {}
                None => outcome.not_found.push(id.clone()),
            }
        }
        if !targets.is_empty() {
            self.take_out(account, targets);
            account.rev = self.next_rev();
            account.push(None);
        }
        Ok(outcome)
    }

    async fn kick_account(
        &self,
        app_key: &str,
        account: &str,
        device_ids: Option<&[String]>,
        reason: KickReason,
    ) -> Vec<String> {
        let account_key = (app_key.to_owned(), account.to_owned());
        let mut shard = self.shard(app_key, account);
        let Some(state) = shard.get_mut(&account_key) else {
            return Vec::new();
        };
        let mut targets: Vec<(usize, SessionMsg)> = state
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, e)| device_ids.is_none_or(|ids| ids.contains(&e.device.device_id)))
            .map(|(i, _)| {
                (
                    i,
                    SessionMsg::Kicked(Arc::new(KickNotice { reason, by: None })),
                )
            })
            .collect();
        if targets.is_empty() {
            return Vec::new();
        }
        targets.sort_by_key(|(i, _)| *i);
        let removed = self.take_out(state, targets);
        if state.sessions.is_empty() {
            shard.remove(&account_key);
        } else {
            state.rev = self.next_rev();
            state.push(None);
        }
        // take_out removes from the back; report in login order.
        removed
            .into_iter()
            .rev()
            .map(|e| e.device.device_id)
            .collect()
    }

    async fn devices(&self, app_key: &str, account: &str) -> Arc<DeviceList> {
        let shard = self.shard(app_key, account);
        shard
            .get(&(app_key.to_owned(), account.to_owned()))
            .map(Account::list)
            .unwrap_or_default()
    }

    fn local_sessions(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }
}
