//! Defences against abuse: login-attempt limits per IP and per account (416
//! with `retryAfterMs`), and a cap on open connections per IP.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Most keys a limiter tracks; beyond it, full (idle) buckets are forgotten first.
const MAX_KEYS: usize = 100_000;

/// A token bucket: `burst` attempts at once, refilled at `per_minute`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Attempts allowed at once.
    pub burst: u32,
    /// Attempts regained per minute.
    pub per_minute: u32,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by IP, account...
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter at `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::default(),
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let per_sec = f64::from(self.rate.per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(f64::from(self.rate.burst));
        bucket.last = now;
    }

    fn wait_for_one(&self, bucket: &Bucket) -> Duration {
        let per_sec = f64::from(self.rate.per_minute.max(1)) / 60.0;
        Duration::from_secs_f64(((1.0 - bucket.tokens) / per_sec).max(0.001))
    }

    /// Whether `key` may try now (without spending anything); if not, how long to wait.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match buckets.get_mut(key) {
            None => Ok(()),
            Some(bucket) => {
                self.refill(bucket, now);
                if bucket.tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(self.wait_for_one(bucket))
                }
            }
        }
    }

    /// Spends one attempt of `key`; if none is left, how long until one is.
    pub fn spend(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            let rate = self.rate;
            buckets.retain(|_, b| {
                let per_sec = f64::from(rate.per_minute) / 60.0;
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * per_sec
                    < f64::from(rate.burst)
            });
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: f64::from(self.rate.burst),
            last: now,
        });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.wait_for_one(bucket))
        }
    }
}

/// Open connections per IP, with a cap.
#[derive(Debug)]
pub struct ConnectionCap {
    max: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One counted connection; uncounted when dropped.
#[derive(Debug)]
pub struct Slot {
    cap: std::sync::Arc<ConnectionCap>,
    ip: IpAddr,
}

impl ConnectionCap {
    /// At most `max` open connections per IP.
    pub fn new(max: u32) -> Self {
        Self {
            max,
            open: Mutex::default(),
        }
    }

    /// Counts a connection from `ip`, or `None` when the IP is at its cap.
    pub fn acquire(self: &std::sync::Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            cap: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .cap
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_allows_its_burst_then_refills() {
        let limiter = Limiter::new(Rate {
            burst: 3,
            per_minute: 60,
        });
        for _ in 0..3 {
            assert!(limiter.spend(&"ip").is_ok());
        }
        let wait = limiter.spend(&"ip").expect_err("empty");
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(limiter.check(&"ip").is_err());
        assert!(limiter.spend(&"other").is_ok(), "keys are independent");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(limiter.check(&"ip").is_ok());
        assert!(limiter.spend(&"ip").is_ok());
    }

    #[test]
    fn the_cap_counts_open_connections_per_ip() {
        let cap = std::sync::Arc::new(ConnectionCap::new(2));
        let ip: IpAddr = [10, 0, 0, 1].into();
        let a = cap.acquire(ip).expect("first");
        let _b = cap.acquire(ip).expect("second");
        assert!(cap.acquire(ip).is_none());
        assert!(cap.acquire([10, 0, 0, 2].into()).is_some());
        drop(a);
        assert!(cap.acquire(ip).is_some());
    }
}
