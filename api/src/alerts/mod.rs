//! Alerts for the tenant's team: what the incident engine (and incident and maintenance writes)
//! raise, and which channels each one goes to. Until routing rules narrow it, every enabled
//! channel of the tenant receives every alert.

use crate::notify::Message;
use crate::outbox::{self, Recipient};
use sqlx::PgConnection;
use uuid::Uuid;

/// One alert, before routing: what it is about decides which channels get it.
#[derive(Debug, Clone)]
pub struct Alert {
    pub message: Message,
    /// The monitors it is about (empty for incident and maintenance alerts not tied to one).
    pub monitor_ids: Vec<Uuid>,
    /// The components it is about.
    pub component_ids: Vec<Uuid>,
    pub incident_id: Option<Uuid>,
}

/// Routes `alert` to its channels and writes one outbox row per channel, inside the caller's
/// transaction. Returns how many rows were written.
pub async fn raise(conn: &mut PgConnection, alert: &Alert) -> Result<usize, sqlx::Error> {
    let channels: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM notification_channels WHERE tenant_id = $1 AND enabled ORDER BY id",
    )
    .bind(alert.message.tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    for (i, channel) in channels.iter().enumerate() {
        // One message id per recipient: receivers deduplicate by it.
        let mut message = alert.message.clone();
        if i > 0 {
            message.id = Uuid::new_v4();
        }
        outbox::enqueue(conn, &Recipient::Channel(*channel), &message).await?;
    }
    Ok(channels.len())
}
