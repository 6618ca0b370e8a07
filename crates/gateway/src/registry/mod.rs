//! Who is online: the session registry. It applies the device policy
//! atomically per account, keeps each account's device list and revision, and
//! delivers device-list pushes and kicks to the connections it concerns.
//!
//! [`MemoryRegistry`] is the embedded default; a Redis registry implements the
//! same trait for a cluster of gateways.

mod memory;
pub mod redis;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use std::sync::Mutex;

use std::collections::VecDeque;
use tokio::sync::Notify;
use vestibule_protocol::{ClientInfo, Code, Device, DeviceInfo, KickReason, KickedBy, UnixMillis};

pub use memory::MemoryRegistry;
pub use redis::RedisRegistry;

use crate::policy::{Decision, DevicePolicy, Present, decide};
use crate::sessions::DeviceSession;
use crate::store::Store;

/// What the registry tells a connection.
#[derive(Clone, Debug)]
pub enum SessionMsg {
    /// The account's device list changed.
    Devices(Arc<DeviceList>),
    /// This session was kicked; it has already left the registry.
    Kicked(Arc<KickNotice>),
    /// A newer login of the same deviceId took this session's place; close silently.
    Replaced,
    /// A device of the account signed in for the first time.
    NewDevice(Arc<Device>),
}

/// Where the registry leaves messages for a connection's task. Bounded by
/// what matters, so a client that reads slowly cannot grow the gateway: the
/// session's end (a kick or a replacement — the first one wins) and the newest
/// device list (an older one is worthless once a newer exists). The end is
/// delivered first: it is never stuck behind lists. A `Notify` (≈100 bytes
/// with the slots) rather than an mpsc channel, whose first block alone is
/// ~600 bytes: it is held by every idle connection.
#[derive(Clone, Debug, Default)]
pub struct Mailbox(Arc<MailboxInner>);

#[derive(Debug, Default)]
struct MailboxInner {
    slots: Mutex<Slots>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Slots {
    end: Option<SessionMsg>,
    /// New sign-in alerts (a few: more would be a burst no one reads one by one).
    alerts: VecDeque<Arc<Device>>,
    devices: Option<Arc<DeviceList>>,
}

/// New sign-in alerts kept for a session that has not taken them yet.
const MAX_ALERTS: usize = 8;

impl Mailbox {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.0
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leaves a message (never blocks): a list replaces an older waiting
    /// list; the first end of the session is kept, later ones are moot.
    pub fn send(&self, msg: SessionMsg) {
        {
            let mut slots = self.slots();
            match msg {
                SessionMsg::Devices(list) => {
                    if slots.devices.as_ref().is_none_or(|d| d.rev < list.rev) {
                        slots.devices = Some(list);
                    }
                }
                end @ (SessionMsg::Kicked(_) | SessionMsg::Replaced) => {
                    slots.end.get_or_insert(end);
                }
                SessionMsg::NewDevice(device) => {
                    if slots.alerts.len() == MAX_ALERTS {
                        slots.alerts.pop_front();
                    }
                    slots.alerts.push_back(device);
                }
            }
        }
        self.0.notify.notify_one();
    }

