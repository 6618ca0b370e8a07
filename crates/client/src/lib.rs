//! Vestibule's connection manager: what NIM's and TIM's web SDKs do at login,
//! as a Rust library with no UI in it.
//!
//! - [`Vestibule::instance`] returns one [`Client`] per (gateway URL, appKey,
//!   account), like NIM's `getInstance`; several accounts can be live at once.
//! - Each instance is one task that owns its socket. The policy (when to
//!   retry, when to stop) is the pure [`machine::Machine`]; the task only does I/O.
//! - State is published as a [`Snapshot`] in a `watch` and as [`Event`]s;
//!   [`Client::ready`] waits for the login or says how it ended.
//!
//! NIM's getInstance → onconnect → ondisconnect, in Rust:
//!
//! ```no_run
//! use std::time::Duration;
//! use vestibule_client::{ClientOptions, Event, Vestibule};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let options = ClientOptions::builder("ws://127.0.0.1:7878/v1/ws", "demo", "alice", "TOKEN", "alice-desk")
//!     .build()?;
//! let client = Vestibule::global().instance(options)?; // getInstance: starts connecting
//! let mut events = client.subscribe(); // never misses the first Connected
//! let info = client.ready(Duration::from_secs(10)).await?; // onconnect
//! println!("connected from {}:{}", info.ip, info.port);
//! while let Ok(event) = events.recv().await {
//!     match event {
//!         Event::WillReconnect { retry_count, delay } => println!("retry {retry_count} in {delay:?}"),
//!         Event::Disconnected { info } => {
//!             println!("{info}"); // ondisconnect: "signed out by phone-1 (iOS, ...)"
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! client.destroy().await?; // resolves once the socket is closed
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod actor;
pub mod backoff;
mod dial;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod hub;
mod lbs;
pub mod machine;
mod model;
mod options;
#[cfg(all(feature = "os", target_os = "linux"))]
pub mod os;
pub mod pairing;
mod proxy;
mod render;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

pub use crate::backoff::BackoffConfig;
pub use crate::dial::{connect_error_cause, login_frame};
pub use crate::error::{ClientError, ReadyError};
pub use crate::hub::Events;
pub use crate::model::{
    DisconnectInfo, DisconnectReason, Event, KickResult, LoginInfo, NetState, RetryInfo, Snapshot,
    Status,
};
pub use crate::options::{
    ClientOptions, ClientOptionsBuilder, OptionsUpdate, Timing, TokenProvider, WallClock,
    os_description,
};
pub use crate::proxy::{Proxy, redacted as redacted_url};
pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};
pub use vestibule_protocol::{
    ClientInfo, Device, DeviceInfo, DeviceType, EndReason, KickReason, KickedBy, PairRequester,
    SessionEnd, Token,
};

use crate::actor::{Actor, Command};
use crate::backoff::Backoff;
use crate::hub::Hub;
use crate::machine::Machine;

/// Identifies an instance: one per gateway, app and account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InstanceKey {
    /// The gateway URL.
    pub url: String,
    /// The app.
    pub app_key: String,
    /// The account.
    pub account: String,
}

type Instances = Mutex<HashMap<InstanceKey, Client>>;

/// A registry of instances. Most programs use [`Vestibule::global`]; tests and
/// programs that simulate several devices make their own with [`Vestibule::new`].
#[derive(Clone, Debug, Default)]
pub struct Vestibule {
    instances: Arc<Instances>,
    /// The OS said there is no network (see [`Vestibule::network_changed`]).
    offline: Arc<std::sync::atomic::AtomicBool>,
}

