//! A complete sample model (two groups, a component outside them, three regions, incidents,
//! maintenance, figures), for the renderers' tests and the page benchmark.

use super::model::*;
use api::engine::components::PageStatus;
use api::incidents::{ComponentStatus, Impact, IncidentStatus};
use api::maintenance::MaintenanceStatus;
use api::status_page::Visibility;
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x5a17_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// The fixed "now" of the sample.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn component(
    n: u128,
    name: &str,
    group: Option<Uuid>,
    status: PageStatus,
    show_regions: bool,
) -> ComponentModel {
    let now = now();
    let days = (0..90)
        .map(|d| {
            let day = (now - Duration::days(89 - d)).date_naive();
            let (status, uptime) = match d {
                40 => ("down", Some(97.5)),
                70 | 71 => ("degraded", Some(99.6)),
                _ => ("up", Some(100.0)),
            };
            DayModel {
                day,
                status: status.into(),
                uptime,
                incidents: if d == 40 {
                    vec![(id(900), "Database failover".into())]
                } else {
                    vec![]
                },
                maintenances: if d == 70 {
                    vec![(id(950), "Network upgrade".into())]
                } else {
                    vec![]
                },
            }
        })
        .collect();
    let regions = ["eu-central-1", "us-east-1", "ap-southeast-2"];
    let charts = CHART_PERIODS
        .iter()
        .map(|(period, hours)| {
            let bucket_secs = if *hours <= 7 * 24 { 3600 } else { 86_400 };
            let count = hours * 3600 / bucket_secs;
            let series_for = |region: Option<&str>, base: f64| ChartSeries {
                region: region.map(str::to_owned),
                points: (0..count)
                    .map(|i| ChartPoint {
                        at: now - Duration::seconds((count - i) * bucket_secs),
                        p50_ms: base + (i % 7) as f64 * 3.0,
                        p95_ms: base * 2.0 + (i % 5) as f64 * 9.0,
                    })
                    .collect(),
            };
            ChartModel {
                period: (*period).into(),
                since: now - Duration::hours(*hours),
                until: now,
                bucket_secs,
                series: if show_regions {
                    regions
                        .iter()
                        .enumerate()
                        .map(|(i, r)| series_for(Some(r), 40.0 + 60.0 * i as f64))
                        .collect()
                } else {
                    vec![series_for(None, 80.0)]
                },
            }
        })
        .collect();
    let phase_row = |region: Option<&str>| PhaseModel {
        region: region.map(str::to_owned),
        samples: 1440,
        phases: vec![
            ("dns".into(), 2.1, 8.4),
            ("tcp_connect".into(), 11.0, 24.5),
            ("tls_handshake".into(), 23.2, 51.0),
            ("ttfb".into(), 38.9, 120.7),
            ("transfer".into(), 0.4, 1.9),
            ("total".into(), 76.3, 190.2),
        ],
    };
    let mut phases = vec![phase_row(None)];
    if show_regions {
        phases.extend(regions.iter().map(|r| phase_row(Some(r))));
    }
    ComponentModel {
        id: id(n),
        name: name.into(),
        description: format!("The {name} everyone uses."),
        group_id: group,
        position: n as i32,
        status,
        created_at: now - Duration::days(400),
        updated_at: now - Duration::hours(2),
        days,
        uptime: vec![
            UptimeModel {
                window: "24h".into(),
                percent: Some(100.0),
            },
            UptimeModel {
                window: "7d".into(),
                percent: Some(99.95),
            },
            UptimeModel {
                window: "30d".into(),
                percent: Some(99.912),
            },
            UptimeModel {
                window: "90d".into(),
                percent: None,
            },
        ],
        p50_24h_ms: Some(76.3),
        p95_24h_ms: Some(190.2),
        charts,
        phases,
        regions: if show_regions {
            regions
                .iter()
                .map(|r| RegionModel {
                    region: (*r).into(),
                    status: if *r == "ap-southeast-2" && status != PageStatus::Operational {
                        PageStatus::MajorOutage
                    } else {
                        PageStatus::Operational
                    },
                    last_checked_at: Some(now - Duration::seconds(20)),
                    last_total_ms: Some(81.5),
                    p50_24h_ms: Some(76.3),
                    p95_24h_ms: Some(190.2),
                    failure: (*r == "ap-southeast-2" && status != PageStatus::Operational)
                        .then(|| "connection refused".into()),
                })
                .collect()
        } else {
            Vec::new()
        },
        dependencies: Vec::new(),
    }
}

