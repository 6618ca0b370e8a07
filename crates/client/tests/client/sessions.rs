//! Device sessions from the client's side: a sign-in gets a session token,
//! reconnects and restarts use it, and a session that ended says how.

use std::time::Duration;

use vestibule_client::{
    ClientOptions, DeviceType, EndReason, Event, ReadyError, Status, Timing, Vestibule,
};
use vestibule_testkit::{Mode, Proxy};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);

/// Options for a device coming back with only its session token (what
/// *Remember me* keeps), not the app's token.
fn remembered(url: &str, device_id: &str, session: &vestibule_client::Token) -> ClientOptions {
    ClientOptions::builder(url, APP, "alice", "", device_id)
        .session_token(session.clone())
        .auto_connect(false)
        .build()
        .expect("a session token alone is enough")
}

fn new_devices(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::NewDevice { device } => Some(device.device_id.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_sign_in_gets_a_session_and_a_restart_comes_back_with_it_silently() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let (_phone, mut phone_events) = connected(&url, "alice", "phone-1", DeviceType::Ios).await;
    let (pc, pc_events) = connected(&url, "alice", "pc-1", DeviceType::Pc).await;
    let info = pc.snapshot().login.expect("logged in");
    assert!(info.new_session, "a sign-in with the app's token");
    let session = pc.session_token().expect("a session token");
    assert!(!format!("{:?}", pc.session_token()).contains(session.expose()));
    let (_, seen) = until(
        &mut phone_events,
        |e| matches!(e, Event::DevicesChanged { devices, .. } if devices.len() == 2),
    )
    .await;
    let (alert, _) = if new_devices(&seen).is_empty() {
        until(&mut phone_events, |e| matches!(e, Event::NewDevice { .. })).await
    } else {
        (seen[0].clone(), Vec::new())
    };
    assert!(matches!(alert, Event::NewDevice { ref device } if device.device_id == "pc-1"));
    drop(pc_events);

    // The app quits (Remember me): the device stays signed in, offline.
    pc.close().await.expect("close");
    let (event, _) = until(&mut phone_events, |e| {
        matches!(e, Event::DevicesChanged { devices, .. }
            if devices.iter().any(|d| d.device_id == "pc-1" && !d.online))
    })
    .await;
    let Event::DevicesChanged { devices, .. } = event else {
        unreachable!()
    };
    assert!(devices[0].online, "online devices first");

    // It starts again with only its session token.
    let (again, _) = connected_with(remembered(&url, "pc-1", &session)).await;
    let info = again.snapshot().login.expect("logged in");
    assert!(!info.new_session, "the same session");
    assert_eq!(again.session_token().as_ref(), Some(&session));
    let (_, seen) = until(&mut phone_events, |e| {
        matches!(e, Event::DevicesChanged { devices, .. }
            if devices.iter().any(|d| d.device_id == "pc-1" && d.online))
    })
    .await;
    assert!(
        new_devices(&seen).is_empty(),
        "a device coming back is not new: {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn reconnects_after_a_drop_use_the_session_token() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let proxy = Proxy::start(gw.local_addr()).await.expect("proxy");
    let (phone, mut phone_events) =
        connected(&gw.ws_url(), "alice", "phone-1", DeviceType::Ios).await;
    let mut options = options(&proxy.ws_url(), "alice", "pc-1", DeviceType::Pc);
    options.timing = Timing {
        backoff: fixed_backoff(Duration::from_secs(1)),
        ..Timing::default()
    };
    let (pc, mut pc_events) = connected_with(options).await;
    let session = pc.session_token().expect("session");
    until(&mut phone_events, |e| matches!(e, Event::NewDevice { .. })).await;

    // The connection dies in the middle of the next frame (a push).
    proxy.set_mode(Mode::ResetMidFrame);
    phone
        .rename_device("phone-1", "My phone")
        .await
        .expect("rename");
    until(&mut pc_events, |e| matches!(e, Event::WillReconnect { .. })).await;
    proxy.set_mode(Mode::Forward);
    let seen = quiet_for(&mut pc_events, Duration::from_secs(5)).await;
    assert!(seen.iter().any(|e| matches!(e, Event::Ready)), "{seen:?}");
    let info = pc.snapshot().login.expect("logged in");
    assert!(!info.new_session, "a reconnect keeps the session");
    assert_eq!(pc.session_token(), Some(session));
    let seen = quiet_for(&mut phone_events, Duration::from_secs(1)).await;
    assert!(new_devices(&seen).is_empty(), "{seen:?}");
    let named = pc
        .devices()
        .into_iter()
        .find(|d| d.device_id == "phone-1")
        .and_then(|d| d.name);
    assert_eq!(named.as_deref(), Some("My phone"));
}

#[tokio::test(start_paused = true)]
async fn a_device_signed_out_while_closed_opens_signed_out_saying_who() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let (phone, _) = connected(&url, "alice", "phone-1", DeviceType::Ios).await;
    let (pc, _) = connected(&url, "alice", "pc-1", DeviceType::Pc).await;
    let session = pc.session_token().expect("session");
    pc.close().await.expect("close");
    let result = phone.kick(vec!["pc-1".into()]).await.expect("kick");
    assert_eq!(
        result.kicked,
        ["pc-1"],
        "an offline device can be signed out"
    );

    let again = Vestibule::new()
        .instance(remembered(&url, "pc-1", &session))
        .expect("instance");
    again.connect();
    let Err(ReadyError::Ended(info)) = again.ready(WAIT).await else {
        panic!("a revoked session logged in")
    };
    assert_eq!(info.code, Some(420));
    assert!(!info.will_reconnect);
    let ended = info.ended.clone().expect("how it ended");
    assert_eq!(ended.reason, EndReason::ByDevice);
    assert_eq!(
        info.by.as_ref().map(|b| b.device_id.as_str()),
        Some("phone-1")
    );
    assert!(ended.at > 0);
    assert_eq!(
        info.to_string(),
        "signed out by phone-1 (iOS, iOS test OS, 127.0.0.1): signed out by another of your devices"
    );
    assert_eq!(again.snapshot().status, Status::SignedOut);
    assert_eq!(again.session_token(), None, "forgotten");
    // Nothing to retry with: connect() again ends the same way, at once.
    again.connect();
    assert!(matches!(again.ready(WAIT).await, Err(ReadyError::Ended(_))));
}

#[tokio::test(start_paused = true)]
async fn a_kick_while_online_ends_the_session_for_good() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let (phone, _) = connected(&url, "alice", "phone-1", DeviceType::Ios).await;
    let (pc, mut pc_events) = connected(&url, "alice", "pc-1", DeviceType::Pc).await;
    let session = pc.session_token().expect("session");
    phone.kick(vec!["pc-1".into()]).await.expect("kick");
    until(&mut pc_events, |e| matches!(e, Event::Disconnected { .. })).await;
    assert_eq!(pc.session_token(), None);
    let again = Vestibule::new()
        .instance(remembered(&url, "pc-1", &session))
        .expect("instance");
    again.connect();
    let Err(ReadyError::Ended(info)) = again.ready(WAIT).await else {
        panic!("the kicked session came back")
    };
    assert_eq!(info.code, Some(420));
}