    /// Messages waiting (at most 2).
    pub fn len(&self) -> usize {
        let slots = self.slots();
        usize::from(slots.end.is_some()) + slots.alerts.len() + usize::from(slots.devices.is_some())
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next message: the session's end first, then the newest list.
    /// Cancel-safe: a message is only taken when returned.
    pub async fn recv(&self) -> SessionMsg {
        loop {
            {
                let mut slots = self.slots();
                if let Some(end) = slots.end.take() {
                    return end;
                }
                if let Some(device) = slots.alerts.pop_front() {
                    return SessionMsg::NewDevice(device);
                }
                if let Some(list) = slots.devices.take() {
                    return SessionMsg::Devices(list);
                }
            }
            // notify_one stores a permit when nobody waits, so a message sent
            // between the check above and this await is not missed.
            self.0.notify.notified().await;
        }
    }
}

/// An account's online devices at one revision. Every entry has
/// `current: false`; [`DeviceList::for_connection`] marks the receiver.
///
/// One list is shared (an `Arc`) by every session of the account on a node,
/// and its `devices` frame is encoded once, by the first session that sends
/// it: an account with 200 devices would otherwise clone and encode the
/// 200-entry list 200 times per change.
#[derive(Clone, Debug, Default)]
pub struct DeviceList {
    /// Online devices, oldest login first.
    pub devices: Vec<Device>,
    /// Strictly rising per account.
    pub rev: u64,
    encoded: OnceLock<Option<EncodedList>>,
}

impl PartialEq for DeviceList {
    fn eq(&self, other: &Self) -> bool {
        self.rev == other.rev && self.devices == other.devices
    }
}

impl Eq for DeviceList {}

/// A list's `devices` frame with every `current` false, and where each
/// entry's `false` is, so a receiver's copy is the shared text with its own
/// entry's `false` replaced by `true`.
#[derive(Clone, Debug)]
struct EncodedList {
    text: String,
    /// Per device (same order as `devices`): the byte offset of its `false`.
    current_at: Vec<usize>,
}

/// How an encoded `Device` ends; `current` is its last field.
const NOT_CURRENT: &str = "\"current\":false}";

impl DeviceList {
    /// A list at `rev`.
    pub fn new(devices: Vec<Device>, rev: u64) -> Self {
        Self {
            devices,
            rev,
            encoded: OnceLock::new(),
        }
    }

    /// The list as the connection `connection_id` should see it.
    pub fn for_connection(&self, connection_id: &str) -> Vec<Device> {
        self.devices
            .iter()
            .map(|d| Device {
                current: d.connection_id == connection_id,
                ..d.clone()
            })
            .collect()
    }

    /// The `devices` frame for the connection `connection_id`: the same
    /// text as encoding `ServerFrame::Devices` of
    /// [`for_connection`](Self::for_connection), from the shared encoding.
    pub fn frame_for(&self, connection_id: &str) -> String {
        let Some(encoded) = self.encoded.get_or_init(|| self.encode()) else {
            return self.frame_slow(connection_id);
        };
        let mine = (!connection_id.is_empty())
            .then(|| {
                self.devices
                    .iter()
                    .position(|d| d.connection_id == connection_id)
            })
            .flatten();
        let Some(at) = mine.map(|i| encoded.current_at[i]) else {
            return encoded.text.clone();
        };
        let mut text = String::with_capacity(encoded.text.len());
        text.push_str(&encoded.text[..at]);
        text.push_str("true");
        text.push_str(&encoded.text[at + "false".len()..]);
        text
    }

    fn frame_slow(&self, connection_id: &str) -> String {
        vestibule_protocol::ServerFrame::Devices {
            devices: self.for_connection(connection_id),
            rev: self.rev,
        }
        .encode()
    }

    /// The shared encoding, or `None` if the frame's shape is not the one
    /// expected (then every receiver gets its own, the slow way).
    fn encode(&self) -> Option<EncodedList> {
        // The frame's envelope comes from the frame type itself: split the
        // encoding of the empty list at its `[]`.
        let empty = vestibule_protocol::ServerFrame::Devices {
            devices: Vec::new(),
            rev: self.rev,
        }
        .encode();
        let split = empty.find("[]")? + 1;
        let (head, tail) = empty.split_at(split);
        let mut text = String::with_capacity(head.len() + tail.len() + 400 * self.devices.len());
        text.push_str(head);
        let mut current_at = Vec::with_capacity(self.devices.len());
        for (i, device) in self.devices.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let entry = if device.current {
                serde_json::to_string(&Device {
                    current: false,
                    ..device.clone()
                })
            } else {
                serde_json::to_string(device)
            }
            .ok()?;
            if !entry.ends_with(NOT_CURRENT) {
                return None;
            }
            text.push_str(&entry);
            current_at.push(text.len() - "false}".len());
        }
        text.push_str(tail);
        Some(EncodedList { text, current_at })
    }
}

/// Why and by whom a session was kicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KickNotice {
    /// Why.
    pub reason: KickReason,
    /// Which device caused it.
    pub by: Option<KickedBy>,
}