/// The sample page; `show_regions` turns per-region detail on.
pub fn page(show_regions: bool) -> PageModel {
    let now = now();
    let core = id(100);
    let edge = id(200);
    let groups = vec![
        GroupModel {
            id: Some(core),
            name: Some("Core services".into()),
            status: PageStatus::PartialOutage,
            components: vec![
                component(
                    1,
                    "API",
                    Some(core),
                    PageStatus::PartialOutage,
                    show_regions,
                ),
                component(
                    2,
                    "Website",
                    Some(core),
                    PageStatus::Operational,
                    show_regions,
                ),
            ],
        },
        GroupModel {
            id: Some(edge),
            name: Some("Edge <&> delivery".into()),
            status: PageStatus::Operational,
            components: vec![component(
                3,
                "CDN",
                Some(edge),
                PageStatus::Operational,
                show_regions,
            )],
        },
        GroupModel {
            id: None,
            name: None,
            status: PageStatus::UnderMaintenance,
            components: vec![component(
                4,
                "Billing",
                None,
                PageStatus::UnderMaintenance,
                show_regions,
            )],
        },
    ];
    let incident = |n: u128,
                    title: &str,
                    status: IncidentStatus,
                    started: DateTime<Utc>,
                    resolved: Option<DateTime<Utc>>| IncidentModel {
        id: id(n),
        title: title.into(),
        status,
        impact: if resolved.is_some() {
            Impact::Minor
        } else {
            Impact::Major
        },
        started_at: started,
        resolved_at: resolved,
        created_at: started,
        updated_at: resolved.unwrap_or(started + Duration::minutes(5)),
        monitoring_at: resolved.map(|r| r - Duration::minutes(10)),
        components: vec![AffectedModel {
            id: id(1),
            name: "API".into(),
            status: ComponentStatus::PartialOutage,
        }],
        updates: {
            let mut updates = vec![UpdateModel {
                id: id(n * 10),
                status: IncidentStatus::Investigating,
                message: format!("We are looking into {title} <script>alert(1)</script>."),
                created_at: started,
            }];
            if let Some(resolved) = resolved {
                updates.insert(
                    0,
                    UpdateModel {
                        id: id(n * 10 + 1),
                        status: IncidentStatus::Resolved,
                        message: "Fixed & verified.".into(),
                        created_at: resolved,
                    },
                );
            }
            updates
        },
    };
    PageModel {
        tenant_id: id(7),
        slug: "acme".into(),
        hosts: vec!["acme.status.example".into(), "status.acme.example".into()],
        url: "https://acme.status.example".into(),
        visibility: Visibility::Public,
        title: "Acme status".into(),
        description:
            "Live status of Acme's services.\nChecked every 30 seconds from three regions.".into(),
        branding: BrandingModel {
            accent_color: Some("#7b2ff7".into()),
            logo_url: Some("https://acme.example/logo.png".into()),
            favicon_url: Some("https://acme.example/favicon.png".into()),
        },
        show_region_detail: show_regions,
        uptime_window: "30d".into(),
        generated_at: now,
        stale: false,
        status: Some(PageStatus::PartialOutage),
        groups,
        incidents: vec![
            incident(
                901,
                "Elevated API errors",
                IncidentStatus::Identified,
                now - Duration::minutes(30),
                None,
            ),
            incident(
                900,
                "Database failover",
                IncidentStatus::Resolved,
                now - Duration::days(49),
                Some(now - Duration::days(49) + Duration::hours(1)),
            ),
            incident(
                902,
                "Slow logins",
                IncidentStatus::Resolved,
                now - Duration::days(120),
                Some(now - Duration::days(120) + Duration::minutes(40)),
            ),
        ],
        maintenances: vec![
            MaintenanceModel {
                id: id(951),
                title: "Billing database upgrade".into(),
                description: "Invoices may be delayed.".into(),
                status: MaintenanceStatus::InProgress,
                starts_at: now - Duration::minutes(15),
                ends_at: now + Duration::minutes(45),
                created_at: now - Duration::days(3),
                updated_at: now - Duration::minutes(15),
                components: vec![(id(4), "Billing".into())],
            },
            MaintenanceModel {
                id: id(952),
                title: "Edge certificate rotation".into(),
                description: String::new(),
                status: MaintenanceStatus::Scheduled,
                starts_at: now + Duration::days(2),
                ends_at: now + Duration::days(2) + Duration::hours(1),
                created_at: now - Duration::days(1),
                updated_at: now - Duration::days(1),
                components: vec![(id(3), "CDN".into())],
            },
            MaintenanceModel {
                id: id(950),
                title: "Network upgrade".into(),
                description: "Done.".into(),
                status: MaintenanceStatus::Completed,
                starts_at: now - Duration::days(19),
                ends_at: now - Duration::days(19) + Duration::hours(2),
                created_at: now - Duration::days(25),
                updated_at: now - Duration::days(19),
                components: vec![(id(1), "API".into())],
            },
        ],
        regions: vec![
            "ap-southeast-2".into(),
            "eu-central-1".into(),
            "us-east-1".into(),
        ],
        metrics: vec![api::custom_metrics::PublicMetric {
            name: "Requests per second".into(),
            unit: "req/s".into(),
            decimals: 1,
            value: Some(1234.5),
            series: (0..97)
                .map(|i| {
                    (
                        now.timestamp() - (96 - i) * 900,
                        1000.0 + (i % 12) as f64 * 25.0,
                    )
                })
                .collect(),
            fetched_at: Some(now),
        }],
    }
}
