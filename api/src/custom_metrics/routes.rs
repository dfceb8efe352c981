//! `/api/v1/custom-metrics`: a tenant's custom metrics (bounded by the plan, so the list is one
//! page in display order). Writes need the `write` scope; the `Authorization` header a metric
//! sends is never shown (`authorization_set`).

use super::{CustomMetric, CustomMetricInput, CustomMetricPatch};
use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiPath, ApiResult};
use crate::rest::input::ApiJson;
use crate::rest::responses::{
    Invalid, Malformed, MalformedRequest, NeedsToken, NotFound, StaleVersion, WriteForbidden,
};
use crate::rest::write::{self, IdempotencyKeyHeader, IfMatchHeader, Resource};
use crate::rest::{CreateRequest, IfMatch, Page, Tagged};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use uuid::Uuid;

const CUSTOM_METRIC: Resource = Resource::new("custom_metric", "custom_metrics", "custom metric");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/custom-metrics",
            post(create_metric).get(list_metrics),
        )
        .route(
            "/api/v1/custom-metrics/{id}",
            get(get_metric).patch(patch_metric).delete(delete_metric),
        )
}

#[utoipa::path(
    post,
    path = "/api/v1/custom-metrics",
    tag = "custom-metrics",
    params(IdempotencyKeyHeader),
    request_body = CustomMetricInput,
    responses(
        (status = 201, description = "created, with the query's first answer (ETag header)", body = CustomMetric),
        Malformed, NeedsToken, WriteForbidden, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn create_metric(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<CustomMetricInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let insert = super::create(&state, who.tenant_id, &request.input);
    write::create(
        &state,
        &who,
        &CUSTOM_METRIC,
        &request,
        insert,
        |m| json!({ "name": m.name }),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/custom-metrics",
    tag = "custom-metrics",
    responses(
        MalformedRequest,
        (status = 200, description = "all custom metrics in display order (bounded by the plan)", body = crate::rest::Page<CustomMetric>),
        NeedsToken
    ),
    security(("bearer" = []))
)]
pub async fn list_metrics(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Json<Page<CustomMetric>>> {
    let items = super::list(&state.db, who.tenant_id).await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/custom-metrics/{id}",
    tag = "custom-metrics",
    params(("id" = uuid::Uuid, Path, description = "custom metric id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the custom metric and its last answer (ETag header)", body = CustomMetric),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn get_metric(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<CustomMetric>> {
    let metric = super::get(&state.db, who.tenant_id, id).await?;
    Ok(Tagged(StatusCode::OK, metric.version, metric))
}

#[utoipa::path(
    patch,
    path = "/api/v1/custom-metrics/{id}",
    tag = "custom-metrics",
    params(("id" = uuid::Uuid, Path, description = "custom metric id"), IfMatchHeader),
    request_body = CustomMetricPatch,
    responses(
        (status = 200, description = "the updated custom metric (ETag header)", body = CustomMetric),
        Malformed, NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn patch_metric(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<CustomMetricPatch>,
) -> ApiResult<Tagged<CustomMetric>> {
    who.require_write()?;
    let change = super::patch(&state, who.tenant_id, id, if_match.0, &patch);
    write::update(
        &state,
        &who,
        &CUSTOM_METRIC,
        id,
        if_match,
        change,
        |m| json!({ "name": m.name }),
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/v1/custom-metrics/{id}",
    tag = "custom-metrics",
    params(("id" = uuid::Uuid, Path, description = "custom metric id"), IfMatchHeader),
    responses(
        MalformedRequest,
        (status = 204, description = "deleted"),
        NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn delete_metric(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    who.require_write()?;
    let remove = super::delete(&state.db, who.tenant_id, id, if_match.0);
    write::delete(&state, &who, &CUSTOM_METRIC, id, if_match, remove).await
}
