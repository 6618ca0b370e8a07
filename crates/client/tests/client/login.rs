use std::time::Duration;

use vestibule_client::{
    DeviceType, DisconnectReason, Event, KickReason, NetState, Status, Vestibule,
};

use crate::support::*;

#[tokio::test(start_paused = true)]
async fn login_reports_connecting_connected_with_every_field_then_ready() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let mut options = options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc);
    options.device.custom_tag = Some("desk".into());
    let client = Vestibule::new().instance(options).expect("instance");
    assert_eq!(client.snapshot().status, Status::Idle);
    let mut events = client.subscribe();
    client.connect();

    assert_eq!(next(&mut events).await, Event::Dialing { url: gw.ws_url() });
    assert_eq!(
        next(&mut events).await,
        Event::NetState {
            state: NetState::Connecting
        }
    );
    assert_eq!(
        next(&mut events).await,
        Event::NetState {
            state: NetState::Connected
        }
    );
    let Event::Connected { info } = next(&mut events).await else {
        panic!("expected Connected")
    };
    assert_eq!(info.app_key, "demo");
    assert_eq!(info.account, "alice");
    assert_eq!(info.device_id, "pc-1");
    assert!(info.connection_id.len() >= 16);
    assert_eq!(info.ip, "127.0.0.1");
    assert!(info.port > 0);
    assert_eq!(info.country, "");
    assert_eq!(info.last_login_device_id, None);
    assert_eq!(info.custom_tag.as_deref(), Some("desk"));
    assert!(info.server_time > 1_700_000_000_000);
    assert!(!info.repeat_login);
    assert!(info.token_expires_at.is_some_and(|t| t > info.server_time));
    let Event::DevicesChanged { devices, rev } = next(&mut events).await else {
        panic!("expected DevicesChanged")
    };
    assert_eq!(devices.len(), 1);
    assert!(devices[0].current);
    assert!(rev > 0);
    assert_eq!(next(&mut events).await, Event::Ready);

    let snapshot = client.snapshot();
    assert_eq!(snapshot.status, Status::Connected);
    assert_eq!(snapshot.net_state, NetState::Connected);
    assert!(snapshot.ready);
    assert_eq!(snapshot.login.as_ref(), Some(&info));
    assert_eq!(snapshot.devices_rev, rev);
    assert_eq!(snapshot.retry, None);
}

