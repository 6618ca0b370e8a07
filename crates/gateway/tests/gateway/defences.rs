//! Defences: login-attempt limits (416), the per-IP connection cap (429),
//! the Origin allowlist (403), slow readers, TLS.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use vestibule_gateway::guard::Rate;

use crate::support::*;

async fn refused_with(gw: &TestGateway, account: &str, token: &str) -> serde_json::Value {
    let mut client = Client::connect(&gw.url()).await;
    let reply = client
        .login_with(&login_frame(account, "pc-1", "PC", token))
        .await;
    assert_eq!(reply["type"], "loginFailed", "{reply}");
    let code = reply["code"].as_u64().expect("code") as u16;
    assert_eq!(client.closed().await, Some(4000 + code));
    reply
}

#[tokio::test(start_paused = true)]
async fn login_attempts_per_ip_are_limited_with_416() {
    let _clock = hold_clock();
    let gw = TestGateway::start_with(|c| {
        c.attempts_per_ip = Some(Rate {
            burst: 3,
            per_minute: 60,
        })
    })
    .await;
    for account in ["a", "b", "c"] {
        gw.login(account, "pc-1", "PC").await;
    }
    let reply = refused_with(&gw, "d", &token("d")).await;
    assert_eq!(reply["code"], 416);
    let wait = reply["retryAfterMs"].as_u64().expect("retryAfterMs");
    assert!((1..=1000).contains(&wait), "{wait}");
    advance(Duration::from_secs(1)).await;
    gw.login("d", "pc-1", "PC").await;
}

#[tokio::test(start_paused = true)]
async fn failed_logins_per_account_are_limited_even_for_the_right_token() {
    let _clock = hold_clock();
    let gw = TestGateway::start_with(|c| {
        c.failures_per_account = Some(Rate {
            burst: 2,
            per_minute: 6,
        })
    })
    .await;
    for _ in 0..2 {
        assert_eq!(refused_with(&gw, "alice", "guess").await["code"], 302);
    }
    // Guessing is over the limit now: even the right token waits.
    let reply = refused_with(&gw, "alice", &token("alice")).await;
    assert_eq!(reply["code"], 416);
    assert!(
        reply["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0 && ms <= 10_000)
    );
    // Other accounts are not affected, and successful logins do not count.
    for _ in 0..3 {
        let (client, _) = gw.login("bob", "pc-1", "PC").await;
        client.close().await;
    }
    advance(Duration::from_secs(10)).await;
    gw.login("alice", "pc-1", "PC").await;
}

#[tokio::test]
async fn garbage_from_elsewhere_cannot_lock_a_person_out() {
    // The defaults: what a gateway runs with.
    let gw = TestGateway::start().await;
    let elsewhere: std::net::IpAddr = "127.0.0.2".parse().expect("ip");
    let mut last = serde_json::Value::Null;
    for _ in 0..30 {
        let mut attacker = Client::connect_from(&gw.url(), elsewhere).await;
        last = attacker
            .login_with(&login_frame("alice", "pc-x", "PC", "garbage"))
            .await;
    }
    assert_eq!(last["code"], 416, "the guesser is slowed down: {last}");
    // alice, from her own address, with her token, gets in.
    gw.login("alice", "pc-1", "PC").await;
    // And the guesser stays slowed down even with the right token.
    let mut attacker = Client::connect_from(&gw.url(), elsewhere).await;
    let reply = attacker
        .login_with(&login_frame("alice", "pc-x", "PC", &token("alice")))
        .await;
    assert_eq!(reply["code"], 416, "{reply}");
}

#[tokio::test]
async fn many_addresses_guessing_one_account_hit_the_account_ceiling() {
    let gw = TestGateway::start_with(|c| {
        c.failures_per_account = Some(Rate {
            burst: 10,
            per_minute: 10,
        })
    })
    .await;
    for i in 0..10u8 {
        let from: std::net::IpAddr = format!("127.0.1.{}", i + 1).parse().expect("ip");
        let mut attacker = Client::connect_from(&gw.url(), from).await;
        let reply = attacker
            .login_with(&login_frame("alice", "pc-x", "PC", "garbage"))
            .await;
        assert_eq!(reply["code"], 302, "{reply}");
    }
    let from: std::net::IpAddr = "127.0.1.200".parse().expect("ip");
    let mut attacker = Client::connect_from(&gw.url(), from).await;
    let reply = attacker
        .login_with(&login_frame("alice", "pc-x", "PC", "garbage"))
        .await;
    assert_eq!(
        reply["code"], 416,
        "a botnet is slowed down per account: {reply}"
    );
}

#[tokio::test]
async fn connections_per_ip_are_capped_with_429() {
    let gw = TestGateway::start_with(|c| c.max_connections_per_ip = Some(2)).await;
    let first = Client::connect(&gw.url()).await;
    let _second = Client::connect(&gw.url()).await;
    let third = tokio_tungstenite::connect_async(gw.url()).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("expected 429, got {other:?}"),
    }
    first.close().await;
    assert!(
        vestibule_testkit::eventually(Duration::from_secs(5), || gw.gw.open_connections() < 2)
            .await,
        "the closed connection is uncounted"
    );
    let _again = Client::connect(&gw.url()).await;
}

