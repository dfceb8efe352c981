//! Versioned ClickHouse migrations: SQL files applied once, in order, recorded in `schema_migrations`.

use crate::{Analytics, AnalyticsError, Result};
use clickhouse::sql::Identifier;

struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "check_results",
        sql: include_str!("../migrations/0001_check_results.sql"),
    },
    Migration {
        version: 2,
        name: "rollups",
        sql: include_str!("../migrations/0002_rollups.sql"),
    },
    Migration {
        version: 3,
        name: "status_page_summary",
        sql: include_str!("../migrations/0003_status_page_summary.sql"),
    },
    Migration {
        version: 4,
        name: "one_count_per_check",
        sql: include_str!("../migrations/0004_one_count_per_check.sql"),
    },
    Migration {
        version: 5,
        name: "views_run_as_their_definer",
        sql: include_str!("../migrations/0005_views_run_as_their_definer.sql"),
    },
];

impl Analytics {
    /// Creates the database, applies pending migrations (each recorded in `schema_migrations`)
    /// and sets the raw rows' TTL to [`Analytics::raw_ttl_days`] when it differs. Safe to run on
    /// every start.
    pub async fn migrate(&self) -> Result<()> {
        self.migrate_to(u32::MAX).await
    }

    /// [`Analytics::migrate`] up to migration `last` only: for tests that build a database as
    /// an older release left it.
    #[doc(hidden)]
    pub async fn migrate_to(&self, last: u32) -> Result<()> {
        let fail = |name: &str| {
            let name = name.to_owned();
            move |source| AnalyticsError::Migration { name, source }
        };
        self.server
            .query("CREATE DATABASE IF NOT EXISTS ?")
            .bind(Identifier(&self.database))
            .execute()
            .await
            .map_err(fail("create database"))?;
        self.client
            .query(
                "CREATE TABLE IF NOT EXISTS schema_migrations \
                 (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) \
                 ENGINE = MergeTree ORDER BY version",
            )
            .execute()
            .await
            .map_err(fail("schema_migrations"))?;
        let applied: Vec<u32> = self
            .client
            .query("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all()
            .await
            .map_err(fail("read schema_migrations"))?;
        for migration in MIGRATIONS {
            if applied.contains(&migration.version) || migration.version > last {
                continue;
            }
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applying clickhouse migration"
            );
            let sql = self
                .render(migration.sql)
                .await
                .map_err(fail(migration.name))?;
            for statement in statements(&sql) {
                self.client
                    .query(&statement)
                    .execute()
                    .await
                    .map_err(fail(migration.name))?;
            }
            self.client
                .query("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
                .bind(migration.version)
                .bind(migration.name)
                .execute()
                .await
                .map_err(fail(migration.name))?;
            // Inserts validate rows against a cached schema, which a migration may have changed.
            self.client.clear_cached_metadata().await;
        }
        self.apply_raw_ttl().await
    }

    /// Fills a migration's placeholders: `{database}` (for names that must be qualified, such as
    /// joinGet's table) and `{raw_ttl_days}` (the raw table's TTL as it is now, or the
    /// configured one when the table has none), read only when the migration uses it.
    async fn render(&self, sql: &str) -> Result<String, clickhouse::error::Error> {
        let mut sql = sql.replace("{database}", &self.database);
        if sql.contains("{raw_ttl_days}") {
            let days = current_ttl_days(&self.raw_engine().await?).unwrap_or(self.raw_ttl_days);
            sql = sql.replace("{raw_ttl_days}", &days.to_string());
        }
        Ok(sql)
    }

    /// `engine_full` of the raw table (with its TTL).
    async fn raw_engine(&self) -> Result<String, clickhouse::error::Error> {
        self.server
            .query("SELECT engine_full FROM system.tables WHERE database = ? AND name = 'check_results'")
            .bind(&self.database)
            .fetch_one()
            .await
    }

    /// `ALTER TABLE check_results MODIFY TTL` when the table's TTL is not the configured one.
    /// Not materialized at once (`materialize_ttl_after_modify = 0`): a start never rewrites the
    /// table; expired rows go with the next merges (and queries never rely on raw rows older than
    /// the configured TTL).
    async fn apply_raw_ttl(&self) -> Result<()> {
        let fail = |source| AnalyticsError::Migration {
            name: "raw ttl".into(),
            source,
        };
        let engine = self.raw_engine().await.map_err(fail)?;
        if current_ttl_days(&engine) == Some(self.raw_ttl_days) {
            return Ok(());
        }
        tracing::info!(
            days = self.raw_ttl_days,
            "setting the TTL of clickhouse raw check results"
        );
        self.client
            .query(&format!(
                "ALTER TABLE check_results MODIFY TTL toDateTime(checked_at) + toIntervalDay({})",
                self.raw_ttl_days
            ))
            .with_setting("materialize_ttl_after_modify", "0")
            .execute()
            .await
            .map_err(fail)
    }
}

/// The N of `TTL toDateTime(checked_at) + toIntervalDay(N)` in a table's `engine_full`.
fn current_ttl_days(engine_full: &str) -> Option<u32> {
    let ttl = &engine_full[engine_full.find(" TTL ")?..];
    let start = ttl.find("toIntervalDay(")? + "toIntervalDay(".len();
    let end = start + ttl[start..].find(')')?;
    ttl[start..end].trim().parse().ok()
}

/// Splits a migration file into statements (the HTTP interface takes one per request).
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_ttl_in_days() {
        let engine = "MergeTree PARTITION BY toYYYYMM(checked_at) ORDER BY (tenant_id) \
                      TTL toDateTime(checked_at) + toIntervalDay(35) SETTINGS index_granularity = 8192";
        assert_eq!(super::current_ttl_days(engine), Some(35));
        assert_eq!(super::current_ttl_days("MergeTree ORDER BY x"), None);
    }

    #[test]
    fn splits_statements_and_drops_comments() {
        let parts = super::statements(
            "-- a comment\nCREATE TABLE a (x UInt8);\n\nCREATE TABLE b (y UInt8);\n",
        );
        assert_eq!(
            parts,
            vec!["CREATE TABLE a (x UInt8)", "CREATE TABLE b (y UInt8)"]
        );
    }
}