#[tokio::test(start_paused = true)]
async fn an_unknown_session_signs_in_with_the_apps_token_if_there_is_one() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let bogus = vestibule_client::Token::new("vst1.a-session-another-gateway-issued");
    // Both tokens: the session is unknown, so the app's token signs in.
    let mut both = options(&url, "alice", "pc-1", DeviceType::Pc);
    both.session_token = Some(bogus.clone());
    let (pc, _) = connected_with(both).await;
    assert!(pc.snapshot().login.is_some_and(|l| l.new_session));
    assert!(pc.session_token().is_some_and(|t| t != bogus));
    // Only the session token: the person has to sign in again.
    let alone = Vestibule::new()
        .instance(remembered(&url, "pc-2", &bogus))
        .expect("instance");
    alone.connect();
    let Err(ReadyError::Ended(info)) = alone.ready(WAIT).await else {
        panic!("an unknown session logged in")
    };
    assert_eq!(info.code, Some(421));
    assert_eq!(alone.snapshot().status, Status::NeedsToken);
}

#[tokio::test(start_paused = true)]
async fn a_logout_ends_the_session_and_the_next_login_is_a_sign_in() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let (pc, mut events) = connected(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc).await;
    let first = pc.session_token().expect("session");
    pc.disconnect().await.expect("logout");
    assert_eq!(pc.session_token(), None);
    pc.connect();
    until(&mut events, |e| matches!(e, Event::Ready)).await;
    assert!(pc.snapshot().login.is_some_and(|l| l.new_session));
    assert!(pc.session_token().is_some_and(|t| t != first));
}

#[tokio::test(start_paused = true)]
async fn names_are_checked_before_they_are_sent() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let (pc, _) = connected(&gw.ws_url(), "alice", "pc-1", DeviceType::Pc).await;
    for bad in ["", "   ", "a\u{0}b", &"x".repeat(65)] {
        assert!(
            matches!(
                pc.rename_device("pc-1", bad).await,
                Err(vestibule_client::ClientError::InvalidOptions(_))
            ),
            "{bad:?}"
        );
    }
    let refused = pc.rename_device("nope", "Laptop").await;
    assert!(
        matches!(refused, Err(vestibule_client::ClientError::Rejected { .. })),
        "{refused:?}"
    );
    pc.rename_device("pc-1", "Laptop").await.expect("rename");
}

/// A destroy (or logout) while the sign-in is still on its way: the gateway
/// may already have created the session; the client lets the login finish and
/// logs out of it, so no session stays behind that this instance will never use.
#[tokio::test(start_paused = true)]
async fn destroy_during_a_sign_in_under_way_leaves_no_session_behind() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let proxy = Proxy::start(gw.local_addr()).await.expect("proxy");
    // Every round trip takes 1.6 s: the handshake, then the login.
    proxy.set_mode(Mode::Latency(Duration::from_millis(800)));
    let pc = Vestibule::new()
        .instance(options(&proxy.ws_url(), "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    pc.connect();
    // At 2.8 s the gateway has the login (2.4 s); its loginOk is on the way (3.2 s).
    advance_in_steps(Duration::from_millis(2800)).await;
    assert_eq!(pc.snapshot().status, Status::Connecting);
    let destroy = tokio::spawn({
        let pc = pc.clone();
        async move { pc.destroy().await }
    });
    advance_in_steps(Duration::from_secs(12)).await;
    destroy.await.expect("joined").expect("destroyed");
    proxy.set_mode(Mode::Forward);
    let (phone, _) = connected(&gw.ws_url(), "alice", "phone", DeviceType::Ios).await;
    let listed: Vec<String> = phone.devices().into_iter().map(|d| d.device_id).collect();
    assert_eq!(listed, ["phone"], "pc-1's session ended with its instance");
}
