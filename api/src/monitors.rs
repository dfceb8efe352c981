//! Monitors: what a tenant checks, how often and from where. Every query is scoped by tenant.

use crate::error::{ApiError, ApiResult, FieldProblem};
use checker::spec::MonitorSpec;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

pub const MIN_INTERVAL_SECONDS: i32 = 30;
pub const MAX_INTERVAL_SECONDS: i32 = 86_400;
pub const DEFAULT_INTERVAL_SECONDS: i32 = 60;

/// A monitor as written by a tenant; the spec (`type` plus its fields) sits at the top level.
#[derive(Debug, Clone, Deserialize)]
pub struct MonitorInput {
    pub name: String,
    #[serde(flatten)]
    pub spec: MonitorSpec,
    #[serde(default = "default_interval")]
    pub interval_seconds: i32,
    /// Empty: every region of this deployment.
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub component_id: Option<Uuid>,
}

fn default_interval() -> i32 {
    DEFAULT_INTERVAL_SECONDS
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Monitor {
    pub id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub spec: MonitorSpec,
    pub interval_seconds: i32,
    pub regions: Vec<String>,
    pub enabled: bool,
    pub component_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MonitorInput {
    /// Field-level checks; the spec is checked by the same code the checker runs.
    pub fn validate(&self, known_regions: &[String]) -> ApiResult<()> {
        let mut problems: Vec<FieldProblem> = Vec::new();
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            problems.push(FieldProblem {
                field: "name".into(),
                message: "must be 1 to 100 characters".into(),
            });
        }
        if let Err(errors) = self.spec.validate() {
            problems.extend(errors.into_iter().map(|e| FieldProblem {
                field: e.field,
                message: e.message,
            }));
        }
        if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(&self.interval_seconds) {
            problems.push(FieldProblem {
                field: "interval_seconds".into(),
                message: format!(
                    "must be between {MIN_INTERVAL_SECONDS} and {MAX_INTERVAL_SECONDS}, got {}",
                    self.interval_seconds
                ),
            });
        }
        for (i, region) in self.regions.iter().enumerate() {
            if !known_regions.contains(region) {
                problems.push(FieldProblem {
                    field: format!("regions[{i}]"),
                    message: format!(
                        "unknown region {region:?}; this deployment checks from {}",
                        known_regions.join(", ")
                    ),
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(problems))
        }
    }
}

type MonitorRow = (
    Uuid,
    String,
    serde_json::Value,
    i32,
    Vec<String>,
    bool,
    Option<Uuid>,
    DateTime<Utc>,
    DateTime<Utc>,
);

const MONITOR_COLUMNS: &str =
    "id, name, spec, interval_seconds, regions, enabled, component_id, created_at, updated_at";

fn from_row(row: MonitorRow) -> ApiResult<Monitor> {
    let (id, name, spec, interval_seconds, regions, enabled, component_id, created_at, updated_at) =
        row;
    let spec = serde_json::from_value(spec)
        .map_err(|e| ApiError::Internal(format!("stored spec of monitor {id}: {e}")))?;
    Ok(Monitor {
        id,
        name,
        spec,
        interval_seconds,
        regions,
        enabled,
        component_id,
        created_at,
        updated_at,
    })
}

fn spec_kind(spec: &MonitorSpec) -> &'static str {
    spec.kind()
}

pub async fn create(
    db: &PgPool,
    tenant_id: Uuid,
    input: &MonitorInput,
    known_regions: &[String],
) -> ApiResult<Monitor> {
    input.validate(known_regions)?;
    let spec = serde_json::to_value(&input.spec).map_err(|e| ApiError::Internal(e.to_string()))?;
    let row: MonitorRow = sqlx::query_as(&format!(
        "INSERT INTO monitors (id, tenant_id, name, kind, spec, interval_seconds, regions, enabled, component_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {MONITOR_COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(input.name.trim())
    .bind(spec_kind(&input.spec))
    .bind(spec)
    .bind(input.interval_seconds)
    .bind(&input.regions)
    .bind(input.enabled)
    .bind(input.component_id)
    .fetch_one(db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            ApiError::field("name", format!("a monitor named {:?} already exists", input.name.trim()))
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            ApiError::field("component_id", "no such component")
        }
        _ => e.into(),
    })?;
    from_row(row)
}

pub async fn list(db: &PgPool, tenant_id: Uuid) -> ApiResult<Vec<Monitor>> {
    let rows: Vec<MonitorRow> = sqlx::query_as(&format!(
        "SELECT {MONITOR_COLUMNS} FROM monitors WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(from_row).collect()
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<Monitor> {
    let row: Option<MonitorRow> = sqlx::query_as(&format!(
        "SELECT {MONITOR_COLUMNS} FROM monitors WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or(ApiError::NotFound("monitor"))?)
}

pub async fn delete(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<()> {
    let done = sqlx::query("DELETE FROM monitors WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(db)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("monitor"));
    }
    Ok(())
}
