//! Prometheus metrics, served as text at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `result` label of `vestibule_logins_total`: `ok` or the failure code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok` or a code number.
    pub result: String,
}

/// `reason` label of `vestibule_kicks_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A kick reason's wire name.
    pub reason: String,
}

/// `kind` label of `vestibule_bad_frames_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `malformed`, `invalid`, `binary`, `oversized`, `unexpected`.
    pub kind: &'static str,
}

/// `stage` label of `vestibule_login_stage_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    /// A stage of a login: `credential`, `registry`, `save`, `reply`, `all`
    /// (the session's side); `turn`, `read`, `apply`, `deliver`, `list`,
    /// `push` (the Redis registry's; `read` and `apply` once per attempt).
    pub stage: &'static str,
}

type StageHistograms = Family<StageLabel, Histogram, fn() -> Histogram>;

/// Time spent in each stage of a login, process-wide: the stages sit in
/// the session and the registry, which do not hold the [`Metrics`].
static LOGIN_STAGES: std::sync::LazyLock<StageHistograms> = std::sync::LazyLock::new(|| {
    // 0.25 ms to ~8 s.
    Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00025, 2.0, 16)))
});

/// Records that a login spent the time since `since` in `stage`: where a
/// crowd of returning clients waits shows here (the bench reads it).
pub fn login_stage(stage: &'static str, since: std::time::Instant) {
    LOGIN_STAGES
        .get_or_create(&StageLabel { stage })
        .observe(since.elapsed().as_secs_f64());
}

/// Panics anywhere in the process, counted by [`count_panics`].
static PANICS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Installs (once per process) a panic hook that counts panics — a panic in a
/// connection's task does not stop the gateway, so it must be visible — and
/// then runs the previous hook. [`crate::Gateway::start`] calls it.
pub fn count_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(panic = %info, "a task panicked");
            previous(info);
        }));
    });
}

/// Panics counted so far in this process.
pub fn panics_so_far() -> u64 {
    PANICS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections (logged in or not).
    pub connections: Gauge,
    /// Logged-in sessions on this process.
    pub sessions: Gauge,
    /// Login attempts by result.
    pub logins: Family<ResultLabel, Counter>,
    /// Kicks delivered, by reason.
    pub kicks: Family<ReasonLabel, Counter>,
    /// Frames refused, by kind.
    pub bad_frames: Family<KindLabel, Counter>,
    /// Panics in this process (see [`count_panics`]).
    pub panics: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vestibule");
        let connections = Gauge::default();
        let sessions = Gauge::default();
        let logins = Family::<ResultLabel, Counter>::default();
        let kicks = Family::<ReasonLabel, Counter>::default();
        let bad_frames = Family::<KindLabel, Counter>::default();
        registry.register(
            "connections",
            "Open WebSocket connections",
            connections.clone(),
        );
        registry.register(
            "sessions",
            "Logged-in sessions on this gateway process",
            sessions.clone(),
        );
        registry.register(
            "logins",
            "Login attempts by result (ok or code)",
            logins.clone(),
        );
        registry.register("kicks", "Sessions kicked, by reason", kicks.clone());
        registry.register(
            "bad_frames",
            "Client frames refused, by kind",
            bad_frames.clone(),
        );
        let panics = Gauge::default();
        registry.register(
            "panics",
            "Panics in this process (each is a bug)",
            panics.clone(),
        );
        registry.register_with_unit(
            "login_stage",
            "Seconds a login spent in each stage",
            prometheus_client::registry::Unit::Seconds,
            LOGIN_STAGES.clone(),
        );
        Self {
            registry,
            connections,
            sessions,
            logins,
            kicks,
            bad_frames,
            panics,
        }
    }

    /// Counts a login attempt's result.
    pub fn login(&self, result: impl Into<String>) {
        self.logins
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
    }

    /// Counts a delivered kick.
    pub fn kick(&self, reason: vestibule_protocol::KickReason) {
        self.kicks
            .get_or_create(&ReasonLabel {
                reason: reason.as_str().to_owned(),
            })
            .inc();
    }

    /// Counts a refused frame.
    pub fn bad_frame(&self, kind: &'static str) {
        self.bad_frames.get_or_create(&KindLabel { kind }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self, sessions: usize) -> String {
        self.sessions
            .set(i64::try_from(sessions).unwrap_or(i64::MAX));
        self.panics
            .set(i64::try_from(panics_so_far()).unwrap_or(i64::MAX));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            out = format!("# encoding failed: {e}\n");
        }
        out
    }
}
