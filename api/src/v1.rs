//! `/api/v1` handlers for a tenant's configuration: monitors, components and groups, incidents,
//! maintenance and the audit log. Creates take `Idempotency-Key`; reads return an `ETag`;
//! updates and deletes honour `If-Match` (412 when the row changed). A row of another tenant is
//! indistinguishable from a missing one (404).

use crate::auth::ApiTenant;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::rest::{audit, created, idempotent, CreateRequest, IfMatch, Page, PageQuery, Tagged};
use crate::{components, incidents, maintenance, monitors, status_pages, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/monitors", post(create_monitor).get(list_monitors))
        .route(
            "/api/v1/monitors/{id}",
            get(get_monitor).put(replace_monitor).delete(delete_monitor),
        )
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
        .route("/api/v1/audit-log", get(audit_log))
        .route(
            "/api/v1/status-page",
            get(get_status_page).patch(patch_status_page),
        )
        .route(
            "/api/v1/status-page/verify-domain",
            post(verify_status_page_domain),
        )
}

/// 404 or 412 after an update or delete that matched no row.
async fn missed(
    state: &AppState,
    if_match: IfMatch,
    table: &'static str,
    what: &'static str,
    who: &ApiTenant,
    id: Uuid,
) -> ApiError {
    if_match
        .explain_miss(&state.db, table, what, who.tenant_id, id)
        .await
}

// ---- monitors ----

