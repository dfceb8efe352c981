//! One checker run: fetch the plan for a region and shard, probe every monitor with bounded
//! concurrency, and store and report results as checks finish.
//!
//! A run has a deadline (the Lambda's, less a margin; the local runner's period). Finished
//! attempts are stored in small batches (at most [`MAX_BATCH_ROWS`] rows, at most
//! [`RESULT_LINGER`] after the first of them finished) and failures and changes go to the fast
//! path in the same groups, so a slow check delays nobody else's results. A check still running
//! at the deadline is stopped and recorded as a down attempt with a timeout error, not lost.
//! Probe slots are shared fairly: checks start round-robin by tenant, and one tenant holds at
//! most a quarter of them.
//!
//! Generic over where the plan comes from and where results go, so it runs the same in the Lambda,
//! in the local runner and in unit tests.

use crate::plan::{CheckEvent, FastPathReport, PlannedCheck, ReportedResult, WorkPlan};
use crate::probe::{Attempted, CheckOutcome, CheckStatus, Prober};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use statuspage_clickhouse::{Analytics, CheckRow, STATUS_DEGRADED, STATUS_DOWN, STATUS_UP};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use uuid::Uuid;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A run's deadline when its caller sets none: a check due at the end of the 60 s tick still
/// gets [`MIN_RUN_DEADLINE`].
pub const DEFAULT_RUN_DEADLINE: Duration = Duration::from_secs(60 + 45);
/// Time kept back from the Lambda's own deadline to store and report what the run found.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// The shortest deadline a run gets: every check the API accepts
/// ([`MAX_CHECK_BUDGET_MS`](crate::spec::MAX_CHECK_BUDGET_MS)) fits, with the margin.
pub const MIN_RUN_DEADLINE: Duration = Duration::from_secs(45);
/// How long finished results wait for others to share their batch.
pub const RESULT_LINGER: Duration = Duration::from_secs(1);
/// Most rows in one stored batch.
pub const MAX_BATCH_ROWS: usize = 1000;

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

    /// Batches stored locally while ClickHouse refuses them (a writer's spool); `None`: this
    /// store keeps none.
    fn backlog(&self) -> Option<u64> {
        None
    }
}

pub trait FastPath: Send + Sync {
    fn report(&self, report: &FastPathReport) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// The run's summary once it is over, for the platform's own metrics (the API's
    /// `/metrics`). A failure is logged and never fails the run.
    fn finished(&self, _summary: &RunSummary) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }
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

    fn backlog(&self) -> Option<u64> {
        Some(self.pending_batches() as u64)
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub concurrency: usize,
    pub cold_start: bool,
    pub run_id: Uuid,
    /// Same token for a retried invocation: each batch's token is derived from it and from the
    /// attempts in the batch, so a batch stored twice is counted once.
    pub batch_token: String,
    /// When checks still running are cut off and recorded as timeouts; `None`: the run's start
    /// plus [`DEFAULT_RUN_DEADLINE`].
    pub deadline: Option<Instant>,
    /// When the run's checks were due (the tick); `None`: the run's start.
    pub scheduled_at: Option<DateTime<Utc>>,
}

