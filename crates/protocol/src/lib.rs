//! Vestibule's wire protocol: the JSON frames a client and the gateway
//! exchange over `/v1/ws`, the result codes and kick reasons, device types,
//! size and time limits, and the one function that decides what a client does
//! after any failure ([`classify`]).
//!
//! The crate does no I/O; `docs/protocol.md` is the human-readable contract.

mod codes;
mod device;
mod frames;
pub mod limits;
pub mod pairing;
mod secret;
#[cfg(feature = "jwt")]
pub mod token;

pub use codes::{CloseCause, Code, Disposition, KickReason, TerminalReason, classify, close_code};
pub use device::{
    ClientInfo, Device, DeviceClass, DeviceInfo, DeviceType, EndReason, KickedBy,
    ParseDeviceTypeError, SessionEnd,
};
pub use frames::{
    ClientFrame, DecodeError, Login, LoginOk, ServerFrame, check_device_name, check_round_trip,
};
pub use pairing::{PairRequest, PairRequester};
pub use secret::Token;

/// The WebSocket path the gateway serves.
pub const WS_PATH: &str = "/v1/ws";

/// HTTP header of a `503` upgrade refusal (admission control): how many
/// milliseconds to wait before trying again, like `retryAfterMs`.
pub const RETRY_AFTER_MS_HEADER: &str = "retry-after-ms";

/// The wait an HTTP refusal asks for: its `Retry-After-Ms` header (our
/// gateway's), else `Retry-After` in whole seconds (any HTTP server's), at
/// most [`limits::MAX_SERVER_WAIT`]. An HTTP date is not honoured: the
/// client's backoff covers it. Numbers too big for a `u64` count as the maximum.
pub fn retry_after_from_headers(
    retry_after_ms: Option<&str>,
    retry_after_secs: Option<&str>,
) -> Option<std::time::Duration> {
    let number = |v: Option<&str>| {
        let v = v?.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(v.parse::<u64>().unwrap_or(u64::MAX))
    };
    number(retry_after_ms)
        .map(server_wait_ms)
        .or_else(|| number(retry_after_secs).map(|s| server_wait_ms(s.saturating_mul(1000))))
}

/// A wait a server asked for in milliseconds (`retryAfterMs`), at most
/// [`limits::MAX_SERVER_WAIT`].
pub fn server_wait_ms(ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(ms).min(limits::MAX_SERVER_WAIT)
}

/// The `retryAfterMs` a gateway that shuts down gives each live session is
/// drawn from this range, so that its clients come back spread out (§5.11).
pub const SHUTDOWN_RETRY_AFTER_MS: std::ops::Range<u64> = 1_000..5_000;

/// Milliseconds since the Unix epoch, the time unit of every timestamp on the wire.
pub type UnixMillis = u64;
