//! Monitors: what a tenant checks, how often and from where. Every query is scoped by tenant.
//! The routes are in [`routes`], the uptime and latency figures in [`analytics`].

pub mod analytics;
pub mod health;
pub(crate) mod routes;

pub use routes::routes;

use crate::engine::policy::Confirmation;
use crate::rest::error::{ApiError, ApiResult, FieldProblem};
use checker::spec::MonitorSpec;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

pub const MIN_INTERVAL_SECONDS: i32 = 30;
pub const MAX_INTERVAL_SECONDS: i32 = 86_400;
pub const DEFAULT_INTERVAL_SECONDS: i32 = 60;

/// How the audit log and errors name monitors; writes drop the tenant's status snapshot. The API
/// and the console both write through it.
pub const MONITOR: crate::rest::write::Resource =
    crate::rest::write::Resource::new("monitor", "monitors", "monitor");

/// What a token without the `admin` scope sees of a secret value (a monitor header marked
/// `secret`, a channel config); sent back in a write, it keeps the stored value.
pub const SECRET_MASK: &str = "********";

/// Replaces the value of every header marked `secret` with [`SECRET_MASK`].
pub fn mask_secrets(spec: &mut MonitorSpec) {
    if let MonitorSpec::Http(http) = spec {
        for header in http.headers.iter_mut().filter(|h| h.secret) {
            header.value = SECRET_MASK.to_owned();
        }
    }
}

/// Whether the spec has a secret header whose value is the mask (a read sent back).
pub fn has_masked_secrets(spec: &MonitorSpec) -> bool {
    matches!(spec, MonitorSpec::Http(http) if http.headers.iter().any(|h| h.secret && h.value == SECRET_MASK))
}

/// Puts the stored value back into every secret header sent as [`SECRET_MASK`], so a client
/// that only ever saw the mask can write a monitor back unchanged. The stored header is the
/// secret one of the same name (case-insensitive) in `stored`; without one the mask is refused
/// on `{at}headers[i].value`.
pub fn keep_masked_secrets(
    spec: &mut MonitorSpec,
    stored: Option<&MonitorSpec>,
    at: &str,
) -> Vec<FieldProblem> {
    let MonitorSpec::Http(http) = spec else {
        return Vec::new();
    };
    let stored: &[checker::spec::Header] = match stored {
        Some(MonitorSpec::Http(old)) => &old.headers,
        _ => &[],
    };
    let mut problems = Vec::new();
    for (i, header) in http.headers.iter_mut().enumerate() {
        if !header.secret || header.value != SECRET_MASK {
            continue;
        }
        let same =
            |h: &&checker::spec::Header| h.secret && h.name.eq_ignore_ascii_case(&header.name);
        match stored.get(i).filter(same).or_else(|| stored.iter().find(same)) {
            Some(old) => header.value = old.value.clone(),
            None => problems.push(FieldProblem {
                field: format!("{at}headers[{i}].value"),
                message: format!(
                    "is the mask {SECRET_MASK:?} but this monitor has no stored secret header {:?} to keep: send the real value",
                    header.name
                ),
            }),
        }
    }
    problems
}

/// A monitor as written by a tenant; the spec (`type` plus its fields) sits at the top level.
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
pub struct MonitorInput {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[serde(flatten)]
    pub spec: MonitorSpec,
    #[serde(default = "default_interval")]
    #[schema(minimum = 30, maximum = 86400)]
    pub interval_seconds: i32,
    /// Empty: every region of this deployment.
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub component_id: Option<Uuid>,
    /// How the incident engine confirms an outage across regions; absent: the defaults.
    #[serde(default)]
    pub confirmation: Confirmation,
}

