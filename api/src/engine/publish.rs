//! Publishing a draft: with `auto_incidents = draft` the engine opens incidents that only the
//! tenant sees; a person reads the evidence and publishes one, which puts it on the public page
//! and its feeds and tells the subscribers, as a published incident would have at its start.

use crate::accounts::auth::ApiTenant;
use crate::incidents::Incident;
use crate::rest::error::{ApiError, ApiPath, ApiResult};
use crate::rest::responses::{MalformedRequest, NeedsToken, NotFound, WriteForbidden};
use crate::rest::write::{self, Resource};
use crate::rest::Tagged;
use crate::subscribers::notify::{incident_changed, IncidentChange};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use uuid::Uuid;

const INCIDENT: Resource = Resource::new("incident", "incidents", "incident");

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/incidents/{id}/publish", post(publish_incident))
}

/// Publishes a draft incident; publishing a published one changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/publish",
    tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the incident, published (ETag header)", body = Incident),
        NeedsToken, WriteForbidden, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn publish_incident(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<Incident>> {
    who.require_write()?;
    let mut tx = state.db.begin().await?;
    let exists: Option<bool> = sqlx::query_scalar(
        "SELECT published_at IS NULL FROM incidents WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(who.tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(draft) = exists else {
        return Err(ApiError::NotFound("incident"));
    };
    if draft {
        sqlx::query(
            "UPDATE incidents SET published_at = now(), version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(who.tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        incident_changed(&mut tx, who.tenant_id, id, IncidentChange::Created).await?;
    }
    tx.commit().await?;
    if draft {
        write::record(
            &state,
            &who,
            &INCIDENT,
            "publish",
            Some(id),
            serde_json::json!({}),
        )
        .await?;
    }
    let incident = crate::incidents::routes::shown(
        &who,
        crate::incidents::get(&state.db, who.tenant_id, id).await?,
    );
    Ok(Tagged(StatusCode::OK, incident.version, incident))
}
