//! `GET /api/v1/monitors/{id}/analytics` against real PostgreSQL and ClickHouse: the figures
//! of the tenant's own checks, nothing of another tenant's, and bad parameters named.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, DurationRound, Utc};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use statuspage_clickhouse::{Analytics, CheckRow, STATUS_DOWN, STATUS_UP};
use tower::ServiceExt;
use uuid::Uuid;

async fn analytics() -> Analytics {
    let url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let analytics = Analytics::new(&url, &format!("test_{}", Uuid::new_v4().simple())).unwrap();
    analytics.migrate().await.unwrap();
    analytics
}

fn app(pool: PgPool, analytics: Analytics) -> axum::Router {
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

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// (API token, tenant id, monitor id)
async fn tenant_with_monitor(app: &axum::Router, slug: &str) -> (String, Uuid, Uuid) {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/tenants")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "slug": slug, "name": slug, "email": format!("{slug}@example.com") })
                .to_string(),
        ))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let created: Value = serde_json::from_slice(&bytes).unwrap();
    let token = created["api_token"].as_str().unwrap().to_owned();
    let tenant: Uuid = created["tenant"]["id"].as_str().unwrap().parse().unwrap();
    let (status, monitor) = call(
        app,
        "POST",
        "/api/v1/monitors",
        &token,
        Some(json!({ "name": "Homepage", "type": "http", "url": "https://example.com/" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    (
        token,
        tenant,
        monitor["id"].as_str().unwrap().parse().unwrap(),
    )
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_monitor_s_analytics_are_its_own_checks_and_only_its_tenant_s(pool: PgPool) {
    let analytics = analytics().await;
    let app = app(pool, analytics.clone());
    let (token, tenant, monitor) = tenant_with_monitor(&app, "acme").await;
    let (other_token, other_tenant, other_monitor) = tenant_with_monitor(&app, "globex").await;

    // Two hours ago and onwards: 12 checks from eu (one down, 400 ms), 12 from us (all up, 100 ms);
    // the other tenant's monitor is down all the time, and so is this tenant's under its id.
    let start = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(2);
    let mut rows = Vec::new();
    for i in 0..12 {
        let at = start + Duration::minutes(5 * i);
        let eu = if i == 3 { STATUS_DOWN } else { STATUS_UP };
        rows.push(CheckRow::synthetic(
            tenant,
            monitor,
            "eu",
            at.timestamp_micros(),
            eu,
            400_000,
        ));
        rows.push(CheckRow::synthetic(
            tenant,
            monitor,
            "us",
            at.timestamp_micros(),
            STATUS_UP,
            100_000,
        ));
        rows.push(CheckRow::synthetic(
            other_tenant,
            other_monitor,
            "eu",
            at.timestamp_micros(),
            STATUS_DOWN,
            1,
        ));
        rows.push(CheckRow::synthetic(
            other_tenant,
            monitor,
            "eu",
            at.timestamp_micros(),
            STATUS_DOWN,
            1,
        ));
    }
    analytics
        .insert_checks(&rows, "analytics-api")
        .await
        .unwrap();

    let path = format!("/api/v1/monitors/{monitor}/analytics?window=24h&apdex_ms=200");
    let (status, body) = call(&app, "GET", &path, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["uptime"]["checks"], 24);
    assert_eq!(body["uptime"]["down"], 1);
    let percent = body["uptime"]["uptime_percent"].as_f64().unwrap();
    assert!((percent - 100.0 * 23.0 / 24.0).abs() < 1e-9, "{percent}");
    assert_eq!(body["regions"].as_array().unwrap().len(), 2);
    let latency = body["latency"].as_array().unwrap();
    assert_eq!(latency.len(), 2);
    let eu = latency.iter().find(|l| l["region"] == "eu").unwrap();
    assert_eq!(eu["samples"], 11, "the down check has no latency");
    let p50 = eu["phases"]["total"]["p50"].as_f64().unwrap();
    assert!((p50 - 400_000.0).abs() / 400_000.0 < 0.01, "{p50}");
    assert!(eu["phases"]["ttfb"]["p50"].as_f64().unwrap() < p50);
    assert_eq!(body["resolution"], "hour");
    let points: u64 = body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["counts"]["checks"].as_u64().unwrap())
        .sum();
    assert_eq!(points, 24);
    // Apdex at 200 ms: us satisfied (12), eu tolerating (400 ms <= 4T) but for its down check.
    assert_eq!(body["apdex"]["threshold_ms"], 200);
    assert_eq!(body["apdex"]["current"]["satisfied"], 12);
    assert_eq!(body["apdex"]["current"]["tolerating"], 11);
    assert_eq!(body["apdex"]["current"]["frustrated"], 1);
    assert_eq!(body["apdex"]["previous"]["checks"], 0);

    // A custom window at raw resolution.
    let from = (start + Duration::minutes(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (start + Duration::minutes(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = format!("/api/v1/monitors/{monitor}/analytics?from={from}&to={to}&resolution=raw");
    let (status, body) = call(&app, "GET", &path, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["uptime"]["checks"], 12,
        "minutes 30, 35, ... 55 from two regions"
    );
    assert_eq!(body["resolution"], "raw");

    // The other tenant: 404 for this monitor, and its own figures hold nothing of this tenant's.
    let path = format!("/api/v1/monitors/{monitor}/analytics");
    let (status, body) = call(&app, "GET", &path, &other_token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.get("uptime").is_none());
    let path = format!("/api/v1/monitors/{other_monitor}/analytics?window=7d");
    let (status, body) = call(&app, "GET", &path, &other_token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["uptime"]["checks"], 12);
    assert_eq!(body["uptime"]["down"], 12);
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/v1/monitors/{other_monitor}/analytics"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad parameters: 422 naming the field (or 400 for what does not parse).
    for (query, field) in [
        ("window=5d", "window"),
        ("apdex_ms=15", "apdex_ms"),
        ("apdex_ms=0", "apdex_ms"),
        ("resolution=weekly", "resolution"),
        ("window=7d&resolution=raw", "resolution"),
        ("from=2026-01-01T00:00:00Z", "to"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        (
            "window=24h&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
            "window",
        ),
    ] {
        let path = format!("/api/v1/monitors/{monitor}/analytics?{query}");
        let (status, body) = call(&app, "GET", &path, &token, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
    for query in ["apdex_ms=abc", "from=yesterday&to=today", "colour=blue"] {
        let path = format!("/api/v1/monitors/{monitor}/analytics?{query}");
        let (status, body) = call(&app, "GET", &path, &token, None).await;
        assert!(status.is_client_error(), "{query}: {status} {body}");
    }
    analytics.drop_database().await.unwrap();
}
