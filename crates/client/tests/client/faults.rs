//! Network faults between the client and a real gateway, injected by the
//! testkit proxy: each ends in the documented state within its bound, and the
//! client recovers when the fault clears.

use std::time::Duration;

use vestibule_client::{DeviceType, DisconnectReason, Event, Status, Vestibule};
use vestibule_testkit::{Mode, Proxy};

use crate::support::*;

fn will_reconnect(e: &Event) -> bool {
    matches!(e, Event::WillReconnect { .. })
}

async fn through_proxy() -> (vestibule_gateway::Gateway, Proxy) {
    let gw = gateway().await;
    let proxy = Proxy::start(gw.local_addr()).await.expect("proxy");
    (gw, proxy)
}

#[tokio::test(start_paused = true)]
async fn high_latency_slows_but_does_not_break_the_session() {
    let _clock = hold_clock();
    let (_gw, proxy) = through_proxy().await;
    proxy.set_mode(Mode::Latency(Duration::from_millis(800)));
    let client = Vestibule::new()
        .instance(options(&proxy.ws_url(), "alice", "pc", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    // Handshake and login each take a round trip of 1.6 s.
    let seen = quiet_for(&mut events, Duration::from_secs(6)).await;
    assert!(seen.iter().any(|e| matches!(e, Event::Ready)), "{seen:?}");
    // A minute of pings, each answered 1.6 s later: well inside the 10 s deadline.
    let later = quiet_for(&mut events, Duration::from_secs(60)).await;
    assert!(!later.iter().any(will_reconnect), "{later:?}");
    proxy.set_mode(Mode::Forward);
    assert_eq!(client.snapshot().status, Status::Connected);
}

#[tokio::test(start_paused = true)]
async fn a_connection_reset_mid_frame_is_retried_at_once_and_recovers() {
    let _clock = hold_clock();
    let (gw, proxy) = through_proxy().await;
    let client = Vestibule::new()
        .instance(options(&proxy.ws_url(), "alice", "pc", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    proxy.set_mode(Mode::ResetMidFrame);
    // The next gateway frame (a device-list push) is cut in half by a reset.
    let (_phone, _) = connected(&gw.ws_url(), "alice", "phone", DeviceType::Ios).await;
    let (event, _) = until(&mut events, will_reconnect).await;
    assert!(matches!(event, Event::WillReconnect { retry_count: 1, .. }));
    let last = client.snapshot().last_disconnect.expect("recorded");
    assert!(
        matches!(last.reason, DisconnectReason::Lost { .. }),
        "{last:?}"
    );
    proxy.set_mode(Mode::Forward);
    let seen = quiet_for(&mut events, Duration::from_secs(1)).await;
    assert!(
        seen.iter().any(|e| matches!(e, Event::Ready)),
        "back within the first backoff (≤ 0.5 s): {seen:?}"
    );
    assert_eq!(client.devices().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_trickling_link_still_logs_in_and_delivers_pushes() {
    let _clock = hold_clock();
    let (gw, proxy) = through_proxy().await;
    proxy.set_mode(Mode::Trickle {
        bytes: 32,
        every: Duration::from_millis(100),
    });
    let client = Vestibule::new()
        .instance(options(&proxy.ws_url(), "alice", "pc", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    // A loginOk of ~500 bytes at 320 B/s arrives in under 3 s, inside the 10 s connect timeout.
    let step = Duration::from_millis(50);
    let seen = quiet_for_by(&mut events, Duration::from_secs(8), step).await;
    assert!(seen.iter().any(|e| matches!(e, Event::Ready)), "{seen:?}");
    let (_phone, _) = connected(&gw.ws_url(), "alice", "phone", DeviceType::Ios).await;
    let seen = quiet_for_by(&mut events, Duration::from_secs(8), step).await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::DevicesChanged { devices, .. } if devices.len() == 2)),
        "{seen:?}"
    );
    assert!(!seen.iter().any(will_reconnect));
}

#[tokio::test(start_paused = true)]
async fn frames_split_into_single_bytes_still_work() {
    let _clock = hold_clock();
    let (gw, proxy) = through_proxy().await;
    proxy.set_mode(Mode::Split);
    let client = Vestibule::new()
        .instance(options(&proxy.ws_url(), "alice", "pc", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    let (_phone, _) = connected(&gw.ws_url(), "alice", "phone", DeviceType::Ios).await;
    until(
        &mut events,
        |e| matches!(e, Event::DevicesChanged { devices, .. } if devices.len() == 2),
    )
    .await;
    let result = client
        .kick(vec!["phone".into()])
        .await
        .expect("kick through a byte-splitting link");
    assert_eq!(result.kicked, ["phone"]);
}

#[tokio::test(start_paused = true)]
async fn a_dead_network_is_found_and_left_when_it_heals() {
    let _clock = hold_clock();
    let (_gw, proxy) = through_proxy().await;
    let client = Vestibule::new()
        .instance(options(&proxy.ws_url(), "alice", "pc", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    proxy.set_mode(Mode::Blackhole);
    // Bound: ping interval (15 s) + pong deadline (10 s).
    let seen = quiet_for(&mut events, Duration::from_secs(25)).await;
    assert!(seen.iter().any(will_reconnect), "{seen:?}");
    assert_eq!(
        client.snapshot().last_disconnect.and_then(|d| d.code),
        Some(408)
    );
    proxy.set_mode(Mode::Forward);
    // Bound: the attempt in flight times out (10 s), then one backoff step.
    let seen = quiet_for(&mut events, Duration::from_secs(12)).await;
    assert!(seen.iter().any(|e| matches!(e, Event::Ready)), "{seen:?}");
}
