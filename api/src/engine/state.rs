//! One confirmed state per monitor, decided from the latest result of each of its regions under
//! the monitor's [`Confirmation`] policy. [`evaluate`] runs in the transaction that recorded the
//! results (and in the sweeper, for the timers): it locks the monitor's `monitor_state` row, so
//! two regions reporting at once, or two app servers, decide one after the other.

use super::dispatch::RecheckRequest;
use super::incident;
use super::policy::{Confirmation, PolicyRow, POLICY_COLUMNS};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use std::collections::BTreeSet;
use uuid::Uuid;

/// What a tenant and a visitor are told about a monitor.
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MonitorState {
    Operational,
    UnderMaintenance,
    Degraded,
    /// Some regions fail, fewer than the quorum, for longer than the policy's time.
    RegionalOutage,
    /// A quorum of regions fails.
    MajorOutage,
}

impl MonitorState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::UnderMaintenance => "under_maintenance",
            Self::Degraded => "degraded",
            Self::RegionalOutage => "regional_outage",
            Self::MajorOutage => "major_outage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "operational" => Self::Operational,
            "under_maintenance" => Self::UnderMaintenance,
            "degraded" => Self::Degraded,
            "regional_outage" => Self::RegionalOutage,
            "major_outage" => Self::MajorOutage,
            _ => return None,
        })
    }

    /// In words, for titles and timelines.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::UnderMaintenance => "under maintenance",
            Self::Degraded => "degraded",
            Self::RegionalOutage => "regional outage",
            Self::MajorOutage => "major outage",
        }
    }

    pub fn is_problem(self) -> bool {
        matches!(
            self,
            Self::Degraded | Self::RegionalOutage | Self::MajorOutage
        )
    }

    pub fn is_outage(self) -> bool {
        matches!(self, Self::RegionalOutage | Self::MajorOutage)
    }
}

/// A monitor and what the engine needs to know about it.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub component_id: Option<Uuid>,
    /// The regions it checks from (its own, or the deployment's when it names none).
    pub regions: Vec<String>,
    pub policy: Confirmation,
    pub in_maintenance: bool,
    /// `publish`, `draft` or `off`.
    pub auto_incidents: String,
}

/// One region's latest result, as the fast path keeps it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RegionRow {
    pub region: String,
    pub status: String,
    pub fail_streak: i32,
    pub ok_streak: i32,
    pub since: DateTime<Utc>,
    pub last_checked_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub last_failure: Option<serde_json::Value>,
    pub detail: serde_json::Value,
}

/// The stored `monitor_state` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Stored {
    pub state: String,
    pub since: DateTime<Utc>,
    pub problem_id: Option<Uuid>,
    pub problem_state: Option<String>,
    pub problem_since: Option<DateTime<Utc>>,
    pub incident_id: Option<Uuid>,
    pub partial_since: Option<DateTime<Utc>>,
    pub failing_regions: Vec<String>,
    pub rechecked_at: Option<DateTime<Utc>>,
    pub raw_state: String,
    pub transitions: Vec<DateTime<Utc>>,
    pub flapping: bool,
}

/// How the engine counts one region right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegionVerdict {
    Healthy,
    /// Failed (or degraded) fewer times in a row than the policy asks: not counted yet.
    Suspect,
    Degraded,
    Failing,
}

/// Counts a region: failing only after `failures` in a row, recovered only after `recoveries`
/// in a row (until then a region that was bad keeps counting as it did).
pub(crate) fn verdict(
    row: &RegionRow,
    policy: &Confirmation,
    was_bad: bool,
    held: MonitorState,
) -> RegionVerdict {
    let bad_as_before = if held == MonitorState::Degraded {
        RegionVerdict::Degraded
    } else {
        RegionVerdict::Failing
    };
    match row.status.as_str() {
        "up" if was_bad && row.ok_streak < policy.recoveries => bad_as_before,
        "up" => RegionVerdict::Healthy,
        status if row.fail_streak >= policy.failures || was_bad => {
            if status == "down" {
                RegionVerdict::Failing
            } else {
                RegionVerdict::Degraded
            }
        }
        _ => RegionVerdict::Suspect,
    }
}

/// What the regions say, before the flapping guard.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    pub target: MonitorState,
    pub failing: Vec<String>,
    pub degraded: Vec<String>,
    pub suspect: Vec<String>,
    pub healthy: Vec<String>,
    pub quorum: usize,
    pub partial_since: Option<DateTime<Utc>>,
}