fn default_interval() -> i32 {
    DEFAULT_INTERVAL_SECONDS
}
fn default_true() -> bool {
    true
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Monitor {
    pub id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub spec: MonitorSpec,
    pub interval_seconds: i32,
    pub regions: Vec<String>,
    pub enabled: bool,
    pub component_id: Option<Uuid>,
    pub confirmation: Confirmation,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::rest::write::row!(Monitor);

impl MonitorInput {
    /// The regions column: a heartbeat monitor's is its pseudo-region
    /// ([`crate::heartbeats::REGION`]), so the engine's per-region state and quorum apply as to
    /// any monitor and no checker's plan ever holds it.
    fn stored_regions(&self) -> Vec<String> {
        match self.spec {
            MonitorSpec::Heartbeat(_) => vec![crate::heartbeats::REGION.to_owned()],
            _ => self.regions.clone(),
        }
    }

    /// The confirmation stored: a heartbeat monitor left at the defaults recovers on its first
    /// good ping (a daily job would otherwise stay down for two days).
    fn stored_confirmation(&self) -> Confirmation {
        let mut confirmation = self.confirmation;
        if matches!(self.spec, MonitorSpec::Heartbeat(_)) && confirmation == Confirmation::default()
        {
            confirmation.recoveries = 1;
        }
        confirmation
    }

    /// Field-level checks; the spec is checked by the same code the checker runs.
    pub fn validate(&self, known_regions: &[String]) -> ApiResult<()> {
        let mut problems: Vec<FieldProblem> = Vec::new();
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > 100
            || name.chars().any(crate::rest::input::is_forbidden_control)
        {
            problems.push(FieldProblem {
                field: "name".into(),
                message: "must be 1 to 100 characters, without control characters".into(),
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
        if let MonitorSpec::Heartbeat(heartbeat) = &self.spec {
            problems.extend(crate::heartbeats::schedule::problems(heartbeat));
            // Pushed, not probed: its one "region" is the heartbeat itself.
            if !(self.regions.is_empty() || self.regions == [crate::heartbeats::REGION]) {
                problems.push(FieldProblem {
                    field: "regions".into(),
                    message: format!(
                        "a heartbeat monitor is not checked from regions: leave regions empty (it is stored as [{:?}])",
                        crate::heartbeats::REGION
                    ),
                });
            }
            problems.extend(self.confirmation.problems(1, ""));
            return if problems.is_empty() {
                Ok(())
            } else {
                Err(ApiError::Validation(problems))
            };
        }
        let region_count = if self.regions.is_empty() {
            known_regions.len()
        } else {
            self.regions.len()
        };
        problems.extend(self.confirmation.problems(region_count, ""));
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
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
    serde_json::Value,
);

/// The last column is [`crate::engine::policy::CONFIRMATION_JSON`].
const MONITOR_COLUMNS: &str =
    "id, name, spec, interval_seconds, regions, enabled, component_id, version, created_at, updated_at, \
     jsonb_build_object('regions', confirm_quorum, 'failures', confirm_failures, \
     'recoveries', confirm_recoveries, 'regional_outage_after_seconds', regional_after_seconds, \
     'flapping_changes', flap_changes, 'flapping_window_minutes', flap_window_minutes)";

fn from_row(row: MonitorRow) -> ApiResult<Monitor> {
    let (
        id,
        name,
        spec,
        interval_seconds,
        regions,
        enabled,
        component_id,
        version,
        created_at,
        updated_at,
        confirmation,
    ) = row;
    let spec = serde_json::from_value(spec)
        .map_err(|e| ApiError::Internal(format!("stored spec of monitor {id}: {e}")))?;
    let confirmation = Confirmation::from_json(confirmation)
        .map_err(|e| ApiError::Internal(format!("stored confirmation of monitor {id}: {e}")))?;
    Ok(Monitor {
        id,
        name,
        spec,
        interval_seconds,
        regions,
        enabled,
        component_id,
        confirmation,
        version,
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
    if has_masked_secrets(&input.spec) {
        let mut spec = input.spec.clone();
        return Err(ApiError::Validation(keep_masked_secrets(
            &mut spec, None, "",
        )));
    }
    input.validate(known_regions)?;
    let spec = serde_json::to_value(&input.spec).map_err(|e| ApiError::Internal(e.to_string()))?;
    let confirmation = input.stored_confirmation();
    // Counted and inserted under the tenant's lock: concurrent creates cannot pass the plan.
    let mut tx = db.begin().await?;
    crate::accounts::limits::reserve(
        &mut tx,
        tenant_id,
        crate::accounts::limits::Bounded::Monitors,
        1,
    )
    .await?;
    check_plan(&mut *tx, tenant_id, input).await?;
    let row: MonitorRow = sqlx::query_as(&format!(
        "INSERT INTO monitors (id, tenant_id, name, kind, spec, interval_seconds, regions, enabled, component_id, \
         confirm_quorum, confirm_failures, confirm_recoveries, regional_after_seconds, flap_changes, flap_window_minutes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {MONITOR_COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(input.name.trim())
    .bind(spec_kind(&input.spec))
    .bind(spec)
    .bind(input.interval_seconds)
    .bind(input.stored_regions())
    .bind(input.enabled)
    .bind(input.component_id)
    .bind(confirmation.regions)
    .bind(confirmation.failures)
    .bind(confirmation.recoveries)
    .bind(confirmation.regional_outage_after_seconds)
    .bind(confirmation.flapping_changes)
    .bind(confirmation.flapping_window_minutes)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| write_error(e, input))?;
    tx.commit().await?;
    from_row(row)
}

fn write_error(e: sqlx::Error, input: &MonitorInput) -> ApiError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => ApiError::field(
            "name",
            format!("a monitor named {:?} already exists", input.name.trim()),
        ),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            ApiError::field("component_id", "no such component")
        }
        _ => e.into(),
    }
}

/// The tenant's plan: how often a monitor may check (how many: [`crate::accounts::limits`]).
async fn check_plan(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
    input: &MonitorInput,
) -> ApiResult<()> {
    let min_interval: i32 =
        sqlx::query_scalar("SELECT min_interval_seconds FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_one(db)
            .await?;
    if input.interval_seconds < min_interval {
        return Err(ApiError::field(
            "interval_seconds",
            format!(
                "your plan checks at most every {min_interval} s, got {}",
                input.interval_seconds
            ),
        ));
    }
    Ok(())
}

/// Replaces a monitor's definition (PUT), checked like a create.
/// Secret headers sent back as [`SECRET_MASK`] keep their stored values.
pub async fn replace(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
    input: &MonitorInput,
    known_regions: &[String],
) -> ApiResult<Option<Monitor>> {
    let restored;
    let input = if has_masked_secrets(&input.spec) {
        let stored = get(db, tenant_id, id).await?;
        let mut copy = input.clone();
        let problems = keep_masked_secrets(&mut copy.spec, Some(&stored.spec), "");
        if !problems.is_empty() {
            return Err(ApiError::Validation(problems));
        }
        restored = copy;
        &restored
    } else {
        input
    };
    input.validate(known_regions)?;
    check_plan(db, tenant_id, input).await?;
    let spec = serde_json::to_value(&input.spec).map_err(|e| ApiError::Internal(e.to_string()))?;
    let confirmation = input.stored_confirmation();
    let row: Option<MonitorRow> = sqlx::query_as(&format!(
        "UPDATE monitors SET name = $4, kind = $5, spec = $6, interval_seconds = $7, regions = $8, \
         enabled = $9, component_id = $10, confirm_quorum = $11, confirm_failures = $12, \
         confirm_recoveries = $13, regional_after_seconds = $14, flap_changes = $15, flap_window_minutes = $16, \
         version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3) RETURNING {MONITOR_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .bind(input.name.trim())
    .bind(spec_kind(&input.spec))
    .bind(spec)
    .bind(input.interval_seconds)
    .bind(input.stored_regions())
    .bind(input.enabled)
    .bind(input.component_id)
    .bind(confirmation.regions)
    .bind(confirmation.failures)
    .bind(confirmation.recoveries)
    .bind(confirmation.regional_outage_after_seconds)
    .bind(confirmation.flapping_changes)
    .bind(confirmation.flapping_window_minutes)
    .fetch_optional(db)
    .await
    .map_err(|e| write_error(e, input))?;
    if row.is_some() && matches!(input.spec, MonitorSpec::Heartbeat(_)) {
        // A heartbeat's schedule may have changed: the sweeper works its deadline out again.
        sqlx::query("UPDATE heartbeats SET due_by = NULL WHERE tenant_id = $1 AND monitor_id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(db)
            .await?;
    }
    row.map(from_row).transpose()
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

pub async fn delete(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "DELETE FROM monitors WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `?enabled=&type=&component_id=` on the monitor list.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
pub struct MonitorFilter {
    pub enabled: Option<bool>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub component_id: Option<Uuid>,
}

/// One page of monitors, newest first.
pub async fn list_page(
    db: &PgPool,
    tenant_id: Uuid,
    filter: &MonitorFilter,
    page: &crate::rest::PageQuery,
) -> ApiResult<crate::rest::Page<Monitor>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let rows: Vec<MonitorRow> = sqlx::query_as(&format!(
        "SELECT {MONITOR_COLUMNS} FROM monitors WHERE tenant_id = $1 \
         AND ($2::bool IS NULL OR enabled = $2) AND ($3::text IS NULL OR kind = $3) \
         AND ($4::uuid IS NULL OR component_id = $4) \
         AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6)) \
         ORDER BY created_at DESC, id DESC LIMIT $7"
    ))
    .bind(tenant_id)
    .bind(filter.enabled)
    .bind(filter.kind.as_deref())
    .bind(filter.component_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let monitors = rows
        .into_iter()
        .map(from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(crate::rest::Page::from_rows(monitors, limit, |m| {
        (m.created_at, m.id)
    }))
}
