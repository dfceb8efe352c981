//! `/api/v1/components` and `/api/v1/component-groups`: a tenant's components and their groups.
//! Both lists are bounded by the plan, so each is one page in display order.

use super::{Component, ComponentGroup, ComponentInput, ComponentPatch, GroupInput, GroupPatch};
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

const COMPONENT: Resource = Resource::new("component", "components", "component");
/// The status snapshot does not show groups: their writes leave it as it is.
const GROUP: Resource =
    Resource::new("component_group", "component_groups", "component group").off_status_page();

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/components",
            post(create_component).get(list_components),
        )
        .route(
            "/api/v1/components/{id}",
            get(get_component)
                .patch(patch_component)
                .delete(delete_component),
        )
        .route(
            "/api/v1/component-groups",
            post(create_group).get(list_groups),
        )
        .route(
            "/api/v1/component-groups/{id}",
            get(get_group).patch(patch_group).delete(delete_group),
        )
}

#[utoipa::path(
    post,
    path = "/api/v1/components",
    tag = "components",
    params(IdempotencyKeyHeader),
    request_body = ComponentInput,
    responses(
        (status = 201, description = "created (ETag header)", body = Component),
        Malformed, NeedsToken, WriteForbidden, Invalid
    ),
    security(("bearer" = []))
)]
async fn create_component(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<ComponentInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let insert = super::create(&state.db, who.tenant_id, &request.input);
    write::create(
        &state,
        &who,
        &COMPONENT,
        &request,
        insert,
        |c| json!({ "name": c.name }),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/components",
    tag = "components",
    responses(
        MalformedRequest,
        (status = 200, description = "all components in display order (bounded by the plan)", body = crate::rest::Page<Component>),
        NeedsToken
    ),
    security(("bearer" = []))
)]
async fn list_components(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Json<Page<Component>>> {
    // Bounded by the plan's component limit: one page, in display order.
    let items = super::list(&state.db, who.tenant_id).await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/components/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the component (ETag header)", body = Component),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
async fn get_component(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<Component>> {
    let component = super::get(&state.db, who.tenant_id, id).await?;
    Ok(Tagged(StatusCode::OK, component.version, component))
}

#[utoipa::path(
    patch,
    path = "/api/v1/components/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component id"), IfMatchHeader),
    request_body = ComponentPatch,
    responses(
        (status = 200, description = "the updated component (ETag header)", body = Component),
        Malformed, NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn patch_component(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<ComponentPatch>,
) -> ApiResult<Tagged<Component>> {
    who.require_write()?;
    let change = super::patch(&state.db, who.tenant_id, id, if_match.0, &patch);
    write::update(
        &state,
        &who,
        &COMPONENT,
        id,
        if_match,
        change,
        |c| json!({ "name": c.name }),
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/v1/components/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component id"), IfMatchHeader),
    responses(
        MalformedRequest,
        (status = 204, description = "deleted"),
        NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn delete_component(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    who.require_write()?;
    let remove = super::delete(&state.db, who.tenant_id, id, if_match.0);
    write::delete(&state, &who, &COMPONENT, id, if_match, remove).await
}

#[utoipa::path(
    post,
    path = "/api/v1/component-groups",
    tag = "components",
    params(IdempotencyKeyHeader),
    request_body = GroupInput,
    responses(
        (status = 201, description = "created (ETag header)", body = ComponentGroup),
        Malformed, NeedsToken, WriteForbidden, Invalid
    ),
    security(("bearer" = []))
)]
async fn create_group(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<GroupInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let insert = super::create_group(&state.db, who.tenant_id, &request.input);
    write::create(
        &state,
        &who,
        &GROUP,
        &request,
        insert,
        |g| json!({ "name": g.name }),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/component-groups",
    tag = "components",
    responses(
        MalformedRequest,
        (status = 200, description = "all groups in display order", body = crate::rest::Page<ComponentGroup>),
        NeedsToken
    ),
    security(("bearer" = []))
)]
async fn list_groups(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Json<Page<ComponentGroup>>> {
    let items = super::list_groups(&state.db, who.tenant_id).await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/component-groups/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component group id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the component group (ETag header)", body = ComponentGroup),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
async fn get_group(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<ComponentGroup>> {
    let group = super::get_group(&state.db, who.tenant_id, id).await?;
    Ok(Tagged(StatusCode::OK, group.version, group))
}

#[utoipa::path(
    patch,
    path = "/api/v1/component-groups/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component group id"), IfMatchHeader),
    request_body = GroupPatch,
    responses(
        (status = 200, description = "the updated component group (ETag header)", body = ComponentGroup),
        Malformed, NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn patch_group(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<GroupPatch>,
) -> ApiResult<Tagged<ComponentGroup>> {
    who.require_write()?;
    let change = super::patch_group(&state.db, who.tenant_id, id, if_match.0, &patch);
    write::update(
        &state,
        &who,
        &GROUP,
        id,
        if_match,
        change,
        |g| json!({ "name": g.name }),
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/v1/component-groups/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component group id"), IfMatchHeader),
    responses(
        MalformedRequest,
        (status = 204, description = "deleted"),
        NeedsToken, WriteForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
async fn delete_group(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    who.require_write()?;
    let remove = super::delete_group(&state.db, who.tenant_id, id, if_match.0);
    write::delete(&state, &who, &GROUP, id, if_match, remove).await
}
