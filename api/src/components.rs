//! Components: what visitors see on a status page; monitors feed their status.

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize)]
pub struct ComponentInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub position: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
pub struct Component {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub position: i32,
}

pub async fn create(db: &PgPool, tenant_id: Uuid, input: &ComponentInput) -> ApiResult<Component> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", "must be 1 to 100 characters"));
    }
    if input.description.chars().count() > 500 {
        return Err(ApiError::field(
            "description",
            "must be at most 500 characters",
        ));
    }
    sqlx::query_as(
        "INSERT INTO components (id, tenant_id, name, description, position) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, name, description, position",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(name)
    .bind(&input.description)
    .bind(input.position)
    .fetch_one(db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            ApiError::field("name", format!("a component named {name:?} already exists"))
        }
        _ => e.into(),
    })
}

pub async fn list(db: &PgPool, tenant_id: Uuid) -> ApiResult<Vec<Component>> {
    Ok(sqlx::query_as(
        "SELECT id, name, description, position FROM components WHERE tenant_id = $1 ORDER BY position, name",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?)
}
