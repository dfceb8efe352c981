//! Cold start of the real `checker-lambda` binary under a loopback Lambda Runtime API.
//!
//! Per round: a fresh process (a new execution environment), then two invocations. **init** is
//! exec → the first `GET /runtime/invocation/next` (what Lambda reports as Init Duration: the
//! binary loads, builds its clients and the rustls root store); **first check** is that event
//! handed over → its response posted (plan fetched over signed HTTP, the checks run, rows
//! inserted into ClickHouse, the fast path reported); **warm check** is the same for the second
//! invocation in the same process. The plan names `--cold-start-checks` HTTP monitors of a
//! loopback target (the Lambda trusts only the public roots, so no HTTPS target here; the TLS
//! cost is in the throughput benchmark).

use anyhow::{bail, Context};
use bytes::Bytes;
use checker::plan::{PlannedCheck, WorkPlan};
use checker::run::RunSummary;
use checker::spec::{HttpSpec, MonitorSpec};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use statuspage_clickhouse::Analytics;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

/// What the benchmark needs from the command line.
pub struct Options {
    pub rounds: usize,
    pub checks: usize,
    /// The binary: `checker-lambda` or a package's `bootstrap`.
    pub lambda: PathBuf,
    /// e.g. `qemu-aarch64-static -L /usr/aarch64-linux-gnu` for the arm64 bootstrap.
    pub runner: Option<String>,
}

/// One process's figures, in milliseconds (RSS in KiB).
struct Round {
    init_ms: f64,
    first_ms: f64,
    warm_ms: f64,
    peak_rss_kib: u64,
}

/// The Runtime API's side of one process: events to hand out and when things happened.
struct RuntimeApi {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Bytes)>>,
    plan: Bytes,
    /// Each event handed out, and each response or error, with its time.
    handed: Mutex<Vec<Instant>>,
    answers: Mutex<Vec<(Instant, Result<RunSummary, String>)>>,
    answered: tokio::sync::Notify,
}

type Body = Full<Bytes>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn route(api: Arc<RuntimeApi>, request: Request<hyper::body::Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    if path == "/2018-06-01/runtime/invocation/next" {
        // Long-poll, as the real Runtime API does.
        let Some((id, event)) = api.events.lock().await.recv().await else {
            return reply(StatusCode::GONE, "");
        };
        api.handed.lock().expect("lock").push(Instant::now());
        let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
        let mut response = reply(StatusCode::OK, event);
        let headers = response.headers_mut();
        headers.insert("lambda-runtime-aws-request-id", id.parse().expect("id"));
        headers.insert(
            "lambda-runtime-deadline-ms",
            deadline.to_string().parse().expect("deadline"),
        );
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:eu-west-1:000000000000:function:statuspage-checker"
                .parse()
                .expect("arn"),
        );
        headers.insert(
            "lambda-runtime-trace-id",
            "Root=1-0-0".parse().expect("trace"),
        );
        return response;
    }
    if path == "/internal/v1/plan" {
        return reply(StatusCode::OK, api.plan.clone());
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if path == "/internal/v1/results" {
        return reply(StatusCode::OK, "");
    }
    if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
        let at = Instant::now();
        let answer = if rest.ends_with("/response") {
            serde_json::from_slice::<RunSummary>(&body).map_err(|e| e.to_string())
        } else {
            Err(String::from_utf8_lossy(&body).into_owned())
        };
        api.answers.lock().expect("lock").push((at, answer));
        api.answered.notify_one();
        return reply(StatusCode::ACCEPTED, "");
    }
    reply(StatusCode::NOT_FOUND, "")
}

