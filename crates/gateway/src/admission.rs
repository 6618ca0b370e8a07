//! Admission control: a token bucket on logins per second. When it is empty a
//! login is refused with 503 and told exactly when to come back: each refused
//! client is handed the next free slot of a virtual queue, so a reconnect storm
//! spreads itself out instead of returning all at once.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The longest wait a refused login is told to observe.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct State {
    tokens: f64,
    last: Instant,
    next_free: Instant,
}

/// A token bucket of `rate` logins per second with a burst of a tenth of a
/// second's worth: a whole second's burst, admitted at once when a restarted
/// gateway opens its port, queues up inside it and slows every one of them.
#[derive(Debug)]
pub struct Admission {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

impl Admission {
    /// `per_second` logins per second, bursting to a tenth of that (at least 1).
    pub fn new(per_second: u32) -> Self {
        let rate = f64::from(per_second.max(1));
        let burst = (rate / 10.0).max(1.0);
        let now = Instant::now();
        Self {
            rate,
            burst,
            state: Mutex::new(State {
                tokens: burst,
                last: now,
                next_free: now,
            }),
        }
    }

    /// Admits a login, or says how long to wait before trying again.
    pub fn try_admit(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.last = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            return Ok(());
        }
        let interval = Duration::from_secs_f64(1.0 / self.rate);
        let earliest = now + Duration::from_secs_f64((1.0 - s.tokens) / self.rate);
        let slot = s.next_free.max(earliest);
        s.next_free = slot + interval;
        Err(slot
            .saturating_duration_since(now)
            .clamp(interval, MAX_WAIT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn admits_the_rate_and_queues_the_rest_in_order() {
        let admission = Admission::new(100);
        for _ in 0..10 {
            assert!(
                admission.try_admit().is_ok(),
                "the burst: a tenth of a second's worth"
            );
        }
        // The next ones are given successive slots 10 ms apart.
        let waits: Vec<Duration> = (0..5)
            .map(|_| admission.try_admit().expect_err("refused"))
            .collect();
        for pair in waits.windows(2) {
            assert!(
                pair[1] >= pair[0] + Duration::from_micros(9_900),
                "{waits:?}"
            );
        }
        assert!(waits[0] <= Duration::from_micros(10_100));
        // After a quiet second the bucket is full again.
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(admission.try_admit().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn waits_are_capped() {
        let admission = Admission::new(1);
        let _ = admission.try_admit();
        let mut last = Duration::ZERO;
        for _ in 0..200 {
            last = admission.try_admit().expect_err("refused");
        }
        assert_eq!(last, MAX_WAIT);
    }
}
