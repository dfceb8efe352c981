//! The delivery workers every app server runs ([`run_workers`]).
//!
//! A worker claims due rows in one short statement (`FOR UPDATE SKIP LOCKED`, so workers of
//! several app servers never wait for each other nor take the same row) that sets a lease
//! (`claimed_until`) and counts the attempt; it sends outside any transaction, then records
//! what came of it (batched with the other results that arrived meanwhile, one commit for
//! many sends) in a statement that changes a row only while the lease it was sent under still
//! holds (the lease is the fence: a worker whose lease ran out cannot overwrite the row another
//! worker took). A worker killed mid-send leaves rows whose lease simply runs out: they are sent again
//! with the same message id, which receivers deduplicate by. So every committed row is sent at
//! least once, and no row is sent by two workers while a lease holds.
//!
//! Fairness: at most [`DeliveryConfig::per_tenant`] sends per tenant are in flight in one
//! process, and a claim skips tenants at their bound and takes rows round-robin across tenants,
//! so one tenant's slow or black-holed receiver occupies only its own slots.

use super::deliver::{self, Resolved};
use super::WAKE_CHANNEL;
use crate::notify::{Message, Outcome};
use crate::AppState;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use tokio::task::{Id, JoinSet};
use uuid::Uuid;

/// How the workers of one app server deliver. [`DeliveryConfig::from_env`] reads it from
/// `STATUSPAGE_DELIVERY_*` (documented in `.env.example`).
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Sends in flight at once in this process.
    pub concurrency: usize,
    /// Sends in flight at once per tenant in this process.
    pub per_tenant: usize,
    /// How long a claimed row is this worker's. A send is cut off after three quarters of it,
    /// so the result is recorded while the lease still holds.
    pub lease: Duration,
    /// Attempts before a message that keeps failing is parked.
    pub max_attempts: i32,
    /// The first retry's delay; each further one doubles it (with jitter), up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// The longest `Retry-After` honoured; a receiver asking for more is tried after this.
    pub retry_after_max: Duration,
    /// Poll for due rows at least this often (wake-ups by `NOTIFY` come first).
    pub poll: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            per_tenant: 4,
            lease: Duration::from_secs(60),
            max_attempts: 12,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(3600),
            retry_after_max: Duration::from_secs(3600),
            poll: Duration::from_secs(5),
        }
    }
}

impl DeliveryConfig {
    /// The defaults, overridden by `STATUSPAGE_DELIVERY_CONCURRENCY`, `_PER_TENANT`,
    /// `_LEASE_SECS`, `_MAX_ATTEMPTS`, `_BACKOFF_MS`, `_BACKOFF_MAX_SECS`,
    /// `_RETRY_AFTER_MAX_SECS` and `_POLL_MS`. Errors name the variable.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`DeliveryConfig::from_env`] over any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut config = Self::default();
        let number = |name: &str, min: u64, max: u64| -> anyhow::Result<Option<u64>> {
            let Some(value) = get(name).filter(|v| !v.trim().is_empty()) else {
                return Ok(None);
            };
            match value.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => anyhow::bail!(
                    "{name} must be a whole number from {min} to {max}, got {value:?}"
                ),
            }
        };
        if let Some(n) = number("STATUSPAGE_DELIVERY_CONCURRENCY", 1, 4096)? {
            config.concurrency = n as usize;
        }
        if let Some(n) = number("STATUSPAGE_DELIVERY_PER_TENANT", 1, 4096)? {
            config.per_tenant = n as usize;
        }
        if let Some(n) = number("STATUSPAGE_DELIVERY_LEASE_SECS", 2, 3600)? {
            config.lease = Duration::from_secs(n);
        }
        if let Some(n) = number("STATUSPAGE_DELIVERY_MAX_ATTEMPTS", 1, 100)? {
            config.max_attempts = n as i32;
        }
        if let Some(n) = number("STATUSPAGE_DELIVERY_BACKOFF_MS", 10, 3_600_000)? {
            config.backoff_base = Duration::from_millis(n);
        }
        if let Some(n) = number("STATUSPAGE_DELIVERY_BACKOFF_MAX_SECS", 1, 7 * 86400)? {
            config.backoff_max = Duration::from_secs(n);
        }
        if let Some(n) = number("STATUSPAGE_DELIVERY_RETRY_AFTER_MAX_SECS", 1, 86400)? {
            config.retry_after_max = Duration::from_secs(n);
        }
        if let Some(n) = number("STATUSPAGE_DELIVERY_POLL_MS", 50, 600_000)? {
            config.poll = Duration::from_millis(n);
        }
        if config.per_tenant > config.concurrency {
            config.per_tenant = config.concurrency;
        }
        if config.backoff_max < config.backoff_base {
            anyhow::bail!(
                "STATUSPAGE_DELIVERY_BACKOFF_MAX_SECS must not be shorter than STATUSPAGE_DELIVERY_BACKOFF_MS"
            );
        }
        Ok(config)
    }

    /// How long one send may take: three quarters of the lease.
    pub fn send_timeout(&self) -> Duration {
        self.lease.mul_f64(0.75)
    }

    /// The delay before attempt `attempt + 1` after attempt `attempt` (from 1) failed:
    /// `backoff_base · 2^(attempt-1)`, at most `backoff_max`, then a random half of it taken
    /// off (jitter, so receivers coming back are not hit by every retry at once). A receiver's
    /// `Retry-After` wins, up to `retry_after_max`.
    pub fn retry_delay(&self, attempt: i32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.retry_after_max);
        }
        let exp = attempt.clamp(1, 32) as u32 - 1;
        let full = self
            .backoff_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.backoff_max);
        full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

