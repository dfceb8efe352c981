//! The analytics store: everything about the past that status pages and the admin UI show.
//!
//! Raw check results live in ClickHouse; this crate owns their schema (versioned SQL files under
//! `migrations/`: the raw table and hourly / daily rollups filled by materialized views), the row
//! type the checker writes, the batched, spooling [`Writer`], and the queries the API reads
//! (uptime, daily bars, latency percentiles, chart series, Apdex). Every attempt is stored; the
//! queries count checks (see [`CheckRow`]).

mod migrate;
mod queries;
mod reports;
mod row;
#[cfg(feature = "testing")]
pub mod testing;
mod window;
mod writer;

pub use queries::{RegionLatest, UptimeSummary};
pub use reports::{
    Apdex, ApdexTrend, BarStatus, ChartPeriod, Counts, DailyBar, GroupCharts, GroupLatency,
    GroupSeries, MonitorBars, MonitorGroup, MonitorUptime, PhaseLatency, Quantiles, RegionCounts,
    RegionLatency, Resolution, Series, SeriesPoint, StatusPageAnalytics, APDEX_BIN_MS,
    CHART_PERIODS, STATUS_PAGE_WINDOWS,
};
pub use row::{CheckRow, STATUS_DEGRADED, STATUS_DOWN, STATUS_UP};
pub use window::{Source, TimeWindow};
pub use writer::{ReplayReport, WriteOutcome, Writer, WriterConfig};

use clickhouse::Client;

