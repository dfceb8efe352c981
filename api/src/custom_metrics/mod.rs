//! Custom metrics on status pages: a tenant names a PromQL query against a Prometheus-compatible
//! URL of theirs (Prometheus, Thanos, Mimir, VictoriaMetrics: anything answering
//! `/api/v1/query_range`), and visitors see its latest value and the last 24 hours as a small
//! chart. The app servers fetch every metric every `refresh_seconds` (30–60 s) through the
//! deployment's SSRF guard and keep the answer in PostgreSQL, so a page shows the same figure on
//! every server and keeps the last good one while the tenant's Prometheus is away.
//!
//! A save runs the query once: a query Prometheus refuses is a 422 naming `query` with
//! Prometheus's own words, an unreachable or refused source one naming `source_url`.

pub(crate) mod routes;

pub use routes::routes;

use crate::rest::error::{problems_to_result, ApiError, ApiResult, FieldProblem};
use crate::AppState;
use checker::deliver::{self, DeliverError};
use checker::guard::SsrfGuard;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub const NAME_MAX: usize = 100;
pub const QUERY_MAX: usize = 2000;
pub const UNIT_MAX: usize = 20;
/// The chart's reach and step: 24 hours in 15-minute points (97 of them).
pub const SERIES_HOURS: i64 = 24;
pub const STEP_SECONDS: i64 = 900;
/// One query's whole exchange.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer read (one series of 97 points is about 3 KB).
pub const ANSWER_MAX: usize = 256 * 1024;
/// Fetches under way at once per server, and per tenant: a slow Prometheus of one tenant holds
/// at most [`PER_TENANT`] of them.
pub const CONCURRENCY: usize = 16;
pub const PER_TENANT: usize = 2;

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMetricInput {
    /// Shown on the page, e.g. "Requests per second".
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// PromQL returning one series (aggregate with `sum(...)`), e.g. `sum(rate(http_requests_total[5m]))`.
    #[schema(min_length = 1, max_length = 2000)]
    pub query: String,
    /// Shown after the value, e.g. `req/s`, `ms`, `%`.
    #[serde(default)]
    #[schema(max_length = 20)]
    pub unit: String,
    /// The Prometheus-compatible base URL (`https://prometheus.example.com`, or a path prefix
    /// such as `https://example.com/prometheus`): `/api/v1/query_range` is added.
    pub source_url: String,
    /// Sent as the `Authorization` header of every query (`Bearer …`, `Basic …`); shown masked.
    #[serde(default)]
    pub authorization: Option<String>,
    /// Decimals shown (0–6).
    #[serde(default = "default_decimals")]
    pub decimals: i16,
    /// How often it is fetched again (30–60 s).
    #[serde(default = "default_refresh")]
    pub refresh_seconds: i32,
    #[serde(default)]
    pub position: i32,
}

fn default_decimals() -> i16 {
    2
}

fn default_refresh() -> i32 {
    60
}

/// A partial change; `authorization: null` removes the header.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMetricPatch {
    pub name: Option<String>,
    pub query: Option<String>,
    pub unit: Option<String>,
    pub source_url: Option<String>,
    #[serde(default, with = "crate::components::double_option")]
    #[schema(value_type = Option<String>)]
    pub authorization: Option<Option<String>>,
    pub decimals: Option<i16>,
    pub refresh_seconds: Option<i32>,
    pub position: Option<i32>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomMetric {
    pub id: Uuid,
    pub name: String,
    pub query: String,
    pub unit: String,
    pub source_url: String,
    /// Whether an `Authorization` header is sent (never shown).
    pub authorization_set: bool,
    pub decimals: i16,
    pub refresh_seconds: i32,
    pub position: i32,
    /// The latest value; `null` before the first answer or when the query has no recent sample.
    pub value: Option<f64>,
    /// The last 24 hours as `[unix seconds, value]` pairs.
    #[schema(value_type = Vec<Vec<f64>>)]
    pub series: Vec<(i64, f64)>,
    pub fetched_at: Option<DateTime<Utc>>,
    /// Why the last fetch failed (the value and series are those of the last good one).
    pub error: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::rest::write::row!(CustomMetric);

const COLUMNS: &str = "id, name, query, unit, source_url, auth_header IS NOT NULL, decimals, \
    refresh_seconds, position, value, series, fetched_at, error, version, created_at, updated_at";

type Row = (
    Uuid,
    String,
    String,
    String,
    String,
    bool,
    i16,
    i32,
    i32,
    Option<f64>,
    sqlx::types::Json<Vec<(i64, f64)>>,
    Option<DateTime<Utc>>,
    Option<String>,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
);

fn from_row(r: Row) -> CustomMetric {
    CustomMetric {
        id: r.0,
        name: r.1,
        query: r.2,
        unit: r.3,
        source_url: r.4,
        authorization_set: r.5,
        decimals: r.6,
        refresh_seconds: r.7,
        position: r.8,
        value: r.9,
        series: r.10 .0,
        fetched_at: r.11,
        error: r.12,
        version: r.13,
        created_at: r.14,
        updated_at: r.15,
    }
}

fn problem(field: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        message: message.into(),
    }
}