/// The state the regions call for. `held` is the state the monitor is in (its problem state
/// while under maintenance).
pub(crate) fn read_regions(
    facts: &Facts,
    rows: &[RegionRow],
    stored: &Stored,
    held: MonitorState,
    now: DateTime<Utc>,
) -> Reading {
    let quorum = facts.policy.quorum(facts.regions.len());
    let mut reading = Reading {
        target: MonitorState::Operational,
        failing: Vec::new(),
        degraded: Vec::new(),
        suspect: Vec::new(),
        healthy: Vec::new(),
        quorum,
        partial_since: None,
    };
    for region in &facts.regions {
        let was_bad = held.is_problem() && stored.failing_regions.contains(region);
        let v = rows
            .iter()
            .find(|r| &r.region == region)
            .map_or(RegionVerdict::Healthy, |row| {
                verdict(row, &facts.policy, was_bad, held)
            });
        let list = match v {
            RegionVerdict::Healthy => &mut reading.healthy,
            RegionVerdict::Suspect => &mut reading.suspect,
            RegionVerdict::Degraded => &mut reading.degraded,
            RegionVerdict::Failing => &mut reading.failing,
        };
        list.push(region.clone());
    }
    let failing = reading.failing.len();
    if failing > 0 && failing < quorum {
        reading.partial_since = Some(stored.partial_since.unwrap_or(now));
    }
    let regional_after = Duration::seconds(i64::from(facts.policy.regional_outage_after_seconds));
    reading.target = if facts.in_maintenance {
        MonitorState::UnderMaintenance
    } else if failing >= quorum {
        MonitorState::MajorOutage
    } else if failing > 0
        && (held.is_outage()
            || reading
                .partial_since
                .is_some_and(|s| now - s >= regional_after))
    {
        MonitorState::RegionalOutage
    } else if failing + reading.degraded.len() >= quorum {
        MonitorState::Degraded
    } else {
        MonitorState::Operational
    };
    reading
}

pub(crate) async fn facts(
    conn: &mut PgConnection,
    monitor_id: Uuid,
    deployment_regions: &[String],
    now: DateTime<Utc>,
) -> Result<Option<Facts>, sqlx::Error> {
    type Row = (
        Uuid,
        String,
        Option<Uuid>,
        Vec<String>,
        bool,
        bool,
        String,
        Option<i32>,
        i32,
        i32,
        i32,
        i32,
        i32,
    );
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT m.tenant_id, m.name, m.component_id, m.regions, m.enabled, \
           {ACTIVE_MAINTENANCE} AS in_maintenance, \
           COALESCE((SELECT p.auto_incidents FROM status_pages p WHERE p.tenant_id = m.tenant_id), 'publish'), \
           {POLICY_COLUMNS} FROM monitors m WHERE m.id = $1"
    ))
    .bind(monitor_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((
        tenant_id,
        name,
        component_id,
        own,
        enabled,
        in_maintenance,
        auto,
        q,
        f,
        r,
        ra,
        fc,
        fw,
    )) = row
    else {
        return Ok(None);
    };
    if !enabled {
        return Ok(None);
    }
    let mut regions = if own.is_empty() {
        deployment_regions.to_vec()
    } else {
        own
    };
    if regions.is_empty() {
        // A deployment that did not say which regions it has: the ones that reported.
        regions = sqlx::query_scalar(
            "SELECT region FROM monitor_region_state WHERE monitor_id = $1 ORDER BY region",
        )
        .bind(monitor_id)
        .fetch_all(&mut *conn)
        .await?;
    }
    regions.sort();
    regions.dedup();
    let policy: PolicyRow = (q, f, r, ra, fc, fw);
    Ok(Some(Facts {
        id: monitor_id,
        tenant_id,
        name,
        component_id,
        regions,
        policy: policy.into(),
        in_maintenance,
        auto_incidents: auto,
    }))
}

/// Whether monitor `m`'s component is in a maintenance window at `$2`: started by hand or by
/// the clock, not completed, and (when the clock moves it) not past its end.
pub(crate) const ACTIVE_MAINTENANCE: &str = "EXISTS (SELECT 1 FROM maintenance_components mc \
     JOIN maintenances w ON w.id = mc.maintenance_id AND w.tenant_id = mc.tenant_id \
     WHERE mc.tenant_id = m.tenant_id AND mc.component_id = m.component_id \
       AND w.status <> 'completed' \
       AND (w.status IN ('in_progress', 'verifying') OR (w.auto_transition AND w.starts_at <= $2)) \
       AND (NOT w.auto_transition OR w.ends_at > $2))";