/// How long one insert may wait on ClickHouse for each chunk sent and for its answer.
pub const INSERT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Errors talking to ClickHouse. The message names the operation so logs say what failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("clickhouse {op}: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error("clickhouse migration {name}: {source}")]
    Migration {
        name: String,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error("invalid clickhouse database name {0:?}: use letters, digits and underscores")]
    DatabaseName(String),
    #[error("invalid {name}: {message}")]
    Config { name: &'static str, message: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("spool {path}: {source}")]
    Spool {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = AnalyticsError> = std::result::Result<T, E>;

/// Default retention of raw rows (`CLICKHOUSE_RAW_TTL_DAYS`).
pub const DEFAULT_RAW_TTL_DAYS: u32 = 35;
/// Retention of the hourly rollup (fixed in `migrations/0002_rollups.sql`).
pub const HOURLY_TTL_DAYS: u32 = 100;
/// Retention of the daily rollup (fixed in `migrations/0002_rollups.sql`).
pub const DAILY_TTL_DAYS: u32 = 400;

/// A handle on our ClickHouse database. Cheap to clone.
#[derive(Clone)]
pub struct Analytics {
    client: Client,
    server: Client,
    database: String,
    raw_ttl_days: u32,
}

/// Reads `CLICKHOUSE_RAW_TTL_DAYS` (days raw rows are kept; default 35, at least 2).
pub fn raw_ttl_days_from_env() -> Result<u32> {
    match std::env::var("CLICKHOUSE_RAW_TTL_DAYS") {
        Err(_) => Ok(DEFAULT_RAW_TTL_DAYS),
        Ok(value) if value.trim().is_empty() => Ok(DEFAULT_RAW_TTL_DAYS),
        Ok(value) => match value.trim().parse::<u32>() {
            Ok(days) if (2..=3650).contains(&days) => Ok(days),
            _ => Err(AnalyticsError::Config {
                name: "CLICKHOUSE_RAW_TTL_DAYS",
                message: format!("{value:?} is not a number of days between 2 and 3650"),
            }),
        },
    }
}

/// The user and password to sign in with, from `lookup` (the environment: `CLICKHOUSE_USER`,
/// `CLICKHOUSE_PASSWORD`). `None` without a user (ClickHouse's `default` user, no password); a
/// password without a user is refused, naming the variable.
pub fn credentials_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>> {
    let user = lookup("CLICKHOUSE_USER").filter(|u| !u.trim().is_empty());
    let password = lookup("CLICKHOUSE_PASSWORD").unwrap_or_default();
    match user {
        Some(user) => Ok(Some((user.trim().to_owned(), password))),
        None if !password.is_empty() => Err(AnalyticsError::Config {
            name: "CLICKHOUSE_PASSWORD",
            message: "is set but CLICKHOUSE_USER is not: name the user it belongs to".into(),
        }),
        None => Ok(None),
    }
}

impl Analytics {
    /// `url` is the HTTP interface (e.g. `http://127.0.0.1:8123`, or `https://…:8443` for
    /// ClickHouse Cloud; the server's certificate is checked against the system's roots, or
    /// `SSL_CERT_FILE`); `database` is ours alone. The raw-row retention comes from
    /// `CLICKHOUSE_RAW_TTL_DAYS` (see [`raw_ttl_days_from_env`]) and the sign-in from
    /// `CLICKHOUSE_USER` / `CLICKHOUSE_PASSWORD` ([`credentials_from`]); override them with
    /// [`Analytics::with_raw_ttl_days`] and [`Analytics::with_credentials`].
    pub fn new(url: &str, database: &str) -> Result<Self> {
        let analytics = Self::without_credentials(url, database)?;
        Ok(match credentials_from(|name| std::env::var(name).ok())? {
            Some((user, password)) => analytics.with_credentials(&user, &password),
            None => analytics,
        })
    }

    /// Signs every request in as `user` (sent as `X-ClickHouse-User` / `X-ClickHouse-Key`).
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.server = self.server.with_user(user).with_password(password);
        self.client = self.client.with_user(user).with_password(password);
        self
    }

    fn without_credentials(url: &str, database: &str) -> Result<Self> {
        let valid = !database.is_empty()
            && database.len() <= 64
            && database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(AnalyticsError::DatabaseName(database.to_owned()));
        }
        let server = Client::default().with_url(url);
        let client = server.clone().with_database(database);
        Ok(Self {
            client,
            server,
            database: database.to_owned(),
            raw_ttl_days: raw_ttl_days_from_env()?,
        })
    }

    /// Days raw rows are kept; [`Analytics::migrate`] applies it to the table when it differs.
    pub fn with_raw_ttl_days(mut self, days: u32) -> Self {
        self.raw_ttl_days = days.max(2);
        self
    }

    pub fn raw_ttl_days(&self) -> u32 {
        self.raw_ttl_days
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Answers when ClickHouse is reachable.
    pub async fn ping(&self) -> Result<()> {
        self.server
            .query("SELECT 1")
            .execute()
            .await
            .map_err(|source| AnalyticsError::Query { op: "ping", source })
    }

    /// Inserts one batch, once: `batch_token` makes a retried batch count once
    /// (`insert_deduplication_token`; the raw table and the rollups keep a deduplication window,
    /// and a deduplicated block is not counted again by the materialized views).
    /// [`Writer`] adds retries and the spool on top of this.
    pub async fn insert_checks(&self, rows: &[CheckRow], batch_token: &str) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let op = "insert check_results";
        let wrap = |source| AnalyticsError::Query { op, source };
        // A ClickHouse that accepts connections but never answers must not hold a writer (and
        // the run behind it) forever: a timed-out insert is retried or spooled like a refused
        // one, and its deduplication token keeps a retry from counting twice.
        let insert = async {
            let mut insert = self
                .client
                .insert::<CheckRow>("check_results")
                .await
                .map_err(wrap)?
                .with_timeouts(Some(INSERT_TIMEOUT), Some(INSERT_TIMEOUT))
                .with_setting("insert_deduplication_token", batch_token)
                .with_setting("insert_deduplicate", "1")
                .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1");
            for row in rows {
                insert.write(row).await.map_err(wrap)?;
            }
            insert.end().await.map_err(wrap)
        };
        tokio::time::timeout(2 * INSERT_TIMEOUT, insert)
            .await
            .unwrap_or_else(|_| Err(wrap(clickhouse::error::Error::TimedOut)))
    }

    /// Drops our database; for tests that create a throwaway one.
    pub async fn drop_database(&self) -> Result<()> {
        self.server
            .query("DROP DATABASE IF EXISTS ?")
            .bind(clickhouse::sql::Identifier(&self.database))
            .execute()
            .await
            .map_err(|source| AnalyticsError::Query {
                op: "drop database",
                source,
            })
    }
}
