//! What page subscribers are told: incident created / updated / resolved and maintenance
//! scheduled / updated / started / ended / cancelled, written to the outbox in the caller's
//! transaction, one message per confirmed subscriber that follows an affected component (a
//! subscriber following none follows all; a change affecting none reaches every subscriber).
//! Each message carries its subscriber's one-click unsubscribe link
//! ([`Message::unsubscribe_url`]) and preferences link; the team's channels get the same change as
//! one alert ([`crate::alerts::raise`]).
//!
//! Maintenance starts and ends by the clock are announced by [`run_maintenance_announcer`]: it
//! stamps `start_announced_at` / `end_announced_at` in the transaction that writes the
//! announcement, with `FOR UPDATE SKIP LOCKED`, so several app servers announce each once.

use super::links;
use crate::alerts::{self, Alert};
use crate::notify::{EventKind, Message};
use crate::AppState;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentChange {
    Created,
    Updated,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceChange {
    Scheduled,
    /// Edited (time, text, components) before it ended.
    Updated,
    Started,
    Ended,
    /// Deleted before it ended.
    Cancelled,
}

/// The tenant's page, as links and messages name it.
async fn page_of(
    conn: &mut PgConnection,
    tenant_id: Uuid,
) -> Result<(String, String), sqlx::Error> {
    sqlx::query_as(
        "SELECT t.slug, coalesce(nullif(p.title, ''), t.name) FROM tenants t \
         LEFT JOIN status_pages p ON p.tenant_id = t.id WHERE t.id = $1",
    )
    .bind(tenant_id)
    .fetch_one(conn)
    .await
}

/// Component ids and names, by name.
async fn components_named(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT name FROM components WHERE tenant_id = $1 AND id = ANY($2) ORDER BY name, id",
    )
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(conn)
    .await
}

fn affected_line(names: &[String]) -> String {
    if names.is_empty() {
        "Affected: all services".into()
    } else {
        format!("Affected: {}", names.join(", "))
    }
}

/// Writes one copy of `base` per confirmed subscriber following any of `component_ids` (all of
/// them when empty), each with its own message id, unsubscribe link and preferences link; then,
/// when `team`, raises the team's alert. One statement for all subscribers (a tenant may have thousands),
/// rows shaped exactly as [`crate::outbox::enqueue`] writes them. Returns the rows written.
async fn tell(
    conn: &mut PgConnection,
    slug: &str,
    base: Message,
    component_ids: Vec<Uuid>,
    incident_id: Option<Uuid>,
    team: bool,
) -> Result<usize, sqlx::Error> {
    let tenant_id = base.tenant_id;
    let subscribers: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM subscribers WHERE tenant_id = $1 AND confirmed_at IS NOT NULL \
         AND (cardinality($2::uuid[]) = 0 OR component_ids = '{}' OR component_ids && $2) \
         ORDER BY id",
    )
    .bind(tenant_id)
    .bind(&component_ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut written = 0;
    if !subscribers.is_empty() {
        let key = links::link_key(conn).await?;
        let ids: Vec<Uuid> = subscribers.iter().map(|_| Uuid::new_v4()).collect();
        let unsubscribe: Vec<String> = subscribers
            .iter()
            .map(|s| links::unsubscribe_url(slug, &key, *s))
            .collect();
        let texts: Vec<String> = subscribers
            .iter()
            .map(|s| {
                format!(
                    "{}\n\nManage your subscription or unsubscribe: {}",
                    base.text.trim_end(),
                    links::manage_url(slug, &key, *s)
                )
            })
            .collect();
        let json = serde_json::to_value(&base).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        written = sqlx::query(
            "INSERT INTO outbox (id, tenant_id, subscriber_id, event, message) \
             SELECT m, $1, s, $2, $3::jsonb || jsonb_build_object('id', m, 'unsubscribe_url', u, 'text', t) \
             FROM unnest($4::uuid[], $5::uuid[], $6::text[], $7::text[]) AS x(s, m, u, t)",
        )
        .bind(tenant_id)
        .bind(base.event.as_str())
        .bind(json)
        .bind(&subscribers)
        .bind(&ids)
        .bind(&unsubscribe)
        .bind(&texts)
        .execute(&mut *conn)
        .await?
        .rows_affected() as usize;
    }
    if !team {
        return Ok(written);
    }
    let alert = Alert {
        message: Message {
            id: Uuid::new_v4(),
            ..base
        },
        monitor_ids: Vec::new(),
        component_ids,
        incident_id,
    };
    Ok(written + alerts::raise(conn, &alert).await?)
}

