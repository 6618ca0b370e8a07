//! What the connection manager tells its users: the snapshot held in a
//! `watch` and the events sent on a `broadcast`. All of it serializes to
//! camelCase JSON (the CLI's `--json`, the desktop UI).

use std::time::Duration;

use serde::Serialize;
use vestibule_protocol::{
    CloseCause, Code, Device, KickReason, KickedBy, LoginOk, SessionEnd, UnixMillis,
};

/// TIM's NET_STATE: whether the app can talk to the gateway.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NetState {
    /// Logged in.
    Connected,
    /// Connecting or waiting to retry.
    Connecting,
    /// Not connected and not trying (logged out, signed out, or the network is down).
    Disconnected,
}

/// The instance's lifecycle, finer than [`NetState`].
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Not connected and not trying: never connected, or logged out.
    Idle,
    /// A socket is being opened and the login sent.
    Connecting,
    /// Logged in.
    Connected,
    /// Waiting out the backoff before the next attempt.
    Reconnecting,
    /// Stopped for a reason that needs the person: signed out remotely, refused.
    SignedOut,
    /// Stopped until a new token is supplied (the token expired).
    NeedsToken,
    /// Destroyed; the handle is dead.
    Destroyed,
}

/// NIM's onconnect info plus TIM's login response, from `loginOk`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginInfo {
    /// The app.
    pub app_key: String,
    /// The account.
    pub account: String,
    /// This device's id.
    pub device_id: String,
    /// The session's connection id.
    pub connection_id: String,
    /// This client's IP as the gateway sees it.
    pub ip: String,
    /// This client's source port as the gateway sees it.
    pub port: u16,
    /// The client's country, `""` when unknown.
    pub country: String,
    /// The account's previous login device.
    pub last_login_device_id: Option<String>,
    /// This login's customTag.
    pub custom_tag: Option<String>,
    /// The gateway's clock at login.
    pub server_time: UnixMillis,
    /// This login replaced a live session of the same device.
    pub repeat_login: bool,
    /// When the token expires.
    pub token_expires_at: Option<UnixMillis>,
    /// This login was a new sign-in: the gateway issued a new session token
    /// (read it with [`crate::Client::session_token`] to remember it).
    pub new_session: bool,
}

impl LoginInfo {
    /// Builds the info from a `loginOk`.
    pub fn from_login_ok(app_key: &str, account: &str, device_id: &str, ok: &LoginOk) -> Self {
        Self {
            app_key: app_key.to_owned(),
            account: account.to_owned(),
            device_id: device_id.to_owned(),
            connection_id: ok.connection_id.clone(),
            ip: ok.ip.clone(),
            port: ok.port,
            country: ok.country.clone(),
            last_login_device_id: ok.last_login_device_id.clone(),
            custom_tag: ok.custom_tag.clone(),
            server_time: ok.server_time,
            repeat_login: ok.repeat_login,
            token_expires_at: ok.token_expires_at,
            new_session: ok.session_token.is_some(),
        }
    }
}

/// Why a connection ended.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum DisconnectReason {
    /// The gateway refused the login (or closed with a code).
    Rejected {
        /// The code (302, 403, 417...).
        code: u16,
    },
    /// The session was kicked.
    Kicked {
        /// Why.
        reason: KickReason,
    },
    /// A newer login of this same device took over.
    Replaced,
    /// The socket closed or broke without a reason from the gateway.
    Lost {
        /// The close code, when there was a close frame.
        close_code: Option<u16>,
    },
    /// Nothing heard in time (connect, login or heartbeat).
    Timeout,
    /// The OS reported that the network is gone (TIM's NET_STATE_DISCONNECTED):
    /// the client waits for it instead of counting down.
    NoNetwork,
    /// This app logged out.
    LoggedOut,
    /// The instance was destroyed.
    Destroyed,
}

impl DisconnectReason {
    /// The reason for a connection that ended with `cause`.
    pub fn from_cause(cause: CloseCause) -> Self {
        match cause.normalized() {
            CloseCause::Rejected { code, .. } => Self::Rejected {
                code: code.as_u16(),
            },
            CloseCause::Kicked(reason) => Self::Kicked { reason },
            CloseCause::Replaced => Self::Replaced,
            CloseCause::Closed(close_code) => Self::Lost { close_code },
            CloseCause::Transport => Self::Lost { close_code: None },
            CloseCause::Timeout => Self::Timeout,
        }
    }
}

