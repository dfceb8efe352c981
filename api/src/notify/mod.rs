//! Delivering alerts to a tenant's notification channels: one message, rendered per channel kind
//! (email, signed webhook, Slack, Microsoft Teams, Discord, PagerDuty, Opsgenie), sent through the
//! same SSRF guard and address pinning the checkers use. Today: the test send of a channel; the
//! incident engine and the outbox will hand their messages to the same senders.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// What an alert is about; receivers and routing rules tell them apart by it.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Down,
    Degraded,
    RegionalOutage,
    Recovery,
    IncidentUpdate,
    Maintenance,
    /// A channel's test send.
    Test,
    /// Mail about a person's account or subscription (verification, invitation, password
    /// reset, subscription confirmation): never routed, sent to one address.
    Account,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Down => "down",
            EventKind::Degraded => "degraded",
            EventKind::RegionalOutage => "regional_outage",
            EventKind::Recovery => "recovery",
            EventKind::IncidentUpdate => "incident_update",
            EventKind::Maintenance => "maintenance",
            EventKind::Test => "test",
            EventKind::Account => "account",
        }
    }
}

/// One alert, the same for every channel; each sender renders it in its service's shape. Stored
/// as JSON in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// Unique per message: the id receivers deduplicate by (webhook-id, Message-ID, ...).
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event: EventKind,
    /// One line, e.g. "Checkout API is down".
    pub title: String,
    /// Plain text, a few lines.
    pub text: String,
    /// Where to read more (the status page or incident), when there is such a page.
    pub url: Option<String>,
    /// Groups the messages of one problem (PagerDuty `dedup_key`, Opsgenie `alias`).
    pub dedup_key: String,
    /// The problem is over (PagerDuty `resolve`, Opsgenie close).
    pub resolved: bool,
    pub created_at: DateTime<Utc>,
    /// One-click unsubscribe URL (RFC 8058) for mail to page subscribers; `None` elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Accepted by the receiver (HTTP 2xx, SMTP 250).
    Delivered { status: u16 },
    /// Worth trying again (timeouts, 429, 5xx, connection failures); `after` from `Retry-After`.
    Retry {
        error: String,
        #[serde(skip)]
        after: Option<Duration>,
    },
    /// Trying again will not help (4xx other than 408/429, refused address, bad config).
    Failed { error: String },
}

pub mod discord;
pub mod email;
pub mod http;
pub mod opsgenie;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;
