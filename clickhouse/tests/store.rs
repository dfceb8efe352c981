//! Against a real ClickHouse (`./dev test` starts one): migrations, idempotent inserts, queries.

use statuspage_clickhouse::{Analytics, CheckRow, STATUS_DEGRADED, STATUS_DOWN, STATUS_UP};
use uuid::Uuid;

async fn fresh_database() -> Analytics {
    let url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let name = format!("test_{}", Uuid::new_v4().simple());
    let analytics = Analytics::new(&url, &name).unwrap();
    analytics
        .migrate()
        .await
        .expect("migrations apply on a fresh database");
    analytics
}

fn row(
    tenant: Uuid,
    monitor: Uuid,
    region: &str,
    seconds_ago: i64,
    status: i8,
    total_us: u32,
) -> CheckRow {
    let at = chrono::Utc::now().timestamp_micros() - seconds_ago * 1_000_000;
    CheckRow::synthetic(tenant, monitor, region, at, status, total_us)
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let analytics = fresh_database().await;
    analytics.migrate().await.expect("second run is a no-op");
    let versions: Vec<u32> = analytics
        .client()
        .query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        versions,
        vec![1, 2, 3, 4, 5],
        "each migration recorded once"
    );
    analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_retried_batch_is_stored_once_and_rows_round_trip() {
    let analytics = fresh_database().await;
    let (tenant, monitor) = (Uuid::new_v4(), Uuid::new_v4());
    let rows = vec![
        row(tenant, monitor, "eu", 30, STATUS_UP, 1200),
        row(tenant, monitor, "us", 30, STATUS_DOWN, 800),
    ];
    analytics.insert_checks(&rows, "batch-1").await.unwrap();
    analytics.insert_checks(&rows, "batch-1").await.unwrap();
    let stored: Vec<CheckRow> = analytics
        .client()
        .query("SELECT ?fields FROM check_results ORDER BY region")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(stored, rows, "same rows back, once, despite the retry");
    analytics.insert_checks(&rows, "batch-2").await.unwrap();
    let count: u64 = analytics
        .client()
        .query("SELECT count() FROM check_results")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(count, 4, "a different batch token is a different batch");
    analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn uptime_and_latest_are_per_tenant_and_exact() {
    let analytics = fresh_database().await;
    let (tenant, other_tenant) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut rows = Vec::new();
    // Monitor a: 3 up, 1 degraded, 1 down in the window; one old row outside the 24h window.
    for (ago, status) in [
        (600, STATUS_UP),
        (500, STATUS_UP),
        (400, STATUS_DEGRADED),
        (300, STATUS_DOWN),
        (200, STATUS_UP),
    ] {
        rows.push(row(tenant, a, "eu", ago, status, 1000 + ago as u32));
    }
    rows.push(row(tenant, a, "eu", 2 * 86_400, STATUS_DOWN, 5));
    // Monitor b: newest check in "us" is down.
    rows.push(row(tenant, b, "us", 120, STATUS_UP, 700));
    rows.push(row(tenant, b, "us", 60, STATUS_DOWN, 900));
    // Another tenant's data must never show up.
    rows.push(row(other_tenant, Uuid::new_v4(), "eu", 60, STATUS_DOWN, 1));
    analytics.insert_checks(&rows, "seed").await.unwrap();

    let uptime = analytics.uptime(tenant, 86_400).await.unwrap();
    assert_eq!(uptime.len(), 2);
    let ua = uptime.iter().find(|u| u.monitor_id == a).unwrap();
    assert_eq!((ua.checks, ua.up, ua.degraded, ua.down), (5, 3, 1, 1));
    assert_eq!(ua.uptime_percent(), Some(80.0));
    let ub = uptime.iter().find(|u| u.monitor_id == b).unwrap();
    assert_eq!(ub.uptime_percent(), Some(50.0));

    let latest = analytics.latest_by_region(tenant, 86_400).await.unwrap();
    assert_eq!(latest.len(), 2);
    let la = latest.iter().find(|l| l.monitor_id == a).unwrap();
    assert_eq!(
        (la.status, la.total_us, la.region.as_str()),
        (STATUS_UP, 1200, "eu")
    );
    let lb = latest.iter().find(|l| l.monitor_id == b).unwrap();
    assert_eq!((lb.status, lb.total_us), (STATUS_DOWN, 900));

    assert!(
        analytics
            .uptime(Uuid::new_v4(), 86_400)
            .await
            .unwrap()
            .is_empty(),
        "no data, no uptime"
    );
    analytics.drop_database().await.unwrap();
}
