//! Analytics against a real ClickHouse (`./dev test` starts one): exact uptime on hand-built data
//! (window edges, maintenance exclusion, missing data), rollups equal to raw aggregation, daily
//! bars, latency, series, Apdex, the writer's deduplication and the configurable raw TTL.

use chrono::{DateTime, Duration, DurationRound, Utc};
use statuspage_clickhouse::{
    Analytics, BarStatus, CheckRow, Counts, Resolution, Source, TimeWindow, WriteOutcome, Writer,
    WriterConfig, STATUS_DEGRADED, STATUS_DOWN, STATUS_UP,
};
use uuid::Uuid;

async fn fresh_database() -> Analytics {
    let url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let name = format!("test_{}", Uuid::new_v4().simple());
    let analytics = Analytics::new(&url, &name).unwrap().with_raw_ttl_days(35);
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
    at: DateTime<Utc>,
    status: i8,
    total_us: u32,
) -> CheckRow {
    CheckRow::synthetic(
        tenant,
        monitor,
        region,
        at.timestamp_micros(),
        status,
        total_us,
    )
}

/// A deterministic status for the i-th check: mostly up, some degraded, some down.
fn status_of(i: i64) -> i8 {
    match i % 11 {
        3 | 7 => STATUS_DOWN,
        5 => STATUS_DEGRADED,
        _ => STATUS_UP,
    }
}

fn expected(
    rows: &[CheckRow],
    tenant: Uuid,
    monitor: Uuid,
    region: Option<&str>,
    window: TimeWindow,
    maintenance: &[TimeWindow],
) -> Counts {
    let mut c = Counts::default();
    let (a, b) = (
        window.start.timestamp_micros(),
        window.end.timestamp_micros(),
    );
    // One check per final attempt, at its scheduled time.
    for r in rows.iter().filter(|r| r.final_attempt) {
        let at = r.scheduled_at;
        let in_maintenance = maintenance
            .iter()
            .any(|m| at >= m.start.timestamp_micros() && at < m.end.timestamp_micros());
        if r.tenant_id != tenant
            || r.monitor_id != monitor
            || region.is_some_and(|reg| reg != r.region)
            || at < a
            || at >= b
            || in_maintenance
        {
            continue;
        }
        c.checks += 1;
        match r.status {
            STATUS_UP => c.up += 1,
            STATUS_DEGRADED => c.degraded += 1,
            _ => c.down += 1,
        }
    }
    c
}

struct Fixture {
    analytics: Analytics,
    tenant: Uuid,
    monitor: Uuid,
    quiet_monitor: Uuid,
    base: DateTime<Utc>,
    rows: Vec<CheckRow>,
}

/// Checks every 5 minutes from `base - 2h` to `base + 28h` in two regions (`base` is 30 whole
/// hours ago), plus one check of a quiet monitor and another tenant's data.
async fn fixture() -> Fixture {
    let analytics = fresh_database().await;
    let (tenant, monitor, quiet_monitor) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let base = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(30);
    let mut rows = Vec::new();
    for i in 0..(30 * 12) {
        let at = base - Duration::hours(2) + Duration::minutes(5 * i);
        rows.push(row(
            tenant,
            monitor,
            "eu-west-1",
            at,
            status_of(i),
            20_000 + (i as u32 % 17) * 9_000,
        ));
        rows.push(row(
            tenant,
            monitor,
            "us-east-1",
            at,
            status_of(i + 4),
            90_000 + (i as u32 % 13) * 30_000,
        ));
    }
    rows.push(row(
        tenant,
        quiet_monitor,
        "eu-west-1",
        base + Duration::minutes(61),
        STATUS_UP,
        5_000,
    ));
    let other = Uuid::new_v4();
    for i in 0..50 {
        rows.push(row(
            other,
            monitor,
            "eu-west-1",
            base + Duration::minutes(i),
            STATUS_DOWN,
            1,
        ));
    }
    // Two batches, like two checker runs.
    let (first, second) = rows.split_at(rows.len() / 2);
    analytics.insert_checks(first, "fixture-1").await.unwrap();
    analytics.insert_checks(second, "fixture-2").await.unwrap();
    Fixture {
        analytics,
        tenant,
        monitor,
        quiet_monitor,
        base,
        rows,
    }
}

