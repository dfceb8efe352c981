//! The transactional outbox: messages are written in the same transaction as the state change
//! that causes them, and sent later by workers in any app server, so nothing committed is lost
//! on a crash and nothing is sent for a change that rolled back.
//!
//! Inserting rows `NOTIFY`s [`WAKE_CHANNEL`] (a trigger, migration 0013), which PostgreSQL
//! delivers at the caller's commit and never for a rollback, so idle workers
//! ([`worker::run_workers`]) wake within milliseconds; they also poll, for a notification lost
//! while a listener reconnected. [`log`] reads the delivery log and re-sends parked messages.

pub mod deliver;
pub mod log;
pub mod routes;
pub mod worker;

pub use routes::routes;
pub use worker::{run_workers, DeliveryConfig};

use crate::notify::Message;
use sqlx::PgConnection;
use uuid::Uuid;

/// The `LISTEN`/`NOTIFY` channel that says "new outbox rows are due".
pub const WAKE_CHANNEL: &str = "statuspage_outbox";

/// Who an outbox row is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// One of the tenant's notification channels.
    Channel(Uuid),
    /// A status-page subscriber (email, webhook or Slack).
    Subscriber(Uuid),
    /// One email address: account mail (verification, invitation, password reset) and
    /// subscription confirmations.
    Address(String),
}

/// Writes `message` for `recipient` into the outbox inside the caller's transaction; the row's
/// id is `message.id`. Mail about an account that belongs to no tenant yet (a password reset)
/// carries the nil tenant id. Returns the message id.
pub async fn enqueue(
    conn: &mut PgConnection,
    recipient: &Recipient,
    message: &Message,
) -> Result<Uuid, sqlx::Error> {
    let (channel, subscriber, address) = match recipient {
        Recipient::Channel(id) => (Some(*id), None, None),
        Recipient::Subscriber(id) => (None, Some(*id), None),
        Recipient::Address(a) => (None, None, Some(a.as_str())),
    };
    let json = serde_json::to_value(message).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    // The insert's trigger (migration 0013) wakes the workers when the caller commits.
    sqlx::query(
        "INSERT INTO outbox (id, tenant_id, channel_id, subscriber_id, address, event, message) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(message.id)
    .bind((!message.tenant_id.is_nil()).then_some(message.tenant_id))
    .bind(channel)
    .bind(subscriber)
    .bind(address)
    .bind(message.event.as_str())
    .bind(json)
    .execute(conn)
    .await?;
    Ok(message.id)
}
