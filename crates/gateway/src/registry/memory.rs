//! The embedded session registry: sharded maps in this process. With a store
//! attached, every list it pushes also holds the account's signed-in devices
//! that are offline (read before the shard lock is taken: the lock is never
//! held across an `.await`).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use vestibule_protocol::{Code, Device, KickReason};

use super::{
    DeviceList, Granted, KickOutcome, Mailbox, NewSession, Refused, SessionKey, SessionMsg,
    SessionRegistry, Unreachable, full_list, plan_account_kick, plan_kick, plan_login,
    stored_sessions,
};
use crate::clock::unix_millis;
use crate::policy::DevicePolicy;
use crate::sessions::DeviceSession;
use crate::store::Store;

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

    fn online(&self) -> Vec<Device> {
        self.sessions.iter().map(|e| e.device.clone()).collect()
    }

    /// Pushes the account's full list (online entries plus `stored`, less
    /// `gone`) to every session except `skip`.
    fn push(
        &self,
        stored: Vec<DeviceSession>,
        gone: &[String],
        skip: Option<&str>,
    ) -> Arc<DeviceList> {
        let list = Arc::new(full_list(&self.online(), stored, gone, self.rev));
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
    store: OnceLock<Arc<Store>>,
    /// This (only) node's URL, for `/v1/lbs`.
    url: OnceLock<String>,
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
            store: OnceLock::new(),
            url: OnceLock::new(),
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

    async fn stored(&self, app_key: &str, account: &str) -> Vec<DeviceSession> {
        stored_sessions(self.store.get(), app_key, account).await
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
        let stored = self.stored(&key.0, &key.1).await;
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
        let gone = plan.evicted_ids();
        self.take_out(account, plan.removals);
        let connection_id = session.key.connection_id.clone();
        // Exactly one more: most accounts have one device online, and a
        // `Vec`'s first growth would hold four entries (~1 KiB per account).
        account.sessions.reserve_exact(1);
        account.sessions.push(Entry {
            device: session.device_entry(),
            mailbox: session.mailbox,
        });
        self.sessions.fetch_add(1, Ordering::Relaxed);
        account.rev = self.next_rev();
        let devices = account.push(stored, &gone, Some(&connection_id));
        Ok(Granted {
            devices,
            repeat_login: plan.repeat_login,
            evicted: plan.evicted,
            evicted_devices: plan.evicted_devices,
        })
    }

    async fn remove(&self, key: &SessionKey) -> bool {
        let stored = self.stored(&key.app_key, &key.account).await;
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
            account.push(stored, &[], None);
        }
        true
    }

    async fn kick(
        &self,
        kicker_key: &SessionKey,
        device_ids: &[String],
        guard: Option<Duration>,
    ) -> Result<KickOutcome, Code> {
        let stored = self.stored(&kicker_key.app_key, &kicker_key.account).await;
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
            account.push(stored, &plan.outcome.kicked, None);
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
        let stored = self.stored(app_key, account).await;
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
            state.push(stored, &ids, None);
        }
        Ok(ids)
    }

    async fn devices(&self, app_key: &str, account: &str) -> Arc<DeviceList> {
        let stored = self.stored(app_key, account).await;
        let shard = self.shard(app_key, account);
        let (online, rev) = shard
            .get(&(app_key.to_owned(), account.to_owned()))
            .map_or((Vec::new(), 0), |a| (a.online(), a.rev));
        Arc::new(full_list(&online, stored, &[], rev))
    }

    fn local_sessions(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    fn attach_sessions(&self, store: Arc<Store>) {
        let _ = self.store.set(store);
    }

    fn advertise(&self, url: &str) {
        let _ = self.url.set(url.to_owned());
    }

    async fn live_nodes(&self) -> Result<Vec<String>, Unreachable> {
        Ok(self.url.get().cloned().into_iter().collect())
    }

    async fn refresh(&self, app_key: &str, account: &str) -> Result<(), Unreachable> {
        let stored = self.stored(app_key, account).await;
        let mut shard = self.shard(app_key, account);
        if let Some(state) = shard.get_mut(&(app_key.to_owned(), account.to_owned())) {
            state.rev = self.next_rev();
            state.push(stored, &[], None);
        } else {
            // Nobody online to tell; the next list still gets a higher revision.
            self.next_rev();
        }
        Ok(())
    }

    async fn announce_new_device(&self, app_key: &str, account: &str, device: Device, skip: &str) {
        let device = Arc::new(device);
        let shard = self.shard(app_key, account);
        if let Some(state) = shard.get(&(app_key.to_owned(), account.to_owned())) {
            for entry in &state.sessions {
                if entry.device.connection_id != skip {
                    entry.mailbox.send(SessionMsg::NewDevice(device.clone()));
                }
            }
        }
    }
}
