//! A minimal WebSocket client for load: connect (optionally from a chosen
//! loopback source address), log in, read frames. Lighter than the full
//! connection manager so tens of thousands fit in one process.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vestibule_protocol::{
    ClientFrame, ClientInfo, DeviceInfo, DeviceType, Login, ServerFrame, Token,
};

/// A connected socket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub use vestibule_testkit::{ADMIN_KEY, SECRET};

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(vestibule_protocol::limits::MAX_SERVER_FRAME_BYTES))
}

/// Opens a WebSocket to `addr` (`/v1/ws`), from `source` if given.
pub async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> anyhow::Result<Ws> {
    connect_with(addr, source, None).await
}

/// Like [`connect`], with this socket's receive buffer (a slow link's small window).
pub async fn connect_with(
    addr: SocketAddr,
    source: Option<IpAddr>,
    recv_buffer: Option<u32>,
) -> anyhow::Result<Ws> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(ip) = source {
        // The port is chosen at connect, with the destination known: a bind
        // to port 0 alone searches the whole port space of `ip` in the
        // kernel, which stalls the holder's runtime when thousands come back at once.
        nix::sys::socket::setsockopt(
            &socket,
            nix::sys::socket::sockopt::IpBindAddressNoPort,
            &true,
        )
        .context("IP_BIND_ADDRESS_NO_PORT")?;
        socket
            .bind(SocketAddr::new(ip, 0))
            .context("bind source address")?;
    }
    let stream = socket.connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{addr}{}", vestibule_protocol::WS_PATH);
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        url,
        MaybeTlsStream::Plain(stream),
        Some(config()),
    )
    .await
    .context("websocket handshake")?;
    Ok(ws)
}

/// What a failed `connect` means for the connection manager's machine.
pub fn connect_cause(error: &anyhow::Error) -> vestibule_protocol::CloseCause {
    match error.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
        Some(e) => vestibule_client::connect_error_cause(e),
        None => vestibule_protocol::CloseCause::Transport,
    }
}

/// A token for `account` of the demo app.
pub fn token(account: &str) -> Token {
    Token::new(vestibule_testkit::token_for(
        account,
        Duration::from_secs(6 * 3600),
    ))
}

/// The login frame for `account` on `device_id`, with the app's token (a sign-in).
pub fn login_frame(
    account: &str,
    device_id: &str,
    device_type: DeviceType,
    token: &Token,
) -> String {
    frame(account, device_id, device_type, Some(token.clone()), None)
}

/// The login frame of a device coming back with its session token.
pub fn resume_frame(
    account: &str,
    device_id: &str,
    device_type: DeviceType,
    session_token: &Token,
) -> String {
    frame(
        account,
        device_id,
        device_type,
        None,
        Some(session_token.clone()),
    )
}

fn frame(
    account: &str,
    device_id: &str,
    device_type: DeviceType,
    token: Option<Token>,
    session_token: Option<Token>,
) -> String {
    ClientFrame::Login(Login {
        id: 1,
        app_key: "demo".into(),
        account: account.into(),
        token,
        session_token,
        device: DeviceInfo {
            device_id: device_id.into(),
            device_type,
            os: "bench".into(),
            mac: None,
            custom_tag: None,
        },
        client: ClientInfo {
            name: "vestibule-bench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    })
    .encode()
}

/// Sends a text frame.
pub async fn send(ws: &mut Ws, text: String) -> anyhow::Result<()> {
    ws.send(Message::text(text)).await.context("send")
}

/// The next gateway frame (skipping control frames); an error on close.
pub async fn next_frame(ws: &mut Ws) -> anyhow::Result<ServerFrame> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return ServerFrame::decode(text.as_str()).map_err(|e| anyhow!("{e}"));
            }
            Some(Ok(Message::Close(frame))) => return Err(anyhow!("closed: {frame:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(anyhow!("read: {e}")),
            None => return Err(anyhow!("connection ended")),
        }
    }
}

/// The next text frame as a string (for the baseline's echo).
pub async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(Message::Close(_))) | None => return Err(anyhow!("connection ended")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(anyhow!("read: {e}")),
        }
    }
}

/// Connects and logs in; the loginOk or the refusal.
pub async fn login(
    addr: SocketAddr,
    source: Option<IpAddr>,
    account: &str,
    device_id: &str,
    device_type: DeviceType,
    token: &Token,
) -> anyhow::Result<(Ws, ServerFrame)> {
    let mut ws = connect(addr, source).await?;
    send(&mut ws, login_frame(account, device_id, device_type, token)).await?;
    let reply = next_frame(&mut ws).await?;
    Ok((ws, reply))
}

/// One login of a device coming back with its session token; the answer.
pub async fn resume(
    addr: SocketAddr,
    source: Option<IpAddr>,
    account: &str,
    device_id: &str,
    device_type: DeviceType,
    session_token: &Token,
) -> anyhow::Result<(Ws, ServerFrame)> {
    let mut ws = connect(addr, source).await?;
    send(
        &mut ws,
        resume_frame(account, device_id, device_type, session_token),
    )
    .await?;
    let reply = next_frame(&mut ws).await?;
    Ok((ws, reply))
}

/// The baseline's unit of work: connect, send one frame, get it back.
pub async fn echo(addr: SocketAddr, source: Option<IpAddr>, payload: &str) -> anyhow::Result<Ws> {
    let mut ws = connect(addr, source).await?;
    send(&mut ws, payload.to_owned()).await?;
    let back = next_text(&mut ws).await?;
    anyhow::ensure!(back == payload, "baseline answered {back:?}");
    Ok(ws)
}