fn text_problem(field: &str, value: &str, min: usize, max: usize) -> Option<FieldProblem> {
    let len = value.trim().chars().count();
    if len < min || len > max {
        return Some(problem(field, format!("must be {min} to {max} characters")));
    }
    value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
        .then(|| problem(field, "must not hold control characters"))
}

/// Where queries may go: as a channel's URL (an allow-listed address, else public `https://`),
/// with no query string or fragment (the query is ours to add).
fn source_problem(url: &str, guard: &SsrfGuard) -> Option<FieldProblem> {
    if let Some(p) = crate::channels::delivery_url_problem("source_url", url, guard) {
        return Some(p);
    }
    (url.contains('?') || url.contains('#'))
        .then(|| problem("source_url", "must be the base URL, without ? or #"))
}

fn authorization_problem(value: &str) -> Option<FieldProblem> {
    (value.is_empty()
        || value.len() > 4096
        || value.chars().any(|c| c.is_control())
        || http::HeaderValue::from_str(value).is_err())
    .then(|| {
        problem(
            "authorization",
            "must be a header value of 1 to 4096 visible characters, e.g. \"Bearer <token>\"",
        )
    })
}

fn number_problems(decimals: i16, refresh: i32) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    if !(0..=6).contains(&decimals) {
        problems.push(problem("decimals", "must be 0 to 6"));
    }
    if !(30..=60).contains(&refresh) {
        problems.push(problem("refresh_seconds", "must be 30 to 60"));
    }
    problems
}

fn input_problems(input: &CustomMetricInput, guard: &SsrfGuard) -> Vec<FieldProblem> {
    let mut problems: Vec<FieldProblem> = [
        text_problem("name", &input.name, 1, NAME_MAX),
        text_problem("query", &input.query, 1, QUERY_MAX),
        text_problem("unit", &input.unit, 0, UNIT_MAX),
        source_problem(input.source_url.trim(), guard),
        input
            .authorization
            .as_deref()
            .and_then(authorization_problem),
    ]
    .into_iter()
    .flatten()
    .collect();
    problems.extend(number_problems(input.decimals, input.refresh_seconds));
    problems
}

fn write_error(e: sqlx::Error, name: &str) -> ApiError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::field(
            "name",
            format!("a custom metric named {name:?} already exists"),
        ),
        _ => e.into(),
    }
}

/// What a query answered: the latest value (the range's last point, when it is recent) and
/// the series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    pub value: Option<f64>,
    pub series: Vec<(i64, f64)>,
}

/// Why a query gave no answer, and which field of the metric it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchError {
    pub field: &'static str,
    pub message: String,
}

impl FetchError {
    fn source(message: impl Into<String>) -> Self {
        Self {
            field: "source_url",
            message: message.into(),
        }
    }

    fn query(message: impl Into<String>) -> Self {
        Self {
            field: "query",
            message: message.into(),
        }
    }
}

