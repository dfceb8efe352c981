//! What a tenant's public site shows, gathered once per render from the status snapshot
//! (PostgreSQL's current state, ClickHouse's figures) and the page's settings. Serializable: the
//! last good model is kept on disk ([`super::render`]) so the site can be rendered again while
//! both databases are down. Everything visitors may see and nothing else: monitors stay the
//! tenant's internals (per-region detail only when the tenant shows it).

use api::engine::components::PageStatus;
use api::incidents::{ComponentStatus, Impact, IncidentStatus};
use api::maintenance::MaintenanceStatus;
use api::status_page::snapshot::MonitorStatus;
use api::status_page::Visibility;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use statuspage_clickhouse::{GroupCharts, MonitorGroup};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration as StdDuration, Instant};
use uuid::Uuid;

/// Chart periods, their labels and lengths (hours).
pub const CHART_PERIODS: [(&str, i64); 3] = [("24h", 24), ("7d", 7 * 24), ("30d", 30 * 24)];
/// Uptime windows a page may choose and badges offer.
pub const UPTIME_WINDOWS: [&str; 4] = ["24h", "7d", "30d", "90d"];
/// The incident history's reach and bound.
pub const HISTORY_MONTHS: i64 = 12;
pub const MAX_HISTORY_INCIDENTS: usize = 100;
pub const MAX_INCIDENT_UPDATES: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageModel {
    pub tenant_id: Uuid,
    pub slug: String,
    /// Hosts that serve this page: `<slug>.<base domain>` and the verified custom domain
    /// (lower case, no port), so a server started without PostgreSQL still finds the page.
    pub hosts: Vec<String>,
    /// The page's public address without a trailing slash (`http://demo.localhost:3000`), for
    /// absolute links in feeds, the widget and the Statuspage JSON.
    pub url: String,
    pub visibility: Visibility,
    pub title: String,
    /// Plain text (shown as paragraphs).
    pub description: String,
    pub branding: BrandingModel,
    /// The tenant shows each component's regions (status, latency per region, a chart per
    /// region); otherwise the regions are combined.
    pub show_region_detail: bool,
    /// The uptime window shown beside each component: one of [`UPTIME_WINDOWS`].
    pub uptime_window: String,
    /// When the figures were gathered.
    pub generated_at: DateTime<Utc>,
    /// Live figures are missing or old (ClickHouse or PostgreSQL did not answer): the page says
    /// so and since when ([`Self::generated_at`]).
    pub stale: bool,
    /// The banner; `None` before anything is known.
    pub status: Option<PageStatus>,
    /// In page order; components outside any group come in groups with `name: None`, placed
    /// by their own position.
    pub groups: Vec<GroupModel>,
    /// Published incidents of the last [`HISTORY_MONTHS`] months (and every unresolved one),
    /// newest first, at most [`MAX_HISTORY_INCIDENTS`].
    pub incidents: Vec<IncidentModel>,
    /// Maintenance not ended yet, soonest first, then ended in the last [`HISTORY_MONTHS`]
    /// months, most recent first.
    pub maintenances: Vec<MaintenanceModel>,
    /// Regions the tenant's monitors are checked from (sorted).
    pub regions: Vec<String>,
    /// The tenant's custom metrics (their last answers), in page order.
    #[serde(default)]
    pub metrics: Vec<api::custom_metrics::PublicMetric>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandingModel {
    /// `#rrggbb`.
    pub accent_color: Option<String>,
    /// `https://` URLs.
    pub logo_url: Option<String>,
    pub favicon_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupModel {
    /// `None` for the components outside any group.
    pub id: Option<Uuid>,
    pub name: Option<String>,
    /// The worst of its components.
    pub status: PageStatus,
    pub components: Vec<ComponentModel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentModel {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub group_id: Option<Uuid>,
    pub position: i32,
    pub status: PageStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last 90 UTC days, oldest first, the last one today; empty without figures.
    pub days: Vec<DayModel>,
    /// One entry per [`UPTIME_WINDOWS`] label, in that order.
    pub uptime: Vec<UptimeModel>,
    /// Total time (milliseconds) over the last 24 hours, all regions together.
    pub p50_24h_ms: Option<f64>,
    pub p95_24h_ms: Option<f64>,
    /// One chart per [`CHART_PERIODS`] label, in that order.
    pub charts: Vec<ChartModel>,
    /// The phase breakdown over the last 24 hours: one row for all regions together (`region:
    /// None`), then one per region when [`PageModel::show_region_detail`].
    pub phases: Vec<PhaseModel>,
    /// Per region, only when [`PageModel::show_region_detail`]; sorted by region.
    pub regions: Vec<RegionModel>,
    /// The dependencies the health documents of its monitors name (monitors whose `health`
    /// says `show_on_page`), by name.
    #[serde(default)]
    pub dependencies: Vec<DependencyModel>,
}

/// A dependency a health document names, as the page shows it: the worst status any region
/// saw at its last check, and the timing of the most recent one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyModel {
    pub name: String,
    /// `up`, `degraded` or `down`.
    pub status: String,
    pub duration_ms: Option<f64>,
}

/// The dependencies of each component, from the latest health report of each (monitor, region)
/// (`reports`: component, report, newest first).
fn component_dependencies(
    reports: &[(Uuid, checker::health::HealthReport)],
) -> HashMap<Uuid, Vec<DependencyModel>> {
    let mut by_component: HashMap<Uuid, Vec<(DependencyModel, checker::health::HealthStatus)>> =
        HashMap::new();
    for (component, report) in reports {
        let list = by_component.entry(*component).or_default();
        for d in &report.dependencies {
            match list.iter_mut().find(|(m, _)| m.name == d.name) {
                Some((model, worst)) => {
                    if d.status > *worst {
                        *worst = d.status;
                        model.status = d.status.label().to_owned();
                    }
                }
                None => list.push((
                    DependencyModel {
                        name: d.name.clone(),
                        status: d.status.label().to_owned(),
                        duration_ms: d.duration_ms,
                    },
                    d.status,
                )),
            }
        }
    }
    by_component
        .into_iter()
        .map(|(c, mut list)| {
            list.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            (c, list.into_iter().map(|(m, _)| m).collect())
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayModel {
    pub day: NaiveDate,
    /// `no_data`, `up`, `degraded` or `down`: the worst of the component's monitors that day.
    pub status: String,
    pub uptime: Option<f64>,
    /// Incidents touching the component that day: (id, title).
    pub incidents: Vec<(Uuid, String)>,
    /// Maintenance windows covering the component that day: (id, title).
    pub maintenances: Vec<(Uuid, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UptimeModel {
    /// `24h`, `7d`, `30d` or `90d`.
    pub window: String,
    pub percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartModel {
    /// `24h`, `7d` or `30d`.
    pub period: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Width of one point's bucket (3600 for hourly points).
    pub bucket_secs: i64,
    /// One series for all regions together (`region: None`) unless the page shows per-region
    /// detail, then one per region.
    pub series: Vec<ChartSeries>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartSeries {
    pub region: Option<String>,
    /// Oldest first; buckets without checks are absent.
    pub points: Vec<ChartPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChartPoint {
    pub at: DateTime<Utc>,
    /// Total time, milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// Median and 95th percentile of each phase, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseModel {
    pub region: Option<String>,
    pub samples: u64,
    /// `dns`, `tcp_connect`, `tls_handshake`, `ttfb`, `transfer`, `total`, in that order:
    /// (phase, p50, p95).
    pub phases: Vec<(String, f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionModel {
    pub region: String,
    pub status: PageStatus,
    pub last_checked_at: Option<DateTime<Utc>>,
    /// The last check's total time, milliseconds.
    pub last_total_ms: Option<f64>,
    pub p50_24h_ms: Option<f64>,
    pub p95_24h_ms: Option<f64>,
    /// The kind of the last failure in words ("connection refused"), never its detail.
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentModel {
    pub id: Uuid,
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was first published (created, for incidents made public at once).
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it first entered `monitoring`, if it did.
    pub monitoring_at: Option<DateTime<Utc>>,
    pub components: Vec<AffectedModel>,
    /// Newest first, at most [`MAX_INCIDENT_UPDATES`].
    pub updates: Vec<UpdateModel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedModel {
    pub id: Uuid,
    pub name: String,
    pub status: ComponentStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateModel {
    pub id: Uuid,
    pub status: IncidentStatus,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceModel {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub status: MaintenanceStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// (id, name).
    pub components: Vec<(Uuid, String)>,
}

impl PageModel {
    pub fn components(&self) -> impl Iterator<Item = &ComponentModel> {
        self.groups.iter().flat_map(|g| g.components.iter())
    }

    pub fn incident(&self, id: Uuid) -> Option<&IncidentModel> {
        self.incidents.iter().find(|i| i.id == id)
    }
}

/// Gathers the model of `tenant`'s page: the cached status snapshot ([`api::AppState::status`])
/// plus the page's settings, groups, incidents, maintenance and chart figures. Fails when
/// PostgreSQL fails; without ClickHouse the model has no figures (or the last ones gathered, see
/// [`CHART_CACHE_TTL`]) and says it is stale.
///
/// A component's figures combine its monitors':
/// - a day's status is the worst of its monitors' that day (`down` > `degraded` > `up` >
///   `no_data`), the day's uptime the mean of the monitors' uptimes that day;
/// - uptime over a window is the mean of its monitors' uptimes over it: each monitor counts the
///   same however often it is checked, monitors without checks in the window are left out
///   (`None` when none has any);
/// - latency (p50 / p95, charts, phases) is that of all its monitors' checks merged (ClickHouse
///   merges the quantile states), never an average of percentiles;
/// - a region's status is the worst of its monitors there (all down: major outage, some down:
///   partial outage), its last check the newest of them.
pub async fn load(
    app: &api::AppState,
    tenant: &api::accounts::tenancy::Tenant,
) -> api::rest::error::ApiResult<PageModel> {
    let entry = app.status.entry(&app.db, &app.analytics, tenant).await?;
    let snapshot = &entry.snapshot;
    let settings = api::status_page::get(&app.db, tenant.id).await?;
    let rows = read_page_rows(&app.db, tenant.id).await?;
    let show_regions = settings.show_region_detail;
    let now = Utc::now();

    // Each component's monitors, all of them for its status and bars, the probed ones only for
    // its response times (a heartbeat's pings take no time: their 0 would drag the figures).
    let groups = |probed_only: bool| -> Vec<MonitorGroup> {
        rows.components
            .iter()
            .map(|c| MonitorGroup {
                id: c.id,
                monitors: rows
                    .monitors
                    .iter()
                    .filter(|(_, component, probed)| {
                        *component == c.id && (*probed || !probed_only)
                    })
                    .map(|(m, _, _)| *m)
                    .collect(),
            })
            .collect()
    };
    let groups_of_monitors = groups(false);
    let (charts, charts_stale) =
        chart_figures(&app.analytics, tenant.id, &groups(true), now, show_regions).await;

    let incidents = rows.incidents;
    let maintenances = rows.maintenances;
    // ClickHouse answered the snapshot (no checks is then "no data"), or it kept older figures.
    let figures = !snapshot.stale || snapshot.monitors.iter().any(|m| !m.days.is_empty());
    let mut regions: Vec<String> = snapshot
        .monitors
        .iter()
        .flat_map(|m| m.regions.iter().map(|r| r.region.clone()))
        .collect();
    regions.sort();
    regions.dedup();

    let mut dependencies = component_dependencies(&rows.health);
    let mut components = Vec::new();
    for (row, group) in rows.components.iter().zip(&groups_of_monitors) {
        let monitors: Vec<&MonitorStatus> = snapshot
            .monitors
            .iter()
            .filter(|m| group.monitors.contains(&m.id))
            .collect();
        let status = snapshot
            .components
            .iter()
            .find(|c| c.id == row.id)
            .map(|c| c.status)
            .unwrap_or(PageStatus::Operational);
        let latency = |region: &str| {
            charts.as_ref().and_then(|c| {
                c.latency_24h
                    .iter()
                    .find(|l| l.group_id == row.id && l.region == region)
            })
        };
        let total = latency("").and_then(|l| l.phases).map(|p| p.total);
        components.push(ComponentModel {
            id: row.id,
            name: row.name.clone(),
            description: row.description.clone(),
            group_id: row.group_id,
            position: row.position,
            status,
            created_at: row.created_at,
            updated_at: row.updated_at,
            days: component_days(row.id, &monitors, figures, now, &incidents, &maintenances),
            uptime: UPTIME_WINDOWS
                .iter()
                .map(|w| UptimeModel {
                    window: (*w).to_owned(),
                    percent: mean(monitors.iter().filter_map(|m| {
                        m.uptime_windows
                            .iter()
                            .find(|u| u.window == *w)
                            .and_then(|u| u.percent)
                    })),
                })
                .collect(),
            p50_24h_ms: total.map(|q| q.p50 / 1000.0),
            p95_24h_ms: total.map(|q| q.p95 / 1000.0),
            charts: component_charts(row.id, charts.as_ref(), show_regions, now),
            phases: component_phases(row.id, charts.as_ref(), show_regions),
            regions: if show_regions {
                component_regions(&monitors, |region| {
                    latency(region)
                        .and_then(|l| l.phases)
                        .map(|p| (p.total.p50 / 1000.0, p.total.p95 / 1000.0))
                })
            } else {
                Vec::new()
            },
            dependencies: dependencies.remove(&row.id).unwrap_or_default(),
        });
    }

    let stale = snapshot.stale || charts_stale;
    let generated_at = if stale {
        let charts_at = charts.as_ref().map_or(now, |c| c.generated_at);
        snapshot.generated_at.min(charts_at)
    } else {
        now
    };
    let links = api::subscribers::links::PageLinks::from_platform_url(
        &app.platform_url,
        &app.config.base_domain,
    );
    let mut hosts = vec![format!(
        "{}.{}",
        tenant.slug,
        app.config.base_domain.trim().to_ascii_lowercase()
    )
    .to_ascii_lowercase()];
    if let (Some(domain), Some(_)) = (&settings.custom_domain, settings.domain_verified_at) {
        hosts.push(domain.to_ascii_lowercase());
    }
    Ok(PageModel {
        tenant_id: tenant.id,
        slug: tenant.slug.clone(),
        hosts,
        url: links.page_base(&tenant.slug),
        visibility: settings.visibility,
        title: settings.title,
        description: settings.description,
        branding: BrandingModel {
            accent_color: settings.branding.accent_color,
            logo_url: settings.branding.logo_url,
            favicon_url: settings.branding.favicon_url,
        },
        show_region_detail: show_regions,
        uptime_window: settings.uptime_window,
        generated_at,
        stale,
        status: snapshot.page_status,
        groups: page_groups(&rows.groups, components),
        incidents,
        maintenances,
        regions,
        metrics: rows.metrics,
    })
}

/// How long a tenant's chart figures are reused before ClickHouse is asked again; after a failed
/// query the last figures are used whatever their age (and the model says it is stale).
pub const CHART_CACHE_TTL: StdDuration = StdDuration::from_secs(5 * 60);
/// Tenants whose chart figures are kept in memory (the oldest make room).
const CHART_CACHE_TENANTS: usize = 512;
/// How long a load waits for ClickHouse's chart figures.
const CHART_BUDGET: StdDuration = StdDuration::from_secs(5);

/// The chart figures of one tenant, with what they were asked for (its components' monitors
/// and whether per region), so a changed page never reuses figures of another shape.
struct CachedCharts {
    at: Instant,
    asked: (Vec<MonitorGroup>, bool),
    charts: GroupCharts,
}

fn chart_cache() -> &'static Mutex<HashMap<Uuid, CachedCharts>> {
    static CACHE: OnceLock<Mutex<HashMap<Uuid, CachedCharts>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The tenant's chart figures: cached ones younger than [`CHART_CACHE_TTL`], else fresh from
/// ClickHouse, else (ClickHouse failed) the last ones, if any; `true` when they are not fresh.
async fn chart_figures(
    analytics: &statuspage_clickhouse::Analytics,
    tenant_id: Uuid,
    groups: &[MonitorGroup],
    now: DateTime<Utc>,
    by_region: bool,
) -> (Option<GroupCharts>, bool) {
    let asked = (groups.to_vec(), by_region);
    let cached = |fresh_only: bool| {
        let cache = chart_cache().lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&tenant_id)
            .filter(|c| c.asked == asked && (!fresh_only || c.at.elapsed() < CHART_CACHE_TTL))
            .map(|c| c.charts.clone())
    };
    if let Some(charts) = cached(true) {
        return (Some(charts), false);
    }
    let fresh = tokio::time::timeout(
        CHART_BUDGET,
        analytics.group_charts(tenant_id, groups, now, by_region),
    )
    .await;
    match fresh {
        // Figures without a single check are not kept: a new monitor's first results show on
        // the next render, not after the cache's five minutes.
        Ok(Ok(charts)) if !charts.has_checks() => (Some(charts), false),
        Ok(Ok(charts)) => {
            let mut cache = chart_cache().lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= CHART_CACHE_TENANTS && !cache.contains_key(&tenant_id) {
                let oldest = cache.iter().min_by_key(|(_, c)| c.at).map(|(id, _)| *id);
                if let Some(oldest) = oldest {
                    cache.remove(&oldest);
                }
            }
            cache.insert(
                tenant_id,
                CachedCharts {
                    at: Instant::now(),
                    asked,
                    charts: charts.clone(),
                },
            );
            (Some(charts), false)
        }
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {CHART_BUDGET:?}"),
            };
            tracing::warn!(%tenant_id, error = %why, "public page model without fresh chart figures");
            (cached(false), true)
        }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn day_rank(status: &str) -> u8 {
    match status {
        "down" => 3,
        "degraded" => 2,
        "up" => 1,
        _ => 0,
    }
}

/// The last 90 days of one component (see [`load`] for how its monitors combine), with the
/// incidents and maintenance of each day; empty without figures.
fn component_days(
    component: Uuid,
    monitors: &[&MonitorStatus],
    figures: bool,
    now: DateTime<Utc>,
    incidents: &[IncidentModel],
    maintenances: &[MaintenanceModel],
) -> Vec<DayModel> {
    if !figures {
        return Vec::new();
    }
    let today = now.date_naive();
    (0..90)
        .rev()
        .map(|ago| {
            let day = today - chrono::Duration::days(ago);
            let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
            let end = start + chrono::Duration::days(1);
            let of_day: Vec<_> = monitors
                .iter()
                .filter_map(|m| m.days.iter().find(|d| d.day == day))
                .collect();
            let status = of_day
                .iter()
                .map(|d| d.status.as_str())
                .max_by_key(|s| day_rank(s))
                .unwrap_or("no_data");
            DayModel {
                day,
                status: if day_rank(status) == 0 {
                    "no_data".to_owned()
                } else {
                    status.to_owned()
                },
                uptime: mean(of_day.iter().filter_map(|d| d.uptime)),
                incidents: incidents
                    .iter()
                    .filter(|i| {
                        i.components.iter().any(|c| c.id == component)
                            && i.started_at < end
                            && i.resolved_at.unwrap_or(now) >= start
                    })
                    .map(|i| (i.id, i.title.clone()))
                    .collect(),
                maintenances: maintenances
                    .iter()
                    .filter(|m| {
                        m.components.iter().any(|(id, _)| *id == component)
                            && m.starts_at < end
                            && m.ends_at > start
                    })
                    .map(|m| (m.id, m.title.clone()))
                    .collect(),
            }
        })
        .collect()
}

fn chart_point(p: &statuspage_clickhouse::SeriesPoint) -> Option<ChartPoint> {
    Some(ChartPoint {
        at: p.at,
        p50_ms: p.p50_total_us? / 1000.0,
        p95_ms: p.p95_total_us? / 1000.0,
    })
}

/// One chart per [`CHART_PERIODS`] entry: all regions together, or one series per region when
/// the page shows per-region detail. Series without points are left out.
fn component_charts(
    component: Uuid,
    charts: Option<&GroupCharts>,
    show_regions: bool,
    now: DateTime<Utc>,
) -> Vec<ChartModel> {
    CHART_PERIODS
        .iter()
        .map(|(label, hours)| {
            let period = charts.and_then(|c| c.periods.iter().find(|p| p.label == *label));
            let points: Vec<&statuspage_clickhouse::SeriesPoint> = period
                .and_then(|p| p.series.iter().find(|s| s.group_id == component))
                .map(|s| s.points.iter().collect())
                .unwrap_or_default();
            let mut series: Vec<ChartSeries> = Vec::new();
            for point in points {
                if point.region.is_empty() == show_regions {
                    continue;
                }
                let region = (!point.region.is_empty()).then(|| point.region.clone());
                let Some(chart_point) = chart_point(point) else {
                    continue;
                };
                match series.iter_mut().find(|s| s.region == region) {
                    Some(s) => s.points.push(chart_point),
                    None => series.push(ChartSeries {
                        region,
                        points: vec![chart_point],
                    }),
                }
            }
            for s in &mut series {
                s.points.sort_by_key(|p| p.at);
            }
            series.sort_by(|a, b| a.region.cmp(&b.region));
            ChartModel {
                period: (*label).to_owned(),
                since: period.map_or(now - chrono::Duration::hours(*hours), |p| p.since),
                until: period.map_or(now, |p| p.until),
                bucket_secs: period.map_or(if *hours > 7 * 24 { 86_400 } else { 3_600 }, |p| {
                    p.resolution.bucket_secs()
                }),
                series,
            }
        })
        .collect()
}

/// The phase breakdown of the last 24 hours: all regions, then each region with per-region
/// detail; nothing without checks.
fn component_phases(
    component: Uuid,
    charts: Option<&GroupCharts>,
    show_regions: bool,
) -> Vec<PhaseModel> {
    let Some(charts) = charts else {
        return Vec::new();
    };
    charts
        .latency_24h
        .iter()
        .filter(|l| l.group_id == component && (show_regions || l.region.is_empty()))
        .filter_map(|l| {
            let p = l.phases?;
            let row = |name: &str, q: statuspage_clickhouse::Quantiles| {
                (name.to_owned(), q.p50 / 1000.0, q.p95 / 1000.0)
            };
            Some(PhaseModel {
                region: (!l.region.is_empty()).then(|| l.region.clone()),
                samples: l.samples,
                phases: vec![
                    row("dns", p.dns),
                    row("tcp_connect", p.tcp_connect),
                    row("tls_handshake", p.tls_handshake),
                    row("ttfb", p.ttfb),
                    row("transfer", p.transfer),
                    row("total", p.total),
                ],
            })
        })
        .collect()
}

/// Each region of a component: the worst of its monitors there, their newest check, the
/// failure's kind in words (never its detail), the merged 24-hour latency from `latency`.
fn component_regions(
    monitors: &[&MonitorStatus],
    latency: impl Fn(&str) -> Option<(f64, f64)>,
) -> Vec<RegionModel> {
    use checker::probe::CheckStatus;
    let mut names: Vec<&str> = monitors
        .iter()
        .flat_map(|m| m.regions.iter().map(|r| r.region.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let here: Vec<_> = monitors
                .iter()
                .filter_map(|m| m.regions.iter().find(|r| r.region == name))
                .collect();
            let down = here
                .iter()
                .filter(|r| r.status == CheckStatus::Down)
                .count();
            let status = if down == here.len() {
                PageStatus::MajorOutage
            } else if down > 0 {
                PageStatus::PartialOutage
            } else if here.iter().any(|r| r.status == CheckStatus::Degraded) {
                PageStatus::DegradedPerformance
            } else {
                PageStatus::Operational
            };
            let newest = here.iter().max_by_key(|r| r.last_checked_at);
            let failing = here
                .iter()
                .filter(|r| r.status != CheckStatus::Up)
                .max_by_key(|r| r.status == CheckStatus::Down);
            let latency = latency(name);
            RegionModel {
                region: name.to_owned(),
                status,
                last_checked_at: newest.map(|r| r.last_checked_at),
                last_total_ms: newest
                    .and_then(|r| r.last_total_us)
                    .map(|us| f64::from(us) / 1000.0),
                p50_24h_ms: latency.map(|l| l.0),
                p95_24h_ms: latency.map(|l| l.1),
                failure: failing.and_then(|r| r.failure_text.clone()),
            }
        })
        .collect()
}

/// Groups and the components outside any, in page order (position, then name; a run of
/// ungrouped components between groups is one group with `name: None`); empty groups are left
/// out.
fn page_groups(groups: &[GroupRow], components: Vec<ComponentModel>) -> Vec<GroupModel> {
    enum Item {
        Group(usize),
        Component(ComponentModel),
    }
    let mut items: Vec<(i32, String, Item)> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.position, g.name.clone(), Item::Group(i)))
        .collect();
    let mut grouped: HashMap<Uuid, Vec<ComponentModel>> = HashMap::new();
    for c in components {
        match c.group_id.filter(|g| groups.iter().any(|row| row.id == *g)) {
            Some(g) => grouped.entry(g).or_default().push(c),
            None => items.push((c.position, c.name.clone(), Item::Component(c))),
        }
    }
    items.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let worst = |components: &[ComponentModel]| {
        components
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(PageStatus::Operational)
    };
    let mut out: Vec<GroupModel> = Vec::new();
    for (_, _, item) in items {
        match item {
            Item::Group(i) => {
                let mut members = grouped.remove(&groups[i].id).unwrap_or_default();
                if members.is_empty() {
                    continue;
                }
                members.sort_by(|a, b| (a.position, &a.name).cmp(&(b.position, &b.name)));
                out.push(GroupModel {
                    id: Some(groups[i].id),
                    name: Some(groups[i].name.clone()),
                    status: worst(&members),
                    components: members,
                });
            }
            Item::Component(c) => match out.last_mut() {
                Some(last) if last.id.is_none() => {
                    last.components.push(c);
                    last.status = worst(&last.components);
                }
                _ => out.push(GroupModel {
                    id: None,
                    name: None,
                    status: c.status,
                    components: vec![c],
                }),
            },
        }
    }
    out
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: Uuid,
    name: String,
    position: i32,
}

#[derive(sqlx::FromRow)]
struct ComponentRow {
    id: Uuid,
    name: String,
    description: String,
    group_id: Option<Uuid>,
    position: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// What the page reads from PostgreSQL itself (everything scoped by the tenant).
struct PageRows {
    groups: Vec<GroupRow>,
    /// In page order.
    components: Vec<ComponentRow>,
    /// Enabled monitors on a component: (monitor, component, probed: not a heartbeat).
    monitors: Vec<(Uuid, Uuid, bool)>,
    incidents: Vec<IncidentModel>,
    maintenances: Vec<MaintenanceModel>,
    metrics: Vec<api::custom_metrics::PublicMetric>,
    /// The latest health report of each (monitor, region) that shows its dependencies:
    /// (component, report), newest first.
    health: Vec<(Uuid, checker::health::HealthReport)>,
}

async fn read_page_rows(
    db: &sqlx::PgPool,
    tenant_id: Uuid,
) -> api::rest::error::ApiResult<PageRows> {
    let groups: Vec<GroupRow> = sqlx::query_as(
        "SELECT id, name, position FROM component_groups WHERE tenant_id = $1 ORDER BY position, name",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    let components: Vec<ComponentRow> = sqlx::query_as(
        "SELECT id, name, description, group_id, position, created_at, updated_at FROM components \
         WHERE tenant_id = $1 ORDER BY position, name",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    let monitors: Vec<(Uuid, Uuid, bool)> = sqlx::query_as(
        "SELECT id, component_id, kind <> 'heartbeat' FROM monitors \
         WHERE tenant_id = $1 AND enabled AND component_id IS NOT NULL ORDER BY id",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    let names: HashMap<Uuid, String> = components.iter().map(|c| (c.id, c.name.clone())).collect();
    let incidents = read_incidents(db, tenant_id, &names).await?;
    let maintenances = read_maintenances(db, tenant_id, &names).await?;
    let metrics = api::custom_metrics::public(db, tenant_id).await?;
    let health: Vec<(Uuid, sqlx::types::Json<checker::health::HealthReport>)> = sqlx::query_as(
        "SELECT m.component_id, s.detail -> 'health' FROM monitors m \
         JOIN monitor_region_state s ON s.monitor_id = m.id \
         WHERE m.tenant_id = $1 AND m.enabled AND m.component_id IS NOT NULL \
           AND m.spec -> 'health' ->> 'show_on_page' = 'true' AND s.detail ? 'health' \
         ORDER BY s.last_checked_at DESC",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    let health = health.into_iter().map(|(c, r)| (c, r.0)).collect();
    Ok(PageRows {
        groups,
        components,
        monitors,
        incidents,
        maintenances,
        metrics,
        health,
    })
}

type IncidentRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// Published incidents (drafts never) unresolved or resolved in the last [`HISTORY_MONTHS`]
/// months, newest first, at most [`MAX_HISTORY_INCIDENTS`] (unresolved ones first in the limit),
/// each with its newest [`MAX_INCIDENT_UPDATES`] updates.
async fn read_incidents(
    db: &sqlx::PgPool,
    tenant_id: Uuid,
    names: &HashMap<Uuid, String>,
) -> api::rest::error::ApiResult<Vec<IncidentModel>> {
    use api::rest::parse_stored;
    let rows: Vec<IncidentRow> = sqlx::query_as(
        "SELECT id, title, status, impact, started_at, resolved_at, published_at, updated_at \
         FROM incidents WHERE tenant_id = $1 AND published_at IS NOT NULL \
         AND (status <> 'resolved' OR coalesce(resolved_at, updated_at) > now() - make_interval(months => $2)) \
         ORDER BY (status <> 'resolved') DESC, started_at DESC, id DESC LIMIT $3",
    )
    .bind(tenant_id)
    .bind(HISTORY_MONTHS as i32)
    .bind(MAX_HISTORY_INCIDENTS as i64)
    .fetch_all(db)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let affected: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT incident_id, component_id, status FROM incident_components \
         WHERE tenant_id = $1 AND incident_id = ANY($2)",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(db)
    .await?;
    type UpdateRow = (
        Uuid,
        Uuid,
        String,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    );
    let updates: Vec<UpdateRow> = sqlx::query_as(
        "SELECT incident_id, id, status, message, created_at, monitoring_at FROM ( \
           SELECT incident_id, id, status, message, created_at, \
                  min(created_at) FILTER (WHERE status = 'monitoring') \
                      OVER (PARTITION BY incident_id) AS monitoring_at, \
                  row_number() OVER (PARTITION BY incident_id ORDER BY created_at DESC, id DESC) AS n \
           FROM incident_updates WHERE tenant_id = $1 AND incident_id = ANY($2)) u \
         WHERE n <= $3 ORDER BY created_at DESC, id DESC",
    )
    .bind(tenant_id)
    .bind(&ids)
    .bind(MAX_INCIDENT_UPDATES as i64)
    .fetch_all(db)
    .await?;
    let mut incidents = Vec::with_capacity(rows.len());
    for (id, title, status, impact, started_at, resolved_at, published_at, updated_at) in rows {
        let mut components = Vec::new();
        for (_, component, status) in affected.iter().filter(|a| a.0 == id) {
            if let Some(name) = names.get(component) {
                components.push(AffectedModel {
                    id: *component,
                    name: name.clone(),
                    status: parse_stored("component status", status)?,
                });
            }
        }
        components.sort_by(|a, b| a.name.cmp(&b.name));
        let mine: Vec<&UpdateRow> = updates.iter().filter(|u| u.0 == id).collect();
        incidents.push(IncidentModel {
            id,
            title,
            status: parse_stored("status", &status)?,
            impact: parse_stored("impact", &impact)?,
            started_at,
            resolved_at,
            created_at: published_at,
            updated_at,
            monitoring_at: mine.first().and_then(|u| u.5),
            components,
            updates: mine
                .iter()
                .map(|u| {
                    Ok(UpdateModel {
                        id: u.1,
                        status: parse_stored("status", &u.2)?,
                        message: u.3.clone(),
                        created_at: u.4,
                    })
                })
                .collect::<api::rest::error::ApiResult<_>>()?,
        });
    }
    incidents.sort_by_key(|i| std::cmp::Reverse((i.started_at, i.id)));
    Ok(incidents)
}

/// Maintenance not ended yet (soonest first), then ended in the last [`HISTORY_MONTHS`] months
/// (most recent first), bounded like the snapshot's
/// ([`api::status_page::snapshot::MAX_SNAPSHOT_MAINTENANCES`], the windows not ended first).
async fn read_maintenances(
    db: &sqlx::PgPool,
    tenant_id: Uuid,
    names: &HashMap<Uuid, String>,
) -> api::rest::error::ApiResult<Vec<MaintenanceModel>> {
    let days = (HISTORY_MONTHS * 31) as i32;
    let windows = api::maintenance::current_and_upcoming(db, tenant_id, days).await?;
    let now = Utc::now();
    let mut out: Vec<MaintenanceModel> = windows
        .into_iter()
        .map(|m| MaintenanceModel {
            id: m.id,
            title: m.title,
            description: m.description,
            status: m.status,
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
            components: m
                .component_ids
                .iter()
                .filter_map(|id| names.get(id).map(|name| (*id, name.clone())))
                .collect(),
        })
        .collect();
    let ended = |m: &MaintenanceModel| m.status == MaintenanceStatus::Completed || m.ends_at <= now;
    out.sort_by(|a, b| match (ended(a), ended(b)) {
        (false, false) => (a.starts_at, a.id).cmp(&(b.starts_at, b.id)),
        (true, true) => (b.ends_at, b.id).cmp(&(a.ends_at, a.id)),
        (false, true) => std::cmp::Ordering::Less,
        (true, false) => std::cmp::Ordering::Greater,
    });
    Ok(out)
}
