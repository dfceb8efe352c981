//! Heartbeat (push) monitors, for jobs no probe can reach: the job calls its monitor's secret
//! URL when it succeeds (`/fail`, with an optional message, when it does not); a ping that does
//! not come by the expected time plus the grace is a failure. Both go into the engine as results
//! of the pseudo-region [`REGION`], so confirmation, incidents, maintenance and notifications are
//! the ones of every other monitor. The URL is issued (and rotated) by
//! `POST /api/v1/monitors/{id}/heartbeat-url` and shown once; only its SHA-256 is stored.
//! Nothing is late before the first ping: a new monitor waits for its job.

pub mod schedule;

use crate::accounts::auth::{new_secret, secret_hash, ApiTenant, TOKEN_PREFIX};
use crate::rest::error::{ApiError, ApiPath, ApiResult};
use crate::rest::responses::{MalformedRequest, NeedsToken, NotFound, WriteForbidden};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use checker::plan::{FastPathReport, ReportedResult};
use checker::probe::CheckStatus;
use checker::spec::{HeartbeatSpec, MonitorSpec};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

/// The pseudo-region heartbeat monitors are checked "from": their results, state and quorum.
pub const REGION: &str = "heartbeat";
/// Heartbeat tokens start with this, so they are never mistaken for API tokens.
pub const TOKEN_PREFIX_HEARTBEAT: &str = "hb_";
/// The most a `/fail` message keeps.
pub const MESSAGE_MAX: usize = 1024;
/// One ping per second per monitor is recorded; faster ones get 429.
pub const PING_EVERY: Duration = Duration::seconds(1);
/// How often the app server looks for late heartbeats.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/monitors/{id}/heartbeat-url", post(issue_url))
        .route("/api/v1/heartbeats/{token}", get(ping_ok).post(ping_ok))
        .route(
            "/api/v1/heartbeats/{token}/fail",
            get(ping_fail).post(ping_fail),
        )
}

/// The answer to an issue: the two URLs, shown this once.
#[derive(utoipa::ToSchema, serde::Serialize, serde::Deserialize, Debug)]
pub struct HeartbeatUrl {
    /// Call on success (`GET` or `POST`).
    pub url: String,
    /// Call on failure; a `POST` body (up to 1,024 bytes of text) is kept as the message.
    pub fail_url: String,
}

