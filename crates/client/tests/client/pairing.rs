//! Pairing from the client's side: a device that is not signed in shows a
//! code, a signed-in client approves it, and the new device logs in with the
//! session token it received.

use std::time::Duration;

use vestibule_client::pairing::{Pairing, PairingEvent, PairingOptions};
use vestibule_client::{ClientError, ClientInfo, ClientOptions, DeviceInfo, DeviceType};
use vestibule_protocol::Code;

use crate::support::*;

fn laptop() -> DeviceInfo {
    DeviceInfo {
        device_id: "laptop-1".into(),
        device_type: DeviceType::Pc,
        os: "Debian GNU/Linux 12".into(),
        mac: None,
        custom_tag: None,
    }
}

fn program() -> ClientInfo {
    ClientInfo {
        name: "client-tests".into(),
        version: "0".into(),
    }
}

/// Options whose connect timeout never fires while the test moves the held clock.
fn options(url: &str, app_key: &str) -> PairingOptions {
    let mut options = PairingOptions::new(url, app_key, laptop(), program());
    options.connect_timeout = Duration::from_secs(3600);
    options
}

/// The next event, moving the held clock 100 ms at a time (the gateway
/// looks for an approval every 250 ms).
async fn next(pairing: &mut Pairing) -> PairingEvent {
    for _ in 0..3000 {
        if let Some(event) = pairing.try_next() {
            return event;
        }
        advance(Duration::from_millis(100)).await;
    }
    panic!("no pairing event within 300 s of held time")
}

#[tokio::test(start_paused = true)]
async fn a_code_approved_elsewhere_signs_this_device_in() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let (phone, _events) = connected(&url, "alice", "phone-1", DeviceType::Ios).await;
    let mut pairing = Pairing::start(options(&url, APP));
    let PairingEvent::Code { code, .. } = next(&mut pairing).await else {
        panic!("a code first")
    };

    let who = phone.lookup_pair(&code).await.expect("lookup");
    assert_eq!(who.device.device_id, "laptop-1");
    assert_eq!(who.ip, "127.0.0.1");
    phone.approve_pair(&code).await.expect("approve");
    let PairingEvent::Paired {
        account,
        session_token,
        ..
    } = next(&mut pairing).await
    else {
        panic!("paired")
    };
    assert_eq!(account, "alice");
    assert!(pairing.next().await.is_none(), "Paired is the last event");
    let debug = format!(
        "{:?}",
        PairingEvent::Paired {
            account: account.clone(),
            session_token: session_token.clone(),
            token_expires_at: None,
        }
    );
    assert!(!debug.contains(session_token.expose()), "{debug}");

    // The new device logs in with its session alone, like a remembered one.
    let options = ClientOptions::builder(&url, APP, &account, "", "laptop-1")
        .session_token(session_token)
        .device_type(DeviceType::Pc)
        .build()
        .expect("options");
    let (laptop, _) = connected_with(options).await;
    assert!(!laptop.snapshot().login.expect("logged in").new_session);

    // The code was single-use; a wrong one says so.
    match phone.approve_pair(&code).await {
        Err(ClientError::Rejected { code, .. }) => assert_eq!(code, Code::PairingCodeUsed),
        other => panic!("{other:?}"),
    }
    match phone.lookup_pair("0000-0000").await {
        Err(ClientError::Rejected { code, message, .. }) => {
            assert_eq!(code, Code::PairingCodeUnknown);
            assert_eq!(message, "no such code");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_code_is_renewed_before_it_expires_and_the_old_one_withdrawn() {
    let _clock = hold_clock();
    let gw = gateway_with("127.0.0.1:0", |c| c.pair_code_ttl = Duration::from_secs(60)).await;
    let url = gw.ws_url();
    let (phone, _events) = connected(&url, "alice", "phone-1", DeviceType::Ios).await;
    let mut pairing = Pairing::start(options(&url, APP));
    let PairingEvent::Code { code: first, .. } = next(&mut pairing).await else {
        panic!("a code")
    };
    // 20 s before the minute is up, a new code replaces it.
    let PairingEvent::Code { code: second, .. } = next(&mut pairing).await else {
        panic!("a new code")
    };
    assert_ne!(first, second);
    match phone.lookup_pair(&first).await {
        Err(ClientError::Rejected { code, .. }) => assert_eq!(code, Code::PairingRequesterGone),
        other => panic!("{other:?}"),
    }
    phone
        .approve_pair(&second)
        .await
        .expect("the new code works");
    assert!(matches!(
        next(&mut pairing).await,
        PairingEvent::Paired { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn an_unknown_app_or_a_dead_gateway_fails_with_a_reason() {
    let _clock = hold_clock();
    let gw = gateway().await;
    let url = gw.ws_url();
    let mut pairing = Pairing::start(options(&url, "nope"));
    match next(&mut pairing).await {
        PairingEvent::Failed { code, message, .. } => {
            assert_eq!(code, Some(Code::UnknownAppKey));
            assert_eq!(message, "unknown appKey");
        }
        other => panic!("{other:?}"),
    }
    let dead = format!("ws://127.0.0.1:{}/v1/ws", vestibule_testkit::free_port());
    let mut pairing = Pairing::start(options(&dead, APP));
    match next(&mut pairing).await {
        PairingEvent::Failed { code, message, .. } => {
            assert_eq!(code, None);
            assert!(message.contains("cannot reach"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
