//! The embedded demo gateway listens on 127.0.0.1 for this app alone: a web
//! page open in the person's browser must not reach it, not even through DNS
//! rebinding (a hostile name that resolves to 127.0.0.1).

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use vestibule_app::demo::Demo;

async fn status_of(url: &str, header: Option<(&'static str, &'static str)>) -> u16 {
    let mut request = url.into_client_request().expect("request");
    if let Some((name, value)) = header {
        request
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_app_can_talk_to_the_demo_gateway() {
    let demo = Demo::start().await.expect("demo");
    let url = demo.view().url;
    assert_eq!(status_of(&url, None).await, 101, "the app itself gets in");
    assert_eq!(
        status_of(&url, Some(("origin", "https://evil.example"))).await,
        403,
        "a web page is refused"
    );
    assert_eq!(
        status_of(&url, Some(("host", "evil.example"))).await,
        403,
        "a rebinding host name is refused"
    );
    let port = url
        .trim_start_matches("ws://127.0.0.1:")
        .trim_end_matches("/v1/ws");
    let http = reqwest::Client::new();
    let healthz = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 403, "plain HTTP too");
    let healthz = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);
    demo.shutdown().await;
}
