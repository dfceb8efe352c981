//! Re-checks through the real app server and its local runner: the engine's dispatcher
//! (`LocalRecheck`, wired as `STATUSPAGE_RECHECK=local` wires it) makes another pseudo-region
//! check a monitor at once, through the signed plan endpoint, the writer and ClickHouse, and the
//! fast path, not at the next tick (a minute away here).

use api::engine::dispatch::{LocalRecheck, RecheckRequest};
use api::{ApiConfig, AppState};
use checker::guard::SsrfGuard;
use serde_json::{json, Value};
use sqlx::PgPool;
use statuspage_clickhouse::{Analytics, WriterConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const SECRET: &str = "recheck-test-secret-0123456789";
const REGIONS: [&str; 2] = ["rc-eu", "rc-us"];
/// The runner's period: a re-check answered within seconds cannot be a tick.
const TICK: Duration = Duration::from_secs(60);
/// A daily monitor: on one-minute ticks it is due in one tick out of 1,440.
const A_DAY: i64 = 86_400;

async fn shared_analytics() -> Analytics {
    let url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let analytics = Analytics::new(&url, &format!("test_{}", Uuid::new_v4().simple())).unwrap();
    analytics.migrate().await.unwrap();
    analytics
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// Verdict rows of `monitor`: `(region, checked_at µs)`, oldest first.
async fn verdicts(analytics: &Analytics, monitor: Uuid) -> Vec<(String, i64)> {
    analytics
        .client()
        .query(
            "SELECT region, checked_at FROM check_results \
             WHERE monitor_id = ? AND final_attempt ORDER BY checked_at",
        )
        .bind(monitor)
        .fetch_all()
        .await
        .unwrap()
}

fn count(rows: &[(String, i64)], region: &str) -> usize {
    rows.iter().filter(|r| r.0 == region).count()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_recheck_runs_in_the_other_region_at_once_not_at_the_next_tick(pool: PgPool) {
    let analytics = shared_analytics().await;
    let (dispatch, rechecks) = LocalRecheck::channel();
    let app = AppState::new(
        pool.clone(),
        analytics.clone(),
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: SECRET.into(),
            regions: REGIONS.iter().map(|r| r.to_string()).collect(),
            open_signup: true,
        },
    )
    .with_recheck(Arc::new(dispatch));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = web::server::router(app.clone(), "target/site", false, Some(addr.port()));
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let target =
        serve(axum::Router::new().route("/", axum::routing::get(|| async { "fine" }))).await;

    let http = reqwest::Client::new();
    let tenant: Value = http
        .post(format!("http://{addr}/api/v1/tenants"))
        .json(&json!({ "slug": "acme", "name": "Acme", "email": "owner@acme.example", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tenant["api_token"].as_str().expect("a tenant");
    let created: Value = http
        .post(format!("http://{addr}/api/v1/monitors"))
        .bearer_auth(token)
        .json(&json!({ "name": "Home", "type": "http", "url": format!("http://{target}/"), "interval_seconds": A_DAY }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let monitor: Uuid = created["id"].as_str().expect("a monitor").parse().unwrap();

    let runner = web::server::spawn_local_runner_with_rechecks(
        &app,
        addr,
        REGIONS.iter().map(|r| r.to_string()).collect(),
        TICK,
        SsrfGuard::new(SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap()),
        WriterConfig::default(),
        Some(rechecks),
    )
    .unwrap();
    // The first tick fires at start; whatever it ran (the daily monitor is rarely due) has
    // landed after this.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = verdicts(&analytics, monitor).await;

    let asked = Instant::now();
    let errors = app
        .recheck
        .recheck(vec![RecheckRequest {
            region: "rc-us".into(),
            monitor_ids: vec![monitor],
        }])
        .await;
    assert!(errors.is_empty(), "{errors:?}");
    let after = loop {
        let rows = verdicts(&analytics, monitor).await;
        if count(&rows, "rc-us") > count(&before, "rc-us") {
            break rows;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "no re-check verdict from rc-us within 5 s (the next tick is {} s away): {rows:?}",
            TICK.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = asked.elapsed();
    println!("re-check asked -> verdict stored: {} ms", took.as_millis());
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(
        count(&after, "rc-us"),
        count(&before, "rc-us") + 1,
        "one re-check, one verdict"
    );
    assert_eq!(
        count(&after, "rc-eu"),
        count(&before, "rc-eu"),
        "only the region asked re-checks"
    );
    // The result also comes through the fast path (a re-check reports every result), which
    // runs beside the store.
    let state = loop {
        let state: Option<String> = sqlx::query_scalar(
            "SELECT status FROM monitor_region_state WHERE monitor_id = $1 AND region = 'rc-us'",
        )
        .bind(monitor)
        .fetch_optional(&pool)
        .await
        .unwrap();
        if state.is_some() || asked.elapsed() > Duration::from_secs(5) {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(state.as_deref(), Some("up"));

    runner.abort();
    analytics.drop_database().await.unwrap();
}
