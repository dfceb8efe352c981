//! Public traffic and the databases: a burst of visitors costs one snapshot rebuild, the public
//! incident and maintenance endpoints answer from the snapshot (they keep answering with
//! PostgreSQL gone), and the snapshot is bounded however much history a tenant has.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use statuspage_clickhouse::Analytics;
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

fn state(pool: PgPool, analytics: Analytics) -> AppState {
    AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into(), "us".into()],
            open_signup: true,
        },
    )
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
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

/// (API token, tenant id)
async fn tenant(app: &axum::Router, slug: &str) -> (String, Uuid) {
    let (status, created) = call(
        app,
        "POST",
        "/api/v1/tenants",
        None,
        Some(json!({ "slug": slug, "name": slug, "email": format!("{slug}@example.com") })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["api_token"].as_str().unwrap().to_owned();
    let (status, monitor) = call(
        app,
        "POST",
        "/api/v1/monitors",
        Some(&token),
        Some(json!({ "name": "Homepage", "type": "http", "url": "https://example.com/" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{monitor}");
    (
        token,
        created["tenant"]["id"].as_str().unwrap().parse().unwrap(),
    )
}

fn public_paths(slug: &str) -> [String; 3] {
    [
        format!("/api/v1/public/status/{slug}"),
        format!("/api/v1/public/status/{slug}/incidents"),
        format!("/api/v1/public/status/{slug}/maintenances"),
    ]
}

async fn burst(app: &axum::Router, slug: &str, visitors: usize) {
    let paths = public_paths(slug);
    let calls = (0..visitors).map(|i| {
        let path = paths[i % paths.len()].clone();
        async move { call(app, "GET", &path, None, None).await }
    });
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_burst_of_visitors_costs_one_rebuild_per_tenant(pool: PgPool) {
    let state = state(pool, analytics().await);
    let app = api::router(state.clone());
    let (_, acme) = tenant(&app, "acme").await;
    tenant(&app, "globex").await;

    burst(&app, "acme", 60).await;
    assert_eq!(state.status.rebuilds(), 1, "60 visitors on a cold cache");

    // A change makes the snapshot due again: the next burst rebuilds it once more, and another
    // tenant's visitors rebuild only theirs.
    state.status.invalidate(acme);
    let (a, b) = tokio::join!(burst(&app, "acme", 60), burst(&app, "globex", 60));
    let _ = (a, b);
    assert_eq!(state.status.rebuilds(), 3, "one rebuild per tenant");

    // Fresh: no rebuild at all.
    burst(&app, "acme", 30).await;
    assert_eq!(state.status.rebuilds(), 3);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn incidents_and_maintenance_come_from_the_snapshot(pool: PgPool) {
    let state = state(pool.clone(), analytics().await);
    let app = api::router(state.clone());
    let (token, _) = tenant(&app, "acme").await;
    let (status, incident) = call(
        &app,
        "POST",
        "/api/v1/incidents",
        Some(&token),
        Some(
            json!({ "title": "Checkout errors", "impact": "major", "message": "Looking into it" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{incident}");
    let starts = chrono::Utc::now() + chrono::Duration::hours(2);
    let (status, maintenance) = call(
        &app,
        "POST",
        "/api/v1/maintenances",
        Some(&token),
        Some(json!({ "title": "Database upgrade", "starts_at": starts,
                     "ends_at": starts + chrono::Duration::hours(1) })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{maintenance}");

    let [_, incidents_path, maintenances_path] = public_paths("acme");
    let (status, before) = call(&app, "GET", &incidents_path, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(before[0]["title"], "Checkout errors");
    let rebuilds = state.status.rebuilds();

    // With PostgreSQL gone the endpoints still answer, from memory, with the same history.
    pool.close().await;
    let (status, incidents) = call(
        &app,
        "GET",
        &format!("{incidents_path}?days=90"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{incidents}");
    assert_eq!(incidents, before);
    let (status, maintenances) = call(&app, "GET", &maintenances_path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{maintenances}");
    assert_eq!(maintenances[0]["title"], "Database upgrade");
    assert_eq!(
        state.status.rebuilds(),
        rebuilds,
        "answered without a rebuild"
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_snapshot_is_bounded(pool: PgPool) {
    let state = state(pool.clone(), analytics().await);
    let app = api::router(state.clone());
    let (_, tenant_id) = tenant(&app, "acme").await;
    // Written straight to the database: far more history than any page shows. The oldest
    // incident is still open, so it must survive the bound.
    let open_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO incidents (id, tenant_id, title, status, impact, started_at) \
         VALUES ($1, $2, 'Still open', 'investigating', 'minor', now() - interval '60 days')",
    )
    .bind(open_id)
    .bind(tenant_id)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO incidents (id, tenant_id, title, status, impact, started_at, resolved_at) \
         SELECT gen_random_uuid(), $1, 'Old ' || n, 'resolved', 'minor', \
                now() - make_interval(hours => n), now() - make_interval(hours => n) + interval '10 minutes' \
         FROM generate_series(1, 120) n",
    )
    .bind(tenant_id)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO incident_updates (id, tenant_id, incident_id, status, message, created_at) \
         SELECT gen_random_uuid(), $1, $2, 'investigating', 'update ' || n, now() - make_interval(mins => n) \
         FROM generate_series(1, 300) n",
    )
    .bind(tenant_id)
    .bind(open_id)
    .execute(&pool)
    .await
    .unwrap();

    let (status, incidents) = call(
        &app,
        "GET",
        "/api/v1/public/status/acme/incidents?days=90",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{incidents}");
    let incidents = incidents.as_array().unwrap();
    assert_eq!(
        incidents.len(),
        api::status_page::snapshot::MAX_SNAPSHOT_INCIDENTS
    );
    let open = incidents
        .iter()
        .find(|i| i["title"] == "Still open")
        .expect("the open incident is kept");
    assert_eq!(
        open["updates"].as_array().unwrap().len(),
        api::status_page::snapshot::MAX_SNAPSHOT_UPDATES
    );
    assert_eq!(open["updates"][0]["message"], "update 1", "newest first");
    // Newest first after the bound.
    let started: Vec<&str> = incidents
        .iter()
        .map(|i| i["started_at"].as_str().unwrap())
        .collect();
    let mut sorted = started.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(started, sorted);

    let (status, snapshot) = call(&app, "GET", "/api/v1/public/status/acme", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let shown = snapshot["incidents"].as_array().unwrap();
    assert!(shown.len() <= api::status_page::snapshot::MAX_SNAPSHOT_INCIDENTS);
    assert!(shown.iter().any(|i| i["title"] == "Still open"));
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_page_first_built_while_clickhouse_is_down_shows_what_postgres_knows(pool: PgPool) {
    let unreachable = Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    let app = api::router(state(pool, unreachable));
    tenant(&app, "acme").await;
    let (status, snapshot) = call(&app, "GET", "/api/v1/public/status/acme", None, None).await;
    assert_eq!(status, StatusCode::OK, "{snapshot}");
    assert_eq!(snapshot["stale"], true);
    assert_eq!(snapshot["monitors"][0]["name"], "Homepage");
    assert_eq!(snapshot["monitors"][0]["uptime_24h"], Value::Null);
}
