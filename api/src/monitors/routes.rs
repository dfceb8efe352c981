//! `/api/v1/monitors`: create, list, read, replace and delete a tenant's monitors. Header values
//! marked `secret` read `********` in every create response and, without the `admin` scope, in
//! reads.

use super::{Monitor, MonitorFilter, MonitorInput, MONITOR};
use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiPath, ApiQuery, ApiResult};
use crate::rest::input::ApiJson;
use crate::rest::responses::{
    Invalid, Malformed, MalformedRequest, NeedsToken, NotFound, StaleVersion, WriteForbidden,
};
use crate::rest::write::{self, IdempotencyKeyHeader, IfMatchHeader};
use crate::rest::{CreateRequest, IfMatch, Page, PageQuery, Tagged};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/monitors", post(create_monitor).get(list_monitors))
        .route(
            "/api/v1/monitors/{id}",
            get(get_monitor).put(replace_monitor).delete(delete_monitor),
        )
        .merge(super::analytics::routes())
        .merge(super::health::routes())
}

#[utoipa::path(
    post,
    path = "/api/v1/monitors",
    tag = "monitors",
    params(IdempotencyKeyHeader),
    request_body = MonitorInput,
    responses(
        (status = 201, description = "created (ETag header); header values marked `secret` read `********`", body = Monitor),
        Malformed, NeedsToken, WriteForbidden,
        (status = 413, description = "body larger than 1 MiB", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input (more than 10 000 values or nesting deeper than 32 on `body`); `errors` names the fields", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn create_monitor(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<MonitorInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let insert = async {
        let regions = &state.config.regions;
        let mut monitor = super::create(&state.db, who.tenant_id, &request.input, regions).await?;
        // Masked for every token: the answer is stored for `Idempotency-Key` replays, and a
        // secret is kept in one place only (the caller has just sent it anyway).
        super::mask_secrets(&mut monitor.spec);
        Ok(monitor)
    };
    write::create(
        &state,
        &who,
        &MONITOR,
        &request,
        insert,
        |m| json!({ "name": m.name }),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/monitors",
    tag = "monitors",
    params(MonitorFilter, PageQuery),
    responses(
        MalformedRequest,
        (status = 200, description = "one page, newest first; without the `admin` scope header values marked `secret` read `********`", body = crate::rest::Page<Monitor>),
        NeedsToken, Invalid
    ),
    security(("bearer" = []))
)]
async fn list_monitors(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(filter): ApiQuery<MonitorFilter>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Monitor>>> {
    let mut page = super::list_page(&state.db, who.tenant_id, &filter, &page).await?;
    page.items = page.items.into_iter().map(|m| shown(&who, m)).collect();
    Ok(Json(page))
}

/// A monitor as this token may see it: secret header values masked without `admin`.
fn shown(who: &ApiTenant, mut monitor: Monitor) -> Monitor {
    if !who.sees_secrets() {
        super::mask_secrets(&mut monitor.spec);
    }
    monitor
}

#[utoipa::path(
    get,
    path = "/api/v1/monitors/{id}",
    tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "monitor id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the monitor (ETag header); without the `admin` scope header values marked `secret` read `********`", body = Monitor),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
async fn get_monitor(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<Monitor>> {
    let monitor = shown(&who, super::get(&state.db, who.tenant_id, id).await?);
    Ok(Tagged(StatusCode::OK, monitor.version, monitor))
}

#[utoipa::path(
    put,
    path = "/api/v1/monitors/{id}",
    tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "monitor id"), IfMatchHeader),
    request_body = MonitorInput,
    responses(
        (status = 200, description = "the updated monitor (ETag header)", body = Monitor),
        Malformed, NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn replace_monitor(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(input): ApiJson<MonitorInput>,
) -> ApiResult<Tagged<Monitor>> {
    who.require_write()?;
    let regions = &state.config.regions;
    let change = super::replace(&state.db, who.tenant_id, id, if_match.0, &input, regions);
    let Tagged(status, version, monitor) = write::update(
        &state,
        &who,
        &MONITOR,
        id,
        if_match,
        change,
        |m| json!({ "name": m.name }),
    )
    .await?;
    Ok(Tagged(status, version, shown(&who, monitor)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/monitors/{id}",
    tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "monitor id"), IfMatchHeader),
    responses(
        MalformedRequest,
        (status = 204, description = "deleted"),
        NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn delete_monitor(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    who.require_write()?;
    let remove = super::delete(&state.db, who.tenant_id, id, if_match.0);
    write::delete(&state, &who, &MONITOR, id, if_match, remove).await
}
