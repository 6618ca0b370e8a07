//! A server that says unexpected things: huge waits, kick reasons and frames
//! this client does not know. Nothing it says may crash the client, make it
//! wait forever, or turn a sign-out into a reconnect loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use vestibule_client::{DeviceType, DisconnectReason, Event, KickReason, Status, Vestibule};
use vestibule_protocol::limits::MAX_SERVER_WAIT;

use crate::support::*;

/// A loopback server answering every connection with `response` (raw HTTP), then closing.
async fn http_server(response: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/v1/ws", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head).await;
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (url, accepted)
}

/// The delay of the first WillReconnect after connecting to `url`.
async fn first_retry_delay(url: &str) -> (vestibule_client::Client, Duration) {
    let client = Vestibule::new()
        .instance(options(url, "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    let (event, _) = until(&mut events, |e| matches!(e, Event::WillReconnect { .. })).await;
    let Event::WillReconnect { delay, .. } = event else {
        unreachable!()
    };
    (client, delay)
}

#[tokio::test(start_paused = true)]
async fn a_huge_retry_after_is_clamped_and_does_not_crash() {
    let _clock = hold_clock();
    for response in [
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 18446744073709551615\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After-Ms: 18446744073709551615\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 99999999999999999999999\r\nContent-Length: 0\r\n\r\n",
    ] {
        let (url, _) = http_server(response).await;
        let (client, delay) = first_retry_delay(&url).await;
        assert!(delay <= MAX_SERVER_WAIT, "{response:?}: waits {delay:?}");
        let snapshot = client.snapshot();
        assert_eq!(snapshot.status, Status::Reconnecting, "{response:?}");
        assert!(
            snapshot
                .retry
                .is_some_and(|r| r.delay_ms <= MAX_SERVER_WAIT.as_millis() as u64)
        );
        // The instance is alive: it still answers.
        real_timeout(Duration::from_secs(5), client.destroy())
            .await
            .expect("destroy answers")
            .expect("destroyed");
    }
}

/// A loopback WebSocket server that answers the login with `loginOk`, then
/// sends `frames` and closes with `close` (if any).
async fn ws_server(frames: Vec<String>, close: Option<u16>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/v1/ws", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let frames = frames.clone();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let _login = ws.next().await;
                let ok = serde_json::json!({
                    "type": "loginOk", "id": 1, "connectionId": "c-1", "ip": "127.0.0.1",
                    "port": 1, "country": "", "lastLoginDeviceId": null, "customTag": null,
                    "serverTime": 1_800_000_000_000u64, "repeatLogin": false,
                    "devices": [], "rev": 1, "someFutureField": {"x": 1}
                });
                let _ = ws.send(Message::text(ok.to_string())).await;
                for frame in frames {
                    let _ = ws.send(Message::text(frame)).await;
                }
                if let Some(code) = close {
                    let _ = ws
                        .send(Message::Close(Some(CloseFrame {
                            code: code.into(),
                            reason: "bye".into(),
                        })))
                        .await;
                }
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    (url, accepted)
}

#[tokio::test(start_paused = true)]
async fn a_huge_retry_after_in_a_login_refusal_is_clamped() {
    let _clock = hold_clock();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/v1/ws", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let _login = ws.next().await;
                let refused = r#"{"type":"loginFailed","id":1,"code":416,"message":"slow down","retryAfterMs":18446744073709551615}"#;
                let _ = ws.send(Message::text(refused)).await;
                let _ = ws.close(None).await;
            });
        }
    });
    let (client, delay) = first_retry_delay(&url).await;
    assert!(delay <= MAX_SERVER_WAIT, "waits {delay:?}");
    assert_eq!(client.snapshot().status, Status::Reconnecting);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_kick_reason_is_still_a_sign_out() {
    let _clock = hold_clock();
    let kicked = r#"{"type":"kicked","reason":"quantumTheft","by":null,"message":"signed out for a reason from the future"}"#;
    let (url, accepted) = ws_server(vec![kicked.to_owned()], Some(4907)).await;
    let client = Vestibule::new()
        .instance(options(&url, "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    let (event, _) = until(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { info } = event else {
        unreachable!()
    };
    assert!(!info.will_reconnect, "{info:?}");
    assert_eq!(
        info.reason,
        DisconnectReason::Kicked {
            reason: KickReason::Unknown
        }
    );
    assert_eq!(info.message, "signed out for a reason from the future");
    assert!(info.to_string().starts_with("signed out"), "{info}");
    let later = quiet_for(&mut events, Duration::from_secs(120)).await;
    assert!(
        !later
            .iter()
            .any(|e| matches!(e, Event::WillReconnect { .. })),
        "{later:?}"
    );
    assert_eq!(client.snapshot().status, Status::SignedOut);
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "never dialled again");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_close_code_in_the_kick_range_is_a_sign_out() {
    let _clock = hold_clock();
    let (url, accepted) = ws_server(Vec::new(), Some(4950)).await;
    let client = Vestibule::new()
        .instance(options(&url, "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    let (event, _) = until(&mut events, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { info } = event else {
        unreachable!()
    };
    assert_eq!(
        info.reason,
        DisconnectReason::Kicked {
            reason: KickReason::Unknown
        }
    );
    // Reported as the generic kick code: this version cannot say more.
    assert_eq!(info.code, Some(4900));
    quiet_for(&mut events, Duration::from_secs(60)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "never dialled again");
}

#[tokio::test(start_paused = true)]
async fn unknown_frames_and_fields_do_not_break_the_session() {
    let _clock = hold_clock();
    let frames = vec![
        r#"{"type":"somethingNew","id":9,"payload":[1,2,3]}"#.to_owned(),
        serde_json::json!({
            "type": "devices", "rev": 2, "extra": true,
            "devices": [{
                "deviceId": "pc-1", "type": "PC", "os": "x", "connectionId": "c-1",
                "ip": "127.0.0.1", "loginTime": 1, "online": true, "current": false,
                "fromTheFuture": "yes"
            }, {
                "deviceId": "watch-1", "type": "Watch", "os": "watchOS 12", "connectionId": "c-2",
                "ip": "127.0.0.1", "loginTime": 2, "online": true, "current": false
            }]
        })
        .to_string(),
    ];
    let (url, _) = ws_server(frames, None).await;
    let client = Vestibule::new()
        .instance(options(&url, "alice", "pc-1", DeviceType::Pc))
        .expect("instance");
    let mut events = client.subscribe();
    client.connect();
    let (_, before) = until(
        &mut events,
        |e| matches!(e, Event::DevicesChanged { rev: 2, devices } if devices.len() == 2),
    )
    .await;
    assert!(
        !before.iter().any(|e| matches!(e, Event::Error { .. })),
        "an unknown frame is not an error: {before:?}"
    );
    assert_eq!(client.snapshot().status, Status::Connected);
    let devices = client.devices();
    assert_eq!(
        devices[1].device_type,
        DeviceType::Unknown,
        "a newer kind of device is still listed"
    );
    assert_eq!(devices[1].os, "watchOS 12");
}
