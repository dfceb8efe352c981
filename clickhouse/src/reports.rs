//! Status-page analytics: uptime over any window (overall and per region, maintenance excluded on
//! request), 90 daily bars, latency percentiles per region and phase, chart series and Apdex.
//!
//! Every aggregate is answered from a [`Plan`](crate::window): whole days from the daily rollup,
//! whole hours from the hourly rollup and partial hours from raw rows, in one SQL query
//! (`UNION ALL` of the parts, summed / merged outside). With [`Source::Raw`] the same query reads
//! raw rows only: the reference the rollups are tested and benchmarked against.
//!
//! Everything counts checks, not attempts: one row per check (its final attempt, the verdict),
//! at the time it was scheduled, so a retry never adds a check and never moves one into another
//! bucket or window. Latency and Apdex are those of the verdicts too (only down attempts are
//! retried, so the attempts left out never had a latency to count).

use crate::window::{ceil_secs, plan, Horizons, Plan, DAY_US, MAX_CHECK_SPAN_US};
use crate::{Analytics, AnalyticsError, Result, Source, TimeWindow};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Width of the Apdex histogram bins in the rollups: Apdex thresholds are whole multiples of it.
pub const APDEX_BIN_MS: u32 = 10;
/// Parameters of the `quantilesBFloat16` states in the rollups (p50, p75, p90, p95, p99).
const QUANTILE_LEVELS: &str = "(0.5, 0.75, 0.9, 0.95, 0.99)";
const PHASES: [&str; 6] = [
    "dns",
    "tcp_connect",
    "tls_handshake",
    "ttfb",
    "transfer",
    "total",
];

/// Check counts. Uptime counts degraded checks as up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub checks: u64,
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
}

impl Counts {
    /// Percentage of checks that were not down; `None` without data (never a made-up 100%).
    pub fn uptime_percent(&self) -> Option<f64> {
        (self.checks > 0).then(|| 100.0 * (self.up + self.degraded) as f64 / self.checks as f64)
    }

    /// The worst status seen, or [`BarStatus::NoData`].
    pub fn worst(&self) -> BarStatus {
        if self.checks == 0 {
            BarStatus::NoData
        } else if self.down > 0 {
            BarStatus::Down
        } else if self.degraded > 0 {
            BarStatus::Degraded
        } else {
            BarStatus::Up
        }
    }

    fn add(&mut self, other: &Counts) {
        self.checks += other.checks;
        self.up += other.up;
        self.degraded += other.degraded;
        self.down += other.down;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionCounts {
    pub region: String,
    pub counts: Counts,
}

/// Uptime of one monitor over one window: all regions together and per region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorUptime {
    pub monitor_id: Uuid,
    pub overall: Counts,
    pub regions: Vec<RegionCounts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BarStatus {
    NoData,
    Up,
    Degraded,
    Down,
}

impl BarStatus {
    /// The serialized name: `no_data`, `up`, `degraded` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoData => "no_data",
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

/// One UTC day of one monitor (all regions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyBar {
    pub day: NaiveDate,
    pub counts: Counts,
    pub status: BarStatus,
}

impl DailyBar {
    pub fn uptime_percent(&self) -> Option<f64> {
        self.counts.uptime_percent()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorBars {
    pub monitor_id: Uuid,
    /// Oldest first, one per day, days without checks as [`BarStatus::NoData`].
    pub days: Vec<DailyBar>,
}

/// Percentiles in microseconds (`quantilesBFloat16`: within 0.4% of the exact value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Quantiles {
    fn from_array(values: &[f64]) -> Option<Self> {
        match values {
            [p50, p75, p90, p95, p99] if !p50.is_nan() => Some(Self {
                p50: *p50,
                p75: *p75,
                p90: *p90,
                p95: *p95,
                p99: *p99,
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseLatency {
    pub dns: Quantiles,
    pub tcp_connect: Quantiles,
    pub tls_handshake: Quantiles,
    pub ttfb: Quantiles,
    pub transfer: Quantiles,
    pub total: Quantiles,
}

/// Latency of one monitor from one region over a window; down checks are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionLatency {
    pub monitor_id: Uuid,
    pub region: String,
    pub counts: Counts,
    /// Checks with a latency (not down).
    pub samples: u64,
    pub mean_total_us: Option<f64>,
    /// Percentiles of the total time; `None` without samples.
    pub total: Option<Quantiles>,
    /// Every phase; `None` without samples and from [`Analytics::latency_total`].
    pub phases: Option<PhaseLatency>,
}

/// Chart resolution: one point per minute (raw rows), per hour or per UTC day (rollups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Raw,
    Hour,
    Day,
}

impl Resolution {
    /// Up to 12 hours: raw (per minute); up to 14 days: hourly; longer: daily. Windows starting
    /// before the raw TTL use at least hours.
    pub fn for_window(window: &TimeWindow, now: DateTime<Utc>, raw_ttl_days: u32) -> Self {
        let length = window.length();
        let raw_kept = window.start > now - Duration::days(i64::from(raw_ttl_days));
        if length <= Duration::hours(12) && raw_kept {
            Self::Raw
        } else if length <= Duration::days(14) {
            Self::Hour
        } else {
            Self::Day
        }
    }

    pub fn bucket_secs(self) -> i64 {
        match self {
            Self::Raw => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    pub region: String,
    pub counts: Counts,
    pub mean_total_us: Option<f64>,
    pub p50_total_us: Option<f64>,
    pub p95_total_us: Option<f64>,
    pub p99_total_us: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub resolution: Resolution,
    /// Ordered by region, then time; buckets without checks are absent.
    pub points: Vec<SeriesPoint>,
}

/// Monitors figured together as one (a status page component): their checks are merged, so the
/// percentiles are those of all the group's checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorGroup {
    pub id: Uuid,
    pub monitors: Vec<Uuid>,
}

/// A chart series of one [`MonitorGroup`]: per bucket, counts and total-time percentiles per
/// region, or all regions together (region `""`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSeries {
    pub group_id: Uuid,
    /// Ordered by region, then time; buckets without checks are absent.
    pub points: Vec<SeriesPoint>,
}

/// One chart period of [`Analytics::group_charts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartPeriod {
    /// `24h`, `7d` or `30d` ([`CHART_PERIODS`]).
    pub label: String,
    /// From the start of the first bucket up to now.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub resolution: Resolution,
    /// One per group with monitors, in the groups' order: the points of every region and, with
    /// region `""`, of all regions together (per region only when asked for).
    pub series: Vec<GroupSeries>,
}

/// Latency of one [`MonitorGroup`] from one region (or all together, region `""`) over a
/// window; down checks are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupLatency {
    pub group_id: Uuid,
    pub region: String,
    pub counts: Counts,
    /// Checks with a latency (not down).
    pub samples: u64,
    /// Every phase; `None` without samples.
    pub phases: Option<PhaseLatency>,
}

/// What a status page's charts show of its components: series for each [`CHART_PERIODS`] entry
/// and the last 24 hours' phase breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupCharts {
    pub generated_at: DateTime<Utc>,
    pub periods: Vec<ChartPeriod>,
    /// Over [`TimeWindow::status_page`]`(now, 1)`: all regions together (region `""`) and, when
    /// asked for, per region.
    pub latency_24h: Vec<GroupLatency>,
}

impl GroupCharts {
    /// Whether any period holds a bucket with checks (a new tenant's first figures are not).
    pub fn has_checks(&self) -> bool {
        self.periods
            .iter()
            .any(|p| p.series.iter().any(|s| !s.points.is_empty()))
    }
}

/// Chart periods: label, buckets and bucket resolution. The 24-hour chart is the end of the
/// 7-day one (the same hourly buckets).
pub const CHART_PERIODS: [(&str, i64, Resolution); 3] = [
    ("24h", 24, Resolution::Hour),
    ("7d", 7 * 24, Resolution::Hour),
    ("30d", 30, Resolution::Day),
];

/// Apdex over a window with threshold T: satisfied = not down and total <= T, tolerating = not
/// down and T < total <= 4T, frustrated = the rest (slower, or down).
/// Score = (satisfied + tolerating / 2) / checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Apdex {
    pub threshold_ms: u32,
    pub checks: u64,
    pub satisfied: u64,
    pub tolerating: u64,
    pub frustrated: u64,
    pub score: Option<f64>,
}

impl Apdex {
    fn new(threshold_ms: u32, checks: u64, satisfied: u64, tolerating: u64) -> Self {
        Self {
            threshold_ms,
            checks,
            satisfied,
            tolerating,
            frustrated: checks - satisfied - tolerating,
            score: (checks > 0)
                .then(|| (satisfied as f64 + tolerating as f64 / 2.0) / checks as f64),
        }
    }

    /// Variance of the per-check score (1, 0.5 or 0).
    fn variance(&self) -> f64 {
        let Some(mean) = self.score else { return 0.0 };
        let n = self.checks as f64;
        let mean_sq = (self.satisfied as f64 + self.tolerating as f64 / 4.0) / n;
        (mean_sq - mean * mean).max(0.0)
    }
}

/// Apdex of a window against the previous window of the same length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ApdexTrend {
    pub current: Apdex,
    pub previous: Apdex,
    /// current score − previous score.
    pub change: Option<f64>,
    /// See [`ApdexTrend::is_significant_degradation`].
    pub significant_degradation: bool,
}

impl ApdexTrend {
    /// Minimum checks in each window before a trend is judged.
    pub const MIN_CHECKS: u64 = 50;
    /// Minimum drop of the score that matters.
    pub const MIN_DROP: f64 = 0.05;

