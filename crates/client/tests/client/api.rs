use std::time::Duration;

use vestibule_client::{
    ClientError, DeviceType, Event, NetState, OptionsUpdate, Status, Vestibule,
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
