//! The work plan of a re-check: a signed plan request naming monitors returns exactly those the
//! region checks (enabled, of that region; any tenant's), due or not, each marked to report every
//! result; the list is bounded. Scheduled plans mark the monitors the engine does not hold
//! operational. Against a real PostgreSQL, through the real router.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use checker::plan::{self, SignedRequest, WorkPlan, MAX_RECHECK_MONITORS};
use chrono::Utc;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

const SECRET: &str = "recheck-plan-secret-0123456789";
/// The longest monitor interval the API accepts.
const A_DAY: i64 = 86_400;

fn app(pool: PgPool) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: SECRET.into(),
            regions: vec!["eu".into(), "us".into()],
            open_signup: true,
        },
    ))
}

/// A plan request signed for `region`, as the checker's API client sends it:
/// (status, content type, body).
async fn plan(app: &axum::Router, region: &str, query: &str) -> (StatusCode, String, Value) {
    let path = format!("/internal/v1/plan?region={region}&shard=0&shards=1&{query}");
    let (timestamp, nonce) = (Utc::now().timestamp(), Uuid::new_v4().simple().to_string());
    let signature = plan::sign(
        SECRET,
        &SignedRequest {
            region,
            timestamp,
            nonce: &nonce,
            method: "GET",
            path_and_query: &path,
            body: b"",
        },
    );
    let request = Request::get(&path)
        .header(plan::REGION_HEADER, region)
        .header(plan::TIMESTAMP_HEADER, timestamp.to_string())
        .header(plan::NONCE_HEADER, nonce)
        .header(plan::SIGNATURE_HEADER, signature)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, body)
}

/// `(monitor, report_always)` of every check in a plan, by monitor id.
fn planned(body: &Value) -> Vec<(Uuid, bool)> {
    let plan: WorkPlan = serde_json::from_value(body.clone()).expect("a work plan");
    let mut checks: Vec<(Uuid, bool)> = plan
        .checks
        .iter()
        .map(|c| (c.monitor_id, c.report_always))
        .collect();
    checks.sort();
    checks
}

fn ids(ids: &[Uuid]) -> String {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    format!("recheck={}", ids.join(","))
}

async fn json_request(app: &axum::Router, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    body
}

/// A tenant's API token.
async fn tenant(app: &axum::Router, slug: &str) -> String {
    let created = json_request(
        app,
        "/api/v1/tenants",
        None,
        json!({ "slug": slug, "name": slug, "email": format!("owner@{slug}.example"), "password": "correct horse battery" }),
    )
    .await;
    created["api_token"].as_str().unwrap().to_owned()
}