#[tokio::test(start_paused = true)]
async fn wrong_token_is_terminal_and_tried_exactly_once() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let mut options = options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc);
    options.token = "not-a-valid-token".into();
    let client = Vestibule::new().instance(options).expect("instance");
    let mut events = client.subscribe();
    client.connect();
    let (event, before) = until(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { info } = event else {
        unreachable!()
    };
    assert_eq!(info.code, Some(302));
    assert_eq!(info.reason, DisconnectReason::Rejected { code: 302 });
    assert!(!info.will_reconnect);
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, Event::WillReconnect { .. }))
    );
    // Ten quiet minutes: no retry.
    let later = quiet_for(&mut events, Duration::from_secs(600)).await;
    assert!(later.is_empty(), "{later:?}");
    assert_eq!(client.snapshot().status, Status::SignedOut);
    assert_eq!(client.snapshot().net_state, NetState::Disconnected);
    assert_eq!(
        metric(&gw.http_url(), "vestibule_logins_total{result=\"302\"}").await,
        1.0,
        "exactly one attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn token_expiry_stops_until_a_new_token_and_refresh_keeps_the_session() {
    let _clock = hold_clock();
    let gw = gateway().await;
    // Session one: the token runs out.
    let mut short = options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc);
    short.token = token_for("alice", Duration::from_secs(5)).into();
    let client = Vestibule::new().instance(short).expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    advance_in_steps(Duration::from_secs(6)).await;
    let (event, _) = until(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { info } = event else {
        unreachable!()
    };
    assert_eq!(
        info.reason,
        DisconnectReason::Kicked {
            reason: KickReason::TokenExpired
        }
    );
    assert_eq!(client.snapshot().status, Status::NeedsToken);
    assert!(
        quiet_for(&mut events, Duration::from_secs(60))
            .await
            .iter()
            .all(|e| !matches!(e, Event::Connected { .. }))
    );
    // A new token brings it back without being asked to connect.
    client
        .set_options(vestibule_client::OptionsUpdate::token(token_for(
            "alice",
            Duration::from_secs(7),
        )))
        .await
        .expect("set token");
    until(&mut events, |e| matches!(e, Event::Ready)).await;

    // Session two: refreshed in place before expiry; no reconnect.
    client
        .set_options(vestibule_client::OptionsUpdate::token(token_for(
            "alice",
            Duration::from_secs(3600),
        )))
        .await
        .expect("refresh while online");
    let later = quiet_for(&mut events, Duration::from_secs(60)).await;
    assert!(
        later.iter().all(|e| !matches!(
            e,
            Event::Disconnected { .. } | Event::WillReconnect { .. } | Event::Connected { .. }
        )),
        "{later:?}"
    );
    assert_eq!(client.snapshot().status, Status::Connected);

    // A bad token is refused by the gateway; the session keeps the good one.
    let refused = client
        .set_options(vestibule_client::OptionsUpdate::token("garbage"))
        .await;
    assert!(
        matches!(refused, Err(vestibule_client::ClientError::Rejected { .. })),
        "{refused:?}"
    );
    assert_eq!(client.snapshot().status, Status::Connected);
}

#[tokio::test(start_paused = true)]
async fn tokens_never_show_in_debug_output() {
    let _clock = hold_clock();
    let options = options("ws://127.0.0.1:9/v1/ws", "alice", "pc-1", DeviceType::Pc);
    let secret = options.token.expose().to_owned();
    let shown = format!("{options:?}");
    assert!(!shown.contains(&secret), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[tokio::test(start_paused = true)]
async fn a_token_provider_signs_in_without_a_token_and_renews_an_expired_one() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let _clock = hold_clock();
    let gw = gateway().await;
    let asked = Arc::new(AtomicU32::new(0));
    let counter = asked.clone();
    // The app's server hands out a 5-second token, then an hour-long one.
    let provider = vestibule_client::TokenProvider::from_fn(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let ttl = if n == 0 { 5 } else { 3600 };
        async move { Some(token_for("alice", Duration::from_secs(ttl)).into()) }
    });
    let mut options = options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc);
    options.token = vestibule_client::Token::new("");
    options.token_provider = Some(provider);
    options
        .validate()
        .expect("no token is fine with a provider");
    let client = Vestibule::new().instance(options).expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "asked before the first sign-in"
    );
    assert!(client.snapshot().login.expect("login").new_session);

    // The token runs out while online: the provider is asked again and the
    // client is back without the app doing anything.
    advance_in_steps(Duration::from_secs(6)).await;
    let (event, _) = until(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { info } = event else {
        unreachable!()
    };
    assert_eq!(
        info.reason,
        DisconnectReason::Kicked {
            reason: KickReason::TokenExpired
        }
    );
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        2,
        "asked once more, after the expiry"
    );
    assert_eq!(client.snapshot().status, Status::Connected);
}

#[tokio::test(start_paused = true)]
async fn a_token_provider_that_has_nothing_leaves_it_to_the_app() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let mut options = options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc);
    options.token = vestibule_client::Token::new("");
    options.token_provider = Some(vestibule_client::TokenProvider::from_fn(|| async { None }));
    let client = Vestibule::new().instance(options).expect("instance");
    let mut events = client.subscribe();
    client.connect();
    let (event, _) = until(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { info } = event else {
        unreachable!()
    };
    assert_eq!(
        info.code,
        Some(302),
        "signed out: a token is needed: {info:?}"
    );
}
