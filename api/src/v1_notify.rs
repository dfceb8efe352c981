//! `/api/v1` handlers for who hears about incidents: subscribers (and their public email
//! confirmation), notification channels, and the tenant's API tokens. Same conventions as
//! [`crate::v1`]: creates take `Idempotency-Key`, writes need the `write` scope (channels and API
//! tokens: `admin`; other tokens read channel configs masked) and are audited,
//! channels carry an `ETag` and honour `If-Match`, another tenant's row is a 404.
//!
//! Secrets shown once (a new API token, an email subscriber's confirm URL) are in the first
//! response only: `Idempotency-Key` stores and replays the response without them, so no
//! plaintext secret is ever written to the database.

use crate::auth::ApiTenant;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::rest::{audit, created, idempotent, CreateRequest, IfMatch, Page, PageQuery, Tagged};
use crate::{channels, subscribers, tokens, AppState};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use std::sync::OnceLock;
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
        .route(subscribers::CONFIRM_PATH, get(confirm_subscription))
        .route(
            "/api/v1/notification-channels",
            post(create_channel).get(list_channels),
        )
        .route(
            "/api/v1/notification-channels/{id}",
            get(get_channel).patch(patch_channel).delete(delete_channel),
        )
        .route("/api/v1/api-tokens", post(create_token).get(list_tokens))
        .route(
            "/api/v1/api-tokens/{id}",
            get(get_token).delete(revoke_token),
        )
}

