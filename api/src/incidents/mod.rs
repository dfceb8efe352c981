//! Incidents: what a tenant tells visitors went wrong, as a timeline of updates, with the
//! components it affects and the status it puts each in. Every query is scoped by tenant.
//! The routes are in [`routes`].

pub(crate) mod routes;

pub use routes::routes;

use crate::accounts::limits::Bounded;
use crate::rest::error::{ApiError, ApiResult, FieldProblem};
use crate::rest::{parse_stored, stored_name, Page, PageQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

pub const TITLE_MAX: usize = 200;
pub const MESSAGE_MAX: usize = 5000;

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

/// What an incident or a visitor's eye says about one component (Statuspage's vocabulary).
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedComponent {
    pub component_id: Uuid,
    pub status: ComponentStatus,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    #[serde(default = "investigating")]
    pub status: IncidentStatus,
    #[serde(default = "minor")]
    pub impact: Impact,
    /// The first update's text.
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub message: String,
    #[serde(default)]
    pub components: Vec<AffectedComponent>,
    /// When it began, if before now (back-filled incidents).
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
}

fn investigating() -> IncidentStatus {
    IncidentStatus::Investigating
}
fn minor() -> Impact {
    Impact::Minor
}

/// A partial change of the incident itself; the timeline grows through updates.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatch {
    pub title: Option<String>,
    pub impact: Option<Impact>,
    pub components: Option<Vec<AffectedComponent>>,
}

/// A new entry on the timeline; it may move the status and the affected components.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateInput {
    pub status: IncidentStatus,
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub message: String,
    #[serde(default)]
    pub components: Option<Vec<AffectedComponent>>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IncidentUpdate {
    pub id: Uuid,
    pub status: IncidentStatus,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Incident {
    pub id: Uuid,
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub components: Vec<AffectedComponent>,
    /// Newest first.
    pub updates: Vec<IncidentUpdate>,
    /// `manual` (written by a person) or `engine` (opened by the incident engine).
    #[serde(default = "manual")]
    pub source: String,
    /// The monitor whose confirmed outage opened it (engine incidents).
    #[serde(default)]
    pub monitor_id: Option<Uuid>,
    /// Engine incidents: failing and healthy regions with the failing phase, error kind, status
    /// code, TLS details and timings. Addresses and raw errors only with the `admin` scope.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<serde_json::Value>,
    /// A draft is not on the public page, its feeds or with subscribers until published
    /// (`POST /api/v1/incidents/{id}/publish`).
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn manual() -> String {
    "manual".into()
}

crate::rest::write::row!(Incident);

/// `?status=` (one status, or `active` for every unresolved one) and `?impact=` on the list.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
pub struct IncidentFilter {
    pub status: Option<String>,
    pub impact: Option<Impact>,
}

// Shared with every other concern (accounts too, which incidents depend on).
use crate::rest::error::{problems_to_result, text_problem};

fn component_problems(components: &[AffectedComponent]) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    for (i, c) in components.iter().enumerate() {
        if components[..i]
            .iter()
            .any(|o| o.component_id == c.component_id)
        {
            problems.push(FieldProblem {
                field: format!("components[{i}].component_id"),
                message: "is listed twice".into(),
            });
        }
    }
    problems
}

/// Field problems for component ids that are not this tenant's (never says whose they are).
pub(crate) async fn check_components_exist(
    db: &PgPool,
    tenant_id: Uuid,
    field: &str,
    ids: &[Uuid],
) -> ApiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM components WHERE tenant_id = $1 AND id = ANY($2)")
            .bind(tenant_id)
            .bind(ids)
            .fetch_all(db)
            .await?;
    problems_to_result(
        ids.iter()
            .enumerate()
            .filter(|(_, id)| !found.contains(id))
            .map(|(i, _)| FieldProblem {
                field: field.replace("{i}", &i.to_string()),
                message: "no such component".into(),
            })
            .collect(),
    )
}