fn label(stored: &str) -> String {
    let mut s = stored.replace('_', " ");
    if let Some(first) = s.get(0..1) {
        s.replace_range(0..1, &first.to_ascii_uppercase());
    }
    s
}

/// Tells the incident's subscribers (and raises the team's incident-update alert) about a
/// published incident's change. Drafts (`published_at IS NULL`) tell nobody. The team hears of
/// an incident the engine opened through the engine's own down / regional outage / recovery
/// alerts, not a second time here. Returns the outbox rows written.
pub async fn incident_changed(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    incident_id: Uuid,
    change: IncidentChange,
) -> Result<usize, sqlx::Error> {
    let row: Option<(String, String, String, bool, bool)> = sqlx::query_as(
        "SELECT title, status, impact, published_at IS NULL, source = 'engine' FROM incidents \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(incident_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((title, status, impact, draft, by_engine)) = row else {
        return Ok(0);
    };
    if draft {
        return Ok(0);
    }
    let (slug, page) = page_of(conn, tenant_id).await?;
    let component_ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT component_id FROM incident_components WHERE tenant_id = $1 AND incident_id = $2",
    )
    .bind(tenant_id)
    .bind(incident_id)
    .fetch_all(&mut *conn)
    .await?;
    let names = components_named(conn, tenant_id, &component_ids).await?;
    let latest: Option<String> = sqlx::query_scalar(
        "SELECT message FROM incident_updates WHERE tenant_id = $1 AND incident_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(incident_id)
    .fetch_optional(&mut *conn)
    .await?;
    let what = match change {
        IncidentChange::Created => "New incident",
        IncidentChange::Updated => "Incident updated",
        IncidentChange::Resolved => "Incident resolved",
    };
    let text = format!(
        "{page}: {what}: {title}\nStatus: {} · Impact: {impact}\n{}\n\n{}",
        label(&status),
        affected_line(&names),
        latest.unwrap_or_default()
    );
    let base = Message {
        id: Uuid::new_v4(),
        tenant_id,
        event: EventKind::IncidentUpdate,
        title: match change {
            IncidentChange::Resolved => format!("Resolved: {title}"),
            _ => title,
        },
        text,
        url: Some(format!("{}/", links::page_base(&slug))),
        dedup_key: format!("incident:{incident_id}"),
        resolved: change == IncidentChange::Resolved,
        created_at: Utc::now(),
        unsubscribe_url: None,
    };
    tell(
        conn,
        &slug,
        base,
        component_ids,
        Some(incident_id),
        !by_engine,
    )
    .await
}

