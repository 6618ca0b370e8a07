//! Sizes and timeouts both sides rely on.

use std::time::Duration;

/// Largest frame a client may send, in bytes (64 KiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Largest frame the gateway sends, in bytes (4 MiB): a full device list of
/// [`MAX_DEVICES_PER_ACCOUNT`] devices (plus Web tabs) with long customTags fits.
pub const MAX_SERVER_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// The most devices one account may have online (caps `maxDevices` and `maxWebInstances`).
pub const MAX_DEVICES_PER_ACCOUNT: u32 = 500;

/// The `login` frame must arrive this soon after the WebSocket upgrade.
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(10);

/// A client pings the gateway this often.
pub const PING_INTERVAL: Duration = Duration::from_secs(15);

/// A client that hears nothing for this long after a ping treats the socket as dead.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(10);

/// The gateway closes a connection that sent nothing (not even a ping) for this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);

/// Longest appKey, in bytes.
pub const MAX_APP_KEY_LEN: usize = 64;
/// Longest account name, in bytes.
pub const MAX_ACCOUNT_LEN: usize = 128;
/// Longest deviceId, in bytes.
pub const MAX_DEVICE_ID_LEN: usize = 128;
/// Longest `os`, `mac`, client name or version string, in bytes.
pub const MAX_SHORT_TEXT_LEN: usize = 128;
/// Longest `customTag`, in bytes.
pub const MAX_CUSTOM_TAG_LEN: usize = 1024;
/// Longest token, in bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Most deviceIds one `kick` may name.
pub const MAX_KICK_IDS: usize = 64;

/// The longest wait a server may ask a client for (`Retry-After`,
/// `Retry-After-Ms`, `retryAfterMs`): longer asks are cut to this.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(600);

/// Longest device name, in characters.
pub const MAX_DEVICE_NAME_CHARS: usize = 64;