const STORED_COLUMNS: &str =
    "state, since, problem_id, problem_state, problem_since, incident_id, \
     partial_since, failing_regions, rechecked_at, raw_state, transitions, flapping";

/// Decides monitor `monitor_id`'s state in the caller's transaction and writes what follows
/// (state, incident, alerts). Returns the re-checks to dispatch once the transaction commits.
pub async fn evaluate(
    conn: &mut PgConnection,
    monitor_id: Uuid,
    deployment_regions: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<RecheckRequest>, sqlx::Error> {
    let Some(facts) = facts(conn, monitor_id, deployment_regions, now).await? else {
        return Ok(Vec::new());
    };
    sqlx::query(
        "INSERT INTO monitor_state (monitor_id, tenant_id, since) VALUES ($1, $2, $3) \
         ON CONFLICT (monitor_id) DO NOTHING",
    )
    .bind(monitor_id)
    .bind(facts.tenant_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let mut stored: Stored = sqlx::query_as(&format!(
        "SELECT {STORED_COLUMNS} FROM monitor_state WHERE monitor_id = $1 FOR UPDATE"
    ))
    .bind(monitor_id)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<RegionRow> = sqlx::query_as(
        "SELECT region, status, fail_streak, ok_streak, since, last_checked_at, last_error, \
         last_failure, detail FROM monitor_region_state WHERE monitor_id = $1 AND region = ANY ($2)",
    )
    .bind(monitor_id)
    .bind(&facts.regions)
    .fetch_all(&mut *conn)
    .await?;

    let state = MonitorState::parse(&stored.state).unwrap_or(MonitorState::Operational);
    // Under maintenance the problem (if any) is kept, so leaving it picks up where it was.
    let held = if state == MonitorState::UnderMaintenance {
        stored
            .problem_state
            .as_deref()
            .and_then(MonitorState::parse)
            .unwrap_or(MonitorState::Operational)
    } else {
        state
    };
    let reading = read_regions(&facts, &rows, &stored, held, now);

    // Flapping guard: count changes of what the regions say within the window.
    let window = Duration::minutes(i64::from(facts.policy.flapping_window_minutes));
    stored.transitions.retain(|t| now - *t < window);
    let raw = MonitorState::parse(&stored.raw_state).unwrap_or(MonitorState::Operational);
    let maintenance_involved =
        reading.target == MonitorState::UnderMaintenance || raw == MonitorState::UnderMaintenance;
    if reading.target != raw && !maintenance_involved {
        stored.transitions.push(now);
    }
    let changes = stored.transitions.len() as i32;
    let mut effects = incident::Effects::new(&facts, &reading, &rows, now);
    let mut next_state = reading.target;
    let mut flapping = stored.flapping;
    if !maintenance_involved && changes > facts.policy.flapping_changes {
        if !flapping {
            flapping = true;
            effects
                .flapping_started(conn, &mut stored, state, changes)
                .await?;
        }
        // Held: the state the monitor was in when it began to flap.
        next_state = state;
    } else if flapping && changes <= facts.policy.flapping_changes / 2 {
        flapping = false;
    } else if flapping {
        next_state = state;
    }

    if !flapping {
        if next_state != state {
            effects
                .transition(conn, &mut stored, held, next_state)
                .await?;
        } else if state.is_outage() {
            effects.regions_moved(conn, &mut stored).await?;
        }
    }

    // Re-checks: a new, unconfirmed failure asks the other regions (and the failing one, when
    // one failure is not enough) to check now, once per episode.
    let unconfirmed_bad: Vec<&String> = rows
        .iter()
        .filter(|r| r.status != "up" && facts.regions.contains(&r.region))
        .map(|r| &r.region)
        .collect();
    let mut rechecks = Vec::new();
    let mut rechecked_at = stored.rechecked_at;
    if unconfirmed_bad.is_empty() {
        rechecked_at = None;
    } else if rechecked_at.is_none()
        && !next_state.is_outage()
        && next_state != MonitorState::UnderMaintenance
        && !flapping
    {
        let bad: BTreeSet<&String> = unconfirmed_bad.into_iter().collect();
        for region in &facts.regions {
            if !bad.contains(region) || facts.policy.failures > 1 {
                rechecks.push(RecheckRequest {
                    region: region.clone(),
                    monitor_ids: vec![monitor_id],
                });
            }
        }
        rechecked_at = Some(now);
    }

    let mut failing_now: Vec<String> = reading.failing.clone();
    failing_now.extend(reading.degraded.iter().cloned());
    failing_now.sort();
    let since = if next_state.as_str() != stored.state {
        now
    } else {
        stored.since
    };
    sqlx::query(
        "UPDATE monitor_state SET state = $2, since = $3, problem_id = $4, problem_state = $5, \
         problem_since = $6, incident_id = $7, partial_since = $8, failing_regions = $9, \
         rechecked_at = $10, raw_state = $11, transitions = $12, flapping = $13, updated_at = $14 \
         WHERE monitor_id = $1",
    )
    .bind(monitor_id)
    .bind(next_state.as_str())
    .bind(since)
    .bind(stored.problem_id)
    .bind(&stored.problem_state)
    .bind(stored.problem_since)
    .bind(stored.incident_id)
    .bind(reading.partial_since)
    .bind(if flapping {
        // While held, the timeline keeps the regions it last told about.
        stored.failing_regions.clone()
    } else {
        failing_now
    })
    .bind(rechecked_at)
    .bind(reading.target.as_str())
    .bind(&stored.transitions)
    .bind(flapping)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(rechecks)
}

/// Groups re-check requests by region (one request per region).
pub fn merge_rechecks(requests: Vec<RecheckRequest>) -> Vec<RecheckRequest> {
    let mut by_region: std::collections::BTreeMap<String, Vec<Uuid>> = Default::default();
    for r in requests {
        let ids = by_region.entry(r.region).or_default();
        for id in r.monitor_ids {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    by_region
        .into_iter()
        .map(|(region, monitor_ids)| RecheckRequest {
            region,
            monitor_ids,
        })
        .collect()
}

/// "4 min 12 s", "1 h 3 min", "45 s".
pub fn duration_words(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h >= 24 {
        format!("{} d {} h", h / 24, h % 24)
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min {s} s")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(region: &str, status: &str, fail: i32, ok: i32) -> RegionRow {
        RegionRow {
            region: region.into(),
            status: status.into(),
            fail_streak: fail,
            ok_streak: ok,
            since: Utc::now(),
            last_checked_at: Utc::now(),
            last_error: None,
            last_failure: None,
            detail: serde_json::json!({}),
        }
    }

    fn facts(regions: &[&str]) -> Facts {
        Facts {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            name: "api".into(),
            component_id: None,
            regions: regions.iter().map(|r| r.to_string()).collect(),
            policy: Confirmation::default(),
            in_maintenance: false,
            auto_incidents: "publish".into(),
        }
    }

    fn stored() -> Stored {
        Stored {
            state: "operational".into(),
            since: Utc::now(),
            problem_id: None,
            problem_state: None,
            problem_since: None,
            incident_id: None,
            partial_since: None,
            failing_regions: Vec::new(),
            rechecked_at: None,
            raw_state: "operational".into(),
            transitions: Vec::new(),
            flapping: false,
        }
    }

    #[test]
    fn one_region_is_regional_only_after_the_set_time() {
        let f = facts(&["ap", "eu", "us"]);
        let now = Utc::now();
        let rows = [row("eu", "down", 1, 0)];
        let mut s = stored();
        let r = read_regions(&f, &rows, &s, MonitorState::Operational, now);
        assert_eq!(r.target, MonitorState::Operational);
        assert_eq!(r.partial_since, Some(now));
        s.partial_since = Some(now - Duration::seconds(121));
        let r = read_regions(&f, &rows, &s, MonitorState::Operational, now);
        assert_eq!(r.target, MonitorState::RegionalOutage);
    }

    #[test]
    fn quorum_is_major_and_recovery_needs_the_streak() {
        let f = facts(&["ap", "eu", "us"]);
        let now = Utc::now();
        let rows = [row("eu", "down", 1, 0), row("us", "down", 1, 0)];
        let r = read_regions(&f, &rows, &stored(), MonitorState::Operational, now);
        assert_eq!(r.target, MonitorState::MajorOutage);
        let mut s = stored();
        s.failing_regions = vec!["eu".into(), "us".into()];
        let rows = [row("eu", "up", 0, 1), row("us", "up", 0, 1)];
        let r = read_regions(&f, &rows, &s, MonitorState::MajorOutage, now);
        assert_eq!(r.target, MonitorState::MajorOutage);
        let rows = [row("eu", "up", 0, 2), row("us", "up", 0, 2)];
        let r = read_regions(&f, &rows, &s, MonitorState::MajorOutage, now);
        assert_eq!(r.target, MonitorState::Operational);
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(duration_words(Duration::seconds(252)), "4 min 12 s");
        assert_eq!(duration_words(Duration::seconds(45)), "45 s");
        assert_eq!(duration_words(Duration::seconds(3780)), "1 h 3 min");
    }
}