impl RunOptions {
    pub fn new(run_id: Uuid, batch_token: impl Into<String>) -> Self {
        Self {
            concurrency: 64,
            cold_start: false,
            run_id,
            batch_token: batch_token.into(),
            deadline: None,
            scheduled_at: None,
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
    /// Checks the deadline cut off, recorded as down with a timeout (counted in `down` too).
    #[serde(default)]
    pub cut_off: usize,
    pub reported: usize,
    pub duration_ms: u64,
    /// Sink failures that did not stop the run (e.g. the fast path was unreachable).
    pub errors: Vec<String>,
    /// The phase timings of every check's final attempt, bucketed.
    #[serde(default)]
    pub phases: PhaseHistograms,
    /// Batches waiting in the writer's spool when the run ended (`None`: no spool).
    #[serde(default)]
    pub spooled_batches: Option<u64>,
}

/// Upper bounds (µs) of the buckets a run counts phase timings into; a last bucket holds what
/// is above them all. The API exposes them as Prometheus histograms, in seconds.
pub const PHASE_BUCKETS_US: [u32; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// One phase's timings in a run: a count per bucket of [`PHASE_BUCKETS_US`] (and one above
/// them) and their sum. A phase a check did not go through (TLS of plain HTTP, DNS of an IP
/// target) is not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseHistogram {
    pub counts: Vec<u64>,
    pub sum_us: u64,
}

impl PhaseHistogram {
    pub fn observe(&mut self, us: u32) {
        if self.counts.len() != PHASE_BUCKETS_US.len() + 1 {
            self.counts = vec![0; PHASE_BUCKETS_US.len() + 1];
        }
        let bucket = PHASE_BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(PHASE_BUCKETS_US.len());
        self.counts[bucket] += 1;
        self.sum_us += u64::from(us);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Empty, or one count per bucket: what the API accepts.
    pub fn well_formed(&self) -> bool {
        self.counts.is_empty() || self.counts.len() == PHASE_BUCKETS_US.len() + 1
    }
}

/// The phases of [`crate::probe::PhaseTimings`], each bucketed over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseHistograms {
    #[serde(default)]
    pub dns: PhaseHistogram,
    #[serde(default)]
    pub tcp_connect: PhaseHistogram,
    #[serde(default)]
    pub tls_handshake: PhaseHistogram,
    #[serde(default)]
    pub ttfb: PhaseHistogram,
    #[serde(default)]
    pub transfer: PhaseHistogram,
    #[serde(default)]
    pub total: PhaseHistogram,
}

impl PhaseHistograms {
    fn observe(&mut self, timings: &crate::probe::PhaseTimings) {
        for (histogram, us) in [
            (&mut self.dns, timings.dns_us),
            (&mut self.tcp_connect, timings.tcp_connect_us),
            (&mut self.tls_handshake, timings.tls_handshake_us),
            (&mut self.ttfb, timings.ttfb_us),
            (&mut self.transfer, timings.transfer_us),
        ] {
            if us > 0 {
                histogram.observe(us);
            }
        }
        self.total.observe(timings.total_us);
    }

    /// Each phase by its name (the `phase` label of the API's metrics).
    pub fn by_name(&self) -> [(&'static str, &PhaseHistogram); 6] {
        [
            ("dns", &self.dns),
            ("tcp_connect", &self.tcp_connect),
            ("tls_handshake", &self.tls_handshake),
            ("ttfb", &self.ttfb),
            ("transfer", &self.transfer),
            ("total", &self.total),
        ]
    }
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

/// What a probe task tells the collector.
enum Progress {
    /// The check got a probe slot and its first attempt begins.
    Started(usize),
    Attempt(usize, Attempted),
}

/// Where one planned check stands, as the collector knows it.
#[derive(Default)]
struct CheckState {
    /// Attempts finished.
    attempts: u8,
    /// Since when the check has been busy (start, or end of its last attempt).
    busy_since: Option<(DateTime<Utc>, Instant)>,
    done: bool,
}

/// One group of results on its way to the store and the fast path.
struct Batch {
    rows: Vec<CheckRow>,
    reported: Vec<ReportedResult>,
    /// [`estimated_size`] of `reported`, kept as results are added.
    reported_bytes: usize,
}

/// About how large a fast-path report may grow before it is sent (health documents make
/// results large; the API reads a report of up to 2 MiB).
pub const MAX_REPORT_BYTES: usize = 512 * 1024;

/// About how large a reported result's JSON is: what health documents add dominates.
fn estimated_size(result: &ReportedResult) -> usize {
    let health = result.detail.as_ref().map_or(0, |d| {
        d.health_document.as_ref().map_or(0, String::len)
            + d.health.as_ref().map_or(0, |h| {
                h.dependencies.len() * (crate::health::NAME_MAX + crate::health::OUTPUT_MAX + 64)
            })
    });
    512 + health
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
    let deadline = options.deadline.unwrap_or(started + DEFAULT_RUN_DEADLINE);
    // When the run's checks were due: every attempt of a check is stamped with it.
    let scheduled_at = options.scheduled_at.unwrap_or_else(Utc::now);
    let plan = plan_source
        .work_plan(event)
        .await
        .map_err(|source| RunError::Plan {
            region: event.region.clone(),
            source,
        })?;
    let checks = fair_order(plan.checks);
    let mut summary = RunSummary {
        region: event.region.clone(),
        shard: event.shard,
        run_id: options.run_id,
        checks: checks.len(),
        ..RunSummary::default()
    };

    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<Progress>();
    let (store_tx, mut store_rx) = mpsc::unbounded_channel::<Vec<CheckRow>>();
    let (report_tx, mut report_rx) = mpsc::unbounded_channel::<Vec<ReportedResult>>();

    // Probes: every check waits for a slot of its tenant and one of the run, then sends each
    // attempt as it ends. Everything still running at the deadline is dropped (connections
    // closed); the collector records those checks.
    let concurrency = options.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let per_tenant = (concurrency / 4).max(1);
    let mut tenant_slots: HashMap<Uuid, Arc<Semaphore>> = HashMap::new();
    let tasks: futures::stream::FuturesUnordered<_> = checks
        .iter()
        .enumerate()
        .map(|(index, check)| {
            let tenant = tenant_slots
                .entry(check.tenant_id)
                .or_insert_with(|| Arc::new(Semaphore::new(per_tenant)))
                .clone();
            let (slots, tx, spec) = (slots.clone(), progress_tx.clone(), check.spec.clone());
            let due_in = check
                .due_at
                .and_then(|at| (at - Utc::now()).to_std().ok())
                .unwrap_or_default();
            async move {
                // A check due later in the tick waits for its instant, holding no slot.
                if !due_in.is_zero() {
                    tokio::time::sleep(due_in).await;
                }
                let Ok(_tenant) = tenant.acquire_owned().await else {
                    return;
                };
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                let _ = tx.send(Progress::Started(index));
                let mut attempts = std::pin::pin!(prober.attempts(&spec));
                while let Some(attempted) = attempts.next().await {
                    let _ = tx.send(Progress::Attempt(index, attempted));
                }
            }
        })
        .collect();
    drop(progress_tx);
    let probes = async move {
        let all = tasks.collect::<Vec<()>>();
        tokio::select! {
            _ = all => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    };

    // Collector: turns progress into rows, groups them, and hands groups to the two sinks.
    let collect = async {
        let mut states: Vec<CheckState> = checks.iter().map(|_| CheckState::default()).collect();
        let mut batch = Batch {
            rows: Vec::new(),
            reported: Vec::new(),
            reported_bytes: 0,
        };
        let mut flush_at: Option<tokio::time::Instant> = None;
        let flush = |batch: &mut Batch| {
            if !batch.rows.is_empty() {
                let _ = store_tx.send(std::mem::take(&mut batch.rows));
            }
            if !batch.reported.is_empty() {
                let _ = report_tx.send(std::mem::take(&mut batch.reported));
            }
            batch.reported_bytes = 0;
        };
        let mut tally = RunSummary::default();
        loop {
            let linger = async {
                match flush_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                progress = progress_rx.recv() => match progress {
                    None => break,
                    Some(Progress::Started(index)) => {
                        states[index].busy_since = Some((Utc::now(), Instant::now()));
                    }
                    Some(Progress::Attempt(index, Attempted { outcome, last })) => {
                        let check = &checks[index];
                        let state = &mut states[index];
                        state.attempts = outcome.attempt;
                        state.busy_since = Some((Utc::now(), Instant::now()));
                        state.done = last;
                        record(&mut batch, &mut tally, check, &event.region, &outcome, last, check.due_at.unwrap_or(scheduled_at), options);
                        flush_at.get_or_insert_with(|| tokio::time::Instant::now() + RESULT_LINGER);
                        if batch.rows.len() >= MAX_BATCH_ROWS || batch.reported_bytes >= MAX_REPORT_BYTES {
                            flush(&mut batch);
                            flush_at = None;
                        }
                    }
                },
                _ = linger => {
                    flush(&mut batch);
                    flush_at = None;
                }
            }
        }
        // The probes are over: whatever did not finish was cut off by the deadline.
        let run_ms = started.elapsed().as_millis();
        for (check, state) in checks.iter().zip(&states).filter(|(_, s)| !s.done) {
            let (started_at, error) = match state.busy_since {
                Some((at, since)) => (
                    at,
                    format!(
                        "timed out after {} ms: the run's deadline ({run_ms} ms after its start) cut the check off",
                        since.elapsed().as_millis()
                    ),
                ),
                None => (
                    Utc::now(),
                    format!(
                        "timed out: the run's deadline ({run_ms} ms after its start) passed before the check could start"
                    ),
                ),
            };
            let total_us = state
                .busy_since
                .map(|(_, since)| since.elapsed().as_micros().min(u128::from(u32::MAX)) as u32)
                .unwrap_or(0);
            let outcome = CheckOutcome::cut_off(state.attempts + 1, started_at, total_us, error);
            record(
                &mut batch,
                &mut tally,
                check,
                &event.region,
                &outcome,
                true,
                check.due_at.unwrap_or(scheduled_at),
                options,
            );
            tally.cut_off += 1;
        }
        flush(&mut batch);
        drop((store_tx, report_tx));
        tally
    };

    // Sinks: each its own queue, so a slow ClickHouse never holds back the fast path (and the
    // other way round).
    let store_all = async {
        let (mut stored, mut failed, mut first_error) = (0usize, 0usize, None);
        while let Some(rows) = store_rx.recv().await {
            let token = batch_token(&options.batch_token, &rows);
            match store.store(&rows, &token).await {
                Ok(()) => stored += rows.len(),
                Err(e) => {
                    tracing::warn!(region = %event.region, rows = rows.len(), error = %e, "storing a result batch failed");
                    failed += rows.len();
                    first_error.get_or_insert(e);
                }
            }
        }
        (stored, failed, first_error)
    };
    let report_all = async {
        let (mut reported, mut errors) = (0usize, Vec::new());
        while let Some(results) = report_rx.recv().await {
            let report = FastPathReport {
                region: event.region.clone(),
                run_id: options.run_id,
                results,
            };
            match fast_path.report(&report).await {
                Ok(()) => reported += report.results.len(),
                Err(e) => {
                    tracing::warn!(region = %event.region, error = %e, "fast-path report failed");
                    errors.push(format!("fast path: {e}"));
                }
            }
        }
        (reported, errors)
    };

    let ((), tally, (stored, failed, store_error), (reported, errors)) =
        tokio::join!(probes, collect, store_all, report_all);
    summary.up = tally.up;
    summary.degraded = tally.degraded;
    summary.down = tally.down;
    summary.retries = tally.retries;
    summary.cut_off = tally.cut_off;
    summary.stored = stored;
    summary.reported = reported;
    summary.errors = errors;
    summary.phases = tally.phases;
    summary.spooled_batches = store.backlog();
    summary.duration_ms = started.elapsed().as_millis() as u64;
    if let Err(e) = fast_path.finished(&summary).await {
        tracing::warn!(region = %event.region, error = %e, "the run's summary was not reported");
    }
    if let Some(source) = store_error {
        return Err(RunError::Store {
            region: event.region.clone(),
            rows: failed,
            source,
        });
    }
    tracing::info!(
        region = %summary.region, shard = summary.shard, checks = summary.checks, up = summary.up,
        degraded = summary.degraded, down = summary.down, cut_off = summary.cut_off,
        duration_ms = summary.duration_ms, "checker run finished"
    );
    Ok(summary)
}

/// Round-robin by tenant (in plan order within a tenant), so every tenant's first checks start
/// before anyone's hundredth.
fn fair_order(checks: Vec<PlannedCheck>) -> Vec<PlannedCheck> {
    let mut queues: Vec<std::collections::VecDeque<PlannedCheck>> = Vec::new();
    let mut by_tenant: HashMap<Uuid, usize> = HashMap::new();
    let total = checks.len();
    for check in checks {
        let i = *by_tenant.entry(check.tenant_id).or_insert_with(|| {
            queues.push(std::collections::VecDeque::new());
            queues.len() - 1
        });
        queues[i].push_back(check);
    }
    let mut ordered = Vec::with_capacity(total);
    while ordered.len() < total {
        for queue in &mut queues {
            if let Some(check) = queue.pop_front() {
                ordered.push(check);
            }
        }
    }
    // By instant (at once first); the sort is stable, so each instant stays round-robin.
    ordered.sort_by_key(|c| c.due_at);
    ordered
}

/// The batch's token: the run's, and a digest of which attempts the batch holds, so the same
/// batch written again (spool replay, retried invocation) is recognised and a different one is
/// not mistaken for it.
fn batch_token(run_token: &str, rows: &[CheckRow]) -> String {
    // A monitor due twice in one run has two checks: their instants keep their batches apart.
    let mut keys: Vec<(Uuid, i64, u8)> = rows
        .iter()
        .map(|r| (r.monitor_id, r.scheduled_at, r.attempt))
        .collect();
    keys.sort_unstable();
    let mut digest = Sha256::new();
    for (monitor, scheduled_at, attempt) in keys {
        digest.update(monitor.as_bytes());
        digest.update(scheduled_at.to_be_bytes());
        digest.update([attempt]);
    }
    format!("{run_token}#{}", hex::encode(&digest.finalize()[..12]))
}

/// Adds one attempt to the batch: its row, and for the check's verdict, the tally and (when it
/// is a failure or a change, or the plan asks for every result) the fast-path entry.
#[allow(clippy::too_many_arguments)]
fn record(
    batch: &mut Batch,
    tally: &mut RunSummary,
    check: &PlannedCheck,
    region: &str,
    outcome: &CheckOutcome,
    last: bool,
    scheduled_at: DateTime<Utc>,
    options: &RunOptions,
) {
    let checked_at = outcome.started_at.unwrap_or_else(Utc::now);
    batch.rows.push(check_row(
        check,
        region,
        checked_at,
        scheduled_at,
        outcome,
        last,
        options,
    ));
    if !last {
        return;
    }
    tally.retries += usize::from(outcome.attempt.saturating_sub(1));
    tally.phases.observe(&outcome.timings);
    match outcome.status {
        CheckStatus::Up => tally.up += 1,
        CheckStatus::Degraded => tally.degraded += 1,
        CheckStatus::Down => tally.down += 1,
    }
    if check.report_always
        || outcome.status != CheckStatus::Up
        || check.last_status != Some(outcome.status)
    {
        let result = ReportedResult {
            monitor_id: check.monitor_id,
            tenant_id: check.tenant_id,
            status: outcome.status,
            checked_at,
            total_us: outcome.timings.total_us,
            error: outcome.error.clone(),
            failure: outcome.failure,
            detail: Some(crate::plan::ResultDetail::of(outcome)),
        };
        batch.reported_bytes += estimated_size(&result);
        batch.reported.push(result);
    }
}

/// The one place a stored row is built. Every attempt of a check carries when the check was due
/// (its own instant, else the run's; never after the attempt itself); `final_attempt` marks the
/// verdict.
fn check_row(
    check: &PlannedCheck,
    region: &str,
    checked_at: DateTime<Utc>,
    scheduled_at: DateTime<Utc>,
    outcome: &CheckOutcome,
    final_attempt: bool,
    options: &RunOptions,
) -> CheckRow {
    let t = &outcome.timings;
    CheckRow {
        tenant_id: check.tenant_id,
        monitor_id: check.monitor_id,
        region: region.to_owned(),
        checked_at: checked_at.timestamp_micros(),
        scheduled_at: scheduled_at
            .timestamp_micros()
            .min(checked_at.timestamp_micros()),
        run_id: options.run_id,
        attempt: outcome.attempt,
        final_attempt,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{MonitorSpec, TcpSpec};

    fn planned(tenant: Uuid) -> PlannedCheck {
        PlannedCheck {
            monitor_id: Uuid::new_v4(),
            tenant_id: tenant,
            spec: MonitorSpec::Tcp(TcpSpec::new("db.example.com", 5432)),
            last_status: None,
            report_always: false,
            due_at: None,
        }
    }

    #[test]
    fn checks_start_round_robin_by_tenant() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let plan: Vec<PlannedCheck> = [a, a, a, a, b, c, b].into_iter().map(planned).collect();
        let tenants: Vec<Uuid> = fair_order(plan).iter().map(|c| c.tenant_id).collect();
        assert_eq!(tenants, [a, b, c, a, b, a, a]);
    }

    #[test]
    fn batch_tokens_name_the_attempts_in_the_batch() {
        let row = |monitor: Uuid, attempt: u8| {
            let mut row = CheckRow::synthetic(Uuid::nil(), monitor, "eu", 0, STATUS_UP, 1);
            row.attempt = attempt;
            row
        };
        let (m, n) = (Uuid::new_v4(), Uuid::new_v4());
        let one = batch_token("run", &[row(m, 1), row(n, 1)]);
        assert_eq!(
            one,
            batch_token("run", &[row(n, 1), row(m, 1)]),
            "order-free"
        );
        assert_ne!(one, batch_token("run", &[row(m, 1), row(n, 2)]));
        assert_ne!(one, batch_token("other", &[row(m, 1), row(n, 1)]));
        assert!(one.starts_with("run#"));
    }
}
