//! The gateway binary as a service runs it: JSON logs on stderr with no
//! secret in them, and SIGHUP (`systemctl reload`) swapping the TLS
//! certificate under live sessions.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vestibule_e2e::{ADMIN_KEY, SECRET, bin, token};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;
const WAIT: Duration = Duration::from_secs(20);

/// A gateway process with stdout and stderr read into channels.
struct Gateway {
    child: Child,
    url: String,
    stderr: tokio::sync::mpsc::UnboundedReceiver<String>,
}

async fn start(extra: &[&str]) -> Gateway {
    let mut command = Command::new(bin("vestibule-gateway"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-key", ADMIN_KEY])
        .args(["--demo-secret", SECRET, "--config", "/dev/null"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the gateway starts");
    let (tx, stderr) = tokio::sync::mpsc::unbounded_channel();
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Some(url) = line
                .split_whitespace()
                .find(|w| w.contains("://127.0.0.1:"))
            {
                return url.to_owned();
            }
        }
        panic!("stdout ended before the banner");
    })
    .await
    .expect("the gateway listens within the wait");
    // Keep draining stdout so the process never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    Gateway { child, url, stderr }
}

impl Gateway {
    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for a stderr line containing `needle`; returns it.
    async fn log_line(&mut self, needle: &str, seen: &mut Vec<String>) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.stderr.recv())
                .await
                .unwrap_or_else(|_| panic!("no log line with {needle:?}; saw {seen:#?}"))
                .unwrap_or_else(|| panic!("stderr ended; saw {seen:#?}"));
            seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
}

fn login(account: &str, device_id: &str, token: &str) -> Message {
    Message::text(
        json!({
            "type": "login", "id": 1, "appKey": "demo", "account": account, "token": token,
            "device": {"deviceId": device_id, "type": "PC", "os": "test"},
            "client": {"name": "ops-tests", "version": "0"}
        })
        .to_string(),
    )
}

async fn frame(ws: &mut Ws, kind: &str) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("JSON");
                    if value["type"] == kind {
                        return value;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("connection ended waiting for {kind}: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} frame"))
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_without_secrets() {
    let mut gw = start(&["--memory", "--log-format", "json"]).await;
    let mut seen = Vec::new();
    let line = gw.log_line("gateway listening", &mut seen).await;
    let parsed: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(parsed["level"], "INFO", "{parsed}");
    assert_eq!(parsed["fields"]["message"], "gateway listening", "{parsed}");
    assert!(parsed["timestamp"].is_string(), "{parsed}");

    // A login and a refused one, then a reload with nothing to reload: all logged.
    let good = token("alice");
    let bad = format!("{}x", token("bob"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&gw.url).await.expect("ws");
    ws.send(login("alice", "pc-1", &good)).await.expect("send");
    frame(&mut ws, "loginOk").await;
    let (mut refused, _) = tokio_tungstenite::connect_async(&gw.url).await.expect("ws");
    refused
        .send(login("bob", "pc-1", &bad))
        .await
        .expect("send");
    frame(&mut refused, "loginFailed").await;
    gw.signal("-HUP");
    gw.log_line("no TLS certificate to reload", &mut seen).await;
    gw.signal("-TERM");
    let status = tokio::time::timeout(WAIT, gw.child.wait())
        .await
        .expect("exits on SIGTERM")
        .expect("status");
    assert!(status.success(), "{status}");
    while let Some(line) = gw.stderr.recv().await {
        seen.push(line);
    }
    let mut json_lines = 0;
    for line in &seen {
        for secret in [ADMIN_KEY, SECRET, good.as_str(), bad.as_str()] {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
        // The shutdown notice is plain text on purpose; every log line is JSON.
        if line.starts_with("shutting down") {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value["level"].is_string(), "{line}");
        json_lines += 1;
    }
    assert!(json_lines >= 3, "{seen:#?}");
}

fn make_cert(dir: &Path, name: &str) -> CertificateDer<'static> {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    CertificateDer::from_pem_file(&cert).expect("a PEM certificate")
}

fn install(dir: &Path, name: &str) {
    for ext in ["crt", "key"] {
        std::fs::copy(
            dir.join(format!("{name}.{ext}")),
            dir.join(format!("next.{ext}")),
        )
        .expect("copy");
        std::fs::rename(
            dir.join(format!("next.{ext}")),
            dir.join(format!("live.{ext}")),
        )
        .expect("rename");
    }
}

async fn connect(url: &str, roots: &[&CertificateDer<'static>]) -> (Ws, CertificateDer<'static>) {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add((*root).clone()).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(store)
    .with_no_client_auth();
    let connector = tokio_tungstenite::Connector::Rustls(Arc::new(config));
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(url, None, true, Some(connector))
            .await
            .expect("a TLS WebSocket");
    let presented = match ws.get_ref() {
        MaybeTlsStream::Rustls(tls) => tls.get_ref().1.peer_certificates().expect("a chain")[0]
            .clone()
            .into_owned(),
        _ => panic!("not TLS"),
    };
    (ws, presented)
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_keeps_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (make_cert(dir.path(), "a"), make_cert(dir.path(), "b"));
    install(dir.path(), "a");
    let (cert, key) = (dir.path().join("live.crt"), dir.path().join("live.key"));
    let mut gw = start(&[
        "--memory",
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ])
    .await;
    assert!(gw.url.starts_with("wss://"), "{}", gw.url);
    let (mut old, presented) = connect(&gw.url, &[&a, &b]).await;
    assert_eq!(presented, a);
    old.send(login("alice", "pc-1", &token("alice")))
        .await
        .expect("send");
    frame(&mut old, "loginOk").await;

    install(dir.path(), "b");
    gw.signal("-HUP");
    let mut seen = Vec::new();
    gw.log_line("TLS certificate reloaded", &mut seen).await;
    let (mut new, presented) = connect(&gw.url, &[&a, &b]).await;
    assert_eq!(presented, b, "a new connection gets cert B");
    new.send(login("bob", "pc-1", &token("bob")))
        .await
        .expect("send");
    frame(&mut new, "loginOk").await;
    // The session from before the reload still sends and receives.
    old.send(Message::text(
        json!({"type": "renameDevice", "id": 11, "deviceId": "pc-1", "name": "Renamed"})
            .to_string(),
    ))
    .await
    .expect("send on the old session");
    assert_eq!(frame(&mut old, "ok").await["id"], 11);

    // A broken certificate: logged, and cert B stays.
    std::fs::write(&cert, "garbage").expect("write");
    gw.signal("-HUP");
    let error = gw.log_line("not reloaded", &mut seen).await;
    assert!(error.contains("live.crt"), "{error}");
    let started = Instant::now();
    let (_third, presented) = connect(&gw.url, &[&a, &b]).await;
    assert_eq!(presented, b);
    assert!(started.elapsed() < WAIT);
}
