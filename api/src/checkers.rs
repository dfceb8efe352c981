//! The internal endpoints the checkers call: the work plan and the fast path. Signed with the
//! shared checker secret, never reachable with a tenant token.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use checker::plan::{self, CheckEvent, FastPathReport, PlannedCheck, WorkPlan};
use checker::probe::CheckStatus;
use chrono::Utc;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

fn verify_signature(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<()> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let timestamp = header(plan::TIMESTAMP_HEADER)
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or(ApiError::Unauthorized(
            "missing or malformed checker timestamp",
        ))?;
    let signature = header(plan::SIGNATURE_HEADER)
        .ok_or(ApiError::Unauthorized("missing checker signature"))?;
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path());
    let ok = plan::verify(
        &state.config.checker_secret,
        Utc::now().timestamp(),
        timestamp,
        method.as_str(),
        path_and_query,
        body,
        signature,
    );
    if ok {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("bad checker signature"))
    }
}

/// How often the asking checker runs (`tick` query parameter, seconds; Lambda: every minute).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct PlanTick {
    #[serde(default = "sixty")]
    pub tick: u32,
}

fn sixty() -> u32 {
    60
}

/// Enabled monitors that run in `region`, fall in the event's shard and are due at `now`.
pub async fn work_plan(
    db: &PgPool,
    event: &CheckEvent,
    tick_secs: u32,
    now: chrono::DateTime<Utc>,
) -> ApiResult<WorkPlan> {
    let rows: Vec<(Uuid, Uuid, serde_json::Value, i32, Option<String>)> = sqlx::query_as(
        "SELECT m.id, m.tenant_id, m.spec, m.interval_seconds, s.status FROM monitors m \
         LEFT JOIN monitor_region_state s ON s.monitor_id = m.id AND s.region = $1 \
         WHERE m.enabled AND (cardinality(m.regions) = 0 OR $1 = ANY (m.regions)) \
         ORDER BY m.id",
    )
    .bind(&event.region)
    .fetch_all(db)
    .await?;
    let mut checks = Vec::with_capacity(rows.len());
    for (monitor_id, tenant_id, spec, interval, last_status) in rows {
        if plan::shard_of(monitor_id, event.shards) != event.shard
            || !plan::is_due(
                monitor_id,
                interval.max(1) as u32,
                now.timestamp(),
                tick_secs,
            )
        {
            continue;
        }
        let spec = match serde_json::from_value(spec) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!(%monitor_id, error = %e, "stored monitor spec no longer parses; skipped");
                continue;
            }
        };
        checks.push(PlannedCheck {
            monitor_id,
            tenant_id,
            spec,
            last_status: last_status.as_deref().and_then(parse_status),
        });
    }
    Ok(WorkPlan {
        region: event.region.clone(),
        generated_at: now,
        checks,
    })
}

pub fn parse_status(s: &str) -> Option<CheckStatus> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

pub fn status_str(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Up => "up",
        CheckStatus::Degraded => "degraded",
        CheckStatus::Down => "down",
    }
}

pub async fn plan_handler(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(event): Query<CheckEvent>,
    Query(tick): Query<PlanTick>,
) -> ApiResult<Response> {
    verify_signature(&state, &method, &uri, &headers, b"")?;
    if event.shards == 0 || event.shard >= event.shards {
        return Err(ApiError::field(
            "shard",
            "must be below shards (and shards at least 1)",
        ));
    }
    if !state.config.regions.contains(&event.region) {
        return Err(ApiError::field(
            "region",
            format!("unknown region {:?}", event.region),
        ));
    }
    if !(1..=3600).contains(&tick.tick) {
        return Err(ApiError::field(
            "tick",
            "must be between 1 and 3600 seconds",
        ));
    }
    let plan = work_plan(&state.db, &event, tick.tick, Utc::now()).await?;
    // The ETag covers what the checker acts on, not when the plan was generated.
    let body = serde_json::to_vec(&plan.checks).map_err(|e| ApiError::Internal(e.to_string()))?;
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given == etag)
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok(([(header::ETAG, etag)], axum::Json(plan)).into_response())
}

/// Records failures and status changes per (monitor, region) as the checkers report them.
pub async fn record_results(db: &PgPool, report: &FastPathReport) -> ApiResult<usize> {
    let mut tx = db.begin().await?;
    let mut recorded = 0;
    for result in &report.results {
        // Scoped by the tenant the plan named, so a report cannot touch another tenant's monitor.
        let done = sqlx::query(
            "INSERT INTO monitor_region_state (monitor_id, region, status, since, last_checked_at, last_error) \
             SELECT m.id, $3, $4, $5, $5, $6 FROM monitors m WHERE m.id = $1 AND m.tenant_id = $2 \
             ON CONFLICT (monitor_id, region) DO UPDATE SET \
               since = CASE WHEN monitor_region_state.status = EXCLUDED.status THEN monitor_region_state.since ELSE EXCLUDED.since END, \
               status = EXCLUDED.status, last_checked_at = EXCLUDED.last_checked_at, last_error = EXCLUDED.last_error \
             WHERE monitor_region_state.last_checked_at <= EXCLUDED.last_checked_at",
        )
        .bind(result.monitor_id)
        .bind(result.tenant_id)
        .bind(&report.region)
        .bind(status_str(result.status))
        .bind(result.checked_at)
        .bind(&result.error)
        .execute(&mut *tx)
        .await?;
        recorded += done.rows_affected() as usize;
    }
    tx.commit().await?;
    Ok(recorded)
}

pub async fn results_handler(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<serde_json::Value>> {
    verify_signature(&state, &method, &uri, &headers, &body)?;
    let report: FastPathReport = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("results report: {e}")))?;
    let recorded = record_results(&state.db, &report).await?;
    let tenants: std::collections::BTreeSet<Uuid> =
        report.results.iter().map(|r| r.tenant_id).collect();
    for tenant_id in tenants {
        state.status.invalidate(tenant_id);
    }
    Ok(axum::Json(serde_json::json!({ "recorded": recorded })))
}
