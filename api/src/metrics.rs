//! The platform's own metrics, for Prometheus: what the checkers ran (the summary each run posts
//! when it is over), what the fast path and the heartbeats recorded, every delivery attempt, and,
//! read at each scrape, the outbox's depth. The app server serves them on a listener of its own
//! (`METRICS_ADDR`), never on the hosts visitors reach; the names are in the README and the
//! Grafana dashboard (`infra/grafana/statuspage.json`) reads them.
//!
//! No label holds a tenant, a monitor or anything a tenant chose: regions (only the
//! deployment's), statuses, phases and channel kinds, so one tenant cannot grow the series.

use checker::run::{PhaseHistogram, RunSummary, PHASE_BUCKETS_US};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};
use sqlx::PgPool;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegionLabel {
    pub region: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegionStatus {
    pub region: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegionPhase {
    pub region: String,
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabel {
    /// The channel's kind (`email`, `webhook`, `slack`, ...).
    pub channel: String,
    /// `delivered`, `retry`, `failed` or `parked` (the delivery log's outcomes).
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

/// A histogram fed with buckets counted elsewhere (a run's [`PhaseHistogram`]s), on the bounds
/// of [`PHASE_BUCKETS_US`], exposed in seconds.
#[derive(Debug, Default)]
pub struct PhaseSeconds {
    inner: Mutex<(u64, Vec<u64>)>,
}

impl PhaseSeconds {
    fn add(&self, histogram: &PhaseHistogram) {
        if histogram.counts.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().expect("phase histogram lock");
        if inner.1.len() != histogram.counts.len() {
            inner.1 = vec![0; histogram.counts.len()];
        }
        inner.0 = inner.0.saturating_add(histogram.sum_us);
        for (total, n) in inner.1.iter_mut().zip(&histogram.counts) {
            *total = total.saturating_add(*n);
        }
    }
}

impl TypedMetric for PhaseSeconds {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for PhaseSeconds {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (sum_us, counts) = self.inner.lock().expect("phase histogram lock").clone();
        let counts = if counts.is_empty() {
            vec![0; PHASE_BUCKETS_US.len() + 1]
        } else {
            counts
        };
        let buckets: Vec<(f64, u64)> = PHASE_BUCKETS_US
            .iter()
            .map(|&us| f64::from(us) / 1e6)
            .chain(std::iter::once(f64::INFINITY))
            .zip(counts.iter().copied())
            .collect();
        encoder.encode_histogram::<NoLabelSet>(
            sum_us as f64 / 1e6,
            counts.iter().sum(),
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

fn run_seconds() -> Histogram {
    Histogram::new([
        0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0,
    ])
}

fn delivery_seconds() -> Histogram {
    Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

/// One app server's metrics.
pub struct Metrics {
    registry: Registry,
    checks: Family<RegionStatus, Counter>,
    retries: Family<RegionLabel, Counter>,
    cut_off: Family<RegionLabel, Counter>,
    runs: Family<RegionLabel, Counter>,
    run_errors: Family<RegionLabel, Counter>,
    run_duration: Family<RegionLabel, Histogram, fn() -> Histogram>,
    phases: Family<RegionPhase, PhaseSeconds>,
    spool: Family<RegionLabel, Gauge>,
    fast_path: Family<RegionStatus, Counter>,
    heartbeat_pings: Family<StatusLabel, Counter>,
    custom_metric_fetches: Family<OutcomeLabel, Counter>,
    deliveries: Family<DeliveryLabel, Counter>,
    delivery_duration: Family<DeliveryLabel, Histogram, fn() -> Histogram>,
    outbox_pending: Gauge,
    outbox_due: Gauge,
    outbox_oldest: Gauge<f64, AtomicU64>,
    database_up: Gauge,
    pages_in_memory: Gauge,
    page_oldest: Gauge<f64, AtomicU64>,
    page_rebuilds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("statuspage");
        let m = Self {
            checks: Family::default(),
            retries: Family::default(),
            cut_off: Family::default(),
            runs: Family::default(),
            run_errors: Family::default(),
            run_duration: Family::new_with_constructor(run_seconds),
            phases: Family::default(),
            spool: Family::default(),
            fast_path: Family::default(),
            heartbeat_pings: Family::default(),
            custom_metric_fetches: Family::default(),
            deliveries: Family::default(),
            delivery_duration: Family::new_with_constructor(delivery_seconds),
            outbox_pending: Gauge::default(),
            outbox_due: Gauge::default(),
            outbox_oldest: Gauge::default(),
            database_up: Gauge::default(),
            pages_in_memory: Gauge::default(),
            page_oldest: Gauge::default(),
            page_rebuilds: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "checks",
            "Checks the checker runs finished, by region and verdict (final attempts)",
            m.checks.clone(),
        );
        registry.register(
            "check_retries",
            "Attempts beyond a check's first, by region",
            m.retries.clone(),
        );
        registry.register(
            "checks_cut_off",
            "Checks a run's deadline cut off (recorded as timeouts), by region",
            m.cut_off.clone(),
        );
        registry.register(
            "checker_runs",
            "Checker runs that reported their summary, by region",
            m.runs.clone(),
        );
        registry.register(
            "checker_run_errors",
            "Sink failures inside runs (fast path or store unreachable), by region",
            m.run_errors.clone(),
        );
        registry.register_with_unit(
            "checker_run_duration",
            "How long each checker run took, by region",
            Unit::Seconds,
            m.run_duration.clone(),
        );
        registry.register_with_unit(
            "check_phase",
            "Phase timings of checks' final attempts (dns, tcp_connect, tls_handshake, ttfb, transfer, total), by region",
            Unit::Seconds,
            m.phases.clone(),
        );
        registry.register(
            "clickhouse_spool_batches",
            "Result batches waiting in a checker's spool for ClickHouse, as its last run reported, by region",
            m.spool.clone(),
        );
        registry.register(
            "fast_path_results",
            "Failures and changes the checkers reported at once, by region and status",
            m.fast_path.clone(),
        );
        registry.register(
            "heartbeat_pings",
            "Heartbeat pings recorded, by status (up: success, down: /fail)",
            m.heartbeat_pings.clone(),
        );
        registry.register(
            "custom_metric_fetches",
            "Queries of tenants' custom metrics, by outcome (ok, failed)",
            m.custom_metric_fetches.clone(),
        );
        registry.register(
            "deliveries",
            "Delivery attempts, by channel kind and outcome",
            m.deliveries.clone(),
        );
        registry.register_with_unit(
            "delivery_duration",
            "How long each delivery attempt took, by channel kind and outcome",
            Unit::Seconds,
            m.delivery_duration.clone(),
        );
        registry.register(
            "outbox_pending",
            "Notifications waiting in the outbox (read at the scrape)",
            m.outbox_pending.clone(),
        );
        registry.register(
            "outbox_due",
            "Outbox rows due now (not waiting for a retry's backoff)",
            m.outbox_due.clone(),
        );
        registry.register_with_unit(
            "outbox_oldest_pending_age",
            "Age of the oldest notification still waiting",
            Unit::Seconds,
            m.outbox_oldest.clone(),
        );
        registry.register(
            "database_up",
            "Whether PostgreSQL answered this scrape's queries (1) or not (0)",
            m.database_up.clone(),
        );
        registry.register(
            "pages_in_memory",
            "Tenants whose rendered public page this server holds",
            m.pages_in_memory.clone(),
        );
        registry.register_with_unit(
            "page_snapshot_age",
            "Age of the oldest rendered public page this server holds",
            Unit::Seconds,
            m.page_oldest.clone(),
        );
        registry.register(
            "page_rebuilds",
            "Public page rebuilds this server started (a counter, read at the scrape)",
            m.page_rebuilds.clone(),
        );
        Self { registry, ..m }
    }

    /// Adds a finished run's summary (the region is the signed one).
    pub fn record_run(&self, summary: &RunSummary) {
        let region = RegionLabel {
            region: summary.region.clone(),
        };
        for (status, n) in [
            ("up", summary.up),
            ("degraded", summary.degraded),
            ("down", summary.down),
        ] {
            self.checks
                .get_or_create(&RegionStatus {
                    region: summary.region.clone(),
                    status: status.to_owned(),
                })
                .inc_by(n as u64);
        }
        self.retries
            .get_or_create(&region)
            .inc_by(summary.retries as u64);
        self.cut_off
            .get_or_create(&region)
            .inc_by(summary.cut_off as u64);
        self.run_errors
            .get_or_create(&region)
            .inc_by(summary.errors.len() as u64);
        self.runs.get_or_create(&region).inc();
        self.run_duration
            .get_or_create(&region)
            .observe(summary.duration_ms as f64 / 1000.0);
        for (phase, histogram) in summary.phases.by_name() {
            self.phases
                .get_or_create(&RegionPhase {
                    region: summary.region.clone(),
                    phase: phase.to_owned(),
                })
                .add(histogram);
        }
        if let Some(batches) = summary.spooled_batches {
            self.spool
                .get_or_create(&region)
                .set(i64::try_from(batches).unwrap_or(i64::MAX));
        }
    }

    /// Counts one fast-path result of `region`.
    pub fn record_fast_path(&self, region: &str, status: &str) {
        self.fast_path
            .get_or_create(&RegionStatus {
                region: region.to_owned(),
                status: status.to_owned(),
            })
            .inc();
    }

    pub fn record_heartbeat(&self, status: &str) {
        self.heartbeat_pings
            .get_or_create(&StatusLabel {
                status: status.to_owned(),
            })
            .inc();
    }

    pub fn record_custom_metric_fetch(&self, outcome: &str) {
        self.custom_metric_fetches
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one delivery attempt and how long it took.
    pub fn record_delivery(&self, channel: &str, outcome: &str, took: Duration) {
        let label = DeliveryLabel {
            channel: channel.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.deliveries.get_or_create(&label).inc();
        self.delivery_duration
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    /// What this server's public pages look like now (set by the web crate before it encodes).
    pub fn set_pages(&self, in_memory: usize, oldest: Option<Duration>, rebuilds: u64) {
        self.pages_in_memory
            .set(i64::try_from(in_memory).unwrap_or(i64::MAX));
        self.page_oldest
            .set(oldest.map_or(0.0, |d| d.as_secs_f64()));
        self.page_rebuilds
            .set(i64::try_from(rebuilds).unwrap_or(i64::MAX));
    }

    /// Reads what is only known in PostgreSQL (the outbox), within 2 s; on failure the gauges
    /// keep their last values and `database_up` says 0.
    pub async fn refresh(&self, db: &PgPool) {
        let query = sqlx::query_as::<_, (i64, i64, Option<f64>)>(
            "SELECT count(*), count(*) FILTER (WHERE next_attempt_at <= now()), \
               extract(epoch FROM now() - min(created_at))::float8 \
             FROM outbox WHERE state = 'pending'",
        )
        .fetch_one(db);
        match tokio::time::timeout(Duration::from_secs(2), query).await {
            Ok(Ok((pending, due, oldest))) => {
                self.outbox_pending.set(pending);
                self.outbox_due.set(due);
                self.outbox_oldest.set(oldest.unwrap_or(0.0).max(0.0));
                self.database_up.set(1);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "metrics: the outbox could not be read");
                self.database_up.set(0);
            }
            Err(_) => {
                tracing::warn!("metrics: PostgreSQL did not answer within 2 s");
                self.database_up.set(0);
            }
        }
    }

    /// The OpenMetrics text of every metric ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String");
        text
    }
}
