//! `GET /api/v1/monitors/{id}/analytics`: a monitor's uptime, latency percentiles per region and
//! phase, chart series and Apdex trend over a window, from ClickHouse (rollups where they answer
//! exactly, raw rows for partial hours). Tenant-scoped like every `/api/v1` read: another
//! tenant's monitor is a 404.

use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::rest::responses::{NeedsToken, NotFound};
use crate::{monitors, AppState};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use statuspage_clickhouse::{
    Counts, Resolution, Source, TimeWindow, APDEX_BIN_MS, STATUS_PAGE_WINDOWS,
};
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/monitors/{id}/analytics", get(monitor_analytics))
}

/// Longest custom window: the daily rollup's retention.
const MAX_WINDOW_DAYS: i64 = 400;
const DEFAULT_APDEX_MS: u32 = 500;
/// 2020-01-01T00:00:00Z.
const EARLIEST: i64 = 1_577_836_800;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// `24h`, `7d`, `30d` or `90d` (from the start of the hour that long ago up to now; the
    /// default is `24h`). Not with `from` / `to`.
    window: Option<String>,
    /// Start of a custom window (RFC 3339), with `to`.
    from: Option<DateTime<Utc>>,
    /// End of a custom window (RFC 3339, exclusive), with `from`; at most 400 days after it.
    to: Option<DateTime<Utc>>,
    /// Apdex threshold T in ms: a multiple of 10 from 10 to 60000 (default 500).
    apdex_ms: Option<u32>,
    /// Chart resolution: `raw` (per minute, windows up to 12 hours within the raw retention),
    /// `hour` or `day`; chosen from the window's length when absent.
    resolution: Option<String>,
    /// Leave checks made during the tenant's scheduled maintenance out of uptime and Apdex.
    exclude_maintenance: Option<bool>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct CheckCounts {
    pub checks: u64,
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    /// Share of checks not down, in percent; `null` without checks.
    pub uptime_percent: Option<f64>,
}