/// Identifies one session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// The app.
    pub app_key: String,
    /// The account.
    pub account: String,
    /// The session's connection id (unique per login).
    pub connection_id: String,
}

/// A session asking to join the registry.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Who.
    pub key: SessionKey,
    /// From which device.
    pub device: DeviceInfo,
    /// The client's IP as the gateway sees it.
    pub ip: String,
    /// When.
    pub login_time: UnixMillis,
    /// Where to deliver pushes and kicks.
    pub mailbox: Mailbox,
    /// The client program.
    pub client: ClientInfo,
    /// When the device's session began (for the fresh-session guard).
    pub created_at: UnixMillis,
    /// A sign-in with the app's token, not a device coming back with its
    /// session token: the device's own online connection (if any) is not
    /// replaced silently but signed out (`loginElsewhere`), and only when the
    /// fresh-session guard allows it.
    pub takeover: bool,
}

impl NewSession {
    /// The device-list entry for this session.
    pub fn device_entry(&self) -> Device {
        Device {
            device_id: self.device.device_id.clone(),
            device_type: self.device.device_type,
            os: self.device.os.clone(),
            mac: self.device.mac.clone(),
            custom_tag: self.device.custom_tag.clone(),
            connection_id: self.key.connection_id.clone(),
            ip: self.ip.clone(),
            login_time: self.login_time,
            online: true,
            current: false,
            name: None,
            created_at: self.created_at,
            last_active_at: self.login_time,
            client: Some(self.client.clone()),
        }
    }

    /// How this session appears in `kicked.by`.
    pub fn as_kicker(&self) -> KickedBy {
        kicked_by(&self.device_entry())
    }
}

impl SessionMsg {
    /// A kick for `reason`, caused by the device `by` (if a device caused it).
    fn kicked(reason: KickReason, by: Option<KickedBy>) -> Self {
        Self::Kicked(Arc::new(KickNotice { reason, by }))
    }
}

// The planning functions below are the registries' shared logic: pure
// decisions over an account's online devices (in login order), which each
// registry then applies atomically in its own way.

/// How a device appears in `kicked.by`.
fn kicked_by(device: &Device) -> KickedBy {
    KickedBy {
        device_id: device.device_id.clone(),
        device_type: device.device_type,
        os: device.os.clone(),
        ip: device.ip.clone(),
    }
}

/// The sessions an attached store holds for the account (none without one,
/// or when it cannot be read: the list then shows the online devices only).
pub(crate) async fn stored_sessions(
    store: Option<&Arc<Store>>,
    app_key: &str,
    account: &str,
) -> Vec<DeviceSession> {
    let Some(store) = store else {
        return Vec::new();
    };
    match store.sessions(app_key, account).await {
        Ok(sessions) => sessions,
        Err(e) => {
            tracing::warn!(error = %e, "device sessions unreadable; listing online devices only");
            Vec::new()
        }
    }
}

/// The account's list: the online devices, then the stored sessions not
/// online, leaving out `gone` (devices whose sessions this change ends).
pub(crate) fn full_list(
    online: &[Device],
    mut sessions: Vec<DeviceSession>,
    gone: &[String],
    rev: u64,
) -> DeviceList {
    sessions.retain(|s| !gone.contains(&s.device.device_id));
    DeviceList::new(crate::sessions::merge(online, &sessions), rev)
}

/// What a login does to an account's sessions.
#[derive(Debug)]
pub(crate) struct LoginPlan {
    /// Sessions to remove (indexes into the devices planned over), each with
    /// what it is told: kicked by the policy, or silently replaced.
    pub(crate) removals: Vec<(usize, SessionMsg)>,
    /// The same deviceId was online and is replaced.
    pub(crate) repeat_login: bool,
    /// How many sessions the policy kicks.
    pub(crate) evicted: usize,
    /// The devices it kicks, and why (their sessions end).
    pub(crate) evicted_devices: Vec<(String, KickReason)>,
}

