//! Status page charts of components (groups of monitors) against a real ClickHouse (`./dev test`
//! starts one): series per bucket per region and all regions together, the 24 h / 7 d / 30 d
//! periods, the phase breakdown, the monitors of a group merged (not averaged), and only the
//! tenant's own checks.

use chrono::{DateTime, Duration, DurationRound, Utc};
use statuspage_clickhouse::{
    Analytics, CheckRow, MonitorGroup, Resolution, Source, TimeWindow, CHART_PERIODS, STATUS_DOWN,
    STATUS_UP,
};
use std::collections::BTreeMap;
use uuid::Uuid;

async fn fresh_database() -> Analytics {
    let url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let name = format!("test_{}", Uuid::new_v4().simple());
    let analytics = Analytics::new(&url, &name).unwrap().with_raw_ttl_days(35);
    analytics.migrate().await.unwrap();
    analytics
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= want * 0.01
}

#[tokio::test]
async fn component_charts_merge_their_monitors_per_bucket_and_region() {
    let analytics = fresh_database().await;
    let now = Utc::now();
    let (tenant, other_tenant) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let hour = now.duration_trunc(Duration::hours(1)).unwrap();
    let mut rows = Vec::new();
    // Every hour for 40 days at minute 7: monitor A twice per region (100 ms), B once (300 ms),
    // so the group's median is 100 ms and its p95 300 ms (an average of the monitors' medians
    // would say 200 ms). C (another component) is fast; one of B's checks an hour ago is down.
    for h in 0..(40 * 24) {
        let at = hour - Duration::hours(h) + Duration::minutes(7);
        if at >= now {
            continue;
        }
        for region in ["eu-west-1", "us-east-1"] {
            let us = |t: DateTime<Utc>| t.timestamp_micros();
            rows.push(CheckRow::synthetic(
                tenant,
                a,
                region,
                us(at),
                STATUS_UP,
                100_000,
            ));
            rows.push(CheckRow::synthetic(
                tenant,
                a,
                region,
                us(at) + 1,
                STATUS_UP,
                100_000,
            ));
            let status = if h == 1 && region == "us-east-1" {
                STATUS_DOWN
            } else {
                STATUS_UP
            };
            rows.push(CheckRow::synthetic(
                tenant,
                b,
                region,
                us(at),
                status,
                300_000,
            ));
            rows.push(CheckRow::synthetic(
                tenant,
                c,
                region,
                us(at),
                STATUS_UP,
                10_000,
            ));
        }
        // Another tenant's checks of a monitor with A's id must never count.
        rows.push(CheckRow::synthetic(
            other_tenant,
            a,
            "eu-west-1",
            at.timestamp_micros(),
            STATUS_DOWN,
            9_000_000,
        ));
    }
    analytics.insert_checks(&rows, "charts-1").await.unwrap();
    let (g1, g2, empty) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let groups = vec![
        MonitorGroup {
            id: g1,
            monitors: vec![a, b],
        },
        MonitorGroup {
            id: g2,
            monitors: vec![c],
        },
        MonitorGroup {
            id: empty,
            monitors: vec![],
        },
    ];

    let charts = analytics
        .group_charts(tenant, &groups, now, true)
        .await
        .unwrap();
    let labels: Vec<&str> = charts.periods.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["24h", "7d", "30d"]);
    for (period, (label, buckets, resolution)) in charts.periods.iter().zip(CHART_PERIODS) {
        assert_eq!(period.label, label);
        assert_eq!(period.resolution, resolution);
        assert_eq!(
            period.series.iter().map(|s| s.group_id).collect::<Vec<_>>(),
            [g1, g2],
            "one series per group with monitors"
        );
        let secs = resolution.bucket_secs();
        // What the rows say, by hand: bucket start → checks of group 1, tenant's rows only.
        let mut want: BTreeMap<i64, u64> = BTreeMap::new();
        for r in rows
            .iter()
            .filter(|r| r.tenant_id == tenant && (r.monitor_id == a || r.monitor_id == b))
        {
            let bucket = (r.scheduled_at / 1_000_000).div_euclid(secs) * secs;
            if bucket >= period.since.timestamp() {
                *want.entry(bucket).or_default() += 1;
            }
        }
        let series = &period.series[0];
        let all: Vec<_> = series
            .points
            .iter()
            .filter(|p| p.region.is_empty())
            .collect();
        let got: BTreeMap<i64, u64> = all
            .iter()
            .map(|p| (p.at.timestamp(), p.counts.checks))
            .collect();
        assert_eq!(got, want, "{label}: checks per bucket, all regions");
        assert!(
            all.len() as i64 >= buckets - 1,
            "{label}: {} points",
            all.len()
        );
        for p in &all {
            assert!(
                close(p.p50_total_us.unwrap(), 100_000.0),
                "{label}: the merged median {:?}",
                p.p50_total_us
            );
            assert!(close(p.p95_total_us.unwrap(), 300_000.0), "{p:?}");
        }
        for region in ["eu-west-1", "us-east-1"] {
            let points: Vec<_> = series
                .points
                .iter()
                .filter(|p| p.region == region)
                .collect();
            assert_eq!(points.len(), all.len(), "{label} {region}");
            let sum: u64 = points.iter().map(|p| p.counts.checks).sum();
            assert_eq!(sum * 2, want.values().sum::<u64>(), "{label} {region}");
        }
        let fast = &period.series[1];
        assert!(fast
            .points
            .iter()
            .all(|p| close(p.p50_total_us.unwrap(), 10_000.0)));
    }
    // The 24-hour chart is the end of the 7-day one.
    let day: Vec<_> = charts.periods[0].series[0].points.clone();
    let week = &charts.periods[1].series[0].points;
    assert!(day.iter().all(|p| week.contains(p)));
    assert!(day.len() < week.len());
    // Hourly points carry a down check an hour ago.
    let down: u64 = charts.periods[1].series[0]
        .points
        .iter()
        .filter(|p| p.region.is_empty())
        .map(|p| p.counts.down)
        .sum();
    assert_eq!(down, 1);

    // The phase breakdown of the last 24 hours: all regions, then each region.
    let latency: Vec<_> = charts
        .latency_24h
        .iter()
        .filter(|l| l.group_id == g1)
        .collect();
    assert_eq!(
        latency
            .iter()
            .map(|l| l.region.as_str())
            .collect::<Vec<_>>(),
        ["", "eu-west-1", "us-east-1"]
    );
    let phases = latency[0].phases.unwrap();
    assert!(close(phases.total.p50, 100_000.0), "{phases:?}");
    assert!(close(phases.total.p95, 300_000.0), "{phases:?}");
    assert!(
        close(phases.dns.p50, 10_000.0),
        "dns is a tenth: {phases:?}"
    );
    assert!(close(phases.ttfb.p95, 100_000.0), "{phases:?}");
    assert_eq!(
        latency[0].samples,
        latency[0].counts.checks - latency[0].counts.down
    );
    assert_eq!(
        latency[1].counts.checks + latency[2].counts.checks,
        latency[0].counts.checks
    );

    // Without per-region detail only the combined rows come back.
    let combined = analytics
        .group_charts(tenant, &groups, now, false)
        .await
        .unwrap();
    for period in &combined.periods {
        assert!(period.series[0].points.iter().all(|p| p.region.is_empty()));
    }
    assert!(combined.latency_24h.iter().all(|l| l.region.is_empty()));
    assert_eq!(combined.latency_24h.len(), 2);

    // No monitors: nothing (never every monitor of the tenant).
    let nothing = analytics
        .group_series(
            tenant,
            &groups[2..],
            TimeWindow::last_days(now, 7),
            Resolution::Hour,
            true,
        )
        .await
        .unwrap();
    assert!(nothing.is_empty());
    let nothing = analytics
        .group_latency(
            tenant,
            &groups[2..],
            TimeWindow::last_days(now, 1),
            Source::Rollups,
            true,
        )
        .await
        .unwrap();
    assert!(nothing.is_empty());

    // The other tenant sees its own checks only.
    let theirs = analytics
        .group_latency(
            other_tenant,
            &groups[..1],
            TimeWindow::status_page(now, 1),
            Source::Rollups,
            false,
        )
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].counts.checks, theirs[0].counts.down);
    analytics.drop_database().await.unwrap();
}
