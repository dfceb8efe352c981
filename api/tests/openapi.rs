//! The OpenAPI document is served, is 3.1, and describes routes that exist.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_document_describes_the_routes_that_exist(pool: PgPool) {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    let app = api::router(AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into()],
            open_signup: true,
        },
    ));
    let response = app
        .clone()
        .oneshot(
            Request::get("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Problem",
        "Monitor",
        "MonitorSpec",
        "Incident",
        "Maintenance",
        "StatusPageSettings",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 24, "{} paths", paths.len());
    // Every documented operation is routed: without a token it is 401/403/404/422 or served,
    // never 404-for-route or 405.
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let uri = path
                .replace("{id}", "00000000-0000-0000-0000-000000000000")
                .replace("{slug}", "nobody");
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if status == StatusCode::NOT_FOUND {
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    panic!("{method} {path}: 404 without problem+json: route missing")
                });
                assert_eq!(body["status"], 404, "{method} {path}");
            }
        }
    }
}
