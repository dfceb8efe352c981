//! The internal endpoints the checkers call: the work plan and the fast path. Signed with the
//! shared checker secret, never reachable with a tenant token.

pub mod schedules;
mod signing;

use crate::rest::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use checker::plan::{self, CheckEvent, FastPathReport, PlannedCheck, WorkPlan};
use checker::probe::CheckStatus;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use signing::{same_region, verify_signature};
use sqlx::PgPool;
use uuid::Uuid;

/// The work plan (`GET`) and the fast path (`POST`), outside `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(checker::api_client::PLAN_PATH, get(plan_handler))
        .route(checker::api_client::RESULTS_PATH, post(results_handler))
        .route(checker::api_client::RUNS_PATH, post(runs_handler))
}

/// The plan request's query: the [`CheckEvent`] (region, shard, and for a re-check the monitors
/// as comma-separated ids) and how often the asking checker runs (`tick`, seconds; Lambda: every
/// minute).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PlanQuery {
    pub region: String,
    #[serde(default)]
    pub shard: u32,
    #[serde(default = "one")]
    pub shards: u32,
    #[serde(default = "sixty")]
    pub tick: u32,
    /// [`checker::api_client::RECHECK_PARAM`]: the monitors to check now.
    #[serde(default)]
    pub recheck: Option<String>,
}

fn one() -> u32 {
    1
}

fn sixty() -> u32 {
    60
}

impl PlanQuery {
    /// The event the query stands for; a re-check list must hold 1 to
    /// [`plan::MAX_RECHECK_MONITORS`] monitor ids as sent (the event holds each once).
    pub fn event(&self) -> ApiResult<CheckEvent> {
        let mut recheck = Vec::new();
        if let Some(list) = &self.recheck {
            let field = checker::api_client::RECHECK_PARAM;
            let ids: Vec<&str> = list.split(',').map(str::trim).collect();
            if ids.len() > plan::MAX_RECHECK_MONITORS {
                return Err(ApiError::field(
                    field,
                    format!("at most {} monitor ids", plan::MAX_RECHECK_MONITORS),
                ));
            }
            for id in ids {
                let id: Uuid = id.parse().map_err(|_| {
                    ApiError::field(field, "must be monitor ids (UUIDs) separated by commas")
                })?;
                recheck.push(id);
            }
            recheck.sort_unstable();
            recheck.dedup();
        }
        Ok(CheckEvent {
            region: self.region.clone(),
            shard: self.shard,
            shards: self.shards,
            recheck,
        })
    }
}

