//! Components: what visitors see on a status page (monitors feed their status), optionally in
//! groups. Every query is scoped by tenant. The routes are in [`routes`].

pub(crate) mod routes;

pub use routes::routes;

use crate::rest::error::{problems_to_result, ApiError, ApiResult, FieldProblem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

pub const NAME_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 500;

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentInput {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub position: i32,
    #[serde(default)]
    pub group_id: Option<Uuid>,
    /// Pins the status visitors see, whatever its monitors and incidents say; absent: none.
    #[serde(default)]
    pub status_override: Option<StatusOverride>,
}

/// A status a person pins on a component (Statuspage's vocabulary, plus maintenance).
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusOverride {
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
    UnderMaintenance,
}

/// A partial change; `group_id: null` takes the component out of its group.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub position: Option<i32>,
    #[serde(default, with = "double_option")]
    pub group_id: Option<Option<Uuid>>,
    /// `null` lets the monitors and incidents decide again.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<StatusOverride>)]
    pub status_override: Option<Option<StatusOverride>>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
pub struct Component {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub position: i32,
    pub group_id: Option<Uuid>,
    /// The pinned status (see [`StatusOverride`]); `null`: monitors and incidents decide.
    #[serde(default)]
    #[schema(value_type = Option<StatusOverride>)]
    pub status_override: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::rest::write::row!(Component, ComponentGroup);

const COLUMNS: &str =
    "id, name, description, position, group_id, status_override, version, created_at, updated_at";

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

fn name_problem(name: &str) -> Option<FieldProblem> {
    name_problem_at("name", name)
}

fn description_problem(description: &str) -> Option<FieldProblem> {
    description_problem_at("description", description)
}

/// The name rule of components and groups, reported at `field` (config files use paths).
pub(crate) fn name_problem_at(field: &str, name: &str) -> Option<FieldProblem> {
    let len = name.trim().chars().count();
    (len == 0 || len > NAME_MAX).then(|| FieldProblem {
        field: field.into(),
        message: format!("must be 1 to {NAME_MAX} characters"),
    })
}

pub(crate) fn description_problem_at(field: &str, description: &str) -> Option<FieldProblem> {
    (description.chars().count() > DESCRIPTION_MAX).then(|| FieldProblem {
        field: field.into(),
        message: format!("must be at most {DESCRIPTION_MAX} characters"),
    })
}

fn write_error(e: sqlx::Error, name: &str) -> ApiError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            ApiError::field("name", format!("a component named {name:?} already exists"))
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            ApiError::field("group_id", "no such component group")
        }
        _ => e.into(),
    }
}

pub async fn create(db: &PgPool, tenant_id: Uuid, input: &ComponentInput) -> ApiResult<Component> {
    problems_to_result(
        [
            name_problem(&input.name),
            description_problem(&input.description),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )?;
    // Counted and inserted under the tenant's lock: concurrent creates cannot pass the plan.
    let mut tx = db.begin().await?;
    crate::accounts::limits::reserve(
        &mut tx,
        tenant_id,
        crate::accounts::limits::Bounded::Components,
        1,
    )
    .await?;
    let name = input.name.trim();
    let component = sqlx::query_as(&format!(
        "INSERT INTO components (id, tenant_id, name, description, position, group_id, status_override) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(name)
    .bind(&input.description)
    .bind(input.position)
    .bind(input.group_id)
    .bind(input.status_override.as_ref().map(crate::rest::stored_name))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| write_error(e, name))?;
    tx.commit().await?;
    Ok(component)
}

pub async fn list(db: &PgPool, tenant_id: Uuid) -> ApiResult<Vec<Component>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM components WHERE tenant_id = $1 ORDER BY position, name"
    ))
    .bind(tenant_id)
    .fetch_all(db)
    .await?)
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<Component> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM components WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(ApiError::NotFound("component"))
}

pub async fn patch(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
    patch: &ComponentPatch,
) -> ApiResult<Option<Component>> {
    problems_to_result(
        [
            patch.name.as_deref().and_then(name_problem),
            patch.description.as_deref().and_then(description_problem),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )?;
    let name = patch.name.as_deref().map(str::trim);
    sqlx::query_as(&format!(
        "UPDATE components SET name = coalesce($4, name), description = coalesce($5, description), \
         position = coalesce($6, position), group_id = CASE WHEN $7 THEN $8 ELSE group_id END, \
         status_override = CASE WHEN $9 THEN $10 ELSE status_override END, \
         version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3) RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .bind(name)
    .bind(patch.description.as_deref())
    .bind(patch.position)
    .bind(patch.group_id.is_some())
    .bind(patch.group_id.flatten())
    .bind(patch.status_override.is_some())
    .bind(
        patch
            .status_override
            .flatten()
            .as_ref()
            .map(crate::rest::stored_name),
    )
    .fetch_optional(db)
    .await
    .map_err(|e| write_error(e, name.unwrap_or_default()))
}

pub async fn delete(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "DELETE FROM components WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub position: i32,
}

#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub position: Option<i32>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
pub struct ComponentGroup {
    pub id: Uuid,
    pub name: String,
    pub position: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const GROUP_COLUMNS: &str = "id, name, position, version, created_at, updated_at";

fn group_error(e: sqlx::Error, name: &str) -> ApiError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            ApiError::field("name", format!("a group named {name:?} already exists"))
        }
        _ => e.into(),
    }
}

pub async fn create_group(
    db: &PgPool,
    tenant_id: Uuid,
    input: &GroupInput,
) -> ApiResult<ComponentGroup> {
    problems_to_result(name_problem(&input.name).into_iter().collect())?;
    let name = input.name.trim();
    let mut tx = db.begin().await?;
    crate::accounts::limits::reserve(
        &mut tx,
        tenant_id,
        crate::accounts::limits::Bounded::ComponentGroups,
        1,
    )
    .await?;
    let group = sqlx::query_as(&format!(
        "INSERT INTO component_groups (id, tenant_id, name, position) VALUES ($1, $2, $3, $4) RETURNING {GROUP_COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(name)
    .bind(input.position)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| group_error(e, name))?;
    tx.commit().await?;
    Ok(group)
}

pub async fn list_groups(db: &PgPool, tenant_id: Uuid) -> ApiResult<Vec<ComponentGroup>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {GROUP_COLUMNS} FROM component_groups WHERE tenant_id = $1 ORDER BY position, name"
    ))
    .bind(tenant_id)
    .fetch_all(db)
    .await?)
}

pub async fn get_group(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<ComponentGroup> {
    sqlx::query_as(&format!(
        "SELECT {GROUP_COLUMNS} FROM component_groups WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(ApiError::NotFound("component group"))
}

pub async fn patch_group(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
    patch: &GroupPatch,
) -> ApiResult<Option<ComponentGroup>> {
    problems_to_result(
        patch
            .name
            .as_deref()
            .and_then(name_problem)
            .into_iter()
            .collect(),
    )?;
    let name = patch.name.as_deref().map(str::trim);
    sqlx::query_as(&format!(
        "UPDATE component_groups SET name = coalesce($4, name), position = coalesce($5, position), \
         version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3) RETURNING {GROUP_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .bind(name)
    .bind(patch.position)
    .fetch_optional(db)
    .await
    .map_err(|e| group_error(e, name.unwrap_or_default()))
}

pub async fn delete_group(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "DELETE FROM component_groups WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
