//! The task that owns one instance's socket. It turns commands, frames and
//! timers into [`Input`]s for the [`Machine`] and carries out its [`Action`]s.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use vestibule_protocol::{ClientFrame, CloseCause, Code, LoginOk, PairRequester, ServerFrame};

use crate::dial::{CLOSE_GRACE, Failure, Ws, dial, drain};
use crate::error::ClientError;
use crate::hub::Hub;
use crate::machine::{Action, Input, Machine};
use crate::model::{DisconnectInfo, Event, KickResult, LoginInfo, RetryInfo, Snapshot, Status};
use crate::options::{ClientOptions, OptionsUpdate};

type DialFuture = Pin<Box<dyn Future<Output = Result<(Ws, LoginOk), Failure>> + Send>>;

/// How long a logout waits for the gateway's `ok` and close.
const LOGOUT_GRACE: Duration = Duration::from_secs(5);

/// What [`crate::Client::ready`] resolves to: the session, or how the attempt ended.
pub(crate) type ReadyReply = oneshot::Sender<Result<LoginInfo, Option<DisconnectInfo>>>;

/// What one batch of actions changes in the snapshot besides the machine's state.
#[derive(Default)]
struct Edits {
    /// A fresh login: clear the old session's info and devices.
    fresh: bool,
    /// The backoff shown (`Some(None)` clears it).
    retry: Option<Option<RetryInfo>>,
    /// How the connection ended.
    last_disconnect: Option<DisconnectInfo>,
}

impl Edits {
    fn apply(self, s: &mut Snapshot) {
        if self.fresh {
            s.login = None;
            s.devices.clear();
            s.devices_rev = 0;
        }
        if let Some(retry) = self.retry {
            s.retry = retry;
        }
        if let Some(info) = self.last_disconnect {
            s.last_disconnect = Some(info);
        }
    }
}

