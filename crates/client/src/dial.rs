//! Opening a session: TCP (and TLS for `wss://`), the WebSocket handshake,
//! `login`, and the gateway's answer, within the connect timeout. What a
//! failure means is returned as a [`CloseCause`] for the machine to judge.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vestibule_protocol::limits::MAX_SERVER_FRAME_BYTES;
use vestibule_protocol::{ClientFrame, CloseCause, Code, Login, LoginOk, ServerFrame, SessionEnd};

use crate::options::ClientOptions;
use crate::proxy::Proxy;

/// A client-side WebSocket.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long to wait for the gateway's close after a refusal or a hang-up.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why a dial failed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) cause: CloseCause,
    pub(crate) message: String,
    /// For 420: how the device's session had ended.
    pub(crate) ended: Option<SessionEnd>,
}

impl Failure {
    /// Neither a session nor an app token to log in with.
    pub(crate) fn no_credential() -> Self {
        Self::new(
            CloseCause::Rejected {
                code: Code::WrongCredentials,
                retry_after: None,
            },
            "signed out: sign in again with a token",
        )
    }

    pub(crate) fn new(cause: CloseCause, message: impl Into<String>) -> Self {
        Self {
            cause,
            message: message.into(),
            ended: None,
        }
    }
}

/// The `login` frame for `options`: the session token while there is one
/// (this device coming back), else the app's token (a new sign-in).
pub fn login_frame(options: &ClientOptions, id: u64) -> ClientFrame {
    let (token, session_token) = match &options.session_token {
        Some(session) => (None, Some(session.clone())),
        None => (Some(options.token.clone()), None),
    };
    ClientFrame::Login(Login {
        id,
        app_key: options.app_key.clone(),
        account: options.account.clone(),
        token,
        session_token,
        device: options.device.clone(),
        client: options.client.clone(),
    })
}

/// Reads until the stream ends (tungstenite answers the gateway's close on the way).
pub(crate) async fn drain(socket: &mut Ws) {
    while let Some(Ok(_)) = socket.next().await {}
}

/// Opens the socket, sends `login`, and waits for the answer, all within the connect timeout.
pub(crate) async fn dial(options: ClientOptions, id: u64) -> Result<(Ws, LoginOk), Failure> {
    let limit = options.timing.connect_timeout;
    match timeout(limit, dial_inner(&options, id)).await {
        Ok(result) => result,
        Err(_) => Err(Failure::new(
            CloseCause::Timeout,
            format!("no login answer within {} s", limit.as_secs()),
        )),
    }
}

/// TCP (straight or through the proxy), TLS for `wss://` and the WebSocket handshake.
pub(crate) async fn open(
    url: &str,
    trusted_certs: &[Vec<u8>],
    proxy: &Proxy,
) -> Result<Ws, Failure> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(MAX_SERVER_FRAME_BYTES))
        .max_frame_size(Some(MAX_SERVER_FRAME_BYTES));
    let connector = if url.starts_with("wss://") {
        let config = tls_config(trusted_certs)
            .map_err(|message| Failure::new(CloseCause::Transport, message))?;
        Some(tokio_tungstenite::Connector::Rustls(config))
    } else {
        None
    };
    let parsed = url::Url::parse(url)
        .map_err(|e| Failure::new(CloseCause::Transport, format!("url {url:?}: {e}")))?;
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let route = proxy
        .route(&parsed)
        .map_err(|message| Failure::new(CloseCause::Transport, message))?;
    let stream = match &route {
        None => TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| Failure::new(CloseCause::Transport, format!("cannot reach {url}: {e}")))?,
        Some(route) => route
            .connect(&host, port)
            .await
            .map_err(|message| Failure::new(CloseCause::Transport, message))?,
    };
    let _ = stream.set_nodelay(true);
    let (socket, _response) =
        tokio_tungstenite::client_async_tls_with_config(url, stream, Some(config), connector)
            .await
            .map_err(|e| {
                let via = route.map(|r| format!(" via {r:?}")).unwrap_or_default();
                Failure::new(
                    connect_error_cause(&e),
                    format!("cannot reach {url}{via}: {e}"),
                )
            })?;
    Ok(socket)
}