impl LoginPlan {
    /// The deviceIds it kicks.
    pub(crate) fn evicted_ids(&self) -> Vec<String> {
        self.evicted_devices
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Applies `policy` to `session` joining an account whose online devices are `devices`.
pub(crate) fn plan_login(
    policy: &DevicePolicy,
    devices: &[&Device],
    session: &NewSession,
) -> Result<LoginPlan, Refused> {
    let same_device = devices
        .iter()
        .position(|d| d.device_id == session.device.device_id);
    // A new sign-in for a device that is online: a takeover, never silent.
    if session.takeover && same_device.is_some() {
        // With the guard, a brand-new sign-in may not sign anyone out; with
        // `rejectNew`, the device already online wins like any other conflict.
        let code = if policy.fresh_session_guard_secs.is_some_and(|secs| secs > 0) {
            Some(Code::Forbidden)
        } else if policy.on_conflict == crate::policy::OnConflict::RejectNew {
            Some(Code::DuplicateLogin)
        } else {
            None
        };
        if let Some(code) = code {
            return Err(Refused {
                code,
                retry_after: None,
            });
        }
    }
    let present: Vec<Present<'_>> = devices
        .iter()
        .map(|d| Present {
            device_id: &d.device_id,
            device_type: d.device_type,
            login_time: d.login_time,
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
            return Err(Refused {
                code,
                retry_after: None,
            });
        }
        Decision::Accept { replace, evict } => (replace, evict),
    };
    let by = session.as_kicker();
    let evicted = evict.len();
    let mut removals: Vec<(usize, SessionMsg)> = evict
        .into_iter()
        .map(|(i, reason)| (i, SessionMsg::kicked(reason, Some(by.clone()))))
        .collect();
    let takeover = session.takeover && replace.is_some();
    if takeover {
        // Visible: the device's own connection is told another sign-in took over.
        removals.extend(replace.map(|i| {
            (
                i,
                SessionMsg::kicked(KickReason::LoginElsewhere, Some(by.clone())),
            )
        }));
    } else {
        removals.extend(replace.map(|i| (i, SessionMsg::Replaced)));
    }
    let evicted_devices = removals
        .iter()
        .filter_map(|(i, msg)| match msg {
            SessionMsg::Kicked(notice) => Some((devices[*i].device_id.clone(), notice.reason)),
            _ => None,
        })
        .collect();
    Ok(LoginPlan {
        removals,
        repeat_login: replace.is_some() && !takeover,
        evicted: evicted + usize::from(takeover),
        evicted_devices,
    })
}

/// What a device's `kick` does.
#[derive(Debug)]
pub(crate) struct KickPlan {
    /// Sessions to sign out (indexes into the devices planned over).
    pub(crate) targets: Vec<usize>,
    /// What each of them is told (`byDevice`, with the kicker).
    pub(crate) notice: SessionMsg,
    /// The answer for the kicker.
    pub(crate) outcome: KickOutcome,
}

/// The session `kicker_connection` signs out `device_ids` among `devices`.
/// 403 when the kicker is not (or no longer) online, or younger than the
/// fresh-session `guard`. Its own device and unknown ids land in `not_found`.
pub(crate) fn plan_kick(
    devices: &[&Device],
    kicker_connection: &str,
    device_ids: &[String],
    guard: Option<Duration>,
) -> Result<KickPlan, Code> {
    let me = devices
        .iter()
        .find(|d| d.connection_id == kicker_connection)
        .ok_or(Code::Forbidden)?;
    if let Some(guard) = guard {
        // The session's age, not the connection's: a reconnect does not reset it.
        let since = if me.created_at > 0 {
            me.created_at
        } else {
            me.login_time
        };
        let age = crate::clock::unix_millis().saturating_sub(since);
        if u128::from(age) < guard.as_millis() {
            return Err(Code::Forbidden);
        }
    }
    let by = kicked_by(me);
    let mut outcome = KickOutcome::default();
    let mut targets = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in device_ids.iter().filter(|id| seen.insert(id.as_str())) {
        match devices
            .iter()
            .position(|d| d.device_id == *id && d.device_id != by.device_id)
        {
            Some(i) => {
                targets.push(i);
                outcome.kicked.push(id.clone());
            }
            None => outcome.not_found.push(id.clone()),
        }
    }
    Ok(KickPlan {
        targets,
        notice: SessionMsg::kicked(KickReason::ByDevice, Some(by)),
        outcome,
    })
}

/// The sessions an admin kick of `device_ids` (every session when `None`) ends, in login order.
pub(crate) fn plan_account_kick(devices: &[&Device], device_ids: Option<&[String]>) -> Vec<usize> {
    let mut targets: Vec<usize> = (0..devices.len())
        .filter(|&i| device_ids.is_none_or(|ids| ids.contains(&devices[i].device_id)))
        .collect();
    targets.sort_by_key(|&i| (devices[i].login_time, i));
    targets
}

/// A login the registry accepted.
#[derive(Clone, Debug)]
pub struct Granted {
    /// The account's devices including the new session.
    pub devices: Arc<DeviceList>,
    /// The same deviceId had a live session that this login replaced.
    pub repeat_login: bool,
    /// How many sessions the policy kicked.
    pub evicted: usize,
    /// The deviceIds the policy kicked, and why (their sessions end).
    pub evicted_devices: Vec<(String, KickReason)>,
}

/// A login the registry refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// 417, 419, or 503 when the registry is unavailable.
    pub code: Code,
    /// For 503: when to try again.
    pub retry_after: Option<Duration>,
}

/// The result of a device's `kick`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KickOutcome {
    /// deviceIds that were signed out.
    pub kicked: Vec<String>,
    /// deviceIds with no online session of this account (and the kicker's own).
    pub not_found: Vec<String>,
}