/// The tenant key rows without a tenant (account mail) share.
const NO_TENANT: Uuid = Uuid::nil();

/// One claimed row.
#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    tenant_id: Option<Uuid>,
    channel_id: Option<Uuid>,
    subscriber_id: Option<Uuid>,
    address: Option<String>,
    message: Value,
    /// This attempt's number (counted at claim, so a row that kills its worker every time is
    /// still parked after its attempts).
    attempts: i32,
    /// The lease: also the fence that makes the result count only while it holds.
    claimed_until: DateTime<Utc>,
    channel_kind: Option<String>,
    channel_config: Option<Value>,
    channel_enabled: Option<bool>,
    subscriber_kind: Option<String>,
    subscriber_target: Option<String>,
    subscriber_confirmed: Option<bool>,
}

impl Claimed {
    fn stored(&self) -> deliver::Stored {
        deliver::Stored {
            channel_id: self.channel_id,
            subscriber_id: self.subscriber_id,
            address: self.address.clone(),
            channel: match (
                &self.channel_kind,
                &self.channel_config,
                self.channel_enabled,
            ) {
                (Some(kind), Some(config), Some(enabled)) => {
                    Some((kind.clone(), config.clone(), enabled))
                }
                _ => None,
            },
            subscriber: match (
                &self.subscriber_kind,
                &self.subscriber_target,
                self.subscriber_confirmed,
            ) {
                (Some(kind), Some(target), Some(confirmed)) => {
                    Some((kind.clone(), target.clone(), confirmed))
                }
                _ => None,
            },
        }
    }
}

/// Claims up to `free` due rows, at most `per_tenant - busy` of each tenant, round-robin
/// across tenants (each tenant's oldest first), skipping rows other workers hold.
async fn claim(
    db: &PgPool,
    config: &DeliveryConfig,
    busy: &HashMap<Uuid, usize>,
    free: usize,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let (tenants, counts): (Vec<Uuid>, Vec<i32>) =
        busy.iter().map(|(t, n)| (*t, *n as i32)).unzip();
    // Rows of tenants at their bound are skipped before locking; the rest are locked (a
    // window bounded by `scan`), ranked per tenant, and the first `free` by rank are leased.
    let scan = (free * 2 + config.per_tenant).min(2000) as i64;
    sqlx::query_as(
        "WITH busy AS (SELECT * FROM unnest($1::uuid[], $2::int[]) AS b(tenant, n)), \
         locked AS ( \
             SELECT o.id, coalesce(o.tenant_id, $7) AS tenant, o.tenant_id, o.next_attempt_at, \
                    o.channel_id, o.subscriber_id FROM outbox o \
             WHERE o.state = 'pending' AND o.next_attempt_at <= now() \
               AND (o.claimed_until IS NULL OR o.claimed_until <= now()) \
               AND coalesce(o.tenant_id, $7) NOT IN (SELECT tenant FROM busy WHERE n >= $3) \
             ORDER BY o.next_attempt_at LIMIT $4 \
             FOR UPDATE SKIP LOCKED), \
         ranked AS ( \
             SELECT l.*, \
                    row_number() OVER (PARTITION BY l.tenant ORDER BY l.next_attempt_at, l.id) AS rn \
             FROM locked l), \
         chosen AS ( \
             SELECT r.* FROM ranked r LEFT JOIN busy b ON b.tenant = r.tenant \
             WHERE r.rn <= $3 - coalesce(b.n, 0) \
             ORDER BY r.rn, r.next_attempt_at LIMIT $5) \
         UPDATE outbox o SET claimed_until = now() + make_interval(secs => $6), \
                attempts = o.attempts + 1 \
         FROM chosen c \
         LEFT JOIN notification_channels nc \
             ON nc.id = c.channel_id AND nc.tenant_id IS NOT DISTINCT FROM c.tenant_id \
         LEFT JOIN subscribers s \
             ON s.id = c.subscriber_id AND s.tenant_id IS NOT DISTINCT FROM c.tenant_id \
         WHERE o.id = c.id \
         RETURNING o.id, o.tenant_id, o.channel_id, o.subscriber_id, o.address, o.message, \
                   o.attempts, o.claimed_until, \
                   nc.kind AS channel_kind, nc.config AS channel_config, \
                   nc.enabled AS channel_enabled, \
                   s.kind AS subscriber_kind, s.target AS subscriber_target, \
                   s.confirmed_at IS NOT NULL AS subscriber_confirmed",
    )
    .bind(tenants)
    .bind(counts)
    .bind(config.per_tenant as i32)
    .bind(scan)
    .bind(free as i64)
    .bind(config.lease.as_secs_f64())
    .bind(NO_TENANT)
    .fetch_all(db)
    .await
}

