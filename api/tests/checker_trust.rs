//! The checkers' internal endpoints refuse what a forger (or a leaked region) would send: unknown
//! regions, stale or future results, replayed requests, one region's secret speaking for another,
//! and results for monitors the region does not check. Against a real PostgreSQL.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use checker::plan::{self, CheckerSecrets, SignedRequest};
use chrono::{DateTime, Duration, Utc};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

const SHARED: &str = "shared-checker-secret-0123";
const EU: &str = "eu-checker-secret-0123456";
const US: &str = "us-checker-secret-0123456";

fn app(pool: PgPool) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    let state = AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: SHARED.into(),
            regions: vec!["eu".into(), "us".into(), "ap".into()],
            open_signup: true,
        },
    )
    .with_checker_secrets(CheckerSecrets::parse(SHARED, &format!("eu={EU},us={US}")).unwrap());
    api::router(state)
}

/// What a checker sends, with every signed part open to forgery.
#[derive(Clone)]
struct Forged {
    method: &'static str,
    path: String,
    /// Signs with this secret.
    secret: &'static str,
    /// The region header (and the one signed).
    region: &'static str,
    timestamp: i64,
    nonce: String,
    body: Vec<u8>,
}

impl Forged {
    fn report(secret: &'static str, region: &'static str, report: &Value) -> Self {
        Self {
            method: "POST",
            path: "/internal/v1/results".into(),
            secret,
            region,
            timestamp: Utc::now().timestamp(),
            nonce: Uuid::new_v4().simple().to_string(),
            body: serde_json::to_vec(report).unwrap(),
        }
    }

    fn plan(secret: &'static str, region: &'static str, asked: &str) -> Self {
        Self {
            method: "GET",
            path: format!("/internal/v1/plan?region={asked}&shard=0&shards=1"),
            body: Vec::new(),
            ..Self::report(secret, region, &json!({}))
        }
    }

