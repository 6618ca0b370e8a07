use std::time::Duration;

use serde_json::json;
use vestibule_client::{ClientOptions, DeviceType, Event, Events, Vestibule};
use vestibule_gateway::policy::DevicePolicy;
use vestibule_gateway::{Gateway, GatewayConfig};
pub use vestibule_testkit::{
    APP_KEY as APP, SECRET, advance, eventually, hold_clock, metric, real_timeout, token_for,
};

pub async fn gateway() -> Gateway {
    gateway_on("127.0.0.1:0").await
}

pub async fn gateway_on(addr: &str) -> Gateway {
    gateway_with(addr, |_| {}).await
}

pub async fn gateway_with(addr: &str, tune: impl FnOnce(&mut GatewayConfig)) -> Gateway {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut config = GatewayConfig::new(addr.parse().expect("addr"));
    config.admin_key = Some("admin-key-for-client-tests".into());
    config.demo_secret = Some(SECRET.into());
    tune(&mut config);
    Gateway::start(config).await.expect("gateway starts")
}

pub async fn set_policy(gw: &Gateway, policy: serde_json::Value) {
    let policy: DevicePolicy = serde_json::from_value(policy).expect("policy");
    gw.store()
        .set_policy(APP, policy)
        .await
        .expect("set policy");
}

/// Options for `account` on `device_id`, not auto-connecting (tests subscribe first).
pub fn options(
    url: &str,
    account: &str,
    device_id: &str,
    device_type: DeviceType,
) -> ClientOptions {
    let mut options = ClientOptions::new(
        url,
        APP,
        account,
        token_for(account, Duration::from_secs(3600)),
        device_id,
    );
    options.device.device_type = device_type;
    options.device.os = format!("{device_type} test OS");
    options.auto_connect = false;
    options
}

/// The next event, within 10 s of real time.
pub async fn next(events: &mut Events) -> Event {
    real_timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("event channel open")
}

/// Events until one matches `want`; returns it and everything before it.
pub async fn until(events: &mut Events, want: impl Fn(&Event) -> bool) -> (Event, Vec<Event>) {
    let mut seen = Vec::new();
    loop {
        let event = next(events).await;
        if want(&event) {
            return (event, seen);
        }
        seen.push(event);
    }
}

/// The events that arrive while the held clock advances by `total` in 1 s steps.
pub async fn quiet_for(events: &mut Events, total: Duration) -> Vec<Event> {
    quiet_for_by(events, total, Duration::from_secs(1)).await
}

/// The events that arrive while the held clock advances by `total` in steps of `step`.
pub async fn quiet_for_by(events: &mut Events, total: Duration, step: Duration) -> Vec<Event> {
    let mut seen = Vec::new();
    let mut left = total;
    // (events is drained after every step)
    while !left.is_zero() {
        let step = left.min(step);
        advance(step).await;
        left -= step;
        while let Ok(event) = events.try_recv() {
            seen.push(event);
        }
    }
    seen
}

/// Advances the held clock in 1 s steps so periodic pings keep flowing.
pub async fn advance_in_steps(total: Duration) {
    let mut left = total;
    while !left.is_zero() {
        let step = left.min(Duration::from_secs(1));
        advance(step).await;
        left -= step;
    }
}

/// A connected client of `account` in its own registry (another device).
pub async fn connected(
    url: &str,
    account: &str,
    device_id: &str,
    device_type: DeviceType,
) -> (vestibule_client::Client, Events) {
    connected_with(options(url, account, device_id, device_type)).await
}

/// A client with `options` in its own registry, connected, with its events since the start.
pub async fn connected_with(options: ClientOptions) -> (vestibule_client::Client, Events) {
    let client = Vestibule::new().instance(options).expect("instance");
    let mut events = client.subscribe();
    client.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    (client, events)
}

/// A backoff that always waits `delay` (no jitter to wait through in a test).
pub fn fixed_backoff(delay: Duration) -> vestibule_client::BackoffConfig {
    vestibule_client::BackoffConfig {
        initial: delay,
        max: delay,
        multiplier: 1.0,
    }
}

pub fn all_policy() -> serde_json::Value {
    json!({"mode": "all", "maxDevices": 200})
}
