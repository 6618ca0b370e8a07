//! Wall-clock helpers. Timers use tokio's clock (pausable in tests); only
//! timestamps that go on the wire or are compared with token expiry use these.

use std::time::{SystemTime, UNIX_EPOCH};

use vestibule_protocol::UnixMillis;

/// Milliseconds since the Unix epoch, now.
pub fn unix_millis() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
