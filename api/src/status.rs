//! What a status page shows, built from Postgres (configuration, current state from the fast path)
//! and ClickHouse (latency, uptime), and kept per tenant in memory so a page view never waits on a
//! heavy query and keeps serving the last good snapshot when a database is unreachable.

use crate::checkers::parse_status;
use crate::error::ApiResult;
use crate::tenancy::Tenant;
use checker::probe::CheckStatus;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use statuspage_clickhouse::{
    Analytics, StatusPageAnalytics, TimeWindow, STATUS_DEGRADED, STATUS_DOWN, STATUS_UP,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const UPTIME_WINDOW_SECS: u32 = 24 * 3600;

/// (monitor, region, status, last checked, last error) from the fast path.
type RegionStateRow = (Uuid, String, String, DateTime<Utc>, Option<String>);
type Entries = HashMap<Uuid, (Instant, Arc<StatusSnapshot>)>;

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    pub tenant: Tenant,
    pub title: String,
    pub generated_at: DateTime<Utc>,
    /// Worst current status over all monitors; `None` before any check ran.
    pub overall: Option<CheckStatus>,
    pub monitors: Vec<MonitorStatus>,
    /// Unresolved incidents and those resolved in the last 14 days, newest first.
    #[serde(default)]
    pub incidents: Vec<crate::public::PublicIncident>,
    /// Maintenance in progress or upcoming (and ended in the last day), soonest first.
    #[serde(default)]
    pub maintenances: Vec<crate::public::PublicMaintenance>,
    /// True when this snapshot is older than it should be because a database failed.
    pub stale: bool,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorStatus {
    pub id: Uuid,
    pub name: String,
    pub component: Option<String>,
    pub status: Option<CheckStatus>,
    /// The `24h` entry of `uptime_windows`.
    pub uptime_24h: Option<f64>,
    /// Uptime over the last 24 hours, 7, 30 and 90 days (from the start of the hour that long
    /// ago up to now); `None` without checks in the window.
    #[serde(default)]
    pub uptime_windows: Vec<WindowUptime>,
    /// The last 90 UTC days, oldest first, the last one today.
    #[serde(default)]
    pub days: Vec<DayStatus>,
    pub regions: Vec<RegionStatus>,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowUptime {
    /// `24h`, `7d`, `30d` or `90d`.
    pub window: String,
    pub percent: Option<f64>,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayStatus {
    pub day: NaiveDate,
    /// The worst status of the day: `no_data`, `up`, `degraded` or `down`.
    pub status: String,
    pub uptime: Option<f64>,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionStatus {
    pub region: String,
    pub status: CheckStatus,
    pub last_total_us: Option<u32>,
    pub last_checked_at: DateTime<Utc>,
    pub error: Option<String>,
    /// Median and 95th percentile of the total time over the 24 whole hours before the last
    /// analytics refresh (down checks left out).
    #[serde(default)]
    pub p50_24h_us: Option<f64>,
    #[serde(default)]
    pub p95_24h_us: Option<f64>,
}

/// A monitor's status from its regions: down only when most regions agree, so one region's
/// network trouble shows as degraded instead of an outage.
pub fn combine_regions(statuses: &[CheckStatus]) -> Option<CheckStatus> {
    if statuses.is_empty() {
        return None;
    }
    let down = statuses.iter().filter(|s| **s == CheckStatus::Down).count();
    if down * 2 > statuses.len() {
        Some(CheckStatus::Down)
    } else if statuses.iter().any(|s| *s != CheckStatus::Up) {
        Some(CheckStatus::Degraded)
    } else {
        Some(CheckStatus::Up)
    }
}

fn worst(a: CheckStatus, b: CheckStatus) -> CheckStatus {
    let rank = |s: CheckStatus| match s {
        CheckStatus::Up => 0,
        CheckStatus::Degraded => 1,
        CheckStatus::Down => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn from_clickhouse_status(status: i8) -> CheckStatus {
    match status {
        STATUS_UP => CheckStatus::Up,
        STATUS_DEGRADED => CheckStatus::Degraded,
        STATUS_DOWN => CheckStatus::Down,
        _ => CheckStatus::Down,
    }
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn uptime_windows(history: &StatusPageAnalytics, monitor: Uuid) -> Vec<WindowUptime> {
    history
        .uptime
        .iter()
        .map(|(window, monitors)| WindowUptime {
            window: window.clone(),
            percent: monitors
                .iter()
                .find(|m| m.monitor_id == monitor)
                .and_then(|m| m.overall.uptime_percent()),
        })
        .collect()
}

fn days(history: &StatusPageAnalytics, monitor: Uuid) -> Vec<DayStatus> {
    let Some(bars) = history.bars.iter().find(|b| b.monitor_id == monitor) else {
        return Vec::new();
    };
    bars.days
        .iter()
        .map(|d| DayStatus {
            day: d.day,
            status: d.status.as_str().to_owned(),
            uptime: d.uptime_percent(),
        })
        .collect()
}

/// The tenant's scheduled maintenance up to now over the status page's longest window (91 days),
/// for a page that leaves it out of its uptime.
pub async fn maintenance_windows(
    db: &PgPool,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<Vec<TimeWindow>> {
    let rows: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT starts_at, least(ends_at, $2) FROM maintenances \
         WHERE tenant_id = $1 AND starts_at < $2 AND ends_at > $2 - interval '92 days' \
         ORDER BY starts_at",
    )
    .bind(tenant_id)
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(start, end)| TimeWindow::new(start, end).ok())
        .collect())
}

/// Builds a fresh snapshot; fails if either database fails.
pub async fn build_snapshot(
    db: &PgPool,
    analytics: &Analytics,
    tenant: &Tenant,
) -> ApiResult<StatusSnapshot> {
    let page: Option<(String, bool)> =
        sqlx::query_as("SELECT title, exclude_maintenance FROM status_pages WHERE tenant_id = $1")
            .bind(tenant.id)
            .fetch_optional(db)
            .await?;
    let (title, exclude_maintenance) = page.unzip();
    let monitors: Vec<(Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT m.id, m.name, c.name FROM monitors m \
         LEFT JOIN components c ON c.id = m.component_id AND c.tenant_id = m.tenant_id \
         WHERE m.tenant_id = $1 AND m.enabled ORDER BY c.position NULLS LAST, c.name, m.name",
    )
    .bind(tenant.id)
    .fetch_all(db)
    .await?;
    let states: Vec<RegionStateRow> = sqlx::query_as(
        "SELECT s.monitor_id, s.region, s.status, s.last_checked_at, s.last_error FROM monitor_region_state s \
         JOIN monitors m ON m.id = s.monitor_id WHERE m.tenant_id = $1",
    )
    .bind(tenant.id)
    .fetch_all(db)
    .await?;
    let ids: Vec<Uuid> = monitors.iter().map(|m| m.0).collect();
    let now = Utc::now();
    let maintenance = if exclude_maintenance == Some(true) {
        maintenance_windows(db, tenant.id, now).await?
    } else {
        Vec::new()
    };
    let (latest, history) = tokio::try_join!(
        analytics.latest_by_region(tenant.id, UPTIME_WINDOW_SECS),
        analytics.status_page(tenant.id, &ids, now, &maintenance),
    )?;

    let mut overall: Option<CheckStatus> = None;
    let monitors = monitors
        .into_iter()
        .map(|(id, name, component)| {
            // ClickHouse has every check; the fast path may be newer (results land there first).
            let mut regions: Vec<RegionStatus> = latest
                .iter()
                .filter(|l| l.monitor_id == id)
                .map(|l| RegionStatus {
                    region: l.region.clone(),
                    status: from_clickhouse_status(l.status),
                    last_total_us: Some(l.total_us),
                    last_checked_at: from_micros(l.last_checked_at),
                    error: None,
                    p50_24h_us: None,
                    p95_24h_us: None,
                })
                .collect();
            for (monitor_id, region, status, checked_at, error) in &states {
                let Some(status) = (*monitor_id == id).then(|| parse_status(status)).flatten()
                else {
                    continue;
                };
                match regions.iter_mut().find(|r| &r.region == region) {
                    Some(r) if r.last_checked_at <= *checked_at => {
                        r.status = status;
                        r.error = error.clone();
                    }
                    Some(r) if r.status != CheckStatus::Up => r.error = error.clone(),
                    Some(_) => {}
                    None => regions.push(RegionStatus {
                        region: region.clone(),
                        status,
                        last_total_us: None,
                        last_checked_at: *checked_at,
                        error: error.clone(),
                        p50_24h_us: None,
                        p95_24h_us: None,
                    }),
                }
            }
            for latency in history.latency_24h.iter().filter(|l| l.monitor_id == id) {
                if let (Some(r), Some(q)) = (
                    regions.iter_mut().find(|r| r.region == latency.region),
                    latency.total,
                ) {
                    r.p50_24h_us = Some(q.p50);
                    r.p95_24h_us = Some(q.p95);
                }
            }
            regions.sort_by(|a, b| a.region.cmp(&b.region));
            let status = combine_regions(&regions.iter().map(|r| r.status).collect::<Vec<_>>());
            if let Some(s) = status {
                overall = Some(overall.map_or(s, |o| worst(o, s)));
            }
            let uptime_windows = uptime_windows(&history, id);
            MonitorStatus {
                id,
                uptime_24h: uptime_windows
                    .iter()
                    .find(|w| w.window == "24h")
                    .and_then(|w| w.percent),
                name,
                component,
                status,
                uptime_windows,
                days: days(&history, id),
                regions,
            }
        })
        .collect();
    Ok(StatusSnapshot {
        tenant: tenant.clone(),
        title: title.unwrap_or_else(|| format!("{} status", tenant.name)),
        generated_at: Utc::now(),
        overall,
        monitors,
        incidents: crate::public::incidents_for_visitors(db, tenant.id, 14).await?,
        maintenances: crate::public::maintenances_for_visitors(db, tenant.id, 1).await?,
        stale: false,
    })
}

/// Per-tenant snapshots in memory, rebuilt when older than `max_age` or invalidated.
#[derive(Clone)]
pub struct StatusCache {
    max_age: Duration,
    entries: Arc<RwLock<Entries>>,
}

impl StatusCache {
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            entries: Arc::default(),
        }
    }

    pub fn invalidate(&self, tenant_id: Uuid) {
        if let Some(entry) = self
            .entries
            .write()
            .expect("status cache lock")
            .get_mut(&tenant_id)
        {
            entry.0 = Instant::now() - self.max_age - Duration::from_secs(1);
        }
    }

    /// A fresh enough snapshot, or a rebuilt one; the last good one if rebuilding fails.
    pub async fn get(
        &self,
        db: &PgPool,
        analytics: &Analytics,
        tenant: &Tenant,
    ) -> ApiResult<Arc<StatusSnapshot>> {
        let cached = self
            .entries
            .read()
            .expect("status cache lock")
            .get(&tenant.id)
            .cloned();
        if let Some((at, snapshot)) = &cached {
            if at.elapsed() < self.max_age {
                return Ok(snapshot.clone());
            }
        }
        match build_snapshot(db, analytics, tenant).await {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                self.entries
                    .write()
                    .expect("status cache lock")
                    .insert(tenant.id, (Instant::now(), snapshot.clone()));
                Ok(snapshot)
            }
            Err(e) => match cached {
                Some((_, snapshot)) => {
                    tracing::warn!(tenant = %tenant.slug, error = %e, "serving last good status snapshot");
                    let mut stale = (*snapshot).clone();
                    stale.stale = true;
                    Ok(Arc::new(stale))
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckStatus::*;

    #[test]
    fn regions_combine_by_majority() {
        assert_eq!(combine_regions(&[]), None);
        assert_eq!(combine_regions(&[Up, Up, Up]), Some(Up));
        assert_eq!(combine_regions(&[Up, Down, Up]), Some(Degraded));
        assert_eq!(combine_regions(&[Down, Down, Up]), Some(Down));
        assert_eq!(combine_regions(&[Up, Degraded]), Some(Degraded));
        assert_eq!(combine_regions(&[Down]), Some(Down));
    }
}
