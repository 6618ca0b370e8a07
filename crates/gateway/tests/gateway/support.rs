//! A real gateway on 127.0.0.1:0 and a real WebSocket client for the tests.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vestibule_gateway::policy::DevicePolicy;
use vestibule_gateway::{Gateway, GatewayConfig};

/// How long a test waits for a frame before failing, in real time.
const FRAME_WAIT: Duration = Duration::from_secs(20);

pub use vestibule_testkit::{
    ADMIN_KEY, APP_KEY as APP, SECRET, advance, hold_clock, real_timeout, token, token_for,
};

pub struct TestGateway {
    pub gw: Gateway,
}

impl TestGateway {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(change: impl FnOnce(&mut GatewayConfig)) -> Self {
        let mut config = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
        config.admin_key = Some(ADMIN_KEY.into());
        config.demo_secret = Some(SECRET.into());
        change(&mut config);
        let gw = Gateway::start(config).await.expect("gateway starts");
        Self { gw }
    }

    pub fn url(&self) -> String {
        self.gw.ws_url()
    }

    pub fn http(&self, path: &str) -> String {
        format!("{}{path}", self.gw.http_url())
    }

    pub async fn set_policy(&self, policy: Value) {
        let policy: DevicePolicy = serde_json::from_value(policy).expect("policy json");
        self.gw
            .store()
            .set_policy(APP, policy)
            .await
            .expect("set policy");
    }

    /// Logs `account` in from `device_id` of `device_type`, asserting success.
    pub async fn login(
        &self,
        account: &str,
        device_id: &str,
        device_type: &str,
    ) -> (Client, Value) {
        let mut client = Client::connect(&self.url()).await;
        let reply = client
            .login_with(&login_frame(
                account,
                device_id,
                device_type,
                &token(account),
            ))
            .await;
        assert_eq!(
            reply["type"], "loginOk",
            "login of {account}/{device_id} failed: {reply}"
        );
        (client, reply)
    }
}

impl TestGateway {
    /// A device coming back with the session token an earlier `loginOk` gave it.
    pub async fn resume(
        &self,
        account: &str,
        device_id: &str,
        device_type: &str,
        session_token: &Value,
    ) -> (Client, Value) {
        let mut client = Client::connect(&self.url()).await;
        let reply = client
            .login_with(&resume_frame(
                account,
                device_id,
                device_type,
                session_token.as_str().expect("a session token"),
            ))
            .await;
        assert_eq!(
            reply["type"], "loginOk",
            "resume of {account}/{device_id} failed: {reply}"
        );
        (client, reply)
    }
}

/// A login with a session token instead of the app's token.
pub fn resume_frame(account: &str, device_id: &str, device_type: &str, session: &str) -> Value {
    let mut frame = login_frame(account, device_id, device_type, "");
    if let Some(object) = frame.as_object_mut() {
        object.remove("token");
        object.insert("sessionToken".into(), Value::from(session));
    }
    frame
}

/// `(deviceId, online)` of each entry in a `devices` or `loginOk` frame, in list order.
pub fn presence(frame: &Value) -> Vec<(String, bool)> {
    frame["devices"]
        .as_array()
        .expect("devices array")
        .iter()
        .map(|d| {
            (
                d["deviceId"].as_str().expect("deviceId").to_owned(),
                d["online"].as_bool().expect("online"),
            )
        })
        .collect()
}

pub fn login_frame(account: &str, device_id: &str, device_type: &str, token: &str) -> Value {
    json!({
        "type": "login", "id": 1, "appKey": APP, "account": account, "token": token,
        "device": {"deviceId": device_id, "type": device_type, "os": format!("{device_type} test OS")},
        "client": {"name": "gateway-tests", "version": "0"}
    })
}

/// What a test can receive.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Frame(Value),
    Closed(Option<u16>),
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client")
    }
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Self { ws }
    }

    /// Connects from another loopback address (`127.0.0.x`): another "machine".
    pub async fn connect_from(url: &str, source: std::net::IpAddr) -> Self {
        let addr: std::net::SocketAddr = url
            .trim_start_matches("ws://")
            .trim_end_matches("/v1/ws")
            .parse()
            .expect("a ws://IP:PORT/v1/ws URL");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::new(source, 0))
            .expect("bind the source address");
        let stream = socket.connect(addr).await.expect("tcp connects");
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .expect("websocket connects");
        Self { ws }
    }

    pub fn local_port(&self) -> u16 {
        match self.ws.get_ref() {
            MaybeTlsStream::Plain(tcp) => tcp.local_addr().expect("local addr").port(),
            _ => 0,
        }
    }

    pub async fn send(&mut self, frame: &Value) {
        self.send_raw(Message::text(frame.to_string())).await;
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    pub async fn login_with(&mut self, frame: &Value) -> Value {
        self.send(frame).await;
        self.frame().await
    }

    /// The next frame or close, skipping control frames. `None` when nothing
    /// came within `wait` of real time.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        let ws = &mut self.ws;
        real_timeout(wait, async move {
            loop {
                match ws.next().await {
                    None | Some(Err(_)) => return Event::Closed(None),
                    Some(Ok(Message::Text(text))) => {
                        let value: Value =
                            serde_json::from_str(text.as_str()).expect("gateway sent JSON");
                        return Event::Frame(value);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Event::Closed(frame.map(|f| u16::from(f.code)));
                    }
                    Some(Ok(Message::Binary(_))) => panic!("gateway sent a binary frame"),
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
    }

    pub async fn next_event(&mut self) -> Event {
        self.next_within(FRAME_WAIT)
            .await
            .expect("an event within the wait")
    }

    /// The next text frame; panics on close or silence.
    pub async fn frame(&mut self) -> Value {
        match self.next_event().await {
            Event::Frame(value) => value,
            Event::Closed(code) => panic!("connection closed ({code:?}) while waiting for a frame"),
        }
    }

    /// The next frame of `kind`, skipping `devices` pushes and new-sign-in alerts.
    pub async fn frame_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.frame().await;
            if frame["type"] == kind {
                return frame;
            }
            assert!(
                frame["type"] == "devices" || frame["type"] == "newDevice",
                "expected {kind}, got {frame}"
            );
        }
    }

    /// The next `devices` push, skipping new-sign-in alerts.
    pub async fn devices(&mut self) -> Value {
        loop {
            let frame = self.frame().await;
            if frame["type"] == "devices" {
                return frame;
            }
            assert_eq!(frame["type"], "newDevice", "expected devices, got {frame}");
        }
    }

    /// Reads until the connection closes; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        match self.next_event().await {
            Event::Closed(code) => code,
            Event::Frame(frame) => panic!("expected a close, got {frame}"),
        }
    }

    /// Asserts that nothing at all arrives for `wait` of real time.
    pub async fn silent_for(&mut self, wait: Duration) {
        if let Some(event) = self.next_within(wait).await {
            panic!("expected silence, got {event:?}");
        }
    }

    pub async fn close(mut self) {
        let _ = self
            .ws
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }
}

/// Ids of the devices in a `devices` or `loginOk` frame.
pub fn device_ids(frame: &Value) -> Vec<String> {
    let mut ids: Vec<String> = frame["devices"]
        .as_array()
        .expect("devices array")
        .iter()
        .map(|d| d["deviceId"].as_str().expect("deviceId").to_owned())
        .collect();
    ids.sort();
    ids
}

/// An HTTP client for the admin API.
pub fn admin() -> reqwest::Client {
    reqwest::Client::new()
}
