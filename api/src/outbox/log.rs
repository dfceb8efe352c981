//! The delivery log: each outbox message of a channel with what became of it and its
//! attempts, and sending a parked message again. Every query is scoped by tenant.

use super::WAKE_CHANNEL;
use crate::rest::error::{ApiError, ApiResult};
use crate::rest::{parse_stored, Page, PageQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// The attempts shown per message (the newest); a message has at most
/// `STATUSPAGE_DELIVERY_MAX_ATTEMPTS` per series anyway.
pub const ATTEMPTS_SHOWN: i64 = 50;

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt (or being sent now).
    Pending,
    Delivered,
    /// Given up: a permanent failure, or every attempt failed. `POST /api/v1/deliveries/{id}/retry`
    /// sends it again.
    Parked,
    /// Not sent: the channel was disabled or deleted, or the subscriber unconfirmed.
    Cancelled,
}

/// `?state=` on the delivery log.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
pub struct DeliveryFilter {
    /// Only messages in this state: `pending`, `delivered`, `parked` or `cancelled`.
    pub state: Option<String>,
}

/// One attempt at sending a message.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt; a manual retry starts a new series at 1.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// `delivered`, `retry` (tried again later), `failed` (permanent: parked) or `parked`
    /// (the last attempt failed).
    pub outcome: String,
    /// The receiver's HTTP status (SMTP reply code for email), when it answered.
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// One message to a channel and what became of it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    /// The message id: receivers deduplicate by it (`webhook-id`, `Message-ID`, ...).
    pub id: Uuid,
    /// The event kind, e.g. `down`, `recovery`, `incident_update`.
    pub event: String,
    pub title: String,
    pub state: DeliveryState,
    /// Attempts made in the current series.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When a pending message is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Its attempts, oldest first (at most the newest 50).
    pub attempt_log: Vec<DeliveryAttempt>,
}

type DeliveryRow = (
    Uuid,
    String,
    Option<String>,
    String,
    i32,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);
const COLUMNS: &str = "id, event, message->>'title', state, attempts, last_error, created_at, \
                       next_attempt_at, delivered_at";

fn from_row(
    (id, event, title, state, attempts, last_error, created_at, next, delivered_at): DeliveryRow,
) -> ApiResult<Delivery> {
    let state: DeliveryState = parse_stored("state", &state)?;
    Ok(Delivery {
        id,
        event,
        title: title.unwrap_or_default(),
        state,
        attempts,
        last_error,
        created_at,
        next_attempt_at: (state == DeliveryState::Pending).then_some(next),
        delivered_at,
        attempt_log: Vec::new(),
    })
}

type AttemptRow = (
    Uuid,
    i32,
    DateTime<Utc>,
    String,
    Option<i32>,
    Option<String>,
    i32,
);

/// Fills in each delivery's attempts.
async fn with_attempts(
    db: &PgPool,
    tenant_id: Uuid,
    mut deliveries: Vec<Delivery>,
) -> ApiResult<Vec<Delivery>> {
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let rows: Vec<AttemptRow> = sqlx::query_as(
        "SELECT outbox_id, attempt, at, outcome, status_code, error, duration_ms FROM ( \
             SELECT *, row_number() OVER (PARTITION BY outbox_id ORDER BY id DESC) AS newest \
             FROM delivery_attempts WHERE tenant_id = $1 AND outbox_id = ANY($2)) a \
         WHERE newest <= $3 ORDER BY outbox_id, id",
    )
    .bind(tenant_id)
    .bind(&ids)
    .bind(ATTEMPTS_SHOWN)
    .fetch_all(db)
    .await?;
    let mut by_id: std::collections::HashMap<Uuid, Vec<DeliveryAttempt>> = Default::default();
    for (outbox_id, attempt, at, outcome, status_code, error, duration_ms) in rows {
        by_id.entry(outbox_id).or_default().push(DeliveryAttempt {
            attempt,
            at,
            outcome,
            status_code,
            error,
            duration_ms,
        });
    }
    for delivery in &mut deliveries {
        delivery.attempt_log = by_id.remove(&delivery.id).unwrap_or_default();
    }
    Ok(deliveries)
}

/// One page of a channel's messages, newest first. The channel must be the tenant's (404).
pub async fn list_for_channel(
    db: &PgPool,
    tenant_id: Uuid,
    channel_id: Uuid,
    filter: &DeliveryFilter,
    page: &PageQuery,
) -> ApiResult<Page<Delivery>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let state = match filter.state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s @ ("pending" | "delivered" | "parked" | "cancelled")) => Some(s.to_owned()),
        Some(other) => {
            return Err(ApiError::field(
                "state",
                format!("must be pending, delivered, parked or cancelled, got {other:?}"),
            ))
        }
    };
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM notification_channels WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(channel_id)
            .fetch_optional(db)
            .await?;
    if exists.is_none() {
        return Err(ApiError::NotFound("notification channel"));
    }
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE tenant_id = $1 AND channel_id = $2 \
         AND ($3::text IS NULL OR state = $3) \
         AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5)) \
         ORDER BY created_at DESC, id DESC LIMIT $6"
    ))
    .bind(tenant_id)
    .bind(channel_id)
    .bind(state)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let deliveries = rows
        .into_iter()
        .map(from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    let mut page = Page::from_rows(deliveries, limit, |d| (d.created_at, d.id));
    page.items = with_attempts(db, tenant_id, page.items).await?;
    Ok(page)
}

/// One message of the tenant's, with its attempts.
pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<Delivery> {
    let row: Option<DeliveryRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    let delivery = from_row(row.ok_or(ApiError::NotFound("delivery"))?)?;
    Ok(with_attempts(db, tenant_id, vec![delivery])
        .await?
        .remove(0))
}

/// Makes a parked (or cancelled) message pending again, due now, with a new series of
/// attempts, and wakes the workers. 409 for a message that is pending or delivered.
pub async fn retry(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<Delivery> {
    let mut tx = db.begin().await?;
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM outbox WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match state.as_deref() {
        None => return Err(ApiError::NotFound("delivery")),
        Some("parked" | "cancelled") => {}
        Some(other) => {
            return Err(ApiError::Conflict(format!(
                "only a parked or cancelled message can be sent again; this one is {other}"
            )))
        }
    }
    sqlx::query(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = now(), \
         claimed_until = NULL WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WAKE_CHANNEL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    get(db, tenant_id, id).await
}
