//! `/api/v1` handlers for subscribers, and the public links of a subscriber's mail: the
//! confirmation of an email subscription (`GET` shows a button, `POST` confirms) and the RFC 8058
//! one-click unsubscribe (`POST` with `List-Unsubscribe=One-Click`, no session).
//! Creates take `Idempotency-Key`; writes need the `write` scope and are audited; another
//! tenant's subscriber is a 404. An email subscriber's confirm URL is in the first response only
//! ([`idempotent_shown_once`]).

use super::{
    public, ConfirmQuery, CreatedSubscriber, Subscriber, SubscriberFilter, SubscriberInput,
};
use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::rest::responses::{
    Invalid, Malformed, MalformedRequest, NeedsToken, NotFound, WriteForbidden,
};
use crate::rest::shown_once::idempotent_shown_once;
use crate::rest::{audit, CreateRequest, Page, PageQuery};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
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
        .route(
            super::CONFIRM_PATH,
            get(show_confirmation).post(confirm_subscription),
        )
        .route(
            super::links::UNSUBSCRIBE_PATH,
            get(show_unsubscribe).post(unsubscribe_one_click),
        )
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
        let answer = super::create(&state.db, who.tenant_id, &input, &state.delivery_guard).await?;
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

fn required_token(token: Option<&str>) -> ApiResult<&str> {
    token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::field("token", "is required: use the link from the email"))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn wants_html(headers: &HeaderMap) -> bool {
    let is = |name: header::HeaderName, what: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(what))
    };
    is(header::CONTENT_TYPE, "application/x-www-form-urlencoded") || is(header::ACCEPT, "text/html")
}

/// Public, unauthenticated: the link of a confirmation email. Shows a button that `POST`s the
/// token; following the link confirms nothing (mail scanners follow links). 404 for an unknown
/// or used token.
#[utoipa::path(get, path = "/api/v1/public/subscriptions/confirm", tag = "subscribers",
    params(ConfirmQuery),
    responses((status = 200, description = "an HTML page with the confirm button", content_type = "text/html", body = String),
              (status = 400, description = "malformed query", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "unknown or already used token", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 422, description = "no token", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
pub async fn show_confirmation(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConfirmQuery>,
) -> ApiResult<Response> {
    let token = required_token(query.token.as_deref())?;
    if !public::confirmation_pending(&state.db, token).await? {
        return Err(ApiError::NotFound("subscription confirmation"));
    }
    let body = format!(
        "<h1>Confirm your subscription</h1><p>Press the button to receive status updates at this address.</p>\
         <form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
         <button type=\"submit\">Confirm subscription</button></form>",
        super::CONFIRM_PATH,
        public::html_escape(token)
    );
    Ok(no_store(
        Html(public::html_page("Confirm your subscription", &body)).into_response(),
    ))
}

/// Public, unauthenticated: confirms the email subscription holding the token (`?token=` or a
/// form field `token`). Answers HTML to a browser's form post, else JSON.
#[utoipa::path(post, path = "/api/v1/public/subscriptions/confirm", tag = "subscribers",
    params(ConfirmQuery),
    responses((status = 200, description = "confirmed", body = serde_json::Value),
              (status = 400, description = "malformed query", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "unknown or already used token", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 422, description = "no token", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
pub async fn confirm_subscription(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ConfirmQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let form = public::form_pairs(&body);
    let from_form = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str());
    let token = required_token(query.token.as_deref().or(from_form))?;
    let Some((tenant_id, id)) = super::confirm(&state.db, token).await? else {
        return Err(ApiError::NotFound("subscription confirmation"));
    };
    if wants_html(&headers) {
        let manage = public::manage_url_of(&state.db, tenant_id, id).await?;
        let body = format!(
            "<h1>Subscription confirmed</h1><p>You will receive status updates at this address.</p>\
             <p><a href=\"{}\">Choose components or unsubscribe</a></p>",
            public::html_escape(&manage)
        );
        return Ok(no_store(
            Html(public::html_page("Subscription confirmed", &body)).into_response(),
        ));
    }
    Ok(no_store(Json(json!({ "confirmed": true })).into_response()))
}

/// `?id=<subscriber>&token=<token>` of the unsubscribe link.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
pub struct LinkQuery {
    pub id: Option<Uuid>,
    pub token: Option<String>,
}

fn link_of(query: &LinkQuery) -> ApiResult<(Uuid, &str)> {
    let id = query
        .id
        .ok_or_else(|| ApiError::field("id", "is required: use the link from the email"))?;
    Ok((id, required_token(query.token.as_deref())?))
}

/// Public: the unsubscribe link opened in a browser: a button that posts the one-click form.
#[utoipa::path(get, path = "/api/v1/public/subscriptions/unsubscribe", tag = "subscribers",
    params(LinkQuery),
    responses((status = 200, description = "an HTML page with the unsubscribe button", content_type = "text/html", body = String),
              (status = 400, description = "malformed query", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "not a valid link", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 422, description = "no id or token", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
pub async fn show_unsubscribe(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LinkQuery>,
) -> ApiResult<Response> {
    let (id, token) = link_of(&query)?;
    let Some(prefs) = public::preferences(&state.db, id, token).await? else {
        return Err(ApiError::NotFound("subscription"));
    };
    let body = format!(
        "<h1>Unsubscribe from {page}</h1><p>{target} will receive no more status updates.</p>\
         <form method=\"post\" action=\"{path}?id={id}&amp;token={token}\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form>",
        page = public::html_escape(&prefs.page_title),
        target = public::html_escape(&prefs.shown_target),
        path = super::links::UNSUBSCRIBE_PATH,
        token = public::html_escape(token),
    );
    Ok(no_store(
        Html(public::html_page("Unsubscribe", &body)).into_response(),
    ))
}

/// Public, no session: RFC 8058 one-click unsubscribe. The mail client `POST`s
/// `List-Unsubscribe=One-Click` to the `List-Unsubscribe` URL; the subscriber is deleted. A
/// second click answers 200 too.
#[utoipa::path(post, path = "/api/v1/public/subscriptions/unsubscribe", tag = "subscribers",
    params(LinkQuery),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "List-Unsubscribe=One-Click"),
    responses((status = 200, description = "unsubscribed", body = serde_json::Value),
              (status = 400, description = "malformed query", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "not a valid link", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 422, description = "no id, token or List-Unsubscribe=One-Click", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
pub async fn unsubscribe_one_click(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LinkQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (id, token) = link_of(&query)?;
    if !public::form_pairs(&body)
        .iter()
        .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click")
    {
        return Err(ApiError::field(
            "List-Unsubscribe",
            "must be One-Click (RFC 8058)",
        ));
    }
    match public::unsubscribe(&state.db, id, token).await? {
        public::Unsubscribed::BadLink => Err(ApiError::NotFound("subscription")),
        _ if wants_html(&headers) => Ok(no_store(
            Html(public::html_page(
                "Unsubscribed",
                "<h1>Unsubscribed</h1><p>You will receive no more status updates.</p>",
            ))
            .into_response(),
        )),
        _ => Ok(no_store(
            Json(json!({ "unsubscribed": true })).into_response(),
        )),
    }
}