/// Issues the monitor's secret URL, or a new one that replaces it (the old one stops working).
/// Shown in this response only.
#[utoipa::path(
    post,
    path = "/api/v1/monitors/{id}/heartbeat-url",
    tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "a heartbeat monitor's id")),
    responses(
        MalformedRequest,
        (status = 201, description = "the URLs, shown once (Cache-Control: no-store)", body = HeartbeatUrl),
        NeedsToken, WriteForbidden, NotFound,
        (status = 422, description = "not a heartbeat monitor", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn issue_url(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    who.require_write()?;
    let urls = issue(&state, &who, id).await?;
    let mut response = (StatusCode::CREATED, Json(urls)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Issues (or rotates) the URLs of heartbeat monitor `id` of `who`'s tenant, audited as `who`:
/// the API's route and the console's page both call this. The caller checks the right to write.
pub async fn issue(
    state: &AppState,
    who: &impl crate::rest::Actor,
    id: Uuid,
) -> ApiResult<HeartbeatUrl> {
    let tenant_id = who.tenant_id();
    let monitor = crate::monitors::get(&state.db, tenant_id, id).await?;
    if !matches!(monitor.spec, MonitorSpec::Heartbeat(_)) {
        return Err(ApiError::field(
            "type",
            format!(
                "monitor {:?} is a {} monitor; only heartbeat monitors have a URL",
                monitor.name,
                monitor.spec.kind()
            ),
        ));
    }
    let token = format!(
        "{TOKEN_PREFIX_HEARTBEAT}{}",
        &new_secret()[TOKEN_PREFIX.len()..]
    );
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO heartbeats (monitor_id, tenant_id, token_hash) VALUES ($1, $2, $3) \
         ON CONFLICT (monitor_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, issued_at = now()",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(secret_hash(&token))
    .execute(&mut *tx)
    .await?;
    crate::rest::audit(
        &mut *tx,
        who,
        "issue_heartbeat_url",
        "monitor",
        Some(id),
        json!({ "name": monitor.name }),
    )
    .await?;
    tx.commit().await?;
    let url = format!("{}/api/v1/heartbeats/{token}", state.platform_url);
    Ok(HeartbeatUrl {
        fail_url: format!("{url}/fail"),
        url,
    })
}

/// A job's success.
#[utoipa::path(
    post,
    path = "/api/v1/heartbeats/{token}",
    tag = "monitors",
    params(("token" = String, Path, description = "the secret of the monitor's heartbeat URL")),
    responses(
        (status = 200, description = "recorded (`recorded: false` while the monitor is paused)", body = serde_json::Value),
        NotFound,
        (status = 429, description = "more than one ping a second", body = crate::rest::error::Problem, content_type = "application/problem+json")
    )
)]
pub async fn ping_ok(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    ping(&state, &token, None).await
}

/// A job's failure; the body (text, at most 1,024 bytes) is the message shown to the tenant.
#[utoipa::path(
    post,
    path = "/api/v1/heartbeats/{token}/fail",
    tag = "monitors",
    params(("token" = String, Path, description = "the secret of the monitor's heartbeat URL")),
    request_body(content = String, content_type = "text/plain", description = "optional message"),
    responses(
        (status = 200, description = "recorded as down (`recorded: false` while the monitor is paused)", body = serde_json::Value),
        NotFound,
        (status = 413, description = "the message is over 1,024 bytes", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "more than one ping a second", body = crate::rest::error::Problem, content_type = "application/problem+json")
    )
)]
pub async fn ping_fail(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: axum::body::Body,
) -> ApiResult<Response> {
    // Read up to the limit only: a larger body is refused while it is read.
    let body = crate::rest::input::read_body(body, MESSAGE_MAX).await?;
    let text = String::from_utf8_lossy(&body);
    let message: String = text
        .chars()
        .filter(|c| !crate::rest::input::is_forbidden_control(*c))
        .collect::<String>()
        .trim()
        .to_owned();
    let message = if message.is_empty() {
        "the job reported a failure".to_owned()
    } else {
        format!("the job reported a failure: {message}")
    };
    ping(&state, &token, Some(message)).await
}

/// Records a ping: `failure` is `None` for a success.
async fn ping(state: &AppState, token: &str, failure: Option<String>) -> ApiResult<Response> {
    let now = Utc::now();
    /// monitor, tenant, enabled, spec
    type Found = (Uuid, Uuid, bool, serde_json::Value);
    let found: Option<Found> = sqlx::query_as(
        "SELECT h.monitor_id, h.tenant_id, m.enabled, m.spec FROM heartbeats h \
             JOIN monitors m ON m.id = h.monitor_id AND m.tenant_id = h.tenant_id \
             WHERE h.token_hash = $1",
    )
    .bind(secret_hash(token.trim()))
    .fetch_optional(&state.db)
    .await?;
    let Some((monitor_id, tenant_id, enabled, spec)) = found else {
        return Err(ApiError::NotFound("heartbeat URL"));
    };
    if !enabled {
        return Ok(
            Json(json!({ "recorded": false, "reason": "the monitor is paused" })).into_response(),
        );
    }
    let limited = || ApiError::TooManyRequests {
        detail: "at most one ping a second is recorded".into(),
        retry_after_secs: 1,
    };
    let due_by = heartbeat_spec(&spec).and_then(|s| schedule::deadline_after(&s, now));
    let updated = sqlx::query(
        "UPDATE heartbeats SET last_ping_at = $2, last_ping_ok = $3, last_message = $4, \
         due_by = $5, missed_reported_at = NULL \
         WHERE monitor_id = $1 AND (last_ping_at IS NULL OR last_ping_at <= $2 - make_interval(secs => $6))",
    )
    .bind(monitor_id)
    .bind(now)
    .bind(failure.is_none())
    .bind(failure.as_deref())
    .bind(due_by)
    .bind(PING_EVERY.num_seconds() as f64)
    .execute(&state.db)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(limited());
    }
    let status = if failure.is_some() {
        CheckStatus::Down
    } else {
        CheckStatus::Up
    };
    state
        .metrics
        .record_heartbeat(crate::checkers::status_str(status));
    record(
        state,
        vec![result(monitor_id, tenant_id, status, now, failure)],
    )
    .await?;
    Ok(Json(json!({
        "recorded": true,
        "status": crate::checkers::status_str(status),
        "late_after": due_by,
    }))
    .into_response())
}

fn heartbeat_spec(spec: &serde_json::Value) -> Option<HeartbeatSpec> {
    match serde_json::from_value(spec.clone()).ok()? {
        MonitorSpec::Heartbeat(spec) => Some(spec),
        _ => None,
    }
}

fn result(
    monitor_id: Uuid,
    tenant_id: Uuid,
    status: CheckStatus,
    at: DateTime<Utc>,
    error: Option<String>,
) -> ReportedResult {
    ReportedResult {
        monitor_id,
        tenant_id,
        status,
        checked_at: at,
        total_us: 0,
        error,
        failure: None,
        detail: None,
    }
}