    async fn send(&self, app: &axum::Router) -> (StatusCode, Value) {
        let signature = plan::sign(
            self.secret,
            &SignedRequest {
                region: self.region,
                timestamp: self.timestamp,
                nonce: &self.nonce,
                method: self.method,
                path_and_query: &self.path,
                body: &self.body,
            },
        );
        let request = Request::builder()
            .method(self.method)
            .uri(&self.path)
            .header(plan::REGION_HEADER, self.region)
            .header(plan::TIMESTAMP_HEADER, self.timestamp.to_string())
            .header(plan::NONCE_HEADER, &self.nonce)
            .header(plan::SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(Body::from(self.body.clone()))
            .unwrap();
        send(app, request).await
    }
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A tenant with one monitor checked from `regions` (all regions when empty): (tenant, monitor).
async fn tenant_with_monitor(app: &axum::Router, slug: &str, regions: &[&str]) -> (Uuid, Uuid) {
    let (status, created) = send(
        app,
        Request::post("/api/v1/tenants")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({ "slug": slug, "name": slug, "email": format!("owner@{slug}.example"), "password": "correct horse battery" })
                    .to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["api_token"].as_str().unwrap();
    let (status, monitor) = send(
        app,
        Request::post("/api/v1/monitors")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(
                json!({ "name": "Home", "type": "http", "url": "https://example.com/", "regions": regions })
                    .to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    (
        created["tenant"]["id"].as_str().unwrap().parse().unwrap(),
        monitor["id"].as_str().unwrap().parse().unwrap(),
    )
}

fn report(region: &str, tenant: Uuid, monitor: Uuid, checked_at: DateTime<Utc>) -> Value {
    json!({
        "region": region,
        "run_id": Uuid::new_v4(),
        "results": [{
            "monitor_id": monitor,
            "tenant_id": tenant,
            "status": "down",
            "checked_at": checked_at,
            "total_us": 1200,
            "error": "tcp connect to 10.0.0.7:443 failed: Connection refused (os error 111)",
            "failure": { "kind": "connection_refused" },
        }],
    })
}

async fn stored_regions(pool: &PgPool, monitor: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT region FROM monitor_region_state WHERE monitor_id = $1 ORDER BY region",
    )
    .bind(monitor)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_signed_report_is_recorded_once_and_its_replay_refused(pool: PgPool) {
    let app = app(pool.clone());
    let (tenant, monitor) = tenant_with_monitor(&app, "acme", &[]).await;
    let request = Forged::report(EU, "eu", &report("eu", tenant, monitor, Utc::now()));
    let (status, body) = request.send(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "recorded": 1, "ignored": 0 }));
    let (failure, error): (Value, String) = sqlx::query_as(
        "SELECT last_failure, last_error FROM monitor_region_state WHERE monitor_id = $1",
    )
    .bind(monitor)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failure, json!({ "kind": "connection_refused" }));
    assert!(error.contains("10.0.0.7"), "the tenant keeps the detail");

    // The very same bytes again: refused, whichever app server gets them (the nonce is in
    // PostgreSQL).
    let (status, body) = request.send(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["detail"], "replayed checker request");
    let spent: i64 = sqlx::query_scalar("SELECT count(*) FROM checker_nonces")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(spent, 1);

    // Expired nonces are dropped as new ones arrive.
    sqlx::query("UPDATE checker_nonces SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, _) = Forged::plan(EU, "eu", "eu").send(&app).await;
    assert_eq!(status, StatusCode::OK);
    let left: Vec<String> = sqlx::query_scalar("SELECT nonce FROM checker_nonces")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0], request.nonce);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn unknown_regions_are_refused(pool: PgPool) {
    let app = app(pool.clone());
    let (tenant, monitor) = tenant_with_monitor(&app, "acme", &[]).await;
    // Signed with the shared secret, which would sign for any region it names.
    let forged = Forged::report(
        SHARED,
        "mars-1",
        &report("mars-1", tenant, monitor, Utc::now()),
    );
    let (status, body) = forged.send(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["detail"], "unknown checker region");
    // A known region's signature over a report that claims an unknown one.
    let (status, body) =
        Forged::report(SHARED, "ap", &report("mars-1", tenant, monitor, Utc::now()))
            .send(&app)
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"], r#"signed for region "ap", not "mars-1""#);
    let (status, body) = Forged::plan(SHARED, "mars-1", "mars-1").send(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(stored_regions(&pool, monitor).await.is_empty());
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn results_checked_ten_minutes_away_are_refused(pool: PgPool) {
    let app = app(pool.clone());
    let (tenant, monitor) = tenant_with_monitor(&app, "acme", &[]).await;
    for offset in [Duration::minutes(10), Duration::minutes(-10)] {
        let at = Utc::now() + offset;
        let (status, body) = Forged::report(EU, "eu", &report("eu", tenant, monitor, at))
            .send(&app)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{offset}: {body}");
        assert_eq!(
            body["errors"][0]["field"], "results[0].checked_at",
            "{body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains("300 s before"),
            "{body}"
        );
    }
    assert!(stored_regions(&pool, monitor).await.is_empty());

    // The request's own timestamp ten minutes off: refused before anything is read.
    for offset in [Duration::minutes(10), Duration::minutes(-10)] {
        let mut forged = Forged::report(EU, "eu", &report("eu", tenant, monitor, Utc::now()));
        forged.timestamp = (Utc::now() + offset).timestamp();
        let (status, body) = forged.send(&app).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(
            body["detail"],
            "checker request timestamp is outside the allowed window"
        );
    }

    // Within the window (a check that took a while; a clock a little ahead): recorded.
    let (status, body) = Forged::report(
        EU,
        "eu",
        &report("eu", tenant, monitor, Utc::now() - Duration::seconds(90)),
    )
    .send(&app)
    .await;
    assert_eq!(
        (status, body["recorded"].clone()),
        (StatusCode::OK, json!(1))
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn one_regions_secret_cannot_speak_for_another(pool: PgPool) {
    let app = app(pool.clone());
    let (tenant, monitor) = tenant_with_monitor(&app, "acme", &[]).await;
    // eu's secret, claiming to be us: the signature is checked with us's secret.
    let (status, body) = Forged::report(EU, "us", &report("us", tenant, monitor, Utc::now()))
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["detail"], "bad checker signature");
    assert_eq!(body["status"], 401);
    // Honestly signed as eu, but the report says us.
    let (status, body) = Forged::report(EU, "eu", &report("us", tenant, monitor, Utc::now()))
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"], r#"signed for region "eu", not "us""#);
    // Nor can it read us's plan.
    let (status, body) = Forged::plan(EU, "eu", "us").send(&app).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = Forged::plan(EU, "us", "us").send(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A region with its own secret no longer accepts the shared one.
    let (status, body) = Forged::report(SHARED, "eu", &report("eu", tenant, monitor, Utc::now()))
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(stored_regions(&pool, monitor).await.is_empty());

    // Each with its own secret: accepted.
    for (secret, region) in [(EU, "eu"), (US, "us"), (SHARED, "ap")] {
        let (status, body) =
            Forged::report(secret, region, &report(region, tenant, monitor, Utc::now()))
                .send(&app)
                .await;
        assert_eq!(status, StatusCode::OK, "{region}: {body}");
    }
    assert_eq!(stored_regions(&pool, monitor).await, ["ap", "eu", "us"]);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn unsigned_and_old_style_requests_are_refused(pool: PgPool) {
    let app = app(pool.clone());
    let (status, body) = send(
        &app,
        Request::get("/internal/v1/plan?region=eu")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Timestamp and signature only (no region, no nonce), as checkers signed before.
    let (status, body) = send(
        &app,
        Request::get("/internal/v1/plan?region=eu")
            .header(plan::TIMESTAMP_HEADER, Utc::now().timestamp().to_string())
            .header(plan::SIGNATURE_HEADER, "00")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("nonce"), "{body}");
    let mut short_nonce = Forged::plan(EU, "eu", "eu");
    short_nonce.nonce = "abc".into();
    let (status, body) = short_nonce.send(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn results_for_monitors_the_region_does_not_check_are_ignored(pool: PgPool) {
    let app = app(pool.clone());
    let (acme, acme_monitor) = tenant_with_monitor(&app, "acme", &["eu"]).await;
    let (globex, _) = tenant_with_monitor(&app, "globex", &[]).await;
    let cases = [
        // us does not check acme's monitor.
        ("us", US, acme, acme_monitor),
        // globex's id on acme's monitor.
        ("eu", EU, globex, acme_monitor),
        // No such monitor.
        ("eu", EU, acme, Uuid::new_v4()),
    ];
    for (region, secret, tenant, monitor) in cases {
        let (status, body) =
            Forged::report(secret, region, &report(region, tenant, monitor, Utc::now()))
                .send(&app)
                .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({ "recorded": 0, "ignored": 1 }),
            "{region} {tenant} {monitor}"
        );
    }
    assert!(stored_regions(&pool, acme_monitor).await.is_empty());

    // A disabled monitor is in no plan either.
    sqlx::query("UPDATE monitors SET enabled = false WHERE id = $1")
        .bind(acme_monitor)
        .execute(&pool)
        .await
        .unwrap();
    let (_, body) = Forged::report(EU, "eu", &report("eu", acme, acme_monitor, Utc::now()))
        .send(&app)
        .await;
    assert_eq!(body, json!({ "recorded": 0, "ignored": 1 }));
}
