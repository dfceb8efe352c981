//! Checker runs through the real app server: the local runner, the signed internal API, the
//! writer and ClickHouse. One tenant's black hole cannot hold back another tenant's checks, and
//! ClickHouse stopped for a minute loses no check and stores none twice.
//!
//! The ClickHouse-outage test runs its own private ClickHouse (our chdb launcher,
//! `scripts/clickhouse-server.py`, from `CHDB_PYTHON`), never the shared one.

use api::{ApiConfig, AppState};
use checker::guard::SsrfGuard;
use serde_json::{json, Value};
use sqlx::PgPool;
use statuspage_clickhouse::testing::PrivateClickHouse;
use statuspage_clickhouse::{Analytics, WriterConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

const SECRET: &str = "runs-test-secret-0123456789";
const REGIONS: [&str; 2] = ["run-eu", "run-us"];
/// The local runner's period in these tests (the smallest `CHECKER_INTERVAL_SECS` allows).
const TICK: Duration = Duration::from_secs(5);
/// The shortest monitor interval the API accepts.
const INTERVAL_SECS: i64 = 30;

struct Platform {
    app: AppState,
    addr: SocketAddr,
    targets: SocketAddr,
    analytics: Analytics,
    http: reqwest::Client,
    runner: Option<tokio::task::JoinHandle<()>>,
}

impl Platform {
    async fn start(pool: PgPool, analytics: Analytics) -> Self {
        let app = AppState::new(
            pool,
            analytics.clone(),
            ApiConfig {
                base_domain: "localhost".into(),
                checker_secret: SECRET.into(),
                regions: REGIONS.iter().map(|r| r.to_string()).collect(),
                open_signup: true,
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = web::server::router(app.clone(), "target/site", false, Some(addr.port()));
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap()
        });
        let (targets, _) = web::server::demo::serve_targets(
            "127.0.0.1:0".parse().unwrap(),
            web::server::demo::DemoInbox::new(None),
        )
        .await
        .unwrap();
        Self {
            app,
            addr,
            targets,
            analytics,
            http: reqwest::Client::new(),
            runner: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn create_tenant(&self, slug: &str) -> String {
        let response = self
            .http
            .post(self.url("/api/v1/tenants"))
            .json(&json!({ "slug": slug, "name": format!("{slug} Inc"), "email": format!("owner@{slug}.example"), "password": "correct horse battery" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let body: Value = response.json().await.unwrap();
        body["api_token"].as_str().unwrap().to_owned()
    }

    async fn create_monitor(&self, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/api/v1/monitors"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn monitor_id(&self, token: &str, body: Value) -> Uuid {
        let (status, created) = self.create_monitor(token, body).await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().unwrap().parse().unwrap()
    }

    fn start_runner(&mut self, writer: WriterConfig) {
        self.runner = Some(
            web::server::spawn_local_runner(
                &self.app,
                self.addr,
                REGIONS.iter().map(|r| r.to_string()).collect(),
                TICK,
                SsrfGuard::new(SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap()),
                writer,
            )
            .unwrap(),
        );
    }

    fn stop_runner(&mut self) {
        if let Some(runner) = self.runner.take() {
            runner.abort();
        }
    }

    /// `(region, checked_at µs)` of every verdict row of `monitor`, oldest first.
    async fn verdicts(&self, monitor: Uuid) -> Vec<(String, i64, i8, String)> {
        self.analytics
            .client()
            .query(
                "SELECT region, checked_at, toInt8(status), error FROM check_results \
                 WHERE monitor_id = ? AND final_attempt ORDER BY checked_at",
            )
            .bind(monitor)
            .fetch_all()
            .await
            .unwrap()
    }
}

/// A TCP server that accepts connections and never answers.
async fn black_hole() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

fn writer_config(spool: &Path) -> WriterConfig {
    WriterConfig {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(50),
        spool_dir: Some(spool.to_owned()),
        ..WriterConfig::default()
    }
}

async fn shared_analytics() -> Analytics {
    let url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let analytics = Analytics::new(&url, &format!("test_{}", Uuid::new_v4().simple())).unwrap();
    analytics.migrate().await.unwrap();
    analytics
}

/// Largest gap between consecutive checks of each region, and the checks per region.
fn per_region(rows: &[(String, i64, i8, String)]) -> Vec<(String, usize, i64)> {
    REGIONS
        .iter()
        .map(|region| {
            let times: Vec<i64> = rows
                .iter()
                .filter(|r| r.0 == *region)
                .map(|r| r.1)
                .collect();
            let gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
            (region.to_string(), times.len(), gap / 1_000_000)
        })
        .collect()
}

/// The attack of issue 9: one tenant's monitor points at a server that accepts connections and
/// never answers, with the largest budget the API accepts. Another tenant's healthy 30 s monitor
/// keeps landing every 30 s in every region, and the black hole is stored as down (timeout).
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_black_hole_never_holds_back_another_tenants_checks(pool: PgPool) {
    let analytics = shared_analytics().await;
    let mut platform = Platform::start(pool, analytics.clone()).await;
    let hostile = platform.create_tenant("hostile").await;
    let victim = platform.create_tenant("victim").await;
    let hole = black_hole().await;

    // The old maximum of every field (6 × 60 s plus 310 s of backoff) is refused, naming them.
    let (status, problem) = platform
        .create_monitor(
            &hostile,
            json!({ "name": "hole", "type": "http", "url": format!("http://{hole}/"),
                    "interval_seconds": 30, "timeout_ms": 60000, "retries": 5,
                    "retry_backoff_ms": 10000 }),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let named: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        named,
        ["timeout_ms", "retries", "retry_backoff_ms"],
        "{problem}"
    );
    // The largest it accepts: 3 × 12 s + 1 s + 2 s = 39 s of black hole per check.
    let stuck = platform
        .monitor_id(
            &hostile,
            json!({ "name": "hole", "type": "http", "url": format!("http://{hole}/"),
                    "interval_seconds": 30, "timeout_ms": 12000, "retries": 2,
                    "retry_backoff_ms": 1000 }),
        )
        .await;
    let healthy = platform
        .monitor_id(
            &victim,
            json!({ "name": "site", "type": "http",
                    "url": format!("http://{}/up", platform.targets), "interval_seconds": 30 }),
        )
        .await;

    let spool = std::env::temp_dir().join(format!("runs-test-{}", Uuid::new_v4().simple()));
    platform.start_runner(writer_config(&spool));
    let started = Instant::now();
    let window = Duration::from_secs(80);
    tokio::time::sleep(window).await;
    platform.stop_runner();

    let rows = platform.verdicts(healthy).await;
    let figures = per_region(&rows);
    let minutes = window.as_secs_f64() / 60.0;
    for (region, checks, gap) in &figures {
        println!(
            "healthy tenant beside a black hole, {region}: {checks} checks in {} s ({:.1} per minute), largest gap {gap} s",
            window.as_secs(),
            *checks as f64 / minutes
        );
    }
    for (region, checks, gap) in &figures {
        // Due every 30 s: at least 2 whole intervals fit in the window after the first check.
        assert!(
            *checks >= 2,
            "{region}: {checks} checks in {window:?}: {rows:?}"
        );
        assert!(
            *gap <= INTERVAL_SECS + TICK.as_secs() as i64,
            "{region}: a gap of {gap} s between checks of a 30 s monitor: {rows:?}"
        );
    }
    assert!(rows.iter().all(|r| r.2 == 1), "healthy is up: {rows:?}");

    let holes = platform.verdicts(stuck).await;
    assert!(
        !holes.is_empty(),
        "the black hole is recorded within {:?}",
        started.elapsed()
    );
    for (_, _, status, error) in &holes {
        assert_eq!(*status, 3, "down");
        assert!(error.contains("timed out"), "{error}");
    }
    analytics.drop_database().await.unwrap();
    let _ = std::fs::remove_dir_all(&spool);
}

/// ClickHouse goes away for 60 s under a running app server whose local runner keeps checking:
/// afterwards every check is in ClickHouse (no gap in any monitor's series, the outage
/// included), none twice, and the spool is empty.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn clickhouse_stopped_for_a_minute_loses_no_check_and_doubles_none(pool: PgPool) {
    let work = std::env::temp_dir().join(format!("runs-outage-{}", Uuid::new_v4().simple()));
    let (data_dir, spool) = (work.join("clickhouse"), work.join("spool"));
    std::fs::create_dir_all(&data_dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut clickhouse = PrivateClickHouse::start(port, &data_dir);
    let analytics = Analytics::new(&format!("http://127.0.0.1:{port}"), "runs_outage").unwrap();
    analytics.migrate().await.unwrap();
    let mut platform = Platform::start(pool, analytics.clone()).await;
    let token = platform.create_tenant("steady").await;
    let mut monitors = Vec::new();
    for name in ["site", "api", "shop"] {
        let body = json!({ "name": name, "type": "http",
                           "url": format!("http://{}/up", platform.targets), "interval_seconds": 30 });
        monitors.push(platform.monitor_id(&token, body).await);
    }
    platform.start_runner(writer_config(&spool));
    let begin = chrono::Utc::now().timestamp_micros();

    tokio::time::sleep(Duration::from_secs(15)).await;
    // Stopping and starting block while they wait for the server; off the runtime, so the app
    // server and its runner (on this test's runtime) keep going as they would in production.
    let clickhouse = tokio::task::spawn_blocking(move || {
        clickhouse.stop();
        clickhouse
    })
    .await
    .unwrap();
    drop(clickhouse);
    let down_at = chrono::Utc::now().timestamp_micros();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let restart_dir = data_dir.clone();
    let mut clickhouse =
        tokio::task::spawn_blocking(move || PrivateClickHouse::start(port, &restart_dir))
            .await
            .unwrap();
    let up_at = chrono::Utc::now().timestamp_micros();
    // Long enough for two checks of every monitor after the restart and the spool's replay,
    // even when the first insert after the restart times out (`INSERT_TIMEOUT`) on a loaded
    // machine.
    tokio::time::sleep(Duration::from_secs(60)).await;
    platform.stop_runner();
    let end = chrono::Utc::now().timestamp_micros();

    let spooled = std::fs::read_dir(&spool)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "batch")
        })
        .count();
    assert_eq!(spooled, 0, "the spool was replayed");
    for monitor in &monitors {
        let rows = platform.verdicts(*monitor).await;
        for (region, checks, gap) in per_region(&rows) {
            let times: Vec<i64> = rows.iter().filter(|r| r.0 == region).map(|r| r.1).collect();
            let during = times
                .iter()
                .filter(|t| (down_at..up_at).contains(*t))
                .count();
            println!(
                "{monitor} {region}: {checks} checks, {during} made while ClickHouse was down, largest gap {gap} s"
            );
            assert!(
                during >= 1,
                "{region}: checks made during the outage are stored: {rows:?}"
            );
            assert!(
                gap <= INTERVAL_SECS + TICK.as_secs() as i64,
                "{region}: a {gap} s hole in a 30 s monitor's checks: {rows:?}"
            );
            let (first, last) = (times[0], *times.last().unwrap());
            let slack = (INTERVAL_SECS + TICK.as_secs() as i64) * 1_000_000;
            assert!(
                first - begin <= slack && end - last <= slack + 5_000_000,
                "{region}: {rows:?}"
            );
        }
    }
    let (rows, distinct): (u64, u64) = analytics
        .client()
        .query("SELECT count(), uniqExact(monitor_id, region, run_id, attempt) FROM check_results")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rows, distinct, "no check stored twice");
    println!("{rows} rows stored, {distinct} distinct attempts");
    analytics.drop_database().await.unwrap();
    clickhouse.stop();
    let _ = std::fs::remove_dir_all(&work);
}
