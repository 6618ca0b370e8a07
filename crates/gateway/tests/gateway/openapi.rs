//! The admin API's OpenAPI document: generated from the handlers, committed
//! as docs/admin-openapi.json (CI fails when they differ; regenerate with
//! `UPDATE_OPENAPI=1 cargo nextest run -p vestibule-gateway openapi`),
//! served without the key at /admin/v1/openapi.json, and in step with the
//! router both ways.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::*;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/admin-openapi.json")
}

fn generated() -> String {
    let spec = vestibule_gateway::admin_openapi();
    serde_json::to_string_pretty(&spec).expect("the spec serializes") + "\n"
}

#[test]
fn the_committed_spec_is_the_generated_one() {
    let generated = generated();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(committed_path(), &generated).expect("write docs/admin-openapi.json");
    }
    let committed = std::fs::read_to_string(committed_path()).expect("docs/admin-openapi.json");
    assert!(
        committed == generated,
        "docs/admin-openapi.json is stale: the admin API changed. Regenerate it with\n  \
         UPDATE_OPENAPI=1 cargo nextest run -p vestibule-gateway openapi\nand commit it."
    );
}

fn operations(spec: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                out.push((path.clone(), method.to_owned()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_spec_is_served_without_the_key_and_matches_the_committed_file() {
    let gw = TestGateway::start().await;
    let response = reqwest::get(gw.http("/admin/v1/openapi.json"))
        .await
        .expect("GET openapi.json");
    assert_eq!(response.status(), 200, "public: no admin key needed");
    let served: Value = response.json().await.expect("JSON");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(committed_path()).expect("docs/admin-openapi.json"),
    )
    .expect("the committed spec is JSON");
    assert_eq!(served, committed);
    assert_eq!(
        served["openapi"].as_str().map(|v| &v[..2]),
        Some("3."),
        "OpenAPI 3"
    );
    assert_eq!(
        served["components"]["securitySchemes"]["adminKey"]["scheme"], "bearer",
        "{}",
        served["components"]
    );
    // The rest still needs the key.
    let apps = reqwest::get(gw.http("/admin/v1/apps")).await.expect("GET");
    assert_eq!(apps.status(), 401);
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_nothing_else_is() {
    let gw = TestGateway::start().await;
    let spec = serde_json::to_value(vestibule_gateway::admin_openapi()).expect("JSON");
    let operations = operations(&spec);
    assert!(operations.len() >= 12, "{operations:?}");
    let http = reqwest::Client::new();
    let url = |path: &str| gw.http(&path.replace("{app_key}", APP).replace("{account}", "alice"));
    let all = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    for path in spec["paths"].as_object().expect("paths").keys() {
        assert!(path.starts_with("/admin/v1/"), "{path}");
        for method in all {
            let documented = operations.contains(&(path.clone(), method.to_lowercase()));
            let response = http
                .request(method.parse().expect("method"), url(path))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let unrouted = status == 405 || body["error"]["message"] == "no such endpoint";
            assert_eq!(
                unrouted, !documented,
                "{method} {path}: documented {documented}, got {status} {body}"
            );
        }
    }
    // Routes reach the router only through utoipa_axum::routes!, which needs
    // each handler's #[utoipa::path]; the one plain route is the document.
    let source =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/admin.rs"))
            .expect("admin.rs");
    let plain: Vec<&str> = source
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            [
                ".route(",
                ".route_service(",
                ".nest(",
                ".nest_service(",
                ".merge(",
            ]
            .iter()
            .any(|m| l.starts_with(m))
        })
        .collect();
    assert_eq!(
        plain,
        vec!["        .route(\"/openapi.json\", get(serve_openapi))"],
        "an admin route added without routes! (and so without an OpenAPI annotation)"
    );
}
