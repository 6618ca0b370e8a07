use std::time::Duration;

use vestibule_client::{DeviceType, DisconnectReason, Event, KickReason, Status, Vestibule};
use vestibule_testkit::{Mode, Proxy};

use crate::support::*;

fn disconnected(event: &Event) -> Option<vestibule_client::DisconnectInfo> {
    match event {
        Event::Disconnected { info } => Some(info.clone()),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_kicks_b_and_b_never_comes_back() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let (a, mut a_events) = connected(&url, "alice", "pc-1", DeviceType::Pc).await;
    let (b, mut b_events) = connected(&url, "alice", "phone-1", DeviceType::Ios).await;
    until(
        &mut a_events,
        |e| matches!(e, Event::DevicesChanged { devices, .. } if devices.len() == 2),
    )
    .await;

    let result = a.kick(vec!["phone-1".into()]).await.expect("kick");
    assert_eq!(result.kicked, ["phone-1"]);
    assert!(result.not_found.is_empty());

    let (event, _) = until(&mut b_events, |e| disconnected(e).is_some()).await;
    let info = disconnected(&event).expect("disconnected");
    assert_eq!(
        info.reason,
        DisconnectReason::Kicked {
            reason: KickReason::ByDevice
        }
    );
    let by = info.by.expect("by");
    assert_eq!(
        (by.device_id.as_str(), by.device_type),
        ("pc-1", DeviceType::Pc)
    );
    assert_eq!(b.snapshot().status, Status::SignedOut);
    until(
        &mut a_events,
        |e| matches!(e, Event::DevicesChanged { devices, .. } if devices.len() == 1),
    )
    .await;
    assert_eq!(a.devices().len(), 1);

    // Minutes later b has not tried again.
    let later = quiet_for(&mut b_events, Duration::from_secs(120)).await;
    assert!(later.is_empty(), "{later:?}");
    assert_eq!(gw.registry().devices(APP, "alice").await.devices.len(), 1);

    // kick_others on a lone device is a no-op; an unknown id is not found.
    assert!(
        a.kick_others()
            .await
            .expect("kick others")
            .kicked
            .is_empty()
    );
    assert_eq!(
        a.kick(vec!["ghost".into()]).await.expect("kick").not_found,
        ["ghost"]
    );
}

#[tokio::test(start_paused = true)]
async fn login_elsewhere_and_rejected_duplicates_are_terminal() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let (first, mut first_events) = connected(&url, "alice", "pc-1", DeviceType::Pc).await;
    let (_second, _) = connected(&url, "alice", "pc-2", DeviceType::Pc).await;
    let (event, _) = until(&mut first_events, |e| disconnected(e).is_some()).await;
    let info = disconnected(&event).expect("disconnected");
    assert_eq!(
        info.reason,
        DisconnectReason::Kicked {
            reason: KickReason::LoginElsewhere
        }
    );
    assert_eq!(info.by.map(|b| b.device_id), Some("pc-2".to_owned()));
    assert_eq!(first.snapshot().status, Status::SignedOut);

    set_policy(
        &gw,
        serde_json::json!({"mode": "perType", "onConflict": "rejectNew"}),
    )
    .await;
    let third = Vestibule::new()
        .instance(options(&url, "alice", "pc-3", DeviceType::Pc))
        .expect("instance");
    let mut events = third.subscribe();
    third.connect();
    let (event, _) = until(&mut events, |e| disconnected(e).is_some()).await;
    let info = disconnected(&event).expect("disconnected");
    assert_eq!(info.reason, DisconnectReason::Rejected { code: 417 });
    assert!(
        quiet_for(&mut events, Duration::from_secs(60))
            .await
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn a_same_device_reconnect_shows_no_flap_to_other_devices() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let proxy = Proxy::start(gw.local_addr()).await.expect("proxy");
    let (observer, mut observer_events) =
        connected(&gw.ws_url(), "alice", "phone-1", DeviceType::Ios).await;
    let (flaky, mut flaky_events) =
        connected(&proxy.ws_url(), "alice", "pc-1", DeviceType::Pc).await;
    let before = flaky.snapshot().login.expect("login").connection_id;
    until(
        &mut observer_events,
        |e| matches!(e, Event::DevicesChanged { devices, .. } if devices.len() == 2),
    )
    .await;

    // pc-1's network dies silently; it notices, and reconnects once the network is back,
    // while the gateway still holds its old session.
    proxy.set_mode(Mode::Blackhole);
    quiet_for(&mut flaky_events, Duration::from_secs(26)).await;
    assert!(
        matches!(
            flaky.snapshot().status,
            Status::Reconnecting | Status::Connecting
        ),
        "{:?}",
        flaky.snapshot().status
    );
    proxy.set_mode(Mode::Forward);
    // The attempt in flight is stuck on the dead path; start a fresh one.
    flaky.retry_now();
    until(&mut flaky_events, |e| matches!(e, Event::Ready)).await;
    let after = flaky.snapshot().login.expect("login");
    assert_ne!(after.connection_id, before);
    assert!(
        after.repeat_login,
        "the gateway replaced the old session of this device"
    );

    // Every list the observer saw had pc-1 in it.
    let seen = quiet_for(&mut observer_events, Duration::from_secs(2)).await;
    let lists: Vec<Vec<String>> = seen
        .iter()
        .filter_map(|e| match e {
            Event::DevicesChanged { devices, .. } => {
                Some(devices.iter().map(|d| d.device_id.clone()).collect())
            }
            _ => None,
        })
        .collect();
    assert!(!lists.is_empty(), "the observer saw pc-1's new connection");
    assert!(
        lists.iter().all(|l| l.contains(&"pc-1".to_owned())),
        "a flap: {lists:?}"
    );
    assert!(!seen.iter().any(|e| matches!(e, Event::Disconnected { .. })));
    let pc = observer
        .devices()
        .into_iter()
        .find(|d| d.device_id == "pc-1")
        .expect("pc-1 listed");
    assert_eq!(pc.connection_id, after.connection_id);
}

#[tokio::test(start_paused = true)]
async fn a_hundred_devices_of_one_account_agree_on_the_last_rev() {
    let _clock = hold_clock();
    let gw = gateway().await;
    set_policy(&gw, all_policy()).await;
    let url = gw.ws_url();
    let mut clients = Vec::new();
    for i in 0..100 {
        let client = Vestibule::new()
            .instance(options(
                &url,
                "alice",
                &format!("dev-{i:03}"),
                DeviceType::Android,
            ))
            .expect("instance");
        client.connect();
        clients.push(client);
    }
    let all_in = eventually(Duration::from_secs(20), || {
        clients.iter().all(|c| c.snapshot().devices.len() == 100)
    })
    .await;
    assert!(all_in, "every client sees 100 devices");
    let rev = gw.registry().devices(APP, "alice").await.rev;
    let revs: Vec<u64> = clients.iter().map(|c| c.snapshot().devices_rev).collect();
    assert!(revs.iter().all(|r| *r == rev), "all on rev {rev}: {revs:?}");
    for client in &clients {
        let current: Vec<_> = client.devices().into_iter().filter(|d| d.current).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].device_id, client.snapshot().device_id);
    }
}
