//! The alert sweeper: every app server runs one. Each pass sends the groups whose window has
//! closed (one message per channel listing its alerts), the repeats that are due, and the
//! escalations of problems nobody acknowledged in time, each kind in a transaction of its own
//! that writes the outbox rows and marks what it sent. Rows are claimed with
//! `FOR UPDATE SKIP LOCKED`, so several servers sweeping at once never send one thing twice.

use super::{send_or_group, with_ack_link};
use crate::notify::Message;
use crate::outbox::{self, Recipient};
use crate::AppState;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

/// How often each app server sweeps: grouping windows and intervals have seconds granularity.
pub const TICK: std::time::Duration = std::time::Duration::from_secs(1);
/// Rows one transaction takes at most; a pass that hit it goes on in the next one.
const BATCH: i64 = 500;
/// How long resolved problems stay listed in `GET /api/v1/alerts`.
const KEEP_RESOLVED_DAYS: i64 = 30;
/// Title length of a grouped message before it is cut.
const GROUP_TITLE_MAX: usize = 200;

/// What one pass sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Grouped messages written (one per channel whose window closed).
    pub groups: usize,
    pub repeats: usize,
    pub escalations: usize,
}

/// Sweeps every [`TICK`] until the task is aborted; errors are logged and the next tick tries
/// again (nothing is marked sent unless its outbox row committed with it).
pub async fn run_sweeper(state: AppState) {
    // Acknowledge links start where people reach the platform (`STATUSPAGE_PUBLIC_URL`).
    super::ack::set_link_base(&state.platform_url);
    // Make the acknowledge key now if it was deleted, rather than inside an alert transaction.
    if let Err(e) = async { super::ack::key(&mut *state.db.acquire().await?).await }.await {
        tracing::warn!(error = %e, "reading the alert acknowledge key");
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sweep(&state.db, Utc::now()).await {
            Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "alert sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "alert sweep failed; retrying next tick"),
        }
    }
}

/// One pass at `now`: groups, repeats, escalations, then the cleanup of old resolved problems.
pub async fn sweep(db: &PgPool, now: DateTime<Utc>) -> Result<Swept, sqlx::Error> {
    let mut swept = Swept {
        groups: flush_groups(db, now).await?,
        repeats: send_repeats(db, now).await?,
        escalations: escalate(db, now).await?,
    };
    // Reminders and escalations of grouping rules joined a group due now: send it now.
    swept.groups += flush_groups(db, now).await?;
    sqlx::query(
        "DELETE FROM alert_problems WHERE id IN (SELECT id FROM alert_problems \
         WHERE resolved_at < $1 LIMIT $2)",
    )
    .bind(now - Duration::days(KEEP_RESOLVED_DAYS))
    .bind(BATCH)
    .execute(db)
    .await?;
    Ok(swept)
}