/// Tells the maintenance's subscribers (and the team) it was scheduled, updated, started,
/// ended or cancelled. A cancellation must be told before the row is deleted.
pub async fn maintenance_changed(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    maintenance_id: Uuid,
    change: MaintenanceChange,
) -> Result<usize, sqlx::Error> {
    let row: Option<(String, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT title, description, starts_at, ends_at FROM maintenances \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(maintenance_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((title, description, starts_at, ends_at)) = row else {
        return Ok(0);
    };
    let (slug, page) = page_of(conn, tenant_id).await?;
    let component_ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT component_id FROM maintenance_components WHERE tenant_id = $1 AND maintenance_id = $2",
    )
    .bind(tenant_id)
    .bind(maintenance_id)
    .fetch_all(&mut *conn)
    .await?;
    let names = components_named(conn, tenant_id, &component_ids).await?;
    let what = match change {
        MaintenanceChange::Scheduled => "Maintenance scheduled",
        MaintenanceChange::Updated => "Maintenance updated",
        MaintenanceChange::Started => "Maintenance started",
        MaintenanceChange::Ended => "Maintenance completed",
        MaintenanceChange::Cancelled => "Maintenance cancelled",
    };
    let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let text = format!(
        "{page}: {what}: {title}\nWindow: {} – {}\n{}\n\n{}",
        iso(starts_at),
        iso(ends_at),
        affected_line(&names),
        description.trim()
    );
    let base = Message {
        id: Uuid::new_v4(),
        tenant_id,
        event: EventKind::Maintenance,
        title: format!("{what}: {title}"),
        text,
        url: Some(format!("{}/", links::page_base(&slug))),
        dedup_key: format!("maintenance:{maintenance_id}"),
        resolved: matches!(
            change,
            MaintenanceChange::Ended | MaintenanceChange::Cancelled
        ),
        created_at: Utc::now(),
        unsubscribe_url: None,
    };
    tell(conn, &slug, base, component_ids, None, true).await
}

/// After a create: announces the window as scheduled, unless it is already over (a back-filled
/// window is stamped announced and tells nobody).
pub async fn maintenance_created(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    maintenance_id: Uuid,
) -> Result<usize, sqlx::Error> {
    let past: bool = sqlx::query_scalar(
        "UPDATE maintenances SET start_announced_at = now(), end_announced_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ends_at <= now() RETURNING true",
    )
    .bind(tenant_id)
    .bind(maintenance_id)
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or(false);
    if past {
        return Ok(0);
    }
    maintenance_changed(
        conn,
        tenant_id,
        maintenance_id,
        MaintenanceChange::Scheduled,
    )
    .await
}

/// After a patch (in its transaction): a window moved by hand to `in_progress` starts, one moved
/// to `completed` ends (each announced once, as the clock would), any other edit of a window
/// that has not ended is an update. A window moved back into the future is announced again when
/// it starts and ends.
pub async fn maintenance_edited(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    maintenance_id: Uuid,
) -> Result<usize, sqlx::Error> {
    // Rescheduled to later: its start and end are news again.
    let row: Option<(String, bool, bool)> = sqlx::query_as(
        "UPDATE maintenances SET \
         start_announced_at = CASE WHEN starts_at > now() AND status = 'scheduled' THEN NULL ELSE start_announced_at END, \
         end_announced_at = CASE WHEN ends_at > now() AND status <> 'completed' THEN NULL ELSE end_announced_at END \
         WHERE tenant_id = $1 AND id = $2 \
         RETURNING status, start_announced_at IS NULL, end_announced_at IS NULL",
    )
    .bind(tenant_id)
    .bind(maintenance_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((status, start_due, end_due)) = row else {
        return Ok(0);
    };
    let change = match status.as_str() {
        "completed" if end_due => MaintenanceChange::Ended,
        "completed" => return Ok(0),
        "in_progress" if start_due => MaintenanceChange::Started,
        _ if !end_due => return Ok(0),
        _ => MaintenanceChange::Updated,
    };
    let stamp = match change {
        MaintenanceChange::Ended => {
            "UPDATE maintenances SET end_announced_at = now(), \
             start_announced_at = coalesce(start_announced_at, now()) WHERE tenant_id = $1 AND id = $2"
        }
        MaintenanceChange::Started => {
            "UPDATE maintenances SET start_announced_at = now() WHERE tenant_id = $1 AND id = $2"
        }
        _ => "SELECT $1::uuid, $2::uuid",
    };
    sqlx::query(stamp)
        .bind(tenant_id)
        .bind(maintenance_id)
        .execute(&mut *conn)
        .await?;
    maintenance_changed(conn, tenant_id, maintenance_id, change).await
}

/// Before a delete (in its transaction): a window that has not ended is cancelled; deleting a
/// past one tells nobody.
pub async fn maintenance_deleting(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    maintenance_id: Uuid,
) -> Result<usize, sqlx::Error> {
    let pending: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM maintenances WHERE tenant_id = $1 AND id = $2 \
         AND end_announced_at IS NULL AND ends_at > now() AND status <> 'completed')",
    )
    .bind(tenant_id)
    .bind(maintenance_id)
    .fetch_one(&mut *conn)
    .await?;
    if !pending {
        return Ok(0);
    }
    maintenance_changed(
        conn,
        tenant_id,
        maintenance_id,
        MaintenanceChange::Cancelled,
    )
    .await
}