async fn dial_inner(options: &ClientOptions, id: u64) -> Result<(Ws, LoginOk), Failure> {
    let mut socket = open(&options.url, &options.trusted_certs, &options.proxy).await?;
    socket
        .send(Message::text(login_frame(options, id).encode()))
        .await
        .map_err(|e| Failure::new(CloseCause::Transport, format!("cannot send login: {e}")))?;
    loop {
        let next = socket.next().await;
        let message = match next {
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                return Err(Failure::new(
                    CloseCause::Transport,
                    format!("connection broke during login: {e}"),
                ));
            }
            None => {
                return Err(Failure::new(
                    CloseCause::Transport,
                    "the gateway closed during login",
                ));
            }
        };
        match message {
            Message::Text(text) => match ServerFrame::decode(text.as_str()) {
                Ok(ServerFrame::LoginOk(ok)) => return Ok((socket, ok)),
                Ok(ServerFrame::LoginFailed {
                    code,
                    message,
                    retry_after_ms,
                    ended,
                    ..
                }) => {
                    // Let the gateway's close reach us so the socket ends cleanly.
                    let _ = timeout(CLOSE_GRACE, drain(&mut socket)).await;
                    let retry_after = retry_after_ms.map(vestibule_protocol::server_wait_ms);
                    return Err(Failure {
                        cause: CloseCause::Rejected { code, retry_after },
                        message,
                        ended,
                    });
                }
                Ok(other) => {
                    tracing::debug!(frame = ?other, "ignoring a frame before loginOk");
                }
                Err(e) => {
                    return Err(Failure::new(
                        CloseCause::Transport,
                        format!("unreadable login answer: {e}"),
                    ));
                }
            },
            Message::Close(frame) => {
                let code = frame.as_ref().map(|f| u16::from(f.code));
                let message = frame.map_or_else(
                    || "closed during login".to_owned(),
                    |f| f.reason.to_string(),
                );
                return Err(Failure::new(CloseCause::Closed(code), message));
            }
            _ => {}
        }
    }
}

/// TLS for `wss://`: the public web PKI roots plus any certificates the app trusts.
pub(crate) fn tls_config(
    extra: &[Vec<u8>],
) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra {
        if let Err(e) = roots.add(rustls::pki_types::CertificateDer::from(der.clone())) {
            tracing::warn!(error = %e, "ignoring a trusted certificate that cannot be used");
        }
    }
    // The provider is named, not taken from the process default: another
    // crate in the app may have compiled in a second one.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// What a failed WebSocket connect means, for [`crate::machine::Machine`]: a
/// 503 upgrade refusal is the gateway shedding load (retry, no sooner than its
/// `Retry-After-Ms` or `Retry-After` says); 429, 403, 404 and a bad URL are
/// refusals; anything else is a transport failure.
pub fn connect_error_cause(e: &tokio_tungstenite::tungstenite::Error) -> CloseCause {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Http(response) if response.status().as_u16() == 503 => CloseCause::Rejected {
            code: Code::Busy,
            retry_after: retry_after(response.headers()),
        },
        Error::Http(response) if response.status().as_u16() == 429 => CloseCause::Rejected {
            code: Code::TooFrequent,
            retry_after: None,
        },
        Error::Http(response) if response.status().as_u16() == 403 => CloseCause::Rejected {
            code: Code::Forbidden,
            retry_after: None,
        },
        Error::Http(response) if response.status().as_u16() == 404 => CloseCause::Rejected {
            code: Code::BadRequest,
            retry_after: None,
        },
        Error::Url(_) => CloseCause::Rejected {
            code: Code::BadRequest,
            retry_after: None,
        },
        _ => CloseCause::Transport,
    }
}

/// The wait a refusal's headers ask for (see [`vestibule_protocol::retry_after_from_headers`]).
pub(crate) fn retry_after(
    headers: &tokio_tungstenite::tungstenite::http::HeaderMap,
) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    vestibule_protocol::retry_after_from_headers(
        header(vestibule_protocol::RETRY_AFTER_MS_HEADER),
        header("retry-after"),
    )
}
