//! Versioned ClickHouse migrations: SQL files applied once, in order, recorded in `schema_migrations`.

use crate::{Analytics, AnalyticsError, Result};
use clickhouse::sql::Identifier;

struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "check_results",
    sql: include_str!("../migrations/0001_check_results.sql"),
}];

impl Analytics {
    /// Creates the database and applies pending migrations. Safe to run on every start.
    pub async fn migrate(&self) -> Result<()> {
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
            if applied.contains(&migration.version) {
                continue;
            }
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applying clickhouse migration"
            );
            for statement in statements(migration.sql) {
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
        }
        Ok(())
    }
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
