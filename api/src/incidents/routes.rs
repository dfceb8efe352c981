//! `/api/v1/incidents`: open, list, read, edit and delete a tenant's incidents, and post updates
//! to their timeline.

use super::{Incident, IncidentFilter, IncidentInput, IncidentPatch, UpdateInput};
use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiPath, ApiQuery, ApiResult};
use crate::rest::input::ApiJson;
use crate::rest::responses::{
    Invalid, Malformed, MalformedRequest, NeedsToken, NotFound, StaleVersion, WriteForbidden,
};
use crate::rest::write::{self, IdempotencyKeyHeader, IfMatchHeader, Resource};
use crate::rest::{CreateRequest, IfMatch, Page, PageQuery, Tagged};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use uuid::Uuid;

const INCIDENT: Resource = Resource::new("incident", "incidents", "incident");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/incidents",
            post(create_incident).get(list_incidents),
        )
        .route(
            "/api/v1/incidents/{id}",
            get(get_incident)
                .patch(patch_incident)
                .delete(delete_incident),
        )
        .route("/api/v1/incidents/{id}/updates", post(add_incident_update))
}

#[utoipa::path(
    post,
    path = "/api/v1/incidents",
    tag = "incidents",
    params(IdempotencyKeyHeader),
    request_body = IncidentInput,
    responses(
        (status = 201, description = "created (ETag header)", body = Incident),
        Malformed, NeedsToken, WriteForbidden, Invalid
    ),
    security(("bearer" = []))
)]
async fn create_incident(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<IncidentInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let insert = super::create(&state.db, who.tenant_id, &request.input);
    write::create(
        &state,
        &who,
        &INCIDENT,
        &request,
        insert,
        |i| json!({ "title": i.title }),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    tag = "incidents",
    params(IncidentFilter, PageQuery),
    responses(
        MalformedRequest,
        (status = 200, description = "one page, newest first", body = crate::rest::Page<Incident>),
        NeedsToken, Invalid
    ),
    security(("bearer" = []))
)]
async fn list_incidents(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(filter): ApiQuery<IncidentFilter>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Incident>>> {
    let mut page = super::list(&state.db, who.tenant_id, &filter, &page).await?;
    page.items = page.items.into_iter().map(|i| shown(&who, i)).collect();
    Ok(Json(page))
}

/// An incident as this token may see it: the evidence's addresses and raw errors only with the
/// `admin` scope.
pub(crate) fn shown(who: &ApiTenant, mut incident: Incident) -> Incident {
    incident.evidence =
        crate::engine::incident::evidence_for(incident.evidence.take(), who.sees_secrets());
    incident
}

#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the incident (ETag header)", body = Incident),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
async fn get_incident(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<Incident>> {
    let incident = shown(&who, super::get(&state.db, who.tenant_id, id).await?);
    Ok(Tagged(StatusCode::OK, incident.version, incident))
}

#[utoipa::path(
    patch,
    path = "/api/v1/incidents/{id}",
    tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id"), IfMatchHeader),
    request_body = IncidentPatch,
    responses(
        (status = 200, description = "the updated incident (ETag header)", body = Incident),
        Malformed, NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn patch_incident(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<IncidentPatch>,
) -> ApiResult<Tagged<Incident>> {
    who.require_write()?;
    let change = super::patch(&state.db, who.tenant_id, id, if_match.0, &patch);
    write::update(
        &state,
        &who,
        &INCIDENT,
        id,
        if_match,
        change,
        |i| json!({ "title": i.title }),
    )
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/updates",
    tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id"), IfMatchHeader),
    request_body = UpdateInput,
    responses(
        (status = 201, description = "the incident with the new update first (ETag header)", body = Incident),
        Malformed, NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn add_incident_update(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(input): ApiJson<UpdateInput>,
) -> ApiResult<Tagged<Incident>> {
    who.require_write()?;
    let change = super::add_update(&state.db, who.tenant_id, id, if_match.0, &input);
    let Tagged(_, version, incident) = write::update(
        &state,
        &who,
        &INCIDENT,
        id,
        if_match,
        change,
        |i| json!({ "status": i.status }),
    )
    .await?;
    // The update is a new entry of the timeline.
    Ok(Tagged(StatusCode::CREATED, version, incident))
}

#[utoipa::path(
    delete,
    path = "/api/v1/incidents/{id}",
    tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id"), IfMatchHeader),
    responses(
        MalformedRequest,
        (status = 204, description = "deleted"),
        NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn delete_incident(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    who.require_write()?;
    let remove = super::delete(&state.db, who.tenant_id, id, if_match.0);
    write::delete(&state, &who, &INCIDENT, id, if_match, remove).await
}
