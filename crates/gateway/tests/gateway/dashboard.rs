//! docs/grafana/vestibule-gateway.json queries only metrics a real gateway
//! exposes, and shows every one of them: it cannot drift from metrics.rs.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// `vestibule_…` names inside a PromQL expression.
fn metric_names(expr: &str, out: &mut BTreeSet<String>) {
    let mut rest = expr;
    while let Some(start) = rest.find("vestibule_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
}

/// Every query of the dashboard: panel targets and template variables.
fn queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "definition", Value::String(s)) => out.push(s.clone()),
                    ("query", Value::String(s)) if s.contains('(') => out.push(s.clone()),
                    _ => queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_grafana_dashboard_queries_exactly_the_metrics_a_gateway_exposes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/grafana/vestibule-gateway.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).expect("JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 6);
    for panel in panels {
        assert!(
            panel["targets"].as_array().is_some_and(|t| !t.is_empty()),
            "panel {} has no query",
            panel["title"]
        );
    }
    let mut exprs = Vec::new();
    queries(&dashboard, &mut exprs);
    let mut queried = BTreeSet::new();
    for expr in &exprs {
        metric_names(expr, &mut queried);
    }

    // Traffic so every labelled family has a sample: a login, a failed
    // login, a refused frame, an admin kick.
    let gw = TestGateway::start().await;
    let (mut alice, _) = gw.login("alice", "pc-1", "PC").await;
    let mut wrong = Client::connect(&gw.url()).await;
    let failed = wrong
        .login_with(&login_frame("bob", "pc-1", "PC", "not-a-token"))
        .await;
    assert_eq!(failed["type"], "loginFailed", "{failed}");
    alice.send_raw(Message::binary(vec![1, 2, 3])).await;
    let refused = alice.frame().await;
    assert_eq!(refused["type"], "error", "{refused}");
    let kicked = reqwest::Client::new()
        .post(gw.http("/admin/v1/apps/demo/accounts/alice/kick"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({}))
        .send()
        .await
        .expect("kick");
    assert_eq!(kicked.status(), 200);
    assert_eq!(alice.frame_of("kicked").await["type"], "kicked");

    let text = reqwest::get(gw.http("/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    let exposed: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = queried.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "queried but not exposed: {missing:?}\n{text}"
    );
    let unshown: Vec<_> = exposed
        .iter()
        .filter(|m| m.starts_with("vestibule_"))
        .filter(|m| !queried.contains(*m))
        .collect();
    assert!(unshown.is_empty(), "exposed but on no panel: {unshown:?}");
    assert!(queried.len() >= 6, "{queried:?}");
}
