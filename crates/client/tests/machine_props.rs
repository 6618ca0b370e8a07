//! Property tests of the connection policy: random sequences of everything
//! that can happen to an instance, checked step by step.

use std::time::Duration;

use proptest::prelude::*;
use vestibule_client::backoff::{Backoff, BackoffConfig};
use vestibule_client::machine::{Action, Input, Machine};
use vestibule_client::{Event, LoginInfo, NetState, Status};
use vestibule_protocol::{CloseCause, Code, Disposition, KickReason, classify};

fn info() -> LoginInfo {
    LoginInfo {
        app_key: "demo".into(),
        account: "alice".into(),
        device_id: "pc".into(),
        connection_id: "c".into(),
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

fn cause() -> impl Strategy<Value = CloseCause> {
    let code = prop_oneof![
        Just(302u16),
        Just(403),
        Just(404),
        Just(408),
        Just(414),
        Just(416),
        Just(417),
        Just(419),
        Just(422),
        Just(500),
        Just(503),
        Just(599),
        300u16..700
    ];
    prop_oneof![
        (code, proptest::option::of(0u64..120_000)).prop_map(|(c, ms)| CloseCause::Rejected {
            code: Code::from_u16(c),
            retry_after: ms.map(Duration::from_millis),
        }),
        prop_oneof![
            Just(KickReason::LoginElsewhere),
            Just(KickReason::InstanceLimit),
            Just(KickReason::ByDevice),
            Just(KickReason::TokenExpired),
            Just(KickReason::Admin),
            Just(KickReason::Banned)
        ]
        .prop_map(CloseCause::Kicked),
        proptest::option::of(prop_oneof![
            Just(1000u16),
            Just(1001),
            Just(1006),
            Just(1009),
            Just(4001),
            Just(4302),
            Just(4503),
            Just(4903),
            Just(4904),
            1000u16..5000
        ])
        .prop_map(CloseCause::Closed),
        Just(CloseCause::Transport),
        Just(CloseCause::Timeout),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => Just(Input::Connect),
        1 => Just(Input::Disconnect),
        1 => Just(Input::Destroy),
        4 => Just(Input::LoggedIn { info: Box::new(info()), devices: Vec::new(), rev: 1 }),
        6 => cause().prop_map(|cause| Input::Ended { cause, message: "m".into(), by: None, ended: None }),
        4 => Just(Input::RetryTimer),
        1 => Just(Input::RetryNow),
        2 => Just(Input::Stable),
        1 => Just(Input::NetworkUp),
        1 => Just(Input::NetworkDown),
        1 => Just(Input::Woke),
        1 => Just(Input::TokenChanged),
        1 => (0u64..60_000).prop_map(|ms| Input::GoingAway { after: Duration::from_millis(ms) }),
    ]
}

fn net_state_of(status: Status, offline: bool) -> NetState {
    match status {
        Status::Connected => NetState::Connected,
        Status::Connecting | Status::Reconnecting if offline => NetState::Disconnected,
        Status::Connecting | Status::Reconnecting => NetState::Connecting,
        _ => NetState::Disconnected,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_breaks_the_rules(inputs in proptest::collection::vec(input(), 1..80), seed in any::<u64>()) {
        let config = BackoffConfig::default();
        let mut m = Machine::new(Backoff::seeded(config, seed));
        let mut offline = false;
        // Once a terminal end happens, only the app (Connect, TokenChanged
        // after an expiry) may start a connection again.
        let mut stopped_for_good = false;
        let mut destroyed = false;
        // A shutdown notice on a live session sets the wait of the close it announces.
        let mut going_away: Option<Duration> = None;
        for input in inputs {
            let before = m.status();
            let attempts_before = m.attempts();
            let mut disposition = match &input {
                Input::Ended { cause, .. } => Some(classify(*cause)),
                _ => None,
            };
            match &input {
                Input::GoingAway { after } if before == Status::Connected => going_away = Some(*after),
                Input::LoggedIn { .. } if before == Status::Connecting => going_away = None,
                Input::Ended { cause, .. } if matches!(before, Status::Connecting | Status::Connected) => {
                    let announced = going_away.take();
                    if let (CloseCause::Rejected { code: Code::Busy, retry_after: None }, Some(after)) = (cause.normalized(), announced) {
                        disposition = Some(Disposition::Retry { after: Some(after) });
                    }
                }
                _ => {}
            }
            match input {
                Input::NetworkDown => offline = true,
                Input::NetworkUp | Input::Woke if before != Status::Destroyed => offline = false,
                _ => {}
            }
            let is_connect = matches!(input, Input::Connect);
            let is_token = matches!(input, Input::TokenChanged);
            let actions = m.on(input.clone(), 42);
            let after = m.status();

            // Destroyed is final and silent.
            if destroyed {
                prop_assert!(actions.is_empty(), "{input:?} after destroy gave {actions:?}");
                prop_assert_eq!(after, Status::Destroyed);
                continue;
            }
            destroyed = after == Status::Destroyed;

            // The network state always matches the status.
            prop_assert_eq!(m.net_state(), net_state_of(after, offline));

            for action in &actions {
                match action {
                    Action::Dial { fresh } => {
                        prop_assert_eq!(after, Status::Connecting);
                        let from_rest = matches!(before, Status::Idle | Status::SignedOut | Status::NeedsToken);
                        prop_assert_eq!(*fresh, from_rest, "a fresh login only from rest, from {:?}", before);
                    }
                    Action::ArmRetry { attempt, delay } => {
                        prop_assert_eq!(after, Status::Reconnecting);
                        prop_assert_eq!(*attempt, m.attempts());
                        let ceiling = config.ceiling(m.attempts());
                        let floor = match disposition {
                            Some(Disposition::Retry { after: Some(a) }) => a,
                            _ => Duration::ZERO,
                        };
                        prop_assert!(*delay >= floor, "delay {delay:?} under the gateway's {floor:?}");
                        prop_assert!(*delay <= ceiling.max(floor), "delay {delay:?} over {ceiling:?}");
                    }
                    Action::Emit(Event::WillReconnect { retry_count, delay }) => {
                        prop_assert_eq!(*retry_count, m.attempts());
                        prop_assert_eq!(*retry_count, attempts_before + 1, "the count rises by one per drop");
                        let armed = Action::ArmRetry { attempt: *retry_count, delay: *delay };
                        prop_assert!(actions.contains(&armed), "WillReconnect without its timer");
                    }
                    Action::Emit(Event::Ready) => prop_assert_eq!(after, Status::Connected),
                    Action::Emit(Event::NotReady) => prop_assert_eq!(before, Status::Connected),
                    Action::Emit(Event::Connected { .. }) => prop_assert_eq!(before, Status::Connecting),
                    Action::Emit(Event::Disconnected { info }) => prop_assert!(!info.will_reconnect),
                    // The device session is dropped only when the person must sign in again.
                    Action::ForgetSession => prop_assert!(
                        matches!(after, Status::SignedOut | Status::NeedsToken | Status::Idle | Status::Destroyed),
                        "forgot the session going to {:?}", after
                    ),
                    _ => {}
                }
            }

            // A terminal disconnect never reconnects by itself.
            if matches!(disposition, Some(Disposition::Terminal { .. })) && matches!(before, Status::Connecting | Status::Connected) {
                prop_assert_eq!(after, Status::SignedOut);
                stopped_for_good = true;
            }
            if stopped_for_good {
                let dials = actions.iter().any(|a| matches!(a, Action::Dial { .. } | Action::ArmRetry { .. }));
                if dials {
                    prop_assert!(is_connect || (is_token && before == Status::NeedsToken), "reconnected by itself after a terminal end");
                    stopped_for_good = false;
                }
            }

            // Offline, nothing counts down, and only the person (or the
            // network's or machine's return) starts an attempt.
            if offline {
                prop_assert!(
                    !actions.iter().any(|a| matches!(a, Action::ArmRetry { .. } | Action::Emit(Event::WillReconnect { .. }))),
                    "a countdown while offline: {input:?} gave {actions:?}"
                );
                if actions.iter().any(|a| matches!(a, Action::Dial { .. })) {
                    prop_assert!(
                        matches!(input, Input::Connect | Input::RetryNow | Input::TokenChanged),
                        "dialed by itself while offline: {input:?}"
                    );
                }
            }

            // The retry count resets only where the rules say.
            if m.attempts() < attempts_before {
                prop_assert_eq!(m.attempts(), 0);
                let allowed = matches!(input, Input::Stable if before == Status::Connected)
                    || matches!(input, Input::NetworkUp | Input::Woke if before == Status::Reconnecting)
                    || matches!(input, Input::Disconnect | Input::Destroy)
                    || matches!(input, Input::TokenChanged if before == Status::NeedsToken);
                prop_assert!(allowed, "count reset by {input:?} in {before:?}");
            }
        }
    }

    #[test]
    fn delays_stay_within_the_configured_bounds(initial in 1u64..5_000, max in 1u64..120_000, multiplier in 1.0f64..4.0, attempt in 1u32..200, seed in any::<u64>()) {
        let config = BackoffConfig {
            initial: Duration::from_millis(initial),
            max: Duration::from_millis(max.max(initial)),
            multiplier,
        };
        let mut backoff = Backoff::seeded(config, seed);
        let d = backoff.delay(attempt);
        prop_assert!(d <= config.ceiling(attempt));
        prop_assert!(config.ceiling(attempt) <= config.max);
        prop_assert!(config.ceiling(attempt) >= config.initial.min(config.max));
    }
}
