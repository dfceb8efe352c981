//! The checkers' ClickHouse user may only insert into the raw table, and that is enough for
//! everything a checker writes. A private ClickHouse (the real engine, our chdb launcher) signs
//! requests in against a users.xml: `default` (the app server: migrations, reads) and
//! `statuspage_checker` with one grant, `INSERT ON statuspage.check_results`, the README's SQL
//! for production (chDB refuses SQL `CREATE USER`: it has no writable access storage, so the
//! users are declared in XML; the engine checks the grants the same way). It works because the
//! rollup views run as their definer (migration 0005); with views that run as the inserting
//! user, every insert of that user fails, which the second test shows on a view made so.

use statuspage_clickhouse::testing::{free_port, PrivateClickHouse as Server};
use statuspage_clickhouse::{
    Analytics, CheckRow, WriteOutcome, Writer, WriterConfig, STATUS_DOWN, STATUS_UP,
};
use uuid::Uuid;

const DATABASE: &str = "statuspage";
const CHECKER: &str = "statuspage_checker";
const SECRET: &str = "insert-only-checker-secret";

/// The grants of the README's SQL, in users.xml form.
const CHECKER_GRANTS: &[&str] = &["GRANT INSERT ON statuspage.check_results"];

fn users_xml(dir: &std::path::Path, grants: &[&str]) -> std::path::PathBuf {
    let path = dir.join("users.xml");
    let grants: String = grants
        .iter()
        .map(|g| format!("<query>{g}</query>"))
        .collect();
    std::fs::write(
        &path,
        format!(
            r#"<clickhouse>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <{CHECKER}>
            <password_sha256_hex>{}</password_sha256_hex>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <grants>{grants}</grants>
        </{CHECKER}>
    </users>
    <profiles><default></default></profiles>
    <quotas><default></default></quotas>
</clickhouse>
"#,
            sha256_hex(SECRET)
        ),
    )
    .unwrap();
    path
}