/// Runs `query` over the last [`SERIES_HOURS`] at `source` once, through `guard`.
pub async fn fetch(
    guard: &SsrfGuard,
    source: &str,
    authorization: Option<&str>,
    query: &str,
    now: DateTime<Utc>,
) -> Result<Answer, FetchError> {
    // To the millisecond: a sample scraped in the current second counts.
    let end_ms = now.timestamp_millis();
    let end = end_ms.div_euclid(1000);
    let (end_text, start_text) = (
        format!("{}.{:03}", end, end_ms.rem_euclid(1000)),
        format!(
            "{}.{:03}",
            end - SERIES_HOURS * 3600,
            end_ms.rem_euclid(1000)
        ),
    );
    let mut url = url::Url::parse(&format!(
        "{}/api/v1/query_range",
        source.trim().trim_end_matches('/')
    ))
    .map_err(|e| FetchError::source(format!("not a URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("query", query.trim())
        .append_pair("start", &start_text)
        .append_pair("end", &end_text)
        .append_pair("step", &STEP_SECONDS.to_string());
    let mut headers = vec![("accept", "application/json".to_owned())];
    if let Some(auth) = authorization {
        headers.push(("authorization", auth.to_owned()));
    }
    let answer = deliver::get(guard, url.as_str(), &headers, ANSWER_MAX, FETCH_TIMEOUT)
        .await
        .map_err(|e| match e {
            DeliverError::Timeout(t) => FetchError::source(format!("no answer within {t:?}")),
            other => FetchError::source(other.to_string()),
        })?;
    if answer.truncated {
        return Err(FetchError::query(format!(
            "the answer is over {} KiB: aggregate the query into one series",
            ANSWER_MAX / 1024
        )));
    }
    let body: Value = serde_json::from_slice(&answer.body).map_err(|_| {
        FetchError::source(format!(
            "answered HTTP {} without Prometheus JSON: is this the Prometheus base URL?",
            answer.status
        ))
    })?;
    if body["status"] != "success" {
        let kind = body["errorType"].as_str().unwrap_or("error");
        let text: String = body["error"]
            .as_str()
            .unwrap_or("no reason given")
            .chars()
            .take(300)
            .collect();
        // bad_data: the query itself; the rest (auth, timeouts, internal) is the source's.
        let message = format!(
            "Prometheus answered HTTP {} ({kind}): {text}",
            answer.status
        );
        return Err(if kind == "bad_data" {
            FetchError::query(message)
        } else {
            FetchError::source(message)
        });
    }
    let result = body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match result.len() {
        0 => return Ok(Answer::default()),
        1 => {}
        n => {
            return Err(FetchError::query(format!(
                "the query returned {n} series: aggregate them into one (e.g. sum(...))"
            )))
        }
    }
    let series: Vec<(i64, f64)> = result[0]["values"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|point| {
                    let at = point[0].as_f64()? as i64;
                    let value: f64 = point[1].as_str()?.parse().ok()?;
                    value.is_finite().then_some((at, value))
                })
                .collect()
        })
        .unwrap_or_default();
    let value = series
        .last()
        .filter(|(at, _)| *at >= end - STEP_SECONDS)
        .map(|(_, v)| *v);
    Ok(Answer { value, series })
}

/// Runs the query once as a save would: its problem, named by field.
async fn trial(
    guard: &SsrfGuard,
    source: &str,
    authorization: Option<&str>,
    query: &str,
) -> ApiResult<Answer> {
    fetch(guard, source, authorization, query, Utc::now())
        .await
        .map_err(|e| ApiError::field(e.field, e.message))
}

pub async fn create(
    state: &AppState,
    tenant_id: Uuid,
    input: &CustomMetricInput,
) -> ApiResult<CustomMetric> {
    problems_to_result(input_problems(input, &state.delivery_guard))?;
    let (name, source) = (input.name.trim(), input.source_url.trim());
    let authorization = input.authorization.as_deref().map(str::trim);
    let answer = trial(&state.delivery_guard, source, authorization, &input.query).await?;
    let mut tx = state.db.begin().await?;
    crate::accounts::limits::reserve(
        &mut tx,
        tenant_id,
        crate::accounts::limits::Bounded::CustomMetrics,
        1,
    )
    .await?;
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO custom_metrics (id, tenant_id, name, query, unit, source_url, auth_header, \
           decimals, refresh_seconds, position, value, series, fetched_at, next_fetch_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now(), \
           now() + make_interval(secs => $9)) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(name)
    .bind(input.query.trim())
    .bind(input.unit.trim())
    .bind(source)
    .bind(authorization)
    .bind(input.decimals)
    .bind(input.refresh_seconds)
    .bind(input.position)
    .bind(answer.value)
    .bind(sqlx::types::Json(&answer.series))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| write_error(e, name))?;
    tx.commit().await?;
    Ok(from_row(row))
}

