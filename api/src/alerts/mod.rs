//! Alerts for the tenant's team: what the incident engine (and incident and maintenance writes)
//! raise, and which channels each one goes to.
//!
//! Routing ([`rules`]): a channel that no alert rule names receives every alert of its tenant;
//! a channel that rules name receives the alerts its rules match (the oldest matching rule of
//! the channel decides throttle, repeat, grouping and escalation). Everything [`raise`] decides
//! is written inside the caller's transaction — outbox rows for what goes out now, pending rows
//! for what waits for its grouping window — so it commits or rolls back with the change that
//! caused it. The [`sweeper`] later turns due groups, repeats and escalations into outbox rows,
//! each in a transaction of its own, safely from several app servers.
//!
//! Problems: a down, degraded or regional-outage alert opens (or updates) the tenant's open
//! problem with its `dedup_key`; a recovery (or any alert with `resolved`) closes it and cancels
//! its repeats and escalation. Each problem alert carries a signed acknowledge link ([`ack`]);
//! acknowledging stops repeats and escalation too.

pub mod ack;
pub mod routes;
pub mod rules;
pub mod sweeper;

pub use routes::routes;
pub use sweeper::{run_sweeper, sweep};

use crate::notify::{EventKind, Message};
use crate::outbox::{self, Recipient};
use crate::rest::error::{ApiError, ApiResult};
use crate::rest::{Page, PageQuery};
use chrono::{DateTime, Duration, Utc};
use rules::AlertRule;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
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

/// Events that open (or keep open) a problem.
fn opens_problem(event: EventKind) -> bool {
    matches!(
        event,
        EventKind::Down | EventKind::Degraded | EventKind::RegionalOutage
    )
}

/// What the alert did to the tenant's open problem with its dedup key.
enum Episode {
    /// Not a problem alert (incident update, maintenance).
    None,
    Open {
        id: Uuid,
        acknowledged: bool,
    },
    /// A recovery closed it; the channels it was escalated to hear the recovery too.
    Closed {
        escalated_to: Vec<Uuid>,
    },
}

/// Routes `alert` to its channels inside the caller's transaction: outbox rows for what goes
/// out now, pending rows for channels whose rule groups alerts. Returns how many rows were
/// written (throttled channels get none).
pub async fn raise(conn: &mut PgConnection, alert: &Alert) -> Result<usize, sqlx::Error> {
    raise_at(conn, alert, Utc::now()).await
}

/// [`raise`] at `now` (tests move the clock).
pub async fn raise_at(
    conn: &mut PgConnection,
    alert: &Alert,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let tenant_id = alert.message.tenant_id;
    let event = alert.message.event;
    let channels: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM notification_channels WHERE tenant_id = $1 AND enabled ORDER BY id",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut message = alert.message.clone();
    if !rules::ROUTED_EVENTS.contains(&event) {
        // Nothing routes test sends or account mail; should one come here, every channel gets it.
        for (i, channel) in channels.iter().enumerate() {
            if i > 0 {
                message.id = Uuid::new_v4();
            }
            outbox::enqueue(conn, &Recipient::Channel(*channel), &message).await?;
        }
        return Ok(channels.len());
    }
    let episode = if message.resolved || event == EventKind::Recovery {
        close_problem(conn, tenant_id, &message.dedup_key, now).await?
    } else if opens_problem(event) {
        open_problem(conn, alert, &mut message, now).await?
    } else {
        Episode::None
    };
    let rules = rules::all(conn, tenant_id).await?;
    let mut written = 0;
    for channel in &channels {
        let mentioned = rules
            .iter()
            .any(|r| r.channel_id == *channel || r.escalate_channel_id == Some(*channel));
        let rule = rules.iter().find(|r| {
            r.channel_id == *channel && r.matches(event, &alert.component_ids, &alert.monitor_ids)
        });
        let escalated_here =
            matches!(&episode, Episode::Closed { escalated_to } if escalated_to.contains(channel));
        // A channel with rules takes what they match, and the recovery of a problem escalated
        // to it.
        if mentioned && rule.is_none() && !escalated_here {
            continue;
        }
        if deliver(conn, *channel, rule, &message, &episode, now, written == 0).await? {
            written += 1;
        }
    }
    Ok(written)
}