async fn serve_runtime_api(api: Arc<RuntimeApi>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let api = api.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |r| {
                    let api = api.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(api, r).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// A plain HTTP target answering `ok` on loopback.
async fn serve_target() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_r| async {
                    Ok::<_, std::convert::Infallible>(reply(StatusCode::OK, "ok"))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn plan(target: SocketAddr, checks: usize) -> anyhow::Result<Bytes> {
    let tenant = Uuid::new_v4();
    let checks = (0..checks)
        .map(|_| PlannedCheck {
            monitor_id: Uuid::new_v4(),
            tenant_id: tenant,
            spec: MonitorSpec::Http(HttpSpec::get(format!("http://{target}/"))),
            last_status: None,
            report_always: false,
            due_at: None,
        })
        .collect();
    Ok(serde_json::to_vec(&WorkPlan {
        region: "eu-west-1".into(),
        generated_at: chrono::Utc::now(),
        checks,
    })?
    .into())
}

async fn round(
    options: &Options,
    target: SocketAddr,
    clickhouse_url: &str,
    database: &str,
    spool: &std::path::Path,
) -> anyhow::Result<Round> {
    let (events, receiver) = mpsc::unbounded_channel();
    let event = Bytes::from_static(br#"{"region":"eu-west-1","shard":0,"shards":1}"#);
    for id in ["cold", "warm"] {
        events.send((id.to_owned(), event.clone()))?;
    }
    let api = Arc::new(RuntimeApi {
        events: tokio::sync::Mutex::new(receiver),
        plan: plan(target, options.checks)?,
        handed: Mutex::new(Vec::new()),
        answers: Mutex::new(Vec::new()),
        answered: tokio::sync::Notify::new(),
    });
    let addr = serve_runtime_api(api.clone()).await?;
    let mut command = match &options.runner {
        Some(runner) => {
            let mut words = runner.split_whitespace();
            let mut command = tokio::process::Command::new(words.next().context("runner")?);
            command.args(words).arg(&options.lambda);
            command
        }
        None => tokio::process::Command::new(&options.lambda),
    };
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "statuspage-checker")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("CHECKER_API_URL", format!("http://{addr}"))
        .env("CHECKER_SECRET", "bench-checker-cold-start-secret")
        .env("CLICKHOUSE_URL", clickhouse_url)
        .env("CLICKHOUSE_DATABASE", database)
        .env("CLICKHOUSE_SPOOL_DIR", spool)
        .env("CHECKER_ALLOW_CIDRS", "127.0.0.0/8")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", options.lambda.display()))?;
    let pid = child.id().context("lambda pid")?.to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.answers.lock().expect("lock").len() < 2 {
        if Instant::now() > deadline {
            bail!("the Lambda answered fewer than 2 invocations within 60 s");
        }
        if let Some(status) = child.try_wait()? {
            bail!("the Lambda exited early: {status}");
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), api.answered.notified()).await;
    }
    let peak_rss_kib = super::peak_rss_kib(&pid)?;
    child.kill().await.ok();
    let handed = api.handed.lock().expect("lock").clone();
    let answers = std::mem::take(&mut *api.answers.lock().expect("lock"));
    for (_, answer) in &answers {
        match answer {
            Ok(summary) if summary.up == options.checks && summary.errors.is_empty() => {}
            other => bail!("an invocation did not check every monitor up: {other:?}"),
        }
    }
    let ms = |a: Instant, b: Instant| b.duration_since(a).as_secs_f64() * 1000.0;
    Ok(Round {
        init_ms: ms(started, handed[0]),
        first_ms: ms(handed[0], answers[0].0),
        warm_ms: ms(handed[1], answers[1].0),
        peak_rss_kib,
    })
}

/// Runs the rounds and prints the figures.
pub async fn cold_start(options: &Options) -> anyhow::Result<()> {
    let clickhouse_url = std::env::var("CLICKHOUSE_URL").context(
        "the cold-start benchmark stores into a real ClickHouse: set CLICKHOUSE_URL (`./dev services` starts one on http://127.0.0.1:8123), or pass --skip-cold-start",
    )?;
    if !options.lambda.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p checker-lambda --bin checker-lambda`, or pass --lambda",
            options.lambda.display()
        );
    }
    let database = format!("bench_cold_start_{}", std::process::id());
    let analytics = Analytics::new(&clickhouse_url, &database)?;
    analytics.migrate().await.context("migrating ClickHouse")?;
    let spool = std::env::temp_dir().join(format!("{database}-spool"));
    let target = serve_target().await?;
    let size = std::fs::metadata(&options.lambda)?.len();
    println!();
    println!(
        "cold start: {} ({:.1} MB){}, {} rounds of a fresh process + 2 invocations, {} HTTP check(s) each, ClickHouse {clickhouse_url}",
        options.lambda.display(),
        size as f64 / 1e6,
        options
            .runner
            .as_ref()
            .map(|r| format!(" under `{r}`"))
            .unwrap_or_default(),
        options.rounds,
        options.checks,
    );
    let mut rounds = Vec::new();
    for _ in 0..options.rounds {
        rounds.push(round(options, target, &clickhouse_url, &database, &spool).await?);
    }
    let stored: u64 = analytics
        .client()
        .query("SELECT count() FROM check_results")
        .fetch_one()
        .await?;
    analytics.drop_database().await.ok();
    let _ = std::fs::remove_dir_all(&spool);
    let expected = (options.rounds * 2 * options.checks) as u64;
    if stored != expected {
        bail!("ClickHouse holds {stored} rows, expected {expected}");
    }
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9}",
        "ms", "min", "median", "p90", "max"
    );
    let row = |name: &str, mut values: Vec<f64>| {
        values.sort_by(|a, b| a.total_cmp(b));
        let p90 = values[((values.len() as f64 * 0.9).ceil() as usize).saturating_sub(1)];
        println!(
            "{name:<34} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            values[0],
            super::median(&mut values.clone()),
            p90,
            values[values.len() - 1]
        );
    };
    row(
        "init (exec → first /next)",
        rounds.iter().map(|r| r.init_ms).collect(),
    );
    row(
        "first check (event → response)",
        rounds.iter().map(|r| r.first_ms).collect(),
    );
    row(
        "warm check (2nd invocation)",
        rounds.iter().map(|r| r.warm_ms).collect(),
    );
    row(
        "init + first check",
        rounds.iter().map(|r| r.init_ms + r.first_ms).collect(),
    );
    let mut rss: Vec<f64> = rounds
        .iter()
        .map(|r| r.peak_rss_kib as f64 / 1024.0)
        .collect();
    println!(
        "peak RSS after both invocations: median {:.1} MiB (max {:.1}); {stored} rows stored in ClickHouse, as planned",
        super::median(&mut rss),
        rss.iter().cloned().fold(0.0, f64::max)
    );
    Ok(())
}
