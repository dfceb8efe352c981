//! `/api/v1` handlers for subscribers, and the public confirmation of an email subscription.
//! Creates take `Idempotency-Key`; writes need the `write` scope and are audited; another
//! tenant's subscriber is a 404. An email subscriber's confirm URL is in the first response only
//! ([`idempotent_shown_once`]).

use super::{ConfirmQuery, CreatedSubscriber, Subscriber, SubscriberFilter, SubscriberInput};
use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::rest::responses::{
    Invalid, Malformed, MalformedRequest, NeedsToken, NotFound, WriteForbidden,
};
use crate::rest::shown_once::idempotent_shown_once;
use crate::rest::{audit, CreateRequest, Page, PageQuery};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/subscribers",
            post(create_subscriber).get(list_subscribers),
        )
        .route(
            "/api/v1/subscribers/{id}",
            get(get_subscriber).delete(delete_subscriber),
        )
        .route(super::CONFIRM_PATH, get(confirm_subscription))
}

#[utoipa::path(
    post,
    path = "/api/v1/subscribers",
    tag = "subscribers",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = SubscriberInput,
    responses(
        (status = 201, description = "created (ETag header)", body = CreatedSubscriber),
        Malformed, NeedsToken, WriteForbidden, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn create_subscriber(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<SubscriberInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let state = &state;
    idempotent_shown_once(&state.db, who.tenant_id, request, |input| async move {
        let answer = super::create(&state.db, who.tenant_id, &input).await?;
        let subscriber = &answer.subscriber;
        audit(
            &state.db,
            &who,
            "create",
            "subscriber",
            Some(subscriber.id),
            json!({ "kind": subscriber.kind }),
        )
        .await?;
        let stored = CreatedSubscriber {
            subscriber: subscriber.clone(),
            confirm_url: None,
        };
        Ok((answer, stored))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/subscribers",
    tag = "subscribers",
    params(SubscriberFilter, PageQuery),
    responses(
        MalformedRequest,
        (status = 200, description = "one page, newest first", body = crate::rest::Page<Subscriber>),
        NeedsToken, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn list_subscribers(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(filter): ApiQuery<SubscriberFilter>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Subscriber>>> {
    Ok(Json(
        super::list(&state.db, who.tenant_id, &filter, &page).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/subscribers/{id}",
    tag = "subscribers",
    params(("id" = uuid::Uuid, Path, description = "subscriber id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the subscriber (ETag header)", body = Subscriber),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn get_subscriber(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Subscriber>> {
    Ok(Json(super::get(&state.db, who.tenant_id, id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/subscribers/{id}",
    tag = "subscribers",
    params(("id" = uuid::Uuid, Path, description = "subscriber id")),
    responses(
        MalformedRequest,
        (status = 204, description = "deleted"),
        NeedsToken, WriteForbidden, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn delete_subscriber(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require_write()?;
    // Subscribers carry no version, so no If-Match: a miss is a 404.
    if !super::delete(&state.db, who.tenant_id, id).await? {
        return Err(ApiError::NotFound("subscriber"));
    }
    audit(&state.db, &who, "delete", "subscriber", Some(id), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Public, unauthenticated: the link of a confirmation email. 404 for an unknown or used token.
#[utoipa::path(get, path = "/api/v1/public/subscriptions/confirm", tag = "subscribers",
    params(ConfirmQuery),
    responses((status = 200, description = "confirmed", body = serde_json::Value),
              (status = 400, description = "malformed query", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "unknown or already used token", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 422, description = "no token", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
pub async fn confirm_subscription(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConfirmQuery>,
) -> ApiResult<Response> {
    let token = query
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::field("token", "is required: use the link from the email"))?;
    if super::confirm(&state.db, token).await?.is_none() {
        return Err(ApiError::NotFound("subscription confirmation"));
    }
    let mut response = Json(json!({ "confirmed": true })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