impl Vestibule {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide registry.
    pub fn global() -> &'static Vestibule {
        static GLOBAL: OnceLock<Vestibule> = OnceLock::new();
        GLOBAL.get_or_init(Vestibule::new)
    }

    /// The instance for `options`' (url, appKey, account), created and started
    /// on first use. A later call returns the same handle, applies the new
    /// options (a new token, customTag, timing) and, when `auto_connect` is
    /// set and the instance is not connected, connects it again.
    ///
    /// Must be called inside a tokio runtime.
    pub fn instance(&self, options: ClientOptions) -> Result<Client, ClientError> {
        options.validate()?;
        let key = InstanceKey {
            url: options.url.clone(),
            app_key: options.app_key.clone(),
            account: options.account.clone(),
        };
        let mut instances = self.lock();
        if let Some(existing) = instances.get(&key).filter(|c| c.is_alive()) {
            let update = OptionsUpdate::from_options(&options);
            existing.send(Command::SetOptions(Box::new(update), None));
            if options.auto_connect {
                existing.send(Command::Connect);
            }
            return Ok(existing.clone());
        }
        let offline = self.offline.load(std::sync::atomic::Ordering::SeqCst);
        let client = Client::spawn(
            key.clone(),
            options,
            Arc::downgrade(&self.instances),
            offline,
        );
        instances.insert(key, client.clone());
        Ok(client)
    }

    /// The OS network went away (`false`) or came back or changed (`true`):
    /// tells every instance whose gateway is not on this machine, and
    /// instances made later start knowing it. Offline, instances make no
    /// attempts and count nothing down (*No network*); back, they dial at once.
    /// [`os::watch`] calls this from the OS's own events.
    pub fn network_changed(&self, up: bool) {
        self.offline.store(!up, std::sync::atomic::Ordering::SeqCst);
        for client in self.instances() {
            if !client.shared.local {
                client.network_changed(up);
            }
        }
    }

    /// The machine woke from sleep: every instance checks its socket, or
    /// dials at once if it was waiting to retry.
    pub fn woke(&self) {
        for client in self.instances() {
            client.send(Command::Woke);
        }
    }

    /// The instance for this gateway, app and account, if there is one.
    pub fn get(&self, url: &str, app_key: &str, account: &str) -> Option<Client> {
        let key = InstanceKey {
            url: url.to_owned(),
            app_key: app_key.to_owned(),
            account: account.to_owned(),
        };
        self.lock().get(&key).cloned()
    }

    /// Every live instance.
    pub fn instances(&self) -> Vec<Client> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceKey, Client>> {
        self.instances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A handle to one instance. Cheap to clone; every clone drives the same actor.
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    key: InstanceKey,
    commands: mpsc::UnboundedSender<Command>,
    hub: Arc<Hub>,
    session: actor::SessionSlot,
    registry: Weak<Instances>,
    /// Every gateway is on this machine: the OS network does not matter.
    local: bool,
    /// The live nodes the cluster's LBS named last.
    gateways: actor::Gateways,
}

impl Client {
    fn spawn(
        key: InstanceKey,
        options: ClientOptions,
        registry: Weak<Instances>,
        offline: bool,
    ) -> Self {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(Hub::new(Actor::initial_snapshot(&options)));
        let local = options.gateways_are_local();
        let mut machine = Machine::new(
            Backoff::new(options.timing.backoff).with_provider(options.reconnect_delay.clone()),
        );
        if offline && !local {
            machine.on(machine::Input::NetworkDown, 0);
        }
        let auto_connect = options.auto_connect;
        let session = actor::SessionSlot::default();
        let gateways = actor::Gateways::default();
        let actor = Actor::new(
            options,
            machine,
            command_rx,
            hub.clone(),
            session.clone(),
            gateways.clone(),
        );
        tokio::spawn(actor.run());
        let client = Self {
            shared: Arc::new(Shared {
                key,
                commands,
                hub,
                session,
                registry,
                local,
                gateways,
            }),
        };
        if auto_connect {
            client.send(Command::Connect);
        }
        client
    }

    fn send(&self, command: Command) {
        // A closed channel means the instance is destroyed; callers that wait
        // for a reply see that as a dropped reply sender.
        let _ = self.shared.commands.send(command);
    }

    fn is_alive(&self) -> bool {
        !self.shared.commands.is_closed()
    }

