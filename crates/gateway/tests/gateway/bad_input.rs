//! Bad input never takes the gateway down or leaks into another session; each
//! case is followed by a healthy login on a new socket.

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

async fn still_healthy(gw: &TestGateway) {
    let account = format!("healthy-{}", rand_suffix());
    gw.login(&account, "pc-1", "PC").await;
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn bad_first_frames_get_414_and_close() {
    let gw = TestGateway::start().await;
    let cases: Vec<(&str, Message, Option<u64>)> = vec![
        (
            "malformed JSON",
            Message::text("{\"type\": \"login\", "),
            None,
        ),
        ("not an object", Message::text("[1,2,3]"), None),
        (
            "unknown type",
            Message::text(json!({"type": "hello", "id": 3}).to_string()),
            Some(3),
        ),
        (
            "wrong field type",
            Message::text(json!({"type": "login", "id": 4, "appKey": 5}).to_string()),
            Some(4),
        ),
        (
            "a kick before login",
            Message::text(json!({"type": "kick", "id": 5, "deviceIds": ["x"]}).to_string()),
            Some(5),
        ),
        ("binary frame", Message::binary(vec![0u8, 1, 2, 3]), None),
    ];
    for (name, message, id) in cases {
        let mut client = Client::connect(&gw.url()).await;
        client.send_raw(message).await;
        let reply = client.frame().await;
        assert_eq!(reply["type"], "loginFailed", "{name}: {reply}");
        assert_eq!(reply["code"], 414, "{name}: {reply}");
        assert_eq!(
            reply.get("id").and_then(|v| v.as_u64()),
            id,
            "{name}: {reply}"
        );
        assert_eq!(client.closed().await, Some(4414), "{name}");
        still_healthy(&gw).await;
    }
}

#[tokio::test]
async fn oversized_frames_are_closed_with_1009() {
    let gw = TestGateway::start().await;
    for logged_in in [false, true] {
        let mut client = if logged_in {
            gw.login("alice", "pc-1", "PC").await.0
        } else {
            Client::connect(&gw.url()).await
        };
        let huge = format!(
            "{{\"type\":\"logout\",\"id\":1,\"pad\":\"{}\"}}",
            "x".repeat(70 * 1024)
        );
        client.send_raw(Message::text(huge)).await;
        assert_eq!(client.closed().await, Some(1009), "logged in: {logged_in}");
        still_healthy(&gw).await;
    }
    let list = gw.gw.registry().devices(APP, "alice").await;
    assert!(
        list.devices.iter().all(|d| !d.online),
        "the oversized sender is offline (still signed in): {:?}",
        list.devices
    );
}

#[tokio::test]
async fn bad_frames_on_a_live_session_get_an_error_and_the_session_stays() {
    let gw = TestGateway::start().await;
    let (mut client, _) = gw.login("alice", "pc-1", "PC").await;
    let cases: Vec<(&str, Message, Option<u64>)> = vec![
        ("malformed JSON", Message::text("{{{"), None),
        (
            "unknown type",
            Message::text(json!({"type": "dance", "id": 11}).to_string()),
            Some(11),
        ),
        (
            "missing field",
            Message::text(json!({"type": "kick", "id": 12}).to_string()),
            Some(12),
        ),
        (
            "empty kick",
            Message::text(json!({"type": "kick", "id": 13, "deviceIds": []}).to_string()),
            Some(13),
        ),
        (
            "second login",
            Message::text(login_frame("alice", "pc-1", "PC", &token("alice")).to_string()),
            Some(1),
        ),
        ("binary frame", Message::binary(vec![9u8; 16]), None),
    ];
    for (name, message, id) in cases {
        client.send_raw(message).await;
        let reply = client.frame().await;
        assert_eq!(reply["type"], "error", "{name}: {reply}");
        assert_eq!(reply["code"], 414, "{name}: {reply}");
        assert_eq!(
            reply.get("id").and_then(|v| v.as_u64()),
            id,
            "{name}: {reply}"
        );
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Still logged in and serving requests.
    client
        .send(&json!({"type": "kick", "id": 20, "deviceIds": ["ghost"]}))
        .await;
    assert_eq!(client.frame().await["notFound"], json!(["ghost"]));
    assert_eq!(gw.gw.registry().local_sessions(), 1);
    still_healthy(&gw).await;
}

#[tokio::test]
async fn raw_garbage_on_the_socket_does_not_hurt_others() {
    use tokio::io::AsyncWriteExt;
    let gw = TestGateway::start().await;
    let (mut alice, _) = gw.login("alice", "pc-1", "PC").await;
    // Not even HTTP.
    let mut raw = tokio::net::TcpStream::connect(gw.gw.local_addr())
        .await
        .expect("connect");
    raw.write_all(b"\x16\x03\x01\x00\xffgarbage\r\n\r\n")
        .await
        .expect("write");
    drop(raw);
    // HTTP, but not a WebSocket upgrade.
    let res = reqwest::get(gw.http("/v1/ws")).await.expect("get");
    assert!(res.status().is_client_error());
    alice
        .silent_for(std::time::Duration::from_millis(200))
        .await;
    still_healthy(&gw).await;
}

#[tokio::test]
async fn a_client_started_close_gets_the_closing_handshake() {
    let gw = TestGateway::start().await;
    for logged_in in [false, true] {
        let mut client = if logged_in {
            gw.login("alice", "pc-1", "PC").await.0
        } else {
            Client::connect(&gw.url()).await
        };
        client
            .send_raw(Message::Close(Some(
                tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code:
                        tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
                    reason: "bye".into(),
                },
            )))
            .await;
        assert_eq!(client.closed().await, Some(1000), "logged in: {logged_in}");
    }
}