/// The registry's backing store could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the session registry is unreachable")]
pub struct Unreachable;

/// The session registry.
#[async_trait]
pub trait SessionRegistry: Send + Sync + std::fmt::Debug {
    /// Applies `policy` and adds the session, kicking or replacing others as
    /// the policy says, and pushes the new list to the account's other sessions.
    async fn login(&self, policy: &DevicePolicy, session: NewSession) -> Result<Granted, Refused>;

    /// Removes a session (logout, drop, expiry) if it is still registered, and
    /// pushes the new list. Returns whether it was there.
    async fn remove(&self, key: &SessionKey) -> bool;

    /// The session `kicker` signs out other devices of its own account.
    /// `guard`: a kicker younger than this is refused with 403.
    async fn kick(
        &self,
        kicker: &SessionKey,
        device_ids: &[String],
        guard: Option<Duration>,
    ) -> Result<KickOutcome, Code>;

    /// Signs out the given devices of an account (all when `None`) with
    /// `reason`, on every node. Returns the deviceIds signed out, or
    /// [`Unreachable`] when the registry could not be reached (nothing was done).
    async fn kick_account(
        &self,
        app_key: &str,
        account: &str,
        device_ids: Option<&[String]>,
        reason: KickReason,
    ) -> Result<Vec<String>, Unreachable>;

    /// The account's online devices.
    async fn devices(&self, app_key: &str, account: &str) -> Arc<DeviceList>;

    /// Sessions held by this gateway process.
    fn local_sessions(&self) -> usize;

    /// Whether the registry's backing store answered the last time it was
    /// asked (`/healthz` reports it; while false, logins get 503).
    fn healthy(&self) -> bool {
        true
    }

    /// Where the account's device sessions are kept: from then on every list
    /// this registry pushes also lists the signed-in devices that are offline.
    fn attach_sessions(&self, store: Arc<Store>);

    /// Pushes the account's list again under a new revision, after a change
    /// the registry did not make (a rename, an offline device signed out or expired).
    async fn refresh(&self, app_key: &str, account: &str) -> Result<(), Unreachable>;