async fn set_components(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    incident_id: Uuid,
    components: &[AffectedComponent],
) -> ApiResult<()> {
    sqlx::query("DELETE FROM incident_components WHERE tenant_id = $1 AND incident_id = $2")
        .bind(tenant_id)
        .bind(incident_id)
        .execute(&mut *tx)
        .await?;
    for c in components {
        sqlx::query(
            "INSERT INTO incident_components (tenant_id, incident_id, component_id, status) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant_id)
        .bind(incident_id)
        .bind(c.component_id)
        .bind(stored_name(&c.status))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

pub async fn create(db: &PgPool, tenant_id: Uuid, input: &IncidentInput) -> ApiResult<Incident> {
    let mut problems: Vec<FieldProblem> = [
        text_problem("title", &input.title, TITLE_MAX),
        text_problem("message", &input.message, MESSAGE_MAX),
    ]
    .into_iter()
    .flatten()
    .collect();
    if input.started_at.is_some_and(|t| t > Utc::now()) {
        problems.push(FieldProblem {
            field: "started_at".into(),
            message: "may not be in the future".into(),
        });
    }
    problems.extend(component_problems(&input.components));
    problems_to_result(problems)?;
    let ids: Vec<Uuid> = input.components.iter().map(|c| c.component_id).collect();
    check_components_exist(db, tenant_id, "components[{i}].component_id", &ids).await?;

    let id = Uuid::new_v4();
    let now = Utc::now();
    let resolved_at = (input.status == IncidentStatus::Resolved).then_some(now);
    let mut tx = db.begin().await?;
    // Counted and inserted under the tenant's lock: concurrent creates cannot pass the bounds.
    let mut bounds = vec![Bounded::Incidents];
    if input.status != IncidentStatus::Resolved {
        bounds.push(Bounded::OpenIncidents);
    }
    crate::accounts::limits::reserve_all(&mut tx, tenant_id, &bounds).await?;
    sqlx::query(
        "INSERT INTO incidents (id, tenant_id, title, status, impact, started_at, resolved_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(input.title.trim())
    .bind(stored_name(&input.status))
    .bind(stored_name(&input.impact))
    .bind(input.started_at.unwrap_or(now))
    .bind(resolved_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO incident_updates (id, tenant_id, incident_id, status, message) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(id)
    .bind(stored_name(&input.status))
    .bind(input.message.trim())
    .execute(&mut *tx)
    .await?;
    set_components(&mut tx, tenant_id, id, &input.components).await?;
    // Subscribers and the team hear of it in this transaction (a draft tells nobody).
    crate::subscribers::notify::incident_changed(
        &mut tx,
        tenant_id,
        id,
        crate::subscribers::notify::IncidentChange::Created,
    )
    .await?;
    tx.commit().await?;
    get(db, tenant_id, id).await
}

type IncidentRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
    (
        String,
        Option<Uuid>,
        Option<serde_json::Value>,
        Option<DateTime<Utc>>,
    ),
);
const INCIDENT_COLUMNS: &str =
    "id, title, status, impact, started_at, resolved_at, version, created_at, updated_at, \
     (source, monitor_id, evidence, published_at)";

async fn hydrate(db: &PgPool, tenant_id: Uuid, rows: Vec<IncidentRow>) -> ApiResult<Vec<Incident>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let components: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT incident_id, component_id, status FROM incident_components \
         WHERE tenant_id = $1 AND incident_id = ANY($2) ORDER BY component_id",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(db)
    .await?;
    let updates: Vec<(Uuid, Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT incident_id, id, status, message, created_at FROM incident_updates \
         WHERE tenant_id = $1 AND incident_id = ANY($2) ORDER BY created_at DESC, id DESC",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(
            |(
                id,
                title,
                status,
                impact,
                started_at,
                resolved_at,
                version,
                created_at,
                updated_at,
                (source, monitor_id, evidence, published_at),
            )| {
                Ok(Incident {
                    source,
                    monitor_id,
                    evidence,
                    draft: published_at.is_none(),
                    published_at,
                    id,
                    title,
                    status: parse_stored("status", &status)?,
                    impact: parse_stored("impact", &impact)?,
                    started_at,
                    resolved_at,
                    components: components
                        .iter()
                        .filter(|c| c.0 == id)
                        .map(|c| {
                            Ok(AffectedComponent {
                                component_id: c.1,
                                status: parse_stored("component status", &c.2)?,
                            })
                        })
                        .collect::<ApiResult<_>>()?,
                    updates: updates
                        .iter()
                        .filter(|u| u.0 == id)
                        .map(|u| {
                            Ok(IncidentUpdate {
                                id: u.1,
                                status: parse_stored("status", &u.2)?,
                                message: u.3.clone(),
                                created_at: u.4,
                            })
                        })
                        .collect::<ApiResult<_>>()?,
                    version,
                    created_at,
                    updated_at,
                })
            },
        )
        .collect()
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<Incident> {
    let row: Option<IncidentRow> = sqlx::query_as(&format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    let row = row.ok_or(ApiError::NotFound("incident"))?;
    Ok(hydrate(db, tenant_id, vec![row]).await?.remove(0))
}

pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    filter: &IncidentFilter,
    page: &PageQuery,
) -> ApiResult<Page<Incident>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let (active, status) = match filter.status.as_deref() {
        None => (false, None),
        Some("active") => (true, None),
        Some(s) => (
            false,
            Some(stored_name(
                &serde_json::from_value::<IncidentStatus>(serde_json::Value::String(s.to_owned()))
                    .map_err(|_| {
                        ApiError::field(
                            "status",
                            "must be investigating, identified, monitoring, resolved or active",
                        )
                    })?,
            )),
        ),
    };
    let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE tenant_id = $1 \
         AND ($2::text IS NULL OR status = $2) AND (NOT $3 OR status <> 'resolved') \
         AND ($4::text IS NULL OR impact = $4) \
         AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6)) \
         ORDER BY created_at DESC, id DESC LIMIT $7"
    ))
    .bind(tenant_id)
    .bind(status)
    .bind(active)
    .bind(filter.impact.as_ref().map(stored_name))
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let incidents = hydrate(db, tenant_id, rows).await?;
    Ok(Page::from_rows(incidents, limit, |i| (i.created_at, i.id)))
}