    fn new(current: Apdex, previous: Apdex) -> Self {
        let change = current.score.zip(previous.score).map(|(c, p)| c - p);
        Self {
            current,
            previous,
            change,
            significant_degradation: Self::is_significant_degradation(&current, &previous),
        }
    }

    /// The rule: both windows have at least [`Self::MIN_CHECKS`] checks, the score dropped by at
    /// least [`Self::MIN_DROP`], and the drop is more than three standard errors of the
    /// difference of the two means (per-check scores 1 / 0.5 / 0), so noise on small samples does
    /// not raise it.
    pub fn is_significant_degradation(current: &Apdex, previous: &Apdex) -> bool {
        let (Some(cur), Some(prev)) = (current.score, previous.score) else {
            return false;
        };
        if current.checks < Self::MIN_CHECKS || previous.checks < Self::MIN_CHECKS {
            return false;
        }
        let drop = prev - cur;
        let se = (current.variance() / current.checks as f64
            + previous.variance() / previous.checks as f64)
            .sqrt();
        drop >= Self::MIN_DROP && drop > 3.0 * se
    }
}

/// Everything a status page shows from ClickHouse, for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusPageAnalytics {
    pub generated_at: DateTime<Utc>,
    pub bars: Vec<MonitorBars>,
    /// `("24h" | "7d" | "30d" | "90d", uptime per monitor)`, each window from
    /// `window_start(label's days)` up to now.
    pub uptime: Vec<(String, Vec<MonitorUptime>)>,
    /// Per monitor and region: total-time percentiles (`phases` is `None`) over
    /// `latency_since..latency_until`.
    pub latency_24h: Vec<RegionLatency>,
    pub latency_since: DateTime<Utc>,
    pub latency_until: DateTime<Utc>,
    /// `Some(until)` when read from the hourly `status_page_summary` (refreshed up to `until`,
    /// the rest read live); `None` when computed from the rollups on the spot.
    pub summary_until: Option<DateTime<Utc>>,
}

