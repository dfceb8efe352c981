//! Scheduled maintenance: announced windows on components. With `auto_transition` the status
//! follows the clock (scheduled → in progress at the start → completed at the end) unless the
//! tenant moved it further by hand; checks inside a window do not alert. The routes are in
//! [`routes`].

pub(crate) mod routes;

pub use routes::routes;

use crate::incidents::check_components_exist;
use crate::rest::error::{problems_to_result, text_problem, ApiError, ApiResult, FieldProblem};
use crate::rest::{parse_stored, stored_name, Page, PageQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use statuspage_clickhouse::TimeWindow;
use uuid::Uuid;

#[derive(
    utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceStatus {
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

impl MaintenanceStatus {
    /// What the clock says, for a window `[starts_at, ends_at)`.
    pub fn by_clock(now: DateTime<Utc>, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Self {
        if now < starts_at {
            Self::Scheduled
        } else if now < ends_at {
            Self::InProgress
        } else {
            Self::Completed
        }
    }
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceInput {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default = "yes")]
    pub auto_transition: bool,
    #[serde(default)]
    pub component_ids: Vec<Uuid>,
}

fn yes() -> bool {
    true
}

#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenancePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub auto_transition: Option<bool>,
    /// Set by hand (e.g. `verifying` after the work, `completed` early).
    pub status: Option<MaintenanceStatus>,
    pub component_ids: Option<Vec<Uuid>>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Maintenance {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    /// The effective status: the stored one, moved on by the clock when `auto_transition`.
    pub status: MaintenanceStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub auto_transition: bool,
    pub component_ids: Vec<Uuid>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::rest::write::row!(Maintenance);

/// `?status=` (a status, `active` = in progress or verifying, `upcoming` = scheduled).
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
pub struct MaintenanceFilter {
    pub status: Option<String>,
}

pub const DESCRIPTION_MAX: usize = 5000;

fn window_problems(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Option<FieldProblem> {
    (ends_at <= starts_at).then(|| FieldProblem {
        field: "ends_at".into(),
        message: format!("must be after starts_at ({})", starts_at.to_rfc3339()),
    })
}

fn description_problem(description: &str) -> Option<FieldProblem> {
    (description.chars().count() > DESCRIPTION_MAX).then(|| FieldProblem {
        field: "description".into(),
        message: format!("must be at most {DESCRIPTION_MAX} characters"),
    })
}

pub async fn create(
    db: &PgPool,
    tenant_id: Uuid,
    input: &MaintenanceInput,
) -> ApiResult<Maintenance> {
    problems_to_result(
        [
            text_problem("title", &input.title, crate::incidents::TITLE_MAX),
            description_problem(&input.description),
            window_problems(input.starts_at, input.ends_at),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )?;
    check_components_exist(db, tenant_id, "component_ids[{i}]", &input.component_ids).await?;
    let id = Uuid::new_v4();
    let mut tx = db.begin().await?;
    crate::accounts::limits::reserve(
        &mut tx,
        tenant_id,
        crate::accounts::limits::Bounded::Maintenances,
        1,
    )
    .await?;
    sqlx::query(
        "INSERT INTO maintenances (id, tenant_id, title, description, status, starts_at, ends_at, auto_transition) \
         VALUES ($1, $2, $3, $4, 'scheduled', $5, $6, $7)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(input.title.trim())
    .bind(&input.description)
    .bind(input.starts_at)
    .bind(input.ends_at)
    .bind(input.auto_transition)
    .execute(&mut *tx)
    .await?;
    set_components(&mut tx, tenant_id, id, &input.component_ids).await?;
    // Subscribers and the team hear it is scheduled, in this transaction.
    crate::subscribers::notify::maintenance_created(&mut tx, tenant_id, id).await?;
    tx.commit().await?;
    get(db, tenant_id, id).await
}

async fn set_components(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    component_ids: &[Uuid],
) -> ApiResult<()> {
    sqlx::query("DELETE FROM maintenance_components WHERE tenant_id = $1 AND maintenance_id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO maintenance_components (tenant_id, maintenance_id, component_id) \
         SELECT $1, $2, c FROM unnest($3::uuid[]) AS c ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(component_ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

type MaintenanceRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    bool,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
    Vec<Uuid>,
);
const COLUMNS: &str = "m.id, m.title, m.description, m.status, m.starts_at, m.ends_at, m.auto_transition, \
     m.version, m.created_at, m.updated_at, \
     coalesce((SELECT array_agg(mc.component_id ORDER BY mc.component_id) FROM maintenance_components mc \
               WHERE mc.tenant_id = m.tenant_id AND mc.maintenance_id = m.id), '{}')";

fn from_row(row: MaintenanceRow, now: DateTime<Utc>) -> ApiResult<Maintenance> {
    let stored: MaintenanceStatus = parse_stored("maintenance status", &row.3)?;
    let status = if row.6 {
        stored.max(MaintenanceStatus::by_clock(now, row.4, row.5))
    } else {
        stored
    };
    Ok(Maintenance {
        id: row.0,
        title: row.1,
        description: row.2,
        status,
        starts_at: row.4,
        ends_at: row.5,
        auto_transition: row.6,
        version: row.7,
        created_at: row.8,
        updated_at: row.9,
        component_ids: row.10,
    })
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<Maintenance> {
    let row: Option<MaintenanceRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM maintenances m WHERE m.tenant_id = $1 AND m.id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or(ApiError::NotFound("maintenance"))?, Utc::now())
}

pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    filter: &MaintenanceFilter,
    page: &PageQuery,
) -> ApiResult<Page<Maintenance>> {
    let wanted: Option<Vec<MaintenanceStatus>> = match filter.status.as_deref() {
        None => None,
        Some("active") => Some(vec![
            MaintenanceStatus::InProgress,
            MaintenanceStatus::Verifying,
        ]),
        Some("upcoming") => Some(vec![MaintenanceStatus::Scheduled]),
        Some(s) => Some(vec![parse_stored::<MaintenanceStatus>("status", s)
            .map_err(|_| {
                ApiError::field(
                    "status",
                    "must be scheduled, in_progress, verifying, completed, active or upcoming",
                )
            })?]),
    };
    let limit = page.limit()?;
    let after = page.after()?;
    let now = Utc::now();
    // The effective status depends on the clock, so the status filter runs here; pages are
    // filled by reading on until `limit + 1` matches (or the rows run out).
    let mut matched: Vec<Maintenance> = Vec::new();
    let mut cursor = after;
    loop {
        let rows: Vec<MaintenanceRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM maintenances m WHERE m.tenant_id = $1 \
             AND ($2::timestamptz IS NULL OR (m.created_at, m.id) < ($2, $3)) \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(db)
        .await?;
        let exhausted = (rows.len() as i64) <= limit;
        for row in rows {
            let m = from_row(row, now)?;
            cursor = Some((m.created_at, m.id));
            if wanted.as_ref().is_none_or(|w| w.contains(&m.status)) {
                matched.push(m);
            }
        }
        if exhausted || matched.len() as i64 > limit {
            break;
        }
    }
    Ok(Page::from_rows(matched, limit, |m| (m.created_at, m.id)))
}

pub async fn patch(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
    patch: &MaintenancePatch,
) -> ApiResult<Option<Maintenance>> {
    let current = get(db, tenant_id, id).await?;
    let starts_at = patch.starts_at.unwrap_or(current.starts_at);
    let ends_at = patch.ends_at.unwrap_or(current.ends_at);
    problems_to_result(
        [
            patch
                .title
                .as_deref()
                .and_then(|t| text_problem("title", t, crate::incidents::TITLE_MAX)),
            patch.description.as_deref().and_then(description_problem),
            window_problems(starts_at, ends_at),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )?;
    if let Some(ids) = &patch.component_ids {
        check_components_exist(db, tenant_id, "component_ids[{i}]", ids).await?;
    }
    let mut tx = db.begin().await?;
    let updated: Option<Uuid> = sqlx::query_scalar(
        "UPDATE maintenances SET title = coalesce($4, title), description = coalesce($5, description), \
         starts_at = $6, ends_at = $7, auto_transition = coalesce($8, auto_transition), \
         status = coalesce($9, status), version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .bind(patch.title.as_deref().map(str::trim))
    .bind(patch.description.as_deref())
    .bind(starts_at)
    .bind(ends_at)
    .bind(patch.auto_transition)
    .bind(patch.status.as_ref().map(stored_name))
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Ok(None);
    }
    if let Some(ids) = &patch.component_ids {
        set_components(&mut tx, tenant_id, id, ids).await?;
    }
    // Started, ended (by hand) or updated: subscribers and the team hear it in this transaction.
    crate::subscribers::notify::maintenance_edited(&mut tx, tenant_id, id).await?;
    tx.commit().await?;
    get(db, tenant_id, id).await.map(Some)
}

pub async fn delete(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
) -> ApiResult<bool> {
    let mut tx = db.begin().await?;
    // A window that has not ended is cancelled: told before its row goes, in this transaction.
    let current: Option<bool> = sqlx::query_scalar(
        "SELECT true FROM maintenances WHERE tenant_id = $1 AND id = $2 \
         AND ($3::int IS NULL OR version = $3) FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .fetch_optional(&mut *tx)
    .await?;
    if current.is_some() {
        crate::subscribers::notify::maintenance_deleting(&mut tx, tenant_id, id).await?;
    }
    let done = sqlx::query(
        "DELETE FROM maintenances WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// What a status page shows: maintenance not yet completed (by the effective status), and what
/// completed in the last `days` days, soonest first (at most 50).
pub async fn current_and_upcoming(
    db: &PgPool,
    tenant_id: Uuid,
    days: i32,
) -> ApiResult<Vec<Maintenance>> {
    let rows: Vec<MaintenanceRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM maintenances m WHERE m.tenant_id = $1 \
         AND m.ends_at > now() - make_interval(days => $2) \
         ORDER BY (m.ends_at > now()) DESC, CASE WHEN m.ends_at > now() THEN m.starts_at END, \
         m.ends_at DESC, m.id LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(days)
    .bind(crate::status_page::snapshot::MAX_SNAPSHOT_MAINTENANCES)
    .fetch_all(db)
    .await?;
    let now = Utc::now();
    // Windows that have not ended come first in the limit, so many past ones never hide them.
    let mut windows = rows
        .into_iter()
        .map(|row| from_row(row, now))
        .collect::<ApiResult<Vec<_>>>()?;
    windows.sort_by_key(|m| (m.starts_at, m.id));
    Ok(windows)
}

/// The tenant's scheduled maintenance up to now over the status page's longest window (91 days),
/// for a page that leaves it out of its uptime.
pub async fn scheduled_windows(
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_clock_moves_a_window_through_its_statuses() {
        let start = Utc::now();
        let end = start + Duration::hours(1);
        let at = |m: i64| MaintenanceStatus::by_clock(start + Duration::minutes(m), start, end);
        assert_eq!(at(-1), MaintenanceStatus::Scheduled);
        assert_eq!(at(0), MaintenanceStatus::InProgress);
        assert_eq!(at(59), MaintenanceStatus::InProgress);
        assert_eq!(at(60), MaintenanceStatus::Completed);
        // A status set by hand that is further along wins over the clock.
        assert_eq!(
            MaintenanceStatus::Verifying.max(at(30)),
            MaintenanceStatus::Verifying
        );
    }
}
