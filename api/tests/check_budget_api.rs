//! A check's total time budget over `/api/v1` against a real PostgreSQL: a monitor whose
//! attempts and backoffs together exceed what one check may take in a run is refused with a 422
//! naming the fields, on create, on update and in a config import; the largest spec that fits is
//! accepted.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use checker::spec::MAX_CHECK_BUDGET_MS;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;

fn app(pool: PgPool) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into(), "us".into()],
            open_signup: true,
        },
    ))
}

async fn send(
    app: &axum::Router,
    token: Option<&str>,
    method: &str,
    path: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, String, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        kind,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn tenant(app: &axum::Router, slug: &str) -> String {
    let body = json!({ "slug": slug, "name": slug, "email": format!("{slug}@example.com") });
    let (status, _, body) = send(
        app,
        None,
        "POST",
        "/api/v1/tenants",
        "application/json",
        body.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["api_token"].as_str().unwrap().to_owned()
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_check_longer_than_a_run_is_refused_naming_its_fields(pool: PgPool) {
    let app = app(pool);
    let token = tenant(&app, "budget").await;
    let post = |body: Value| {
        send(
            &app,
            Some(&token),
            "POST",
            "/api/v1/monitors",
            "application/json",
            body.to_string(),
        )
    };

    // The old maximum of each field: 6 × 60 s plus 310 s of backoff, 670 s for one check.
    let (status, kind, body) = post(json!({
        "name": "black hole", "type": "http", "url": "https://example.com/",
        "timeout_ms": 60000, "retries": 5, "retry_backoff_ms": 10000
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(kind, "application/problem+json");
    assert_eq!(
        fields(&body),
        ["timeout_ms", "retries", "retry_backoff_ms"],
        "{body}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("670000 ms") && message.contains(&format!("{MAX_CHECK_BUDGET_MS} ms")),
        "{message}"
    );

    // One attempt longer than the budget: only the timeout is named. Every kind has the rule.
    for spec in [
        json!({ "type": "http", "url": "https://example.com/" }),
        json!({ "type": "tcp", "host": "db.example.com", "port": 5432 }),
        json!({ "type": "dns", "host": "example.com", "record_type": "A" }),
        json!({ "type": "tls", "host": "example.com" }),
    ] {
        let mut body = spec.clone();
        body["name"] = json!("slow");
        body["timeout_ms"] = json!(MAX_CHECK_BUDGET_MS + 1);
        let (status, _, reply) = post(body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{spec}: {reply}");
        assert_eq!(fields(&reply), ["timeout_ms"], "{spec}: {reply}");
    }

    // The largest that fits is accepted: 3 × 12 s + 1 s + 2 s = 39 s.
    let (status, _, created) = post(json!({
        "name": "slow but bounded", "type": "http", "url": "https://example.com/",
        "timeout_ms": 12000, "retries": 2, "retry_backoff_ms": 1000
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Raising its retries on update is refused the same way, and nothing changes.
    let id = created["id"].as_str().unwrap();
    let (status, _, reply) = send(
        &app,
        Some(&token),
        "PUT",
        &format!("/api/v1/monitors/{id}"),
        "application/json",
        json!({ "name": "slow but bounded", "type": "http", "url": "https://example.com/",
                "timeout_ms": 12000, "retries": 3, "retry_backoff_ms": 1000 })
        .to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(
        fields(&reply),
        ["timeout_ms", "retries", "retry_backoff_ms"],
        "{reply}"
    );
    let (_, _, stored) = send(
        &app,
        Some(&token),
        "GET",
        &format!("/api/v1/monitors/{id}"),
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(stored["retries"], 2, "{stored}");

    // Config as code uses the same rule, with the monitor's place in the file.
    let yaml = "version: 1\nmonitors:\n  - name: Hole\n    type: tcp\n    host: db.example.com\n    port: 5432\n    timeout_ms: 30000\n    retries: 1\n";
    let (status, _, plan) = send(
        &app,
        Some(&token),
        "POST",
        "/api/v1/config?dry_run=true",
        "application/yaml",
        yaml.to_owned(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{plan}");
    let named = fields(&plan);
    assert!(
        named.iter().any(|f| f.ends_with("timeout_ms"))
            && named.iter().any(|f| f.ends_with("retries")),
        "{plan}"
    );
}
