//! Errors the client API returns.

use vestibule_protocol::Code;

use crate::model::DisconnectInfo;

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The options cannot work (bad URL, empty account...).
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// `set_options` tried to change something fixed for the instance's life.
    #[error("{0} cannot change for an existing instance; create another instance")]
    Immutable(&'static str),
    /// The call needs a logged-in session.
    #[error("not connected")]
    NotConnected,
    /// The connection ended before the gateway answered.
    #[error("the connection ended before the gateway answered")]
    ConnectionLost,
    /// The gateway refused the request.
    #[error("the gateway refused: {message} ({})", code.as_u16())]
    Rejected {
        /// The code.
        code: Code,
        /// The gateway's message.
        message: String,
        /// Wait at least this long before trying again (416).
        retry_after_ms: Option<u64>,
    },
    /// The instance was destroyed.
    #[error("the instance was destroyed")]
    Destroyed,
}

/// Why [`crate::Client::ready`] did not resolve to a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadyError {
    /// The attempt ended for good: refused, kicked, logged out (NIM ondisconnect).
    #[error("{0}")]
    Ended(DisconnectInfo),
    /// Still not logged in when the wait ran out; the instance keeps trying.
    #[error("not logged in in time{}", last.as_ref().map(|l| format!(" (last attempt: {l})")).unwrap_or_default())]
    TimedOut {
        /// How the latest attempt ended, if one did.
        last: Option<DisconnectInfo>,
    },
    /// Nothing is being attempted: call `connect()` first.
    #[error("not connecting: call connect() first")]
    NotConnecting,
    /// The instance was destroyed.
    #[error("the instance was destroyed")]
    Destroyed,
}