/// Enabled monitors that run in `region`, fall in the event's shard and are due at `now`; for a
/// re-check, exactly the named monitors among those enabled in `region`, due or not (ids of
/// other regions' or disabled monitors are left out without a word: the checker learns nothing
/// of them). Checks whose every result the engine wants are marked `report_always`: re-checks,
/// monitors whose confirmed state is not operational, and monitors reading a health document
/// (its latest one is kept from every result).
pub async fn work_plan(
    db: &PgPool,
    event: &CheckEvent,
    tick_secs: u32,
    now: chrono::DateTime<Utc>,
) -> ApiResult<WorkPlan> {
    let recheck = event.is_recheck();
    let rows: Vec<(Uuid, Uuid, serde_json::Value, i32, Option<String>, bool)> = sqlx::query_as(
        "SELECT m.id, m.tenant_id, m.spec, m.interval_seconds, s.status, \
           EXISTS (SELECT 1 FROM monitor_state ms WHERE ms.monitor_id = m.id AND ms.state <> 'operational') \
         FROM monitors m \
         LEFT JOIN monitor_region_state s ON s.monitor_id = m.id AND s.region = $1 \
         WHERE m.enabled AND m.kind <> 'heartbeat' \
           AND (cardinality(m.regions) = 0 OR $1 = ANY (m.regions)) \
           AND ($2::uuid[] IS NULL OR m.id = ANY ($2)) \
         ORDER BY m.id",
    )
    .bind(&event.region)
    .bind(recheck.then_some(&event.recheck))
    .fetch_all(db)
    .await?;
    let mut checks = Vec::with_capacity(rows.len());
    for (monitor_id, tenant_id, spec, interval, last_status, not_operational) in rows {
        // A re-check runs once, at once; a scheduled run starts each monitor at every instant
        // of its own schedule within this tick.
        let due: Vec<Option<DateTime<Utc>>> = if recheck {
            vec![None]
        } else if plan::shard_of(monitor_id, event.shards) != event.shard {
            continue;
        } else {
            plan::due_times(
                monitor_id,
                interval.max(1) as u32,
                now.timestamp(),
                tick_secs,
            )
            .map(|t| DateTime::from_timestamp(t, 0))
            .collect()
        };
        if due.is_empty() {
            continue;
        }
        let spec: checker::spec::MonitorSpec = match serde_json::from_value(spec) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!(%monitor_id, error = %e, "stored monitor spec no longer parses; skipped");
                continue;
            }
        };
        let last_status = last_status.as_deref().and_then(parse_status);
        // The latest health document is kept from every result, not only from changes.
        let health = matches!(&spec, checker::spec::MonitorSpec::Http(h) if h.health.is_some());
        for due_at in due {
            checks.push(PlannedCheck {
                monitor_id,
                tenant_id,
                spec: spec.clone(),
                last_status,
                report_always: recheck || not_operational || health,
                due_at,
            });
        }
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
    Query(query): Query<PlanQuery>,
) -> ApiResult<Response> {
    let signed_region = verify_signature(&state, &method, &uri, &headers, b"").await?;
    let event = query.event()?;
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
    same_region(&signed_region, &event.region)?;
    if !(1..=3600).contains(&query.tick) {
        return Err(ApiError::field(
            "tick",
            "must be between 1 and 3600 seconds",
        ));
    }
    let plan = work_plan(&state.db, &event, query.tick, Utc::now()).await?;
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

/// Refuses results stamped outside the window around now ([`plan::MAX_RESULT_AGE_SECS`] back,
/// [`plan::MAX_RESULT_AHEAD_SECS`] ahead), naming the first one at fault.
fn check_result_times(report: &FastPathReport, now: chrono::DateTime<Utc>) -> ApiResult<()> {
    let earliest = now - chrono::Duration::seconds(plan::MAX_RESULT_AGE_SECS);
    let latest = now + chrono::Duration::seconds(plan::MAX_RESULT_AHEAD_SECS);
    match report
        .results
        .iter()
        .position(|r| r.checked_at < earliest || r.checked_at > latest)
    {
        None => Ok(()),
        Some(i) => Err(ApiError::field(
            format!("results[{i}].checked_at"),
            format!(
                "must be within {} s before and {} s after the API's clock",
                plan::MAX_RESULT_AGE_SECS,
                plan::MAX_RESULT_AHEAD_SECS
            ),
        )),
    }
}

/// What a fast-path report changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recorded {
    /// Results stored (an older result than the stored one changes nothing).
    pub recorded: usize,
    /// Results for monitors the region does not check: unknown, disabled, another region's, or
    /// with a tenant that is not the monitor's.
    pub ignored: usize,
    /// Re-checks the engine asks for (one request per region), to dispatch after the commit.
    pub rechecks: Vec<crate::engine::dispatch::RecheckRequest>,
}

/// Records failures and status changes per (monitor, region) as the checkers report them, and
/// lets the incident engine decide each touched monitor's state in the same transaction
/// (`regions`: the deployment's, for monitors that name none). The re-checks it asks for are
/// returned in [`Recorded::rechecks`], to dispatch once committed.
pub async fn record_results(
    db: &PgPool,
    regions: &[String],
    report: &FastPathReport,
) -> ApiResult<Recorded> {
    let mut tx = db.begin().await?;
    // Only monitors of the tenant the plan named, enabled and checked from this region: a report
    // cannot touch another tenant's monitor or speak for a region the plan leaves out.
    let ids: Vec<Uuid> = report.results.iter().map(|r| r.monitor_id).collect();
    let checked_here: std::collections::HashMap<Uuid, Uuid> = sqlx::query_as::<_, (Uuid, Uuid)>(
        "SELECT m.id, m.tenant_id FROM monitors m WHERE m.id = ANY ($1) AND m.enabled \
         AND (cardinality(m.regions) = 0 OR $2 = ANY (m.regions))",
    )
    .bind(&ids)
    .bind(&report.region)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut outcome = Recorded::default();
    let mut touched = std::collections::BTreeSet::new();
    // Rows are written (and so locked) in one order, by monitor then time: two reports of one
    // region that overlap (a scheduled run and a re-check) wait for each other instead of
    // deadlocking, as they did when each wrote in its own order.
    let mut results: Vec<&checker::plan::ReportedResult> = report.results.iter().collect();
    results.sort_by_key(|r| (r.monitor_id, r.checked_at));
    for result in results {
        if checked_here.get(&result.monitor_id) != Some(&result.tenant_id) {
            outcome.ignored += 1;
            continue;
        }
        let failure = result
            .failure
            .map(|f| serde_json::to_value(f).map_err(|e| ApiError::Internal(e.to_string())))
            .transpose()?;
        let detail = serde_json::to_value(result.detail.clone().unwrap_or_default())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        // Consecutive failures (down or degraded) and successes per region: the engine's counts.
        let done = sqlx::query(
            "INSERT INTO monitor_region_state (monitor_id, region, status, since, last_checked_at, last_error, last_failure, \
               fail_streak, ok_streak, detail) \
             SELECT m.id, $3, $4, $5, $5, $6, $7, ($4 <> 'up')::int, ($4 = 'up')::int, $8 \
             FROM monitors m WHERE m.id = $1 AND m.tenant_id = $2 \
             ON CONFLICT (monitor_id, region) DO UPDATE SET \
               since = CASE WHEN monitor_region_state.status = EXCLUDED.status THEN monitor_region_state.since ELSE EXCLUDED.since END, \
               status = EXCLUDED.status, last_checked_at = EXCLUDED.last_checked_at, last_error = EXCLUDED.last_error, \
               last_failure = EXCLUDED.last_failure, detail = EXCLUDED.detail, \
               fail_streak = CASE WHEN EXCLUDED.status = 'up' THEN 0 ELSE monitor_region_state.fail_streak + 1 END, \
               ok_streak = CASE WHEN EXCLUDED.status = 'up' THEN monitor_region_state.ok_streak + 1 ELSE 0 END \
             WHERE monitor_region_state.last_checked_at <= EXCLUDED.last_checked_at",
        )
        .bind(result.monitor_id)
        .bind(result.tenant_id)
        .bind(&report.region)
        .bind(status_str(result.status))
        .bind(result.checked_at)
        .bind(&result.error)
        .bind(failure)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        outcome.recorded += done.rows_affected() as usize;
        if done.rows_affected() > 0 {
            touched.insert(result.monitor_id);
        }
    }
    // In id order, so two reports touching the same monitors lock them in the same order.
    let now = Utc::now();
    for monitor_id in touched {
        outcome
            .rechecks
            .extend(crate::engine::evaluate(&mut tx, monitor_id, regions, now).await?);
    }
    tx.commit().await?;
    outcome.rechecks = crate::engine::state::merge_rechecks(std::mem::take(&mut outcome.rechecks));
    Ok(outcome)
}

