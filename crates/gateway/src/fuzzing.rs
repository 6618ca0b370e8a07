//! What the gateway fuzz target and its corpus regression test share: turning
//! bytes into a sequence of WebSocket messages, and playing them on a fresh
//! connection to a running gateway.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use vestibule_protocol::ServerFrame;

/// One thing a fuzzed client does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send text (any UTF-8, usually not JSON).
    Text(String),
    /// Send a binary frame.
    Binary(Vec<u8>),
    /// Send a valid login of account `a{account}` from device `d{device}` (so
    /// the paths after login get explored too).
    Login {
        /// Picks the account.
        account: u8,
        /// Picks the device id and type.
        device: u8,
    },
    /// Send a ping.
    Ping,
}

/// Splits fuzz input on `0xFF` bytes; each part's first byte picks the step.
pub fn steps(data: &[u8]) -> Vec<Step> {
    data.split(|b| *b == 0xFF)
        .filter_map(|part| {
            let (&kind, rest) = part.split_first()?;
            Some(match kind % 4 {
                0 => Step::Text(String::from_utf8_lossy(rest).into_owned()),
                1 => Step::Binary(rest.to_vec()),
                2 => Step::Login {
                    account: rest.first().copied().unwrap_or(0) % 4,
                    device: rest.get(1).copied().unwrap_or(0) % 8,
                },
                _ => Step::Ping,
            })
        })
        .take(64)
        .collect()
}

/// Plays `steps` on a fresh connection to the gateway at `addr` (whose demo
/// app signs with `secret`) and reads what comes back until the gateway closes
/// or goes quiet. An error means the gateway broke the protocol.
pub async fn replay(addr: SocketAddr, secret: &str, steps: &[Step]) -> Result<(), String> {
    let url = format!("ws://{addr}{}", vestibule_protocol::WS_PATH);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    for step in steps {
        let message = match step {
            Step::Text(text) => Message::text(text.clone()),
            Step::Binary(bytes) => Message::binary(bytes.clone()),
            Step::Ping => Message::Ping(Vec::new().into()),
            Step::Login { account, device } => {
                let account = format!("a{account}");
                let token = vestibule_protocol::token::mint(
                    secret,
                    crate::DEMO_APP_KEY,
                    &account,
                    Duration::from_secs(3600),
                )
                .map_err(|e| e.to_string())?;
                let types = ["PC", "Mac", "Web", "iOS", "Android"];
                let frame = serde_json::json!({
                    "type": "login", "id": 1, "appKey": crate::DEMO_APP_KEY, "account": account,
                    "token": token.expose(),
                    "device": {"deviceId": format!("d{device}"), "type": types[usize::from(*device) % types.len()], "os": "fuzz"},
                    "client": {"name": "fuzz", "version": "0"}
                });
                Message::text(frame.to_string())
            }
        };
        if ws.send(message).await.is_err() {
            break;
        }
    }
    loop {
        match tokio::time::timeout(Duration::from_millis(50), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                ServerFrame::decode(text.as_str())
                    .map_err(|e| format!("the gateway sent an unreadable frame {text:?}: {e}"))?;
            }
            Ok(Some(Ok(Message::Binary(_)))) => {
                return Err("the gateway sent a binary frame".into());
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => return Ok(()),
        }
    }
}
