//! One checker run: fetch the plan for a region and shard, probe every monitor with bounded
//! concurrency, store every attempt in one idempotent batch, post failures and changes at once.
//!
//! Generic over where the plan comes from and where results go, so it runs the same in the Lambda,
//! in the local runner and in unit tests.

use crate::plan::{CheckEvent, FastPathReport, PlannedCheck, ReportedResult, WorkPlan};
use crate::probe::{CheckOutcome, CheckStatus, Prober};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use statuspage_clickhouse::{Analytics, CheckRow, STATUS_DEGRADED, STATUS_DOWN, STATUS_UP};
use std::future::Future;
use std::time::Instant;
use uuid::Uuid;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub trait PlanSource: Send + Sync {
    fn work_plan(
        &self,
        event: &CheckEvent,
    ) -> impl Future<Output = Result<WorkPlan, BoxError>> + Send;
}

pub trait ResultStore: Send + Sync {
    /// Stores a batch; the same `batch_token` twice must store it once.
    fn store(
        &self,
        rows: &[CheckRow],
        batch_token: &str,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

pub trait FastPath: Send + Sync {
    fn report(&self, report: &FastPathReport) -> impl Future<Output = Result<(), BoxError>> + Send;
}

impl ResultStore for Analytics {
    async fn store(&self, rows: &[CheckRow], batch_token: &str) -> Result<(), BoxError> {
        Ok(self.insert_checks(rows, batch_token).await?)
    }
}

/// Retries with backoff; a batch ClickHouse still refuses waits in the writer's spool (when one is
/// configured) and counts as stored: it is replayed, with its token, once ClickHouse answers.
impl ResultStore for statuspage_clickhouse::Writer {
    async fn store(&self, rows: &[CheckRow], batch_token: &str) -> Result<(), BoxError> {
        self.write(rows, batch_token).await?;
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub concurrency: usize,
    pub cold_start: bool,
    pub run_id: Uuid,
    /// Same token for a retried invocation, so its batch is not counted twice.
    pub batch_token: String,
}

impl RunOptions {
    pub fn new(run_id: Uuid, batch_token: impl Into<String>) -> Self {
        Self {
            concurrency: 64,
            cold_start: false,
            run_id,
            batch_token: batch_token.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub region: String,
    pub shard: u32,
    pub run_id: Uuid,
    pub checks: usize,
    pub up: usize,
    pub degraded: usize,
    pub down: usize,
    /// Rows stored: one per attempt, so at least `checks`.
    pub stored: usize,
    /// Retries made (attempts beyond the first).
    #[serde(default)]
    pub retries: usize,
    pub reported: usize,
    pub duration_ms: u64,
    /// Sink failures that did not stop the run (e.g. the fast path was unreachable).
    pub errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("fetching the work plan for region {region}: {source}")]
    Plan { region: String, source: BoxError },
    #[error("storing {rows} results for region {region}: {source}")]
    Store {
        region: String,
        rows: usize,
        source: BoxError,
    },
}

pub async fn run_checks<P, S, F>(
    event: &CheckEvent,
    prober: &Prober,
    plan_source: &P,
    store: &S,
    fast_path: &F,
    options: &RunOptions,
) -> Result<RunSummary, RunError>
where
    P: PlanSource,
    S: ResultStore,
    F: FastPath,
{
    let started = Instant::now();
    let plan = plan_source
        .work_plan(event)
        .await
        .map_err(|source| RunError::Plan {
            region: event.region.clone(),
            source,
        })?;
    // Owned checks: a stream over borrowed ones trips the compiler's Send inference in spawned tasks.
    let results: Vec<(PlannedCheck, Vec<CheckOutcome>)> = futures::stream::iter(plan.checks)
        .map(|check| async move {
            let attempts = prober.check_with_retries(&check.spec).await;
            (check, attempts)
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;

    let mut summary = RunSummary {
        region: event.region.clone(),
        shard: event.shard,
        run_id: options.run_id,
        checks: results.len(),
        ..RunSummary::default()
    };
    let mut rows = Vec::with_capacity(results.len());
    let mut reported = Vec::new();
    for (check, attempts) in &results {
        // Every attempt is its own row; the check's outcome is the last attempt.
        for outcome in attempts {
            let checked_at = outcome.started_at.unwrap_or_else(Utc::now);
            rows.push(check_row(
                check,
                &event.region,
                checked_at,
                outcome,
                options,
            ));
        }
        let Some(outcome) = attempts.last() else {
            continue;
        };
        summary.retries += attempts.len() - 1;
        let checked_at = outcome.started_at.unwrap_or_else(Utc::now);
        match outcome.status {
            CheckStatus::Up => summary.up += 1,
            CheckStatus::Degraded => summary.degraded += 1,
            CheckStatus::Down => summary.down += 1,
        }
        if outcome.status != CheckStatus::Up || check.last_status != Some(outcome.status) {
            reported.push(ReportedResult {
                monitor_id: check.monitor_id,
                tenant_id: check.tenant_id,
                status: outcome.status,
                checked_at,
                total_us: outcome.timings.total_us,
                error: outcome.error.clone(),
            });
        }
    }

    let stored = store.store(&rows, &options.batch_token).await;
    if !reported.is_empty() {
        let report = FastPathReport {
            region: event.region.clone(),
            run_id: options.run_id,
            results: reported,
        };
        match fast_path.report(&report).await {
            Ok(()) => summary.reported = report.results.len(),
            Err(e) => {
                tracing::warn!(region = %event.region, error = %e, "fast-path report failed");
                summary.errors.push(format!("fast path: {e}"));
            }
        }
    }
    stored.map_err(|source| RunError::Store {
        region: event.region.clone(),
        rows: rows.len(),
        source,
    })?;
    summary.stored = rows.len();
    summary.duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        region = %summary.region, shard = summary.shard, checks = summary.checks, up = summary.up,
        degraded = summary.degraded, down = summary.down, duration_ms = summary.duration_ms,
        "checker run finished"
    );
    Ok(summary)
}

fn check_row(
    check: &PlannedCheck,
    region: &str,
    checked_at: DateTime<Utc>,
    outcome: &CheckOutcome,
    options: &RunOptions,
) -> CheckRow {
    let t = &outcome.timings;
    CheckRow {
        tenant_id: check.tenant_id,
        monitor_id: check.monitor_id,
        region: region.to_owned(),
        checked_at: checked_at.timestamp_micros(),
        run_id: options.run_id,
        attempt: outcome.attempt,
        status: match outcome.status {
            CheckStatus::Up => STATUS_UP,
            CheckStatus::Degraded => STATUS_DEGRADED,
            CheckStatus::Down => STATUS_DOWN,
        },
        status_code: outcome.status_code.unwrap_or(0),
        dns_us: t.dns_us,
        tcp_connect_us: t.tcp_connect_us,
        tls_handshake_us: t.tls_handshake_us,
        ttfb_us: t.ttfb_us,
        transfer_us: t.transfer_us,
        total_us: t.total_us,
        resolved_ip: outcome
            .resolved_ip
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        http_version: outcome.http_version.clone().unwrap_or_default(),
        tls_version: outcome.tls_version.clone().unwrap_or_default(),
        tls_cipher: outcome.tls_cipher.clone().unwrap_or_default(),
        cert_expires_at: outcome
            .cert_expires_at
            .and_then(|at| u32::try_from(at.timestamp()).ok()),
        response_bytes: outcome.response_bytes,
        redirects: outcome.redirects,
        cold_start: options.cold_start,
        error: outcome.error.clone().unwrap_or_default(),
    }
}
