//! One task per connection: wait for `login`, authenticate, join the registry,
//! then serve requests, pushes and kicks until the socket ends.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tracing::Instrument;
use vestibule_protocol::token::{self, TokenError};
use vestibule_protocol::{
    ClientFrame, Code, DecodeError, EndReason, KickReason, KickedBy, Login, LoginOk, ServerFrame,
    SessionEnd, Token, close_code,
};

use crate::Shared;
use crate::clock::unix_millis;
use crate::metrics::login_stage;
use crate::registry::{NewSession, SessionKey, SessionMsg};
use crate::sessions::DeviceSession;
use crate::store::{App, SessionChange};

/// How long to wait for the client's half of the closing handshake.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

mod pair;

/// The first frame: a login, or a device asking to be paired.
enum First {
    Login(Login),
    Pair(vestibule_protocol::PairRequest),
}

/// How long a login refused because the sessions store is unreachable waits
/// (the same as when its session cannot be saved).
const STORE_RETRY_AFTER_MS: u64 = 2000;

/// A client that has not logged in yet is told to wait this long after a shutdown.
const SHUTDOWN_RETRY_AFTER_MS: u64 = vestibule_protocol::SHUTDOWN_RETRY_AFTER_MS.start;

/// Serves one WebSocket connection from its first frame to its end. Generic
/// over the byte stream, so a test can drive a session over `tokio::io::duplex`.
pub(crate) async fn run<S>(socket: WebSocketStream<S>, peer: SocketAddr, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    shared.metrics.connections.inc();
    let mut conn = Conn {
        ws: socket,
        peer: normalize(peer),
        shared: shared.clone(),
    };
    conn.serve().await;
    shared.metrics.connections.dec();
}

fn normalize(peer: SocketAddr) -> SocketAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(peer, |v4| SocketAddr::new(IpAddr::V4(v4), peer.port())),
        IpAddr::V4(_) => peer,
    }
}

struct Conn<S> {
    ws: WebSocketStream<S>,
    peer: SocketAddr,
    shared: Arc<Shared>,
}

/// The credential a login carried, checked.
enum Credential {
    /// The app's token: a new sign-in of this device.
    SignIn {
        /// When that token expires (`None`: a static token).
        token_expires_at: Option<u64>,
        /// The device's session it replaces, if it had one.
        previous: Option<DeviceSession>,
    },
    /// The device's session token: the device comes back.
    Resume {
        /// Its session.
        session: DeviceSession,
    },
}

/// Why a credential was refused.
struct Refusal {
    code: Code,
    message: String,
    /// How the device's session ended (420).
    ended: Option<SessionEnd>,
    /// A failed guess: it counts against the login-failure limits.
    counts: bool,
    /// How long to wait before trying again (an outage, not a refusal).
    retry_after_ms: Option<u64>,
}

impl Refusal {
    fn new(code: Code, message: &str) -> Self {
        Self {
            code,
            message: message.to_owned(),
            ended: None,
            counts: false,
            retry_after_ms: None,
        }
    }

    fn ended(end: SessionEnd) -> Self {
        Self {
            code: Code::SessionEnded,
            message: format!("this device was signed out: {}", end.reason.describe()),
            ended: Some(end),
            counts: false,
            retry_after_ms: None,
        }
    }
}

/// A logged-in session's own state.
struct Live {
    /// Still in the registry as far as this task knows: dropping a `Live`
    /// that is (a panic unwinding through the task) removes it, so no ghost
    /// device stays listed. Every normal end clears it.
    registered: bool,
    registry: Arc<dyn crate::registry::SessionRegistry>,
    key: SessionKey,
    app: Arc<App>,
    mailbox: crate::registry::Mailbox,
    expires: Option<Instant>,
    /// The same expiry as a timestamp (a paired device's session may not outlive it).
    token_expires_at: Option<u64>,
    last_rev: u64,
    /// This device, as it appears in `kicked.by` and session ends it causes.
    me: KickedBy,
    /// When the device's session began (the fresh-session guard's age).
    created_at: u64,
    /// When to record the device as active again (while online).
    next_active: Instant,
}

impl Drop for Live {
    fn drop(&mut self) {
        if !self.registered {
            return;
        }
        tracing::error!(connection_id = %self.key.connection_id, "a session ended without leaving the registry (a panic); removing it");
        let (registry, key) = (self.registry.clone(), self.key.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                registry.remove(&key).await;
            });
        }
    }
}

// The calls inside `serve` and `serve_live` are boxed: an idle connection's
// task then holds only the waiting loop's state, not the largest state of every
// request it might handle (2.5 KiB → see BENCHMARKS.md).

/// What woke a logged-in session's waiting loop.
enum Wake {
    /// The gateway is stopping (or was killed).
    Stop,
    /// The registry left a message.
    Message(SessionMsg),
    /// The socket produced a frame, an error, or its end.
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    /// The idle or token-expiry deadline passed.
    Timer,
}

