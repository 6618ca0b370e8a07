//! The connection policy as a pure state machine: inputs (user commands,
//! what the socket did, timers) in, actions (dial, hang up, arm a timer,
//! emit an event) out. No I/O and no clock: time arrives as an argument, so
//! every rule here is tested without sockets or sleeping.

use std::time::Duration;

use vestibule_protocol::limits::MAX_SERVER_WAIT;
use vestibule_protocol::{
    CloseCause, Code, Device, Disposition, KickedBy, SessionEnd, UnixMillis, classify,
};

use crate::backoff::Backoff;
use crate::model::{DisconnectInfo, DisconnectReason, Event, LoginInfo, NetState, Status};

/// Something that happened to the instance.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The app asked to connect (`connect()`, or `instance()` again).
    Connect,
    /// The app logged out (`disconnect()`).
    Disconnect,
    /// The app destroyed the instance (logging out).
    Destroy,
    /// The app closed the instance without logging out: the device stays
    /// signed in (an app quitting with *Remember me*).
    Close,
    /// The gateway answered `loginOk`.
    LoggedIn {
        /// The session.
        info: Box<LoginInfo>,
        /// The account's online devices.
        devices: Vec<Device>,
        /// Their revision.
        rev: u64,
    },
    /// The connection (or the attempt) ended.
    Ended {
        /// How.
        cause: CloseCause,
        /// The gateway's or the client's sentence.
        message: String,
        /// Who kicked, if anyone.
        by: Option<KickedBy>,
        /// For 420: how the device's session had ended.
        ended: Option<SessionEnd>,
    },
    /// The backoff timer fired.
    RetryTimer,
    /// The app asked to retry at once.
    RetryNow,
    /// The session has been up long enough to count as stable.
    Stable,
    /// The network came back.
    NetworkUp,
    /// The network went away.
    NetworkDown,
    /// The wall clock jumped ahead of the monotonic clock: the machine slept.
    Woke,
    /// A new token was supplied.
    TokenChanged,
    /// The gateway announced that it is going away (an `error` 503 with
    /// `retryAfterMs` and no request id): the close that follows retries no
    /// sooner than `after`.
    GoingAway {
        /// The gateway's wait.
        after: Duration,
    },
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Open a socket and send `login`.
    Dial {
        /// A new login rather than a reconnect: the old session's info and
        /// device list are cleared first.
        fresh: bool,
    },
    /// Close the current socket or abandon the attempt; send `logout` first when `logout`.
    Hangup {
        /// Log out first (other devices see it at once).
        logout: bool,
    },
    /// Fire [`Input::RetryTimer`] after `delay`; this is retry number `attempt`.
    ArmRetry {
        /// 1 for the first retry after a drop (NIM retryCount).
        attempt: u32,
        /// The wait.
        delay: Duration,
    },
    /// Close the live socket normally (1000) without logging out: the
    /// device's session stays, offline.
    CloseSocket,
    /// Cancel the backoff timer.
    DisarmRetry,
    /// Fire [`Input::Stable`] after the stability period.
    ArmStable,
    /// Send a ping now to check the socket (after a wake-up).
    Probe,
    /// Record how the connection ended (also for retryable ends).
    Record(DisconnectInfo),
    /// Drop the device session's token: the session is over (or the gateway
    /// does not know it), so the next login is a sign-in with the app's token.
    ForgetSession,
    /// Tell subscribers.
    Emit(Event),
}

/// The policy state of one instance.
#[derive(Debug, Clone)]
pub struct Machine {
    status: Status,
    attempts: u32,
    offline: bool,
    /// The wait a shutdown notice asked for, until the close it announced.
    going_away: Option<Duration>,
    /// The attempt in flight used a session token and an app token is at hand.
    can_fall_back: bool,
    backoff: Backoff,
}

impl Machine {
    /// A new, idle machine.
    pub fn new(backoff: Backoff) -> Self {
        Self {
            status: Status::Idle,
            attempts: 0,
            offline: false,
            going_away: None,
            can_fall_back: false,
            backoff,
        }
    }

    /// Whether the current attempt logs in with a session token while the
    /// app's token is also at hand: a 421 (unknown session) then signs in
    /// with the app's token at once instead of stopping.
    pub fn set_can_fall_back(&mut self, can: bool) {
        self.can_fall_back = can;
    }