/// When the next row may be due for this worker (not counting tenants at their bound): the
/// earliest `next_attempt_at`, or the end of another worker's lease.
async fn next_due(
    db: &PgPool,
    config: &DeliveryConfig,
    busy: &HashMap<Uuid, usize>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let full: Vec<Uuid> = busy
        .iter()
        .filter(|(_, n)| **n >= config.per_tenant)
        .map(|(t, _)| *t)
        .collect();
    sqlx::query_scalar(
        "SELECT min(greatest(next_attempt_at, coalesce(claimed_until, next_attempt_at))) \
         FROM outbox WHERE state = 'pending' AND coalesce(tenant_id, $2) <> ALL($1::uuid[])",
    )
    .bind(full)
    .bind(NO_TENANT)
    .fetch_one(db)
    .await
}

/// The sends in flight in this process, and how many of them each tenant has.
#[derive(Default)]
struct Inflight {
    tasks: JoinSet<()>,
    tenant_of: HashMap<Id, Uuid>,
    busy: HashMap<Uuid, usize>,
}

impl Inflight {
    fn spawn(
        &mut self,
        state: &AppState,
        config: &DeliveryConfig,
        recorder: &mpsc::Sender<Finished>,
        row: Claimed,
    ) {
        let tenant = row.tenant_id.unwrap_or(NO_TENANT);
        *self.busy.entry(tenant).or_default() += 1;
        let handle = self.tasks.spawn(attempt(
            state.clone(),
            config.clone(),
            row,
            recorder.clone(),
        ));
        self.tenant_of.insert(handle.id(), tenant);
    }

    fn finished(&mut self, done: Result<(Id, ()), tokio::task::JoinError>) {
        let id = match done {
            Ok((id, ())) => id,
            Err(e) => {
                tracing::error!(error = %e, "a delivery task failed");
                e.id()
            }
        };
        if let Some(tenant) = self.tenant_of.remove(&id) {
            if let Some(n) = self.busy.get_mut(&tenant) {
                *n -= 1;
                if *n == 0 {
                    self.busy.remove(&tenant);
                }
            }
        }
    }
}

