//! Reading a gateway's Prometheus text.

/// The value of the first sample of `/metrics` at `http_base` whose line
/// starts with `name` (a metric name, or a name with labels); 0 when there is
/// none yet (counters appear on first use).
pub async fn metric(http_base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{http_base}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("read /metrics: {e}"));
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
