//! The embedded session registry: sharded maps in this process.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use vestibule_protocol::{Code, Device, KickReason};

use super::{
    DeviceList, Granted, KickOutcome, Mailbox, NewSession, Refused, SessionKey, SessionMsg,
    SessionRegistry, Unreachable, plan_account_kick, plan_kick, plan_login,
};
use crate::clock::unix_millis;
use crate::policy::DevicePolicy;

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
    fn devices(&self) -> Vec<&Device> {
        self.sessions.iter().map(|e| &e.device).collect()
    }

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
    fn take_out(&self, account: &mut Account, mut indexes: Vec<(usize, SessionMsg)>) {
        indexes.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
        self.sessions.fetch_sub(indexes.len(), Ordering::Relaxed);
        for (i, msg) in indexes {
            account.sessions.remove(i).mailbox.send(msg);
        }
    }
}

#[async_trait]
impl SessionRegistry for MemoryRegistry {
    async fn login(&self, policy: &DevicePolicy, session: NewSession) -> Result<Granted, Refused> {
        let key = (session.key.app_key.clone(), session.key.account.clone());
        let mut shard = self.shard(&key.0, &key.1);
        let account = shard.entry(key.clone()).or_default();
        let plan = match plan_login(policy, &account.devices(), &session) {
            Ok(plan) => plan,
            Err(refused) => {
                if account.sessions.is_empty() {
                    shard.remove(&key);
                }
                return Err(refused);
            }
        };
        self.take_out(account, plan.removals);
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
            repeat_login: plan.repeat_login,
            evicted: plan.evicted,
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
        let plan = plan_kick(
            &account.devices(),
            &kicker_key.connection_id,
            device_ids,
            guard,
        )?;
        if !plan.targets.is_empty() {
            let targets = plan
                .targets
                .iter()
                .map(|&i| (i, plan.notice.clone()))
                .collect();
            self.take_out(account, targets);
            account.rev = self.next_rev();
            account.push(None);
        }
        Ok(plan.outcome)
    }

    async fn kick_account(
        &self,
        app_key: &str,
        account: &str,
        device_ids: Option<&[String]>,
        reason: KickReason,
    ) -> Result<Vec<String>, Unreachable> {
        let account_key = (app_key.to_owned(), account.to_owned());
        let mut shard = self.shard(app_key, account);
        let Some(state) = shard.get_mut(&account_key) else {
            return Ok(Vec::new());
        };
        let targets = plan_account_kick(&state.devices(), device_ids);
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = targets
            .iter()
            .map(|&i| state.sessions[i].device.device_id.clone())
            .collect();
        let notice = SessionMsg::kicked(reason, None);
        self.take_out(
            state,
            targets.into_iter().map(|i| (i, notice.clone())).collect(),
        );
        if state.sessions.is_empty() {
            shard.remove(&account_key);
        } else {
            state.rev = self.next_rev();
            state.push(None);
        }
        Ok(ids)
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
