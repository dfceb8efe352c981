//! Detection latency on the local platform: the real app server (`statuspage serve` with its
//! local runner, three pseudo-regions, re-checks, outbox workers) started as a child process
//! against fresh databases; `--monitors` HTTP monitors on targets this program breaks and
//! repairs, each `--outages` times at a random moment of its interval; a webhook channel to a
//! receiver in this program. For every outage it prints when each stage happened after the
//! break: first failing check (ClickHouse), confirmed (the engine's state change), incident
//! opened, alert delivered (the receiver's clock), and p50 / p99 of each.
//!
//!     cargo run --release -p web --bin bench-detection -- --monitors 10 --outages 3

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use clap::Parser;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Parser)]
#[command(
    about = "Detection latency: outage start → first failing check → confirmed → incident → alert delivered"
)]
struct Args {
    /// Monitors broken and repaired concurrently (each its own target).
    #[arg(long, default_value_t = 10)]
    monitors: usize,
    /// Outages per monitor.
    #[arg(long, default_value_t = 3)]
    outages: usize,
    /// The monitors' interval (the API's minimum is 30 s).
    #[arg(long, default_value_t = 30)]
    interval_secs: u64,
    /// The local runner's tick (CHECKER_INTERVAL_SECS).
    #[arg(long, default_value_t = 5)]
    tick_secs: u64,
    /// PostgreSQL server (a fresh database is made on it).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/statuspage"
    )]
    database_url: String,
    #[arg(long, env = "CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123")]
    clickhouse_url: String,
    /// The app server binary (default: `statuspage` next to this program).
    #[arg(long)]
    server: Option<std::path::PathBuf>,
}

/// Which targets fail, and every alert the receiver got: (monitor title, event, when).
#[derive(Default)]
struct Bench {
    broken: Mutex<HashSet<String>>,
    alerts: Mutex<Vec<(String, String, chrono::DateTime<chrono::Utc>)>>,
}

