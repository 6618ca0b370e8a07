//! Signing this device in from another one: ask the gateway for a code,
//! show it (as text and as a QR code), and wait until a signed-in device of
//! the account approves it. The code is renewed before it expires. On
//! approval the device has its own session token and logs in with it like a
//! remembered device.
//!
//! ```no_run
//! # async fn demo() {
//! use vestibule_client::pairing::{Pairing, PairingEvent, PairingOptions};
//! use vestibule_client::{ClientInfo, DeviceInfo, DeviceType};
//!
//! let device = DeviceInfo {
//!     device_id: "laptop-7f3a".into(),
//!     device_type: DeviceType::Pc,
//!     os: "Debian GNU/Linux 12".into(),
//!     mac: None,
//!     custom_tag: None,
//! };
//! let client = ClientInfo { name: "my-app".into(), version: "1.0".into() };
//! let mut pairing = Pairing::start(PairingOptions::new("ws://127.0.0.1:7878/v1/ws", "demo", device, client));
//! while let Some(event) = pairing.next().await {
//!     match event {
//!         PairingEvent::Code { code, .. } => println!("enter {code} on a signed-in device"),
//!         PairingEvent::Paired { account, .. } => println!("signed in as {account}"),
//!         PairingEvent::Failed { message, .. } => println!("pairing failed: {message}"),
//!     }
//! }
//! # }
//! ```

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use vestibule_protocol::{
    ClientFrame, ClientInfo, Code, DeviceInfo, PairRequest, ServerFrame, Token, UnixMillis,
};

use crate::dial::{CLOSE_GRACE, drain, open};

/// A new code is asked for this long before the shown one expires.
const RENEW_BEFORE: Duration = Duration::from_secs(20);

/// Where and as what to ask.
#[derive(Clone)]
pub struct PairingOptions {
    /// The gateway, `ws://` or `wss://`.
    pub url: String,
    /// The app to be signed in to.
    pub app_key: String,
    /// This device.
    pub device: DeviceInfo,
    /// This program.
    pub client: ClientInfo,
    /// Extra certificates to trust for `wss://` (DER).
    pub trusted_certs: Vec<Vec<u8>>,
    /// The way to the gateway (default: as the environment says).
    pub proxy: crate::proxy::Proxy,
    /// How long the connection and the first answer may take.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for PairingOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairingOptions")
            .field("url", &self.url)
            .field("app_key", &self.app_key)
            .field("device_id", &self.device.device_id)
            .finish_non_exhaustive()
    }
}

impl PairingOptions {
    /// Options with the default timeout and no extra certificates.
    pub fn new(
        url: impl Into<String>,
        app_key: impl Into<String>,
        device: DeviceInfo,
        client: ClientInfo,
    ) -> Self {
        Self {
            url: url.into(),
            app_key: app_key.into(),
            device,
            client,
            trusted_certs: Vec::new(),
            proxy: crate::proxy::Proxy::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What happens while pairing.
#[derive(Clone, PartialEq, Eq)]
pub enum PairingEvent {
    /// A code to show (a new one replaces the previous one).
    Code {
        /// `ABCD-EFGH`.
        code: String,
        /// When it stops working, by the gateway's clock.
        expires_at: UnixMillis,
    },
    /// Approved: this device is signed in to `account` (the last event).
    Paired {
        /// The account.
        account: String,
        /// The device session's token: log in with it, keep it like a remembered one.
        session_token: Token,
        /// When the session's token expires (no later than the approver's).
        token_expires_at: Option<UnixMillis>,
    },
    /// Pairing stopped (the last event): a refusal with its code, or the
    /// connection failed (`code` is `None`).
    Failed {
        /// The gateway's code, if it refused.
        code: Option<Code>,
        /// What went wrong, for people.
        message: String,
        /// For 416 and 503: wait at least this long before starting again.
        retry_after_ms: Option<u64>,
    },
}

impl std::fmt::Debug for PairingEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code { code, expires_at } => f
                .debug_struct("Code")
                .field("code", code)
                .field("expires_at", expires_at)
                .finish(),
            // The session token is a credential: never in Debug output.
            Self::Paired { account, .. } => f
                .debug_struct("Paired")
                .field("account", account)
                .finish_non_exhaustive(),
            Self::Failed { code, message, .. } => f
                .debug_struct("Failed")
                .field("code", code)
                .field("message", message)
                .finish_non_exhaustive(),
        }
    }
}