/// A private ClickHouse with those users, migrated by the app server's user.
async fn clickhouse_with_checker(grants: &[&str]) -> (Server, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("ch-grants-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = users_xml(&dir, grants);
    let port = free_port();
    let server = Server::start_with(port, &dir.join("data"), Some(&users));
    let url = format!("http://127.0.0.1:{port}");
    Analytics::new(&url, DATABASE)
        .unwrap()
        .migrate()
        .await
        .unwrap();
    (server, url, dir)
}

fn rows(tenant: Uuid, monitor: Uuid) -> Vec<CheckRow> {
    let now = chrono::Utc::now().timestamp_micros();
    (0..6)
        .map(|i| {
            let status = if i == 0 { STATUS_DOWN } else { STATUS_UP };
            CheckRow::synthetic(
                tenant,
                monitor,
                "eu-west-1",
                now - i * 1_000_000,
                status,
                9_000,
            )
        })
        .collect()
}

/// The Lambda's view of ClickHouse: signed in as the checkers' user.
fn as_checker(url: &str, password: &str) -> Analytics {
    Analytics::new(url, DATABASE)
        .unwrap()
        .with_credentials(CHECKER, password)
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn denied(result: Result<impl std::fmt::Debug, statuspage_clickhouse::AnalyticsError>) -> String {
    let error = format!(
        "{:?}",
        result.expect_err("the checker's user must be refused")
    );
    assert!(
        error.contains("ACCESS_DENIED") || error.contains("Not enough privileges"),
        "refused for the wrong reason: {error}"
    );
    error
}

#[tokio::test]
async fn a_view_running_as_the_inserting_user_would_refuse_the_checker() {
    let (_server, url, dir) = clickhouse_with_checker(CHECKER_GRANTS).await;
    let admin = Analytics::new(&url, DATABASE).unwrap();
    // The migrated views run as their definer...
    for view in ["check_rollup_hourly_mv", "check_rollup_daily_mv"] {
        let create: String = admin
            .client()
            .query("SELECT create_table_query FROM system.tables WHERE database = ? AND name = ?")
            .bind(DATABASE)
            .bind(view)
            .fetch_one()
            .await
            .unwrap();
        assert!(create.contains("SQL SECURITY DEFINER"), "{view}: {create}");
    }
    // ...which is what the single grant needs: a view made without it refuses the checker.
    admin
        .client()
        .query(
            "CREATE MATERIALIZED VIEW invoker_mv ENGINE = Memory AS \
             SELECT count() AS n FROM check_results",
        )
        .execute()
        .await
        .unwrap();
    let checker = as_checker(&url, SECRET);
    let error = denied(
        checker
            .insert_checks(&rows(Uuid::new_v4(), Uuid::new_v4()), "batch-1")
            .await,
    );
    assert!(error.contains("pushing to view"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_checkers_user_writes_results_and_nothing_else() {
    let (mut server, url, dir) = clickhouse_with_checker(CHECKER_GRANTS).await;
    // The app server's user owns the schema (migrated above) and reads.
    let admin = Analytics::new(&url, DATABASE).unwrap();

    let checker = as_checker(&url, SECRET);
    let (tenant, monitor) = (Uuid::new_v4(), Uuid::new_v4());
    let rows = rows(tenant, monitor);
    // What the Lambda does: the writer's insert, with its deduplication settings.
    checker.insert_checks(&rows[..3], "batch-1").await.unwrap();
    let writer = Writer::new(
        checker.clone(),
        WriterConfig {
            spool_dir: Some(dir.join("spool")),
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let outcome = writer.write(&rows[3..], "batch-2").await.unwrap();
    assert_eq!(outcome, WriteOutcome::Stored, "written, not spooled");
    let stored: u64 = admin
        .client()
        .query("SELECT count() FROM check_results WHERE monitor_id = ?")
        .bind(monitor)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored, 6, "every row the checker's user wrote is stored");
    // The rollups are fed by materialized views, which run as their definer (the app server's
    // user), so an insert-only checker still feeds them.
    let rolled: u64 = admin
        .client()
        .query("SELECT sum(checks) FROM check_rollup_hourly WHERE monitor_id = ?")
        .bind(monitor)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rolled, 6, "the hourly rollup counted the checker's rows");
    // A retried batch (same token) counts once, in the raw table and in the rollups, also after
    // ClickHouse restarts (the views' deduplication survives it: see migration 0005).
    let counts = || async {
        admin
            .client()
            .query(
                "SELECT assumeNotNull((SELECT count() FROM check_results WHERE monitor_id = ?)), \
                        assumeNotNull((SELECT sum(checks) FROM check_rollup_hourly WHERE monitor_id = ?))",
            )
            .bind(monitor)
            .bind(monitor)
            .fetch_one::<(u64, u64)>()
            .await
            .unwrap()
    };
    checker.insert_checks(&rows[..3], "batch-1").await.unwrap();
    assert_eq!(
        counts().await,
        (6, 6),
        "a retried batch is not counted twice"
    );
    server.stop();
    server.start_again();
    checker.insert_checks(&rows[..3], "batch-1").await.unwrap();
    writer.write(&rows[3..], "batch-2").await.unwrap();
    assert_eq!(
        counts().await,
        (6, 6),
        "retried batches are not counted twice after a restart"
    );

    // Nothing else: no reads, of the raw table, the rollups or the page summary, no other
    // table, no deletes, no schema change.
    let checker_query =
        |sql: &'static str| {
            let client = checker.client().clone();
            async move {
                client.query(sql).execute().await.map_err(|source| {
                    statuspage_clickhouse::AnalyticsError::Query { op: sql, source }
                })
            }
        };
    denied(checker.uptime(tenant, 3600).await);
    denied(checker_query("SELECT count() FROM check_results").await);
    denied(checker_query("SELECT count() FROM check_rollup_hourly").await);
    denied(checker_query("SELECT count() FROM check_rollup_daily").await);
    denied(checker_query("SELECT count() FROM status_page_summary").await);
    denied(checker_query("INSERT INTO schema_migrations (version, name) VALUES (999, 'x')").await);
    denied(checker_query("ALTER TABLE check_results DELETE WHERE 1").await);
    denied(checker_query("TRUNCATE TABLE check_rollup_hourly").await);
    denied(checker_query("CREATE TABLE stolen (x UInt8) ENGINE = Memory").await);
    denied(checker.drop_database().await);

    // A wrong password is not let in at all.
    let intruder = as_checker(&url, "guess");
    let refused = format!(
        "{:?}",
        intruder
            .insert_checks(&rows[..1], "batch-3")
            .await
            .expect_err("a wrong password must be refused")
    );
    assert!(
        refused.contains("AUTHENTICATION_FAILED") || refused.contains("516"),
        "{refused}"
    );
    // And the app server's user still reads everything.
    assert_eq!(admin.uptime(tenant, 3600).await.unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