/// A monitor checked from `regions` (all when empty) every `interval` seconds.
async fn monitor(app: &axum::Router, token: &str, regions: &[&str], interval: i64) -> Uuid {
    let created = json_request(
        app,
        "/api/v1/monitors",
        Some(token),
        json!({ "name": format!("Home {}", Uuid::new_v4()), "type": "http", "url": "https://example.com/", "regions": regions, "interval_seconds": interval }),
    )
    .await;
    created["id"].as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_recheck_plans_exactly_the_named_monitors_of_the_region(pool: PgPool) {
    let app = app(pool.clone());
    let (acme, other) = (tenant(&app, "acme").await, tenant(&app, "other").await);
    let daily = monitor(&app, &acme, &[], A_DAY).await;
    let us_only = monitor(&app, &acme, &["us"], A_DAY).await;
    let disabled = monitor(&app, &acme, &[], A_DAY).await;
    let others = monitor(&app, &other, &["eu"], A_DAY).await;
    let not_named = monitor(&app, &acme, &[], 30).await;
    sqlx::query("UPDATE monitors SET enabled = false WHERE id = $1")
        .bind(disabled)
        .execute(&pool)
        .await
        .unwrap();

    // On the schedule, with 30-second ticks, the 30-second monitor is due and the daily ones
    // are not (one tick in 2,880).
    let now = Utc::now().timestamp();
    assert!(
        !plan::is_due(daily, A_DAY as u32, now, 30) && !plan::is_due(others, A_DAY as u32, now, 30),
        "due in this very tick: rerun"
    );
    let (status, _, scheduled) = plan(&app, "eu", "tick=30").await;
    assert_eq!(status, StatusCode::OK, "{scheduled}");
    assert_eq!(planned(&scheduled), [(not_named, false)]);

    // Re-checked, they run now; the other region's, the disabled and unknown ids are left out
    // without a word, and so is every monitor not named.
    let unknown = Uuid::new_v4();
    let (status, _, rechecked) = plan(
        &app,
        "eu",
        &format!(
            "tick=30&{}",
            ids(&[daily, us_only, disabled, others, unknown, daily])
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rechecked}");
    let mut expected = vec![(daily, true), (others, true)];
    expected.sort();
    assert_eq!(planned(&rechecked), expected);
    // The monitor of the other region is the other region's to re-check.
    let (_, _, in_us) = plan(&app, "us", &ids(&[us_only, others])).await;
    assert_eq!(planned(&in_us), [(us_only, true)]);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn recheck_lists_are_bounded_and_must_hold_monitor_ids(pool: PgPool) {
    let app = app(pool);
    let too_many: Vec<Uuid> = (0..=MAX_RECHECK_MONITORS).map(|_| Uuid::new_v4()).collect();
    let (status, content_type, body) = plan(&app, "eu", &ids(&too_many)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["errors"][0]["field"], "recheck", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains(&MAX_RECHECK_MONITORS.to_string()));

    let (status, _, _) = plan(&app, "eu", &ids(&too_many[..MAX_RECHECK_MONITORS])).await;
    assert_eq!(status, StatusCode::OK, "the bound itself is accepted");

    for bad in ["recheck=", "recheck=not-a-uuid", "recheck=%2C%2C"] {
        let (status, content_type, body) = plan(&app, "eu", bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(body["errors"][0]["field"], "recheck", "{bad}: {body}");
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn monitors_not_operational_report_every_result(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let (down, fine, unknown_state) = (
        monitor(&app, &acme, &[], 30).await,
        monitor(&app, &acme, &[], 30).await,
        monitor(&app, &acme, &[], 30).await,
    );
    for (monitor, state) in [(down, "major_outage"), (fine, "operational")] {
        sqlx::query(
            "INSERT INTO monitor_state (monitor_id, tenant_id, state) \
             SELECT id, tenant_id, $2 FROM monitors WHERE id = $1",
        )
        .bind(monitor)
        .bind(state)
        .execute(&pool)
        .await
        .unwrap();
    }
    let (status, _, body) = plan(&app, "eu", "tick=60").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // 30 s monitors in a 60 s tick: each is planned at both of its instants.
    let mut expected = [(down, true), (fine, false), (unknown_state, false)].repeat(2);
    expected.sort();
    assert_eq!(planned(&body), expected);
}

/// A simulated hour of the 60 s schedule (each run a few seconds late, as EventBridge is): the
/// plans start every monitor at each instant of its own schedule, so 30, 45, 60, 90 and 300 s
/// monitors run 120, 80, 60, 40 and 12 times, evenly spaced, never rounded to the minute.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn over_a_simulated_hour_every_interval_runs_at_its_own_pace(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let mut monitors = Vec::new();
    for interval in [30i64, 45, 60, 90, 300] {
        for _ in 0..3 {
            monitors.push((monitor(&app, &acme, &[], interval).await, interval));
        }
    }
    // A whole hour (500,000 of them since the epoch).
    let hour = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let mut due: std::collections::HashMap<Uuid, Vec<i64>> = Default::default();
    for minute in 0..60 {
        let late = chrono::Duration::seconds(minute % 7);
        let now = hour + chrono::Duration::minutes(minute) + late;
        let work = api::checkers::work_plan(&pool, &plan::CheckEvent::scheduled("eu"), 60, now)
            .await
            .unwrap();
        for check in work.checks {
            let at = check.due_at.expect("scheduled checks have an instant");
            assert!(at >= now - late && at < now - late + chrono::Duration::minutes(1));
            due.entry(check.monitor_id)
                .or_default()
                .push(at.timestamp());
        }
    }
    for (id, interval) in monitors {
        let times = &due[&id];
        assert_eq!(
            times.len() as i64,
            3600 / interval,
            "{interval} s: {times:?}"
        );
        assert!(
            times.windows(2).all(|w| w[1] - w[0] == interval),
            "{interval} s, evenly spaced: {times:?}"
        );
    }
}