pub async fn patch(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
    patch: &IncidentPatch,
) -> ApiResult<Option<Incident>> {
    let mut problems: Vec<FieldProblem> = patch
        .title
        .as_deref()
        .and_then(|t| text_problem("title", t, TITLE_MAX))
        .into_iter()
        .collect();
    if let Some(components) = &patch.components {
        problems.extend(component_problems(components));
    }
    problems_to_result(problems)?;
    if let Some(components) = &patch.components {
        let ids: Vec<Uuid> = components.iter().map(|c| c.component_id).collect();
        check_components_exist(db, tenant_id, "components[{i}].component_id", &ids).await?;
    }
    let mut tx = db.begin().await?;
    let updated: Option<Uuid> = sqlx::query_scalar(
        "UPDATE incidents SET title = coalesce($4, title), impact = coalesce($5, impact), \
         version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .bind(patch.title.as_deref().map(str::trim))
    .bind(patch.impact.as_ref().map(stored_name))
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Ok(None);
    }
    if let Some(components) = &patch.components {
        set_components(&mut tx, tenant_id, id, components).await?;
    }
    tx.commit().await?;
    get(db, tenant_id, id).await.map(Some)
}

/// Adds an update to the timeline and moves the incident's status (resolving stamps
/// `resolved_at`; reopening clears it).
pub async fn add_update(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
    input: &UpdateInput,
) -> ApiResult<Option<Incident>> {
    let mut problems: Vec<FieldProblem> = text_problem("message", &input.message, MESSAGE_MAX)
        .into_iter()
        .collect();
    if let Some(components) = &input.components {
        problems.extend(component_problems(components));
    }
    problems_to_result(problems)?;
    if let Some(components) = &input.components {
        let ids: Vec<Uuid> = components.iter().map(|c| c.component_id).collect();
        check_components_exist(db, tenant_id, "components[{i}].component_id", &ids).await?;
    }
    let status = stored_name(&input.status);
    let mut tx = db.begin().await?;
    // The timeline is bounded, and so is reopening: a resolved incident becomes an open one.
    // The first reserve takes the tenant's lock, so the incident's status read next holds.
    crate::accounts::limits::reserve(&mut tx, tenant_id, Bounded::IncidentUpdates(id), 1).await?;
    if input.status != IncidentStatus::Resolved {
        let resolved: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM incidents WHERE tenant_id = $1 AND id = $2 AND status = 'resolved')",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if resolved {
            crate::accounts::limits::reserve(&mut tx, tenant_id, Bounded::OpenIncidents, 1).await?;
        }
    }
    let updated: Option<Uuid> = sqlx::query_scalar(
        "UPDATE incidents SET status = $4, \
         resolved_at = CASE WHEN $4 = 'resolved' THEN coalesce(resolved_at, now()) ELSE NULL END, \
         version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .bind(&status)
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO incident_updates (id, tenant_id, incident_id, status, message) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(id)
    .bind(&status)
    .bind(input.message.trim())
    .execute(&mut *tx)
    .await?;
    if let Some(components) = &input.components {
        set_components(&mut tx, tenant_id, id, components).await?;
    } else if input.status == IncidentStatus::Resolved {
        // A resolved incident no longer holds its components down.
        sqlx::query(
            "UPDATE incident_components SET status = 'operational' WHERE tenant_id = $1 AND incident_id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    // Subscribers and the team hear of the update in this transaction (a draft tells nobody).
    crate::subscribers::notify::incident_changed(
        &mut tx,
        tenant_id,
        id,
        if input.status == IncidentStatus::Resolved {
            crate::subscribers::notify::IncidentChange::Resolved
        } else {
            crate::subscribers::notify::IncidentChange::Updated
        },
    )
    .await?;
    tx.commit().await?;
    get(db, tenant_id, id).await.map(Some)
}

pub async fn delete(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "DELETE FROM incidents WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a status page shows: every unresolved incident and those resolved in the last `days`
/// days, newest first (at most 50). Drafts never.
pub async fn recent(db: &PgPool, tenant_id: Uuid, days: i32) -> ApiResult<Vec<Incident>> {
    let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE tenant_id = $1 AND published_at IS NOT NULL \
         AND (status <> 'resolved' OR resolved_at > now() - make_interval(days => $2)) \
         ORDER BY (status <> 'resolved') DESC, started_at DESC, id DESC LIMIT 50"
    ))
    .bind(tenant_id)
    .bind(days)
    .fetch_all(db)
    .await?;
    hydrate(db, tenant_id, rows).await
}
