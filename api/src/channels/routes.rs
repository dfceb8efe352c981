//! `/api/v1` handlers for notification channels. Only `admin` tokens create, change or delete
//! them; other tokens read their configs masked ([`super::Channel::masked`]). Creates take
//! `Idempotency-Key`, channels carry an `ETag` and honour `If-Match`, writes are audited (never
//! with the config: a webhook's may hold its secret), another tenant's channel is a 404.

use super::{Channel, ChannelInput, ChannelPatch};
use crate::accounts::auth::ApiTenant;
use crate::notify::{EventKind, Message, Outcome};
use crate::rest::error::{ApiPath, ApiQuery, ApiResult};
use crate::rest::input::ApiJson;
use crate::rest::responses::{
    AdminForbidden, Invalid, Malformed, MalformedRequest, NeedsToken, NotFound, StaleVersion,
};
use crate::rest::write::{self, row, Resource};
use crate::rest::{CreateRequest, IfMatch, Page, PageQuery, Tagged};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// Channels are not on the status page: writes leave the snapshot as it is.
const CHANNEL: Resource = Resource::new(
    "notification_channel",
    "notification_channels",
    "notification channel",
)
.off_status_page();

row!(Channel);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/notification-channels",
            post(create_channel).get(list_channels),
        )
        .route(
            "/api/v1/notification-channels/{id}",
            get(get_channel).patch(patch_channel).delete(delete_channel),
        )
        .route(
            "/api/v1/notification-channels/{id}/test",
            post(test_channel),
        )
}

#[utoipa::path(
    post,
    path = "/api/v1/notification-channels",
    tag = "notification channels",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = ChannelInput,
    responses(
        (status = 201, description = "created (ETag header)", body = Channel),
        Malformed, NeedsToken, AdminForbidden, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn create_channel(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<ChannelInput>,
) -> ApiResult<Response> {
    who.require_admin()?;
    let insert = super::create(
        &state.db,
        who.tenant_id,
        &state.delivery_guard,
        &request.input,
    );
    write::create(
        &state,
        &who,
        &CHANNEL,
        &request,
        insert,
        |c| json!({ "name": c.name, "kind": c.kind }),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/notification-channels",
    tag = "notification channels",
    params(PageQuery),
    responses(
        MalformedRequest,
        (status = 200, description = "one page, newest first", body = crate::rest::Page<Channel>),
        NeedsToken, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn list_channels(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Channel>>> {
    let mut page = super::list(&state.db, who.tenant_id, &page).await?;
    if !who.sees_secrets() {
        page.items = page.items.into_iter().map(Channel::masked).collect();
    }
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/api/v1/notification-channels/{id}",
    tag = "notification channels",
    params(("id" = uuid::Uuid, Path, description = "notification channel id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the notification channel (ETag header)", body = Channel),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn get_channel(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<Channel>> {
    let mut channel = super::get(&state.db, who.tenant_id, id).await?;
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
    request_body = ChannelPatch,
    responses(
        (status = 200, description = "the updated notification channel (ETag header)", body = Channel),
        Malformed, NeedsToken, AdminForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn patch_channel(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<ChannelPatch>,
) -> ApiResult<Tagged<Channel>> {
    who.require_admin()?;
    let changed: Vec<&str> = [
        ("name", patch.name.is_some()),
        ("config", patch.config.is_some()),
        ("enabled", patch.enabled.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, present)| present.then_some(field))
    .collect();
    let change = super::patch(
        &state.db,
        who.tenant_id,
        &state.delivery_guard,
        id,
        if_match.0,
        &patch,
    );
    write::update(
        &state,
        &who,
        &CHANNEL,
        id,
        if_match,
        change,
        |c| json!({ "name": c.name, "changed": changed }),
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/v1/notification-channels/{id}",
    tag = "notification channels",
    params(("id" = uuid::Uuid, Path, description = "notification channel id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    responses(
        MalformedRequest,
        (status = 204, description = "deleted"),
        NeedsToken, AdminForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn delete_channel(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    who.require_admin()?;
    let remove = super::delete(&state.db, who.tenant_id, id, if_match.0);
    write::delete(&state, &who, &CHANNEL, id, if_match, remove).await
}

/// What a test send came to. Not reaching the receiver is an answer too (200), not an error.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct TestSend {
    /// `delivered`, `retry` (a later attempt may succeed: timeouts, 429, 5xx) or `failed`.
    pub outcome: &'static str,
    /// The receiver's HTTP status (SMTP 250 for email), when delivered.
    pub status: Option<u16>,
    /// Why it was not delivered.
    pub error: Option<String>,
    /// The receiver's `Retry-After`, in seconds.
    pub retry_after_secs: Option<u64>,
    /// The test message's id (`webhook-id`, `Message-ID`, ...): receivers deduplicate by it.
    pub message_id: Uuid,
}

impl TestSend {
    fn new(outcome: Outcome, message_id: Uuid) -> Self {
        let (outcome, status, error, after) = match outcome {
            Outcome::Delivered { status } => ("delivered", Some(status), None, None),
            Outcome::Retry { error, after } => ("retry", None, Some(error), after),
            Outcome::Failed { error } => ("failed", None, Some(error), None),
        };
        Self {
            outcome,
            status,
            error,
            retry_after_secs: after.map(|a| a.as_secs()),
            message_id,
        }
    }
}

/// Sends a test message to the channel once, now (also when the channel is disabled, so it can
/// be tried before it is switched on), and says what the receiver answered.
#[utoipa::path(
    post,
    path = "/api/v1/notification-channels/{id}/test",
    tag = "notification channels",
    params(("id" = uuid::Uuid, Path, description = "notification channel id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the test message was sent (or could not be): what came of it", body = TestSend),
        NeedsToken, AdminForbidden, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn test_channel(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TestSend>> {
    who.require_admin()?;
    let (channel, config) = super::stored(&state.db, who.tenant_id, id).await?;
    let message = Message {
        id: Uuid::new_v4(),
        tenant_id: who.tenant_id,
        event: EventKind::Test,
        title: format!("Test alert for channel {:?}", channel.name),
        text: "This is a test message from your status page. If you can read it, alerts reach \
               this channel."
            .into(),
        url: None,
        dedup_key: format!("statuspage-test-{}", channel.id),
        resolved: false,
        created_at: Utc::now(),
        unsubscribe_url: None,
    };
    let outcome = super::send::send(&state, channel.kind, &config, &message).await;
    tracing::info!(channel = %channel.id, kind = ?channel.kind, ?outcome, "channel test send");
    Ok(Json(TestSend::new(outcome, message.id)))
}