/// Requests from [`crate::Client`] handles.
#[derive(Debug)]
pub(crate) enum Command {
    Connect,
    Disconnect(oneshot::Sender<()>),
    Destroy(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
    Kick(
        Vec<String>,
        oneshot::Sender<Result<KickResult, ClientError>>,
    ),
    SetOptions(
        Box<OptionsUpdate>,
        Option<oneshot::Sender<Result<(), ClientError>>>,
    ),
    Rename {
        device_id: String,
        name: String,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    PairLookup {
        code: String,
        reply: oneshot::Sender<Result<PairRequester, ClientError>>,
    },
    PairApprove {
        code: String,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    RetryNow,
    Network(bool),
    /// The OS reported a wake from sleep.
    Woke,
    Ready(ReadyReply),
}

/// The device session's token, shared with the [`crate::Client`] handles so
/// an app can remember it; `Debug` of the token never shows it.
pub(crate) type SessionSlot = Arc<std::sync::Mutex<Option<vestibule_protocol::Token>>>;

enum Pending {
    Kick(oneshot::Sender<Result<KickResult, ClientError>>),
    Rename(oneshot::Sender<Result<(), ClientError>>),
    PairLookup(oneshot::Sender<Result<PairRequester, ClientError>>),
    PairApprove(oneshot::Sender<Result<(), ClientError>>),
    Refresh {
        reply: Option<oneshot::Sender<Result<(), ClientError>>>,
        previous: vestibule_protocol::Token,
    },
}

pub(crate) struct Actor {
    options: ClientOptions,
    machine: Machine,
    commands: mpsc::UnboundedReceiver<Command>,
    hub: Arc<Hub>,
    session: SessionSlot,
    socket: Option<Ws>,
    dialing: Option<DialFuture>,
    retry_at: Option<Instant>,
    stable_at: Option<Instant>,
    ping_at: Option<Instant>,
    pong_deadline: Option<Instant>,
    wake_check: (Instant, u64),
    next_id: u64,
    pending: HashMap<u64, Pending>,
    destroy_waiters: Vec<oneshot::Sender<()>>,
    ready_waiters: Vec<ReadyReply>,
    /// A token the provider gave a dial, for the options once it is done.
    provided: Arc<std::sync::Mutex<Option<vestibule_protocol::Token>>>,
    /// The provider, asked because the gateway said the token expired.
    token_request:
        Option<futures_util::future::BoxFuture<'static, Option<vestibule_protocol::Token>>>,
    /// The provider was asked in this `NeedsToken` already.
    token_asked: bool,
    /// The gateway of the latest attempt.
    current_url: String,
    /// The next attempt goes to another gateway (the last one failed or was lost).
    rotate: bool,
    /// The live nodes the LBS named last (see `lbs`).
    gateways: Gateways,
    /// An LBS question under way.
    lbs_request: Option<tokio::task::JoinHandle<()>>,
}

/// The nodes an LBS named, shared with the [`crate::Client`] handle.
pub(crate) type Gateways = Arc<std::sync::Mutex<Vec<String>>>;

impl Actor {
    pub(crate) fn new(
        options: ClientOptions,
        machine: Machine,
        commands: mpsc::UnboundedReceiver<Command>,
        hub: Arc<Hub>,
        session: SessionSlot,
        gateways: Gateways,
    ) -> Self {
        let wall = options.wall_clock.now();
        *lock(&session) = options.session_token.clone();
        Self {
            machine,
            commands,
            hub,
            session,
            socket: None,
            dialing: None,
            retry_at: None,
            stable_at: None,
            ping_at: None,
            pong_deadline: None,
            wake_check: (Instant::now(), wall),
            next_id: 1,
            pending: HashMap::new(),
            destroy_waiters: Vec::new(),
            ready_waiters: Vec::new(),
            provided: Arc::default(),
            token_request: None,
            token_asked: false,
            current_url: options.url.clone(),
            rotate: false,
            gateways,
            lbs_request: None,
            options,
        }
    }

    /// The initial snapshot for an instance.
    pub(crate) fn initial_snapshot(options: &ClientOptions) -> Snapshot {
        Snapshot {
            device_id: options.device.device_id.clone(),
            status: Status::Idle,
            net_state: crate::NetState::Disconnected,
            ready: false,
            login: None,
            devices: Vec::new(),
            devices_rev: 0,
            retry: None,
            last_disconnect: None,
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            if self.machine.status() == Status::Destroyed {
                break;
            }
            let wake_at = after(self.wake_check.0, self.options.timing.wake_check_interval);
            // Biased: frames that already arrived beat a timer that fired at the same moment.
            tokio::select! {
                biased;
                next = next_message(&mut self.socket) => self.on_message(next).await,
                dialed = poll_dial(&mut self.dialing) => {
                    self.dialing = None;
                    let provided = self
                        .provided
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .take();
                    if let Some(token) = provided {
                        self.options.token = token;
                    }
                    self.on_dialed(dialed).await;
                }
                token = poll_token(&mut self.token_request) => {
                    self.token_request = None;
                    if let Some(token) = token.filter(|t| !t.is_empty()) {
                        tracing::info!(account = %self.options.account, "the token provider gave a fresh token");
                        // In NeedsToken a new token brings the connection back by itself.
                        self.set_options(OptionsUpdate::token(token), None).await;
                    }
                }
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    // Every handle is gone: nobody can observe this instance any more.
                    None => self.apply(Input::Destroy).await,
                },
                () = sleep_until_opt(self.pong_deadline) => {
                    self.pong_deadline = None;
                    let message = format!(
                        "no reply within {} s of a ping",
                        self.options.timing.pong_timeout.as_secs()
                    );
                    self.apply(Input::Ended { cause: CloseCause::Timeout, message, by: None, ended: None }).await;
                }
                () = sleep_until_opt(self.ping_at) => self.ping().await,
                () = sleep_until_opt(self.retry_at) => {
                    self.retry_at = None;
                    self.apply(Input::RetryTimer).await;
                }
                () = sleep_until_opt(self.stable_at) => {
                    self.stable_at = None;
                    self.apply(Input::Stable).await;
                }
                () = sleep_until(wake_at) => self.check_wake().await,
            }
            self.ask_for_token_if_needed();
        }
        // The socket is closed (the hang-up waited for it): destroy() may return.
        for waiter in self.ready_waiters.drain(..) {
            let _ = waiter.send(Err(self.hub.borrow().last_disconnect.clone()));
        }
        for waiter in self.destroy_waiters.drain(..) {
            let _ = waiter.send(());
        }
        // Drain commands that raced the destroy so their callers do not hang.
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            reject(command, ClientError::Destroyed);
        }
    }

    /// The options for an attempt to `url`.
    fn dial_options(&self, url: &str) -> ClientOptions {
        let mut options = self.options.clone();
        options.url = url.to_owned();
        options
    }

    /// Every gateway known: the LBS's live nodes, then `url` and the fallbacks.
    fn candidates(&self) -> Vec<String> {
        let learned = lock(&self.gateways).clone();
        let mut all: Vec<String> = Vec::new();
        for url in learned
            .into_iter()
            .chain(std::iter::once(self.options.url.clone()))
            .chain(self.options.fallback_urls.iter().cloned())
        {
            if !all.contains(&url) {
                all.push(url);
            }
        }
        all
    }

    /// The gateway of the next attempt: the current one, or after a failure
    /// or a lost connection the next one after it.
    fn next_url(&mut self) -> String {
        let candidates = self.candidates();
        let position = candidates.iter().position(|u| *u == self.current_url);
        let index = match (position, std::mem::take(&mut self.rotate)) {
            (Some(i), true) => (i + 1) % candidates.len(),
            (Some(i), false) => i,
            (None, _) => 0,
        };
        self.current_url = candidates[index].clone();
        self.current_url.clone()
    }

    /// Asks the LBS for the live nodes in the background, if it has URLs
    /// and is not being asked already.
    fn ask_lbs(&mut self) {
        if self.options.lbs_urls.is_empty()
            || self.lbs_request.as_ref().is_some_and(|t| !t.is_finished())
        {
            return;
        }
        let scheme = url::Url::parse(&self.options.url)
            .map(|u| u.scheme().to_owned())
            .unwrap_or_default();
        let tls = crate::dial::tls_config(&self.options.trusted_certs).ok();
        self.lbs_request = Some(tokio::spawn(crate::lbs::refresh(
            self.options.lbs_urls.clone(),
            scheme,
            tls,
            self.gateways.clone(),
        )));
    }

    /// In `NeedsToken` (the gateway said the token expired) with a provider:
    /// asks it, once per `NeedsToken`.
    fn ask_for_token_if_needed(&mut self) {
        if self.machine.status() != Status::NeedsToken {
            self.token_asked = false;
            return;
        }
        if self.token_asked || self.token_request.is_some() {
            return;
        }
        if let Some(provider) = &self.options.token_provider {
            self.token_asked = true;
            self.token_request = Some(provider.fetch());
        }
    }

    /// Feeds the machine and carries out its actions.
    async fn apply(&mut self, input: Input) {
        self.apply_with(input, |_| {}).await;
    }

    /// Feeds the machine, carries out its actions in order, and then publishes
    /// one snapshot (with `change` and everything the actions recorded) and
    /// the events, together: one change, one publish.
    async fn apply_with(&mut self, input: Input, change: impl FnOnce(&mut Snapshot)) {
        let now = self.options.wall_clock.now();
        let actions = self.machine.on(input, now);
        let mut edits = Edits::default();
        let mut events = Vec::new();
        for action in actions {
            match action {
                Action::Dial { fresh } => {
                    // A new login starts without the old session's info.
                    edits.fresh |= fresh;
                    let url = self.next_url();
                    if lock(&self.gateways).is_empty() {
                        self.ask_lbs();
                    }
                    events.push(Event::Dialing { url: url.clone() });
                    self.machine.set_can_fall_back(
                        self.options.session_token.is_some()
                            && (!self.options.token.is_empty()
                                || self.options.token_provider.is_some()),
                    );
                    let expired = self
                        .hub
                        .borrow()
                        .login
                        .as_ref()
                        .and_then(|l| l.token_expires_at)
                        .is_some_and(|at| at <= now);
                    let provider = self
                        .options
                        .token_provider
                        .clone()
                        .filter(|_| self.options.session_token.is_none())
                        .filter(|_| self.options.token.is_empty() || expired);
                    self.dialing = Some(if let Some(provider) = provider {
                        // A sign-in without a usable token: ask for one first.
                        let (mut options, id) = (self.dial_options(&url), self.take_id());
                        let slot = self.provided.clone();
                        Box::pin(async move {
                            match provider.fetch().await.filter(|t| !t.is_empty()) {
                                Some(token) => {
                                    options.token = token.clone();
                                    *slot
                                        .lock()
                                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                                        Some(token);
                                    dial(options, id).await
                                }
                                None => Err(Failure::no_credential()),
                            }
                        })
                    } else if self.options.session_token.is_none() && self.options.token.is_empty()
                    {
                        // Signed out and no app token: only the person can go on.
                        Box::pin(std::future::ready(Err(Failure::no_credential())))
                    } else {
                        Box::pin(dial(self.dial_options(&url), self.take_id()))
                    });
                }
                Action::ForgetSession => {
                    if self.options.session_token.is_some() {
                        tracing::info!(account = %self.options.account, "the device session is over; forgetting its token");
                    }
                    self.set_session(None);
                }
                Action::Hangup { logout } => self.hangup(logout).await,
                Action::CloseSocket => self.close_socket().await,
                Action::ArmRetry { attempt, delay } => {
                    // The next attempt goes to the next gateway, if there are
                    // several, from the LBS's latest list.
                    self.rotate = true;
                    self.ask_lbs();
                    self.retry_at = Some(after(Instant::now(), delay));
                    let info = RetryInfo {
                        retry_count: attempt,
                        delay_ms: millis(delay),
                        next_retry_at: now.saturating_add(millis(delay)),
                    };
                    edits.retry = Some(Some(info));
                }
                Action::DisarmRetry => {
                    self.retry_at = None;
                    edits.retry = Some(None);
                }
                Action::ArmStable => {
                    self.stable_at = Some(after(Instant::now(), self.options.timing.stable_after));
                }
                Action::Probe => self.ping().await,
                Action::Record(info) => edits.last_disconnect = Some(info),
                Action::Emit(event) => events.push(event),
            }
        }
        self.announce(
            |s| {
                change(s);
                edits.apply(s);
            },
            events,
        );
        self.settle_ready_waiters();
    }

    /// Publishes the snapshot (the machine's state, plus `change`) and `events` as one step.
    fn announce(&self, change: impl FnOnce(&mut Snapshot), events: Vec<Event>) {
        let status = self.machine.status();
        let net_state = self.machine.net_state();
        self.hub.announce(
            |s| {
                change(s);
                s.status = status;
                s.net_state = net_state;
                s.ready = status == Status::Connected;
                if status != Status::Reconnecting {
                    s.retry = None;
                }
            },
            events,
        );
    }

    fn emit(&self, event: Event) {
        self.announce(|_| {}, vec![event]);
    }

    /// Answers `ready()` callers once the attempt they waited for is decided.
    fn settle_ready_waiters(&mut self) {
        if self.ready_waiters.is_empty() {
            return;
        }
        let outcome = match self.machine.status() {
            Status::Connected => match self.hub.borrow().login.clone() {
                Some(info) => Ok(info),
                None => return,
            },
            Status::Idle | Status::SignedOut | Status::NeedsToken | Status::Destroyed => {
                Err(self.hub.borrow().last_disconnect.clone())
            }
            Status::Connecting | Status::Reconnecting => return,
        };
        for waiter in self.ready_waiters.drain(..) {
            let _ = waiter.send(outcome.clone());
        }
    }

    fn set_session(&mut self, token: Option<vestibule_protocol::Token>) {
        *lock(&self.session) = token.clone();
        self.options.session_token = token;
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    async fn on_dialed(&mut self, dialed: Result<(Ws, LoginOk), Failure>) {
        match dialed {
            Ok((socket, mut ok)) => {
                self.socket = Some(socket);
                let new_session = ok.session_token.is_some();
                if let Some(token) = ok.session_token.take() {
                    // A new sign-in: reconnects use the session from now on.
                    self.set_session(Some(token));
                }
                let now = Instant::now();
                self.ping_at = Some(after(now, self.options.timing.ping_interval));
                self.pong_deadline = None;
                let mut info = LoginInfo::from_login_ok(
                    &self.options.app_key,
                    &self.options.account,
                    &self.options.device.device_id,
                    &ok,
                );
                info.new_session = new_session;
                tracing::info!(account = %self.options.account, connection_id = %ok.connection_id, "connected");
                let login = info.clone();
                let devices = ok.devices.clone();
                let rev = ok.rev;
                self.apply_with(
                    Input::LoggedIn {
                        info: Box::new(info),
                        devices: ok.devices,
                        rev,
                    },
                    move |s| {
                        s.login = Some(login);
                        s.devices = devices;
                        s.devices_rev = rev;
                    },
                )
                .await;
            }
            Err(failure) => {
                tracing::info!(account = %self.options.account, cause = ?failure.cause, message = %failure.message, "connection attempt failed");
                self.apply(Input::Ended {
                    cause: failure.cause,
                    message: failure.message,
                    by: None,
                    ended: failure.ended,
                })
                .await;
            }
        }
    }

    async fn on_message(
        &mut self,
        next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) {
        // Anything at all from the gateway proves the socket is alive.
        self.pong_deadline = None;
        let message = match next {
            Some(Ok(message)) => message,
            broke => {
                let message = match broke {
                    Some(Err(e)) => format!("connection broke: {e}"),
                    _ => "the gateway closed the connection".to_owned(),
                };
                return self
                    .apply(Input::Ended {
                        cause: CloseCause::Transport,
                        message,
                        by: None,
                        ended: None,
                    })
                    .await;
            }
        };
        match message {
            Message::Text(text) => match ServerFrame::decode(text.as_str()) {
                Ok(frame) => self.on_frame(frame).await,
                Err(e) => self.emit(Event::error(
                    Code::BadRequest,
                    format!("unreadable frame from the gateway: {e}"),
                )),
            },
            Message::Close(frame) => {
                // tungstenite queued the closing-handshake reply; let it out before the socket goes.
                if let Some(socket) = self.socket.as_mut() {
                    let _ = futures_util::FutureExt::now_or_never(socket.flush());
                }
                let (code, message) = match frame {
                    Some(f) => (Some(u16::from(f.code)), f.reason.to_string()),
                    None => (None, "the gateway closed the connection".to_owned()),
                };
                self.apply(Input::Ended {
                    cause: CloseCause::from_close_code(code),
                    message,
                    by: None,
                    ended: None,
                })
                .await;
            }
            Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }

    async fn on_frame(&mut self, frame: ServerFrame) {
        match frame {
            ServerFrame::Devices { devices, rev } => {
                if rev > self.hub.borrow().devices_rev {
                    let list = devices.clone();
                    self.announce(
                        move |s| {
                            s.devices = list;
                            s.devices_rev = rev;
                        },
                        vec![Event::DevicesChanged { devices, rev }],
                    );
                }
            }
            ServerFrame::Kicked {
                reason,
                by,
                message,
            } => {
                tracing::info!(account = %self.options.account, %reason, "kicked");
                self.apply(Input::Ended {
                    cause: CloseCause::Kicked(reason),
                    message,
                    by,
                    ended: None,
                })
                .await;
            }
            ServerFrame::KickResult {
                id,
                kicked,
                not_found,
            } => {
                if let Some(Pending::Kick(reply)) = self.pending.remove(&id) {
                    let _ = reply.send(Ok(KickResult { kicked, not_found }));
                }
            }
            ServerFrame::PairInfo { id, requester } => {
                if let Some(Pending::PairLookup(reply)) = self.pending.remove(&id) {
                    let _ = reply.send(Ok(requester));
                }
            }
            // Frames of a connection that waits to be paired: not this one's.
            ServerFrame::PairCode { .. } | ServerFrame::Paired { .. } => {}
            ServerFrame::NewDevice { device } => {
                tracing::info!(account = %self.options.account, device_id = %device.device_id, "a new device signed in");
                self.emit(Event::NewDevice { device });
            }
            ServerFrame::Ok { id } => match self.pending.remove(&id) {
                Some(Pending::Refresh {
                    reply: Some(reply), ..
                })
                | Some(Pending::Rename(reply) | Pending::PairApprove(reply)) => {
                    let _ = reply.send(Ok(()));
                }
                Some(Pending::Kick(reply)) => {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
                Some(Pending::PairLookup(reply)) => {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
                Some(Pending::Refresh { reply: None, .. }) | None => {}
            },
            ServerFrame::Error {
                id,
                code,
                message,
                retry_after_ms,
            } => {
                match id.and_then(|id| self.pending.remove(&id)) {
                    Some(Pending::Kick(reply)) => {
                        let _ = reply.send(Err(ClientError::Rejected {
                            code,
                            message,
                            retry_after_ms,
                        }));
                    }
                    Some(Pending::Rename(reply) | Pending::PairApprove(reply)) => {
                        let _ = reply.send(Err(ClientError::Rejected {
                            code,
                            message,
                            retry_after_ms,
                        }));
                    }
                    Some(Pending::PairLookup(reply)) => {
                        let _ = reply.send(Err(ClientError::Rejected {
                            code,
                            message,
                            retry_after_ms,
                        }));
                    }
                    Some(Pending::Refresh { reply, previous }) => {
                        // The gateway keeps the old token; so do we.
                        self.options.token = previous;
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(ClientError::Rejected {
                                code,
                                message,
                                retry_after_ms,
                            }));
                        }
                    }
                    // The gateway is going away: the machine remembers when it said to come back.
                    None if code == Code::Busy && retry_after_ms.is_some() => {
                        let after =
                            vestibule_protocol::server_wait_ms(retry_after_ms.unwrap_or_default());
                        self.apply(Input::GoingAway { after }).await;
                    }
                    None => self.emit(Event::error(code, message)),
                }
            }
            ServerFrame::LoginFailed {
                code,
                message,
                retry_after_ms,
                ended,
                ..
            } => {
                let retry_after = retry_after_ms.map(vestibule_protocol::server_wait_ms);
                self.apply(Input::Ended {
                    cause: CloseCause::Rejected { code, retry_after },
                    message,
                    by: None,
                    ended,
                })
                .await;
            }
            ServerFrame::LoginOk(_) => {
                self.emit(Event::error(
                    Code::BadRequest,
                    "unexpected loginOk on a live session",
                ));
            }
            // A newer gateway's frame: nothing this version must act on.
            ServerFrame::Unknown => {
                tracing::debug!("ignoring a frame type this version does not know")
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Connect => self.apply(Input::Connect).await,
            Command::Disconnect(reply) => {
                self.apply(Input::Disconnect).await;
                let _ = reply.send(());
            }
            Command::Destroy(reply) => {
                self.destroy_waiters.push(reply);
                self.apply(Input::Destroy).await;
            }
            Command::Close(reply) => {
                self.destroy_waiters.push(reply);
                self.apply(Input::Close).await;
            }
            Command::RetryNow => self.apply(Input::RetryNow).await,
            Command::Ready(reply) => {
                self.ready_waiters.push(reply);
                self.settle_ready_waiters();
            }
            Command::Woke => {
                self.wake_check = (Instant::now(), self.options.wall_clock.now());
                self.apply(Input::Woke).await;
            }
            Command::Network(up) => {
                self.apply(if up {
                    Input::NetworkUp
                } else {
                    Input::NetworkDown
                })
                .await;
            }
            Command::Kick(ids, reply) => {
                if self.machine.status() != Status::Connected {
                    let _ = reply.send(Err(ClientError::NotConnected));
                    return;
                }
                let id = self.take_id();
                let frame = ClientFrame::Kick {
                    id,
                    device_ids: ids,
                };
                if self.send(&frame).await {
                    self.pending.insert(id, Pending::Kick(reply));
                } else {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
            }
            Command::Rename {
                device_id,
                name,
                reply,
            } => {
                if self.machine.status() != Status::Connected {
                    let _ = reply.send(Err(ClientError::NotConnected));
                    return;
                }
                let id = self.take_id();
                let frame = ClientFrame::RenameDevice {
                    id,
                    device_id,
                    name,
                };
                if self.send(&frame).await {
                    self.pending.insert(id, Pending::Rename(reply));
                } else {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
            }
            Command::PairLookup { code, reply } => {
                if self.machine.status() != Status::Connected {
                    let _ = reply.send(Err(ClientError::NotConnected));
                    return;
                }
                let id = self.take_id();
                if self.send(&ClientFrame::PairLookup { id, code }).await {
                    self.pending.insert(id, Pending::PairLookup(reply));
                } else {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
            }
            Command::PairApprove { code, reply } => {
                if self.machine.status() != Status::Connected {
                    let _ = reply.send(Err(ClientError::NotConnected));
                    return;
                }
                let id = self.take_id();
                if self.send(&ClientFrame::PairApprove { id, code }).await {
                    self.pending.insert(id, Pending::PairApprove(reply));
                } else {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
            }
            Command::SetOptions(update, reply) => self.set_options(*update, reply).await,
        }
    }

    async fn set_options(
        &mut self,
        update: OptionsUpdate,
        reply: Option<oneshot::Sender<Result<(), ClientError>>>,
    ) {
        let fixed = [
            ("account", update.account.as_ref(), &self.options.account),
            ("appKey", update.app_key.as_ref(), &self.options.app_key),
            ("url", update.url.as_ref(), &self.options.url),
        ];
        for (name, new, current) in fixed {
            if new.is_some_and(|new| new != current) {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(ClientError::Immutable(name)));
                }
                return;
            }
        }
        if let Some(tag) = update.custom_tag {
            self.options.device.custom_tag = tag;
        }
        if let Some(proxy) = update.proxy {
            self.options.proxy = proxy;
        }
        if let Some(timing) = update.timing {
            self.options.timing = timing;
            self.machine.backoff_mut().set_config(timing.backoff);
        }
        let Some(token) = update.token.filter(|t| *t != self.options.token) else {
            if let Some(reply) = reply {
                let _ = reply.send(Ok(()));
            }
            return;
        };
        if token.is_empty() {
            if let Some(reply) = reply {
                let _ = reply.send(Err(ClientError::InvalidOptions(
                    "token must not be empty".into(),
                )));
            }
            return;
        }
        let previous = std::mem::replace(&mut self.options.token, token.clone());
        if self.machine.status() == Status::Connected {
            // Online: refresh in place, no reconnect.
            let id = self.take_id();
            if self.send(&ClientFrame::RefreshToken { id, token }).await {
                self.pending
                    .insert(id, Pending::Refresh { reply, previous });
                return;
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(Ok(()));
        }
        self.apply(Input::TokenChanged).await;
    }

    /// Sends a frame on the live socket; false when there is none or it broke.
    async fn send(&mut self, frame: &ClientFrame) -> bool {
        let Some(socket) = self.socket.as_mut() else {
            return false;
        };
        let sent = timeout(
            self.options.timing.pong_timeout,
            socket.send(Message::text(frame.encode())),
        )
        .await;
        matches!(sent, Ok(Ok(())))
    }

    async fn ping(&mut self) {
        let now = Instant::now();
        self.ping_at = Some(after(now, self.options.timing.ping_interval));
        let Some(socket) = self.socket.as_mut() else {
            self.ping_at = None;
            return;
        };
        if self.pong_deadline.is_none() {
            self.pong_deadline = Some(after(now, self.options.timing.pong_timeout));
        }
        if timeout(
            self.options.timing.pong_timeout,
            socket.send(Message::Ping(Vec::new().into())),
        )
        .await
        .is_err()
        {
            // A send that cannot complete is as dead as a missing pong.
            self.pong_deadline = Some(now);
        }
    }

    async fn check_wake(&mut self) {
        let (then_mono, then_wall) = self.wake_check;
        let now_mono = Instant::now();
        let now_wall = self.options.wall_clock.now();
        self.wake_check = (now_mono, now_wall);
        let mono = now_mono.duration_since(then_mono);
        let wall = Duration::from_millis(now_wall.saturating_sub(then_wall));
        if wall > mono.saturating_add(self.options.timing.wake_threshold) {
            tracing::info!(slept = ?(wall - mono), "the machine slept; checking the connection");
            self.apply(Input::Woke).await;
        }
    }

    /// Closes the live socket with a normal close (no logout) and waits for
    /// the gateway's reply to it: the device's session stays, offline.
    async fn close_socket(&mut self) {
        let socket = self.socket.take();
        // Everything else a hang-up clears (the socket is ours already).
        self.hangup(false).await;
        if let Some(mut socket) = socket {
            let close = CloseFrame {
                code: 1000.into(),
                reason: "closed".into(),
            };
            if matches!(
                timeout(CLOSE_GRACE, socket.close(Some(close))).await,
                Ok(Ok(()))
            ) {
                let _ = timeout(CLOSE_GRACE, drain(&mut socket)).await;
            }
        }
    }

    /// Ends the current socket or attempt. With `logout`, tells the gateway
    /// first and waits for its close, so other devices see it at once and the
    /// gateway has seen the close when this returns.
    async fn hangup(&mut self, logout: bool) {
        let dialing = self.dialing.take();
        self.ping_at = None;
        self.pong_deadline = None;
        self.stable_at = None;
        for (_, pending) in self.pending.drain() {
            match pending {
                Pending::Kick(reply) => {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
                Pending::Refresh {
                    reply: Some(reply), ..
                }
                | Pending::Rename(reply)
                | Pending::PairApprove(reply) => {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
                Pending::PairLookup(reply) => {
                    let _ = reply.send(Err(ClientError::ConnectionLost));
                }
                Pending::Refresh { reply: None, .. } => {}
            }
        }
        let mut socket = match (self.socket.take(), dialing) {
            (Some(socket), _) => socket,
            // A logout while a login is under way: let the login finish (its
            // own timeout bounds it), then log out of it, so the gateway keeps
            // no session that this instance will never use.
            (None, Some(dial)) if logout => match dial.await {
                Ok((socket, _)) => socket,
                Err(_) => return,
            },
            _ => return,
        };
        if !logout {
            // The connection already ended (closed, kicked, or found dead): nothing to wait for.
            return;
        }
        let id = self.take_id();
        let frame = ClientFrame::Logout { id };
        let sent = timeout(LOGOUT_GRACE, socket.send(Message::text(frame.encode()))).await;
        if matches!(sent, Ok(Ok(()))) {
            // The gateway answers ok and closes; reading to the end completes the closing handshake.
            let _ = timeout(LOGOUT_GRACE, drain(&mut socket)).await;
        } else {
            let close = CloseFrame {
                code: 1000.into(),
                reason: "bye".into(),
            };
            if matches!(
                timeout(CLOSE_GRACE, socket.close(Some(close))).await,
                Ok(Ok(()))
            ) {
                let _ = timeout(CLOSE_GRACE, drain(&mut socket)).await;
            }
        }
    }
}

fn reject(command: Command, error: ClientError) {
    match command {
        Command::Kick(_, reply) => {
            let _ = reply.send(Err(error));
        }
        Command::SetOptions(_, Some(reply))
        | Command::Rename { reply, .. }
        | Command::PairApprove { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Command::PairLookup { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Command::Disconnect(reply) | Command::Destroy(reply) | Command::Close(reply) => {
            let _ = reply.send(());
        }
        Command::Ready(reply) => {
            let _ = reply.send(Err(None));
        }
        Command::SetOptions(_, None)
        | Command::Connect
        | Command::RetryNow
        | Command::Network(_)
        | Command::Woke => {}
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `from + wait`, or a century from now when that does not fit: no wait,
/// however long a server or a setting asks for, can overflow the clock.
fn after(from: Instant, wait: Duration) -> Instant {
    from.checked_add(wait)
        .unwrap_or_else(|| from + Duration::from_secs(100 * 365 * 86_400))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn next_message(
    socket: &mut Option<Ws>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match socket {
        Some(socket) => socket.next().await,
        None => std::future::pending().await,
    }
}

async fn poll_token(
    request: &mut Option<
        futures_util::future::BoxFuture<'static, Option<vestibule_protocol::Token>>,
    >,
) -> Option<vestibule_protocol::Token> {
    match request {
        Some(request) => request.await,
        None => std::future::pending().await,
    }
}

async fn poll_dial(dialing: &mut Option<DialFuture>) -> Result<(Ws, LoginOk), Failure> {
    match dialing {
        Some(dial) => dial.await,
        None => std::future::pending().await,
    }
}