    /// The lifecycle state.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Failed attempts since the last stable session (the next WillReconnect's retryCount minus one).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The backoff, to change its configuration.
    pub fn backoff_mut(&mut self) -> &mut Backoff {
        &mut self.backoff
    }

    /// TIM's network state, derived from the status and the network.
    pub fn net_state(&self) -> NetState {
        match self.status {
            Status::Connected => NetState::Connected,
            Status::Connecting | Status::Reconnecting if self.offline => NetState::Disconnected,
            Status::Connecting | Status::Reconnecting => NetState::Connecting,
            Status::Idle | Status::SignedOut | Status::NeedsToken | Status::Destroyed => {
                NetState::Disconnected
            }
        }
    }

    /// Applies one input at wall-clock time `now`; returns what to do.
    pub fn on(&mut self, input: Input, now: UnixMillis) -> Vec<Action> {
        let net_before = self.net_state();
        let was_connected = self.status == Status::Connected;
        let mut out = Vec::new();
        if self.status == Status::Destroyed {
            return out;
        }
        match input {
            Input::Connect => match self.status {
                Status::Idle | Status::SignedOut | Status::NeedsToken => self.dial(&mut out),
                Status::Reconnecting => {
                    out.push(Action::DisarmRetry);
                    self.dial(&mut out);
                }
                Status::Connecting | Status::Connected | Status::Destroyed => {}
            },
            Input::Disconnect | Input::Destroy | Input::Close => {
                let (logout, end) = match input {
                    Input::Disconnect => (true, Status::Idle),
                    Input::Destroy => (true, Status::Destroyed),
                    _ => (false, Status::Destroyed),
                };
                match self.status {
                    Status::Connected if logout => out.push(Action::Hangup { logout: true }),
                    Status::Connected => out.push(Action::CloseSocket),
                    // The gateway may have the login already: a logout lets it
                    // finish and ends the session it made.
                    Status::Connecting => out.push(Action::Hangup { logout }),
                    Status::Reconnecting => out.push(Action::DisarmRetry),
                    _ => {}
                }
                let active = matches!(
                    self.status,
                    Status::Connected | Status::Connecting | Status::Reconnecting
                );
                // A logout ends the device's session (the gateway ends it on
                // `logout`; offline, it ends at the next sign-out or expiry):
                // the next login is a sign-in. A close keeps it.
                if logout {
                    out.push(Action::ForgetSession);
                }
                self.attempts = 0;
                self.status = end;
                if active {
                    let (reason, message) = match input {
                        Input::Disconnect => (DisconnectReason::LoggedOut, "logged out"),
                        Input::Destroy => (DisconnectReason::Destroyed, "destroyed"),
                        _ => (DisconnectReason::Destroyed, "closed; still signed in"),
                    };
                    let info = DisconnectInfo {
                        code: None,
                        reason,
                        message: message.to_owned(),
                        by: None,
                        ended: None,
                        at: now,
                        will_reconnect: false,
                    };
                    out.push(Action::Record(info.clone()));
                    out.push(Action::Emit(Event::Disconnected { info }));
                }
            }
            Input::LoggedIn { info, devices, rev } => {
                if self.status == Status::Connecting {
                    self.status = Status::Connected;
                    self.going_away = None;
                    out.push(Action::ArmStable);
                    out.push(Action::Emit(Event::Connected { info: *info }));
                    out.push(Action::Emit(Event::DevicesChanged { devices, rev }));
                }
            }
            Input::Stable => {
                if self.status == Status::Connected {
                    self.attempts = 0;
                }
            }
            Input::Ended {
                cause,
                message,
                by,
                ended,
            } => {
                if matches!(self.status, Status::Connecting | Status::Connected) {
                    self.ended(
                        cause,
                        message,
                        by.or(ended.as_ref().and_then(|e| e.by.clone())),
                        ended,
                        now,
                        &mut out,
                    );
                }
            }
            Input::RetryTimer => {
                // (No countdown runs while offline; a timer already fired is moot.)
                if self.status == Status::Reconnecting && !self.offline {
                    self.dial(&mut out);
                }
            }
            Input::RetryNow => match self.status {
                Status::Reconnecting => {
                    out.push(Action::DisarmRetry);
                    self.dial(&mut out);
                }
                // An attempt may hang on a dead network: start a fresh one.
                Status::Connecting => {
                    out.push(Action::Hangup { logout: false });
                    self.dial(&mut out);
                }
                _ => {}
            },
            Input::NetworkUp | Input::Woke => {
                self.offline = false;
                match self.status {
                    Status::Reconnecting => {
                        // A fresh network is not the flaky one we were backing off from.
                        self.attempts = 0;
                        out.push(Action::DisarmRetry);
                        self.dial(&mut out);
                    }
                    // After a wake, or a network change under a live
                    // session (another interface, a new route): is the socket still there?
                    Status::Connected => out.push(Action::Probe),
                    // An attempt begun before the sleep may hang on a dead path.
                    Status::Connecting if input == Input::Woke => {
                        out.push(Action::Hangup { logout: false });
                        self.dial(&mut out);
                    }
                    _ => {}
                }
            }
            Input::NetworkDown => {
                self.offline = true;
                match self.status {
                    // The OS says there is no network: the socket and any
                    // attempt are gone with it (the heartbeat would take
                    // seconds to agree). Nothing is tried until it is back.
                    Status::Connected | Status::Connecting => {
                        out.push(Action::Hangup { logout: false });
                        self.status = Status::Reconnecting;
                        out.push(Action::Record(DisconnectInfo {
                            code: None,
                            reason: DisconnectReason::NoNetwork,
                            message: "no network".to_owned(),
                            by: None,
                            ended: None,
                            at: now,
                            will_reconnect: true,
                        }));
                    }
                    Status::Reconnecting => out.push(Action::DisarmRetry),
                    _ => {}
                }
            }
            Input::TokenChanged => {
                if self.status == Status::NeedsToken {
                    self.attempts = 0;
                    self.dial(&mut out);
                }
            }
            Input::GoingAway { after } => {
                if self.status == Status::Connected {
                    self.going_away = Some(after);
                }
            }
        }
        // Events go out in one order whatever the input: leaving Connected
        // (NotReady), the network state, what happened, entering Connected (Ready).
        let (mut events, mut actions): (Vec<Action>, Vec<Action>) =
            out.into_iter().partition(|a| matches!(a, Action::Emit(_)));
        events.retain(|a| *a != Action::Emit(Event::NotReady));
        if self.status != Status::Connected && was_connected {
            actions.push(Action::Emit(Event::NotReady));
        }
        let net_after = self.net_state();
        if net_after != net_before {
            actions.push(Action::Emit(Event::NetState { state: net_after }));
        }
        actions.extend(events);
        if self.status == Status::Connected && !was_connected {
            actions.push(Action::Emit(Event::Ready));
        }
        actions
    }

