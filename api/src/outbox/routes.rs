//! `/api/v1` handlers of the delivery log. Any token of the tenant reads a channel's log (it
//! holds no secret: errors name statuses and receivers' words, never configs); only `admin`
//! tokens send a parked message again, as only they manage channels. Another tenant's channel
//! or message is a 404.

use super::log::{self, Delivery, DeliveryFilter};
use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiPath, ApiQuery, ApiResult};
use crate::rest::responses::{AdminForbidden, Invalid, MalformedRequest, NeedsToken, NotFound};
use crate::rest::write::{self, Resource};
use crate::rest::{Page, PageQuery};
use crate::AppState;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

const DELIVERY: Resource = Resource::new("delivery", "outbox", "delivery").off_status_page();

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/notification-channels/{id}/deliveries",
            get(list_deliveries),
        )
        .route("/api/v1/deliveries/{id}/retry", post(retry_delivery))
}

/// `?limit=&cursor=&state=`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeliveryQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    pub state: Option<String>,
}

/// The channel's delivery log: its messages, newest first, each with its state, last error and
/// attempts.
#[utoipa::path(
    get,
    path = "/api/v1/notification-channels/{id}/deliveries",
    tag = "notification channels",
    params(("id" = uuid::Uuid, Path, description = "notification channel id"), PageQuery, DeliveryFilter),
    responses(
        MalformedRequest,
        (status = 200, description = "one page of the channel's messages, newest first", body = crate::rest::Page<Delivery>),
        NeedsToken, NotFound, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> ApiResult<Json<Page<Delivery>>> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let filter = DeliveryFilter { state: query.state };
    Ok(Json(
        log::list_for_channel(&state.db, who.tenant_id, id, &filter, &page).await?,
    ))
}

/// Sends a parked (or cancelled) message again: it is pending at once with a new series of
/// attempts, under its same id (receivers that got it before deduplicate it).
#[utoipa::path(
    post,
    path = "/api/v1/deliveries/{id}/retry",
    tag = "notification channels",
    params(("id" = uuid::Uuid, Path, description = "message (delivery) id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the message, pending again", body = Delivery),
        NeedsToken, AdminForbidden, NotFound,
        (status = 409, description = "the message is pending or delivered", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn retry_delivery(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Delivery>> {
    who.require_admin()?;
    let delivery = log::retry(&state.db, who.tenant_id, id).await?;
    write::record(
        &state,
        &who,
        &DELIVERY,
        "retry",
        Some(id),
        json!({ "event": delivery.event }),
    )
    .await?;
    Ok(Json(delivery))
}
