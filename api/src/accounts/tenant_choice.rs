//! A person in several tenants picks one: a session belongs to one tenant (its role and data
//! are that tenant's), so switching makes a new session for the chosen tenant, only if the user
//! is a member of it, and ends the old one.

use super::auth::{secret_hash, session_user, start_session};
use super::roles::Role;
use super::tenancy::Tenant;
use crate::rest::error::{ApiError, ApiResult};
use crate::rest::parse_stored;
use sqlx::PgPool;
use uuid::Uuid;

/// The most memberships the picker lists.
pub const MAX_LISTED: i64 = 200;

/// A tenant the user belongs to, with their role there.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub tenant: Tenant,
    pub role: Role,
}

/// The user's memberships, oldest first (the first is where a sign-in lands).
pub async fn memberships(db: &PgPool, user_id: Uuid) -> ApiResult<Vec<Membership>> {
    let rows: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT t.id, t.slug, t.name, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
         WHERE m.user_id = $1 ORDER BY m.created_at, t.slug LIMIT $2",
    )
    .bind(user_id)
    .bind(MAX_LISTED)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(id, slug, name, role)| {
            Ok(Membership {
                tenant: Tenant { id, slug, name },
                role: parse_stored("role", &role)?,
            })
        })
        .collect()
}

/// Replaces the session `secret` with a new one in `tenant_id`. Refused (403) unless the
/// session's user is a member of that tenant; an unknown or expired session is a 401.
pub async fn switch_tenant(db: &PgPool, secret: &str, tenant_id: Uuid) -> ApiResult<String> {
    let user = session_user(db, secret)
        .await?
        .ok_or(ApiError::Unauthorized("please sign in"))?;
    let mut tx = db.begin().await?;
    let member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2)",
    )
    .bind(tenant_id)
    .bind(user.user_id)
    .fetch_one(&mut *tx)
    .await?;
    if !member {
        return Err(ApiError::Forbidden(
            "you are not a member of that tenant".into(),
        ));
    }
    let new = start_session(&mut tx, user.user_id, tenant_id).await?;
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(secret_hash(secret))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(new)
}
