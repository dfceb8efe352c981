//! What a status page shows, built from Postgres (configuration, current state from the fast path)
//! and ClickHouse (latency, uptime), and kept per tenant in memory so a page view never waits on a
//! heavy query and keeps serving the last good snapshot when a database is unreachable.

use crate::accounts::tenancy::Tenant;
use crate::checkers::parse_status;
use crate::rest::error::ApiResult;
use checker::probe::CheckStatus;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use statuspage_clickhouse::{
    Analytics, StatusPageAnalytics, STATUS_DEGRADED, STATUS_DOWN, STATUS_UP,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const UPTIME_WINDOW_SECS: u32 = 24 * 3600;

/// (monitor, region, status, last checked, last error, its kind) from the fast path.
type RegionStateRow = (
    Uuid,
    String,
    String,
    DateTime<Utc>,
    Option<String>,
    Option<serde_json::Value>,
);

/// (monitor, name, component name, component id, the engine's state, flapping).
type PageMonitorRow = (
    Uuid,
    String,
    Option<String>,
    Option<Uuid>,
    Option<String>,
    Option<bool>,
);

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    pub tenant: Tenant,
    pub title: String,
    pub generated_at: DateTime<Utc>,
    /// Worst current status over all monitors; `None` before any check ran.
    pub overall: Option<CheckStatus>,
    pub monitors: Vec<MonitorStatus>,
    /// Every component with the status it shows: its override, else the worst of its monitors,
    /// open incidents naming it and maintenance in progress.
    #[serde(default)]
    pub components: Vec<ComponentState>,
    /// The banner's status: the worst of the components, the monitors on none and the open
    /// incidents (`None` before anything is known). `overall` is its three-level form.
    #[serde(default)]
    pub page_status: Option<crate::engine::components::PageStatus>,
    /// Unresolved incidents and those resolved in the last 14 days, newest first.
    #[serde(default)]
    pub incidents: Vec<super::public::PublicIncident>,
    /// Maintenance in progress or upcoming (and ended in the last day), soonest first.
    #[serde(default)]
    pub maintenances: Vec<super::public::PublicMaintenance>,
    /// True when this snapshot is older than it should be because a database failed.
    pub stale: bool,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorStatus {
    pub id: Uuid,
    pub name: String,
    pub component: Option<String>,
    pub status: Option<CheckStatus>,
    /// The incident engine's confirmed state (`regional_outage` is some regions failing below
    /// the quorum, told apart from `major_outage`); `None` before the engine saw a result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::engine::MonitorState>,
    /// Changing state too often: `state` is held and alerts paused until it settles.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flapping: bool,
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
pub struct ComponentState {
    pub id: Uuid,
    pub name: String,
    pub status: crate::engine::components::PageStatus,
    /// The status was pinned by a person.
    pub overridden: bool,
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
    /// The full detail of the last failure, for the tenant (`/api/v1/status`); always `null` in
    /// what visitors get ([`StatusSnapshot::for_visitors`]).
    pub error: Option<String>,
    /// The kind of the last failure: all that visitors see of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<checker::failure::Failure>,
    /// `failure` in words ("connection refused", "HTTP status 503").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_text: Option<String>,
    /// Median and 95th percentile of the total time over the 24 whole hours before the last
    /// analytics refresh (down checks left out).
    #[serde(default)]
    pub p50_24h_us: Option<f64>,
    #[serde(default)]
    pub p95_24h_us: Option<f64>,
}

/// The stored kind of a failure; a failure stored without one (an older checker's) is `Other`.
fn failure_of(
    error: Option<&str>,
    stored: Option<&serde_json::Value>,
) -> Option<checker::failure::Failure> {
    stored
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .or(error.map(|_| checker::failure::Failure::Other))
}

impl RegionStatus {
    fn set_failure(&mut self, error: Option<String>, failure: Option<checker::failure::Failure>) {
        self.error = error;
        self.failure = failure;
        self.failure_text = failure.map(|f| f.sentence());
    }
}

impl StatusSnapshot {
    /// What visitors may see: each failure's kind, never its detail (addresses, resolver
    /// answers, raw errors stay with the tenant).
    pub fn for_visitors(&self) -> StatusSnapshot {
        let mut public = self.clone();
        for region in public
            .monitors
            .iter_mut()
            .flat_map(|m| m.regions.iter_mut())
        {
            region.error = None;
        }
        public
    }
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

/// Builds a fresh snapshot; fails if either database fails.
pub async fn build_snapshot(
    db: &PgPool,
    analytics: &Analytics,
    tenant: &Tenant,
) -> ApiResult<(StatusSnapshot, PublicHistory)> {
    let page: Option<(String, bool)> =
        sqlx::query_as("SELECT title, exclude_maintenance FROM status_pages WHERE tenant_id = $1")
            .bind(tenant.id)
            .fetch_optional(db)
            .await?;
    let (title, exclude_maintenance) = page.unzip();
    let monitors: Vec<PageMonitorRow> = sqlx::query_as(
        "SELECT m.id, m.name, c.name, c.id, s.state, s.flapping FROM monitors m \
         LEFT JOIN monitor_state s ON s.monitor_id = m.id \
         LEFT JOIN components c ON c.id = m.component_id AND c.tenant_id = m.tenant_id \
         WHERE m.tenant_id = $1 AND m.enabled ORDER BY c.position NULLS LAST, c.name, m.name",
    )
    .bind(tenant.id)
    .fetch_all(db)
    .await?;
    let states: Vec<RegionStateRow> = sqlx::query_as(
        "SELECT s.monitor_id, s.region, s.status, s.last_checked_at, s.last_error, s.last_failure FROM monitor_region_state s \
         JOIN monitors m ON m.id = s.monitor_id WHERE m.tenant_id = $1",
    )
    .bind(tenant.id)
    .fetch_all(db)
    .await?;
    let ids: Vec<Uuid> = monitors.iter().map(|m| m.0).collect();
    let now = Utc::now();
    let maintenance = if exclude_maintenance == Some(true) {
        crate::maintenance::scheduled_windows(db, tenant.id, now).await?
    } else {
        Vec::new()
    };
    // Without ClickHouse the page still shows what PostgreSQL knows (marked stale): a cold
    // start during an analytics outage must not take the page down.
    let figures = tokio::time::timeout(ANALYTICS_BUDGET, async {
        tokio::try_join!(
            analytics.latest_by_region(tenant.id, UPTIME_WINDOW_SECS),
            analytics.status_page(tenant.id, &ids, now, &maintenance),
        )
    })
    .await;
    let (latest, history, analytics_ok) = match figures {
        Ok(Ok((latest, history))) => (latest, history, true),
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {ANALYTICS_BUDGET:?}"),
            };
            tracing::warn!(tenant = %tenant.slug, error = %why, "status snapshot without ClickHouse figures");
            (Vec::new(), StatusPageAnalytics::empty(now), false)
        }
    };

    let components: Vec<(Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT id, name, status_override FROM components WHERE tenant_id = $1 ORDER BY position, name",
    )
    .bind(tenant.id)
    .fetch_all(db)
    .await?;
    let in_maintenance: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT mc.component_id FROM maintenance_components mc \
         JOIN maintenances w ON w.id = mc.maintenance_id AND w.tenant_id = mc.tenant_id \
         WHERE mc.tenant_id = $1 AND w.status <> 'completed' \
           AND (w.status IN ('in_progress', 'verifying') OR (w.auto_transition AND w.starts_at <= now())) \
           AND (NOT w.auto_transition OR w.ends_at > now())",
    )
    .bind(tenant.id)
    .fetch_all(db)
    .await?;
    use crate::engine::components::{worst as worst_page, PageStatus};
    let mut by_component: HashMap<Uuid, Option<PageStatus>> = HashMap::new();
    let overridden: HashMap<Uuid, PageStatus> = components
        .iter()
        .filter_map(|(id, _, o)| o.as_deref().and_then(PageStatus::parse).map(|o| (*id, o)))
        .collect();
    let mut page_status: Option<PageStatus> = None;
    let mut overall: Option<CheckStatus> = None;
    let monitors = monitors
        .into_iter()
        .map(
            |(id, name, component, component_id, engine_state, flapping)| {
                let engine_state = engine_state
                    .as_deref()
                    .and_then(crate::engine::MonitorState::parse);
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
                        failure: None,
                        failure_text: None,
                        p50_24h_us: None,
                        p95_24h_us: None,
                    })
                    .collect();
                for (monitor_id, region, status, checked_at, error, failure) in &states {
                    let Some(status) = (*monitor_id == id).then(|| parse_status(status)).flatten()
                    else {
                        continue;
                    };
                    let failure = failure_of(error.as_deref(), failure.as_ref());
                    match regions.iter_mut().find(|r| &r.region == region) {
                        Some(r) if r.last_checked_at <= *checked_at => {
                            r.status = status;
                            r.set_failure(error.clone(), failure);
                        }
                        Some(r) if r.status != CheckStatus::Up => {
                            r.set_failure(error.clone(), failure)
                        }
                        Some(_) => {}
                        None => regions.push(RegionStatus {
                            region: region.clone(),
                            status,
                            last_total_us: None,
                            last_checked_at: *checked_at,
                            error: error.clone(),
                            failure,
                            failure_text: failure.map(|f| f.sentence()),
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
                let shown = PageStatus::of_monitor(engine_state, status);
                match component_id {
                    Some(c) => {
                        let slot = by_component.entry(c).or_default();
                        *slot = worst_page(*slot, shown);
                    }
                    None => page_status = worst_page(page_status, shown),
                }
                // A component pinned by a person speaks for its monitors on the banner.
                if !component_id.is_some_and(|c| overridden.contains_key(&c)) {
                    let confirmed = shown.map(PageStatus::as_check_status);
                    for s in status.into_iter().chain(confirmed) {
                        overall = Some(overall.map_or(s, |o| worst(o, s)));
                    }
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
                    state: engine_state,
                    flapping: flapping.unwrap_or(false),
                    uptime_windows,
                    days: days(&history, id),
                    regions,
                }
            },
        )
        .collect();
    let history = PublicHistory::read(db, tenant.id).await?;
    let generated_at = Utc::now();
    // Open incidents raise their components and the banner (published ones: drafts never
    // reach the history).
    let open: Vec<&super::public::PublicIncident> = history
        .incidents
        .iter()
        .filter(|i| i.resolved_at.is_none())
        .collect();
    let mut known = Vec::new();
    let components: Vec<ComponentState> = components
        .into_iter()
        .map(|(id, name, _)| {
            let status = match overridden.get(&id) {
                Some(pinned) => Some(*pinned),
                None => {
                    let mut status = by_component.get(&id).copied().flatten();
                    for incident in &open {
                        for c in incident.components.iter().filter(|c| c.name == name) {
                            status = worst_page(status, Some(PageStatus::of_incident(c.status)));
                        }
                    }
                    if in_maintenance.contains(&id) {
                        status = worst_page(status, Some(PageStatus::UnderMaintenance));
                    }
                    status
                }
            };
            if status.is_some() {
                known.push(id);
            }
            // Nothing known about it (no monitor checked yet, no incident): operational.
            ComponentState {
                id,
                overridden: overridden.contains_key(&id),
                name,
                status: status.unwrap_or(PageStatus::Operational),
            }
        })
        .collect();
    for c in components.iter().filter(|c| known.contains(&c.id)) {
        page_status = worst_page(page_status, Some(c.status));
        if !c.overridden || c.status != PageStatus::Operational {
            let s = c.status.as_check_status();
            overall = Some(overall.map_or(s, |o| worst(o, s)));
        }
    }
    for incident in &open {
        let impact = PageStatus::of_impact(incident.impact);
        page_status = worst_page(page_status, impact);
        if let Some(s) = impact.map(PageStatus::as_check_status) {
            overall = Some(overall.map_or(s, |o| worst(o, s)));
        }
    }
    let snapshot = StatusSnapshot {
        tenant: tenant.clone(),
        title: title.unwrap_or_else(|| format!("{} status", tenant.name)),
        generated_at,
        overall,
        monitors,
        components,
        page_status,
        incidents: history.incidents(PAGE_INCIDENT_DAYS, generated_at),
        maintenances: history.maintenances(PAGE_MAINTENANCE_DAYS, generated_at),
        stale: !analytics_ok,
    };
    Ok((snapshot, history))
}

/// How far back the public incident and maintenance endpoints reach (their `?days=` maximum).
pub const HISTORY_DAYS: i32 = 90;
/// Incidents the snapshot keeps (unresolved first, then the most recently started).
pub const MAX_SNAPSHOT_INCIDENTS: usize = 50;
/// Timeline entries kept per incident in the snapshot, newest first.
pub const MAX_SNAPSHOT_UPDATES: usize = 50;
/// Maintenance windows the snapshot keeps, those that have not ended first
/// ([`crate::maintenance::current_and_upcoming`] reads no more).
pub const MAX_SNAPSHOT_MAINTENANCES: i64 = 100;
/// What the page itself lists: incidents resolved in the last 14 days, maintenance ended in the
/// last day.
const PAGE_INCIDENT_DAYS: i32 = 14;
const PAGE_MAINTENANCE_DAYS: i32 = 1;
/// After a failed rebuild, visitors get the last good snapshot (or the error) for this long
/// before the next attempt, so an unreachable database is not asked once per page view.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// How long a rebuild waits for ClickHouse before showing the page without its figures.
const ANALYTICS_BUDGET: Duration = Duration::from_secs(5);

/// Visitors' incident and maintenance history, read with the snapshot so the public endpoints
/// answer from memory, bounded like the snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublicHistory {
    /// Unresolved incidents and those resolved in the last [`HISTORY_DAYS`], newest first.
    pub incidents: Vec<super::public::PublicIncident>,
    /// Maintenance not ended yet and ended in the last [`HISTORY_DAYS`], soonest first.
    pub maintenances: Vec<super::public::PublicMaintenance>,
}

impl PublicHistory {
    async fn read(db: &PgPool, tenant_id: Uuid) -> ApiResult<Self> {
        let names = super::public::component_names(db, tenant_id).await?;
        // Unresolved ones come first in the query's limit; visitors read them newest first.
        let mut incidents =
            super::public::incidents_for_visitors(db, tenant_id, HISTORY_DAYS, &names).await?;
        incidents.truncate(MAX_SNAPSHOT_INCIDENTS);
        incidents.sort_by_key(|i| std::cmp::Reverse((i.started_at, i.id)));
        for incident in &mut incidents {
            incident.updates.truncate(MAX_SNAPSHOT_UPDATES);
        }
        let maintenances =
            super::public::maintenances_for_visitors(db, tenant_id, HISTORY_DAYS, &names).await?;
        Ok(Self {
            incidents,
            maintenances,
        })
    }

    /// Unresolved incidents and those resolved in the last `days` days (at most [`HISTORY_DAYS`]).
    pub fn incidents(&self, days: i32, now: DateTime<Utc>) -> Vec<super::public::PublicIncident> {
        let since = now - chrono::Duration::days(i64::from(days));
        self.incidents
            .iter()
            .filter(|i| i.resolved_at.is_none_or(|at| at > since))
            .cloned()
            .collect()
    }

    /// Maintenance that has not ended or ended in the last `days` days.
    pub fn maintenances(
        &self,
        days: i32,
        now: DateTime<Utc>,
    ) -> Vec<super::public::PublicMaintenance> {
        let since = now - chrono::Duration::days(i64::from(days));
        self.maintenances
            .iter()
            .filter(|m| m.ends_at > since)
            .cloned()
            .collect()
    }
}

/// What is kept per tenant: the snapshot and the history built with it.
#[derive(Debug, Clone)]
pub struct StatusEntry {
    pub snapshot: Arc<StatusSnapshot>,
    pub history: Arc<PublicHistory>,
}

struct Cached {
    built_at: Instant,
    entry: StatusEntry,
}

#[derive(Default)]
struct TenantSlot {
    cached: Option<Cached>,
    /// When the last rebuild failed, and what it said.
    failed: Option<(Instant, String)>,
}

/// Per-tenant snapshots in memory, rebuilt when older than `max_age` or invalidated. At most one
/// rebuild per tenant runs at a time: while it runs, visitors get the previous snapshot, or wait
/// for it when there is none yet, so a burst of visitors costs the databases one rebuild.
#[derive(Clone)]
pub struct StatusCache {
    max_age: Duration,
    slots: Arc<RwLock<HashMap<Uuid, TenantSlot>>>,
    /// One lock per tenant, held by whoever rebuilds its snapshot.
    rebuilding: Arc<std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
    rebuilds: Arc<std::sync::atomic::AtomicU64>,
}

impl StatusCache {
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            slots: Arc::default(),
            rebuilding: Arc::default(),
            rebuilds: Arc::default(),
        }
    }

    pub fn invalidate(&self, tenant_id: Uuid) {
        let mut slots = self.slots.write().expect("status cache lock");
        if let Some(slot) = slots.get_mut(&tenant_id) {
            if let Some(cached) = &mut slot.cached {
                cached.built_at = Instant::now() - self.max_age - Duration::from_secs(1);
            }
            slot.failed = None;
        }
    }

    /// Snapshot rebuilds started since this cache was made (all tenants).
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A fresh enough snapshot, or a rebuilt one; the last good one if rebuilding fails.
    pub async fn get(
        &self,
        db: &PgPool,
        analytics: &Analytics,
        tenant: &Tenant,
    ) -> ApiResult<Arc<StatusSnapshot>> {
        Ok(self.entry(db, analytics, tenant).await?.snapshot)
    }

    /// The snapshot and history, rebuilt as [`Self::get`] says.
    pub async fn entry(
        &self,
        db: &PgPool,
        analytics: &Analytics,
        tenant: &Tenant,
    ) -> ApiResult<StatusEntry> {
        if let Some(answer) = self.settled(tenant.id, false) {
            return answer;
        }
        let lock = self
            .rebuilding
            .lock()
            .expect("status rebuild lock")
            .entry(tenant.id)
            .or_default()
            .clone();
        let _guard = match lock.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Someone is rebuilding: the previous snapshot will do; without one, wait.
                if let Some(previous) = self.previous(tenant.id) {
                    return Ok(previous);
                }
                let guard = lock.lock().await;
                if let Some(answer) = self.settled(tenant.id, true) {
                    return answer;
                }
                guard
            }
        };
        // The cache may have been refreshed between the first look and taking the lock.
        if let Some(answer) = self.settled(tenant.id, false) {
            return answer;
        }
        self.rebuilds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let built = build_snapshot(db, analytics, tenant).await;
        let mut slots = self.slots.write().expect("status cache lock");
        let slot = slots.entry(tenant.id).or_default();
        match built {
            // Without ClickHouse's figures the last good snapshot is the better answer.
            Ok((snapshot, _)) if snapshot.stale && slot.cached.is_some() => {
                slot.failed = Some((Instant::now(), "ClickHouse unavailable".to_owned()));
                Ok(stale(&slot.cached.as_ref().expect("checked above").entry))
            }
            Ok((snapshot, history)) => {
                let entry = StatusEntry {
                    snapshot: Arc::new(snapshot),
                    history: Arc::new(history),
                };
                slot.cached = Some(Cached {
                    built_at: Instant::now(),
                    entry: entry.clone(),
                });
                slot.failed = None;
                Ok(entry)
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant.slug, error = %e, "status snapshot rebuild failed");
                slot.failed = Some((Instant::now(), e.to_string()));
                match &slot.cached {
                    Some(cached) => Ok(stale(&cached.entry)),
                    None => Err(e),
                }
            }
        }
    }

    /// The answer without rebuilding: a fresh snapshot, or (after a recent failed rebuild) the
    /// last good one marked stale or the failure; `None` when a rebuild is due. `after_wait`:
    /// the caller waited for someone else's rebuild, so whatever it left is the answer.
    fn settled(&self, tenant_id: Uuid, after_wait: bool) -> Option<ApiResult<StatusEntry>> {
        let slots = self.slots.read().expect("status cache lock");
        let slot = slots.get(&tenant_id)?;
        if let Some(cached) = &slot.cached {
            if cached.built_at.elapsed() < self.max_age {
                return Some(Ok(cached.entry.clone()));
            }
        }
        let (failed_at, error) = slot.failed.as_ref()?;
        if !after_wait && failed_at.elapsed() >= RETRY_AFTER_FAILURE {
            return None;
        }
        Some(match &slot.cached {
            Some(cached) => Ok(stale(&cached.entry)),
            None => Err(crate::rest::error::ApiError::Internal(format!(
                "status snapshot unavailable: {error}"
            ))),
        })
    }

    fn previous(&self, tenant_id: Uuid) -> Option<StatusEntry> {
        let slots = self.slots.read().expect("status cache lock");
        slots
            .get(&tenant_id)?
            .cached
            .as_ref()
            .map(|c| c.entry.clone())
    }
}

fn stale(entry: &StatusEntry) -> StatusEntry {
    if entry.snapshot.stale {
        return entry.clone();
    }
    let mut snapshot = (*entry.snapshot).clone();
    snapshot.stale = true;
    StatusEntry {
        snapshot: Arc::new(snapshot),
        history: entry.history.clone(),
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