/// Delivers outbox rows until the task is dropped (the app server aborts it at shutdown; a
/// send cut off then is sent again when its lease runs out). Spawn one per app server; any
/// number of app servers may run it against the same database.
pub async fn run_workers(state: AppState, config: DeliveryConfig) {
    let wake = Arc::new(Notify::new());
    let _listener = AbortOnDrop(tokio::spawn(listen(state.db.clone(), wake.clone())));
    let (recorder, results) = mpsc::channel(RECORD_BATCH * 4);
    let _recorder = AbortOnDrop(tokio::spawn(record_results(
        state.db.clone(),
        results,
        wake.clone(),
    )));
    let mut inflight = Inflight::default();
    tracing::info!(
        concurrency = config.concurrency,
        per_tenant = config.per_tenant,
        lease_secs = config.lease.as_secs_f64(),
        max_attempts = config.max_attempts,
        "delivery workers started"
    );
    // Claims are batched while sends are in flight: after a send ends, the next claim waits
    // until a quarter of the slots are free (one statement for several rows), but a wake-up or
    // a due time claims at once.
    let batch = (config.concurrency / 4).max(1);
    let mut only_finished = false;
    loop {
        while let Some(done) = inflight.tasks.try_join_next_with_id() {
            inflight.finished(done);
        }
        let free = config.concurrency.saturating_sub(inflight.tasks.len());
        let mut wait = config.poll;
        let worth = free > 0 && (!only_finished || free >= batch || inflight.tasks.is_empty());
        only_finished = false;
        if worth {
            match claim(&state.db, &config, &inflight.busy, free).await {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        inflight.spawn(&state, &config, &recorder, row);
                    }
                    continue;
                }
                Ok(_) => match next_due(&state.db, &config, &inflight.busy).await {
                    Ok(Some(at)) => {
                        let until = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                        // A little past the due time: the claim compares with its own `now()`.
                        wait = wait.min(until + Duration::from_millis(5));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the next due delivery failed");
                        wait = wait.min(Duration::from_secs(1));
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "claiming deliveries failed; trying again shortly");
                    wait = wait.min(Duration::from_secs(1));
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            Some(done) = inflight.tasks.join_next_with_id(), if !inflight.tasks.is_empty() => {
                inflight.finished(done);
                only_finished = true;
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wakes the workers when an outbox row is committed. `PgListener` reconnects by itself;
/// notifications sent while it was away are lost, which the poll covers.
async fn listen(db: PgPool, wake: Arc<Notify>) {
    loop {
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN for new deliveries failed; polling meanwhile");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(WAKE_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN for new deliveries failed; polling meanwhile");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        // Rows committed while nobody listened are found by the first claim.
        wake.notify_one();
        loop {
            match listener.recv().await {
                Ok(_) => wake.notify_one(),
                Err(e) => {
                    tracing::warn!(error = %e, "the delivery listener lost PostgreSQL");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

/// What one attempt came to, as the log stores it.
struct Record {
    /// The row's next state: `delivered`, `pending` (a retry) or `parked`.
    state: &'static str,
    /// The attempt's outcome: `delivered`, `retry`, `failed` (permanent) or `parked` (a
    /// retryable failure that used the last attempt).
    outcome: &'static str,
    status: Option<i32>,
    error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
}

impl Record {
    fn of(config: &DeliveryConfig, attempt: i32, outcome: Outcome) -> Self {
        match outcome {
            Outcome::Delivered { status } => Self {
                state: "delivered",
                outcome: "delivered",
                status: Some(i32::from(status)),
                error: None,
                next_attempt_at: None,
            },
            Outcome::Failed { error } => Self {
                state: "parked",
                outcome: "failed",
                status: status_in(&error),
                error: Some(error),
                next_attempt_at: None,
            },
            Outcome::Retry { error, .. } if attempt >= config.max_attempts => Self {
                state: "parked",
                outcome: "parked",
                status: status_in(&error),
                error: Some(format!(
                    "{error} (gave up after {attempt} attempts; POST /api/v1/deliveries/{{id}}/retry sends it again)"
                )),
                next_attempt_at: None,
            },
            Outcome::Retry { error, after } => {
                let delay = config.retry_delay(attempt, after);
                Self {
                    state: "pending",
                    outcome: "retry",
                    status: status_in(&error),
                    error: Some(error),
                    next_attempt_at: Some(
                        Utc::now()
                            + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX),
                    ),
                }
            }
        }
    }
}

/// The HTTP status an error of [`crate::notify::http`] names ("the receiver answered HTTP 503").
fn status_in(error: &str) -> Option<i32> {
    let rest = error.split("answered HTTP ").nth(1)?;
    rest.get(..3)?.parse().ok()
}

/// Resolves, sends and records one claimed row.
async fn attempt(
    state: AppState,
    config: DeliveryConfig,
    row: Claimed,
    recorder: mpsc::Sender<Finished>,
) {
    let started = Instant::now();
    let resolved = deliver::resolve(row.stored());
    let target = match resolved {
        Resolved::Send(target) => target,
        Resolved::Cancel(reason) => {
            if let Err(e) = cancel(&state.db, &row, &reason).await {
                tracing::warn!(outbox = %row.id, error = %e, "cancelling a delivery failed");
            } else {
                tracing::info!(outbox = %row.id, reason, "delivery cancelled");
            }
            return;
        }
        Resolved::Broken(error) => {
            let outcome = Outcome::Failed { error };
            finish(
                &state, &recorder, &config, &row, "unknown", outcome, started,
            )
            .await;
            return;
        }
    };
    let outcome = match serde_json::from_value::<Message>(row.message.clone()) {
        Err(e) => Outcome::Failed {
            error: format!("the stored message cannot be read: {e}"),
        },
        Ok(message) => {
            match tokio::time::timeout(
                config.send_timeout(),
                deliver::send(&state, &target, &message),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retry {
                    error: format!(
                        "no answer within {:?} (the delivery's lease)",
                        config.send_timeout()
                    ),
                    after: None,
                },
            }
        }
    };
    let channel = match &target {
        deliver::Target::Channel { kind, .. } => crate::rest::stored_name(kind),
        deliver::Target::Email(_) => "email".to_owned(),
        deliver::Target::Webhook(_) => "webhook".to_owned(),
        deliver::Target::Slack(_) => "slack".to_owned(),
    };
    finish(&state, &recorder, &config, &row, &channel, outcome, started).await;
}

/// One attempt's result, on its way to [`record_results`].
struct Finished {
    id: Uuid,
    lease: DateTime<Utc>,
    attempt: i32,
    record: Record,
    duration_ms: i32,
}

/// Hands the attempt's result to the recorder (waiting when it lags: back-pressure on the
/// sends), and counts it in the metrics. The log never holds a secret: errors name the status and the receiver's words,
/// never the URL's credentials or the config.
async fn finish(
    state: &AppState,
    recorder: &mpsc::Sender<Finished>,
    config: &DeliveryConfig,
    row: &Claimed,
    channel: &str,
    outcome: Outcome,
    started: Instant,
) {
    let record = Record::of(config, row.attempts, outcome);
    state
        .metrics
        .record_delivery(channel, record.outcome, started.elapsed());
    if record.state == "parked" {
        tracing::warn!(outbox = %row.id, attempt = row.attempts, error = record.error.as_deref().unwrap_or_default(), "delivery parked");
    }
    let finished = Finished {
        id: row.id,
        lease: row.claimed_until,
        attempt: row.attempts,
        record,
        duration_ms: started.elapsed().as_millis().min(i32::MAX as u128) as i32,
    };
    if recorder.send(finished).await.is_err() {
        tracing::warn!(outbox = %row.id, "the delivery recorder stopped; the row is sent again when its lease runs out");
    }
}

/// Results recorded per statement at most.
const RECORD_BATCH: usize = 256;

/// Writes attempts and the rows' new states, as many as have arrived per statement (one
/// commit for many sends: the figure that bounds throughput is commits, not rows). A row
/// changes only while the lease it was sent under still holds; its attempt is logged either
/// way. Wakes the claim loop after a batch with retries, whose due time it now knows.
async fn record_results(db: PgPool, mut results: mpsc::Receiver<Finished>, wake: Arc<Notify>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while results.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let ids: Vec<Uuid> = batch.iter().map(|f| f.id).collect();
        let leases: Vec<DateTime<Utc>> = batch.iter().map(|f| f.lease).collect();
        let states: Vec<&str> = batch.iter().map(|f| f.record.state).collect();
        let next: Vec<Option<DateTime<Utc>>> =
            batch.iter().map(|f| f.record.next_attempt_at).collect();
        let errors: Vec<Option<&str>> = batch.iter().map(|f| f.record.error.as_deref()).collect();
        let attempts: Vec<i32> = batch.iter().map(|f| f.attempt).collect();
        let outcomes: Vec<&str> = batch.iter().map(|f| f.record.outcome).collect();
        let statuses: Vec<Option<i32>> = batch.iter().map(|f| f.record.status).collect();
        let durations: Vec<i32> = batch.iter().map(|f| f.duration_ms).collect();
        let updated: Result<Vec<Uuid>, sqlx::Error> = sqlx::query_scalar(
            "WITH r AS ( \
                 SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], \
                     $4::timestamptz[], $5::text[], $6::int[], $7::text[], $8::int[], $9::int[]) \
                 AS r(id, lease, state, next_at, error, attempt, outcome, status, duration)), \
             upd AS ( \
                 UPDATE outbox o SET state = r.state, \
                        next_attempt_at = coalesce(r.next_at, o.next_attempt_at), \
                        claimed_until = NULL, last_error = r.error, \
                        delivered_at = CASE WHEN r.state = 'delivered' THEN now() \
                                            ELSE o.delivered_at END \
                 FROM r WHERE o.id = r.id AND o.claimed_until = r.lease AND o.state = 'pending' \
                 RETURNING o.id), \
             att AS ( \
                 INSERT INTO delivery_attempts (outbox_id, tenant_id, channel_id, attempt, \
                     outcome, status_code, error, duration_ms) \
                 SELECT o.id, o.tenant_id, o.channel_id, r.attempt, r.outcome, r.status, \
                        r.error, r.duration \
                 FROM r JOIN outbox o ON o.id = r.id) \
             SELECT id FROM upd",
        )
        .bind(&ids)
        .bind(&leases)
        .bind(&states)
        .bind(&next)
        .bind(&errors)
        .bind(&attempts)
        .bind(&outcomes)
        .bind(&statuses)
        .bind(&durations)
        .fetch_all(&db)
        .await;
        match updated {
            Ok(updated) if updated.len() == batch.len() => {}
            Ok(updated) => {
                let updated: std::collections::HashSet<Uuid> = updated.into_iter().collect();
                for f in batch.iter().filter(|f| !updated.contains(&f.id)) {
                    tracing::warn!(outbox = %f.id, attempt = f.attempt, outcome = f.record.outcome,
                        "a delivery's lease ran out before its result was recorded; it may be sent again (same message id)");
                }
            }
            Err(e) => tracing::warn!(rows = batch.len(), error = %e,
                "recording delivery attempts failed; the rows are sent again when their leases run out"),
        }
        if batch.iter().any(|f| f.record.state == "pending") {
            wake.notify_one();
        }
        batch.clear();
    }
}

/// Nobody should get the row any more: cancelled, and the claim does not count as an attempt.
async fn cancel(db: &PgPool, row: &Claimed, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET state = 'cancelled', claimed_until = NULL, last_error = $3, \
         attempts = greatest(attempts - 1, 0) \
         WHERE id = $1 AND claimed_until = $2 AND state = 'pending'",
    )
    .bind(row.id)
    .bind(row.claimed_until)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_with_jitter_and_honour_retry_after() {
        let config = DeliveryConfig {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            retry_after_max: Duration::from_secs(120),
            ..DeliveryConfig::default()
        };
        for _ in 0..50 {
            let first = config.retry_delay(1, None);
            assert!(first >= Duration::from_secs(5) && first <= Duration::from_secs(10));
            let third = config.retry_delay(3, None);
            assert!(third >= Duration::from_secs(20) && third <= Duration::from_secs(40));
            let late = config.retry_delay(30, None);
            assert!(late >= Duration::from_secs(30) && late <= Duration::from_secs(60));
        }
        assert_eq!(
            config.retry_delay(1, Some(Duration::from_secs(90))),
            Duration::from_secs(90)
        );
        assert_eq!(
            config.retry_delay(1, Some(Duration::from_secs(9999))),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn config_from_the_environment_names_the_variable() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let config = DeliveryConfig::from_lookup(vars(&[
            ("STATUSPAGE_DELIVERY_CONCURRENCY", "8"),
            ("STATUSPAGE_DELIVERY_LEASE_SECS", "5"),
        ]))
        .unwrap();
        assert_eq!(config.concurrency, 8);
        assert_eq!(config.per_tenant, 4);
        assert_eq!(config.lease, Duration::from_secs(5));
        let e = DeliveryConfig::from_lookup(vars(&[("STATUSPAGE_DELIVERY_PER_TENANT", "0")]))
            .unwrap_err();
        assert!(
            e.to_string().contains("STATUSPAGE_DELIVERY_PER_TENANT"),
            "{e}"
        );
    }

    #[test]
    fn attempts_become_log_records() {
        let config = DeliveryConfig {
            max_attempts: 3,
            ..DeliveryConfig::default()
        };
        let retry = || Outcome::Retry {
            error: "the receiver answered HTTP 503: busy".into(),
            after: None,
        };
        let r = Record::of(&config, 1, retry());
        assert_eq!(
            (r.state, r.outcome, r.status),
            ("pending", "retry", Some(503))
        );
        assert!(r.next_attempt_at.is_some());
        let r = Record::of(&config, 3, retry());
        assert_eq!((r.state, r.outcome), ("parked", "parked"));
        let r = Record::of(
            &config,
            1,
            Outcome::Failed {
                error: "the receiver answered HTTP 410".into(),
            },
        );
        assert_eq!(
            (r.state, r.outcome, r.status),
            ("parked", "failed", Some(410))
        );
        let r = Record::of(&config, 1, Outcome::Delivered { status: 204 });
        assert_eq!((r.state, r.status, r.error), ("delivered", Some(204), None));
    }
}