#[tokio::test]
async fn only_allowed_browser_origins_may_connect() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let gw =
        TestGateway::start_with(|c| c.allowed_origins = vec!["https://app.example".into()]).await;
    let with_origin = |origin: &str| {
        let mut request = gw.url().into_client_request().expect("request");
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("header"));
        request
    };
    match tokio_tungstenite::connect_async(with_origin("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(with_origin("https://app.example"))
        .await
        .expect("allowed origin");
    futures_util::SinkExt::send(
        &mut ws,
        Message::text(login_frame("alice", "web-1", "Web", &token("alice")).to_string()),
    )
    .await
    .expect("send");
    // Native clients send no Origin at all.
    gw.login("bob", "pc-1", "PC").await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_the_others_carry_on() {
    let gw = TestGateway::start_with(|c| c.write_timeout = Duration::from_millis(500)).await;
    gw.set_policy(json!({"mode": "all", "maxDevices": 50}))
        .await;
    let tag = "x".repeat(1000);
    let login = |id: &str| {
        let mut frame = login_frame("alice", id, "Android", &token("alice"));
        frame["device"]["customTag"] = json!(tag);
        frame
    };
    // The slow reader logs in and then never reads again.
    let mut slow = Client::connect(&gw.url()).await;
    assert_eq!(slow.login_with(&login("slow")).await["type"], "loginOk");
    // Readers that keep up, so only the slow one falls behind.
    let mut readers = Vec::new();
    for i in 0..20 {
        let mut c = Client::connect(&gw.url()).await;
        assert_eq!(
            c.login_with(&login(&format!("reader-{i}"))).await["type"],
            "loginOk"
        );
        readers.push(tokio::spawn(async move {
            use futures_util::StreamExt;
            while let Some(Ok(_)) = c.ws.next().await {}
        }));
    }
    // Each time this device comes online or goes offline, a ~25 KB list goes to everyone.
    let mut toggler = Client::connect(&gw.url()).await;
    let first = toggler.login_with(&login("toggler")).await;
    assert_eq!(first["type"], "loginOk");
    toggler.close().await;
    let mut rounds = 0;
    let gone = loop {
        let mut toggler = Client::connect(&gw.url()).await;
        let mut resume = login("toggler");
        if let Some(object) = resume.as_object_mut() {
            object.remove("token");
            object.insert("sessionToken".into(), first["sessionToken"].clone());
        }
        let reply = toggler.login_with(&resume).await;
        assert_eq!(reply["type"], "loginOk", "{reply}");
        toggler.close().await;
        rounds += 1;
        let list = gw.gw.registry().devices(APP, "alice").await;
        if !list
            .devices
            .iter()
            .any(|d| d.device_id == "slow" && d.online)
        {
            break true;
        }
        if rounds > 2000 {
            break false;
        }
    };
    assert!(gone, "the slow reader was never dropped");
    let list = gw.gw.registry().devices(APP, "alice").await;
    assert_eq!(
        list.devices
            .iter()
            .filter(|d| d.device_id.starts_with("reader-"))
            .count(),
        20,
        "the others stay"
    );
    drop(slow);
    for r in readers {
        r.abort();
    }
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("cert");
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("write");
    std::fs::write(dir.path().join("key.pem"), &key_pem).expect("write");
    let files = vestibule_gateway::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    let gw = TestGateway::start_with(|c| c.tls = Some(files)).await;
    let url = gw.url();
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let config = client_tls()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(config));
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(&url, None, true, Some(connector))
            .await
            .expect("a TLS WebSocket");
    let mut client = Client { ws };
    let ok = client
        .login_with(&login_frame("alice", "pc-1", "PC", &token("alice")))
        .await;
    assert_eq!(ok["type"], "loginOk", "{ok}");

    // Without trusting the certificate, the handshake fails; plain ws:// is not served.
    let untrusted = client_tls()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let refused = tokio_tungstenite::connect_async_tls_with_config(
        &url,
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(
            untrusted,
        ))),
    )
    .await;
    assert!(refused.is_err());
    assert!(
        tokio_tungstenite::connect_async(url.replacen("wss://", "ws://", 1))
            .await
            .is_err()
    );
    // The admin API and health check are served over TLS too (not checked here: reqwest has no TLS here).
}