/// Opens the problem or updates the open one, and puts its acknowledge link into `message`.
async fn open_problem(
    conn: &mut PgConnection,
    alert: &Alert,
    message: &mut Message,
    now: DateTime<Utc>,
) -> Result<Episode, sqlx::Error> {
    let json = |m: &Message| serde_json::to_value(m).map_err(|e| sqlx::Error::Encode(Box::new(e)));
    let (id, acknowledged): (Uuid, bool) = sqlx::query_as(
        "INSERT INTO alert_problems (id, tenant_id, dedup_key, event, title, message, monitor_ids, \
         component_ids, incident_id, opened_at, last_raised_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (tenant_id, dedup_key) WHERE resolved_at IS NULL DO UPDATE SET \
         event = EXCLUDED.event, title = EXCLUDED.title, message = EXCLUDED.message, \
         monitor_ids = EXCLUDED.monitor_ids, component_ids = EXCLUDED.component_ids, \
         incident_id = coalesce(EXCLUDED.incident_id, alert_problems.incident_id), \
         last_raised_at = EXCLUDED.last_raised_at \
         RETURNING id, acknowledged_at IS NOT NULL",
    )
    .bind(Uuid::new_v4())
    .bind(message.tenant_id)
    .bind(&message.dedup_key)
    .bind(message.event.as_str())
    .bind(&message.title)
    .bind(json(message)?)
    .bind(&alert.monitor_ids)
    .bind(&alert.component_ids)
    .bind(alert.incident_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    if !acknowledged {
        with_ack_link(conn, message, id, now).await?;
    }
    Ok(Episode::Open { id, acknowledged })
}

/// Appends a fresh acknowledge link for `problem_id` to the message text (the stored problem
/// keeps its message without one, so every repeat carries a link that has not expired).
pub(crate) async fn with_ack_link(
    conn: &mut PgConnection,
    message: &mut Message,
    problem_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let token = ack::token(conn, message.tenant_id, problem_id, now).await?;
    message.text = format!(
        "{}\n\nAcknowledge (stops repeats and escalation): {}",
        message.text.trim_end(),
        ack::link(&token)
    );
    Ok(())
}

/// Closes the open problem with this key, if any, cancelling its repeats and escalation.
async fn close_problem(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    dedup_key: &str,
    now: DateTime<Utc>,
) -> Result<Episode, sqlx::Error> {
    let closed: Option<Uuid> = sqlx::query_scalar(
        "UPDATE alert_problems SET resolved_at = $3, last_raised_at = $3 \
         WHERE tenant_id = $1 AND dedup_key = $2 AND resolved_at IS NULL RETURNING id",
    )
    .bind(tenant_id)
    .bind(dedup_key)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = closed else {
        return Ok(Episode::Closed {
            escalated_to: Vec::new(),
        });
    };
    let escalated_to: Vec<Option<Uuid>> = sqlx::query_scalar(
        "UPDATE alert_routes SET next_repeat_at = NULL, escalate_at = NULL \
         WHERE problem_id = $1 RETURNING escalated_to",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Episode::Closed {
        escalated_to: escalated_to.into_iter().flatten().collect(),
    })
}

/// Sends (or queues for its group) `message` to `channel` as `rule` says; `false` when the
/// throttle holds it back. `first`: the first recipient keeps the message's own id.
async fn deliver(
    conn: &mut PgConnection,
    channel: Uuid,
    rule: Option<&AlertRule>,
    message: &Message,
    episode: &Episode,
    now: DateTime<Utc>,
    first: bool,
) -> Result<bool, sqlx::Error> {
    let problem = match episode {
        Episode::Open { id, acknowledged } => Some((*id, *acknowledged)),
        _ => None,
    };
    if let (Some(rule), Some((problem_id, _))) = (rule, problem) {
        if rule.throttle_secs > 0 {
            let last: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
                "SELECT last_sent_at FROM alert_routes WHERE problem_id = $1 AND channel_id = $2 \
                 FOR UPDATE",
            )
            .bind(problem_id)
            .bind(channel)
            .fetch_optional(&mut *conn)
            .await?;
            if last
                .flatten()
                .is_some_and(|at| at > now - Duration::seconds(rule.throttle_secs.into()))
            {
                return Ok(false);
            }
        }
    }
    let mut message = message.clone();
    if !first {
        message.id = Uuid::new_v4();
    }
    let group = rule
        .filter(|r| r.group_secs > 0)
        .map(|r| now + Duration::seconds(r.group_secs.into()));
    send_or_group(conn, channel, problem.map(|p| p.0), &message, group).await?;
    if let Some((problem_id, acknowledged)) = problem {
        let repeat = rule
            .and_then(|r| r.repeat_secs)
            .filter(|_| !acknowledged)
            .map(|s| now + Duration::seconds(s.into()));
        let escalate = rule
            .and_then(AlertRule::escalation)
            .filter(|_| !acknowledged)
            .map(|(after, _)| now + Duration::seconds(after.into()));
        sqlx::query(
            "INSERT INTO alert_routes (problem_id, channel_id, tenant_id, rule_id, last_sent_at, \
             sent_count, next_repeat_at, escalate_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7) \
             ON CONFLICT (problem_id, channel_id) DO UPDATE SET rule_id = EXCLUDED.rule_id, \
             last_sent_at = EXCLUDED.last_sent_at, sent_count = alert_routes.sent_count + 1, \
             next_repeat_at = EXCLUDED.next_repeat_at, \
             escalate_at = coalesce(alert_routes.escalate_at, EXCLUDED.escalate_at)",
        )
        .bind(problem_id)
        .bind(channel)
        .bind(message.tenant_id)
        .bind(rule.map(|r| r.id))
        .bind(now)
        .bind(repeat)
        .bind(escalate)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Writes `message` for `channel` to the outbox, or, when its rule groups, to the channel's
/// open group: the first alert of a window opens it (due at `group`), the ones after it join
/// until the sweeper sends it.
pub(crate) async fn send_or_group(
    conn: &mut PgConnection,
    channel: Uuid,
    problem_id: Option<Uuid>,
    message: &Message,
    group: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let Some(due) = group else {
        outbox::enqueue(conn, &Recipient::Channel(channel), message).await?;
        return Ok(());
    };
    let open: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT min(due_at) FROM alert_pending WHERE channel_id = $1")
            .bind(channel)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query(
        "INSERT INTO alert_pending (tenant_id, channel_id, problem_id, message, due_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(message.tenant_id)
    .bind(channel)
    .bind(problem_id)
    .bind(serde_json::to_value(message).map_err(|e| sqlx::Error::Encode(Box::new(e)))?)
    .bind(open.unwrap_or(due))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One problem as `GET /api/v1/alerts` shows it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
pub struct AlertProblem {
    pub id: Uuid,
    pub dedup_key: String,
    /// The last event raised for it (`down`, `degraded`, `regional_outage`).
    pub event: String,
    pub title: String,
    pub monitor_ids: Vec<Uuid>,
    pub component_ids: Vec<Uuid>,
    pub incident_id: Option<Uuid>,
    pub opened_at: DateTime<Utc>,
    pub last_raised_at: DateTime<Utc>,
    /// Set once a recovery closed it.
    pub resolved_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// `api_token:<id>` or `acknowledge_link`.
    pub acknowledged_by: Option<String>,
    /// What each channel has had of it.
    pub channels: Vec<AlertDelivery>,
}

/// One channel's share of a problem.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
pub struct AlertDelivery {
    pub channel_id: Uuid,
    /// The rule that routed it (none: the channel takes every alert).
    pub rule_id: Option<Uuid>,
    pub sent_count: i32,
    pub last_sent_at: Option<DateTime<Utc>>,
    pub next_repeat_at: Option<DateTime<Utc>>,
    pub escalate_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub escalated_to: Option<Uuid>,
}

type ProblemRow = (
    Uuid,
    String,
    String,
    String,
    Vec<Uuid>,
    Vec<Uuid>,
    Option<Uuid>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<String>,
);
const PROBLEM_COLUMNS: &str = "id, dedup_key, event, title, monitor_ids, component_ids, \
     incident_id, opened_at, last_raised_at, resolved_at, acknowledged_at, acknowledged_by";
type DeliveryRow = (
    Uuid,
    Uuid,
    Option<Uuid>,
    i32,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<Uuid>,
);

async fn with_deliveries(db: &PgPool, rows: Vec<ProblemRow>) -> ApiResult<Vec<AlertProblem>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let deliveries: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT problem_id, channel_id, rule_id, sent_count, last_sent_at, next_repeat_at, \
         escalate_at, escalated_at, escalated_to FROM alert_routes WHERE problem_id = ANY($1) \
         ORDER BY channel_id",
    )
    .bind(&ids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AlertProblem {
            channels: deliveries
                .iter()
                .filter(|d| d.0 == r.0)
                .map(|d| AlertDelivery {
                    channel_id: d.1,
                    rule_id: d.2,
                    sent_count: d.3,
                    last_sent_at: d.4,
                    next_repeat_at: d.5,
                    escalate_at: d.6,
                    escalated_at: d.7,
                    escalated_to: d.8,
                })
                .collect(),
            id: r.0,
            dedup_key: r.1,
            event: r.2,
            title: r.3,
            monitor_ids: r.4,
            component_ids: r.5,
            incident_id: r.6,
            opened_at: r.7,
            last_raised_at: r.8,
            resolved_at: r.9,
            acknowledged_at: r.10,
            acknowledged_by: r.11,
        })
        .collect())
}

/// One page of the tenant's problems, newest first; `open_only` leaves out resolved ones.
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    open_only: bool,
    page: &PageQuery,
) -> ApiResult<Page<AlertProblem>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let rows: Vec<ProblemRow> = sqlx::query_as(&format!(
        "SELECT {PROBLEM_COLUMNS} FROM alert_problems WHERE tenant_id = $1 \
         AND (NOT $2 OR resolved_at IS NULL) \
         AND ($3::timestamptz IS NULL OR (opened_at, id) < ($3, $4)) \
         ORDER BY opened_at DESC, id DESC LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(open_only)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let problems = with_deliveries(db, rows).await?;
    Ok(Page::from_rows(problems, limit, |p| (p.opened_at, p.id)))
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<AlertProblem> {
    let row: Option<ProblemRow> = sqlx::query_as(&format!(
        "SELECT {PROBLEM_COLUMNS} FROM alert_problems WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    let row = row.ok_or(ApiError::NotFound("alert"))?;
    Ok(with_deliveries(db, vec![row]).await?.remove(0))
}

/// Acknowledges the tenant's open problem: no more repeats, no escalation. `Ok(true)` when this
/// call acknowledged it, `Ok(false)` when it already was; 404 for another tenant's or an
/// unknown problem, 409 for a resolved one. On the caller's transaction, with its audit entry.
pub async fn acknowledge(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    problem_id: Uuid,
    by: &str,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    let state: Option<(bool, bool)> = sqlx::query_as(
        "SELECT resolved_at IS NOT NULL, acknowledged_at IS NOT NULL FROM alert_problems \
         WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(problem_id)
    .fetch_optional(&mut *conn)
    .await?;
    match state {
        None => Err(ApiError::NotFound("alert")),
        Some((_, true)) => Ok(false),
        Some((true, false)) => Err(ApiError::Conflict(
            "the problem is resolved already; there is nothing left to acknowledge".into(),
        )),
        Some((false, false)) => {
            sqlx::query(
                "UPDATE alert_problems SET acknowledged_at = $3, acknowledged_by = $4 \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(problem_id)
            .bind(now)
            .bind(by)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE alert_routes SET next_repeat_at = NULL, escalate_at = NULL \
                 WHERE problem_id = $1",
            )
            .bind(problem_id)
            .execute(&mut *conn)
            .await?;
            Ok(true)
        }
    }
}