/// The status page's uptime windows: label and days.
pub const STATUS_PAGE_WINDOWS: [(&str, i64); 4] = [("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90)];

impl StatusPageAnalytics {
    /// No figures at all: what a page shows while ClickHouse cannot answer.
    pub fn empty(now: DateTime<Utc>) -> Self {
        Self {
            generated_at: now,
            bars: Vec::new(),
            uptime: Vec::new(),
            latency_24h: Vec::new(),
            latency_since: now,
            latency_until: now,
            summary_until: None,
        }
    }

    /// Start of the "last `days` days" uptime window: `days` days before the start of the hour
    /// (of now, or of the summary's refresh).
    pub fn window_start(&self, days: i64) -> DateTime<Utc> {
        let hour = match self.summary_until {
            Some(until) => until + Duration::hours(1),
            None => TimeWindow::status_page(self.generated_at, 0).start,
        };
        hour - Duration::days(days)
    }
}

// ---------------------------------------------------------------------------------------------
// SQL building

#[derive(Clone, Copy)]
enum Table {
    Raw,
    Hourly,
    Daily,
}

#[derive(Clone)]
enum Key {
    /// A constant tag (which window).
    Tag(i64),
    /// Start of the enclosing bucket of this many seconds (epoch-aligned, so UTC days).
    Bucket(i64),
    /// `table code * SEGMENT_BASE + i`, where `i` is the index of the first boundary (µs) the
    /// row's time is below: several windows read by one scan per table (see [`segmented`]).
    Segments(i64, Vec<i64>),
}

const SEGMENT_BASE: i64 = 1_000_000;

#[derive(Clone, Copy)]
enum Columns {
    Counts,
    /// Counts, latency samples and sum, and the total time's quantiles.
    Total,
    /// Counts, latency samples and sum, and every phase's quantiles.
    Latency,
    /// Apdex counts for a threshold of this many 10 ms bins.
    Apdex(u32),
}

struct Part {
    table: Table,
    ranges: Vec<(i64, i64)>,
    key: Key,
}

fn parts_of(plan: Plan, key: Key) -> Vec<Part> {
    let mut parts = Vec::new();
    for (table, ranges) in [
        (Table::Daily, plan.daily),
        (Table::Hourly, plan.hourly),
        (Table::Raw, plan.raw),
    ] {
        if !ranges.is_empty() {
            parts.push(Part {
                table,
                ranges,
                key: key.clone(),
            });
        }
    }
    parts
}

/// Several windows' plans as one part per table (a `UNION ALL` branch costs more than the rows
/// these queries read): each table's time axis is cut at every range edge of every window, a row
/// is keyed by its segment, and `windows[k]` lists the windows a segment key belongs to.
fn segmented(plans: &[Plan]) -> (Vec<Part>, BTreeMap<i64, Vec<usize>>) {
    let mut parts = Vec::new();
    let mut windows: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (code, table) in [(0, Table::Raw), (1, Table::Hourly), (2, Table::Daily)] {
        let ranges_of = |p: &Plan| match table {
            Table::Raw => p.raw.clone(),
            Table::Hourly => p.hourly.clone(),
            Table::Daily => p.daily.clone(),
        };
        let mut bounds: Vec<i64> = plans
            .iter()
            .flat_map(|p| ranges_of(p).into_iter().flat_map(|(a, b)| [a, b]))
            .collect();
        if bounds.is_empty() {
            continue;
        }
        bounds.sort_unstable();
        bounds.dedup();
        let mut covered: Vec<(i64, i64)> = Vec::new();
        for (w, p) in plans.iter().enumerate() {
            for (a, b) in ranges_of(p) {
                // A time in [bounds[i-1], bounds[i]) is first below bounds[i], whose 1-based
                // index (arrayFirstIndex) is i + 1.
                for i in 1..bounds.len() {
                    if bounds[i - 1] >= a && bounds[i] <= b {
                        let key = code * SEGMENT_BASE + i as i64 + 1;
                        windows.entry(key).or_default().push(w);
                        covered.push((bounds[i - 1], bounds[i]));
                    }
                }
            }
        }
        covered.sort_unstable();
        covered.dedup();
        let mut merged: Vec<(i64, i64)> = Vec::new();
        for (a, b) in covered {
            match merged.last_mut() {
                Some(last) if last.1 >= a => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        parts.push(Part {
            table,
            ranges: merged,
            key: Key::Segments(code, bounds),
        });
    }
    (parts, windows)
}

fn tenant_filter(tenant: Uuid, monitors: &[Uuid]) -> String {
    let mut filter = format!("tenant_id = toUUID('{tenant}')");
    if !monitors.is_empty() {
        let list: Vec<String> = monitors.iter().map(|m| format!("toUUID('{m}')")).collect();
        filter.push_str(&format!(" AND monitor_id IN ({})", list.join(", ")));
    }
    filter
}

fn part_sql(part: &Part, tenant_filter: &str, columns: Columns) -> String {
    let (table, time_filter, key) = match part.table {
        Table::Raw => {
            // A check counts once (its final attempt) at its scheduled time. `checked_at` (the
            // sorting key) bounds the same rows for the index: attempts start at or after their
            // scheduled time and within MAX_CHECK_SPAN_US of it.
            let ranges: Vec<String> = part
                .ranges
                .iter()
                .map(|(a, b)| {
                    format!(
                        "(scheduled_at >= fromUnixTimestamp64Micro(toInt64({a}), 'UTC') \
                         AND scheduled_at < fromUnixTimestamp64Micro(toInt64({b}), 'UTC') \
                         AND checked_at >= fromUnixTimestamp64Micro(toInt64({a}), 'UTC') \
                         AND checked_at < fromUnixTimestamp64Micro(toInt64({}), 'UTC'))",
                        b.saturating_add(MAX_CHECK_SPAN_US)
                    )
                })
                .collect();
            let key = match &part.key {
                Key::Tag(tag) => format!("toInt64({tag})"),
                Key::Bucket(secs) => format!(
                    "toInt64(intDiv(toUnixTimestamp64Micro(scheduled_at), {}) * {secs})",
                    secs * 1_000_000
                ),
                Key::Segments(code, bounds) => format!(
                    "toInt64({} + arrayFirstIndex(x -> toUnixTimestamp64Micro(scheduled_at) < x, [{}]))",
                    code * SEGMENT_BASE,
                    bounds
                        .iter()
                        .map(|b| format!("toInt64({b})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            (
                "check_results",
                format!("final_attempt AND ({})", ranges.join(" OR ")),
                key,
            )
        }
        Table::Hourly | Table::Daily => {
            let ranges: Vec<String> = part
                .ranges
                .iter()
                .map(|(a, b)| {
                    format!(
                        "(bucket >= toDateTime({}, 'UTC') AND bucket < toDateTime({}, 'UTC'))",
                        ceil_secs(*a),
                        ceil_secs(*b)
                    )
                })
                .collect();
            let key = match &part.key {
                Key::Tag(tag) => format!("toInt64({tag})"),
                Key::Bucket(secs) => {
                    format!("toInt64(intDiv(toUnixTimestamp(bucket), {secs}) * {secs})")
                }
                Key::Segments(code, bounds) => format!(
                    "toInt64({} + arrayFirstIndex(x -> toInt64(toUnixTimestamp(bucket)) < x, [{}]))",
                    code * SEGMENT_BASE,
                    bounds
                        .iter()
                        .map(|b| format!("toInt64({})", ceil_secs(*b)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let table = if matches!(part.table, Table::Hourly) {
                "check_rollup_hourly"
            } else {
                "check_rollup_daily"
            };
            (table, ranges.join(" OR "), key)
        }
    };
    let raw = matches!(part.table, Table::Raw);
    let mut select = vec![
        "monitor_id".to_owned(),
        "region".to_owned(),
        format!("{key} AS k"),
    ];
    if raw {
        select.extend([
            "count() AS checks".to_owned(),
            "countIf(status = 'up') AS up".to_owned(),
            "countIf(status = 'degraded') AS degraded".to_owned(),
            "countIf(status = 'down') AS down".to_owned(),
        ]);
    } else {
        select
            .extend(["checks", "up", "degraded", "down"].map(|c| format!("toUInt64({c}) AS {c}")));
    }
    let phases: &[&str] = match columns {
        Columns::Total => &["total"],
        _ => &PHASES,
    };
    match columns {
        Columns::Counts => {}
        Columns::Latency | Columns::Total if raw => {
            select.push("countIf(status != 'down') AS latency_samples".into());
            select.push("sumIf(toUInt64(total_us), status != 'down') AS total_us_sum".into());
            for phase in phases {
                select.push(format!(
                    "quantilesBFloat16StateIf{QUANTILE_LEVELS}({phase}_us, status != 'down') \
                     AS {phase}_q"
                ));
            }
        }
        Columns::Latency | Columns::Total => {
            select.push("toUInt64(latency_samples) AS latency_samples".into());
            select.push("toUInt64(total_us_sum) AS total_us_sum".into());
            for phase in phases {
                select.push(format!("{phase}_q"));
            }
        }
        Columns::Apdex(bins) if raw => {
            let t = u64::from(bins) * 10_000;
            select.push(format!(
                "countIf(status != 'down' AND total_us <= {t}) AS satisfied"
            ));
            select.push(format!(
                "countIf(status != 'down' AND total_us > {t} AND total_us <= {}) AS tolerating",
                4 * t
            ));
        }
        Columns::Apdex(bins) => {
            let hist = |cond: String| {
                format!(
                    "arraySum(arrayMap((b, c) -> if({cond}, c, 0), \
                     tupleElement(apdex_hist, 1), tupleElement(apdex_hist, 2)))"
                )
            };
            select.push(format!("{} AS satisfied", hist(format!("b <= {bins}"))));
            select.push(format!(
                "{} AS tolerating",
                hist(format!("b > {bins} AND b <= {}", 4 * bins))
            ));
        }
    }
    let group = if raw {
        " GROUP BY monitor_id, region, k"
    } else {
        ""
    };
    format!(
        "SELECT {} FROM {table} WHERE {tenant_filter} AND ({time_filter}){group}",
        select.join(", ")
    )
}

/// The outer query over the parts; `by_region: false` sums the regions (region `''`).
fn query_sql(parts: &[Part], tenant_filter: &str, columns: Columns, by_region: bool) -> String {
    keyed_query_sql(parts, tenant_filter, columns, by_region, None)
}

/// [`query_sql`] with the monitors of each group merged into one: the result's `monitor_id` is
/// the group's id (the filter must name the groups' monitors only).
fn grouped_query_sql(
    parts: &[Part],
    groups: &[MonitorGroup],
    tenant: Uuid,
    columns: Columns,
    by_region: bool,
) -> String {
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for group in groups {
        for monitor in &group.monitors {
            from.push(format!("toUUID('{monitor}')"));
            to.push(format!("toUUID('{}')", group.id));
        }
    }
    let monitors: Vec<Uuid> = groups.iter().flat_map(|g| g.monitors.clone()).collect();
    let key = format!(
        "arrayElement([{}], indexOf([{}], monitor_id))",
        to.join(", "),
        from.join(", ")
    );
    keyed_query_sql(
        parts,
        &tenant_filter(tenant, &monitors),
        columns,
        by_region,
        Some(&key),
    )
}

/// `monitor_key`: an expression of `monitor_id` to group by instead (its value is returned as
/// `monitor_id`).
fn keyed_query_sql(
    parts: &[Part],
    tenant_filter: &str,
    columns: Columns,
    by_region: bool,
    monitor_key: Option<&str>,
) -> String {
    let union: Vec<String> = parts
        .iter()
        .map(|p| part_sql(p, tenant_filter, columns))
        .collect();
    let mut outer = vec![
        "monitor_id".to_owned(),
        "region".to_owned(),
        "k".to_owned(),
        "sum(checks) AS checks".to_owned(),
        "sum(up) AS up".to_owned(),
        "sum(degraded) AS degraded".to_owned(),
        "sum(down) AS down".to_owned(),
    ];
    let phases: &[&str] = match columns {
        Columns::Total => &["total"],
        _ => &PHASES,
    };
    match columns {
        Columns::Counts => {}
        Columns::Latency | Columns::Total => {
            outer.push("sum(latency_samples) AS latency_samples".into());
            outer.push("sum(total_us_sum) AS total_us_sum".into());
            for phase in phases {
                outer.push(format!(
                    "quantilesBFloat16Merge{QUANTILE_LEVELS}({phase}_q) AS {phase}"
                ));
            }
        }
        Columns::Apdex(_) => {
            outer.push("sum(satisfied) AS satisfied".into());
            outer.push("sum(tolerating) AS tolerating".into());
        }
    }
    // No ORDER BY: callers order what they need; sorting the result costs more than the rest.
    let (region, group) = if by_region {
        ("region", "monitor_id, region, k")
    } else {
        ("'' AS region", "monitor_id, k")
    };
    outer[1] = region.to_owned();
    let Some(monitor_key) = monitor_key else {
        return format!(
            "SELECT {} FROM ({}) GROUP BY {group}",
            outer.join(", "),
            union.join(" UNION ALL ")
        );
    };
    outer[0] = format!("{monitor_key} AS group_key");
    let group = group.replacen("monitor_id", "group_key", 1);
    format!(
        "SELECT group_key AS monitor_id, * EXCEPT (group_key) FROM (SELECT {} FROM ({}) GROUP BY {group})",
        outer.join(", "),
        union.join(" UNION ALL ")
    )
}

#[derive(Debug, Row, Deserialize)]
struct CountsRow {
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: Uuid,
    region: String,
    k: i64,
    checks: u64,
    up: u64,
    degraded: u64,
    down: u64,
}

impl CountsRow {
    fn counts(&self) -> Counts {
        Counts {
            checks: self.checks,
            up: self.up,
            degraded: self.degraded,
            down: self.down,
        }
    }
}

#[derive(Debug, Row, Deserialize)]
struct LatencyRow {
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: Uuid,
    region: String,
    #[allow(dead_code)] // always the one window's tag
    k: i64,
    checks: u64,
    up: u64,
    degraded: u64,
    down: u64,
    latency_samples: u64,
    total_us_sum: u64,
    dns: Vec<f64>,
    tcp_connect: Vec<f64>,
    tls_handshake: Vec<f64>,
    ttfb: Vec<f64>,
    transfer: Vec<f64>,
    total: Vec<f64>,
}

impl LatencyRow {
    fn counts(&self) -> Counts {
        Counts {
            checks: self.checks,
            up: self.up,
            degraded: self.degraded,
            down: self.down,
        }
    }

    fn mean(&self) -> Option<f64> {
        (self.latency_samples > 0).then(|| self.total_us_sum as f64 / self.latency_samples as f64)
    }

    fn phases(&self) -> Option<PhaseLatency> {
        if self.latency_samples == 0 {
            return None;
        }
        Some(PhaseLatency {
            dns: Quantiles::from_array(&self.dns)?,
            tcp_connect: Quantiles::from_array(&self.tcp_connect)?,
            tls_handshake: Quantiles::from_array(&self.tls_handshake)?,
            ttfb: Quantiles::from_array(&self.ttfb)?,
            transfer: Quantiles::from_array(&self.transfer)?,
            total: Quantiles::from_array(&self.total)?,
        })
    }
}

#[derive(Debug, Row, Deserialize)]
struct TotalRow {
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: Uuid,
    region: String,
    k: i64,
    checks: u64,
    up: u64,
    degraded: u64,
    down: u64,
    latency_samples: u64,
    total_us_sum: u64,
    total: Vec<f64>,
}

impl TotalRow {
    fn counts(&self) -> Counts {
        Counts {
            checks: self.checks,
            up: self.up,
            degraded: self.degraded,
            down: self.down,
        }
    }

    fn mean(&self) -> Option<f64> {
        (self.latency_samples > 0).then(|| self.total_us_sum as f64 / self.latency_samples as f64)
    }

    fn total(&self) -> Option<Quantiles> {
        Quantiles::from_array(&self.total).filter(|_| self.latency_samples > 0)
    }
}

#[derive(Debug, Row, Deserialize)]
struct ApdexRow {
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: Uuid,
    region: String,
    k: i64,
    checks: u64,
    up: u64,
    degraded: u64,
    down: u64,
    satisfied: u64,
    tolerating: u64,
}

fn micros(window: &[TimeWindow]) -> Vec<(i64, i64)> {
    window.iter().map(TimeWindow::micros).collect()
}

fn day_of(secs: i64) -> NaiveDate {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .date_naive()
}

/// Per-monitor uptime (overall = all regions' checks) from monitor → region → counts.
fn monitor_uptimes(monitors: BTreeMap<Uuid, BTreeMap<String, Counts>>) -> Vec<MonitorUptime> {
    monitors
        .into_iter()
        .map(|(monitor_id, regions)| MonitorUptime {
            monitor_id,
            overall: regions.values().fold(Counts::default(), |mut all, c| {
                all.add(c);
                all
            }),
            regions: regions
                .into_iter()
                .map(|(region, counts)| RegionCounts { region, counts })
                .collect(),
        })
        .collect()
}

/// `days` bars from `first_day` (epoch seconds of a UTC midnight) per monitor of `monitors`, or
/// per monitor in `by_monitor` (monitor → day start → counts) when `monitors` is empty.
fn monitor_bars(
    monitors: &[Uuid],
    by_monitor: &BTreeMap<Uuid, BTreeMap<i64, Counts>>,
    first_day: i64,
    days: i64,
) -> Vec<MonitorBars> {
    let empty = BTreeMap::new();
    let bars = |monitor_id: Uuid| {
        let per_day = by_monitor.get(&monitor_id).unwrap_or(&empty);
        MonitorBars {
            monitor_id,
            days: (0..days)
                .map(|i| {
                    let secs = first_day + i * 86_400;
                    let counts = per_day.get(&secs).copied().unwrap_or_default();
                    DailyBar {
                        day: day_of(secs),
                        counts,
                        status: counts.worst(),
                    }
                })
                .collect(),
        }
    };
    if monitors.is_empty() {
        by_monitor.keys().map(|m| bars(*m)).collect()
    } else {
        monitors.iter().map(|m| bars(*m)).collect()
    }
}

/// A row of `status_page_summary` (see `migrations/0003_status_page_summary.sql`).
#[derive(Debug, Row, Deserialize)]
struct SummaryRow {
    kind: String,
    until: u32,
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: Uuid,
    region: String,
    /// Days since 1970-01-01.
    day: u32,
    checks: Vec<u64>,
    up: Vec<u64>,
    degraded: Vec<u64>,
    down: Vec<u64>,
    latency_samples: u64,
    total_us_sum: u64,
    total: Vec<f64>,
}

impl SummaryRow {
    fn counts(&self, i: usize) -> Counts {
        let at = |v: &Vec<u64>| v.get(i).copied().unwrap_or(0);
        Counts {
            checks: at(&self.checks),
            up: at(&self.up),
            degraded: at(&self.degraded),
            down: at(&self.down),
        }
    }
}

/// An hourly rollup row after the summary's `until` (which the query read, to detect a refresh
/// between the two queries).
#[derive(Debug, Row, Deserialize)]
struct LiveRow {
    until: u32,
    #[serde(with = "clickhouse::serde::uuid")]
    monitor_id: Uuid,
    region: String,
    bucket: u32,
    checks: u64,
    up: u64,
    degraded: u64,
    down: u64,
}

const SUMMARY_MARKER: &str = "toUUID('00000000-0000-0000-0000-000000000000')";

fn summary_sql(tenant: Uuid) -> String {
    format!(
        "SELECT toString(kind) AS kind, toUInt32(until) AS until, monitor_id, region, \
         toUInt32(day) AS day, checks, up, degraded, down, latency_samples, total_us_sum, total \
         FROM status_page_summary WHERE tenant_id IN (toUUID('{tenant}'), {SUMMARY_MARKER})"
    )
}

/// Rows are not grouped (the caller adds them up): an unmerged part or two per hour at most.
fn live_sql(tenant: Uuid, oldest: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "SELECT toUInt32(u) AS until, monitor_id, region, toUInt32(bucket) AS bucket, \
         toUInt64(checks) AS checks, toUInt64(up) AS up, toUInt64(degraded) AS degraded, \
         toUInt64(down) AS down \
         FROM check_rollup_hourly \
         WHERE tenant_id = toUUID('{tenant}') \
         AND bucket >= greatest(ifNull((SELECT max(until) FROM status_page_summary \
                                        WHERE tenant_id = {SUMMARY_MARKER}), \
                                       toDateTime(0, 'UTC')) AS u, toDateTime({}, 'UTC')) \
         AND bucket < toDateTime({}, 'UTC')",
        oldest.timestamp(),
        ceil_secs(now.timestamp_micros()),
    )
}

/// The status page's figures from the summary rows and the live rows after `until`.
fn from_summary(
    monitors: &[Uuid],
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    summary: &[SummaryRow],
    live: &[LiveRow],
) -> StatusPageAnalytics {
    const DAYS: i64 = 90;
    let today = now.timestamp().div_euclid(86_400) * 86_400;
    let first_day = today - (DAYS - 1) * 86_400;
    let mut windows: Vec<BTreeMap<Uuid, BTreeMap<String, Counts>>> =
        vec![BTreeMap::new(); STATUS_PAGE_WINDOWS.len()];
    let mut days: BTreeMap<Uuid, BTreeMap<i64, Counts>> = BTreeMap::new();
    let mut add_day = |monitor: Uuid, day: i64, counts: &Counts| {
        let wanted = monitors.is_empty() || monitors.contains(&monitor);
        if wanted && (first_day..=today).contains(&day) {
            days.entry(monitor)
                .or_default()
                .entry(day)
                .or_default()
                .add(counts);
        }
    };
    let mut latency_24h = Vec::new();
    for row in summary {
        match row.kind.as_str() {
            "window" => {
                for (i, window) in windows.iter_mut().enumerate() {
                    let counts = row.counts(i);
                    if counts.checks > 0 {
                        window
                            .entry(row.monitor_id)
                            .or_default()
                            .entry(row.region.clone())
                            .or_default()
                            .add(&counts);
                    }
                }
            }
            "day" => add_day(row.monitor_id, i64::from(row.day) * 86_400, &row.counts(0)),
            "latency" => latency_24h.push(RegionLatency {
                monitor_id: row.monitor_id,
                region: row.region.clone(),
                counts: row.counts(0),
                samples: row.latency_samples,
                mean_total_us: (row.latency_samples > 0)
                    .then(|| row.total_us_sum as f64 / row.latency_samples as f64),
                total: Quantiles::from_array(&row.total).filter(|_| row.latency_samples > 0),
                phases: None,
            }),
            _ => {}
        }
    }
    for row in live {
        let counts = Counts {
            checks: row.checks,
            up: row.up,
            degraded: row.degraded,
            down: row.down,
        };
        // Every live row is after `until`, so inside every window.
        for window in &mut windows {
            window
                .entry(row.monitor_id)
                .or_default()
                .entry(row.region.clone())
                .or_default()
                .add(&counts);
        }
        let bucket = i64::from(row.bucket);
        add_day(row.monitor_id, bucket - bucket.rem_euclid(86_400), &counts);
    }
    latency_24h.sort_by(|a, b| (a.monitor_id, &a.region).cmp(&(b.monitor_id, &b.region)));
    StatusPageAnalytics {
        generated_at: now,
        bars: monitor_bars(monitors, &days, first_day, DAYS),
        uptime: STATUS_PAGE_WINDOWS
            .iter()
            .map(|(label, _)| label.to_string())
            .zip(windows.into_iter().map(monitor_uptimes))
            .collect(),
        latency_24h,
        latency_since: until - Duration::days(1),
        latency_until: until,
        summary_until: Some(until),
    }
}

impl Analytics {
    fn horizons(&self) -> Horizons {
        Horizons::new(Utc::now().timestamp_micros(), self.raw_ttl_days)
    }

    async fn fetch<T>(&self, op: &'static str, sql: &str) -> Result<Vec<T>>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        tracing::trace!(op, sql, "clickhouse query");
        self.client
            .query(sql)
            .fetch_all()
            .await
            .map_err(|source| AnalyticsError::Query { op, source })
    }

    /// Uptime of every monitor of `tenant` over each of `windows` (one query for all), overall
    /// and per region; checks inside `maintenance` (half-open UTC ranges) are left out. Monitors
    /// without checks in a window are absent from that window's list.
    pub async fn uptime_windows(
        &self,
        tenant: Uuid,
        windows: &[TimeWindow],
        maintenance: &[TimeWindow],
        source: Source,
    ) -> Result<Vec<Vec<MonitorUptime>>> {
        let horizons = self.horizons();
        let exclude = micros(maintenance);
        let plans: Vec<Plan> = windows
            .iter()
            .map(|w| plan(w.micros(), &exclude, source, horizons))
            .collect();
        let (parts, segment_windows) = segmented(&plans);
        // window → monitor → region → counts
        let mut out: Vec<BTreeMap<Uuid, BTreeMap<String, Counts>>> =
            vec![BTreeMap::new(); windows.len()];
        if !parts.is_empty() {
            let sql = query_sql(&parts, &tenant_filter(tenant, &[]), Columns::Counts, true);
            let rows: Vec<CountsRow> = self.fetch("uptime", &sql).await?;
            for row in rows {
                let counts = row.counts();
                for w in segment_windows.get(&row.k).into_iter().flatten() {
                    out[*w]
                        .entry(row.monitor_id)
                        .or_default()
                        .entry(row.region.clone())
                        .or_default()
                        .add(&counts);
                }
            }
        }
        Ok(out.into_iter().map(monitor_uptimes).collect())
    }

    /// Uptime of every monitor of `tenant` over one window; see [`Analytics::uptime_windows`].
    pub async fn uptime_report(
        &self,
        tenant: Uuid,
        window: TimeWindow,
        maintenance: &[TimeWindow],
        source: Source,
    ) -> Result<Vec<MonitorUptime>> {
        Ok(self
            .uptime_windows(tenant, &[window], maintenance, source)
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// `days` daily bars (UTC days, the last one is today, up to `now`) per monitor: one entry
    /// per monitor in `monitors`, or per monitor with data when `monitors` is empty. Days without
    /// checks are [`BarStatus::NoData`].
    pub async fn daily_bars(
        &self,
        tenant: Uuid,
        monitors: &[Uuid],
        days: u32,
        now: DateTime<Utc>,
        maintenance: &[TimeWindow],
        source: Source,
    ) -> Result<Vec<MonitorBars>> {
        let days = i64::from(days.max(1));
        let today = now.timestamp_micros().div_euclid(DAY_US) * DAY_US;
        let window = (today - (days - 1) * DAY_US, today + DAY_US);
        let plan = plan(window, &micros(maintenance), source, self.horizons());
        let empty = plan.is_empty();
        let parts = parts_of(plan, Key::Bucket(86_400));
        let rows: Vec<CountsRow> = if empty {
            Vec::new()
        } else {
            let sql = query_sql(
                &parts,
                &tenant_filter(tenant, monitors),
                Columns::Counts,
                false,
            );
            self.fetch("daily bars", &sql).await?
        };
        let mut by_monitor: BTreeMap<Uuid, BTreeMap<i64, Counts>> =
            monitors.iter().map(|m| (*m, BTreeMap::new())).collect();
        for row in &rows {
            by_monitor
                .entry(row.monitor_id)
                .or_default()
                .entry(row.k)
                .or_default()
                .add(&row.counts());
        }
        Ok(monitor_bars(
            monitors,
            &by_monitor,
            window.0 / 1_000_000,
            days,
        ))
    }

    /// Latency percentiles (p50/p75/p90/p95/p99 of every phase and the total) per monitor and
    /// region of `tenant` over `window`. Down checks have no meaningful latency and are left out.
    pub async fn latency(
        &self,
        tenant: Uuid,
        window: TimeWindow,
        source: Source,
    ) -> Result<Vec<RegionLatency>> {
        self.latency_of(tenant, &[], window, source).await
    }

    /// Like [`Analytics::latency`] for the given monitors of `tenant` only (all when empty).
    pub async fn latency_of(
        &self,
        tenant: Uuid,
        monitors: &[Uuid],
        window: TimeWindow,
        source: Source,
    ) -> Result<Vec<RegionLatency>> {
        let parts = parts_of(
            plan(window.micros(), &[], source, self.horizons()),
            Key::Tag(0),
        );
        let sql = query_sql(
            &parts,
            &tenant_filter(tenant, monitors),
            Columns::Latency,
            true,
        );
        let mut rows: Vec<LatencyRow> = self.fetch("latency", &sql).await?;
        rows.sort_by(|a, b| (a.monitor_id, &a.region).cmp(&(b.monitor_id, &b.region)));
        Ok(rows
            .into_iter()
            .map(|row| {
                let phases = row.phases();
                RegionLatency {
                    monitor_id: row.monitor_id,
                    counts: row.counts(),
                    samples: row.latency_samples,
                    mean_total_us: row.mean(),
                    total: phases.map(|p| p.total),
                    phases,
                    region: row.region,
                }
            })
            .collect())
    }

    /// Like [`Analytics::latency`] with the total time's percentiles only (what a status page
    /// shows; a sixth of the work).
    pub async fn latency_total(
        &self,
        tenant: Uuid,
        window: TimeWindow,
        source: Source,
    ) -> Result<Vec<RegionLatency>> {
        let parts = parts_of(
            plan(window.micros(), &[], source, self.horizons()),
            Key::Tag(0),
        );
        let sql = query_sql(&parts, &tenant_filter(tenant, &[]), Columns::Total, true);
        let mut rows: Vec<TotalRow> = self.fetch("latency", &sql).await?;
        rows.sort_by(|a, b| (a.monitor_id, &a.region).cmp(&(b.monitor_id, &b.region)));
        Ok(rows
            .into_iter()
            .map(|row| RegionLatency {
                monitor_id: row.monitor_id,
                counts: row.counts(),
                samples: row.latency_samples,
                mean_total_us: row.mean(),
                total: row.total(),
                phases: None,
                region: row.region,
            })
            .collect())
    }

    /// A chart series of one monitor per region: counts and total-time percentiles per bucket.
    /// The resolution is [`Resolution::for_window`] unless given. Buckets partly outside the
    /// window are whole (a bucket belongs to the window when its start does).
    pub async fn series(
        &self,
        tenant: Uuid,
        monitor: Uuid,
        window: TimeWindow,
        resolution: Option<Resolution>,
    ) -> Result<Series> {
        let now = Utc::now();
        let resolution =
            resolution.unwrap_or_else(|| Resolution::for_window(&window, now, self.raw_ttl_days));
        let table = match resolution {
            Resolution::Raw => Table::Raw,
            Resolution::Hour => Table::Hourly,
            Resolution::Day => Table::Daily,
        };
        let (a, b) = window.micros();
        let part = Part {
            table,
            ranges: vec![(a, b)],
            key: Key::Bucket(resolution.bucket_secs()),
        };
        let sql = query_sql(
            &[part],
            &tenant_filter(tenant, &[monitor]),
            Columns::Total,
            true,
        );
        let mut rows: Vec<TotalRow> = self.fetch("series", &sql).await?;
        rows.sort_by(|a, b| (&a.region, a.k).cmp(&(&b.region, b.k)));
        let points = rows
            .into_iter()
            .map(|row| {
                let total = row.total();
                SeriesPoint {
                    at: DateTime::from_timestamp(row.k, 0).unwrap_or_default(),
                    counts: row.counts(),
                    mean_total_us: row.mean(),
                    p50_total_us: total.map(|q| q.p50),
                    p95_total_us: total.map(|q| q.p95),
                    p99_total_us: total.map(|q| q.p99),
                    region: row.region,
                }
            })
            .collect();
        Ok(Series { resolution, points })
    }

    /// Chart series of each group (its monitors' checks merged) over `window` at `resolution`
    /// (hourly or daily; raw reads hours): all regions together (region `""`) and, with
    /// `by_region`, each region too. One series per group with monitors, in the groups' order.
    pub async fn group_series(
        &self,
        tenant: Uuid,
        groups: &[MonitorGroup],
        window: TimeWindow,
        resolution: Resolution,
        by_region: bool,
    ) -> Result<Vec<GroupSeries>> {
        let groups: Vec<MonitorGroup> = groups
            .iter()
            .filter(|g| !g.monitors.is_empty())
            .cloned()
            .collect();
        // No monitors: nothing to read (an empty filter would mean every monitor).
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let (table, resolution) = match resolution {
            Resolution::Day => (Table::Daily, Resolution::Day),
            Resolution::Hour | Resolution::Raw => (Table::Hourly, Resolution::Hour),
        };
        let part = Part {
            table,
            ranges: vec![window.micros()],
            key: Key::Bucket(resolution.bucket_secs()),
        };
        let mut sql = vec![grouped_query_sql(
            std::slice::from_ref(&part),
            &groups,
            tenant,
            Columns::Total,
            false,
        )];
        if by_region {
            sql.push(grouped_query_sql(
                &[part],
                &groups,
                tenant,
                Columns::Total,
                true,
            ));
        }
        let mut rows: Vec<TotalRow> = self.fetch("group series", &sql.join(" UNION ALL ")).await?;
        rows.sort_by(|a, b| (a.monitor_id, &a.region, a.k).cmp(&(b.monitor_id, &b.region, b.k)));
        Ok(groups
            .iter()
            .map(|g| GroupSeries {
                group_id: g.id,
                points: rows
                    .iter()
                    .filter(|r| r.monitor_id == g.id)
                    .map(|row| {
                        let total = row.total();
                        SeriesPoint {
                            at: DateTime::from_timestamp(row.k, 0).unwrap_or_default(),
                            region: row.region.clone(),
                            counts: row.counts(),
                            mean_total_us: row.mean(),
                            p50_total_us: total.map(|q| q.p50),
                            p95_total_us: total.map(|q| q.p95),
                            p99_total_us: total.map(|q| q.p99),
                        }
                    })
                    .collect(),
            })
            .collect())
    }

    /// Every phase's percentiles of each group (its monitors' checks merged) over `window`:
    /// all regions together (region `""`) and, with `by_region`, per region. Groups without
    /// checks (or monitors) are absent.
    pub async fn group_latency(
        &self,
        tenant: Uuid,
        groups: &[MonitorGroup],
        window: TimeWindow,
        source: Source,
        by_region: bool,
    ) -> Result<Vec<GroupLatency>> {
        let groups: Vec<MonitorGroup> = groups
            .iter()
            .filter(|g| !g.monitors.is_empty())
            .cloned()
            .collect();
        let parts = parts_of(
            plan(window.micros(), &[], source, self.horizons()),
            Key::Tag(0),
        );
        if groups.is_empty() || parts.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = vec![grouped_query_sql(
            &parts,
            &groups,
            tenant,
            Columns::Latency,
            false,
        )];
        if by_region {
            sql.push(grouped_query_sql(
                &parts,
                &groups,
                tenant,
                Columns::Latency,
                true,
            ));
        }
        let mut rows: Vec<LatencyRow> = self
            .fetch("group latency", &sql.join(" UNION ALL "))
            .await?;
        rows.sort_by(|a, b| (a.monitor_id, &a.region).cmp(&(b.monitor_id, &b.region)));
        Ok(rows
            .into_iter()
            .map(|row| GroupLatency {
                group_id: row.monitor_id,
                counts: row.counts(),
                samples: row.latency_samples,
                phases: row.phases(),
                region: row.region,
            })
            .collect())
    }

    /// What a status page's charts need of its components ([`MonitorGroup`]s): for each of
    /// [`CHART_PERIODS`] a series per group (all regions together, and per region with
    /// `by_region`), and the phase breakdown of the last 24 hours, in three concurrent queries.
    /// The hourly periods end with the current (partial) hour, the daily one with today.
    pub async fn group_charts(
        &self,
        tenant: Uuid,
        groups: &[MonitorGroup],
        now: DateTime<Utc>,
        by_region: bool,
    ) -> Result<GroupCharts> {
        let start_of = |buckets: i64, resolution: Resolution| {
            let secs = resolution.bucket_secs();
            let current = now.timestamp().div_euclid(secs) * secs;
            DateTime::from_timestamp(current - (buckets - 1) * secs, 0).unwrap_or(now)
        };
        let window_of = |buckets: i64, resolution: Resolution| TimeWindow {
            start: start_of(buckets, resolution),
            end: now.max(start_of(buckets, resolution) + Duration::seconds(1)),
        };
        let (_, hourly_buckets, _) = CHART_PERIODS[1];
        let (_, daily_buckets, _) = CHART_PERIODS[2];
        let (hourly, daily, latency_24h) = tokio::try_join!(
            self.group_series(
                tenant,
                groups,
                window_of(hourly_buckets, Resolution::Hour),
                Resolution::Hour,
                by_region
            ),
            self.group_series(
                tenant,
                groups,
                window_of(daily_buckets, Resolution::Day),
                Resolution::Day,
                by_region
            ),
            self.group_latency(
                tenant,
                groups,
                TimeWindow::status_page(now, 1),
                Source::Rollups,
                by_region
            ),
        )?;
        let periods = CHART_PERIODS
            .iter()
            .map(|(label, buckets, resolution)| {
                let since = start_of(*buckets, *resolution);
                let source = if *resolution == Resolution::Day {
                    &daily
                } else {
                    &hourly
                };
                ChartPeriod {
                    label: (*label).to_owned(),
                    since,
                    until: now,
                    resolution: *resolution,
                    series: source
                        .iter()
                        .map(|s| GroupSeries {
                            group_id: s.group_id,
                            points: s.points.iter().filter(|p| p.at >= since).cloned().collect(),
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(GroupCharts {
            generated_at: now,
            periods,
            latency_24h,
        })
    }

    /// Apdex of one monitor (all regions) with threshold `threshold_ms` (a positive multiple of
    /// [`APDEX_BIN_MS`], so the rollups answer it exactly) over `window`, against the previous
    /// window of the same length; see [`ApdexTrend::is_significant_degradation`].
    pub async fn apdex(
        &self,
        tenant: Uuid,
        monitor: Uuid,
        threshold_ms: u32,
        window: TimeWindow,
        maintenance: &[TimeWindow],
        source: Source,
    ) -> Result<ApdexTrend> {
        if threshold_ms == 0
            || !threshold_ms.is_multiple_of(APDEX_BIN_MS)
            || threshold_ms > 1_000_000
        {
            return Err(AnalyticsError::InvalidArgument(format!(
                "Apdex threshold {threshold_ms} ms must be a positive multiple of {APDEX_BIN_MS} ms"
            )));
        }
        let horizons = self.horizons();
        let exclude = micros(maintenance);
        let plans = [
            plan(window.micros(), &exclude, source, horizons),
            plan(window.previous().micros(), &exclude, source, horizons),
        ];
        let (parts, segment_windows) = segmented(&plans);
        let mut sums = [(0u64, 0u64, 0u64); 2];
        if !parts.is_empty() {
            let sql = query_sql(
                &parts,
                &tenant_filter(tenant, &[monitor]),
                Columns::Apdex(threshold_ms / APDEX_BIN_MS),
                false,
            );
            let rows: Vec<ApdexRow> = self.fetch("apdex", &sql).await?;
            for row in rows {
                debug_assert!(row.monitor_id == monitor && row.region.is_empty());
                debug_assert!(row.up + row.degraded + row.down == row.checks);
                for w in segment_windows.get(&row.k).into_iter().flatten() {
                    let s = &mut sums[*w];
                    s.0 += row.checks;
                    s.1 += row.satisfied;
                    s.2 += row.tolerating;
                }
            }
        }
        let [cur, prev] = sums.map(|(n, s, t)| Apdex::new(threshold_ms, n, s, t));
        Ok(ApdexTrend::new(cur, prev))
    }

    /// The status page's whole analytics for one tenant: 90 daily bars, uptime over 24h / 7d /
    /// 30d / 90d (overall and per region) and the last 24 hours' latency per region, in three
    /// concurrent queries. The windows are [`TimeWindow::status_page`] (starting on the hour), so
    /// they are answered from the rollups alone.
    pub async fn status_page_analytics(
        &self,
        tenant: Uuid,
        monitors: &[Uuid],
        now: DateTime<Utc>,
        maintenance: &[TimeWindow],
        source: Source,
    ) -> Result<StatusPageAnalytics> {
        let windows: Vec<TimeWindow> = STATUS_PAGE_WINDOWS
            .iter()
            .map(|(_, days)| TimeWindow::status_page(now, *days))
            .collect();
        let (bars, uptime, latency_24h) = tokio::try_join!(
            self.daily_bars(tenant, monitors, 90, now, maintenance, source),
            self.uptime_windows(tenant, &windows, maintenance, source),
            self.latency_total(tenant, windows[0], source),
        )?;
        Ok(StatusPageAnalytics {
            generated_at: now,
            bars,
            uptime: STATUS_PAGE_WINDOWS
                .iter()
                .map(|(label, _)| label.to_string())
                .zip(uptime)
                .collect(),
            latency_24h,
            latency_since: windows[0].start,
            latency_until: now,
            summary_until: None,
        })
    }

    /// Runs the hourly refresh of `status_page_summary` now and waits for it (tests, the
    /// benchmark, after a backfill of old rows).
    pub async fn refresh_status_page_summary(&self) -> Result<()> {
        for sql in [
            "SYSTEM REFRESH VIEW status_page_summary_mv",
            "SYSTEM WAIT VIEW status_page_summary_mv",
        ] {
            self.client
                .query(sql)
                .execute()
                .await
                .map_err(|source| AnalyticsError::Query {
                    op: "refresh status page summary",
                    source,
                })?;
        }
        Ok(())
    }

    /// What a status page shows, the fast way: the `status_page_summary` rows of `tenant`
    /// (refreshed every hour up to `until`, the start of the previous hour) plus the hourly
    /// rollup's rows from `until` on, in two small concurrent queries. Bars and uptime windows
    /// are exact (counts add up); the latency percentiles cover the 24 whole hours before `until`.
    ///
    /// Computed from the rollups on the spot instead ([`Analytics::status_page_analytics`])
    /// when maintenance windows are to be left out (the summary does not know them), when no
    /// refresh has run yet, or when the last one is over a day old.
    pub async fn status_page(
        &self,
        tenant: Uuid,
        monitors: &[Uuid],
        now: DateTime<Utc>,
        maintenance: &[TimeWindow],
    ) -> Result<StatusPageAnalytics> {
        let hour = TimeWindow::status_page(now, 0).start;
        let oldest = hour - Duration::days(1);
        let relevant = TimeWindow {
            start: hour - Duration::days(92),
            end: now,
        };
        if maintenance.iter().any(|m| m.overlaps(&relevant)) {
            return self
                .status_page_analytics(tenant, monitors, now, maintenance, Source::Rollups)
                .await;
        }
        // A refresh between the two queries shows as different `until`s: read again.
        let (summary_sql, live_sql) = (summary_sql(tenant), live_sql(tenant, oldest, now));
        for _ in 0..3 {
            let (summary, live) = tokio::try_join!(
                self.fetch::<SummaryRow>("status page summary", &summary_sql),
                self.fetch::<LiveRow>("status page live", &live_sql),
            )?;
            let Some(until) = summary.iter().find(|r| r.kind == "marker").map(|r| r.until) else {
                break;
            };
            let until_at = DateTime::from_timestamp(i64::from(until), 0).unwrap_or_default();
            if until_at < oldest || until_at > now {
                break;
            }
            if live.iter().any(|r| r.until != until) {
                continue;
            }
            return Ok(from_summary(monitors, now, until_at, &summary, &live));
        }
        self.status_page_analytics(tenant, monitors, now, maintenance, Source::Rollups)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apdex_score_and_degradation_rule() {
        let a = Apdex::new(500, 100, 80, 10);
        assert_eq!(a.frustrated, 10);
        assert_eq!(a.score, Some(0.85));
        let prev = Apdex::new(500, 1000, 990, 10);
        let cur = Apdex::new(500, 1000, 850, 100);
        let trend = ApdexTrend::new(cur, prev);
        assert!(trend.significant_degradation);
        assert!((trend.change.unwrap() - (0.9 - 0.995)).abs() < 1e-9);
        // The same drop on a handful of checks is not significant.
        let small = ApdexTrend::new(Apdex::new(500, 10, 8, 1), Apdex::new(500, 10, 10, 0));
        assert!(!small.significant_degradation);
        // No data, no verdict.
        let none = ApdexTrend::new(Apdex::new(500, 0, 0, 0), prev);
        assert_eq!((none.change, none.significant_degradation), (None, false));
    }

    #[test]
    fn counts_never_make_up_uptime() {
        let empty = Counts::default();
        assert_eq!(empty.uptime_percent(), None);
        assert_eq!(empty.worst(), BarStatus::NoData);
        let c = Counts {
            checks: 4,
            up: 2,
            degraded: 1,
            down: 1,
        };
        assert_eq!(c.uptime_percent(), Some(75.0));
        assert_eq!(c.worst(), BarStatus::Down);
    }
}