/// Into the engine as the [`REGION`]'s results, and into ClickHouse for uptime and the bars.
/// The engine's re-checks are not dispatched: no checker region can check a heartbeat.
async fn record(state: &AppState, results: Vec<ReportedResult>) -> ApiResult<()> {
    if results.is_empty() {
        return Ok(());
    }
    let rows: Vec<statuspage_clickhouse::CheckRow> = results
        .iter()
        .map(|r| {
            let status = match r.status {
                CheckStatus::Up => statuspage_clickhouse::STATUS_UP,
                CheckStatus::Degraded => statuspage_clickhouse::STATUS_DEGRADED,
                CheckStatus::Down => statuspage_clickhouse::STATUS_DOWN,
            };
            statuspage_clickhouse::CheckRow::pushed(
                r.tenant_id,
                r.monitor_id,
                REGION,
                r.checked_at.timestamp_micros(),
                status,
                r.error.clone().unwrap_or_default(),
            )
        })
        .collect();
    let report = FastPathReport {
        region: REGION.into(),
        run_id: Uuid::new_v4(),
        results,
    };
    crate::checkers::record_results(&state.db, &[REGION.to_owned()], &report).await?;
    let analytics = state.analytics.clone();
    let token = report.run_id.to_string();
    // Not awaited: a ClickHouse that is away must not hold the job's call (the state is in
    // PostgreSQL already); the lost row is logged.
    tokio::spawn(async move {
        if let Err(e) = analytics.insert_checks(&rows, &token).await {
            tracing::warn!(error = %e, rows = rows.len(), "heartbeat rows not stored in ClickHouse");
        }
    });
    Ok(())
}

/// Reports every heartbeat that is late at `now` as down (again every `interval_seconds` while
/// it stays late), at most 500 per call; returns how many. Rows are claimed with `SKIP LOCKED`,
/// so app servers sweeping at once report each lateness once.
pub async fn sweep_once(state: &AppState, now: DateTime<Utc>) -> ApiResult<usize> {
    type Row = (
        Uuid,
        Uuid,
        DateTime<Utc>,
        serde_json::Value,
        Option<DateTime<Utc>>,
    );
    let mut tx = state.db.begin().await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT h.monitor_id, h.tenant_id, h.last_ping_at, m.spec, h.due_by \
         FROM heartbeats h JOIN monitors m ON m.id = h.monitor_id AND m.tenant_id = h.tenant_id \
         WHERE m.enabled AND m.kind = 'heartbeat' AND h.last_ping_at IS NOT NULL AND (h.due_by IS NULL OR h.due_by <= $1) \
           AND (h.missed_reported_at IS NULL \
                OR h.missed_reported_at <= $1 - make_interval(secs => m.interval_seconds)) \
         ORDER BY h.due_by NULLS FIRST LIMIT 500 \
         FOR UPDATE OF h SKIP LOCKED",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut late = Vec::new();
    for (monitor_id, tenant_id, last, spec, due_by) in rows {
        let Some(spec) = heartbeat_spec(&spec) else {
            continue;
        };
        // Worked out from the spec as it is now (it may have changed since the last ping).
        let deadline = schedule::deadline_after(&spec, last);
        if deadline.is_some_and(|d| d > now) || deadline.is_none() {
            if deadline != due_by {
                sqlx::query("UPDATE heartbeats SET due_by = $2 WHERE monitor_id = $1")
                    .bind(monitor_id)
                    .bind(deadline)
                    .execute(&mut *tx)
                    .await?;
            }
            continue;
        }
        let expected = schedule::expected_after(&spec, last).unwrap_or(last);
        sqlx::query(
            "UPDATE heartbeats SET due_by = $2, missed_reported_at = $3 WHERE monitor_id = $1",
        )
        .bind(monitor_id)
        .bind(deadline)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        late.push(result(
            monitor_id,
            tenant_id,
            CheckStatus::Down,
            now,
            Some(format!(
                "no heartbeat since {} (expected by {}, {} s of grace)",
                last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                expected.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                spec.grace_seconds
            )),
        ));
    }
    tx.commit().await?;
    let count = late.len();
    record(state, late).await?;
    Ok(count)
}

/// Sweeps every [`SWEEP_EVERY`] for as long as the app server runs.
pub async fn run_sweeper(state: AppState) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sweep_once(&state, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(late = n, "heartbeats reported late"),
            Err(e) => tracing::warn!(error = %e, "heartbeat sweep failed; retrying"),
        }
    }
}
