use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use vestibule_client::{
    BackoffConfig, DeviceType, DisconnectReason, Event, NetState, Status, Vestibule, WallClock,
};
use vestibule_testkit::{Mode, Proxy};

use crate::support::*;

fn will_reconnect(event: &Event) -> Option<(u32, Duration)> {
    match event {
        Event::WillReconnect { retry_count, delay } => Some((*retry_count, *delay)),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn gateway_down_backs_off_within_bounds_and_comes_back() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let addr = gw.local_addr();
    let client = Vestibule::new()
        .instance(options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;

    gw.shutdown().await;
    let config = BackoffConfig::default();
    for expected in 1..=6u32 {
        let (event, _) = until(&mut events, |e| will_reconnect(e).is_some()).await;
        let (count, delay) = will_reconnect(&event).expect("WillReconnect");
        assert_eq!(count, expected);
        if expected == 1 {
            // The gateway said when to come back (503 + retryAfterMs, 1–5 s): honoured.
            assert!(
                delay >= Duration::from_secs(1) && delay < Duration::from_secs(5),
                "attempt 1 waits for the gateway's hint: {delay:?}"
            );
        } else {
            assert!(
                delay <= config.ceiling(expected),
                "attempt {expected}: {delay:?}"
            );
        }
        let snapshot = client.snapshot();
        assert_eq!(snapshot.status, Status::Reconnecting);
        assert_eq!(snapshot.net_state, NetState::Connecting);
        let retry = snapshot.retry.expect("retry info while reconnecting");
        assert_eq!(
            (retry.retry_count, retry.delay_ms),
            (expected, delay.as_millis() as u64)
        );
        // tokio timers have millisecond resolution and round up.
        advance(delay + Duration::from_millis(1)).await;
    }
    // Back on the same port.
    let gw = gateway_on(&addr.to_string()).await;
    let (event, _) = until(&mut events, |e| will_reconnect(e).is_some()).await;
    let (_, delay) = will_reconnect(&event).expect("WillReconnect");
    advance(delay + Duration::from_millis(1)).await;
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    let snapshot = client.snapshot();
    assert_eq!(snapshot.status, Status::Connected);
    assert_eq!(snapshot.retry, None);

    // Stable for a while: the count starts over at the next drop.
    advance_in_steps(Duration::from_secs(31)).await;
    gw.shutdown().await;
    let (event, _) = until(&mut events, |e| will_reconnect(e).is_some()).await;
    assert_eq!(will_reconnect(&event).map(|w| w.0), Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_busy_gateway_is_retried_when_it_says() {
    let _clock = hold_clock();
    // One login a second: alice takes it, bob is turned away at the upgrade.
    let gw = gateway_with("127.0.0.1:0", |c| c.max_logins_per_sec = Some(1)).await;
    let alice = Vestibule::new()
        .instance(options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut alice_events = alice.subscribe();
    alice.connect();
    until(&mut alice_events, |e| matches!(e, Event::Ready)).await;

    let bob = Vestibule::new()
        .instance(options(&gw.ws_url(), "bob", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut events = bob.subscribe();
    bob.connect();
    let (event, _) = until(&mut events, |e| will_reconnect(e).is_some()).await;
    let (count, delay) = will_reconnect(&event).expect("WillReconnect");
    assert_eq!(count, 1);
    // The 503's Retry-After-Ms is the next free slot, about a second away.
    assert!(
        delay >= Duration::from_millis(900) && delay <= Duration::from_millis(1100),
        "waits for the gateway's slot: {delay:?}"
    );
    advance(delay + Duration::from_millis(1)).await;
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    assert_eq!(bob.snapshot().status, Status::Connected);
}

#[tokio::test(start_paused = true)]
async fn retry_now_skips_the_backoff() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let addr = gw.local_addr();
    let mut opts = options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc);
    opts.timing.backoff = fixed_backoff(Duration::from_secs(60));
    let (client, mut events) = connected_with(opts).await;
    gw.shutdown().await;
    until(&mut events, |e| will_reconnect(e).is_some()).await;
    let _gw = gateway_on(&addr.to_string()).await;
    client.retry_now();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
}

#[tokio::test(start_paused = true)]
async fn a_half_open_connection_is_found_by_the_heartbeat_and_recovered() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let proxy = Proxy::start(gw.local_addr()).await.expect("proxy");
    let client = Vestibule::new()
        .instance(options(&proxy.ws_url(), "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    // Healthy pings keep it up.
    let healthy = quiet_for(&mut events, Duration::from_secs(40)).await;
    assert!(healthy.is_empty(), "{healthy:?}");

    proxy.set_mode(Mode::Blackhole);
    // The next ping (≤ 15 s) goes unanswered for 10 s.
    let seen = quiet_for(&mut events, Duration::from_secs(25)).await;
    let first = seen.iter().find_map(will_reconnect);
    assert_eq!(first.map(|w| w.0), Some(1), "{seen:?}");
    let last = client.snapshot().last_disconnect.expect("recorded");
    assert_eq!(last.code, Some(408));
    assert!(last.will_reconnect);

    // While the network is still dead, attempts time out and back off.
    let seen = quiet_for(&mut events, Duration::from_secs(12)).await;
    assert!(
        seen.iter().filter_map(will_reconnect).any(|w| w.0 == 2),
        "{seen:?}"
    );
    proxy.set_mode(Mode::Forward);
    let seen = quiet_for(&mut events, Duration::from_secs(35)).await;
    assert!(seen.iter().any(|e| matches!(e, Event::Ready)), "{seen:?}");
    assert_eq!(client.snapshot().status, Status::Connected);
}

#[tokio::test(start_paused = true)]
async fn waking_from_sleep_retries_at_once() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let addr = gw.local_addr();
    let wall = Arc::new(AtomicU64::new(1_800_000_000_000));
    let reading = wall.clone();
    let mut opts = options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc);
    opts.wall_clock = WallClock::from_fn(move || reading.load(Ordering::SeqCst));
    opts.timing.backoff = fixed_backoff(Duration::from_secs(300));
    let (_client, mut events) = connected_with(opts).await;
    gw.shutdown().await;
    let (event, _) = until(&mut events, |e| will_reconnect(e).is_some()).await;
    let _gw = gateway_on(&addr.to_string()).await;
    let (_, delay) = will_reconnect(&event).expect("WillReconnect");
    // The laptop sleeps for an hour: the wall clock jumps, the monotonic one barely moves.
    wall.fetch_add(3_600_000, Ordering::SeqCst);
    let seen = quiet_for(&mut events, Duration::from_secs(6)).await;
    assert!(
        seen.iter().any(|e| matches!(e, Event::Ready)),
        "reconnected without waiting out {delay:?}: {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn network_up_retries_at_once() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let addr = gw.local_addr();
    let mut opts = options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc);
    opts.timing.backoff = fixed_backoff(Duration::from_secs(300));
    let (client, mut events) = connected_with(opts).await;
    gw.shutdown().await;
    until(&mut events, |e| will_reconnect(e).is_some()).await;
    client.network_changed(false);
    until(&mut events, |e| {
        *e == Event::NetState {
            state: NetState::Disconnected,
        }
    })
    .await;
    let _gw = gateway_on(&addr.to_string()).await;
    client.network_changed(true);
    until(&mut events, |e| matches!(e, Event::Ready)).await;
}

#[tokio::test(start_paused = true)]
async fn a_reconnect_delay_provider_decides_each_wait() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let proxy = Proxy::start(gw.local_addr()).await.expect("proxy");
    let mut options = options(&proxy.ws_url(), "alice", "pc-1", DeviceType::Pc);
    options.reconnect_delay = Some(vestibule_client::backoff::ReconnectDelay::from_fn(
        |attempt, _proposed| Duration::from_secs(u64::from(attempt) * 3),
    ));
    let (pc, mut events) = connected_with(options).await;

    // Every connection now dies at the gateway's next bytes (the heartbeat's
    // pong, then each handshake): each attempt waits what the provider said.
    proxy.set_mode(Mode::ResetMidFrame);
    let mut waits = Vec::new();
    for _ in 0..600 {
        for event in quiet_for_by(
            &mut events,
            Duration::from_millis(500),
            Duration::from_millis(100),
        )
        .await
        {
            if let Event::WillReconnect { retry_count, delay } = event {
                waits.push((retry_count, delay));
            }
        }
        if waits.len() >= 3 {
            break;
        }
    }
    assert_eq!(
        &waits[..3],
        &[
            (1, Duration::from_secs(3)),
            (2, Duration::from_secs(6)),
            (3, Duration::from_secs(9)),
        ]
    );
    assert_eq!(pc.snapshot().status, Status::Reconnecting);
    proxy.set_mode(Mode::Forward);
    let seen = quiet_for(&mut events, Duration::from_secs(15)).await;
    assert!(seen.iter().any(|e| matches!(e, Event::Ready)), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn when_its_gateway_goes_down_the_next_attempt_goes_to_another() {
    let _clock = hold_clock();
    let first = gateway().await;
    let second = gateway().await;
    let mut options = options(&first.ws_url(), "alice", "pc-1", DeviceType::Pc);
    options.fallback_urls = vec![second.ws_url()];
    let client = Vestibule::new().instance(options).expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    assert_eq!(first.registry().local_sessions(), 1);

    // Its node goes away (a crash): one backoff step later the client is on
    // the other node (which does not know its session: the app token signs in).
    first.abort();
    let (event, _) = until(&mut events, |e| matches!(e, Event::WillReconnect { .. })).await;
    let Event::WillReconnect { retry_count, .. } = event else {
        unreachable!()
    };
    assert_eq!(retry_count, 1);
    let seen = quiet_for_by(
        &mut events,
        Duration::from_secs(10),
        Duration::from_millis(100),
    )
    .await;
    let readies = seen.iter().filter(|e| matches!(e, Event::Ready)).count();
    assert!(readies >= 1, "back within one backoff step: {seen:?}");
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::WillReconnect { retry_count, .. } if *retry_count > 1)),
        "no second attempt was needed: {seen:?}"
    );
    assert_eq!(client.snapshot().status, Status::Connected);
    assert_eq!(second.registry().local_sessions(), 1, "on the other node");
}

#[tokio::test(start_paused = true)]
async fn no_network_drops_the_connection_at_once_and_tries_nothing_until_it_is_back() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let (client, mut events) = connected(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc).await;
    // What the OS watcher does when the last link goes down.
    client.network_changed(false);
    let seen = quiet_for_by(
        &mut events,
        Duration::from_millis(100),
        Duration::from_millis(10),
    )
    .await;
    assert!(
        seen.contains(&Event::NetState {
            state: NetState::Disconnected
        }),
        "{seen:?}"
    );
    let snapshot = client.snapshot();
    assert_eq!(snapshot.status, Status::Reconnecting);
    assert_eq!(snapshot.retry, None, "no countdown while offline");
    assert_eq!(
        snapshot.last_disconnect.map(|d| d.reason),
        Some(DisconnectReason::NoNetwork)
    );
    // Five minutes offline: not one attempt, no countdown.
    let offline = quiet_for(&mut events, Duration::from_secs(300)).await;
    assert!(
        !offline
            .iter()
            .any(|e| matches!(e, Event::Dialing { .. } | Event::WillReconnect { .. })),
        "{offline:?}"
    );
    client.network_changed(true);
    let back = quiet_for_by(
        &mut events,
        Duration::from_secs(1),
        Duration::from_millis(50),
    )
    .await;
    assert!(
        matches!(back.first(), Some(Event::Dialing { .. })),
        "{back:?}"
    );
    assert!(back.contains(&Event::Ready), "back within 1 s: {back:?}");
}

#[tokio::test(start_paused = true)]
async fn the_os_network_does_not_concern_a_gateway_on_this_machine() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let vestibule = Vestibule::new();
    let client = vestibule
        .instance(options(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    vestibule.network_changed(false);
    let seen = quiet_for(&mut events, Duration::from_secs(5)).await;
    assert!(!seen.contains(&Event::NotReady), "{seen:?}");
    assert_eq!(client.snapshot().status, Status::Connected);
}
