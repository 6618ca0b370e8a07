//! The certificate is reloaded in place (SIGHUP in the binary): sessions
//! open over the old one live on, new handshakes get the new one, and a
//! broken replacement keeps the old one served.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use serde_json::json;
use tokio_tungstenite::MaybeTlsStream;

use crate::support::*;

fn make_cert() -> rcgen::CertifiedKey<rcgen::KeyPair> {
    rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("cert")
}

fn write_cert(dir: &Path, cert: &rcgen::CertifiedKey<rcgen::KeyPair>) {
    // Written to a temporary name and renamed, as certbot and friends do.
    for (name, pem) in [
        ("cert.pem", cert.cert.pem()),
        ("key.pem", cert.signing_key.serialize_pem()),
    ] {
        std::fs::write(dir.join(format!("{name}.new")), pem).expect("write");
        std::fs::rename(dir.join(format!("{name}.new")), dir.join(name)).expect("rename");
    }
}

/// A wss:// client trusting both test certificates; returns the client and
/// the certificate the server presented.
async fn connect(
    url: &str,
    roots: &[&CertificateDer<'static>],
) -> (Client, CertificateDer<'static>) {
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
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        url,
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(Arc::new(config))),
    )
    .await
    .expect("a TLS WebSocket");
    let presented = match ws.get_ref() {
        MaybeTlsStream::Rustls(tls) => tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .expect("the server presents a certificate")
            .clone()
            .into_owned(),
        _ => panic!("not a TLS stream"),
    };
    (Client { ws }, presented)
}

#[tokio::test]
async fn a_reloaded_certificate_serves_new_connections_and_keeps_old_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (make_cert(), make_cert());
    let (a_der, b_der) = (a.cert.der().clone(), b.cert.der().clone());
    assert_ne!(a_der, b_der);
    write_cert(dir.path(), &a);
    let files = vestibule_gateway::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    let gw = TestGateway::start_with(|c| c.tls = Some(files)).await;
    let url = gw.url();

    let (mut old, presented) = connect(&url, &[&a_der, &b_der]).await;
    assert_eq!(presented, a_der, "cert A before the reload");
    let ok = old
        .login_with(&login_frame("alice", "pc-1", "PC", &token("alice")))
        .await;
    assert_eq!(ok["type"], "loginOk", "{ok}");

    write_cert(dir.path(), &b);
    assert!(gw.gw.reload_tls().expect("cert B loads"), "TLS is on");

    let (mut new, presented) = connect(&url, &[&a_der, &b_der]).await;
    assert_eq!(presented, b_der, "a new connection sees cert B");
    let ok = new
        .login_with(&login_frame("alice", "phone-1", "iOS", &token("alice")))
        .await;
    assert_eq!(ok["type"], "loginOk", "{ok}");

    // The session opened under cert A still sends and receives.
    let pushed = old.devices().await;
    assert!(
        presence(&pushed).contains(&("phone-1".to_owned(), true)),
        "the old session hears of the new device: {pushed}"
    );
    old.send(&json!({"type": "renameDevice", "id": 11, "deviceId": "pc-1", "name": "Renamed"}))
        .await;
    let reply = old.frame_of("ok").await;
    assert_eq!(reply["id"], 11, "{reply}");

    // A broken replacement is refused and cert B stays served.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").expect("write");
    let error = gw
        .gw
        .reload_tls()
        .expect_err("a broken certificate is refused");
    assert!(
        error.to_string().contains("cert.pem"),
        "the error names the file: {error}"
    );
    // A key that does not fit the certificate is refused too.
    write_cert(dir.path(), &a);
    std::fs::write(dir.path().join("key.pem"), b.signing_key.serialize_pem()).expect("write");
    let error = gw.gw.reload_tls().expect_err("a mismatched key is refused");
    assert!(error.to_string().contains("do not fit"), "{error}");
    let (_third, presented) = connect(&url, &[&a_der, &b_der]).await;
    assert_eq!(
        presented, b_der,
        "the last good certificate is still served"
    );
}

#[tokio::test]
async fn reloading_without_tls_says_so() {
    let gw = TestGateway::start().await;
    assert!(!gw.gw.reload_tls().expect("nothing to reload"));
}
