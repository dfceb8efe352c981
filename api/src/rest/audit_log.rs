//! `GET /api/v1/audit-log`: who changed what in a tenant, newest first. Every write records
//! itself through [`audit`](super::audit); this is where a tenant reads the entries back.

use super::responses::{Invalid, MalformedRequest, NeedsToken};
use super::{Actor, Page, PageQuery};
use crate::rest::error::{ApiError, ApiQuery, ApiResult};
use crate::AppState;
use axum::extract::{FromRequestParts, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// The audit-log route, read by a `W` (the API token extractor; passed in so that this module
/// needs no credentials of its own).
pub fn routes<W>() -> Router<AppState>
where
    W: Actor + FromRequestParts<AppState, Rejection: IntoResponse> + Send + 'static,
{
    Router::new().route("/api/v1/audit-log", get(audit_log::<W>))
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<Uuid>,
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// The audit log, newest first; the cursor here is the entry id.
pub async fn entries(
    db: &PgPool,
    tenant_id: Uuid,
    limit: i64,
    before_id: Option<i64>,
) -> ApiResult<Vec<AuditEntry>> {
    Ok(sqlx::query_as(
        "SELECT id, actor, action, entity, entity_id, details, at FROM audit_log \
         WHERE tenant_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(tenant_id)
    .bind(before_id)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct AuditQuery {
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit-log",
    tag = "audit",
    params(AuditQuery),
    responses(
        MalformedRequest,
        (status = 200, description = "entries, newest first", body = Page<AuditEntry>),
        NeedsToken,
        Invalid
    ),
    security(("bearer" = []))
)]
async fn audit_log<W: Actor>(
    State(state): State<AppState>,
    who: W,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    let limit = PageQuery {
        limit: query.limit,
        cursor: None,
    }
    .limit()?;
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::field("cursor", "is not a cursor this API returned"))
        })
        .transpose()?;
    let mut items = entries(&state.db, who.tenant_id(), limit + 1, before).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(Page { items, next_cursor }))
}