impl From<Counts> for CheckCounts {
    fn from(c: Counts) -> Self {
        Self {
            checks: c.checks,
            up: c.up,
            degraded: c.degraded,
            down: c.down,
            uptime_percent: c.uptime_percent(),
        }
    }
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct RegionUptime {
    pub region: String,
    pub counts: CheckCounts,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

impl From<statuspage_clickhouse::Quantiles> for Percentiles {
    fn from(q: statuspage_clickhouse::Quantiles) -> Self {
        Self {
            p50: q.p50,
            p75: q.p75,
            p90: q.p90,
            p95: q.p95,
            p99: q.p99,
        }
    }
}

/// Percentiles in microseconds of each phase; down checks are left out.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct PhasePercentiles {
    pub dns: Percentiles,
    pub tcp_connect: Percentiles,
    pub tls_handshake: Percentiles,
    pub ttfb: Percentiles,
    pub transfer: Percentiles,
    pub total: Percentiles,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct RegionLatency {
    pub region: String,
    /// Checks with a latency (not down).
    pub samples: u64,
    pub mean_total_us: Option<f64>,
    /// `null` without samples.
    pub phases: Option<PhasePercentiles>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct SeriesPoint {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    pub region: String,
    pub counts: CheckCounts,
    pub mean_total_us: Option<f64>,
    pub p50_total_us: Option<f64>,
    pub p95_total_us: Option<f64>,
    pub p99_total_us: Option<f64>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct ApdexScore {
    pub checks: u64,
    pub satisfied: u64,
    pub tolerating: u64,
    pub frustrated: u64,
    /// (satisfied + tolerating / 2) / checks; `null` without checks.
    pub score: Option<f64>,
}

impl From<statuspage_clickhouse::Apdex> for ApdexScore {
    fn from(a: statuspage_clickhouse::Apdex) -> Self {
        Self {
            checks: a.checks,
            satisfied: a.satisfied,
            tolerating: a.tolerating,
            frustrated: a.frustrated,
            score: a.score,
        }
    }
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct ApdexTrend {
    pub threshold_ms: u32,
    pub current: ApdexScore,
    /// The window of the same length just before.
    pub previous: ApdexScore,
    pub change: Option<f64>,
    /// The score dropped by at least 0.05, by more than three standard errors, with at least
    /// 50 checks in each window.
    pub significant_degradation: bool,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct MonitorAnalytics {
    pub monitor_id: Uuid,
    pub window_start: DateTime<Utc>,
    /// Exclusive; the end of the current UTC day for windows reaching now.
    pub window_end: DateTime<Utc>,
    pub maintenance_excluded: bool,
    /// All regions together.
    pub uptime: CheckCounts,
    pub regions: Vec<RegionUptime>,
    pub latency: Vec<RegionLatency>,
    /// `raw` (per minute), `hour` or `day`.
    pub resolution: String,
    /// Ordered by region, then time; buckets without checks are absent.
    pub series: Vec<SeriesPoint>,
    pub apdex: ApdexTrend,
}

fn window_of(query: &AnalyticsQuery, now: DateTime<Utc>) -> ApiResult<TimeWindow> {
    match (&query.window, query.from, query.to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ApiError::field(
            "window",
            "give either `window` or `from` and `to`, not both",
        )),
        (_, Some(_), None) => Err(ApiError::field("to", "is required with `from`")),
        (_, None, Some(_)) => Err(ApiError::field("from", "is required with `to`")),
        (_, Some(from), Some(to)) => {
            if to <= from {
                return Err(ApiError::field("to", "must be after `from`"));
            }
            // Nothing is stored before the platform existed or after now.
            if from < DateTime::<Utc>::from_timestamp(EARLIEST, 0).unwrap_or_default() {
                return Err(ApiError::field("from", "must be in 2020 or later"));
            }
            if to > now + Duration::days(1) {
                return Err(ApiError::field(
                    "to",
                    "must not be more than a day from now",
                ));
            }
            if to - from > Duration::days(MAX_WINDOW_DAYS) {
                return Err(ApiError::field(
                    "to",
                    format!("must be at most {MAX_WINDOW_DAYS} days after `from`"),
                ));
            }
            TimeWindow::new(from, to).map_err(|e| ApiError::field("from", e.to_string()))
        }
        (window, None, None) => {
            let label = window.as_deref().unwrap_or("24h");
            let days = STATUS_PAGE_WINDOWS
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, days)| *days)
                .ok_or_else(|| ApiError::field("window", "must be one of 24h, 7d, 30d, 90d"))?;
            Ok(TimeWindow::status_page(now, days))
        }
    }
}

fn apdex_ms(query: &AnalyticsQuery) -> ApiResult<u32> {
    let ms = query.apdex_ms.unwrap_or(DEFAULT_APDEX_MS);
    if !(APDEX_BIN_MS..=60_000).contains(&ms) || !ms.is_multiple_of(APDEX_BIN_MS) {
        return Err(ApiError::field(
            "apdex_ms",
            format!("must be a multiple of {APDEX_BIN_MS} from {APDEX_BIN_MS} to 60000"),
        ));
    }
    Ok(ms)
}

#[utoipa::path(
    get,
    path = "/api/v1/monitors/{id}/analytics",
    tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "monitor id"), AnalyticsQuery),
    responses(
        (status = 200, description = "uptime, latency per region and phase, chart series and Apdex trend over the window", body = MonitorAnalytics),
        (status = 400, description = "malformed path or query", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        NeedsToken, NotFound,
        (status = 422, description = "invalid window, threshold or resolution (the field is named)", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn monitor_analytics(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<AnalyticsQuery>,
) -> ApiResult<Json<MonitorAnalytics>> {
    let now = Utc::now();
    let window = window_of(&query, now)?;
    let threshold = apdex_ms(&query)?;
    // 404 for a monitor of another tenant, before anything is read from ClickHouse.
    let monitor = monitors::get(&state.db, who.tenant_id, id).await?;
    let resolution = match query.resolution.as_deref() {
        None => Resolution::for_window(&window, now, state.analytics.raw_ttl_days()),
        Some("raw") => Resolution::Raw,
        Some("hour") => Resolution::Hour,
        Some("day") => Resolution::Day,
        Some(_) => {
            return Err(ApiError::field(
                "resolution",
                "must be one of raw, hour, day",
            ))
        }
    };
    if resolution == Resolution::Raw && window.length() > Duration::hours(12) {
        return Err(ApiError::field(
            "resolution",
            "raw is for windows of at most 12 hours",
        ));
    }
    let exclude = query.exclude_maintenance.unwrap_or(false);
    let maintenance = if exclude {
        crate::maintenance::scheduled_windows(&state.db, who.tenant_id, now).await?
    } else {
        Vec::new()
    };
    let analytics = &state.analytics;
    let only = [monitor.id];
    let (uptime, latency, series, apdex) = tokio::try_join!(
        analytics.uptime_report(who.tenant_id, window, &maintenance, Source::Rollups),
        analytics.latency_of(who.tenant_id, &only, window, Source::Rollups),
        analytics.series(who.tenant_id, monitor.id, window, Some(resolution)),
        analytics.apdex(
            who.tenant_id,
            monitor.id,
            threshold,
            window,
            &maintenance,
            Source::Rollups
        ),
    )?;
    let mine = uptime.into_iter().find(|u| u.monitor_id == monitor.id);
    Ok(Json(MonitorAnalytics {
        monitor_id: monitor.id,
        window_start: window.start,
        window_end: window.end,
        maintenance_excluded: exclude,
        uptime: mine.as_ref().map(|u| u.overall).unwrap_or_default().into(),
        regions: mine
            .map(|u| {
                u.regions
                    .into_iter()
                    .map(|r| RegionUptime {
                        region: r.region,
                        counts: r.counts.into(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        latency: latency
            .into_iter()
            .filter(|l| l.monitor_id == monitor.id)
            .map(|l| RegionLatency {
                region: l.region,
                samples: l.samples,
                mean_total_us: l.mean_total_us,
                phases: l.phases.map(|p| PhasePercentiles {
                    dns: p.dns.into(),
                    tcp_connect: p.tcp_connect.into(),
                    tls_handshake: p.tls_handshake.into(),
                    ttfb: p.ttfb.into(),
                    transfer: p.transfer.into(),
                    total: p.total.into(),
                }),
            })
            .collect(),
        resolution: match series.resolution {
            Resolution::Raw => "raw",
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
        .to_owned(),
        series: series
            .points
            .into_iter()
            .map(|p| SeriesPoint {
                at: p.at,
                region: p.region,
                counts: p.counts.into(),
                mean_total_us: p.mean_total_us,
                p50_total_us: p.p50_total_us,
                p95_total_us: p.p95_total_us,
                p99_total_us: p.p99_total_us,
            })
            .collect(),
        apdex: ApdexTrend {
            threshold_ms: threshold,
            current: apdex.current.into(),
            previous: apdex.previous.into(),
            change: apdex.change,
            significant_degradation: apdex.significant_degradation,
        },
    }))
}