/// The response to a create whose first answer shows a secret that is not stored: `fresh` is
/// set (with the secret) only when this request ran the create; otherwise `replayed` is the
/// stored answer, without it. Neither is cached by clients or proxies, and rows without a
/// version get no `ETag`.
fn shown_once<T: Serialize>(fresh: Option<T>, replayed: Response, tagged: bool) -> Response {
    let mut response = match fresh {
        Some(body) => (StatusCode::CREATED, Json(body)).into_response(),
        None => replayed,
    };
    if !tagged {
        response.headers_mut().remove(header::ETAG);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---- subscribers ----

#[utoipa::path(
    post,
    path = "/api/v1/subscribers",
    tag = "subscribers",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = subscribers::SubscriberInput,
    responses(
        (status = 201, description = "created (ETag header)", body = subscribers::CreatedSubscriber),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn create_subscriber(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<subscribers::SubscriberInput>,
) -> ApiResult<Response> {
    who.require_write()?;
    let db = state.db.clone();
    let fresh = OnceLock::new();
    let fresh_slot = &fresh;
    let response = idempotent(&db, who.tenant_id, request, |input| async move {
        let answer = subscribers::create(&state.db, who.tenant_id, &input).await?;
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
        let stored = created(
            1,
            &subscribers::CreatedSubscriber {
                subscriber: answer.subscriber.clone(),
                confirm_url: None,
            },
        );
        let _ = fresh_slot.set(answer);
        stored
    })
    .await?;
    Ok(shown_once(fresh.into_inner(), response, false))
}

#[utoipa::path(
    get,
    path = "/api/v1/subscribers",
    tag = "subscribers",
    params(subscribers::SubscriberFilter, PageQuery),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "one page, newest first", body = crate::rest::Page<subscribers::Subscriber>),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn list_subscribers(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(filter): ApiQuery<subscribers::SubscriberFilter>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<subscribers::Subscriber>>> {
    Ok(Json(
        subscribers::list(&state.db, who.tenant_id, &filter, &page).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/subscribers/{id}",
    tag = "subscribers",
    params(("id" = uuid::Uuid, Path, description = "subscriber id")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "the subscriber (ETag header)", body = subscribers::Subscriber),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn get_subscriber(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<subscribers::Subscriber>> {
    Ok(Json(subscribers::get(&state.db, who.tenant_id, id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/subscribers/{id}",
    tag = "subscribers",
    params(("id" = uuid::Uuid, Path, description = "subscriber id")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 204, description = "deleted"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "read-only token or plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn delete_subscriber(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require_write()?;
    if !subscribers::delete(&state.db, who.tenant_id, id).await? {
        return Err(ApiError::NotFound("subscriber"));
    }
    audit(&state.db, &who, "delete", "subscriber", Some(id), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Public, unauthenticated: the link of a confirmation email. 404 for an unknown or used token.
#[utoipa::path(get, path = "/api/v1/public/subscriptions/confirm", tag = "subscribers",
    params(subscribers::ConfirmQuery),
    responses((status = 200, description = "confirmed", body = serde_json::Value),
              (status = 400, description = "malformed query", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "unknown or already used token", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 422, description = "no token", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn confirm_subscription(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<subscribers::ConfirmQuery>,
) -> ApiResult<Response> {
    let token = query
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::field("token", "is required: use the link from the email"))?;
    if subscribers::confirm(&state.db, token).await?.is_none() {
        return Err(ApiError::NotFound("subscription confirmation"));
    }
    let mut response = Json(json!({ "confirmed": true })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

// ---- notification channels ----

#[utoipa::path(
    post,
    path = "/api/v1/notification-channels",
    tag = "notification channels",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = channels::ChannelInput,
    responses(
        (status = 201, description = "created (ETag header)", body = channels::Channel),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "token without the `admin` scope, or a plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn create_channel(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<channels::ChannelInput>,
) -> ApiResult<Response> {
    who.require_admin()?;
    let db = state.db.clone();
    idempotent(&db, who.tenant_id, request, |input| async move {
        let channel = channels::create(&state.db, who.tenant_id, &input).await?;
        // Never the config: a webhook's may hold its secret.
        audit(
            &state.db,
            &who,
            "create",
            "notification_channel",
            Some(channel.id),
            json!({ "name": channel.name, "kind": channel.kind }),
        )
        .await?;
        created(channel.version, &channel)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/notification-channels",
    tag = "notification channels",
    params(PageQuery),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "one page, newest first", body = crate::rest::Page<channels::Channel>),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn list_channels(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<channels::Channel>>> {
    let mut page = channels::list(&state.db, who.tenant_id, &page).await?;
    if !who.sees_secrets() {
        page.items = page
            .items
            .into_iter()
            .map(channels::Channel::masked)
            .collect();
    }
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/api/v1/notification-channels/{id}",
    tag = "notification channels",
    params(("id" = uuid::Uuid, Path, description = "notification channel id")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "the notification channel (ETag header)", body = channels::Channel),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn get_channel(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<channels::Channel>> {
    let mut channel = channels::get(&state.db, who.tenant_id, id).await?;
    if !who.sees_secrets() {
        channel = channel.masked();
    }
    Ok(Tagged(StatusCode::OK, channel.version, channel))
}

#[utoipa::path(
    patch,
    path = "/api/v1/notification-channels/{id}",
    tag = "notification channels",
    params(("id" = uuid::Uuid, Path, description = "notification channel id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = channels::ChannelPatch,
    responses(
        (status = 200, description = "the updated notification channel (ETag header)", body = channels::Channel),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "token without the `admin` scope, or a plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn patch_channel(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<channels::ChannelPatch>,
) -> ApiResult<Tagged<channels::Channel>> {
    who.require_admin()?;
    let Some(channel) = channels::patch(&state.db, who.tenant_id, id, if_match.0, &patch).await?
    else {
        return Err(channel_missed(&state, if_match, &who, id).await);
    };
    let mut changed: Vec<&str> = Vec::new();
    for (field, present) in [
        ("name", patch.name.is_some()),
        ("config", patch.config.is_some()),
        ("enabled", patch.enabled.is_some()),
    ] {
        if present {
            changed.push(field);
        }
    }
    audit(
        &state.db,
        &who,
        "update",
        "notification_channel",
        Some(id),
        json!({ "name": channel.name, "changed": changed }),
    )
    .await?;
    Ok(Tagged(StatusCode::OK, channel.version, channel))
}

#[utoipa::path(
    delete,
    path = "/api/v1/notification-channels/{id}",
    tag = "notification channels",
    params(("id" = uuid::Uuid, Path, description = "notification channel id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 204, description = "deleted"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "token without the `admin` scope, or a plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match the current version", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn delete_channel(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    who.require_admin()?;
    if !channels::delete(&state.db, who.tenant_id, id, if_match.0).await? {
        return Err(channel_missed(&state, if_match, &who, id).await);
    }
    audit(
        &state.db,
        &who,
        "delete",
        "notification_channel",
        Some(id),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 404 or 412 after a channel update or delete that matched no row.
async fn channel_missed(
    state: &AppState,
    if_match: IfMatch,
    who: &ApiTenant,
    id: Uuid,
) -> ApiError {
    if_match
        .explain_miss(
            &state.db,
            "notification_channels",
            "notification channel",
            who.tenant_id,
            id,
        )
        .await
}

// ---- API tokens ----

#[utoipa::path(
    post,
    path = "/api/v1/api-tokens",
    tag = "api tokens",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = tokens::TokenInput,
    responses(
        (status = 201, description = "created (ETag header)", body = tokens::CreatedToken),
        (status = 400, description = "malformed JSON or unknown fields", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "token without the `admin` scope, or a plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn create_token(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<tokens::TokenInput>,
) -> ApiResult<Response> {
    who.require_admin()?;
    let db = state.db.clone();
    let fresh = OnceLock::new();
    let fresh_slot = &fresh;
    let response = idempotent(&db, who.tenant_id, request, |input| async move {
        let answer = tokens::create(&state.db, who.tenant_id, &input).await?;
        let token = &answer.api_token;
        audit(
            &state.db,
            &who,
            "create",
            "api_token",
            Some(token.id),
            json!({ "name": token.name, "prefix": token.prefix, "scopes": token.scopes }),
        )
        .await?;
        let stored = created(
            1,
            &tokens::CreatedToken {
                api_token: answer.api_token.clone(),
                token: None,
            },
        );
        let _ = fresh_slot.set(answer);
        stored
    })
    .await?;
    Ok(shown_once(fresh.into_inner(), response, false))
}

#[utoipa::path(
    get,
    path = "/api/v1/api-tokens",
    tag = "api tokens",
    params(PageQuery),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "one page, newest first", body = crate::rest::Page<tokens::ApiToken>),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn list_tokens(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<tokens::ApiToken>>> {
    Ok(Json(tokens::list(&state.db, who.tenant_id, &page).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/api-tokens/{id}",
    tag = "api tokens",
    params(("id" = uuid::Uuid, Path, description = "API token id")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 200, description = "the API token (ETag header)", body = tokens::ApiToken),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn get_token(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<tokens::ApiToken>> {
    Ok(Json(tokens::get(&state.db, who.tenant_id, id).await?))
}

/// Revokes (never deletes) a token; revoking a revoked token is a no-op 204.
#[utoipa::path(
    delete,
    path = "/api/v1/api-tokens/{id}",
    tag = "api tokens",
    params(("id" = uuid::Uuid, Path, description = "API token id")),
    responses(
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 204, description = "revoked"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "token without the `admin` scope, or a plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not found (or another tenant's)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
async fn revoke_token(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require_admin()?;
    match tokens::revoke(&state.db, who.tenant_id, id).await? {
        None => return Err(ApiError::NotFound("API token")),
        Some(false) => {}
        Some(true) => {
            audit(&state.db, &who, "revoke", "api_token", Some(id), json!({})).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