    fn dial(&mut self, out: &mut Vec<Action>) {
        let fresh = matches!(
            self.status,
            Status::Idle | Status::SignedOut | Status::NeedsToken
        );
        self.status = Status::Connecting;
        out.push(Action::Dial { fresh });
    }

    fn ended(
        &mut self,
        cause: CloseCause,
        message: String,
        by: Option<KickedBy>,
        ended: Option<SessionEnd>,
        now: UnixMillis,
        out: &mut Vec<Action>,
    ) {
        if self.status == Status::Connected {
            out.push(Action::Hangup { logout: false });
        }
        let mut cause = cause.normalized();
        // A gateway that lost its sessions (an in-memory one restarted) does
        // not know the session token: sign in with the app's token, once.
        if let CloseCause::Rejected {
            code: Code::UnknownSession,
            ..
        } = cause
            && std::mem::take(&mut self.can_fall_back)
        {
            out.push(Action::ForgetSession);
            if self.offline {
                // The sign-in waits for the network.
                self.status = Status::Reconnecting;
            } else {
                self.status = Status::Connecting;
                out.push(Action::Dial { fresh: false });
            }
            return;
        }
        // A shutdown notice came first: the close it announced (503) waits as long as it said.
        if let (
            CloseCause::Rejected {
                code: Code::Busy,
                retry_after: retry_after @ None,
            },
            Some(after),
        ) = (&mut cause, self.going_away.take())
        {
            *retry_after = Some(after);
        }
        let disposition = classify(cause);
        let will_reconnect = matches!(disposition, Disposition::Retry { .. });
        let info = DisconnectInfo {
            code: cause.code(),
            reason: DisconnectReason::from_cause(cause),
            message,
            by,
            ended,
            at: now,
            will_reconnect,
        };
        out.push(Action::Record(info.clone()));
        match disposition {
            Disposition::Retry { after } => {
                self.attempts = self.attempts.saturating_add(1);
                // A server's wait counts, up to the documented maximum.
                let floor = after.unwrap_or_default().min(MAX_SERVER_WAIT);
                let delay = self.backoff.delay(self.attempts).max(floor);
                self.status = Status::Reconnecting;
                if self.offline {
                    // No countdown: the network's return starts the next attempt.
                    return;
                }
                out.push(Action::ArmRetry {
                    attempt: self.attempts,
                    delay,
                });
                out.push(Action::Emit(Event::WillReconnect {
                    retry_count: self.attempts,
                    delay,
                }));
            }
            // Either way the device's session is over on the gateway (a
            // token expiry ends it; a refusal or kick needs the person).
            Disposition::RefreshCredential => {
                self.status = Status::NeedsToken;
                out.push(Action::ForgetSession);
                out.push(Action::Emit(Event::Disconnected { info }));
            }
            Disposition::Terminal { .. } => {
                self.status = Status::SignedOut;
                out.push(Action::ForgetSession);
                out.push(Action::Emit(Event::Disconnected { info }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::BackoffConfig;
    use vestibule_protocol::{DeviceType, KickReason, close_code};

    fn machine() -> Machine {
        Machine::new(Backoff::seeded(BackoffConfig::default(), 1))
    }

    fn info() -> LoginInfo {
        LoginInfo {
            app_key: "demo".into(),
            account: "alice".into(),
            device_id: "pc".into(),
            connection_id: "c1".into(),
            ip: "127.0.0.1".into(),
            port: 1,
            country: String::new(),
            last_login_device_id: None,
            custom_tag: None,
            server_time: 0,
            repeat_login: false,
            token_expires_at: None,
            new_session: false,
        }
    }

    fn ended(cause: CloseCause) -> Input {
        Input::Ended {
            cause,
            message: "m".into(),
            by: None,
            ended: None,
        }
    }

    fn events(actions: &[Action]) -> Vec<Event> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Emit(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    fn connected() -> Machine {
        let mut m = machine();
        m.on(Input::Connect, 0);
        m.on(logged_in(), 0);
        m
    }

    fn logged_in() -> Input {
        Input::LoggedIn {
            info: Box::new(info()),
            devices: Vec::new(),
            rev: 1,
        }
    }

    #[test]
    fn login_goes_connecting_then_connected_then_ready() {
        let mut m = machine();
        let a = m.on(Input::Connect, 0);
        assert_eq!(a[0], Action::Dial { fresh: true });
        assert_eq!(
            events(&a),
            [Event::NetState {
                state: NetState::Connecting
            }]
        );
        let a = m.on(logged_in(), 0);
        assert_eq!(
            events(&a),
            [
                Event::NetState {
                    state: NetState::Connected
                },
                Event::Connected { info: info() },
                Event::DevicesChanged {
                    devices: Vec::new(),
                    rev: 1
                },
                Event::Ready
            ]
        );
        assert!(a.contains(&Action::ArmStable));
        assert_eq!(m.status(), Status::Connected);
    }

    #[test]
    fn retryable_ends_back_off_with_rising_counts() {
        let mut m = connected();
        let config = BackoffConfig::default();
        for n in 1..=8u32 {
            let a = m.on(ended(CloseCause::Transport), 0);
            let delay = a.iter().find_map(|a| match a {
                Action::ArmRetry { attempt, delay } if *attempt == n => Some(*delay),
                _ => None,
            });
            let Some(delay) = delay else {
                panic!("no retry armed: {a:?}")
            };
            assert!(delay <= config.ceiling(n));
            assert!(events(&a).contains(&Event::WillReconnect {
                retry_count: n,
                delay
            }));
            assert_eq!(m.status(), Status::Reconnecting);
            assert_eq!(m.net_state(), NetState::Connecting);
            assert_eq!(m.on(Input::RetryTimer, 0), [Action::Dial { fresh: false }]);
        }
    }

    #[test]
    fn first_drop_reports_not_ready_and_connecting() {
        let mut m = connected();
        let a = m.on(ended(CloseCause::Timeout), 0);
        assert_eq!(a[0], Action::Hangup { logout: false });
        let e = events(&a);
        assert_eq!(e[0], Event::NotReady);
        assert_eq!(
            e[1],
            Event::NetState {
                state: NetState::Connecting
            }
        );
        assert!(matches!(e[2], Event::WillReconnect { retry_count: 1, .. }));
    }

    #[test]
    fn stability_resets_the_count_but_an_early_drop_does_not() {
        let mut m = connected();
        m.on(ended(CloseCause::Transport), 0);
        m.on(Input::RetryTimer, 0);
        m.on(logged_in(), 0);
        // Dropped again before it was stable: the count goes on.
        let a = m.on(ended(CloseCause::Transport), 0);
        assert!(
            events(&a)
                .iter()
                .any(|e| matches!(e, Event::WillReconnect { retry_count: 2, .. }))
        );
        m.on(Input::RetryTimer, 0);
        m.on(logged_in(), 0);
        m.on(Input::Stable, 0);
        let a = m.on(ended(CloseCause::Transport), 0);
        assert!(
            events(&a)
                .iter()
                .any(|e| matches!(e, Event::WillReconnect { retry_count: 1, .. }))
        );
    }

    #[test]
    fn a_delay_provider_decides_each_wait_but_not_below_the_servers() {
        use crate::backoff::ReconnectDelay;
        let provider =
            ReconnectDelay::from_fn(|attempt, _| Duration::from_secs(u64::from(attempt) * 7));
        let mut m = Machine::new(
            Backoff::seeded(BackoffConfig::default(), 1).with_provider(Some(provider)),
        );
        m.on(Input::Connect, 0);
        let wait = |a: &[Action]| {
            a.iter().find_map(|a| match a {
                Action::ArmRetry { delay, .. } => Some(*delay),
                _ => None,
            })
        };
        assert_eq!(
            wait(&m.on(ended(CloseCause::Transport), 0)),
            Some(Duration::from_secs(7))
        );
        m.on(Input::RetryTimer, 0);
        assert_eq!(
            wait(&m.on(ended(CloseCause::Transport), 0)),
            Some(Duration::from_secs(14))
        );
        m.on(Input::RetryTimer, 0);
        // The gateway asked for 40 s: the provider's 21 s does not cut it short.
        let a = m.on(
            ended(CloseCause::Rejected {
                code: Code::Busy,
                retry_after: Some(Duration::from_secs(40)),
            }),
            0,
        );
        assert_eq!(wait(&a), Some(Duration::from_secs(40)));
        // And a provider cannot wait forever.
        let far = ReconnectDelay::from_fn(|_, _| Duration::from_secs(86_400));
        assert_eq!(
            far.delay(1, Duration::ZERO),
            crate::backoff::MAX_PROVIDED_DELAY
        );
    }

    #[test]
    fn retry_after_is_honoured() {
        let mut m = machine();
        m.on(Input::Connect, 0);
        let a = m.on(
            ended(CloseCause::Rejected {
                code: Code::Busy,
                retry_after: Some(Duration::from_secs(40)),
            }),
            0,
        );
        assert!(a.contains(&Action::ArmRetry {
            attempt: 1,
            delay: Duration::from_secs(40)
        }));
    }

    #[test]
    fn terminal_codes_and_kicks_never_reconnect() {
        let terminal = [
            CloseCause::Rejected {
                code: Code::WrongCredentials,
                retry_after: None,
            },
            CloseCause::Rejected {
                code: Code::DuplicateLogin,
                retry_after: None,
            },
            CloseCause::Rejected {
                code: Code::DeviceLimit,
                retry_after: None,
            },
            CloseCause::Rejected {
                code: Code::Forbidden,
                retry_after: None,
            },
            CloseCause::Kicked(KickReason::ByDevice),
            CloseCause::Kicked(KickReason::LoginElsewhere),
            CloseCause::Closed(Some(close_code::REPLACED)),
        ];
        for cause in terminal {
            let mut m = connected();
            let a = m.on(ended(cause), 7);
            assert!(
                !a.iter()
                    .any(|a| matches!(a, Action::ArmRetry { .. } | Action::Dial { .. })),
                "{cause:?}"
            );
            assert_eq!(m.status(), Status::SignedOut, "{cause:?}");
            assert!(events(&a).iter().any(|e| matches!(e, Event::Disconnected { info } if !info.will_reconnect && info.at == 7)));
            // Timers and network changes do not bring it back either.
            for input in [
                Input::RetryTimer,
                Input::RetryNow,
                Input::NetworkUp,
                Input::Woke,
                Input::TokenChanged,
            ] {
                assert!(m.on(input, 0).is_empty(), "{cause:?}");
            }
            // Only the app can.
            assert_eq!(m.on(Input::Connect, 0)[0], Action::Dial { fresh: true });
        }
    }

    #[test]
    fn kicks_carry_reason_code_and_by() {
        let by = KickedBy {
            device_id: "phone".into(),
            device_type: DeviceType::Ios,
            os: "iOS".into(),
            ip: "10.0.0.1".into(),
        };
        let mut m = connected();
        let a = m.on(
            Input::Ended {
                cause: CloseCause::Kicked(KickReason::ByDevice),
                message: "bye".into(),
                by: Some(by.clone()),
                ended: None,
            },
            5,
        );
        let Some(Event::Disconnected { info }) = events(&a)
            .into_iter()
            .find(|e| matches!(e, Event::Disconnected { .. }))
        else {
            panic!("{a:?}")
        };
        assert_eq!(
            info.reason,
            DisconnectReason::Kicked {
                reason: KickReason::ByDevice
            }
        );
        assert_eq!(info.code, Some(4903));
        assert_eq!(info.by, Some(by));
        assert_eq!(info.message, "bye");
    }

    #[test]
    fn an_expired_token_waits_for_a_new_one() {
        let mut m = connected();
        m.on(ended(CloseCause::Kicked(KickReason::TokenExpired)), 0);
        assert_eq!(m.status(), Status::NeedsToken);
        assert!(m.on(Input::RetryTimer, 0).is_empty());
        let a = m.on(Input::TokenChanged, 0);
        assert_eq!(a[0], Action::Dial { fresh: true });
    }

    #[test]
    fn network_up_and_wake_retry_at_once_with_a_fresh_count() {
        for input in [Input::NetworkUp, Input::Woke] {
            let mut m = connected();
            for _ in 0..5 {
                m.on(ended(CloseCause::Transport), 0);
                m.on(Input::RetryTimer, 0);
            }
            m.on(ended(CloseCause::Transport), 0);
            assert_eq!(m.attempts(), 6);
            let a = m.on(input.clone(), 0);
            assert_eq!(a, [Action::DisarmRetry, Action::Dial { fresh: false }]);
            assert_eq!(m.attempts(), 0);
            let a = m.on(ended(CloseCause::Transport), 0);
            assert!(
                events(&a)
                    .iter()
                    .any(|e| matches!(e, Event::WillReconnect { retry_count: 1, .. }))
            );
        }
    }

    #[test]
    fn retry_now_while_connecting_starts_a_fresh_attempt() {
        let mut m = machine();
        m.on(Input::Connect, 0);
        assert_eq!(
            m.on(Input::RetryNow, 0),
            [
                Action::Hangup { logout: false },
                Action::Dial { fresh: false }
            ]
        );
        assert_eq!(m.status(), Status::Connecting);
    }

    #[test]
    fn wake_while_connected_probes_the_socket() {
        let mut m = connected();
        assert_eq!(m.on(Input::Woke, 0), [Action::Probe]);
    }

    #[test]
    fn network_down_shows_disconnected_while_retrying() {
        let mut m = connected();
        m.on(ended(CloseCause::Transport), 0);
        let a = m.on(Input::NetworkDown, 0);
        assert_eq!(
            events(&a),
            [Event::NetState {
                state: NetState::Disconnected
            }]
        );
        assert_eq!(m.status(), Status::Reconnecting, "it keeps trying");
        let a = m.on(Input::NetworkUp, 0);
        assert!(a.contains(&Action::Dial { fresh: false }));
        assert!(events(&a).contains(&Event::NetState {
            state: NetState::Connecting
        }));
    }

    #[test]
    fn disconnect_logs_out_and_destroy_is_final() {
        let mut m = connected();
        let a = m.on(Input::Disconnect, 3);
        assert_eq!(a[0], Action::Hangup { logout: true });
        let e = events(&a);
        assert_eq!(e[0], Event::NotReady);
        assert_eq!(
            e[1],
            Event::NetState {
                state: NetState::Disconnected
            }
        );
        assert!(
            matches!(&e[2], Event::Disconnected { info } if info.reason == DisconnectReason::LoggedOut)
        );
        assert_eq!(e.len(), 3);
        assert_eq!(m.status(), Status::Idle);
        m.on(Input::Connect, 0);
        m.on(Input::Destroy, 0);
        assert_eq!(m.status(), Status::Destroyed);
        assert!(m.on(Input::Connect, 0).is_empty());
    }

    #[test]
    fn stale_inputs_are_ignored() {
        let mut m = machine();
        assert!(m.on(ended(CloseCause::Transport), 0).is_empty());
        assert!(m.on(logged_in(), 0).is_empty());
        assert!(m.on(Input::RetryTimer, 0).is_empty());
        assert_eq!(m.status(), Status::Idle);
    }

    /// What the machine records for a connection that ended with close code `close`.
    fn recorded(close: Option<u16>) -> DisconnectInfo {
        let mut m = connected();
        let a = m.on(ended(CloseCause::Closed(close)), 0);
        a.into_iter()
            .find_map(|a| match a {
                Action::Record(info) => Some(info),
                _ => None,
            })
            .unwrap_or_else(|| panic!("nothing recorded for {close:?}"))
    }

    #[test]
    fn close_codes_are_described() {
        let rows = [
            (
                Some(4302),
                Some(302),
                DisconnectReason::Rejected { code: 302 },
            ),
            (
                Some(4503),
                Some(503),
                DisconnectReason::Rejected { code: 503 },
            ),
            (
                Some(4903),
                Some(4903),
                DisconnectReason::Kicked {
                    reason: KickReason::ByDevice,
                },
            ),
            (Some(4001), Some(4001), DisconnectReason::Replaced),
            (
                Some(1006),
                Some(1006),
                DisconnectReason::Lost {
                    close_code: Some(1006),
                },
            ),
            (None, None, DisconnectReason::Lost { close_code: None }),
        ];
        for (close, code, reason) in rows {
            let info = recorded(close);
            assert_eq!((info.code, info.reason), (code, reason), "{close:?}");
        }
        let mut m = connected();
        let a = m.on(ended(CloseCause::Timeout), 0);
        assert!(a.iter().any(|a| matches!(a, Action::Record(i)
            if i.code == Some(408) && i.reason == DisconnectReason::Timeout)));
    }

    #[test]
    fn a_shutdown_notice_sets_the_wait_of_the_close_it_announces() {
        let mut m = connected();
        assert!(
            m.on(
                Input::GoingAway {
                    after: Duration::from_secs(3)
                },
                0
            )
            .is_empty()
        );
        let a = m.on(ended(CloseCause::Closed(Some(4503))), 0);
        let Some(delay) = a.iter().find_map(|a| match a {
            Action::ArmRetry { attempt: 1, delay } => Some(*delay),
            _ => None,
        }) else {
            panic!("no retry armed: {a:?}")
        };
        assert!(delay >= Duration::from_secs(3), "{delay:?}");
        // Used once: the next drop backs off normally.
        m.on(Input::RetryTimer, 0);
        m.on(logged_in(), 0);
        let a = m.on(ended(CloseCause::Closed(Some(4503))), 0);
        assert!(a.iter().any(|a| matches!(a, Action::ArmRetry { delay, .. }
            if *delay <= BackoffConfig::default().ceiling(2))));
        // A notice that came on a session that then logged in again is forgotten.
        let mut m = connected();
        m.on(
            Input::GoingAway {
                after: Duration::from_secs(60),
            },
            0,
        );
        m.on(ended(CloseCause::Transport), 0);
        m.on(Input::RetryTimer, 0);
        m.on(logged_in(), 0);
        let a = m.on(ended(CloseCause::Closed(Some(4503))), 0);
        assert!(a.iter().any(|a| matches!(a, Action::ArmRetry { delay, .. }
            if *delay < Duration::from_secs(60))));
    }

    fn rejected(code: u16) -> CloseCause {
        CloseCause::Rejected {
            code: Code::from_u16(code),
            retry_after: None,
        }
    }

    #[test]
    fn an_unknown_session_signs_in_with_the_app_token_once() {
        let mut m = machine();
        m.on(Input::Connect, 0);
        m.set_can_fall_back(true);
        let a = m.on(ended(rejected(421)), 1);
        assert_eq!(
            a,
            [Action::ForgetSession, Action::Dial { fresh: false }],
            "no event: the person sees one login"
        );
        assert_eq!(m.status(), Status::Connecting);
        // The sign-in with the app's token is refused with 421 too: stop.
        let a = m.on(ended(rejected(421)), 2);
        assert_eq!(m.status(), Status::NeedsToken, "{a:?}");
    }

    #[test]
    fn an_unknown_session_without_an_app_token_needs_one() {
        let mut m = machine();
        m.on(Input::Connect, 0);
        let a = m.on(ended(rejected(421)), 1);
        assert_eq!(m.status(), Status::NeedsToken);
        assert!(a.contains(&Action::ForgetSession), "{a:?}");
    }

    #[test]
    fn a_revoked_session_is_terminal_says_who_and_forgets_the_session() {
        let by = KickedBy {
            device_id: "phone".into(),
            device_type: DeviceType::Ios,
            os: "iOS 17.5".into(),
            ip: "203.0.113.24".into(),
        };
        let end = SessionEnd {
            reason: vestibule_protocol::EndReason::ByDevice,
            by: Some(by.clone()),
            at: 42,
        };
        let mut m = machine();
        m.on(Input::Connect, 0);
        m.set_can_fall_back(true);
        let a = m.on(
            Input::Ended {
                cause: rejected(420),
                message: "signed out".into(),
                by: None,
                ended: Some(end.clone()),
            },
            50,
        );
        assert_eq!(
            m.status(),
            Status::SignedOut,
            "a revocation is not a fallback"
        );
        assert!(a.contains(&Action::ForgetSession), "{a:?}");
        let Some(Event::Disconnected { info }) = events(&a).pop() else {
            panic!("{a:?}")
        };
        assert_eq!(info.code, Some(420));
        assert_eq!(info.by, Some(by), "who, from the session's end");
        assert_eq!(info.ended, Some(end));
        assert!(!info.will_reconnect);
    }

    #[test]
    fn a_retryable_end_keeps_the_session() {
        let mut m = connected();
        let a = m.on(ended(CloseCause::Transport), 0);
        assert!(!a.contains(&Action::ForgetSession), "{a:?}");
        m.on(Input::RetryTimer, 0);
        let a = m.on(ended(rejected(503)), 0);
        assert_eq!(m.status(), Status::Reconnecting);
        assert!(!a.contains(&Action::ForgetSession), "{a:?}");
    }

    fn counts_down(actions: &[Action]) -> bool {
        actions.iter().any(|a| {
            matches!(
                a,
                Action::ArmRetry { .. } | Action::Emit(Event::WillReconnect { .. })
            )
        })
    }

    #[test]
    fn no_network_ends_the_connection_and_nothing_is_tried_until_it_is_back() {
        let mut m = connected();
        let a = m.on(Input::NetworkDown, 0);
        assert_eq!(a[0], Action::Hangup { logout: false });
        assert_eq!(m.status(), Status::Reconnecting);
        assert_eq!(m.net_state(), NetState::Disconnected);
        assert!(a.iter().any(
            |a| matches!(a, Action::Record(info) if info.reason == DisconnectReason::NoNetwork && info.will_reconnect)
        ));
        assert!(!counts_down(&a), "{a:?}");
        assert!(!a.iter().any(|a| matches!(a, Action::Dial { .. })));
        assert!(events(&a).contains(&Event::NetState {
            state: NetState::Disconnected
        }));
        // A timer that fired anyway does nothing.
        assert_eq!(m.on(Input::RetryTimer, 0), []);
        // The person may still try; a failure then counts nothing down either.
        assert_eq!(
            m.on(Input::RetryNow, 0),
            [Action::DisarmRetry, Action::Dial { fresh: false }]
        );
        let a = m.on(ended(CloseCause::Transport), 0);
        assert!(!counts_down(&a), "{a:?}");
        assert_eq!(m.status(), Status::Reconnecting);
        // Back: at once, from a fresh count.
        let a = m.on(Input::NetworkUp, 0);
        assert_eq!(a[..2], [Action::DisarmRetry, Action::Dial { fresh: false }]);
        assert_eq!(m.net_state(), NetState::Connecting);
    }

    #[test]
    fn no_network_stops_a_countdown_and_an_attempt() {
        let mut m = connected();
        m.on(ended(CloseCause::Transport), 0);
        assert_eq!(m.on(Input::NetworkDown, 0)[0], Action::DisarmRetry);
        let mut m = machine();
        m.on(Input::Connect, 0);
        assert_eq!(
            m.on(Input::NetworkDown, 0)[0],
            Action::Hangup { logout: false }
        );
        assert_eq!(m.status(), Status::Reconnecting);
    }

    #[test]
    fn a_wake_or_a_network_change_checks_the_socket_or_starts_over() {
        let mut m = connected();
        assert_eq!(m.on(Input::NetworkUp, 0), [Action::Probe]);
        assert_eq!(m.on(Input::Woke, 0), [Action::Probe]);
        let mut m = machine();
        m.on(Input::Connect, 0);
        assert_eq!(
            m.on(Input::Woke, 0),
            [
                Action::Hangup { logout: false },
                Action::Dial { fresh: false }
            ]
        );
    }
}
