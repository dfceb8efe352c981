//! The analytics store: everything about the past that status pages and the admin UI show.
//!
//! Raw check results live in ClickHouse; this crate owns their schema (versioned SQL files under
//! `migrations/`), the row type the checker writes, and the queries the API reads.

mod migrate;
mod queries;
mod row;

pub use queries::{RegionLatest, UptimeSummary};
pub use row::{CheckRow, STATUS_DEGRADED, STATUS_DOWN, STATUS_UP};

use clickhouse::Client;

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
}

pub type Result<T, E = AnalyticsError> = std::result::Result<T, E>;

/// A handle on our ClickHouse database. Cheap to clone.
#[derive(Clone)]
pub struct Analytics {
    client: Client,
    server: Client,
    database: String,
}

impl Analytics {
    /// `url` is the HTTP interface (e.g. `http://127.0.0.1:8123`); `database` is ours alone.
    pub fn new(url: &str, database: &str) -> Result<Self> {
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
        })
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

    /// Inserts one batch. `batch_token` makes a retried batch count once
    /// (`insert_deduplication_token`; the table keeps a deduplication window).
    pub async fn insert_checks(&self, rows: &[CheckRow], batch_token: &str) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let op = "insert check_results";
        let wrap = |source| AnalyticsError::Query { op, source };
        let mut insert = self
            .client
            .insert::<CheckRow>("check_results")
            .await
            .map_err(wrap)?
            .with_setting("insert_deduplication_token", batch_token);
        for row in rows {
            insert.write(row).await.map_err(wrap)?;
        }
        insert.end().await.map_err(wrap)
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