/// A checker's signed JSON body (`what` names it in errors): the signature checked, then the
/// body read, and the region it speaks for must be the one that signed.
async fn signed_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    what: &str,
    region_of: impl Fn(&T) -> &String,
) -> ApiResult<T> {
    let signed_region = verify_signature(state, method, uri, headers, body).await?;
    let value: T =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("{what}: {e}")))?;
    same_region(&signed_region, region_of(&value))?;
    Ok(value)
}

pub async fn results_handler(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let report: FastPathReport = signed_body(
        &state,
        &method,
        &uri,
        &headers,
        &body,
        "results report",
        |r: &FastPathReport| &r.region,
    )
    .await?;
    check_result_times(&report, Utc::now())?;
    let recorded = record_results(&state.db, &state.config.regions, &report).await?;
    for result in &report.results {
        state
            .metrics
            .record_fast_path(&report.region, status_str(result.status));
    }
    if !recorded.rechecks.is_empty() {
        // Asked once committed, without holding up the checker's request.
        let recheck = state.recheck.clone();
        let requests = recorded.rechecks.clone();
        tokio::spawn(async move {
            for e in recheck.recheck(requests).await {
                tracing::warn!(error = %e, "re-check not dispatched");
            }
        });
    }
    if recorded.ignored > 0 {
        tracing::warn!(
            region = %report.region, run_id = %report.run_id, ignored = recorded.ignored,
            "results for monitors this region does not check were ignored"
        );
    }
    let tenants: std::collections::BTreeSet<Uuid> =
        report.results.iter().map(|r| r.tenant_id).collect();
    for tenant_id in tenants {
        state.status.invalidate(tenant_id);
    }
    Ok(axum::Json(serde_json::json!({
        "recorded": recorded.recorded,
        "ignored": recorded.ignored,
    })))
}

/// A finished run's summary, for this server's metrics ([`crate::metrics`]). The signature names
/// one of the deployment's regions, so a checker cannot grow the series with names of its own.
pub async fn runs_handler(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let summary: checker::run::RunSummary = signed_body(
        &state,
        &method,
        &uri,
        &headers,
        &body,
        "run summary",
        |s: &checker::run::RunSummary| &s.region,
    )
    .await?;
    for (phase, histogram) in summary.phases.by_name() {
        if !histogram.well_formed() {
            return Err(ApiError::field(
                format!("phases.{phase}.counts"),
                format!(
                    "must hold {} counts (one per bucket of the checker's bounds, and one above)",
                    checker::run::PHASE_BUCKETS_US.len() + 1
                ),
            ));
        }
    }
    state.metrics.record_run(&summary);
    Ok(StatusCode::NO_CONTENT)
}
