//! The engine's timers: a below-quorum failure becomes a regional outage after the policy's
//! time, maintenance windows start and end without any check result, and a flapping monitor
//! settles. Every app server may run the sweeper: each monitor is claimed with
//! `FOR UPDATE SKIP LOCKED`, so one server evaluates it and the others pass it by.

use super::state::{evaluate, merge_rechecks, ACTIVE_MAINTENANCE};
use crate::AppState;
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// How often the sweeper looks.
pub const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// Monitors evaluated per pass (the rest wait for the next one).
pub const SWEEP_BATCH: i64 = 200;

/// Monitors whose state may change with the clock alone.
async fn due(db: &sqlx::PgPool, now: DateTime<Utc>) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT m.id FROM monitors m LEFT JOIN monitor_state s ON s.monitor_id = m.id \
         WHERE m.enabled AND ( \
           s.partial_since IS NOT NULL OR s.flapping \
           OR (s.state = 'under_maintenance') <> {ACTIVE_MAINTENANCE} \
           OR (s.state IS NULL AND m.component_id IS NOT NULL AND {ACTIVE_MAINTENANCE})) \
         ORDER BY s.updated_at NULLS FIRST LIMIT $1"
    ))
    .bind(SWEEP_BATCH)
    .bind(now)
    .fetch_all(db)
    .await
}

/// One pass: evaluates every monitor that is due and not being evaluated elsewhere. Returns how
/// many were evaluated.
pub async fn sweep_once(state: &AppState, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let mut evaluated = 0;
    let mut rechecks = Vec::new();
    for monitor_id in due(&state.db, now).await? {
        let mut tx = state.db.begin().await?;
        // Skip a monitor another server (or a checker's report) is evaluating right now.
        let claimed: Option<Uuid> = sqlx::query_scalar(
            "SELECT monitor_id FROM monitor_state WHERE monitor_id = $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(monitor_id)
        .fetch_optional(&mut *tx)
        .await?;
        let proceed: bool = claimed.is_some()
            || !sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM monitor_state WHERE monitor_id = $1)",
            )
            .bind(monitor_id)
            .fetch_one(&mut *tx)
            .await?;
        if !proceed {
            continue;
        }
        rechecks.extend(evaluate(&mut tx, monitor_id, &state.config.regions, now).await?);
        tx.commit().await?;
        evaluated += 1;
        if let Some(tenant) = tenant_of(&state.db, monitor_id).await? {
            state.status.invalidate(tenant);
        }
    }
    if !rechecks.is_empty() {
        let errors = state.recheck.recheck(merge_rechecks(rechecks)).await;
        for e in errors {
            tracing::warn!(error = %e, "re-check not dispatched");
        }
    }
    Ok(evaluated)
}

async fn tenant_of(db: &sqlx::PgPool, monitor_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT tenant_id FROM monitors WHERE id = $1")
        .bind(monitor_id)
        .fetch_optional(db)
        .await
}

/// Runs [`sweep_once`] every [`SWEEP_EVERY`] until the process ends.
pub async fn run_sweeper(state: AppState) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep_once(&state, Utc::now()).await {
            tracing::warn!(error = %e, "incident engine sweep failed; retrying");
        }
    }
}