#[tokio::test]
async fn uptime_is_exact_at_window_edges_with_maintenance_and_missing_data() {
    let f = fixture().await;
    let w = |from_min: i64, to_min: i64| {
        TimeWindow::new(
            f.base + Duration::minutes(from_min),
            f.base + Duration::minutes(to_min),
        )
        .unwrap()
    };
    let windows = [
        // Edges on checks: the start is included, the end excluded.
        w(10, 25 * 60 + 20),
        // Within one hour.
        w(62, 118),
        // Whole hours only.
        w(60, 5 * 60),
        // Across a UTC midnight somewhere in 26 hours, with odd edges.
        w(-119, 25 * 60 + 59),
    ];
    let maintenance_sets: [Vec<TimeWindow>; 3] = [
        vec![],
        vec![
            w(3 * 60 + 7, 5 * 60 + 2),
            w(20 * 60, 21 * 60),
            w(20 * 60 + 30, 22 * 60 + 1),
        ],
        // Maintenance covering a whole window.
        vec![w(-200, 27 * 60)],
    ];
    for maintenance in &maintenance_sets {
        for source in [Source::Rollups, Source::Raw] {
            let got = f
                .analytics
                .uptime_windows(f.tenant, &windows, maintenance, source)
                .await
                .unwrap();
            assert_eq!(got.len(), windows.len());
            for (window, monitors) in windows.iter().zip(&got) {
                let want = expected(&f.rows, f.tenant, f.monitor, None, *window, maintenance);
                let m = monitors.iter().find(|m| m.monitor_id == f.monitor);
                if want.checks == 0 {
                    assert!(m.is_none(), "no checks, no entry ({source:?})");
                    continue;
                }
                let m = m.unwrap();
                assert_eq!(m.overall, want, "{source:?} {window:?} {maintenance:?}");
                for region in ["eu-west-1", "us-east-1"] {
                    let want = expected(
                        &f.rows,
                        f.tenant,
                        f.monitor,
                        Some(region),
                        *window,
                        maintenance,
                    );
                    let got = m
                        .regions
                        .iter()
                        .find(|r| r.region == region)
                        .map(|r| r.counts)
                        .unwrap_or_default();
                    assert_eq!(got, want, "{region} {source:?} {window:?}");
                }
                // The quiet monitor has one check at base+61min.
                let quiet = monitors.iter().find(|m| m.monitor_id == f.quiet_monitor);
                let want = expected(
                    &f.rows,
                    f.tenant,
                    f.quiet_monitor,
                    None,
                    *window,
                    maintenance,
                );
                assert_eq!(quiet.map(|q| q.overall).unwrap_or_default(), want);
            }
        }
    }
    // Hand-checked figure: [10 min, 25h20m) at 5-minute steps is (1520 - 10) / 5 = 302 checks
    // per region.
    let report = f
        .analytics
        .uptime_report(f.tenant, windows[0], &[], Source::Rollups)
        .await
        .unwrap();
    assert_eq!(report.len(), 2);
    let m = report.iter().find(|m| m.monitor_id == f.monitor).unwrap();
    assert_eq!(m.overall.checks, 2 * 302);
    let pct = m.overall.uptime_percent().unwrap();
    assert!(pct > 70.0 && pct < 90.0, "{pct}");
    // Another tenant sees nothing of ours, and a tenant without data gets no uptime.
    assert!(f
        .analytics
        .uptime_report(Uuid::new_v4(), windows[0], &[], Source::Rollups)
        .await
        .unwrap()
        .is_empty());
    f.analytics.drop_database().await.unwrap();
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
#[allow(dead_code)] // compared through Debug
struct Agg {
    checks: u64,
    down: u64,
    total_sum: u64,
    total: Vec<f64>,
    ttfb: Vec<f64>,
    b: u64,
}

#[tokio::test]
async fn rollups_equal_raw_aggregation() {
    let f = fixture().await;
    let client = f.analytics.client();
    // Hourly and daily rollups hold exactly the raw counts and latency quantiles.
    for (table, bucket) in [
        ("check_rollup_hourly", "toStartOfHour(checked_at)"),
        ("check_rollup_daily", "toStartOfDay(checked_at)"),
    ] {
        let q = "quantilesBFloat16If(0.5, 0.75, 0.9, 0.95, 0.99)";
        let rollup: Vec<Agg> = client
            .query(&format!(
                "SELECT sum(checks) AS checks, sum(down) AS down, sum(total_us_sum) AS total_sum, \
                 quantilesBFloat16Merge(0.5, 0.75, 0.9, 0.95, 0.99)(total_q) AS total, \
                 quantilesBFloat16Merge(0.5, 0.75, 0.9, 0.95, 0.99)(ttfb_q) AS ttfb, \
                 toUInt64(bucket) AS b \
                 FROM {table} GROUP BY tenant_id, monitor_id, region, bucket \
                 ORDER BY tenant_id, monitor_id, region, bucket"
            ))
            .fetch_all()
            .await
            .unwrap();
        let raw: Vec<Agg> = client
            .query(&format!(
                "SELECT count() AS checks, countIf(status = 'down') AS down, \
                 sumIf(toUInt64(total_us), status != 'down') AS total_sum, \
                 {q}(total_us, status != 'down') AS total, {q}(ttfb_us, status != 'down') AS ttfb, \
                 toUInt64(toDateTime({bucket})) AS b \
                 FROM check_results GROUP BY tenant_id, monitor_id, region, b \
                 ORDER BY tenant_id, monitor_id, region, b"
            ))
            .fetch_all()
            .await
            .unwrap();
        assert!(rollup.len() > 2);
        // NaN (no latency sample in a bucket) never equals itself; compare as strings.
        assert_eq!(format!("{rollup:?}"), format!("{raw:?}"), "{table}");
    }
    // The public queries agree between the two sources, over windows with partial hours.
    let window = TimeWindow::new(
        f.base + Duration::minutes(7),
        f.base + Duration::hours(26) + Duration::minutes(33),
    )
    .unwrap();
    let from_rollups = f
        .analytics
        .latency(f.tenant, window, Source::Rollups)
        .await
        .unwrap();
    let from_raw = f
        .analytics
        .latency(f.tenant, window, Source::Raw)
        .await
        .unwrap();
    assert_eq!(from_rollups.len(), 3, "two regions + the quiet monitor");
    assert_eq!(from_rollups, from_raw);
    let eu = from_rollups
        .iter()
        .find(|l| l.monitor_id == f.monitor && l.region == "eu-west-1")
        .unwrap();
    let phases = eu.phases.unwrap();
    assert!(phases.total.p50 <= phases.total.p95 && phases.total.p95 <= phases.total.p99);
    assert!(phases.ttfb.p50 < phases.total.p50);
    assert_eq!(
        eu.counts,
        expected(&f.rows, f.tenant, f.monitor, Some("eu-west-1"), window, &[])
    );
    assert_eq!(eu.samples, eu.counts.checks - eu.counts.down);

    // The status page's set is the same from the rollups as from raw rows.
    let now = Utc::now();
    let monitors = [f.monitor, f.quiet_monitor];
    let page = f
        .analytics
        .status_page_analytics(f.tenant, &monitors, now, &[], Source::Rollups)
        .await
        .unwrap();
    let reference = f
        .analytics
        .status_page_analytics(f.tenant, &monitors, now, &[], Source::Raw)
        .await
        .unwrap();
    assert_eq!(page, reference);
    assert_eq!(page.bars.len(), 2);
    assert_eq!(page.uptime.len(), 4);
    let week = &page.uptime[1].1;
    let m = week.iter().find(|m| m.monitor_id == f.monitor).unwrap();
    assert_eq!(
        m.overall.checks,
        2 * 30 * 12,
        "all of the fixture is within 7 days"
    );
    assert!(page.latency_24h.iter().all(|l| l.phases.is_none()));
    f.analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn daily_bars_mark_days_without_data() {
    let analytics = fresh_database().await;
    let (tenant, monitor, silent) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let now = Utc::now();
    let today = now.duration_trunc(Duration::days(1)).unwrap();
    let mut rows = Vec::new();
    // Today: up only, one minute ago. Two days ago: one degraded. Five days ago: a down.
    rows.push(row(
        tenant,
        monitor,
        "eu",
        now - Duration::seconds(60),
        STATUS_UP,
        100,
    ));
    for (days_ago, status) in [
        (2, STATUS_UP),
        (2, STATUS_DEGRADED),
        (5, STATUS_DOWN),
        (5, STATUS_UP),
    ] {
        rows.push(row(
            tenant,
            monitor,
            "us",
            today - Duration::days(days_ago) + Duration::hours(3),
            status,
            100,
        ));
    }
    analytics.insert_checks(&rows, "bars").await.unwrap();
    for source in [Source::Rollups, Source::Raw] {
        let bars = analytics
            .daily_bars(tenant, &[monitor, silent], 90, now, &[], source)
            .await
            .unwrap();
        assert_eq!(bars.len(), 2);
        let days = &bars[0].days;
        assert_eq!(days.len(), 90);
        assert_eq!(days[89].day, today.date_naive());
        assert_eq!(days[89].status, BarStatus::Up);
        assert_eq!(days[89].uptime_percent(), Some(100.0));
        assert_eq!(days[88].status, BarStatus::NoData, "yesterday: no data");
        assert_eq!(days[88].uptime_percent(), None, "never a made-up 100%");
        assert_eq!(days[87].status, BarStatus::Degraded);
        assert_eq!(days[87].uptime_percent(), Some(100.0));
        assert_eq!(days[84].status, BarStatus::Down);
        assert_eq!(days[84].uptime_percent(), Some(50.0));
        assert_eq!(
            days.iter()
                .filter(|d| d.status == BarStatus::NoData)
                .count(),
            87
        );
        assert!(bars[1]
            .days
            .iter()
            .all(|d| d.status == BarStatus::NoData && d.counts.checks == 0));
    }
    // Maintenance over both checks of five days ago leaves that day without data.
    let five = today - Duration::days(5);
    let maintenance =
        [TimeWindow::new(five + Duration::hours(2), five + Duration::hours(4)).unwrap()];
    let bars = analytics
        .daily_bars(tenant, &[], 90, now, &maintenance, Source::Rollups)
        .await
        .unwrap();
    assert_eq!(bars.len(), 1, "only monitors with data when none are named");
    assert_eq!(bars[0].days[84].status, BarStatus::NoData);
    analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn series_and_apdex_agree_between_sources() {
    let f = fixture().await;
    let now = Utc::now();
    let day = TimeWindow::new(f.base, f.base + Duration::hours(24)).unwrap();
    assert_eq!(
        Resolution::for_window(&day, now, 35),
        Resolution::Hour,
        "a day is drawn per hour"
    );
    let hourly = f
        .analytics
        .series(f.tenant, f.monitor, day, None)
        .await
        .unwrap();
    assert_eq!(hourly.resolution, Resolution::Hour);
    assert_eq!(hourly.points.len(), 2 * 24);
    let raw = f
        .analytics
        .series(f.tenant, f.monitor, day, Some(Resolution::Raw))
        .await
        .unwrap();
    assert_eq!(raw.points.len(), 2 * 24 * 12, "one point per check minute");
    let sum = |points: &[statuspage_clickhouse::SeriesPoint]| {
        points.iter().fold(Counts::default(), |mut c, p| {
            c.checks += p.counts.checks;
            c.down += p.counts.down;
            c
        })
    };
    assert_eq!(sum(&hourly.points), sum(&raw.points));
    let want = expected(&f.rows, f.tenant, f.monitor, None, day, &[]);
    assert_eq!(sum(&hourly.points).checks, want.checks);

    // Apdex with T = 100 ms: rollup bins give the exact raw answer.
    let window =
        TimeWindow::new(f.base + Duration::hours(13), f.base + Duration::hours(26)).unwrap();
    let a = f
        .analytics
        .apdex(f.tenant, f.monitor, 100, window, &[], Source::Rollups)
        .await
        .unwrap();
    let b = f
        .analytics
        .apdex(f.tenant, f.monitor, 100, window, &[], Source::Raw)
        .await
        .unwrap();
    assert_eq!(a, b);
    let (mut satisfied, mut tolerating, mut checks) = (0, 0, 0);
    for r in f.rows.iter().filter(|r| {
        r.tenant_id == f.tenant
            && r.monitor_id == f.monitor
            && r.checked_at >= window.start.timestamp_micros()
            && r.checked_at < window.end.timestamp_micros()
    }) {
        checks += 1;
        if r.status != STATUS_DOWN && r.total_us <= 100_000 {
            satisfied += 1;
        } else if r.status != STATUS_DOWN && r.total_us <= 400_000 {
            tolerating += 1;
        }
    }
    assert_eq!(
        (a.current.checks, a.current.satisfied, a.current.tolerating),
        (checks, satisfied, tolerating)
    );
    assert!(a.previous.checks > 0);
    assert!(f
        .analytics
        .apdex(f.tenant, f.monitor, 105, window, &[], Source::Rollups)
        .await
        .is_err());
    f.analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn the_writer_stores_a_retried_batch_once_in_raw_and_rollups() {
    let analytics = fresh_database().await;
    let writer = Writer::new(
        analytics.clone(),
        WriterConfig {
            max_batch_rows: 3,
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let (tenant, monitor) = (Uuid::new_v4(), Uuid::new_v4());
    let now = Utc::now();
    let rows: Vec<CheckRow> = (0..7)
        .map(|i| {
            row(
                tenant,
                monitor,
                "eu",
                now - Duration::minutes(i),
                STATUS_UP,
                1_000,
            )
        })
        .collect();
    assert_eq!(
        writer.write(&rows, "run-1").await.unwrap(),
        WriteOutcome::Stored
    );
    assert_eq!(
        writer.write(&rows, "run-1").await.unwrap(),
        WriteOutcome::Stored
    );
    let counts: (u64, u64, u64) = analytics
        .client()
        .query(
            "SELECT toUInt64(ifNull((SELECT count() FROM check_results), 0)), \
                    toUInt64(ifNull((SELECT sum(checks) FROM check_rollup_hourly), 0)), \
                    toUInt64(ifNull((SELECT sum(checks) FROM check_rollup_daily), 0))",
        )
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        counts,
        (7, 7, 7),
        "a retried batch counts once, rollups too"
    );
    analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn migrations_record_versions_and_apply_the_raw_ttl() {
    let analytics = fresh_database().await;
    let versions: Vec<u32> = analytics
        .client()
        .query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);
    let longer = analytics.clone().with_raw_ttl_days(120);
    longer.migrate().await.unwrap();
    longer.migrate().await.unwrap();
    let engine: String = analytics
        .client()
        .query("SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'check_results'")
        .fetch_one()
        .await
        .unwrap();
    assert!(engine.contains("toIntervalDay(120)"), "{engine}");
    let versions: u64 = analytics
        .client()
        .query("SELECT count() FROM schema_migrations")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(versions, 5, "each migration recorded once");
    analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn upgrading_a_database_backfills_the_rollups_from_raw_rows() {
    let url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let name = format!("test_{}", Uuid::new_v4().simple());
    let analytics = Analytics::new(&url, &name).unwrap();
    // A database from before the rollups: migration 1 only, with data.
    let server = clickhouse::Client::default().with_url(&url);
    server
        .query(&format!("CREATE DATABASE {name}"))
        .execute()
        .await
        .unwrap();
    let client = analytics.client();
    client
        .query(include_str!("../migrations/0001_check_results.sql").trim_end_matches([';', '\n']))
        .execute()
        .await
        .unwrap();
    client
        .query(
            "CREATE TABLE schema_migrations (version UInt32, name String, \
             applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version",
        )
        .execute()
        .await
        .unwrap();
    client
        .query("INSERT INTO schema_migrations (version, name) VALUES (1, 'check_results')")
        .execute()
        .await
        .unwrap();
    let (tenant, monitor) = (Uuid::new_v4(), Uuid::new_v4());
    let now = Utc::now();
    let old: Vec<CheckRow> = (0..30)
        .map(|i| {
            row(
                tenant,
                monitor,
                "eu",
                now - Duration::minutes(7 * i),
                status_of(i),
                1_000,
            )
        })
        .collect();
    insert_legacy(&analytics, &old, "before-upgrade").await;

    analytics.migrate().await.unwrap();
    analytics.migrate().await.unwrap();
    let new: Vec<CheckRow> = (0..5)
        .map(|i| {
            row(
                tenant,
                monitor,
                "us",
                now - Duration::minutes(i),
                STATUS_UP,
                1_000,
            )
        })
        .collect();
    analytics
        .insert_checks(&new, "after-upgrade")
        .await
        .unwrap();
    let window = TimeWindow::last_days(now + Duration::minutes(1), 7);
    let all = old.iter().chain(&new).cloned().collect::<Vec<_>>();
    for source in [Source::Rollups, Source::Raw] {
        let report = analytics
            .uptime_report(tenant, window, &[], source)
            .await
            .unwrap();
        assert_eq!(
            report[0].overall,
            expected(&all, tenant, monitor, None, window, &[]),
            "{source:?}"
        );
    }
    let daily: u64 = client
        .query("SELECT toUInt64(sum(checks)) FROM check_rollup_daily")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(daily, 35, "backfilled once, then fed by the view");
    analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn the_status_page_summary_adds_up_to_the_rollups_and_raw_rows() {
    let f = fixture().await;
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    // Older checks on both sides of each window's start (7, 30 and 90 days before the hour),
    // and after the summary's `until` (the previous hour), for a monitor only seen there.
    let mut rows = Vec::new();
    for (i, days) in [3i64, 7, 8, 29, 30, 31, 60, 89, 90, 91].iter().enumerate() {
        for (j, minutes) in [-30i64, 30, 150].iter().enumerate() {
            let at = hour - Duration::days(*days) + Duration::minutes(*minutes);
            let k = (i * 3 + j) as i64;
            rows.push(row(
                f.tenant,
                f.monitor,
                "eu-west-1",
                at,
                status_of(k),
                40_000,
            ));
        }
    }
    let late_monitor = Uuid::new_v4();
    for at in [
        hour - Duration::minutes(50),
        Utc::now() - Duration::seconds(1),
    ] {
        rows.push(row(
            f.tenant,
            late_monitor,
            "ap-south-1",
            at,
            STATUS_DOWN,
            1,
        ));
        rows.push(row(
            f.tenant,
            f.monitor,
            "us-east-1",
            at,
            STATUS_DEGRADED,
            70_000,
        ));
    }
    f.analytics
        .insert_checks(&rows, "older-and-live")
        .await
        .unwrap();
    let mut all = f.rows.clone();
    all.extend(rows);

    f.analytics.refresh_status_page_summary().await.unwrap();
    let now = Utc::now();
    let page = f
        .analytics
        .status_page(f.tenant, &[], now, &[])
        .await
        .unwrap();
    let until = page.summary_until.expect("answered from the summary");
    assert!(until <= hour - Duration::hours(1) && until >= hour - Duration::hours(2));

    // Uptime windows: exactly the checks from the window's start up to now, by hand and as the
    // rollups answer the same windows.
    let windows: Vec<TimeWindow> = statuspage_clickhouse::STATUS_PAGE_WINDOWS
        .iter()
        .map(|(_, days)| {
            TimeWindow::new(
                page.window_start(*days),
                TimeWindow::status_page(now, *days).end,
            )
            .unwrap()
        })
        .collect();
    let reference = f
        .analytics
        .uptime_windows(f.tenant, &windows, &[], Source::Rollups)
        .await
        .unwrap();
    for (i, ((label, uptime), window)) in page.uptime.iter().zip(&windows).enumerate() {
        assert_eq!(uptime, &reference[i], "{label}");
        for region in ["eu-west-1", "us-east-1"] {
            let m = uptime.iter().find(|m| m.monitor_id == f.monitor).unwrap();
            let counts = m
                .regions
                .iter()
                .find(|r| r.region == region)
                .unwrap()
                .counts;
            let by_hand = expected(&all, f.tenant, f.monitor, Some(region), *window, &[]);
            assert_eq!(counts, by_hand, "{label} {region}");
        }
        let late = uptime
            .iter()
            .find(|m| m.monitor_id == late_monitor)
            .unwrap();
        assert_eq!(late.overall.checks, 2, "{label}: the live rows count");
        assert_eq!(late.overall.down, 2);
    }
    let checks = |i: usize| {
        let m = page.uptime[i].1.iter().find(|m| m.monitor_id == f.monitor);
        m.unwrap().overall.checks
    };
    assert!(checks(3) > checks(2) && checks(2) > checks(1) && checks(1) > checks(0));

    // Bars: as the rollups give them, today's including the live rows.
    let bars = f
        .analytics
        .daily_bars(f.tenant, &[], 90, now, &[], Source::Rollups)
        .await
        .unwrap();
    assert_eq!(page.bars, bars);
    assert!(page.bars.iter().any(|b| b.monitor_id == late_monitor));
    let named = f
        .analytics
        .status_page(f.tenant, &[late_monitor, f.quiet_monitor], now, &[])
        .await
        .unwrap();
    assert_eq!(named.bars.len(), 2);
    assert_eq!(named.bars[0].monitor_id, late_monitor);
    assert_eq!(named.bars[0].days[89].status, BarStatus::Down);

    // Latency: the 24 whole hours before `until`, as raw rows give them.
    assert_eq!(page.latency_until, until);
    assert_eq!(page.latency_since, until - Duration::days(1));
    let latency = f
        .analytics
        .latency_total(
            f.tenant,
            TimeWindow::new(page.latency_since, page.latency_until).unwrap(),
            Source::Raw,
        )
        .await
        .unwrap();
    assert!(!latency.is_empty());
    assert_eq!(page.latency_24h, latency);

    // Another tenant sees its own checks only.
    let other = f.rows.last().unwrap().tenant_id;
    let theirs = f.analytics.status_page(other, &[], now, &[]).await.unwrap();
    assert_eq!(theirs.summary_until, Some(until));
    let week = &theirs.uptime[1].1;
    assert_eq!(week.len(), 1);
    assert_eq!(week[0].overall.checks, 50);
    assert_eq!(week[0].overall.down, 50);
    assert!(theirs.bars.iter().all(|b| b.monitor_id == f.monitor));

    // Maintenance to leave out: computed from the rollups on the spot, and exact.
    let maintenance = [TimeWindow::new(
        f.base + Duration::hours(3),
        f.base + Duration::hours(5) + Duration::minutes(10),
    )
    .unwrap()];
    let excluded = f
        .analytics
        .status_page(f.tenant, &[], now, &maintenance)
        .await
        .unwrap();
    assert_eq!(excluded.summary_until, None);
    let week = TimeWindow::status_page(now, 7);
    let m = excluded.uptime[1]
        .1
        .iter()
        .find(|m| m.monitor_id == f.monitor)
        .unwrap();
    let eu = m.regions.iter().find(|r| r.region == "eu-west-1").unwrap();
    assert_eq!(
        eu.counts,
        expected(
            &all,
            f.tenant,
            f.monitor,
            Some("eu-west-1"),
            week,
            &maintenance
        )
    );
    f.analytics.drop_database().await.unwrap();
}

/// A row as checkers wrote it before `scheduled_at` and `final_attempt` existed.
#[derive(clickhouse::Row, serde::Serialize)]
struct LegacyRow {
    #[serde(with = "clickhouse::serde::uuid")]
    tenant_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: Uuid,
    region: String,
    checked_at: i64,
    #[serde(with = "clickhouse::serde::uuid")]
    run_id: Uuid,
    attempt: u8,
    status: i8,
    status_code: u16,
    dns_us: u32,
    tcp_connect_us: u32,
    tls_handshake_us: u32,
    ttfb_us: u32,
    transfer_us: u32,
    total_us: u32,
    resolved_ip: String,
    http_version: String,
    tls_version: String,
    tls_cipher: String,
    cert_expires_at: Option<u32>,
    response_bytes: u64,
    redirects: u8,
    cold_start: bool,
    error: String,
}

/// Inserts `rows` the way an older checker did: every attempt, none marked, no scheduled time.
async fn insert_legacy(analytics: &Analytics, rows: &[CheckRow], token: &str) {
    let mut insert = analytics
        .client()
        .insert::<LegacyRow>("check_results")
        .await
        .unwrap()
        .with_setting("insert_deduplication_token", token)
        .with_setting("insert_deduplicate", "1");
    for r in rows {
        let r = r.clone();
        insert
            .write(&LegacyRow {
                tenant_id: r.tenant_id,
                monitor_id: r.monitor_id,
                region: r.region,
                checked_at: r.checked_at,
                run_id: r.run_id,
                attempt: r.attempt,
                status: r.status,
                status_code: r.status_code,
                dns_us: r.dns_us,
                tcp_connect_us: r.tcp_connect_us,
                tls_handshake_us: r.tls_handshake_us,
                ttfb_us: r.ttfb_us,
                transfer_us: r.transfer_us,
                total_us: r.total_us,
                resolved_ip: r.resolved_ip,
                http_version: r.http_version,
                tls_version: r.tls_version,
                tls_cipher: r.tls_cipher,
                cert_expires_at: r.cert_expires_at,
                response_bytes: r.response_bytes,
                redirects: r.redirects,
                cold_start: r.cold_start,
                error: r.error,
            })
            .await
            .unwrap();
    }
    insert.end().await.unwrap();
}

/// One check scheduled at `at` with attempts `(seconds after at, status)`, the last one final.
fn check(
    tenant: Uuid,
    monitor: Uuid,
    region: &str,
    at: DateTime<Utc>,
    attempts: &[(i64, i8)],
) -> Vec<CheckRow> {
    let attempts: Vec<(i64, i8, u32)> = attempts
        .iter()
        .map(|&(secs, status)| (secs * 1_000_000, status, 30_000 + secs as u32 * 1_000))
        .collect();
    CheckRow::synthetic_check(tenant, monitor, region, at.timestamp_micros(), &attempts)
}

fn counts(checks: u64, up: u64, degraded: u64, down: u64) -> Counts {
    Counts {
        checks,
        up,
        degraded,
        down,
    }
}

/// `(bucket as epoch seconds, checks, up, down)` of one monitor's final attempts by scheduled
/// time, in buckets of `unit` seconds: what a rollup must hold.
fn buckets_by_hand(rows: &[CheckRow], monitor: Uuid, unit: i64) -> Vec<(u32, u64, u64, u64)> {
    let mut buckets = std::collections::BTreeMap::<u32, (u64, u64, u64)>::new();
    for r in rows
        .iter()
        .filter(|r| r.monitor_id == monitor && r.final_attempt)
    {
        let secs = r.scheduled_at.div_euclid(1_000_000);
        let b = buckets
            .entry((secs - secs.rem_euclid(unit)) as u32)
            .or_default();
        b.0 += 1;
        b.1 += u64::from(r.status == STATUS_UP);
        b.2 += u64::from(r.status == STATUS_DOWN);
    }
    buckets
        .into_iter()
        .map(|(k, (c, u, d))| (k, c, u, d))
        .collect()
}

/// `(bucket as epoch seconds, checks, up, down)` of one monitor in a rollup table.
async fn rollup_buckets(
    analytics: &Analytics,
    table: &str,
    monitor: Uuid,
) -> Vec<(u32, u64, u64, u64)> {
    analytics
        .client()
        .query(&format!(
            "SELECT toUInt32(bucket), toUInt64(sum(checks)), toUInt64(sum(up)), toUInt64(sum(down)) \
             FROM {table} WHERE monitor_id = ? GROUP BY bucket ORDER BY bucket"
        ))
        .bind(monitor)
        .fetch_all()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_check_that_passes_on_retry_counts_once_as_up() {
    let analytics = fresh_database().await;
    let (tenant, flaky, dead) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let now = Utc::now();
    let at = now - Duration::minutes(10);
    // Fails once, passes on the retry; and one that stays down through both retries.
    let mut rows = check(tenant, flaky, "eu", at, &[(0, STATUS_DOWN), (2, STATUS_UP)]);
    rows.extend(check(
        tenant,
        dead,
        "eu",
        at,
        &[(0, STATUS_DOWN), (2, STATUS_DOWN), (4, STATUS_DOWN)],
    ));
    analytics.insert_checks(&rows, "retries").await.unwrap();

    let window = TimeWindow::last_hours(now + Duration::minutes(1), 24);
    for source in [Source::Rollups, Source::Raw] {
        let report = analytics
            .uptime_report(tenant, window, &[], source)
            .await
            .unwrap();
        let of = |m: Uuid| report.iter().find(|u| u.monitor_id == m).unwrap().overall;
        assert_eq!(of(flaky), counts(1, 1, 0, 0), "{source:?}");
        assert_eq!(of(flaky).uptime_percent(), Some(100.0), "not 50%");
        assert_eq!(
            of(dead),
            counts(1, 0, 0, 1),
            "{source:?}: one down check, not three"
        );

        let latency = analytics.latency(tenant, window, source).await.unwrap();
        let l = latency.iter().find(|l| l.monitor_id == flaky).unwrap();
        assert_eq!(
            (l.samples, l.mean_total_us),
            (1, Some(32_000.0)),
            "the verdict's latency"
        );

        let bars = analytics
            .daily_bars(tenant, &[flaky], 90, now, &[], source)
            .await
            .unwrap();
        let today = bars[0]
            .days
            .iter()
            .rev()
            .find(|d| d.counts.checks > 0)
            .unwrap();
        assert_eq!(
            (today.status, today.counts),
            (BarStatus::Up, counts(1, 1, 0, 0))
        );

        let apdex = analytics
            .apdex(tenant, flaky, 100, window, &[], source)
            .await
            .unwrap();
        assert_eq!((apdex.current.checks, apdex.current.satisfied), (1, 1));
    }
    let series = analytics
        .series(tenant, flaky, window, Some(Resolution::Raw))
        .await
        .unwrap();
    assert_eq!(series.points.len(), 1);
    assert_eq!(series.points[0].counts, counts(1, 1, 0, 0));

    // Every attempt is kept for analysis; one of each check is its verdict.
    let (attempts, finals): (u64, u64) = analytics
        .client()
        .query("SELECT count(), countIf(final_attempt) FROM check_results")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!((attempts, finals), (5, 2));
    let latest = analytics.latest_by_region(tenant, 3_600).await.unwrap();
    let l = latest.iter().find(|l| l.monitor_id == flaky).unwrap();
    assert_eq!((l.status, l.total_us), (STATUS_UP, 32_000));

    // The status page (its live part) agrees.
    analytics.refresh_status_page_summary().await.unwrap();
    let page = analytics.status_page(tenant, &[], now, &[]).await.unwrap();
    assert!(page.summary_until.is_some());
    let day = &page.uptime[0].1;
    let m = day.iter().find(|m| m.monitor_id == flaky).unwrap();
    assert_eq!(m.overall, counts(1, 1, 0, 0));
    analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn retries_across_hour_day_and_window_edges_count_once_in_their_scheduled_bucket() {
    let analytics = fresh_database().await;
    let tenant = Uuid::new_v4();
    let [by_hour, by_day, by_24h, by_7d, by_edges] = [(); 5].map(|_| Uuid::new_v4());
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let second = Duration::seconds(1);
    let (down, up) = (STATUS_DOWN, STATUS_UP);
    let mut rows = Vec::new();
    // Scheduled a second before an hour edge, passing on the retry after it.
    let hour_edge = hour - Duration::hours(5);
    rows.extend(check(
        tenant,
        by_hour,
        "eu",
        hour_edge - second,
        &[(0, down), (20, up)],
    ));
    // The same at a UTC midnight, with two retries.
    let midnight = (hour - Duration::days(3))
        .duration_trunc(Duration::days(1))
        .unwrap();
    rows.extend(check(
        tenant,
        by_day,
        "eu",
        midnight - second,
        &[(0, down), (15, down), (30, up)],
    ));
    // Just before the start of the status page's 24 h and 7 d windows.
    rows.extend(check(
        tenant,
        by_24h,
        "eu",
        hour - Duration::days(1) - second,
        &[(0, down), (10, up)],
    ));
    rows.extend(check(
        tenant,
        by_7d,
        "eu",
        hour - Duration::days(7) - second,
        &[(0, down), (10, down), (20, up)],
    ));
    // A window with partial hours at both ends (raw rows there): a check scheduled just before its
    // start (retry inside), one just before its end (retry after it), one well inside.
    let w = TimeWindow::new(
        hour - Duration::hours(20) + Duration::minutes(10),
        hour - Duration::hours(2) + Duration::minutes(20),
    )
    .unwrap();
    rows.extend(check(
        tenant,
        by_edges,
        "eu",
        w.start - second,
        &[(0, down), (30, up)],
    ));
    rows.extend(check(
        tenant,
        by_edges,
        "eu",
        w.end - second,
        &[(0, down), (30, up)],
    ));
    rows.extend(check(
        tenant,
        by_edges,
        "eu",
        w.start + Duration::minutes(1),
        &[(0, up)],
    ));
    analytics.insert_checks(&rows, "edges").await.unwrap();

    // Rollup buckets: the scheduled hour / day only, once, with the verdict.
    let secs = |t: DateTime<Utc>| t.timestamp() as u32;
    assert_eq!(
        rollup_buckets(&analytics, "check_rollup_hourly", by_hour).await,
        vec![(secs(hour_edge - Duration::hours(1)), 1, 1, 0)]
    );
    assert_eq!(
        rollup_buckets(&analytics, "check_rollup_daily", by_day).await,
        vec![(secs(midnight - Duration::days(1)), 1, 1, 0)]
    );
    assert_eq!(
        rollup_buckets(&analytics, "check_rollup_hourly", by_day).await,
        vec![(secs(midnight - Duration::hours(1)), 1, 1, 0)]
    );

    // The partial-hour window: by hand, from the rollups with raw edges, from raw rows only.
    for source in [Source::Rollups, Source::Raw] {
        let got = analytics
            .uptime_report(tenant, w, &[], source)
            .await
            .unwrap();
        let m = got.iter().find(|m| m.monitor_id == by_edges).unwrap();
        assert_eq!(m.overall, counts(2, 2, 0, 0), "{source:?}");
        assert_eq!(m.overall, expected(&rows, tenant, by_edges, None, w, &[]));
        let hourly = got.iter().find(|m| m.monitor_id == by_hour).unwrap();
        assert_eq!(hourly.overall, counts(1, 1, 0, 0), "{source:?}");
        let bars = analytics
            .daily_bars(tenant, &[by_day], 90, Utc::now(), &[], source)
            .await
            .unwrap();
        let days = &bars[0].days;
        let i = days
            .iter()
            .position(|d| d.day == midnight.date_naive())
            .unwrap();
        assert_eq!(
            (days[i - 1].status, days[i - 1].counts),
            (BarStatus::Up, counts(1, 1, 0, 0))
        );
        assert_eq!(
            days[i].status,
            BarStatus::NoData,
            "{source:?}: the retries' day"
        );
    }

    // The status page: from the summary, from the rollups on the spot and from raw rows.
    analytics.refresh_status_page_summary().await.unwrap();
    let now = Utc::now();
    let summary = analytics.status_page(tenant, &[], now, &[]).await.unwrap();
    assert!(summary.summary_until.is_some());
    let spot = analytics
        .status_page_analytics(tenant, &[], now, &[], Source::Rollups)
        .await
        .unwrap();
    let raw = analytics
        .status_page_analytics(tenant, &[], now, &[], Source::Raw)
        .await
        .unwrap();
    assert_eq!(summary.uptime, spot.uptime);
    assert_eq!(spot.uptime, raw.uptime);
    assert_eq!(summary.bars, spot.bars);
    assert_eq!(spot.bars, raw.bars);
    let checks_of = |label: &str, monitor: Uuid| {
        let (_, monitors) = summary.uptime.iter().find(|(l, _)| l == label).unwrap();
        monitors
            .iter()
            .find(|m| m.monitor_id == monitor)
            .map(|m| m.overall)
    };
    assert_eq!(
        checks_of("24h", by_24h),
        None,
        "scheduled before the 24 h window"
    );
    assert_eq!(checks_of("7d", by_24h), Some(counts(1, 1, 0, 0)));
    assert_eq!(
        checks_of("7d", by_7d),
        None,
        "scheduled before the 7 d window"
    );
    assert_eq!(checks_of("30d", by_7d), Some(counts(1, 1, 0, 0)));
    assert_eq!(checks_of("24h", by_hour), Some(counts(1, 1, 0, 0)));
    assert_eq!(checks_of("7d", by_day), Some(counts(1, 1, 0, 0)));

    // Every attempt is still there.
    let stored: u64 = analytics
        .client()
        .query("SELECT count() FROM check_results")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored, rows.len() as u64);
    assert_eq!(rows.len(), 15);
    analytics.drop_database().await.unwrap();
}

#[tokio::test]
async fn the_migration_counts_stored_attempts_once_and_rederives_the_rollups() {
    let url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let name = format!("test_{}", Uuid::new_v4().simple());
    let analytics = Analytics::new(&url, &name).unwrap().with_raw_ttl_days(35);
    // The database as the previous release left it, with data written by its checkers.
    analytics.migrate_to(3).await.unwrap();
    let (tenant, flaky, midnight_flaky, oldest) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let (down, up) = (STATUS_DOWN, STATUS_UP);
    let mut old = Vec::new();
    for i in 0..36 {
        let at = hour - Duration::hours(72) + Duration::minutes(i * 120 + 7);
        old.extend(check(tenant, flaky, "eu", at, &[(0, status_of(i))]));
    }
    // Retried checks: across an hour edge, down through both retries, across a midnight.
    let hour_edge = hour - Duration::hours(48);
    old.extend(check(
        tenant,
        flaky,
        "eu",
        hour_edge - Duration::seconds(2),
        &[(0, down), (10, up)],
    ));
    old.extend(check(
        tenant,
        flaky,
        "us",
        hour - Duration::hours(5) + Duration::minutes(7),
        &[(0, down), (5, down), (10, down)],
    ));
    let midnight = (hour - Duration::days(2))
        .duration_trunc(Duration::days(1))
        .unwrap();
    old.extend(check(
        tenant,
        midnight_flaky,
        "eu",
        midnight - Duration::seconds(1),
        &[(0, down), (20, up)],
    ));
    // The oldest raw row's hour (and day): the raw TTL may have taken part of such a bucket.
    let ten_days = hour - Duration::days(10) + Duration::minutes(20);
    old.extend(check(tenant, oldest, "eu", ten_days, &[(0, down), (5, up)]));
    insert_legacy(&analytics, &old, "old-release").await;
    let flaky_attempts = old.iter().filter(|r| r.monitor_id == flaky).count() as u64;
    let flaky_checks = old
        .iter()
        .filter(|r| r.monitor_id == flaky && r.final_attempt)
        .count() as u64;
    let rollup_checks = |table: &'static str, monitor: Uuid| {
        let analytics = analytics.clone();
        async move {
            rollup_buckets(&analytics, table, monitor)
                .await
                .iter()
                .map(|b| b.1)
                .sum::<u64>()
        }
    };
    assert_eq!(
        rollup_checks("check_rollup_hourly", flaky).await,
        flaky_attempts,
        "before: every attempt counted"
    );
    analytics.refresh_status_page_summary().await.unwrap();

    analytics.migrate().await.unwrap();
    analytics.migrate().await.unwrap();
    let versions: Vec<u32> = analytics
        .client()
        .query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);

    // Raw rows: every attempt kept, the highest attempt of each run marked as the verdict, all
    // attempts scheduled at the first one's time: exactly what the checker writes now.
    let stored: Vec<CheckRow> = analytics
        .client()
        .query("SELECT ?fields FROM check_results")
        .fetch_all()
        .await
        .unwrap();
    let key = |r: &CheckRow| (r.monitor_id, r.region.clone(), r.checked_at);
    let mut want = old.clone();
    let mut got = stored.clone();
    want.sort_by_key(key);
    got.sort_by_key(key);
    assert_eq!(got, want);

    // Rollups derived again: one check per check, in its scheduled bucket.
    assert_eq!(
        rollup_checks("check_rollup_hourly", flaky).await,
        flaky_checks
    );
    assert_eq!(
        rollup_checks("check_rollup_daily", flaky).await,
        flaky_checks
    );
    let secs = |t: DateTime<Utc>| t.timestamp() as u32;
    for (table, unit) in [
        ("check_rollup_hourly", 3_600),
        ("check_rollup_daily", 86_400),
    ] {
        assert_eq!(
            rollup_buckets(&analytics, table, flaky).await,
            buckets_by_hand(&old, flaky, unit),
            "{table}"
        );
    }
    let edge = secs(hour_edge);
    let hourly = rollup_buckets(&analytics, "check_rollup_hourly", flaky).await;
    let around_edge: Vec<_> = hourly
        .iter()
        .filter(|b| b.0 == edge - 3_600 || b.0 == edge)
        .collect();
    // The retried check in the hour it was due, as up; the hour after holds its own check only.
    assert_eq!(around_edge, [&(edge - 3_600, 1, 1, 0), &(edge, 1, 1, 0)]);
    assert_eq!(
        rollup_buckets(&analytics, "check_rollup_daily", midnight_flaky).await,
        vec![(secs(midnight - Duration::days(1)), 1, 1, 0)]
    );
    let window =
        TimeWindow::new(hour - Duration::days(5), Utc::now() + Duration::minutes(1)).unwrap();
    for source in [Source::Rollups, Source::Raw] {
        let report = analytics
            .uptime_report(tenant, window, &[], source)
            .await
            .unwrap();
        for monitor in [flaky, midnight_flaky] {
            let m = report.iter().find(|m| m.monitor_id == monitor).unwrap();
            assert_eq!(
                m.overall,
                expected(&old, tenant, monitor, None, window, &[]),
                "{source:?}"
            );
        }
    }
    // The oldest raw row's hour and day are not derived again: they keep counting attempts.
    assert_eq!(rollup_checks("check_rollup_hourly", oldest).await, 2);
    assert_eq!(rollup_checks("check_rollup_daily", oldest).await, 2);

    // The summary from the old rollups is gone; pages are computed on the spot until the next
    // refresh, which adds up the new rollups.
    let summary_rows: u64 = analytics
        .client()
        .query("SELECT count() FROM status_page_summary")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(summary_rows, 0);
    let now = Utc::now();
    let page = analytics.status_page(tenant, &[], now, &[]).await.unwrap();
    assert_eq!(page.summary_until, None);
    analytics.refresh_status_page_summary().await.unwrap();
    let refreshed = analytics.status_page(tenant, &[], now, &[]).await.unwrap();
    assert!(refreshed.summary_until.is_some());
    assert_eq!(refreshed.uptime, page.uptime);
    let week = &refreshed.uptime[1].1;
    let m = week.iter().find(|m| m.monitor_id == flaky).unwrap();
    assert_eq!(m.overall.checks, flaky_checks);

    // Running the migration's statements again (a start that failed half-way) changes nothing.
    analytics
        .client()
        .query("ALTER TABLE schema_migrations DELETE WHERE version = 4 SETTINGS mutations_sync = 2")
        .execute()
        .await
        .unwrap();
    analytics.migrate().await.unwrap();
    assert_eq!(
        rollup_checks("check_rollup_hourly", flaky).await,
        flaky_checks
    );
    assert_eq!(
        rollup_checks("check_rollup_daily", flaky).await,
        flaky_checks
    );
    let again: Vec<CheckRow> = analytics
        .client()
        .query("SELECT ?fields FROM check_results")
        .fetch_all()
        .await
        .unwrap();
    let mut again = again;
    again.sort_by_key(key);
    assert_eq!(again, want);
    // The migration's helper tables are gone.
    let helpers: u64 = analytics
        .client()
        .query("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('legacy_retried_checks', 'rollup_rederive_from')")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(helpers, 0);

    // New checks go through the new views: a retried one counts once.
    let new = check(
        tenant,
        flaky,
        "eu",
        Utc::now() - Duration::minutes(3),
        &[(0, down), (2, up)],
    );
    analytics.insert_checks(&new, "new-release").await.unwrap();
    assert_eq!(
        rollup_checks("check_rollup_hourly", flaky).await,
        flaky_checks + 1
    );
    analytics.drop_database().await.unwrap();
}