async fn target(State(bench): State<Arc<Bench>>, Path(name): Path<String>) -> StatusCode {
    if bench.broken.lock().unwrap().contains(&name) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

async fn hook(State(bench): State<Arc<Bench>>, body: axum::body::Bytes) -> StatusCode {
    let at = chrono::Utc::now();
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let event = v["type"].as_str().unwrap_or_default().to_owned();
    let key = v["data"]["dedup_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    bench.alerts.lock().unwrap().push((key, event, at));
    StatusCode::NO_CONTENT
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Sample {
    first_failing: f64,
    confirmed: f64,
    incident: f64,
    delivered: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let server = match &args.server {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("statuspage"),
    };
    anyhow::ensure!(server.exists(), "no app server at {} (build it: cargo build --release -p web --bin statuspage, or pass --server)", server.display());

    // Fresh databases.
    let db_name = format!("bench_detection_{}", Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&args.database_url)
        .await
        .context("DATABASE_URL")?;
    sqlx::query(&format!("CREATE DATABASE {db_name}"))
        .execute(&admin)
        .await?;
    let db_url = format!(
        "{}/{db_name}",
        args.database_url
            .rsplit_once('/')
            .map(|(a, _)| a)
            .unwrap_or(&args.database_url)
    );

    let bench = Arc::new(Bench::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/t/{name}", axum::routing::get(target))
        .route("/hook", axum::routing::post(hook))
        .with_state(bench.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = tokio::process::Command::new(&server)
        .arg("serve")
        .env("DATABASE_URL", &db_url)
        .env("CLICKHOUSE_URL", &args.clickhouse_url)
        .env("CLICKHOUSE_DATABASE", &db_name)
        .env("STATUSPAGE_ADDR", format!("127.0.0.1:{port}"))
        .env("STATUSPAGE_OPEN_SIGNUP", "true")
        .env("CHECKER_SECRET", "bench-detection-secret-0123456789")
        .env("CHECKER_LOCAL_RUNNER", "true")
        .env("CHECKER_INTERVAL_SECS", args.tick_secs.to_string())
        .env("CHECKER_ALLOW_CIDRS", "127.0.0.0/8")
        .env("STATUSPAGE_DATA", std::env::temp_dir().join(&db_name))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http
        .get(format!("{base}/api/v1/health"))
        .send()
        .await
        .is_err()
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the app server did not answer"
        );
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the app server exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let signed_up: Value = http
        .post(format!("{base}/api/v1/tenants"))
        .json(&json!({"slug": "bench", "name": "Bench", "email": "bench@bench.example", "password": "bench password 123"}))
        .send().await?.error_for_status()?.json().await?;
    let token = signed_up["api_token"]
        .as_str()
        .context("api_token")?
        .to_owned();
    let post = |path: &str, body: Value| {
        let request = http
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body);
        async move {
            anyhow::Ok(
                request
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<Value>()
                    .await?,
            )
        }
    };
    post("/api/v1/notification-channels", json!({"name": "bench", "kind": "webhook", "config": {"url": format!("http://{local}/hook")}})).await?;
    let mut monitors = Vec::new();
    for i in 0..args.monitors {
        let m = post("/api/v1/monitors", json!({
            "name": format!("target-{i}"), "type": "http", "url": format!("http://{local}/t/{i}"),
            "timeout_ms": 2000, "interval_seconds": args.interval_secs,
            // Outages repeat within minutes here: the flapping guard would hold them back.
            "confirmation": {"recoveries": 1, "flapping_changes": 100},
        })).await?;
        monitors.push((i, m["id"].as_str().context("id")?.parse::<Uuid>()?));
    }
    let db = sqlx::PgPool::connect(&db_url).await?;
    let analytics = statuspage_clickhouse::Analytics::new(&args.clickhouse_url, &db_name)?;
    tracing::info!(
        monitors = args.monitors,
        outages = args.outages,
        interval_secs = args.interval_secs,
        "platform up; waiting for the first checks"
    );
    tokio::time::sleep(Duration::from_secs(args.interval_secs + args.tick_secs)).await;

    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let mut runs = tokio::task::JoinSet::new();
    for (i, monitor) in monitors {
        let (bench, db, analytics, samples) = (
            bench.clone(),
            db.clone(),
            analytics.clone(),
            samples.clone(),
        );
        let (outages, interval) = (args.outages, args.interval_secs);
        runs.spawn(async move {
            for n in 0..outages {
                // Break at a random moment of the interval.
                let wait = rand::random::<u64>() % (interval * 1000);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let broke = chrono::Utc::now();
                bench.broken.lock().unwrap().insert(i.to_string());
                let key_part = monitor.to_string();
                let delivered = loop {
                    let found = bench.alerts.lock().unwrap().iter().find(|(k, e, at)| k.contains(&key_part) && e == "statuspage.down" && *at > broke).map(|(_, _, at)| *at);
                    if let Some(at) = found { break at; }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                let incident: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar("SELECT max(created_at) FROM incidents WHERE monitor_id = $1 AND created_at > $2")
                    .bind(monitor).bind(broke).fetch_one(&db).await.unwrap_or(None);
                let confirmed: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar("SELECT problem_since FROM monitor_state WHERE monitor_id = $1")
                    .bind(monitor).fetch_one(&db).await.unwrap_or(None);
                bench.broken.lock().unwrap().remove(&i.to_string());
                // Wait for the recovery before the next outage.
                loop {
                    let back = bench.alerts.lock().unwrap().iter().any(|(k, e, at)| k.contains(&key_part) && e == "statuspage.recovery" && *at > delivered);
                    if back { break; }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let first: Option<i64> = analytics.client()
                    .query("SELECT toInt64(toUnixTimestamp64Micro(min(checked_at))) FROM check_results WHERE monitor_id = ? AND status = 'down' AND checked_at >= fromUnixTimestamp64Micro(?)")
                    .bind(monitor).bind(broke.timestamp_micros())
                    .fetch_one::<i64>().await.ok();
                let secs = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| (t - broke).num_microseconds().unwrap_or(0) as f64 / 1e6).unwrap_or(f64::NAN);
                let first = first.and_then(chrono::DateTime::from_timestamp_micros);
                let sample = Sample { first_failing: secs(first), confirmed: secs(confirmed), incident: secs(incident), delivered: secs(Some(delivered)) };
                tracing::info!(target_no = i, outage = n + 1, first_failing = sample.first_failing, confirmed = sample.confirmed, incident = sample.incident, delivered = sample.delivered, "outage detected (seconds after the break)");
                samples.lock().unwrap().push(sample);
            }
        });
    }
    while runs.join_next().await.is_some() {}
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    println!("detection latency over {} outages ({} monitors x {}), interval {} s, runner tick {} s, 3 pseudo-regions", samples.len(), args.monitors, args.outages, args.interval_secs, args.tick_secs);
    println!(
        "{:<42} {:>8} {:>8} {:>8}",
        "stage (seconds after the outage began)", "p50", "p99", "max"
    );
    type Stage = fn(&Sample) -> f64;
    let stages: [(&str, Stage); 4] = [
        ("first failing check", |s| s.first_failing),
        ("confirmed across regions", |s| s.confirmed),
        ("incident opened", |s| s.incident),
        ("alert delivered (webhook received)", |s| s.delivered),
    ];
    for (name, of) in stages {
        let mut v: Vec<f64> = samples.iter().map(of).filter(|x| x.is_finite()).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:<42} {:>8.2} {:>8.2} {:>8.2}",
            percentile(&v, 50.0),
            percentile(&v, 99.0),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    let mut after_check: Vec<f64> = samples
        .iter()
        .map(|s| s.delivered - s.first_failing)
        .filter(|x| x.is_finite())
        .collect();
    after_check.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{:<42} {:>8.2} {:>8.2} {:>8.2}",
        "first failing check -> delivered",
        percentile(&after_check, 50.0),
        percentile(&after_check, 99.0),
        after_check.last().copied().unwrap_or(f64::NAN)
    );
    let _ = child.kill().await;
    drop(db);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    let _ = analytics
        .client()
        .query(&format!("DROP DATABASE IF EXISTS {db_name}"))
        .execute()
        .await;
    Ok(())
}