    /// The live nodes the cluster's LBS named last (empty without
    /// [`ClientOptions::lbs_urls`] or before it answered).
    pub fn gateways(&self) -> Vec<String> {
        self.shared
            .gateways
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Which instance this is.
    pub fn key(&self) -> &InstanceKey {
        &self.shared.key
    }

    /// Starts connecting (if not connected or connecting already).
    pub fn connect(&self) {
        self.send(Command::Connect);
    }

    /// Logs out: tells the gateway (other devices see it at once), closes the
    /// socket and stops reconnecting. The instance stays; `connect()` logs in again.
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Disconnect(reply));
        done.await.map_err(|_| ClientError::Destroyed)
    }

    /// Logs out, closes the socket, and removes the instance from its
    /// registry. Completes only after the socket is really closed (NIM's
    /// `destroy({done})`); a later `instance()` creates a fresh one.
    pub async fn destroy(&self) -> Result<(), ClientError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Destroy(reply));
        // An instance destroyed already has dropped the sender: that is done too.
        let _ = done.await;
        self.unregister();
        Ok(())
    }

    /// Removes this instance from its registry (a later `instance()` creates a fresh one).
    fn unregister(&self) {
        if let Some(registry) = self.shared.registry.upgrade() {
            let mut instances = registry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if instances
                .get(&self.shared.key)
                .is_some_and(|c| Arc::ptr_eq(&c.shared, &self.shared))
            {
                instances.remove(&self.shared.key);
            }
        }
    }

    /// Closes the connection without logging out and removes the instance,
    /// like [`Client::destroy`] otherwise: the device stays signed in
    /// (offline in other devices' lists) and its session token — kept by
    /// *Remember me* — brings it back. For an app that quits.
    pub async fn close(&self) -> Result<(), ClientError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Close(reply));
        let _ = done.await;
        self.unregister();
        Ok(())
    }

    /// Signs out other devices of this account (NIM kick), online or not:
    /// their sessions end on every node. Unknown ids, and this device
    /// itself, come back in `not_found`.
    pub async fn kick(&self, device_ids: Vec<String>) -> Result<KickResult, ClientError> {
        if device_ids.is_empty() {
            return Err(ClientError::InvalidOptions(
                "name at least one deviceId to kick".into(),
            ));
        }
        let (reply, done) = oneshot::channel();
        self.send(Command::Kick(device_ids, reply));
        done.await.map_err(|_| ClientError::Destroyed)?
    }

    /// Signs out every other device of this account.
    pub async fn kick_others(&self) -> Result<KickResult, ClientError> {
        let others: Vec<String> = self
            .devices()
            .into_iter()
            .filter(|d| !d.current)
            .map(|d| d.device_id)
            .collect();
        if others.is_empty() {
            return Ok(KickResult::default());
        }
        self.kick(others).await
    }

    /// Names a device of this account (this one or another): 1–64
    /// characters after trimming, no control characters. Every device's
    /// list shows the name.
    pub async fn rename_device(
        &self,
        device_id: impl Into<String>,
        name: impl Into<String>,
    ) -> Result<(), ClientError> {
        let name = name.into();
        vestibule_protocol::check_device_name(&name).map_err(ClientError::InvalidOptions)?;
        let (reply, done) = oneshot::channel();
        self.send(Command::Rename {
            device_id: device_id.into(),
            name,
            reply,
        });
        done.await.map_err(|_| ClientError::Destroyed)?
    }

    /// Who is waiting behind a pairing code another device shows ("Is this
    /// you?"): its device, program, IP and when it asked. Refused with 423
    /// (no such code), 424 (expired), 425 (already used), 426 (it stopped
    /// waiting) or 416 (too many wrong codes: `retry_after_ms`).
    pub async fn lookup_pair(&self, code: &str) -> Result<PairRequester, ClientError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::PairLookup {
            code: code.to_owned(),
            reply,
        });
        done.await.map_err(|_| ClientError::Destroyed)?
    }

    /// Approves a pairing code: the device waiting behind it is signed in to
    /// this account, with a session that expires no later than this one's.
    pub async fn approve_pair(&self, code: &str) -> Result<(), ClientError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::PairApprove {
            code: code.to_owned(),
            reply,
        });
        done.await.map_err(|_| ClientError::Destroyed)?
    }

    /// The device session's token, once a sign-in got one: what *Remember me*
    /// keeps (in the OS keychain) to come back without the app's token.
    /// `None` before the first sign-in and after the session ended.
    pub fn session_token(&self) -> Option<Token> {
        self.shared
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Updates options (NIM setOptions). A new token while online is sent as
    /// `refreshToken` (no reconnect) and the call waits for the gateway's
    /// answer; account, appKey and URL cannot change.
    pub async fn set_options(&self, update: OptionsUpdate) -> Result<(), ClientError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::SetOptions(Box::new(update), Some(reply)));
        done.await.map_err(|_| ClientError::Destroyed)?
    }

    /// Skips the rest of the backoff and tries now.
    pub fn retry_now(&self) {
        self.send(Command::RetryNow);
    }

    /// Tells the instance the network went down or came back (retries at once when it comes back).
    pub fn network_changed(&self, up: bool) {
        self.send(Command::Network(up));
    }

    /// Waits until this instance is logged in (NIM onconnect, TIM SDK_READY)
    /// and returns the session's info; or returns how the attempt ended: a
    /// terminal disconnect (wrong token, kicked...), a logout, or `timeout`
    /// passing while it retries. Race-free: it judges the state after every
    /// command sent before it (a `connect()` just before is taken into account).
    pub async fn ready(&self, timeout: Duration) -> Result<LoginInfo, ReadyError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Ready(reply));
        match tokio::time::timeout(timeout, done).await {
            Ok(Ok(Ok(info))) => Ok(info),
            Ok(Ok(Err(Some(info)))) => Err(ReadyError::Ended(info)),
            Ok(Ok(Err(None))) => Err(ReadyError::NotConnecting),
            Ok(Err(_)) => Err(ReadyError::Destroyed),
            Err(_) => Err(ReadyError::TimedOut {
                last: self.shared.hub.borrow().last_disconnect.clone(),
            }),
        }
    }

    /// The account's signed-in devices (online first), this one marked `current`.
    pub fn devices(&self) -> Vec<Device> {
        self.shared.hub.borrow().devices.clone()
    }

    /// The current state.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.hub.snapshot()
    }

    /// A receiver that sees every snapshot change (the latest value always wins).
    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.shared.hub.watch()
    }

    /// Events in order, starting with the ones that describe the current
    /// connection (so a subscriber that joins after `instance()` started
    /// connecting still sees `Connected`), then every event from now on.
    pub fn subscribe(&self) -> Events {
        self.shared.hub.subscribe()
    }
}
