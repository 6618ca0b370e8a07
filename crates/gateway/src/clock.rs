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

/// Where the gateway reads wall-clock time for session lifetimes (idle days,
/// token expiry of offline devices). The system clock, or a test's.
#[derive(Clone)]
pub struct Clock(std::sync::Arc<dyn Fn() -> UnixMillis + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(std::sync::Arc::new(unix_millis))
    }

    /// A clock read from `f` (tests move time forward by days).
    pub fn from_fn(f: impl Fn() -> UnixMillis + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }

    /// Now.
    pub fn now(&self) -> UnixMillis {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}
