//! Exponential backoff with full jitter, applied after the cap.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Reconnect delays: attempt `n` (1-based) waits a uniformly random time in
/// `[0, min(max, initial * multiplier^(n-1))]` ("full jitter"), so a crowd of
/// clients that lost the same gateway spreads out instead of returning at once.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackoffConfig {
    /// The ceiling for the first attempt.
    #[serde(with = "millis")]
    pub initial: Duration,
    /// The largest ceiling.
    #[serde(with = "millis")]
    pub max: Duration,
    /// Growth per attempt.
    pub multiplier: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            multiplier: 2.0,
        }
    }
}

impl BackoffConfig {
    /// The ceiling for attempt `attempt` (1-based): the jittered delay never exceeds it.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(64);
        let factor = self
            .multiplier
            .max(1.0)
            .powi(i32::try_from(exponent).unwrap_or(64));
        let ceiling = self.initial.as_secs_f64() * factor;
        if !ceiling.is_finite() || ceiling >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(ceiling)
        }
    }
}

/// The longest wait a [`ReconnectDelay`] may choose.
pub const MAX_PROVIDED_DELAY: Duration = Duration::from_secs(600);

/// The caller decides each reconnect delay (NIM V2's reconnect-delay
/// provider): given the attempt (1, 2, …) and the delay the backoff proposes,
/// it returns the wait, at most [`MAX_PROVIDED_DELAY`]. A server's
/// `retryAfterMs` still wins when it is longer.
///
/// ```
/// use std::time::Duration;
/// use vestibule_client::backoff::ReconnectDelay;
///
/// // Every 2 s for the first five attempts, then whatever the backoff says.
/// let delay = ReconnectDelay::from_fn(|attempt, proposed| {
///     if attempt <= 5 { Duration::from_secs(2) } else { proposed }
/// });
/// assert_eq!(delay.delay(1, Duration::from_millis(300)), Duration::from_secs(2));
/// assert_eq!(delay.delay(9, Duration::from_secs(20)), Duration::from_secs(20));
/// ```
#[derive(Clone)]
pub struct ReconnectDelay(std::sync::Arc<dyn Fn(u32, Duration) -> Duration + Send + Sync>);

impl ReconnectDelay {
    /// A provider calling `f(attempt, proposed)`.
    pub fn from_fn(f: impl Fn(u32, Duration) -> Duration + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }

    /// The wait before attempt `attempt`, bounded.
    pub fn delay(&self, attempt: u32, proposed: Duration) -> Duration {
        (self.0)(attempt, proposed).min(MAX_PROVIDED_DELAY)
    }
}

impl std::fmt::Debug for ReconnectDelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReconnectDelay")
    }
}

/// Draws jittered delays from a [`BackoffConfig`] (or asks a [`ReconnectDelay`]).
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    rng: SmallRng,
    provider: Option<ReconnectDelay>,
}

impl Backoff {
    /// A backoff seeded from the OS.
    pub fn new(config: BackoffConfig) -> Self {
        Self::with_rng(config, SmallRng::from_os_rng())
    }

    /// A backoff with a fixed seed, for repeatable tests.
    pub fn seeded(config: BackoffConfig, seed: u64) -> Self {
        Self::with_rng(config, SmallRng::seed_from_u64(seed))
    }

    fn with_rng(config: BackoffConfig, rng: SmallRng) -> Self {
        Self {
            config,
            rng,
            provider: None,
        }
    }

    /// Lets `provider` decide each delay (the backoff's draw is its proposal).
    #[must_use]
    pub fn with_provider(mut self, provider: Option<ReconnectDelay>) -> Self {
        self.provider = provider;
        self
    }

    /// The configuration.
    pub fn config(&self) -> BackoffConfig {
        self.config
    }

    /// Replaces the configuration (takes effect from the next delay).
    pub fn set_config(&mut self, config: BackoffConfig) {
        self.config = config;
    }

    /// The delay before attempt `attempt` (1-based).
    pub fn delay(&mut self, attempt: u32) -> Duration {
        let ceiling = self.config.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let proposed = Duration::from_nanos(self.rng.random_range(0..=nanos));
        match &self.provider {
            Some(provider) => provider.delay(attempt, proposed),
            None => proposed,
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_grow_then_cap() {
        let config = BackoffConfig::default();
        let ceilings: Vec<u64> = (1..=9)
            .map(|n| config.ceiling(n).as_millis() as u64)
            .collect();
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(config.ceiling(0), Duration::from_millis(500));
        assert_eq!(config.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn delays_stay_within_bounds_and_spread_out() {
        let config = BackoffConfig::default();
        let mut backoff = Backoff::seeded(config, 7);
        for attempt in 1..=20 {
            let mut seen = Vec::new();
            for _ in 0..50 {
                let d = backoff.delay(attempt);
                assert!(d <= config.ceiling(attempt), "attempt {attempt}: {d:?}");
                seen.push(d);
            }
            seen.sort();
            seen.dedup();
            assert!(seen.len() > 40, "full jitter spreads delays");
        }
    }

    #[test]
    fn config_json_uses_milliseconds() {
        let json = serde_json::to_value(BackoffConfig::default()).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"initial": 500, "max": 30000, "multiplier": 2.0})
        );
    }
}