    /// Tells the account's online devices, except `skip`, that `device` signed in.
    async fn announce_new_device(&self, app_key: &str, account: &str, device: Device, skip: &str);

    /// The URL clients reach this node at: listed by `GET /v1/lbs` while
    /// the node is alive.
    fn advertise(&self, url: &str);

    /// The URLs of the live nodes (their leases current), this one first.
    async fn live_nodes(&self) -> Result<Vec<String>, Unreachable>;

    /// The gateway is stopping (its sessions are already gone).
    async fn shutdown(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(rev: u64) -> SessionMsg {
        SessionMsg::Devices(Arc::new(DeviceList::new(Vec::new(), rev)))
    }

    fn device(i: usize, online: bool) -> Device {
        Device {
            device_id: format!("dev-{i} \"quoted\" ünï"),
            device_type: vestibule_protocol::DeviceType::Pc,
            os: "Linux".to_owned(),
            mac: i
                .is_multiple_of(2)
                .then(|| format!("02:00:00:00:00:{i:02x}")),
            custom_tag: i.is_multiple_of(3).then(|| "tag\n}]".to_owned()),
            connection_id: if online {
                format!("c{i}")
            } else {
                String::new()
            },
            ip: "10.0.0.1".to_owned(),
            login_time: 1_700_000_000_000 + i as u64,
            online,
            name: i
                .is_multiple_of(4)
                .then(|| "Desk \"current\":false}".to_owned()),
            created_at: 1_600_000_000_000,
            last_active_at: 1_700_000_000_500,
            client: (i % 2 == 1).then(|| ClientInfo {
                name: "vestibule-desktop".to_owned(),
                version: "0.3.0".to_owned(),
            }),
            current: false,
        }
    }

    /// The shared encoding gives each receiver exactly the text encoding
    /// its own list would: its entry, and only its, is `current`.
    #[test]
    fn a_shared_device_list_frame_is_what_each_receiver_would_encode() {
        let devices: Vec<Device> = (0..7).map(|i| device(i, i < 5)).collect();
        for list in [
            DeviceList::new(devices.clone(), 42),
            DeviceList::new(Vec::new(), 1),
            DeviceList::new(devices[..1].to_vec(), u64::MAX),
        ] {
            let receivers = list
                .devices
                .iter()
                .filter(|d| d.online)
                .map(|d| d.connection_id.clone())
                .chain(["not-listed".to_owned()]);
            for id in receivers {
                let expected = vestibule_protocol::ServerFrame::Devices {
                    devices: list.for_connection(&id),
                    rev: list.rev,
                }
                .encode();
                assert_eq!(list.frame_for(&id), expected, "receiver {id:?}");
            }
            assert!(
                list.encoded.get().is_some_and(Option::is_some),
                "the list was encoded once and shared"
            );
        }
    }

    #[tokio::test]
    async fn a_mailbox_nobody_reads_stays_small_and_a_kick_jumps_the_queue() {
        let mailbox = Mailbox::new();
        for rev in 1..=10_000 {
            mailbox.send(list(rev));
        }
        mailbox.send(SessionMsg::kicked(KickReason::Banned, None));
        for rev in 10_001..=10_010 {
            mailbox.send(list(rev));
        }
        assert!(mailbox.len() <= 2, "holds {} messages", mailbox.len());
        // The kick first, then only the newest list.
        assert!(
            matches!(mailbox.recv().await, SessionMsg::Kicked(n) if n.reason == KickReason::Banned)
        );
        assert!(matches!(mailbox.recv().await, SessionMsg::Devices(l) if l.rev == 10_010));
        assert_eq!(mailbox.len(), 0);
    }

    #[tokio::test]
    async fn an_older_list_never_replaces_a_newer_one() {
        let mailbox = Mailbox::new();
        mailbox.send(list(5));
        mailbox.send(list(3));
        assert!(matches!(mailbox.recv().await, SessionMsg::Devices(l) if l.rev == 5));
    }
}