pub async fn list(db: &PgPool, tenant_id: Uuid) -> ApiResult<Vec<CustomMetric>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM custom_metrics WHERE tenant_id = $1 ORDER BY position, name"
    ))
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<CustomMetric> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM custom_metrics WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(from_row).ok_or(ApiError::NotFound("custom metric"))
}

pub async fn patch(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
    patch: &CustomMetricPatch,
) -> ApiResult<Option<CustomMetric>> {
    let guard = &state.delivery_guard;
    let mut problems: Vec<FieldProblem> = [
        patch
            .name
            .as_deref()
            .and_then(|n| text_problem("name", n, 1, NAME_MAX)),
        patch
            .query
            .as_deref()
            .and_then(|q| text_problem("query", q, 1, QUERY_MAX)),
        patch
            .unit
            .as_deref()
            .and_then(|u| text_problem("unit", u, 0, UNIT_MAX)),
        patch
            .source_url
            .as_deref()
            .and_then(|u| source_problem(u.trim(), guard)),
        patch
            .authorization
            .as_ref()
            .and_then(|a| a.as_deref())
            .and_then(authorization_problem),
    ]
    .into_iter()
    .flatten()
    .collect();
    problems.extend(number_problems(
        patch.decimals.unwrap_or(2),
        patch.refresh_seconds.unwrap_or(60),
    ));
    problems_to_result(problems)?;
    // What is queried after the change: tried once when the query, source or header changes.
    let stored: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT query, source_url, auth_header FROM custom_metrics WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    let Some((query, source, authorization)) = stored else {
        return Err(ApiError::NotFound("custom metric"));
    };
    let answer =
        if patch.query.is_some() || patch.source_url.is_some() || patch.authorization.is_some() {
            let query = patch.query.as_deref().unwrap_or(&query);
            let source = patch.source_url.as_deref().unwrap_or(&source).trim();
            let authorization = match &patch.authorization {
                Some(a) => a.as_deref().map(str::trim),
                None => authorization.as_deref(),
            };
            Some(trial(guard, source, authorization, query).await?)
        } else {
            None
        };
    let name = patch.name.as_deref().map(str::trim);
    let row: Option<Row> = sqlx::query_as(&format!(
        "UPDATE custom_metrics SET name = coalesce($4, name), query = coalesce($5, query), \
           unit = coalesce($6, unit), source_url = coalesce($7, source_url), \
           auth_header = CASE WHEN $8 THEN $9 ELSE auth_header END, \
           decimals = coalesce($10, decimals), refresh_seconds = coalesce($11, refresh_seconds), \
           position = coalesce($12, position), \
           value = CASE WHEN $13 THEN $14 ELSE value END, \
           series = CASE WHEN $13 THEN $15 ELSE series END, \
           fetched_at = CASE WHEN $13 THEN now() ELSE fetched_at END, \
           error = CASE WHEN $13 THEN NULL ELSE error END, \
           version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3) RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .bind(name)
    .bind(patch.query.as_deref().map(str::trim))
    .bind(patch.unit.as_deref().map(str::trim))
    .bind(patch.source_url.as_deref().map(str::trim))
    .bind(patch.authorization.is_some())
    .bind(
        patch
            .authorization
            .clone()
            .flatten()
            .map(|a| a.trim().to_owned()),
    )
    .bind(patch.decimals)
    .bind(patch.refresh_seconds)
    .bind(patch.position)
    .bind(answer.is_some())
    .bind(answer.as_ref().and_then(|a| a.value))
    .bind(sqlx::types::Json(
        answer
            .as_ref()
            .map(|a| a.series.clone())
            .unwrap_or_default(),
    ))
    .fetch_optional(&state.db)
    .await
    .map_err(|e| write_error(e, name.unwrap_or_default()))?;
    Ok(row.map(from_row))
}

pub async fn delete(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "DELETE FROM custom_metrics WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A due metric, claimed for one fetch.
struct Due {
    id: Uuid,
    tenant_id: Uuid,
    query: String,
    source: String,
    authorization: Option<String>,
    refresh_seconds: i32,
}

/// Fetches every due metric once (claimed with a 30 s lease and `SKIP LOCKED`, so app servers
/// sharing the database fetch each once), at most [`CONCURRENCY`] at a time and [`PER_TENANT`]
/// per tenant; returns how many were fetched.
pub async fn fetch_due(state: &AppState) -> ApiResult<usize> {
    type Claimed = (Uuid, Uuid, String, String, Option<String>, i32);
    let claimed: Vec<Claimed> = sqlx::query_as(
        "UPDATE custom_metrics SET claimed_until = now() + interval '30 seconds' \
         WHERE id IN (SELECT id FROM custom_metrics \
                      WHERE next_fetch_at <= now() AND (claimed_until IS NULL OR claimed_until < now()) \
                      ORDER BY next_fetch_at LIMIT 200 FOR UPDATE SKIP LOCKED) \
         RETURNING id, tenant_id, query, source_url, auth_header, refresh_seconds",
    )
    .fetch_all(&state.db)
    .await?;
    let due: Vec<Due> = claimed
        .into_iter()
        .map(
            |(id, tenant_id, query, source, authorization, refresh_seconds)| Due {
                id,
                tenant_id,
                query,
                source,
                authorization,
                refresh_seconds,
            },
        )
        .collect();
    let count = due.len();
    let mut per_tenant: HashMap<Uuid, Arc<tokio::sync::Semaphore>> = HashMap::new();
    let jobs: Vec<_> = due
        .into_iter()
        .map(|d| {
            let slot = per_tenant
                .entry(d.tenant_id)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(PER_TENANT)))
                .clone();
            (d, slot)
        })
        .collect();
    futures::stream::iter(jobs)
        .for_each_concurrent(CONCURRENCY, |(d, slot)| async move {
            let Ok(_slot) = slot.acquire().await else {
                return;
            };
            let outcome = fetch(
                &state.delivery_guard,
                &d.source,
                d.authorization.as_deref(),
                &d.query,
                Utc::now(),
            )
            .await;
            state
                .metrics
                .record_custom_metric_fetch(if outcome.is_ok() { "ok" } else { "failed" });
            if let Err(e) = record(&state.db, &d, outcome).await {
                tracing::warn!(metric = %d.id, error = %e, "a custom metric's answer was not stored");
            }
        })
        .await;
    Ok(count)
}

async fn record(db: &PgPool, due: &Due, outcome: Result<Answer, FetchError>) -> sqlx::Result<()> {
    match outcome {
        Ok(answer) => sqlx::query(
            "UPDATE custom_metrics SET value = $2, series = $3, fetched_at = now(), error = NULL, \
               next_fetch_at = now() + make_interval(secs => $4), claimed_until = NULL \
             WHERE id = $1",
        )
        .bind(due.id)
        .bind(answer.value)
        .bind(sqlx::types::Json(answer.series))
        .bind(f64::from(due.refresh_seconds)),
        Err(e) => sqlx::query(
            "UPDATE custom_metrics SET error = $2, \
               next_fetch_at = now() + make_interval(secs => $3), claimed_until = NULL \
             WHERE id = $1",
        )
        .bind(due.id)
        .bind(format!("{}: {}", e.field, e.message))
        .bind(f64::from(due.refresh_seconds)),
    }
    .execute(db)
    .await
    .map(|_| ())
}

/// Fetches what is due every 5 s, as long as the process runs.
pub async fn run_fetcher(state: AppState) {
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        match fetch_due(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(metrics = n, "custom metrics fetched"),
            Err(e) => tracing::warn!(error = %e, "custom metrics not fetched"),
        }
    }
}

/// A metric as the public page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicMetric {
    pub name: String,
    pub unit: String,
    pub decimals: i16,
    pub value: Option<f64>,
    pub series: Vec<(i64, f64)>,
    pub fetched_at: Option<DateTime<Utc>>,
}

/// The tenant's metrics for its public page, in page order (never the query, source or header).
pub async fn public(db: &PgPool, tenant_id: Uuid) -> sqlx::Result<Vec<PublicMetric>> {
    type PublicRow = (
        String,
        String,
        i16,
        Option<f64>,
        sqlx::types::Json<Vec<(i64, f64)>>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<PublicRow> = sqlx::query_as(
        "SELECT name, unit, decimals, value, series, fetched_at FROM custom_metrics \
         WHERE tenant_id = $1 ORDER BY position, name",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, unit, decimals, value, series, fetched_at)| PublicMetric {
                name,
                unit,
                decimals,
                value,
                series: series.0,
                fetched_at,
            },
        )
        .collect())
}