/// A pairing under way; dropping it withdraws the code.
#[derive(Debug)]
pub struct Pairing {
    events: mpsc::Receiver<PairingEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Pairing {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Pairing {
    /// Connects and asks for a code (in a task of the current runtime).
    pub fn start(options: PairingOptions) -> Self {
        let (tx, events) = mpsc::channel(8);
        let task = tokio::spawn(async move {
            let last = run(&options, &tx).await;
            let _ = tx.send(last).await;
        });
        Self { events, task }
    }

    /// The next event; `None` after the last one.
    pub async fn next(&mut self) -> Option<PairingEvent> {
        self.events.recv().await
    }

    /// The next event if there is one already.
    pub fn try_next(&mut self) -> Option<PairingEvent> {
        self.events.try_recv().ok()
    }
}

fn failed(message: impl Into<String>) -> PairingEvent {
    PairingEvent::Failed {
        code: None,
        message: message.into(),
        retry_after_ms: None,
    }
}

/// Runs one pairing; returns its last event.
async fn run(options: &PairingOptions, tx: &mpsc::Sender<PairingEvent>) -> PairingEvent {
    let mut socket = match timeout(
        options.connect_timeout,
        open(&options.url, &options.trusted_certs, &options.proxy),
    )
    .await
    {
        Ok(Ok(socket)) => socket,
        Ok(Err(failure)) => return failed(failure.message),
        Err(_) => return failed(format!("cannot reach {} in time", options.url)),
    };
    let mut id = 0;
    let ask = |id: &mut u64| {
        *id += 1;
        ClientFrame::PairRequest(PairRequest {
            id: *id,
            app_key: options.app_key.clone(),
            device: options.device.clone(),
            client: options.client.clone(),
        })
        .encode()
    };
    if let Err(e) = socket.send(Message::text(ask(&mut id))).await {
        return failed(format!("cannot ask for a code: {e}"));
    }
    // Until the first code arrives, the connect timeout applies.
    let mut renew_at = Instant::now() + options.connect_timeout;
    let mut shown = false;
    loop {
        let next = tokio::select! {
            next = socket.next() => next,
            () = sleep_until(renew_at) => {
                if !shown {
                    return failed("the gateway did not answer with a code");
                }
                if let Err(e) = socket.send(Message::text(ask(&mut id))).await {
                    return failed(format!("cannot ask for a new code: {e}"));
                }
                renew_at = Instant::now() + options.connect_timeout;
                shown = false;
                continue;
            }
        };
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let reason = frame.map_or_else(String::new, |f| f.reason.to_string());
                return failed(
                    format!("the gateway closed the connection {reason}")
                        .trim_end()
                        .to_owned(),
                );
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return failed(format!("the connection broke: {e}")),
            None => return failed("the gateway closed the connection"),
        };
        match ServerFrame::decode(text.as_str()) {
            Ok(ServerFrame::PairCode {
                code,
                expires_at,
                expires_in_ms,
                ..
            }) => {
                shown = true;
                let left = Duration::from_millis(expires_in_ms);
                renew_at = Instant::now() + left.saturating_sub(RENEW_BEFORE).max(left / 2);
                if tx
                    .send(PairingEvent::Code { code, expires_at })
                    .await
                    .is_err()
                {
                    return failed("nobody is waiting for the code");
                }
            }
            Ok(ServerFrame::Paired {
                account,
                session_token,
                token_expires_at,
                ..
            }) => {
                let _ = timeout(CLOSE_GRACE, drain(&mut socket)).await;
                return PairingEvent::Paired {
                    account,
                    session_token,
                    token_expires_at,
                };
            }
            Ok(ServerFrame::LoginFailed {
                code,
                message,
                retry_after_ms,
                ..
            }) => {
                let _ = timeout(CLOSE_GRACE, drain(&mut socket)).await;
                return PairingEvent::Failed {
                    code: Some(code),
                    message,
                    retry_after_ms,
                };
            }
            Ok(ServerFrame::Error { code, message, .. }) => {
                tracing::warn!(%code, %message, "the gateway refused a pairing frame");
            }
            Ok(_) => {}
            Err(e) => return failed(format!("an unreadable answer: {e}")),
        }
    }
}