fn decode(value: Value) -> Result<Message, sqlx::Error> {
    serde_json::from_value(value).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Sends every channel's pending alerts whose window closed as one message.
async fn flush_groups(db: &PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    // One sweeper per channel at a time (held to commit): row locks alone let two sweepers
    // each take part of one channel's window and send it as two messages.
    let channels: Vec<Uuid> = sqlx::query_scalar(
        "SELECT channel_id FROM (SELECT DISTINCT channel_id FROM alert_pending WHERE due_at <= $1 \
         LIMIT $2) due WHERE pg_try_advisory_xact_lock(hashtextextended('alert_pending:' || channel_id::text, 0))",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if channels.is_empty() {
        return Ok(0);
    }
    let rows: Vec<(i64, Uuid, bool, Value)> = sqlx::query_as(
        "SELECT p.id, p.channel_id, c.enabled, p.message FROM alert_pending p \
         JOIN notification_channels c ON c.id = p.channel_id \
         WHERE p.channel_id = ANY($1) \
         ORDER BY p.channel_id, p.id LIMIT $2 FOR UPDATE OF p SKIP LOCKED",
    )
    .bind(&channels)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let mut by_channel: BTreeMap<Uuid, (bool, Vec<Message>)> = BTreeMap::new();
    for (_, channel, enabled, message) in rows {
        let entry = by_channel.entry(channel).or_insert((enabled, Vec::new()));
        entry.1.push(decode(message)?);
    }
    let mut sent = 0;
    for (channel, (enabled, messages)) in by_channel {
        // A channel switched off meanwhile drops what waited for it.
        if enabled {
            outbox::enqueue(
                &mut tx,
                &Recipient::Channel(channel),
                &combine(messages, now),
            )
            .await?;
            sent += 1;
        }
    }
    sqlx::query("DELETE FROM alert_pending WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(sent)
}

/// One message for the alerts of a window: the single one as it is, several as a list.
pub fn combine(mut messages: Vec<Message>, now: DateTime<Utc>) -> Message {
    if messages.len() == 1 {
        return messages.remove(0);
    }
    let first = &messages[0];
    let same = |f: &dyn Fn(&Message) -> &str| messages.iter().all(|m| f(m) == f(first));
    let id = Uuid::new_v4();
    let mut title = format!(
        "{} alerts: {}",
        messages.len(),
        messages
            .iter()
            .map(|m| m.title.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    if title.chars().count() > GROUP_TITLE_MAX {
        title = title.chars().take(GROUP_TITLE_MAX - 1).collect::<String>() + "…";
    }
    Message {
        id,
        tenant_id: first.tenant_id,
        event: first.event,
        title,
        text: messages
            .iter()
            .map(|m| format!("• {}\n{}", m.title, m.text.trim()))
            .collect::<Vec<_>>()
            .join("\n\n"),
        url: if same(&|m| m.url.as_deref().unwrap_or("")) {
            first.url.clone()
        } else {
            None
        },
        dedup_key: if same(&|m| m.dedup_key.as_str()) {
            first.dedup_key.clone()
        } else {
            format!("group-{id}")
        },
        resolved: messages.iter().all(|m| m.resolved),
        created_at: now,
        unsubscribe_url: None,
    }
}

/// Sends again what is due: open, unacknowledged problems on routes whose rule repeats.
async fn send_repeats(db: &PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    type Due = (Uuid, Uuid, bool, Value, Option<i32>, Option<i32>, bool);
    let due: Vec<Due> = sqlx::query_as(
        "SELECT r.problem_id, r.channel_id, c.enabled, p.message, ru.repeat_secs, ru.group_secs, \
         p.resolved_at IS NULL AND p.acknowledged_at IS NULL \
         FROM alert_routes r JOIN alert_problems p ON p.id = r.problem_id \
         JOIN notification_channels c ON c.id = r.channel_id \
         LEFT JOIN alert_rules ru ON ru.id = r.rule_id \
         WHERE r.next_repeat_at <= $1 ORDER BY r.next_repeat_at LIMIT $2 \
         FOR UPDATE OF r SKIP LOCKED",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut sent = 0;
    for (problem_id, channel, enabled, message, repeat_secs, group_secs, open) in due {
        let next = repeat_secs
            .filter(|_| enabled && open)
            .map(|s| now + Duration::seconds(s.into()));
        if next.is_some() {
            let mut message = decode(message)?;
            message.id = Uuid::new_v4();
            message.created_at = now;
            message.title = format!("Reminder: {}", message.title);
            with_ack_link(&mut tx, &mut message, problem_id, now).await?;
            // A grouping rule's reminders go out together, in this pass.
            let group = group_secs.filter(|g| *g > 0).map(|_| now);
            send_or_group(&mut tx, channel, Some(problem_id), &message, group).await?;
            sent += 1;
        }
        // A rule deleted or changed to not repeat, a channel switched off: no more repeats.
        sqlx::query(
            "UPDATE alert_routes SET next_repeat_at = $3, \
             last_sent_at = CASE WHEN $3 IS NULL THEN last_sent_at ELSE $4 END, \
             sent_count = sent_count + CASE WHEN $3 IS NULL THEN 0 ELSE 1 END \
             WHERE problem_id = $1 AND channel_id = $2",
        )
        .bind(problem_id)
        .bind(channel)
        .bind(next)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(sent)
}

/// Escalates problems nobody acknowledged in time to their rule's escalation channel, once per
/// problem and target channel.
async fn escalate(db: &PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    type Due = (
        Uuid,
        Uuid,
        Value,
        bool,
        Option<i32>,
        Option<i32>,
        Option<Uuid>,
        Option<bool>,
    );
    let mut tx = db.begin().await?;
    let due: Vec<Due> = sqlx::query_as(
        "SELECT r.problem_id, r.channel_id, p.message, \
         p.resolved_at IS NULL AND p.acknowledged_at IS NULL, \
         ru.escalate_after_secs, ru.group_secs, ec.id, ec.enabled \
         FROM alert_routes r JOIN alert_problems p ON p.id = r.problem_id \
         LEFT JOIN alert_rules ru ON ru.id = r.rule_id \
         LEFT JOIN notification_channels ec ON ec.id = ru.escalate_channel_id \
              AND ec.tenant_id = p.tenant_id \
         WHERE r.escalate_at <= $1 AND r.escalated_at IS NULL \
         ORDER BY r.escalate_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut sent = 0;
    for (problem_id, channel, message, open, after, group_secs, target, enabled) in due {
        let target = target.filter(|_| open && enabled == Some(true));
        let Some(target) = target else {
            // Acknowledged, resolved, or no escalation any more: cancel it.
            sqlx::query(
                "UPDATE alert_routes SET escalate_at = NULL WHERE problem_id = $1 AND channel_id = $2",
            )
            .bind(problem_id)
            .bind(channel)
            .execute(&mut *tx)
            .await?;
            continue;
        };
        let already: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM alert_routes WHERE problem_id = $1 AND escalated_to = $2)",
        )
        .bind(problem_id)
        .bind(target)
        .fetch_one(&mut *tx)
        .await?;
        if !already {
            let mut message = decode(message)?;
            message.id = Uuid::new_v4();
            message.created_at = now;
            let minutes = (after.unwrap_or_default() + 59) / 60;
            message.title = format!(
                "Escalated: {} (not acknowledged within {minutes} min)",
                message.title
            );
            with_ack_link(&mut tx, &mut message, problem_id, now).await?;
            // A grouping rule's escalations reach the target together, in this pass.
            let group = group_secs.filter(|g| *g > 0).map(|_| now);
            send_or_group(&mut tx, target, Some(problem_id), &message, group).await?;
            sent += 1;
        }
        sqlx::query(
            "UPDATE alert_routes SET escalated_at = $3, escalated_to = $4 \
             WHERE problem_id = $1 AND channel_id = $2",
        )
        .bind(problem_id)
        .bind(channel)
        .bind(now)
        .bind(target)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::EventKind;

    fn message(title: &str, key: &str) -> Message {
        Message {
            id: Uuid::new_v4(),
            tenant_id: Uuid::nil(),
            event: EventKind::Down,
            title: title.into(),
            text: format!("{title} fails"),
            url: None,
            dedup_key: key.into(),
            resolved: false,
            created_at: Utc::now(),
            unsubscribe_url: None,
        }
    }

    #[test]
    fn groups_list_their_alerts_in_one_message() {
        let one = message("API is down", "a");
        assert_eq!(combine(vec![one.clone()], Utc::now()).id, one.id);
        let group = combine(
            vec![message("API is down", "a"), message("Web is down", "b")],
            Utc::now(),
        );
        assert_eq!(group.title, "2 alerts: API is down; Web is down");
        assert!(group.text.contains("• API is down\nAPI is down fails"));
        assert!(group.text.contains("• Web is down"));
        assert!(group.dedup_key.starts_with("group-"));
        let long = combine(
            (0..50)
                .map(|i| message(&format!("monitor {i} is down"), "k"))
                .collect(),
            Utc::now(),
        );
        assert_eq!(long.title.chars().count(), GROUP_TITLE_MAX);
        assert_eq!(long.dedup_key, "k");
    }
}