/// A rustls client builder with ring chosen explicitly: the workspace may
/// compile in a second provider, and then rustls will not pick one itself.
fn client_tls() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_session_is_counted_and_cleaned_up_and_the_others_carry_on() {
    let gw = TestGateway::start_with(|c| c.panic_on_account = Some("boom".into())).await;
    let panics_before = vestibule_testkit::metric(&gw.gw.http_url(), "vestibule_panics ").await;
    let (mut bob, _) = gw.login("bob", "pc-1", "PC").await;
    let mut boom = Client::connect(&gw.url()).await;
    boom.send(&login_frame("boom", "pc-1", "PC", &token("boom")))
        .await;
    // Its connection just ends: the task that owned it is gone.
    assert!(
        boom.next_within(Duration::from_secs(10))
            .await
            .is_some_and(|e| !matches!(e, Event::Frame(ref f) if f["type"] == "loginOk"))
    );
    let panics = vestibule_testkit::metric(&gw.gw.http_url(), "vestibule_panics ").await;
    assert_eq!(panics, panics_before + 1.0, "the panic is counted");
    assert!(
        vestibule_testkit::eventually(Duration::from_secs(5), || gw.gw.registry().local_sessions()
            == 1)
        .await,
        "the panicked session left the registry"
    );
    assert!(
        gw.gw
            .registry()
            .devices("demo", "boom")
            .await
            .devices
            .iter()
            .all(|d| !d.online),
        "no ghost: nothing online"
    );
    // Everyone else is untouched.
    bob.send(&json!({"type": "logout", "id": 7})).await;
    assert_eq!(bob.frame().await["type"], "ok");
}

/// Reads from a raw TCP connection until the gateway closes it; returns what
/// it said. Real time is bounded; the held clock is advanced in steps.
async fn closed_after(mut stream: tokio::net::TcpStream, advance_by: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let mut waited = Duration::ZERO;
    while waited <= advance_by {
        match real_timeout(Duration::from_millis(50), stream.read(&mut buf)).await {
            Some(Ok(0)) | Some(Err(_)) => return Some(String::from_utf8_lossy(&seen).into_owned()),
            Some(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            None => {
                advance(Duration::from_secs(1)).await;
                waited += Duration::from_secs(1);
            }
        }
    }
    None
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed() {
    use tokio::io::AsyncWriteExt;
    let _clock = hold_clock();
    let gw = TestGateway::start().await;
    let mut stream = tokio::net::TcpStream::connect(gw.gw.local_addr())
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let said = closed_after(stream, Duration::from_secs(120)).await;
    let said = said.expect("the idle connection is closed within two minutes");
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
}

#[tokio::test(start_paused = true)]
async fn a_request_head_that_never_ends_is_closed() {
    use tokio::io::AsyncWriteExt;
    let _clock = hold_clock();
    let gw = TestGateway::start().await;
    let mut stream = tokio::net::TcpStream::connect(gw.gw.local_addr())
        .await
        .expect("connect");
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 3000));
    stream.write_all(&head).await.expect("request");
    assert!(
        closed_after(stream, Duration::from_secs(120))
            .await
            .is_some(),
        "a head that never ends holds no socket"
    );
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_are_told_so() {
    use tokio::io::AsyncWriteExt;
    let gw = TestGateway::start_with(|c| {
        c.max_connections = Some(3);
        c.max_connections_per_ip = None;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Client::connect(&gw.url()).await);
    }
    let mut stream = tokio::net::TcpStream::connect(gw.gw.local_addr())
        .await
        .expect("connect");
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut said = String::new();
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut said)).await;
    assert!(said.starts_with("HTTP/1.1 503"), "{said:?}");
    assert!(said.contains("full"), "{said:?}");
    drop(held.pop());
    assert!(
        vestibule_testkit::eventually(Duration::from_secs(5), || gw.gw.open_connections() < 3)
            .await
    );
    let _again = Client::connect(&gw.url()).await;
}
