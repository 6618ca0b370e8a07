//! What the client fuzz target and its corpus regression test share: a
//! hostile server scripted by bytes (any handshake response, any frames, any
//! close), and a client that must survive it: no panic, no wait beyond
//! [`MAX_SERVER_WAIT`](vestibule_protocol::limits::MAX_SERVER_WAIT), and a
//! `destroy()` that completes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use vestibule_protocol::limits::MAX_SERVER_WAIT;

use crate::{ClientOptions, Event, Status, Timing, Vestibule};

/// What the scripted server answers the upgrade with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// A proper WebSocket upgrade, then the scripted frames.
    Upgrade,
    /// These bytes as the whole HTTP response, then the socket closes.
    Raw(Vec<u8>),
}

/// One thing the scripted server sends after the upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A text frame (any UTF-8, usually not a valid frame).
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// A valid `loginOk` (so the paths after login get explored too).
    LoginOk,
    /// A close frame with this code.
    Close(u16),
}

/// A server's script: the handshake, then the frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// How the upgrade is answered.
    pub handshake: Handshake,
    /// What follows.
    pub steps: Vec<Step>,
}

/// Reads a script from fuzz input: parts split on `0xFF`; the first part's
/// first byte picks the handshake, each later part's first byte picks the step.
pub fn script(data: &[u8]) -> Script {
    let mut parts = data.split(|b| *b == 0xFF);
    let handshake = match parts.next().and_then(|p| p.split_first()) {
        Some((&kind, rest)) if kind % 3 == 0 => Handshake::Raw(rest.to_vec()),
        _ => Handshake::Upgrade,
    };
    let steps = parts
        .filter_map(|part| {
            let (&kind, rest) = part.split_first()?;
            Some(match kind % 4 {
                0 => Step::Text(String::from_utf8_lossy(rest).into_owned()),
                1 => Step::Binary(rest.to_vec()),
                2 => Step::LoginOk,
                _ => Step::Close(u16::from_be_bytes([
                    rest.first().copied().unwrap_or(0x0f),
                    rest.get(1).copied().unwrap_or(0xa0),
                ])),
            })
        })
        .take(32)
        .collect();
    Script { handshake, steps }
}

const LOGIN_OK: &str = r#"{"type":"loginOk","id":1,"connectionId":"fuzz","ip":"127.0.0.1","port":1,"country":"","lastLoginDeviceId":null,"customTag":null,"serverTime":1800000000000,"repeatLogin":false,"devices":[],"rev":1,"sessionToken":"vst1.fuzz"}"#;

/// Serves `script` to every connection on a loopback port until the handle
/// is dropped; returns the URL.
async fn serve(script: Script) -> Result<(String, Server), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("addr: {e}"))?;
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let script = script.clone();
            connections.spawn(async move {
                if let Handshake::Raw(bytes) = &script.handshake {
                    let mut head = [0u8; 2048];
                    let _ = stream.read(&mut head).await;
                    let _ = stream.write_all(bytes).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let _login = ws.next().await;
                for step in script.steps {
                    let message = match step {
                        Step::Text(text) => Message::text(text),
                        Step::Binary(bytes) => Message::binary(bytes),
                        Step::LoginOk => Message::text(LOGIN_OK),
                        Step::Close(code) => Message::Close(Some(CloseFrame {
                            code: code.into(),
                            reason: "fuzz".into(),
                        })),
                    };
                    if ws.send(message).await.is_err() {
                        return;
                    }
                }
                // Hold the connection until the client leaves.
                while let Ok(Some(Ok(_))) =
                    tokio::time::timeout(Duration::from_secs(2), ws.next()).await
                {}
            });
        }
    });
    Ok((format!("ws://{addr}/v1/ws"), Server(task)))
}

/// The scripted server; dropping it stops it and its connections.
struct Server(tokio::task::JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs a client against a server playing `script` for a moment and checks
/// that it survived. An error names what went wrong.
pub async fn replay(script: Script) -> Result<(), String> {
    let (url, _server) = serve(script).await?;
    let mut options = ClientOptions::builder(&url, "demo", "fuzz", "token", "fuzz-device")
        .auto_connect(false)
        .build()
        .map_err(|e| e.to_string())?;
    options.timing = Timing {
        connect_timeout: Duration::from_millis(300),
        ..Timing::default()
    };
    options.timing.backoff.initial = Duration::from_millis(5);
    options.timing.backoff.max = Duration::from_millis(20);
    let client = Vestibule::new()
        .instance(options)
        .map_err(|e| e.to_string())?;
    let mut events = client.subscribe();
    client.connect();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
    while let Ok(event) = tokio::time::timeout_at(deadline, events.recv()).await {
        match event {
            Ok(Event::WillReconnect { delay, .. }) if delay > MAX_SERVER_WAIT => {
                return Err(format!("the client would wait {delay:?}"));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    if let Some(retry) = client.snapshot().retry
        && Duration::from_millis(retry.delay_ms) > MAX_SERVER_WAIT
    {
        return Err(format!("the client would wait {} ms", retry.delay_ms));
    }
    match tokio::time::timeout(Duration::from_secs(5), client.destroy()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("destroy failed: {e}")),
        Err(_) => return Err("destroy did not complete: the instance is stuck or dead".into()),
    }
    if client.snapshot().status != Status::Destroyed {
        return Err(format!(
            "destroyed but reports {:?}",
            client.snapshot().status
        ));
    }
    Ok(())
}
