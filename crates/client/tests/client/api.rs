use std::time::Duration;

use vestibule_client::{
    ClientError, DeviceType, Event, NetState, OptionsUpdate, ReadyError, Status, Vestibule,
};

use crate::support::*;

#[tokio::test(start_paused = true)]
async fn instance_is_a_singleton_per_gateway_app_and_account() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let registry = Vestibule::new();
    let a1 = registry
        .instance(options(&url, "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let a2 = registry
        .instance(options(&url, "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    assert_eq!(a1.key(), a2.key());
    let mut events = a1.subscribe();
    a2.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    assert_eq!(
        a1.snapshot().status,
        Status::Connected,
        "one instance behind both handles"
    );

    // Two accounts live side by side.
    let b = registry
        .instance(options(&url, "bob", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut b_events = b.subscribe();
    b.connect();
    until(&mut b_events, |e| matches!(e, Event::Ready)).await;
    assert_eq!(registry.instances().len(), 2);
    assert_eq!(a1.snapshot().status, Status::Connected);
    assert_eq!(gw.registry().local_sessions(), 2);

    // The account and appKey cannot change.
    let update = OptionsUpdate {
        account: Some("mallory".into()),
        ..OptionsUpdate::default()
    };
    assert_eq!(
        a1.set_options(update).await,
        Err(ClientError::Immutable("account"))
    );
    let update = OptionsUpdate {
        app_key: Some("other".into()),
        ..OptionsUpdate::default()
    };
    assert_eq!(
        a1.set_options(update).await,
        Err(ClientError::Immutable("appKey"))
    );

    // After a logout, instance() again (auto-connecting) brings it back.
    a1.disconnect().await.expect("disconnect");
    assert_eq!(a1.snapshot().status, Status::Idle);
    assert_eq!(a1.snapshot().net_state, NetState::Disconnected);
    let mut again = options(&url, "alice", "pc-1", DeviceType::Pc);
    again.auto_connect = true;
    let a3 = registry.instance(again).expect("instance");
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    assert_eq!(a3.snapshot().status, Status::Connected);
}

#[tokio::test(start_paused = true)]
async fn disconnect_logs_out_so_other_devices_see_it_at_once() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let (_observer, mut observer_events) =
        connected(&url, "alice", "phone-1", DeviceType::Ios).await;
    let (pc, mut pc_events) = connected(&url, "alice", "pc-1", DeviceType::Pc).await;
    until(
        &mut observer_events,
        |e| matches!(e, Event::DevicesChanged { devices, .. } if devices.len() == 2),
    )
    .await;
    pc.disconnect().await.expect("disconnect");
    // No time passes, yet the other device already knows.
    until(
        &mut observer_events,
        |e| matches!(e, Event::DevicesChanged { devices, .. } if devices.len() == 1),
    )
    .await;
    let (event, _) = until(&mut pc_events, |e| matches!(e, Event::Disconnected { .. })).await;
    assert!(
        matches!(event, Event::Disconnected { info } if info.reason == vestibule_client::DisconnectReason::LoggedOut)
    );
    assert!(
        quiet_for(&mut pc_events, Duration::from_secs(60))
            .await
            .is_empty(),
        "no reconnect after logout"
    );
    assert!(matches!(
        pc.kick(vec!["phone-1".into()]).await,
        Err(ClientError::NotConnected)
    ));
}

#[tokio::test(start_paused = true)]
async fn destroy_completes_after_the_gateway_saw_the_close() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let registry = Vestibule::new();
    let client = registry
        .instance(options(&url, "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    assert_eq!(gw.open_connections(), 1);

    client.destroy().await.expect("destroy");
    // Checked at once, with no time passing: the gateway already let go.
    assert_eq!(gw.registry().local_sessions(), 0);
    assert_eq!(
        gw.open_connections(),
        0,
        "the gateway's connection task has finished"
    );
    assert_eq!(client.snapshot().status, Status::Destroyed);
    assert!(registry.instances().is_empty());
    assert!(matches!(
        client.kick(vec!["x".into()]).await,
        Err(ClientError::Destroyed)
    ));

    let fresh = registry
        .instance(options(&url, "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    assert_eq!(
        fresh.snapshot().status,
        Status::Idle,
        "a new instance, not the destroyed one"
    );
    let mut fresh_events = fresh.subscribe();
    fresh.connect();
    until(&mut fresh_events, |e| matches!(e, Event::Ready)).await;
}

#[tokio::test(start_paused = true)]
async fn bad_options_are_refused_up_front() {
    let _clock = hold_clock();
    let registry = Vestibule::new();
    let mut bad_url = options("http://example.invalid", "alice", "pc-1", DeviceType::Pc);
    assert!(matches!(
        registry.instance(bad_url.clone()),
        Err(ClientError::InvalidOptions(_))
    ));
    bad_url.url = "not a url".into();
    assert!(matches!(
        registry.instance(bad_url),
        Err(ClientError::InvalidOptions(_))
    ));
    let empty = options("ws://127.0.0.1:9/v1/ws", "", "pc-1", DeviceType::Pc);
    assert!(matches!(
        registry.instance(empty),
        Err(ClientError::InvalidOptions(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn ready_resolves_to_the_login_or_to_how_the_attempt_ended() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let registry = Vestibule::new();
    let mut opts = options(&url, "alice", "pc-1", DeviceType::Pc);
    opts.auto_connect = true;
    let client = registry.instance(opts).expect("instance");
    let info = real_timeout(
        Duration::from_secs(10),
        client.ready(Duration::from_secs(10)),
    )
    .await
    .expect("ready in time")
    .expect("logged in");
    assert_eq!(info.account, "alice");
    assert_eq!(client.snapshot().login, Some(info));

    // A wrong token: ready() says how the attempt ended.
    let mut bad = options(&url, "bob", "pc-1", DeviceType::Pc);
    bad.token = "not-a-token".into();
    let bob = registry.instance(bad).expect("instance");
    bob.connect();
    let ended = real_timeout(Duration::from_secs(10), bob.ready(Duration::from_secs(10)))
        .await
        .expect("an answer in time");
    let Err(ReadyError::Ended(info)) = ended else {
        panic!("expected the refusal, got {ended:?}")
    };
    assert_eq!(info.code, Some(302));

    // A connect() sent just before ready() is taken into account: the stale
    // refusal above is not reported again for the new attempt.
    bob.set_options(OptionsUpdate::token(token_for(
        "bob",
        Duration::from_secs(600),
    )))
    .await
    .expect("token");
    bob.connect();
    let info = real_timeout(Duration::from_secs(10), bob.ready(Duration::from_secs(10)))
        .await
        .expect("ready in time")
        .expect("logged in with the new token");
    assert_eq!(info.account, "bob");

    // Never connected: nothing to wait for.
    let idle = registry
        .instance(options(&url, "carol", "pc-1", DeviceType::Pc))
        .expect("instance");
    assert_eq!(
        idle.ready(Duration::from_secs(1)).await,
        Err(ReadyError::NotConnecting)
    );
}

#[tokio::test(start_paused = true)]
async fn ready_times_out_while_the_gateway_is_unreachable() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    gw.shutdown().await;
    let client = Vestibule::new()
        .instance(options(&url, "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    client.connect();
    let waited = tokio::spawn({
        let client = client.clone();
        async move { client.ready(Duration::from_secs(5)).await }
    });
    advance_in_steps(Duration::from_secs(6)).await;
    let outcome = real_timeout(Duration::from_secs(10), waited)
        .await
        .expect("answered")
        .expect("joined");
    let Err(ReadyError::TimedOut { last: Some(last) }) = outcome else {
        panic!("expected a timeout with the last failure, got {outcome:?}")
    };
    assert!(last.will_reconnect, "{last:?}");
    assert_eq!(client.snapshot().status, Status::Reconnecting);
}

#[tokio::test(start_paused = true)]
async fn a_late_subscriber_still_sees_how_the_connection_began() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let client = Vestibule::new()
        .instance(options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    client.connect();
    real_timeout(
        Duration::from_secs(10),
        client.ready(Duration::from_secs(10)),
    )
    .await
    .expect("in time")
    .expect("logged in");
    // Subscribing after the login: the first events describe the live session, once each.
    let mut events = client.subscribe();
    let first: Vec<Event> = (0..4)
        .map(|_| events.try_recv().expect("catch-up"))
        .collect();
    assert_eq!(
        first[0],
        Event::NetState {
            state: NetState::Connected
        }
    );
    assert!(matches!(&first[1], Event::Connected { info } if info.account == "alice"));
    assert!(matches!(&first[2], Event::DevicesChanged { devices, .. } if devices.len() == 1));
    assert_eq!(first[3], Event::Ready);
    assert!(events.try_recv().is_err(), "nothing else, and no duplicate");
}