#[utoipa::path(
    post,
    path = "/api/v1/monitors",
    tag = "monitors",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = monitors::MonitorInput,
    responses(
        (status = 201, description = "created (ETag header); header values marked `secret` read `********`", body = monitors::Monitor),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "body larger than 1 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input (more than 10 000 values or nesting deeper than 32 on `body`); `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn create_monitor(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<monitors::MonitorInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let db = state.db.clone();
    let response = idempotent(&db, who.tenant_id, request, |input| async move {
        let monitor =
            monitors::create(&state.db, who.tenant_id, &input, &state.config.regions).await?;
        audit(
            &state.db,
            &who,
            "create",
            "monitor",
            Some(monitor.id),
            json!({ "name": monitor.name }),
        )
        .await?;
        state.status.invalidate(who.tenant_id);
        // Masked for every token: the answer is stored for `Idempotency-Key` replays, and a
        // secret is kept in one place only (the caller has just sent it anyway).
        let mut monitor = monitor;
        monitors::mask_secrets(&mut monitor.spec);
        created(monitor.version, &monitor)
    })
    .await?;
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/api/v1/monitors",
    tag = "monitors",
    params(monitors::MonitorFilter, PageQuery),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "one page, newest first; without the `admin` scope header values marked `secret` read `********`", body = crate::rest::Page<monitors::Monitor>),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn list_monitors(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(filter): ApiQuery<monitors::MonitorFilter>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<monitors::Monitor>>> {
    let mut page = monitors::list_page(&state.db, who.tenant_id, &filter, &page).await?;
    page.items = page.items.into_iter().map(|m| shown(&who, m)).collect();
    Ok(Json(page))
}

/// A monitor as this token may see it: secret header values masked without `admin`.
fn shown(who: &ApiTenant, mut monitor: monitors::Monitor) -> monitors::Monitor {
    if !who.sees_secrets() {
        monitors::mask_secrets(&mut monitor.spec);
    }
    monitor
}

#[utoipa::path(
    get,
    path = "/api/v1/monitors/{id}",
    tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "monitor id")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "the monitor (ETag header); without the `admin` scope header values marked `secret` read `********`", body = monitors::Monitor),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn get_monitor(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<monitors::Monitor>> {
    let monitor = shown(&who, monitors::get(&state.db, who.tenant_id, id).await?);
    Ok(Tagged(StatusCode::OK, monitor.version, monitor))
}

#[utoipa::path(
    put,
    path = "/api/v1/monitors/{id}",
    tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "monitor id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = monitors::MonitorInput,
    responses(
        (status = 200, description = "the updated monitor (ETag header)", body = monitors::Monitor),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn replace_monitor(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(input): ApiJson<monitors::MonitorInput>,
) -> ApiResult<Tagged<monitors::Monitor>> {
    who.require_write()?;
    let monitor = match monitors::replace(
        &state.db,
        who.tenant_id,
        id,
        if_match.0,
        &input,
        &state.config.regions,
    )
    .await?
    {
        Some(m) => m,
        None => return Err(missed(&state, if_match, "monitors", "monitor", &who, id).await),
    };
    audit(
        &state.db,
        &who,
        "update",
        "monitor",
        Some(id),
        json!({ "name": monitor.name }),
    )
    .await?;
    state.status.invalidate(who.tenant_id);
    let monitor = shown(&who, monitor);
    Ok(Tagged(StatusCode::OK, monitor.version, monitor))
}

#[utoipa::path(
    delete,
    path = "/api/v1/monitors/{id}",
    tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "monitor id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 204, description = "deleted"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
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
    if !monitors::delete(&state.db, who.tenant_id, id, if_match.0).await? {
        return Err(missed(&state, if_match, "monitors", "monitor", &who, id).await);
    }
    audit(&state.db, &who, "delete", "monitor", Some(id), json!({})).await?;
    state.status.invalidate(who.tenant_id);
    Ok(StatusCode::NO_CONTENT)
}

// ---- components and groups ----

#[utoipa::path(
    post,
    path = "/api/v1/components",
    tag = "components",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = components::ComponentInput,
    responses(
        (status = 201, description = "created (ETag header)", body = components::Component),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn create_component(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<components::ComponentInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let db = state.db.clone();
    idempotent(&db, who.tenant_id, request, |input| async move {
        let component = components::create(&state.db, who.tenant_id, &input).await?;
        audit(
            &state.db,
            &who,
            "create",
            "component",
            Some(component.id),
            json!({ "name": component.name }),
        )
        .await?;
        state.status.invalidate(who.tenant_id);
        created(component.version, &component)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/components",
    tag = "components",
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "all components in display order (bounded by the plan)", body = crate::rest::Page<components::Component>),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn list_components(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Json<Page<components::Component>>> {
    // Bounded by the plan's component limit: one page, in display order.
    let items = components::list(&state.db, who.tenant_id).await?;
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
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "the component (ETag header)", body = components::Component),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn get_component(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<components::Component>> {
    let component = components::get(&state.db, who.tenant_id, id).await?;
    Ok(Tagged(StatusCode::OK, component.version, component))
}

#[utoipa::path(
    patch,
    path = "/api/v1/components/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = components::ComponentPatch,
    responses(
        (status = 200, description = "the updated component (ETag header)", body = components::Component),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn patch_component(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<components::ComponentPatch>,
) -> ApiResult<Tagged<components::Component>> {
    who.require_write()?;
    let Some(component) =
        components::patch(&state.db, who.tenant_id, id, if_match.0, &patch).await?
    else {
        return Err(missed(&state, if_match, "components", "component", &who, id).await);
    };
    audit(
        &state.db,
        &who,
        "update",
        "component",
        Some(id),
        json!({ "name": component.name }),
    )
    .await?;
    state.status.invalidate(who.tenant_id);
    Ok(Tagged(StatusCode::OK, component.version, component))
}

#[utoipa::path(
    delete,
    path = "/api/v1/components/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 204, description = "deleted"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
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
    if !components::delete(&state.db, who.tenant_id, id, if_match.0).await? {
        return Err(missed(&state, if_match, "components", "component", &who, id).await);
    }
    audit(&state.db, &who, "delete", "component", Some(id), json!({})).await?;
    state.status.invalidate(who.tenant_id);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/component-groups",
    tag = "components",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = components::GroupInput,
    responses(
        (status = 201, description = "created (ETag header)", body = components::ComponentGroup),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn create_group(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<components::GroupInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let db = state.db.clone();
    idempotent(&db, who.tenant_id, request, |input| async move {
        let group = components::create_group(&state.db, who.tenant_id, &input).await?;
        audit(
            &state.db,
            &who,
            "create",
            "component_group",
            Some(group.id),
            json!({ "name": group.name }),
        )
        .await?;
        created(group.version, &group)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/component-groups",
    tag = "components",
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "all groups in display order", body = crate::rest::Page<components::ComponentGroup>),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn list_groups(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Json<Page<components::ComponentGroup>>> {
    let items = components::list_groups(&state.db, who.tenant_id).await?;
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
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "the component group (ETag header)", body = components::ComponentGroup),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn get_group(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<components::ComponentGroup>> {
    let group = components::get_group(&state.db, who.tenant_id, id).await?;
    Ok(Tagged(StatusCode::OK, group.version, group))
}

#[utoipa::path(
    patch,
    path = "/api/v1/component-groups/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component group id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = components::GroupPatch,
    responses(
        (status = 200, description = "the updated component group (ETag header)", body = components::ComponentGroup),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn patch_group(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<components::GroupPatch>,
) -> ApiResult<Tagged<components::ComponentGroup>> {
    who.require_write()?;
    let Some(group) =
        components::patch_group(&state.db, who.tenant_id, id, if_match.0, &patch).await?
    else {
        return Err(missed(
            &state,
            if_match,
            "component_groups",
            "component group",
            &who,
            id,
        )
        .await);
    };
    audit(
        &state.db,
        &who,
        "update",
        "component_group",
        Some(id),
        json!({ "name": group.name }),
    )
    .await?;
    Ok(Tagged(StatusCode::OK, group.version, group))
}

#[utoipa::path(
    delete,
    path = "/api/v1/component-groups/{id}",
    tag = "components",
    params(("id" = uuid::Uuid, Path, description = "component group id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 204, description = "deleted"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
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
    if !components::delete_group(&state.db, who.tenant_id, id, if_match.0).await? {
        return Err(missed(
            &state,
            if_match,
            "component_groups",
            "component group",
            &who,
            id,
        )
        .await);
    }
    audit(
        &state.db,
        &who,
        "delete",
        "component_group",
        Some(id),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- incidents ----

#[utoipa::path(
    post,
    path = "/api/v1/incidents",
    tag = "incidents",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = incidents::IncidentInput,
    responses(
        (status = 201, description = "created (ETag header)", body = incidents::Incident),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn create_incident(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<incidents::IncidentInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let db = state.db.clone();
    idempotent(&db, who.tenant_id, request, |input| async move {
        let incident = incidents::create(&state.db, who.tenant_id, &input).await?;
        audit(
            &state.db,
            &who,
            "create",
            "incident",
            Some(incident.id),
            json!({ "title": incident.title }),
        )
        .await?;
        state.status.invalidate(who.tenant_id);
        created(incident.version, &incident)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    tag = "incidents",
    params(incidents::IncidentFilter, PageQuery),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "one page, newest first", body = crate::rest::Page<incidents::Incident>),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn list_incidents(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(filter): ApiQuery<incidents::IncidentFilter>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<incidents::Incident>>> {
    Ok(Json(
        incidents::list(&state.db, who.tenant_id, &filter, &page).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "the incident (ETag header)", body = incidents::Incident),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn get_incident(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<incidents::Incident>> {
    let incident = incidents::get(&state.db, who.tenant_id, id).await?;
    Ok(Tagged(StatusCode::OK, incident.version, incident))
}

#[utoipa::path(
    patch,
    path = "/api/v1/incidents/{id}",
    tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = incidents::IncidentPatch,
    responses(
        (status = 200, description = "the updated incident (ETag header)", body = incidents::Incident),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn patch_incident(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<incidents::IncidentPatch>,
) -> ApiResult<Tagged<incidents::Incident>> {
    who.require_write()?;
    let Some(incident) = incidents::patch(&state.db, who.tenant_id, id, if_match.0, &patch).await?
    else {
        return Err(missed(&state, if_match, "incidents", "incident", &who, id).await);
    };
    audit(
        &state.db,
        &who,
        "update",
        "incident",
        Some(id),
        json!({ "title": incident.title }),
    )
    .await?;
    state.status.invalidate(who.tenant_id);
    Ok(Tagged(StatusCode::OK, incident.version, incident))
}

#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/updates",
    tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = incidents::UpdateInput,
    responses(
        (status = 201, description = "the incident with the new update first (ETag header)", body = incidents::Incident),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn add_incident_update(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(input): ApiJson<incidents::UpdateInput>,
) -> ApiResult<Tagged<incidents::Incident>> {
    who.require_write()?;
    let Some(incident) =
        incidents::add_update(&state.db, who.tenant_id, id, if_match.0, &input).await?
    else {
        return Err(missed(&state, if_match, "incidents", "incident", &who, id).await);
    };
    audit(
        &state.db,
        &who,
        "update",
        "incident",
        Some(id),
        json!({ "status": incident.status }),
    )
    .await?;
    state.status.invalidate(who.tenant_id);
    Ok(Tagged(StatusCode::CREATED, incident.version, incident))
}

#[utoipa::path(
    delete,
    path = "/api/v1/incidents/{id}",
    tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 204, description = "deleted"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
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
    if !incidents::delete(&state.db, who.tenant_id, id, if_match.0).await? {
        return Err(missed(&state, if_match, "incidents", "incident", &who, id).await);
    }
    audit(&state.db, &who, "delete", "incident", Some(id), json!({})).await?;
    state.status.invalidate(who.tenant_id);
    Ok(StatusCode::NO_CONTENT)
}

// ---- maintenance ----

#[utoipa::path(
    post,
    path = "/api/v1/maintenances",
    tag = "maintenance",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = maintenance::MaintenanceInput,
    responses(
        (status = 201, description = "created (ETag header)", body = maintenance::Maintenance),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn create_maintenance(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<maintenance::MaintenanceInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let db = state.db.clone();
    idempotent(&db, who.tenant_id, request, |input| async move {
        let m = maintenance::create(&state.db, who.tenant_id, &input).await?;
        audit(
            &state.db,
            &who,
            "create",
            "maintenance",
            Some(m.id),
            json!({ "title": m.title }),
        )
        .await?;
        state.status.invalidate(who.tenant_id);
        created(m.version, &m)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/maintenances",
    tag = "maintenance",
    params(maintenance::MaintenanceFilter, PageQuery),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "one page, newest first", body = crate::rest::Page<maintenance::Maintenance>),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn list_maintenances(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(filter): ApiQuery<maintenance::MaintenanceFilter>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<maintenance::Maintenance>>> {
    Ok(Json(
        maintenance::list(&state.db, who.tenant_id, &filter, &page).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/maintenances/{id}",
    tag = "maintenance",
    params(("id" = uuid::Uuid, Path, description = "maintenance id")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "the maintenance (ETag header)", body = maintenance::Maintenance),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn get_maintenance(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<maintenance::Maintenance>> {
    let m = maintenance::get(&state.db, who.tenant_id, id).await?;
    Ok(Tagged(StatusCode::OK, m.version, m))
}

#[utoipa::path(
    patch,
    path = "/api/v1/maintenances/{id}",
    tag = "maintenance",
    params(("id" = uuid::Uuid, Path, description = "maintenance id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = maintenance::MaintenancePatch,
    responses(
        (status = 200, description = "the updated maintenance (ETag header)", body = maintenance::Maintenance),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn patch_maintenance(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<maintenance::MaintenancePatch>,
) -> ApiResult<Tagged<maintenance::Maintenance>> {
    who.require_write()?;
    let Some(m) = maintenance::patch(&state.db, who.tenant_id, id, if_match.0, &patch).await?
    else {
        return Err(missed(&state, if_match, "maintenances", "maintenance", &who, id).await);
    };
    audit(
        &state.db,
        &who,
        "update",
        "maintenance",
        Some(id),
        json!({ "title": m.title }),
    )
    .await?;
    state.status.invalidate(who.tenant_id);
    Ok(Tagged(StatusCode::OK, m.version, m))
}

#[utoipa::path(
    delete,
    path = "/api/v1/maintenances/{id}",
    tag = "maintenance",
    params(("id" = uuid::Uuid, Path, description = "maintenance id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 204, description = "deleted"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
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
    if !maintenance::delete(&state.db, who.tenant_id, id, if_match.0).await? {
        return Err(missed(&state, if_match, "maintenances", "maintenance", &who, id).await);
    }
    audit(
        &state.db,
        &who,
        "delete",
        "maintenance",
        Some(id),
        json!({}),
    )
    .await?;
    state.status.invalidate(who.tenant_id);
    Ok(StatusCode::NO_CONTENT)
}

// ---- audit log ----

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
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "entries, newest first", body = crate::rest::Page<crate::rest::AuditEntry>),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn audit_log(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Page<crate::rest::AuditEntry>>> {
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
    let mut items = crate::rest::audit_log(&state.db, who.tenant_id, limit + 1, before).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(Page { items, next_cursor }))
}

// ---- the status page ----

#[utoipa::path(
    get,
    path = "/api/v1/status-page",
    tag = "status page",
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "the settings (ETag header)", body = status_pages::StatusPageSettings),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn get_status_page(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Tagged<status_pages::StatusPageSettings>> {
    let page = status_pages::get(&state.db, who.tenant_id).await?;
    Ok(Tagged(StatusCode::OK, page.version, page))
}

#[utoipa::path(
    patch,
    path = "/api/v1/status-page",
    tag = "status page",
    params(("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = status_pages::StatusPagePatch,
    responses(
        (status = 200, description = "the updated settings (ETag header)", body = status_pages::StatusPageSettings),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn patch_status_page(
    State(state): State<AppState>,
    who: ApiTenant,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<status_pages::StatusPagePatch>,
) -> ApiResult<Tagged<status_pages::StatusPageSettings>> {
    who.require_write()?;
    let Some(page) = status_pages::patch(
        &state.db,
        who.tenant_id,
        if_match.0,
        &patch,
        &state.config.base_domain,
    )
    .await?
    else {
        let current = status_pages::get(&state.db, who.tenant_id).await?;
        return Err(ApiError::PreconditionFailed(format!(
            "the status page changed since you read it (now version \"v{}\"); read it again and reapply your change",
            current.version
        )));
    };
    // Never the password itself.
    let changed: Vec<&str> = [
        ("title", patch.title.is_some()),
        ("description", patch.description.is_some()),
        ("visibility", patch.visibility.is_some()),
        ("password", patch.password.is_some()),
        ("branding", patch.branding.is_some()),
        ("custom_domain", patch.custom_domain.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    audit(
        &state.db,
        &who,
        "update",
        "status_page",
        None,
        json!({ "changed": changed }),
    )
    .await?;
    state.status.invalidate(who.tenant_id);
    Ok(Tagged(StatusCode::OK, page.version, page))
}

/// 200 with the settings once the TXT record is found; 422 saying what was found otherwise.
#[utoipa::path(
    post,
    path = "/api/v1/status-page/verify-domain",
    tag = "status page",
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "verified (ETag header)", body = status_pages::StatusPageSettings),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "conflict", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn verify_status_page_domain(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Response> {
    who.require_write()?;
    match status_pages::verify_domain(&state.db, who.tenant_id, state.domain_resolver.as_deref())
        .await?
    {
        Ok(page) => {
            audit(
                &state.db,
                &who,
                "verify",
                "status_page",
                None,
                json!({ "custom_domain": page.custom_domain }),
            )
            .await?;
            Ok(Tagged(StatusCode::OK, page.version, page).into_response())
        }
        Err(failure) => {
            let found = if failure.found.is_empty() {
                "no TXT record".to_owned()
            } else {
                format!("TXT {:?}", failure.found)
            };
            Err(ApiError::field(
                "custom_domain",
                format!(
                    "expected a TXT record {} with the value {:?}, found {found}{}",
                    failure.expected.name,
                    failure.expected.value,
                    failure.error.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            ))
        }
    }
}
