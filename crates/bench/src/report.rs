//! Results: one row per figure, with the baseline from the same run, the
//! ratio, the target and whether it was met; as a markdown table and JSON.

use serde::Serialize;

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The scenario.
    pub scenario: String,
    /// What was measured.
    pub metric: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The raw baseline's value for the same metric, measured in the same run.
    pub baseline: Option<f64>,
    /// value ÷ baseline.
    pub ratio: Option<f64>,
    /// The target, for people.
    pub target: String,
    /// Whether the target was met (None: no target).
    pub met: Option<bool>,
}

impl Row {
    /// A row without a baseline.
    pub fn new(scenario: &str, metric: &str, value: f64, unit: &str) -> Self {
        Self {
            scenario: scenario.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            baseline: None,
            ratio: None,
            target: String::new(),
            met: None,
        }
    }

    /// Adds the baseline and the ratio.
    pub fn baseline(mut self, baseline: f64) -> Self {
        self.baseline = Some(baseline);
        self.ratio = (baseline != 0.0).then(|| self.value / baseline);
        self
    }

    /// Adds a target and whether it was met.
    pub fn target(mut self, text: &str, met: bool) -> Self {
        self.target = text.into();
        self.met = Some(met);
        self
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | metric | value | baseline | ratio | target | met |\n|---|---|---:|---:|---:|---|:-:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.metric,
            fmt(r.value),
            r.unit,
            r.baseline
                .map(|b| format!("{} {}", fmt(b), r.unit))
                .unwrap_or_else(|| "—".into()),
            r.ratio
                .map(|x| format!("{x:.2}×"))
                .unwrap_or_else(|| "—".into()),
            if r.target.is_empty() {
                "—"
            } else {
                &r.target
            },
            match r.met {
                Some(true) => "✅",
                Some(false) => "❌",
                None => "",
            }
        ));
    }
    out
}

/// Percentile `p` (0..=100) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
