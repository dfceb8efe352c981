//! The transactional outbox: messages are written in the same transaction as the state change
//! that causes them, and sent later by workers in any app server, so nothing committed is lost
//! on a crash and nothing is sent for a change that rolled back.

use crate::notify::Message;
use sqlx::PgConnection;
use uuid::Uuid;

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