/// How often the announcer looks for maintenance starting or ending by the clock.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);
/// Windows announced per statement; more wait for the next round.
const ANNOUNCE_BATCH: i64 = 100;
/// Unconfirmed email subscriptions are forgotten after this many days.
pub const UNCONFIRMED_DAYS: i32 = 7;

/// Announces every maintenance start and end that is due, once: the stamp and the outbox rows
/// are one transaction, and rows another announcer holds are skipped (it announces them).
/// Windows with `auto_transition` off start and end by hand ([`maintenance_edited`]). A window
/// that started and ended between two rounds is announced as ended only. Returns the windows
/// announced.
pub async fn announce_due(db: &PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    let ended: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE maintenances SET end_announced_at = now(), \
         start_announced_at = coalesce(start_announced_at, now()) \
         WHERE end_announced_at IS NULL AND id IN ( \
             SELECT id FROM maintenances WHERE end_announced_at IS NULL AND auto_transition \
             AND status <> 'completed' AND ends_at <= now() \
             ORDER BY ends_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING tenant_id, id",
    )
    .bind(ANNOUNCE_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for (tenant_id, id) in &ended {
        maintenance_changed(&mut tx, *tenant_id, *id, MaintenanceChange::Ended).await?;
    }
    let started: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE maintenances SET start_announced_at = now() \
         WHERE start_announced_at IS NULL AND id IN ( \
             SELECT id FROM maintenances WHERE start_announced_at IS NULL \
             AND end_announced_at IS NULL AND auto_transition AND status = 'scheduled' \
             AND starts_at <= now() AND ends_at > now() \
             ORDER BY starts_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING tenant_id, id",
    )
    .bind(ANNOUNCE_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for (tenant_id, id) in &started {
        maintenance_changed(&mut tx, *tenant_id, *id, MaintenanceChange::Started).await?;
    }
    tx.commit().await?;
    Ok(ended.len() + started.len())
}

/// Deletes email subscriptions nobody confirmed within [`UNCONFIRMED_DAYS`].
pub async fn forget_unconfirmed(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM subscribers WHERE confirmed_at IS NULL \
         AND created_at < now() - make_interval(days => $1)",
    )
    .bind(UNCONFIRMED_DAYS)
    .execute(db)
    .await?
    .rows_affected())
}

/// Runs for ever in every app server: announces maintenance starts and ends every
/// [`ANNOUNCE_EVERY`] ([`announce_due`]), and forgets stale unconfirmed subscriptions.
pub async fn run_maintenance_announcer(state: AppState) {
    let mut tick = tokio::time::interval(ANNOUNCE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round: u64 = 0;
    loop {
        tick.tick().await;
        match announce_due(&state.db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(windows = n, "maintenance starts and ends announced"),
            Err(e) => tracing::warn!(error = %e, "maintenance announcer failed; retrying"),
        }
        // About once an hour.
        if round.is_multiple_of(720) {
            if let Err(e) = forget_unconfirmed(&state.db).await {
                tracing::warn!(error = %e, "forgetting unconfirmed subscriptions failed");
            }
        }
        round = round.wrapping_add(1);
    }
}
