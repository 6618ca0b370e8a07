//! Through real proxies on loopback: tinyproxy (HTTP CONNECT, basic auth)
//! and dante (SOCKS5), and for SOCKS5 with a user and password a server from
//! crates.io (fast-socks5) in this binary — dante checks passwords against
//! the system's users. Real time: the proxies are other processes.

use std::time::Duration;

use vestibule_client::{ClientOptions, DeviceType, Proxy, ReadyError, Status, Vestibule};
use vestibule_testkit::proxies;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(15);

fn through(url: &str, proxy: Proxy) -> ClientOptions {
    let mut options = options(url, "alice", "pc-1", DeviceType::Pc);
    options.proxy = proxy;
    options
}

/// What a failed attempt said, after `ready` gave up.
async fn refusal(options: ClientOptions) -> String {
    let client = Vestibule::new().instance(options).expect("instance");
    client.connect();
    match client.ready(Duration::from_secs(3)).await {
        Err(ReadyError::TimedOut { last: Some(last) }) => {
            client.destroy().await.expect("destroy");
            last.message
        }
        other => panic!("expected the attempts to fail, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_an_http_connect_proxy_with_basic_auth() {
    let gw = gateway().await;
    let proxy = proxies::tinyproxy(Some(("alice", "s3cret"))).await;
    let via = format!("http://alice:s3cret@127.0.0.1:{}", proxy.port);
    let client = Vestibule::new()
        .instance(through(&gw.ws_url(), Proxy::Url(via)))
        .expect("instance");
    client.connect();
    client
        .ready(WAIT)
        .await
        .expect("connected through the proxy");
    let port = gw.local_addr().port();
    assert!(
        proxy.log().contains(&format!("127.0.0.1:{port}")),
        "the tunnel went through tinyproxy: {}",
        proxy.log()
    );
    client.destroy().await.expect("destroy");

    // Without the password, or with a wrong one: the proxy's own status and
    // words (tinyproxy says 407 to no credentials, 401 to wrong ones).
    let port = proxy.port;
    for (via, said) in [
        (
            format!("http://127.0.0.1:{port}"),
            "407 Proxy Authentication Required",
        ),
        (
            format!("http://alice:wrong@127.0.0.1:{port}"),
            "401 Unauthorized",
        ),
    ] {
        let message = refusal(through(&gw.ws_url(), Proxy::Url(via))).await;
        assert!(
            message.starts_with(&format!("proxy refused: {said} (http://127.0.0.1:{port})")),
            "{message}"
        );
        assert!(
            !message.contains("wrong"),
            "no password in messages: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_runs_end_to_end_inside_the_tunnel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).expect("write");
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).expect("write");
    let files = vestibule_gateway::TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    let gw = gateway_with("127.0.0.1:0", |c| c.tls = Some(files)).await;
    let url = gw.ws_url();
    assert!(url.starts_with("wss://"), "{url}");
    let proxy = proxies::tinyproxy(None).await;
    let mut options = through(&url, Proxy::Url(format!("http://127.0.0.1:{}", proxy.port)));
    options.trusted_certs.push(cert.cert.der().to_vec());
    let client = Vestibule::new().instance(options).expect("instance");
    client.connect();
    client.ready(WAIT).await.expect("wss through the proxy");
    assert!(proxy.log().contains("CONNECT"), "{}", proxy.log());
    client.destroy().await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_dante_socks5() {
    let gw = gateway().await;
    let dante = proxies::dante().await;
    let client = Vestibule::new()
        .instance(through(
            &gw.ws_url(),
            Proxy::Url(format!("socks5://127.0.0.1:{}", dante.port)),
        ))
        .expect("instance");
    client.connect();
    let info = client.ready(WAIT).await.expect("connected through dante");
    assert_eq!(client.snapshot().status, Status::Connected);
    assert_eq!(info.ip, "127.0.0.1");
    let log = dante.log();
    assert!(
        log.contains(&format!(".{}", gw.local_addr().port())),
        "dante passed the connection: {log}"
    );
    client.destroy().await.expect("destroy");
}

/// SOCKS5 with user/password authentication (RFC 1929), fast-socks5's server.
async fn socks5_with_password(user: &'static str, password: &'static str) -> u16 {
    use fast_socks5::server::{Socks5ServerProtocol, run_tcp_proxy};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                use fast_socks5::server::DnsResolveHelper as _;
                let tunnel = async {
                    let (proto, _command, target) =
                        Socks5ServerProtocol::accept_password_auth(socket, |u, p| {
                            u == user && p == password
                        })
                        .await?
                        .0
                        .read_command()
                        .await?
                        .resolve_dns()
                        .await?;
                    run_tcp_proxy(proto, &target, Duration::from_secs(10), false).await?;
                    Ok::<(), fast_socks5::SocksError>(())
                };
                let _ = tunnel.await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_socks5_with_a_user_and_password() {
    let gw = gateway().await;
    let port = socks5_with_password("alice", "s3cret").await;
    let client = Vestibule::new()
        .instance(through(
            &gw.ws_url(),
            Proxy::Url(format!("socks5://alice:s3cret@127.0.0.1:{port}")),
        ))
        .expect("instance");
    client.connect();
    client.ready(WAIT).await.expect("connected through SOCKS5");
    client.destroy().await.expect("destroy");

    let message = refusal(through(
        &gw.ws_url(),
        Proxy::Url(format!("socks5://alice:wrong@127.0.0.1:{port}")),
    ))
    .await;
    assert!(message.starts_with("proxy refused: SOCKS5"), "{message}");
    assert!(
        !message.contains("wrong"),
        "no password in messages: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_is_not_there_says_so() {
    let gw = gateway().await;
    let port = vestibule_testkit::free_port();
    let message = refusal(through(
        &gw.ws_url(),
        Proxy::Url(format!("http://127.0.0.1:{port}")),
    ))
    .await;
    assert!(
        message.starts_with(&format!("cannot reach the proxy http://127.0.0.1:{port}")),
        "{message}"
    );
}
