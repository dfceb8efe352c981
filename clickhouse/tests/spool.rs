//! The writer's spool survives a ClickHouse restart with no loss and no duplicates. The test runs
//! its own private ClickHouse (our chdb launcher, `scripts/clickhouse-server.py`) on a free port,
//! stops it, writes, restarts it and replays. Needs the chdb venv: `CHDB_PYTHON`, default
//! `$STATUSPAGE_CACHE/chdb-venv/bin/python` (`STATUSPAGE_CACHE` default `~/.cache/statuspage`;
//! `./dev test` installs it).

use chrono::{Duration, Utc};
use statuspage_clickhouse::testing::{free_port, PrivateClickHouse as Server};
use statuspage_clickhouse::{
    Analytics, CheckRow, WriteOutcome, Writer, WriterConfig, STATUS_DOWN, STATUS_UP,
};
use uuid::Uuid;

fn rows(tenant: Uuid, monitor: Uuid, n: usize, tag: u32) -> Vec<CheckRow> {
    let now = Utc::now();
    (0..n)
        .map(|i| CheckRow {
            tenant_id: tenant,
            monitor_id: monitor,
            region: format!("r{}", i % 3),
            checked_at: (now - Duration::seconds(i as i64)).timestamp_micros(),
            scheduled_at: (now - Duration::seconds(i as i64)).timestamp_micros(),
            run_id: Uuid::new_v4(),
            attempt: 1,
            final_attempt: true,
            status: if i % 5 == 0 { STATUS_DOWN } else { STATUS_UP },
            status_code: 200,
            dns_us: 1,
            tcp_connect_us: 2,
            tls_handshake_us: 3,
            ttfb_us: 4,
            transfer_us: 5,
            total_us: 15 + tag,
            resolved_ip: "192.0.2.1".into(),
            http_version: "HTTP/1.1".into(),
            tls_version: String::new(),
            tls_cipher: String::new(),
            cert_expires_at: None,
            response_bytes: 1,
            redirects: 0,
            cold_start: false,
            error: String::new(),
        })
        .collect()
}

async fn counts(analytics: &Analytics) -> (u64, u64, u64) {
    analytics
        .client()
        .query(
            "SELECT toUInt64(ifNull((SELECT count() FROM check_results), 0)), \
                    toUInt64(ifNull((SELECT sum(checks) FROM check_rollup_hourly), 0)), \
                    toUInt64(ifNull((SELECT sum(checks) FROM check_rollup_daily), 0))",
        )
        .fetch_one()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_batches_survive_a_clickhouse_restart_without_loss_or_duplicates() {
    let work = std::env::temp_dir().join(format!("spool-test-{}", Uuid::new_v4().simple()));
    let (data_dir, spool_dir) = (work.join("clickhouse"), work.join("spool"));
    std::fs::create_dir_all(&data_dir).unwrap();
    let port = free_port();
    let mut server = Server::start(port, &data_dir);
    let url = format!("http://127.0.0.1:{port}");
    let analytics = Analytics::new(&url, "spool_test").unwrap();
    analytics.migrate().await.unwrap();
    let config = WriterConfig {
        max_attempts: 2,
        initial_backoff: std::time::Duration::from_millis(50),
        spool_dir: Some(spool_dir.clone()),
        ..WriterConfig::default()
    };
    let writer = Writer::new(analytics.clone(), config.clone()).unwrap();
    let (tenant, monitor) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b, c, d) = (
        rows(tenant, monitor, 40, 1),
        rows(tenant, monitor, 30, 2),
        rows(tenant, monitor, 20, 3),
        rows(tenant, monitor, 10, 4),
    );
    assert_eq!(
        writer.write(&a, "batch-a").await.unwrap(),
        WriteOutcome::Stored
    );

    // ClickHouse goes away: batches go to the spool, in order.
    server.stop();
    assert_eq!(
        writer.write(&b, "batch-b").await.unwrap(),
        WriteOutcome::Spooled { pending: 1 }
    );
    assert_eq!(
        writer.write(&c, "batch-c").await.unwrap(),
        WriteOutcome::Spooled { pending: 2 }
    );
    let report = writer.replay_spool().await.unwrap();
    assert_eq!((report.batches, report.remaining), (0, 2));
    assert!(report.last_error.is_some());
    drop(writer);

    // A new process (new writer on the same spool) finds the batches; ClickHouse comes back
    // with its data.
    let mut server = Server::start(port, &data_dir);
    let writer = Writer::new(analytics.clone(), config.clone()).unwrap();
    assert_eq!(writer.pending_batches(), 2);
    // The next write replays the spool first, then stores its own batch.
    assert_eq!(
        writer.write(&d, "batch-d").await.unwrap(),
        WriteOutcome::Stored
    );
    assert_eq!(writer.pending_batches(), 0);
    let n = (a.len() + b.len() + c.len() + d.len()) as u64;
    assert_eq!(counts(&analytics).await, (n, n, n), "no loss");
    let spooled: usize = std::fs::read_dir(&spool_dir).unwrap().count();
    assert_eq!(spooled, 0, "replayed files are deleted");

    // A batch that did land and is written again (a crash before its spool file was deleted,
    // or a retried invocation) is not counted twice, even after the restart.
    assert_eq!(
        writer.write(&b, "batch-b").await.unwrap(),
        WriteOutcome::Stored
    );
    assert_eq!(
        writer.write(&a, "batch-a").await.unwrap(),
        WriteOutcome::Stored
    );
    assert_eq!(counts(&analytics).await, (n, n, n), "no duplicates");
    // The rows are the ones written, field for field.
    let mut stored: Vec<CheckRow> = analytics
        .client()
        .query("SELECT ?fields FROM check_results WHERE total_us = 17")
        .fetch_all()
        .await
        .unwrap();
    stored.sort_by_key(|r| std::cmp::Reverse(r.checked_at));
    let mut want = b.clone();
    want.sort_by_key(|r| std::cmp::Reverse(r.checked_at));
    assert_eq!(
        stored.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        want.iter().map(|r| r.run_id).collect::<Vec<_>>()
    );

    analytics.drop_database().await.unwrap();
    server.stop();
    std::fs::remove_dir_all(&work).unwrap();
}
