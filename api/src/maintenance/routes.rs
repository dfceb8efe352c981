//! `/api/v1/maintenances`: schedule, list, read, edit and delete a tenant's maintenance windows.

use super::{Maintenance, MaintenanceFilter, MaintenanceInput, MaintenancePatch};
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

const MAINTENANCE: Resource = Resource::new("maintenance", "maintenances", "maintenance");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/maintenances",
            post(create_maintenance).get(list_maintenances),
        )
        .route(
            "/api/v1/maintenances/{id}",
            get(get_maintenance)
                .patch(patch_maintenance)
                .delete(delete_maintenance),
        )
}

#[utoipa::path(
    post,
    path = "/api/v1/maintenances",
    tag = "maintenance",
    params(IdempotencyKeyHeader),
    request_body = MaintenanceInput,
    responses(
        (status = 201, description = "created (ETag header)", body = Maintenance),
        Malformed, NeedsToken, WriteForbidden, Invalid
    ),
    security(("bearer" = []))
)]
async fn create_maintenance(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<MaintenanceInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let insert = super::create(&state.db, who.tenant_id, &request.input);
    write::create(
        &state,
        &who,
        &MAINTENANCE,
        &request,
        insert,
        |m| json!({ "title": m.title }),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/maintenances",
    tag = "maintenance",
    params(MaintenanceFilter, PageQuery),
    responses(
        MalformedRequest,
        (status = 200, description = "one page, newest first", body = crate::rest::Page<Maintenance>),
        NeedsToken, Invalid
    ),
    security(("bearer" = []))
)]
async fn list_maintenances(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(filter): ApiQuery<MaintenanceFilter>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Maintenance>>> {
    Ok(Json(
        super::list(&state.db, who.tenant_id, &filter, &page).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/maintenances/{id}",
    tag = "maintenance",
    params(("id" = uuid::Uuid, Path, description = "maintenance id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the maintenance (ETag header)", body = Maintenance),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
async fn get_maintenance(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<Maintenance>> {
    let m = super::get(&state.db, who.tenant_id, id).await?;
    Ok(Tagged(StatusCode::OK, m.version, m))
}

#[utoipa::path(
    patch,
    path = "/api/v1/maintenances/{id}",
    tag = "maintenance",
    params(("id" = uuid::Uuid, Path, description = "maintenance id"), IfMatchHeader),
    request_body = MaintenancePatch,
    responses(
        (status = 200, description = "the updated maintenance (ETag header)", body = Maintenance),
        Malformed, NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn patch_maintenance(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<MaintenancePatch>,
) -> ApiResult<Tagged<Maintenance>> {
    who.require_write()?;
    let change = super::patch(&state.db, who.tenant_id, id, if_match.0, &patch);
    write::update(
        &state,
        &who,
        &MAINTENANCE,
        id,
        if_match,
        change,
        |m| json!({ "title": m.title }),
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/v1/maintenances/{id}",
    tag = "maintenance",
    params(("id" = uuid::Uuid, Path, description = "maintenance id"), IfMatchHeader),
    responses(
        MalformedRequest,
        (status = 204, description = "deleted"),
        NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn delete_maintenance(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    who.require_write()?;
    let remove = super::delete(&state.db, who.tenant_id, id, if_match.0);
    write::delete(&state, &who, &MAINTENANCE, id, if_match, remove).await
}