/// One end of a connection, as shown to people.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectInfo {
    /// NIM-style code: the result code of a refusal, or the close code of a kick.
    pub code: Option<u16>,
    /// Why.
    pub reason: DisconnectReason,
    /// The gateway's or the client's sentence.
    pub message: String,
    /// Who kicked, for kicks caused by a device.
    pub by: Option<KickedBy>,
    /// For a session token refused with 420: how, by whom and when the
    /// device's session had ended (it may have been closed at the time).
    pub ended: Option<SessionEnd>,
    /// When it happened.
    pub at: UnixMillis,
    /// The client reconnects on its own.
    pub will_reconnect: bool,
}

/// The backoff the client is in.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryInfo {
    /// 1 for the first retry after a drop (NIM retryCount).
    pub retry_count: u32,
    /// The delay chosen (NIM duration).
    pub delay_ms: u64,
    /// Wall-clock time of the next attempt, for a countdown.
    pub next_retry_at: UnixMillis,
}

/// Everything about one instance at one moment.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// This device's id. (The gateway, app and account are the instance's
    /// [`crate::InstanceKey`].)
    pub device_id: String,
    /// Lifecycle.
    pub status: Status,
    /// TIM's network state.
    pub net_state: NetState,
    /// TIM's SDK_READY: logged in and the device list is in.
    pub ready: bool,
    /// The current session's info; kept while reconnecting and after a
    /// disconnect, cleared when a fresh login starts.
    pub login: Option<LoginInfo>,
    /// The account's signed-in devices, online ones first (this one has `current: true`).
    pub devices: Vec<Device>,
    /// The device list's revision.
    pub devices_rev: u64,
    /// Backoff state while reconnecting.
    pub retry: Option<RetryInfo>,
    /// How the last connection ended.
    pub last_disconnect: Option<DisconnectInfo>,
}

/// Something that happened, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum Event {
    /// The network state changed (TIM NET_STATE_CHANGE).
    NetState {
        /// The new state.
        state: NetState,
    },
    /// An attempt to connect began, to this gateway: one per attempt, so
    /// none is made unseen (none while the network is down).
    Dialing {
        /// The gateway of this attempt.
        url: String,
    },
    /// Logged in (NIM onconnect); sent only after the gateway's `loginOk`.
    Connected {
        /// The login info.
        info: LoginInfo,
    },
    /// The connection dropped and another attempt is scheduled (NIM onwillreconnect).
    WillReconnect {
        /// 1, 2, 3... since the last stable session.
        retry_count: u32,
        /// The wait before the attempt.
        #[serde(rename = "delayMs", with = "duration_ms")]
        delay: Duration,
    },
    /// Disconnected for good: no automatic reconnect (NIM ondisconnect, TIM KICKED_OUT).
    Disconnected {
        /// Why, and who.
        info: DisconnectInfo,
    },
    /// The account's device list changed (NIM onloginportschange).
    DevicesChanged {
        /// The online devices.
        devices: Vec<Device>,
        /// Their revision.
        rev: u64,
    },
    /// Another device of the account signed in for the first time (a new
    /// session, not a reconnect): "not you? Sign it out".
    NewDevice {
        /// The new device.
        device: Device,
    },
    /// Logged in and synced (TIM SDK_READY).
    Ready,
    /// No longer ready (TIM SDK_NOT_READY).
    NotReady,
    /// A request failed or the gateway reported an error (NIM onerror, TIM ERROR).
    Error {
        /// The code.
        code: u16,
        /// The message.
        message: String,
    },
}

mod duration_ms {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// The result of [`crate::Client::kick`].
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KickResult {
    /// Devices signed out.
    pub kicked: Vec<String>,
    /// Ids that matched no other signed-in device of the account.
    pub not_found: Vec<String>,
}

impl Event {
    /// An error event from a code.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::Error {
            code: code.as_u16(),
            message: message.into(),
        }
    }
}