/// How the serving loop ended.
enum End {
    /// The socket is gone or closed; leave the registry.
    Leave,
    /// The registry already removed this session (kicked, replaced).
    Gone,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Conn<S> {
    async fn serve(&mut self) {
        let login = match Box::pin(self.await_login()).await {
            Some(First::Login(login)) => login,
            Some(First::Pair(request)) => {
                Box::pin(self.pairing(request)).await;
                return;
            }
            None => return,
        };
        let Some(mut live) = Box::pin(self.admit(login)).await else {
            return;
        };
        let span = tracing::info_span!(
            "session",
            app_key = %live.key.app_key,
            account = %live.key.account,
            connection_id = %live.key.connection_id,
        );
        let end = self.serve_live(&mut live).instrument(span.clone()).await;
        if matches!(end, End::Leave) {
            // The connection ended; the device stays signed in, offline.
            self.went_offline(&live).await;
            self.shared.registry.remove(&live.key).await;
        }
        live.registered = false;
        span.in_scope(|| tracing::info!("session ended"));
    }

    /// Waits for the first frame, which must be `login`.
    async fn await_login(&mut self) -> Option<First> {
        let deadline = Instant::now() + self.shared.config.login_deadline;
        loop {
            let next = tokio::select! {
                next = timeout_at(deadline, self.ws.next()) => next,
                () = self.shared.shutdown.cancelled() => {
                    self.refuse(None, Code::Busy, "server shutting down", Some(SHUTDOWN_RETRY_AFTER_MS)).await;
                    return None;
                }
                () = self.shared.kill.cancelled() => return None,
            };
            let message = match next {
                Err(_elapsed) => {
                    self.refuse(
                        None,
                        Code::Timeout,
                        "no login frame within the deadline",
                        None,
                    )
                    .await;
                    return None;
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => {
                    self.transport_error(&e).await;
                    return None;
                }
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    return match ClientFrame::decode(text.as_str()) {
                        Ok(ClientFrame::Login(login)) => Some(First::Login(login)),
                        Ok(ClientFrame::PairRequest(request)) => Some(First::Pair(request)),
                        Ok(other) => {
                            self.shared.metrics.bad_frame("unexpected");
                            let message = "the first frame must be login";
                            self.refuse(Some(other.id()), Code::BadRequest, message, None)
                                .await;
                            None
                        }
                        Err(e) => {
                            self.count_decode_error(&e);
                            let id = request_id(text.as_str());
                            self.refuse(id, Code::BadRequest, &e.to_string(), None)
                                .await;
                            None
                        }
                    };
                }
                Message::Binary(_) => {
                    self.shared.metrics.bad_frame("binary");
                    let message = "binary frames are not supported; send JSON text";
                    self.refuse(None, Code::BadRequest, message, None).await;
                    return None;
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                Message::Close(_) => {
                    self.flush_close_reply().await;
                    return None;
                }
            }
        }
    }

    /// Authenticates the login and joins the registry; answers `loginOk` or `loginFailed`.
    async fn admit(&mut self, login: Login) -> Option<Live> {
        let shared = self.shared.clone();
        // std's clock, not tokio's: the stages are measured, not scheduled.
        let started = std::time::Instant::now();
        let account_key = (login.app_key.clone(), login.account.clone());
        let address_key = (login.app_key.clone(), login.account.clone(), self.peer.ip());
        // Failures count per (account, address), under a much higher
        // ceiling per account: a guesser elsewhere cannot lock the owner out.
        let limited = shared
            .ip_attempts
            .as_ref()
            .map_or(Ok(()), |l| l.spend(&self.peer.ip()))
            .and_then(|()| {
                shared
                    .address_failures
                    .as_ref()
                    .map_or(Ok(()), |l| l.check(&address_key))
            })
            .and_then(|()| {
                shared
                    .account_failures
                    .as_ref()
                    .map_or(Ok(()), |l| l.check(&account_key))
            });
        if let Err(wait) = limited {
            let retry = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            tracing::info!(ip = %self.peer.ip(), account = %login.account, "login attempts over the limit");
            self.refuse(
                Some(login.id),
                Code::TooFrequent,
                "too many login attempts; slow down",
                Some(retry),
            )
            .await;
            return None;
        }
        let Some(app) = shared.store.app(&login.app_key) else {
            self.refuse(Some(login.id), Code::UnknownAppKey, "unknown appKey", None)
                .await;
            return None;
        };
        let now = shared.config.clock.now();
        let spend_failure = || {
            if let Some(limiter) = &shared.address_failures {
                let _ = limiter.spend(&address_key);
            }
            if let Some(limiter) = &shared.account_failures {
                let _ = limiter.spend(&account_key);
            }
        };
        let stage = std::time::Instant::now();
        let credential = match self.credential(&app, &login, now).await {
            Ok(credential) => {
                login_stage("credential", stage);
                credential
            }
            Err(refusal) => {
                if refusal.counts {
                    spend_failure();
                }
                let frame = ServerFrame::LoginFailed {
                    id: Some(login.id),
                    code: refusal.code,
                    message: refusal.message.clone(),
                    retry_after_ms: refusal.retry_after_ms,
                    ended: refusal.ended,
                };
                self.refuse_with(frame, refusal.code, &refusal.message)
                    .await;
                return None;
            }
        };
        let flags = shared.store.flags(&app.app_key, &login.account);
        if flags.banned {
            self.refuse(Some(login.id), Code::Forbidden, "account banned", None)
                .await;
            return None;
        }
        if flags.disabled {
            self.refuse(
                Some(login.id),
                Code::AccountDisabled,
                "account disabled",
                None,
            )
            .await;
            return None;
        }

        let key = SessionKey {
            app_key: app.app_key.clone(),
            account: login.account.clone(),
            connection_id: uuid::Uuid::new_v4().simple().to_string(),
        };
        let mailbox = crate::registry::Mailbox::new();
        let login_time = unix_millis();
        let ip = self.peer.ip().to_string();
        let idle_days = app.policy.session_idle_days;
        let (record, new_token, replaces) = match credential {
            Credential::SignIn {
                token_expires_at,
                previous,
            } => {
                let (token, token_hash) = crate::sessions::new_session_token();
                let record = DeviceSession {
                    app_key: app.app_key.clone(),
                    account: login.account.clone(),
                    device: login.device.clone(),
                    client: login.client.clone(),
                    // The person's name for this device survives a new sign-in on it.
                    name: previous.as_ref().and_then(|p| p.name.clone()),
                    created_at: now,
                    last_active_at: now,
                    last_login_at: now,
                    last_ip: ip.clone(),
                    token_hash,
                    token_expires_at,
                    expires_at: None,
                }
                .with_expiry(idle_days);
                // Every sign-in with the app's token is a new session, also
                // over an old one of the same deviceId: the others are told.
                (record, Some(token), previous.is_some())
            }
            Credential::Resume { session } => (session, None, false),
        };
        let me = KickedBy {
            device_id: login.device.device_id.clone(),
            device_type: login.device.device_type,
            os: login.device.os.clone(),
            ip: ip.clone(),
        };
        let session = NewSession {
            key: key.clone(),
            device: login.device.clone(),
            ip: ip.clone(),
            login_time,
            mailbox: mailbox.clone(),
            client: login.client.clone(),
            created_at: record.created_at,
            takeover: new_token.is_some(),
        };
        let stage = std::time::Instant::now();
        let granted = match shared.registry.login(&app.policy, session).await {
            Ok(granted) => {
                login_stage("registry", stage);
                granted
            }
            Err(refused) => {
                let message = match refused.code {
                    Code::DuplicateLogin => "already logged in on a device of a conflicting type",
                    Code::DeviceLimit => "too many devices of this account are online",
                    Code::Forbidden if new_token.is_some() && !flags.banned => {
                        "this device is signed in and online; a new sign-in may not take it over"
                    }
                    Code::Forbidden => "account banned",
                    Code::AccountDisabled => "account disabled",
                    _ => "the session registry is unavailable",
                };
                let retry = refused
                    .retry_after
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                self.refuse(Some(login.id), refused.code, message, retry)
                    .await;
                return None;
            }
        };
        // A ban made between the check above and the registry write (on
        // this node: the registry has no flags) is seen now: the ban's kick
        // either found this session or the flag is set.
        let flags = shared.store.flags(&app.app_key, &login.account);
        if flags.banned || flags.disabled {
            shared.registry.remove(&key).await;
            let (code, message) = if flags.banned {
                (Code::Forbidden, "account banned")
            } else {
                (Code::AccountDisabled, "account disabled")
            };
            self.refuse(Some(login.id), code, message, None).await;
            return None;
        }
        // The session is written before the client learns its token: a
        // token it holds always works (or is refused with the reason).
        let stage = std::time::Instant::now();
        let saved = if new_token.is_some() {
            // The session it replaces ends saying who signed in over it.
            let ended = if replaces {
                let end = SessionEnd {
                    reason: EndReason::SignedInAgain,
                    by: Some(me.clone()),
                    at: now,
                };
                shared
                    .store
                    .end_session(&app.app_key, &login.account, &login.device.device_id, &end)
                    .await
                    .map(drop)
            } else {
                Ok(())
            };
            match ended {
                Ok(()) => shared.store.put_session(&record).await,
                Err(e) => Err(e),
            }
        } else {
            let change = SessionChange::Active {
                at: now,
                ip: Some(ip.clone()),
                login: true,
                idle_days,
            };
            shared
                .store
                .update_session(
                    &app.app_key,
                    &login.account,
                    &login.device.device_id,
                    &change,
                )
                .await
                .map(drop)
        };
        if let Err(e) = saved {
            tracing::warn!(error = %e, "cannot save the device session");
            shared.registry.remove(&key).await;
            self.refuse(
                Some(login.id),
                Code::Busy,
                "cannot save this device's session right now",
                Some(STORE_RETRY_AFTER_MS),
            )
            .await;
            return None;
        }
        login_stage("save", stage);
        let stage = std::time::Instant::now();
        // Its own deviceId's old session was ended above (a takeover's kick
        // is for the old connection, not for the session just written).
        for (device_id, reason) in granted
            .evicted_devices
            .iter()
            .filter(|(d, _)| *d != login.device.device_id)
        {
            let end = SessionEnd {
                reason: EndReason::of_kick(*reason),
                by: Some(me.clone()),
                at: now,
            };
            if let Err(e) = shared
                .end_session(&app.app_key, &login.account, device_id, &end)
                .await
            {
                tracing::warn!(error = %e, device = %device_id, "cannot end an evicted device's session");
            }
        }
        if new_token.is_some() {
            let device = granted
                .devices
                .devices
                .iter()
                .find(|d| d.connection_id == key.connection_id)
                .cloned();
            if let Some(device) = device {
                shared
                    .registry
                    .announce_new_device(&app.app_key, &login.account, device, &key.connection_id)
                    .await;
            }
        }
        let last_login_device_id = match shared
            .store
            .swap_last_login(&app.app_key, &login.account, &login.device.device_id)
            .await
        {
            Ok(previous) => previous,
            Err(e) => {
                tracing::warn!(error = %e, "could not record the last login device");
                None
            }
        };
        let ok = LoginOk {
            id: login.id,
            connection_id: key.connection_id.clone(),
            ip: ip.clone(),
            port: self.peer.port(),
            country: String::new(),
            last_login_device_id,
            custom_tag: login.device.custom_tag.clone(),
            server_time: login_time,
            repeat_login: granted.repeat_login,
            token_expires_at: record.token_expires_at,
            devices: granted.devices.for_connection(&key.connection_id),
            rev: granted.devices.rev,
            session_token: new_token,
        };
        let session_token_issued = ok.session_token.is_some();
        shared.metrics.login("ok");
        tracing::info!(
            app_key = %key.app_key,
            account = %key.account,
            connection_id = %key.connection_id,
            device_id = %login.device.device_id,
            device_type = %login.device.device_type,
            repeat_login = granted.repeat_login,
            evicted = granted.evicted,
            sign_in = session_token_issued,
            "logged in"
        );
        let live = Live {
            registered: true,
            registry: shared.registry.clone(),
            key,
            app,
            mailbox,
            expires: record.token_expires_at.map(expiry_instant),
            token_expires_at: record.token_expires_at,
            last_rev: granted.devices.rev,
            me,
            created_at: record.created_at,
            next_active: Instant::now() + Duration::from_millis(crate::sessions::ACTIVE_EVERY_MS),
        };
        if shared.config.panic_on_account.as_deref() == Some(login.account.as_str()) {
            panic!("planted panic for account {:?}", login.account);
        }
        let sent = self.send(ServerFrame::LoginOk(ok)).await;
        login_stage("reply", stage);
        login_stage("all", started);
        if sent.is_err() {
            self.went_offline(&live).await;
            self.shared.registry.remove(&live.key).await;
            let mut live = live;
            live.registered = false;
            return None;
        }
        Some(live)
    }

    /// Which credential the login carries, checked: the app's token (a new
    /// sign-in) or the device's session token (it comes back).
    async fn credential(&self, app: &App, login: &Login, now: u64) -> Result<Credential, Refusal> {
        let store = &self.shared.store;
        let unavailable = |e: crate::store::StoreError| {
            tracing::warn!(error = %e, "device sessions unreadable");
            let mut refusal =
                Refusal::new(Code::Busy, "the sessions store is unavailable; try again");
            refusal.retry_after_ms = Some(STORE_RETRY_AFTER_MS);
            refusal
        };
        if let Some(session_token) = &login.session_token {
            let found = store
                .session(&app.app_key, &login.account, &login.device.device_id)
                .await
                .map_err(unavailable)?;
            if let Some(session) = found
                && crate::sessions::token_matches(session_token, &session.token_hash)
            {
                if let Some(reason) = session.expired(now) {
                    let end = SessionEnd {
                        reason,
                        by: None,
                        at: session.expires_at.unwrap_or(now),
                    };
                    store
                        .end_session(&app.app_key, &login.account, &login.device.device_id, &end)
                        .await
                        .map_err(unavailable)?;
                    let _ = self
                        .shared
                        .registry
                        .refresh(&app.app_key, &login.account)
                        .await;
                    return Err(Refusal::ended(end));
                }
                return Ok(Credential::Resume { session });
            }
            let hash = crate::sessions::hash_session_token(session_token);
            return match store.revocation(&hash).await.map_err(unavailable)? {
                Some(end) => Err(Refusal::ended(end)),
                None => {
                    let mut refusal = Refusal::new(
                        Code::UnknownSession,
                        "this gateway does not know the device's session; sign in with the app's token",
                    );
                    refusal.counts = true;
                    Err(refusal)
                }
            };
        }
        let token = login.token.clone().unwrap_or_else(|| Token::new(""));
        match token::verify(app.secret.expose(), &app.app_key, &login.account, &token) {
            Ok(claims) => {
                let previous = store
                    .session(&app.app_key, &login.account, &login.device.device_id)
                    .await
                    .map_err(unavailable)?;
                Ok(Credential::SignIn {
                    token_expires_at: claims.exp.map(|exp| exp.saturating_mul(1000)),
                    previous,
                })
            }
            Err(e) => {
                let message = match e {
                    TokenError::Expired => "token expired",
                    TokenError::WrongAccount => "token was issued for another account",
                    TokenError::WrongApp => "token was issued for another appKey",
                    TokenError::Invalid | TokenError::EmptySecret => "wrong account or token",
                };
                let mut refusal = Refusal::new(Code::WrongCredentials, message);
                refusal.counts = true;
                Err(refusal)
            }
        }
    }

    /// The device's connection ended but its session stays: it is offline now.
    async fn went_offline(&self, live: &Live) {
        let change = SessionChange::Active {
            at: self.shared.config.clock.now(),
            ip: None,
            login: false,
            idle_days: live.app.policy.session_idle_days,
        };
        if let Err(e) = self
            .shared
            .store
            .update_session(
                &live.key.app_key,
                &live.key.account,
                &live.me.device_id,
                &change,
            )
            .await
        {
            tracing::warn!(error = %e, "cannot record the device going offline");
        }
    }

    /// Ends this device's own session (it logged out, its token expired, the
    /// account is banned), keeping how for its next login.
    async fn end_own_session(&self, live: &Live, reason: EndReason) {
        let end = SessionEnd {
            reason,
            by: None,
            at: self.shared.config.clock.now(),
        };
        if let Err(e) = self
            .shared
            .end_session(
                &live.key.app_key,
                &live.key.account,
                &live.me.device_id,
                &end,
            )
            .await
        {
            tracing::warn!(error = %e, "cannot end the device's session");
        }
    }

    /// The waiting loop of a logged-in session. It only waits; what woke it
    /// is handled in a boxed call, so an idle connection's task stays small.
    async fn serve_live(&mut self, live: &mut Live) -> End {
        let mut idle_deadline = Instant::now() + self.shared.config.idle_timeout;
        loop {
            let deadline = live
                .expires
                .map_or(idle_deadline, |e| e.min(idle_deadline))
                .min(live.next_active);
            // The token's expiry is checked on every turn, not only when
            // nothing else is ready: a busy mailbox or a chatty client cannot
            // keep an expired session alive.
            if live.expires.is_some_and(|e| e <= Instant::now()) {
                if let Some(end) =
                    Box::pin(self.on_wake(live, Wake::Timer, &mut idle_deadline)).await
                {
                    return end;
                }
                continue;
            }
            // Biased: frames that already arrived are handled before a timer
            // that fired at the same moment declares the client idle.
            let wake = tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => Wake::Stop,
                msg = live.mailbox.recv() => Wake::Message(msg),
                next = self.ws.next() => Wake::Frame(next),
                () = sleep_until(deadline) => Wake::Timer,
            };
            if let Some(end) = Box::pin(self.on_wake(live, wake, &mut idle_deadline)).await {
                return end;
            }
        }
    }

    /// Handles what woke the waiting loop; `Some` ends the session.
    async fn on_wake(
        &mut self,
        live: &mut Live,
        wake: Wake,
        idle_deadline: &mut Instant,
    ) -> Option<End> {
        match wake {
            Wake::Stop if self.shared.kill.is_cancelled() => Some(End::Leave),
            Wake::Stop => {
                // Tell the client when to come back, spread so the restart is not stormed.
                let retry_after_ms =
                    rand::random_range(vestibule_protocol::SHUTDOWN_RETRY_AFTER_MS);
                let notice = ServerFrame::Error {
                    id: None,
                    code: Code::Busy,
                    message: "server shutting down".to_owned(),
                    retry_after_ms: Some(retry_after_ms),
                };
                self.went_offline(live).await;
                self.shared.registry.remove(&live.key).await;
                if self.send(notice).await.is_ok() {
                    self.close(close_code::for_code(Code::Busy), "server shutting down")
                        .await;
                }
                Some(End::Gone)
            }
            Wake::Message(SessionMsg::NewDevice(device)) => {
                let frame = ServerFrame::NewDevice {
                    device: (*device).clone(),
                };
                self.send(frame).await.err()
            }
            Wake::Message(SessionMsg::Devices(list)) => {
                if list.rev > live.last_rev {
                    live.last_rev = list.rev;
                    let text = list.frame_for(&live.key.connection_id);
                    if self.send_text(text).await.is_err() {
                        return Some(End::Leave);
                    }
                }
                None
            }
            Wake::Message(SessionMsg::Kicked(notice)) => {
                self.shared.metrics.kick(notice.reason);
                tracing::info!(reason = %notice.reason, by = ?notice.by.as_ref().map(|b| &b.device_id), "kicked");
                let frame = ServerFrame::Kicked {
                    reason: notice.reason,
                    by: notice.by.clone(),
                    message: notice.reason.describe().to_owned(),
                };
                if self.send(frame).await.is_ok() {
                    self.close(notice.reason.close_code(), notice.reason.as_str())
                        .await;
                }
                Some(End::Gone)
            }
            Wake::Message(SessionMsg::Replaced) => {
                tracing::info!("replaced by a newer login of the same device");
                self.close(
                    close_code::REPLACED,
                    "replaced by a newer login of this device",
                )
                .await;
                Some(End::Gone)
            }
            Wake::Frame(next) => {
                *idle_deadline = Instant::now() + self.shared.config.idle_timeout;
                let message = match next {
                    None => return Some(End::Leave),
                    Some(Err(e)) => {
                        self.transport_error(&e).await;
                        return Some(End::Leave);
                    }
                    Some(Ok(message)) => message,
                };
                match message {
                    Message::Text(text) => self.request(live, text.as_str()).await,
                    Message::Binary(_) => {
                        self.shared.metrics.bad_frame("binary");
                        let message = "binary frames are not supported; send JSON text";
                        self.error(None, Code::BadRequest, message).await.err()
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
                    Message::Close(_) => {
                        self.flush_close_reply().await;
                        Some(End::Leave)
                    }
                }
            }
            Wake::Timer if live.expires.is_some_and(|e| e <= Instant::now()) => {
                tracing::info!("token expired");
                Some(self.signed_out(live, KickReason::TokenExpired).await)
            }
            Wake::Timer if live.next_active <= Instant::now() => {
                live.next_active =
                    Instant::now() + Duration::from_millis(crate::sessions::ACTIVE_EVERY_MS);
                // The same record as going offline: active now.
                self.went_offline(live).await;
                None
            }
            Wake::Timer if *idle_deadline <= Instant::now() => {
                tracing::info!("idle timeout");
                // The device stays signed in, offline since now.
                self.went_offline(live).await;
                Some(
                    self.leave(
                        live,
                        close_code::for_code(Code::Timeout),
                        "no frames within the idle timeout",
                    )
                    .await,
                )
            }
            Wake::Timer => None,
        }
    }

    /// Signs this session out for `reason` by itself (its token expired, or
    /// the account turned out banned): leaves the registry first, so the other
    /// devices' lists update even if this client is slow, then tells it.
    async fn signed_out(&mut self, live: &Live, reason: KickReason) -> End {
        self.end_own_session(live, EndReason::of_kick(reason)).await;
        self.shared.registry.remove(&live.key).await;
        self.shared.metrics.kick(reason);
        let frame = ServerFrame::Kicked {
            reason,
            by: None,
            message: reason.describe().to_owned(),
        };
        if self.send(frame).await.is_ok() {
            self.close(reason.close_code(), reason.as_str()).await;
        }
        End::Gone
    }

    /// Leaves the registry at once (so other devices see it), then closes.
    async fn leave(&mut self, live: &Live, code: u16, reason: &str) -> End {
        self.shared.registry.remove(&live.key).await;
        self.close(code, reason).await;
        End::Gone
    }

    /// Handles one request frame on a live session; `Some` ends the session.
    async fn request(&mut self, live: &mut Live, text: &str) -> Option<End> {
        let frame = match ClientFrame::decode(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.count_decode_error(&e);
                let id = request_id(text);
                return self.error(id, Code::BadRequest, &e.to_string()).await.err();
            }
        };
        let sent = match frame {
            ClientFrame::Login(login) => {
                self.shared.metrics.bad_frame("unexpected");
                self.error(
                    Some(login.id),
                    Code::BadRequest,
                    "already logged in on this connection",
                )
                .await
            }
            ClientFrame::PairRequest(request) => {
                self.shared.metrics.bad_frame("unexpected");
                self.error(
                    Some(request.id),
                    Code::BadRequest,
                    "already logged in on this connection",
                )
                .await
            }
            ClientFrame::PairLookup { id, code } => self.pair_lookup(live, id, &code).await,
            ClientFrame::PairApprove { id, code } => self.pair_approve(live, id, &code).await,
            ClientFrame::Kick { id, device_ids } => self.kick(live, id, &device_ids).await,
            ClientFrame::RenameDevice {
                id,
                device_id,
                name,
            } => self.rename(live, id, &device_id, &name).await,
            ClientFrame::RefreshToken { id, token } => self.refresh(live, id, &token).await,
            ClientFrame::Logout { id } => {
                self.end_own_session(live, EndReason::LoggedOut).await;
                self.shared.registry.remove(&live.key).await;
                tracing::info!("logged out");
                if self.send(ServerFrame::Ok { id }).await.is_ok() {
                    self.close(1000, "logged out").await;
                }
                return Some(End::Gone);
            }
        };
        sent.err()
    }

    /// Signs out other devices of the account, online or not: the online ones
    /// are kicked (`byDevice`, with this device as `by`), and every named
    /// session ends so its token is refused from then on, saying who and when.
    async fn kick(&mut self, live: &Live, id: u64, device_ids: &[String]) -> Result<(), End> {
        // The app's current policy, not the one at login.
        let policy = self
            .shared
            .store
            .app(&live.key.app_key)
            .map_or(live.app.policy, |a| a.policy);
        let guard = policy.fresh_session_guard_secs.map(Duration::from_secs);
        let too_new = guard.is_some_and(|g| {
            u128::from(
                self.shared
                    .config
                    .clock
                    .now()
                    .saturating_sub(live.created_at),
            ) < g.as_millis()
        });
        if too_new {
            let message = "this session is too new to sign out other devices";
            return self.error(Some(id), Code::Forbidden, message).await;
        }
        let mut outcome = match self
            .shared
            .registry
            .kick(&live.key, device_ids, guard)
            .await
        {
            Ok(outcome) => outcome,
            Err(code) => {
                let message = "this session is too new to sign out other devices";
                return self.error(Some(id), code, message).await;
            }
        };
        let end = SessionEnd {
            reason: EndReason::ByDevice,
            by: Some(live.me.clone()),
            at: self.shared.config.clock.now(),
        };
        let shared = &self.shared;
        let (app_key, account) = (&live.key.app_key, &live.key.account);
        for device in &outcome.kicked {
            if let Err(e) = shared.end_session(app_key, account, device, &end).await {
                tracing::warn!(error = %e, %device, "cannot end a kicked device's session");
            }
        }
        // The named devices that are not online: signed in but offline?
        let mut offline_ended = false;
        let mut still_not_found = Vec::new();
        for device in std::mem::take(&mut outcome.not_found) {
            let ended = if device == live.me.device_id {
                None
            } else {
                shared
                    .end_session(app_key, account, &device, &end)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, %device, "cannot end an offline device's session");
                        None
                    })
            };
            if ended.is_some() {
                offline_ended = true;
                outcome.kicked.push(device);
            } else {
                still_not_found.push(device);
            }
        }
        outcome.not_found = still_not_found;
        if offline_ended {
            let _ = self.shared.registry.refresh(app_key, account).await;
        }
        tracing::info!(kicked = ?outcome.kicked, not_found = ?outcome.not_found, "kick");
        self.send(ServerFrame::KickResult {
            id,
            kicked: outcome.kicked,
            not_found: outcome.not_found,
        })
        .await
    }

    /// Names a device of the account; every device sees the new list.
    async fn rename(
        &mut self,
        live: &Live,
        id: u64,
        device_id: &str,
        name: &str,
    ) -> Result<(), End> {
        let name = match vestibule_protocol::check_device_name(name) {
            Ok(name) => name.to_owned(),
            Err(message) => return self.error(Some(id), Code::BadRequest, &message).await,
        };
        let change = SessionChange::Rename { name };
        match self
            .shared
            .store
            .update_session(&live.key.app_key, &live.key.account, device_id, &change)
            .await
        {
            Ok(Some(_)) => {
                let _ = self
                    .shared
                    .registry
                    .refresh(&live.key.app_key, &live.key.account)
                    .await;
                self.send(ServerFrame::Ok { id }).await
            }
            Ok(None) => {
                let message = "no signed-in device of this account has that id";
                self.error(Some(id), Code::BadRequest, message).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "rename failed");
                self.error(Some(id), Code::Busy, "cannot rename right now")
                    .await
            }
        }
    }

    async fn refresh(&mut self, live: &mut Live, id: u64, token: &Token) -> Result<(), End> {
        // The app may have changed (policy); the secret is stable.
        let app = self
            .shared
            .store
            .app(&live.key.app_key)
            .unwrap_or_else(|| live.app.clone());
        // Flags as stored now, not as cached: a ban on another node may be seconds old.
        match self
            .shared
            .store
            .fresh_flags(&live.key.app_key, &live.key.account)
            .await
        {
            Ok(flags) if flags.banned || flags.disabled => {
                let reason = if flags.banned {
                    KickReason::Banned
                } else {
                    KickReason::Admin
                };
                return Err(self.signed_out(live, reason).await);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "refresh: cannot read the account's flags");
                let message =
                    "cannot check the account right now; the session keeps its current token";
                return self.error(Some(id), Code::Busy, message).await;
            }
        }
        match token::verify(app.secret.expose(), &app.app_key, &live.key.account, token) {
            Ok(claims) => {
                let expires_at = claims.exp.map(|exp| exp.saturating_mul(1000));
                live.expires = expires_at.map(expiry_instant);
                live.token_expires_at = expires_at;
                live.app = app;
                let change = SessionChange::TokenExpiry {
                    expires_at,
                    idle_days: live.app.policy.session_idle_days,
                };
                if let Err(e) = self
                    .shared
                    .store
                    .update_session(
                        &live.key.app_key,
                        &live.key.account,
                        &live.me.device_id,
                        &change,
                    )
                    .await
                {
                    tracing::warn!(error = %e, "cannot record the refreshed token's expiry");
                }
                tracing::info!(expires_at = ?claims.exp, "token refreshed");
                self.send(ServerFrame::Ok { id }).await
            }
            Err(e) => {
                let message =
                    format!("token not accepted: {e}; the session keeps its current token");
                self.error(Some(id), Code::WrongCredentials, &message).await
            }
        }
    }

    fn count_decode_error(&self, e: &DecodeError) {
        self.shared.metrics.bad_frame(match e {
            DecodeError::TooLarge(_) => "oversized",
            DecodeError::Malformed(_) => "malformed",
            DecodeError::Invalid(_) => "invalid",
        });
    }

    /// Sends a frame, giving up on a client that does not read within the write timeout.
    async fn send(&mut self, frame: ServerFrame) -> Result<(), End> {
        self.send_text(frame.encode()).await
    }

    /// Sends an encoded frame, like [`send`](Self::send).
    async fn send_text(&mut self, text: String) -> Result<(), End> {
        match timeout(
            self.shared.config.write_timeout,
            self.ws.send(Message::text(text)),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "send failed");
                Err(End::Leave)
            }
            Err(_) => {
                tracing::info!("client stopped reading; closing");
                Err(End::Leave)
            }
        }
    }

    async fn error(&mut self, id: Option<u64>, code: Code, message: &str) -> Result<(), End> {
        self.send(ServerFrame::Error {
            id,
            code,
            message: message.to_owned(),
            retry_after_ms: None,
        })
        .await
    }

    /// Answers `loginFailed` and closes with `4000 + code`.
    async fn refuse(
        &mut self,
        id: Option<u64>,
        code: Code,
        message: &str,
        retry_after_ms: Option<u64>,
    ) {
        let frame = ServerFrame::LoginFailed {
            id,
            code,
            message: message.to_owned(),
            retry_after_ms,
            ended: None,
        };
        self.refuse_with(frame, code, message).await;
    }

    /// Sends a `loginFailed` frame and closes with `4000 + code`.
    async fn refuse_with(&mut self, frame: ServerFrame, code: Code, message: &str) {
        self.shared.metrics.login(code.as_u16().to_string());
        tracing::info!(code = code.as_u16(), message, "login refused");
        if self.send(frame).await.is_ok() {
            self.close(close_code::for_code(code), message).await;
        }
    }

    /// A read failed: an oversized frame gets close 1009, invalid UTF-8 1007,
    /// a protocol violation 1002; a vanished peer just ends.
    async fn transport_error(&mut self, e: &tokio_tungstenite::tungstenite::Error) {
        use tokio_tungstenite::tungstenite::Error as WsError;
        tracing::debug!(error = %e, "read failed");
        let (code, kind, reason) = match e {
            WsError::Capacity(_) => (1009, "oversized", "frame over the 64 KiB limit"),
            WsError::Utf8(_) => (1007, "malformed", "text frame is not valid UTF-8"),
            // The peer vanished without a close: not bad input, just gone.
            WsError::Protocol(
                tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ) => return,
            WsError::Protocol(_) => (1002, "malformed", "WebSocket protocol violation"),
            _ => return,
        };
        self.shared.metrics.bad_frame(kind);
        self.close(code, reason).await;
    }

    /// The client started the closing handshake; tungstenite queued our
    /// reply, which goes out on the next flush.
    async fn flush_close_reply(&mut self) {
        let _ = timeout(CLOSE_GRACE, self.ws.flush()).await;
    }

    /// Sends a close frame and waits briefly for the client's close.
    async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: code.into(),
            reason: truncate(reason, 120).into_owned().into(),
        };
        if timeout(CLOSE_GRACE, self.ws.send(Message::Close(Some(frame))))
            .await
            .is_err()
        {
            return;
        }
        let _ = timeout(CLOSE_GRACE, async {
            while let Some(Ok(message)) = self.ws.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// The `id` of a frame that failed to decode, when one can be read.
fn request_id(text: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct WithId {
        id: u64,
    }
    if text.len() > vestibule_protocol::limits::MAX_FRAME_BYTES {
        return None;
    }
    serde_json::from_str::<WithId>(text).ok().map(|w| w.id)
}

fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(s[..end].to_owned())
}

/// The tokio instant at which a wall-clock expiry (ms since the epoch) falls.
fn expiry_instant(expires_at_ms: u64) -> Instant {
    let remaining = expires_at_ms.saturating_sub(unix_millis());
    Instant::now() + Duration::from_millis(remaining)
}

async fn timeout_at<F: std::future::IntoFuture>(
    deadline: Instant,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    tokio::time::timeout_at(deadline, future).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_tungstenite::tungstenite::protocol::Role;
    use vestibule_protocol::{ClientInfo, DeviceInfo, DeviceType};

    use super::*;
    use crate::registry::MemoryRegistry;
    use crate::store::Store;
    use crate::{GatewayConfig, seed_demo};

    const SECRET: &str = "session-unit-test-secret-0123456789";

    async fn shared() -> Arc<Shared> {
        let store = Arc::new(Store::memory());
        seed_demo(&store, Some(SECRET)).await.expect("demo app");
        let config = GatewayConfig::new(([127, 0, 0, 1], 0).into());
        Arc::new(Shared::new(
            config,
            store,
            Arc::new(MemoryRegistry::new()),
            String::new(),
        ))
    }

    fn login(account: &str) -> String {
        let token = token::mint(SECRET, "demo", account, Duration::from_secs(60)).expect("mint");
        ClientFrame::Login(Login {
            id: 1,
            app_key: "demo".into(),
            account: account.into(),
            token: Some(token),
            session_token: None,
            device: DeviceInfo {
                device_id: "pc-1".into(),
                device_type: DeviceType::Pc,
                os: "test".into(),
                mac: None,
                custom_tag: None,
            },
            client: ClientInfo {
                name: "unit".into(),
                version: "0".into(),
            },
        })
        .encode()
    }

    async fn next_frame<S: AsyncRead + AsyncWrite + Unpin>(
        ws: &mut WebSocketStream<S>,
    ) -> ServerFrame {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return ServerFrame::decode(text.as_str()).expect("a server frame");
                }
                Some(Ok(_)) => {}
                other => panic!("the session ended: {other:?}"),
            }
        }
    }

    /// A session whose mailbox never empties (a device list pushed for every
    /// login on its account, endlessly) still expires on time.
    #[tokio::test(start_paused = true)]
    async fn the_token_expires_however_busy_the_mailbox_is() {
        let shared = shared().await;
        let (client_io, server_io) = tokio::io::duplex(1024 * 1024);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let peer: SocketAddr = ([192, 0, 2, 7], 40_000).into();
        tokio::spawn(run(server, peer, shared.clone()));
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let token = token::mint(SECRET, "demo", "alice", Duration::from_secs(5)).expect("mint");
        let ClientFrame::Login(mut frame) = ClientFrame::decode(&login("alice")).expect("login")
        else {
            unreachable!()
        };
        frame.token = Some(token);
        client
            .send(Message::text(ClientFrame::Login(frame).encode()))
            .await
            .expect("send login");
        let ServerFrame::LoginOk(_) = next_frame(&mut client).await else {
            panic!("expected loginOk")
        };
        // Another device of alice logs in again and again: every time, alice
        // gets a list, faster than she can be sent them.
        const FLOOD: u64 = 100_000;
        let kicked_at = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
        let logins = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let flood = tokio::spawn({
            let (shared, kicked_at, logins) = (shared.clone(), kicked_at.clone(), logins.clone());
            async move {
                let policy = crate::policy::DevicePolicy::default();
                for n in 0..FLOOD {
                    if kicked_at.load(std::sync::atomic::Ordering::SeqCst) != u64::MAX {
                        return;
                    }
                    let session = crate::registry::NewSession {
                        key: SessionKey {
                            app_key: "demo".into(),
                            account: "alice".into(),
                            connection_id: format!("flood-{n}"),
                        },
                        device: DeviceInfo {
                            device_id: "phone".into(),
                            device_type: DeviceType::Ios,
                            os: "iOS".into(),
                            mac: None,
                            custom_tag: None,
                        },
                        ip: "192.0.2.8".into(),
                        login_time: 0,
                        mailbox: crate::registry::Mailbox::new(),
                        client: ClientInfo {
                            name: "flood".into(),
                            version: "0".into(),
                        },
                        created_at: 0,
                        takeover: false,
                    };
                    let _ = shared.registry.login(&policy, session).await;
                    logins.store(n + 1, std::sync::atomic::Ordering::SeqCst);
                    if n % 1000 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }
        });
        let reader = tokio::spawn({
            let (kicked_at, logins) = (kicked_at.clone(), logins.clone());
            async move {
                loop {
                    if let ServerFrame::Kicked { reason, .. } = next_frame(&mut client).await {
                        kicked_at.store(
                            logins.load(std::sync::atomic::Ordering::SeqCst),
                            std::sync::atomic::Ordering::SeqCst,
                        );
                        return reason;
                    }
                }
            }
        });
        for _ in 0..7 {
            tokio::time::advance(Duration::from_secs(1)).await;
            tokio::task::yield_now().await;
        }
        let kicked = reader.await;
        flood.abort();
        assert!(matches!(kicked, Ok(KickReason::TokenExpired)), "{kicked:?}");
        let at = kicked_at.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            at < FLOOD,
            "the expiry waited until the flood of {FLOOD} lists was over (kicked after {at})"
        );
    }

    /// One session driven over an in-memory pipe: no socket, no listener.
    #[tokio::test]
    async fn a_session_runs_over_any_byte_stream() {
        let shared = shared().await;
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let peer: SocketAddr = ([192, 0, 2, 7], 40_000).into();
        let session = tokio::spawn(run(server, peer, shared.clone()));
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;

        client
            .send(Message::text(login("alice")))
            .await
            .expect("send login");
        let ServerFrame::LoginOk(ok) = next_frame(&mut client).await else {
            panic!("expected loginOk")
        };
        assert_eq!(ok.id, 1);
        assert_eq!((ok.ip.as_str(), ok.port), ("192.0.2.7", 40_000));
        assert_eq!(ok.devices.len(), 1);
        assert_eq!(shared.registry.local_sessions(), 1);

        client
            .send(Message::text(ClientFrame::Logout { id: 2 }.encode()))
            .await
            .expect("send logout");
        assert_eq!(next_frame(&mut client).await, ServerFrame::Ok { id: 2 });
        tokio::time::timeout(Duration::from_secs(5), session)
            .await
            .expect("the session ends after a logout")
            .expect("no panic");
        assert_eq!(shared.registry.local_sessions(), 0);
    }
}
