//! The cached public page under load, beside nginx serving the same bytes in the same run.
//!
//! Starts the real app server (`statuspage demo`: seeded `demo` tenant, local checker runner)
//! as a child process against fresh databases, waits until the demo page renders, fetches its
//! bytes as a browser asks for them (`Accept-Encoding: gzip, deflate, br, zstd`) and without
//! compression, and writes them into a temporary folder served by nginx (Debian's binary, its
//! own config on loopback ports, the same Content-Type, Content-Encoding and other headers as
//! ours). Then, for each body and each server:
//!
//! - latency at a fixed rate (open loop, default 1,000 req/s): `oha -q` with its latency
//!   correction (measured from when each request was due), or, without oha, an open-loop
//!   generator in this program that schedules each request at a fixed time and measures from
//!   that time; p50 / p99 / max;
//! - throughput at saturation (closed loop): `wrk`, requests per second;
//!
//! and the ratios ours / nginx.
//!
//!     cargo build --release -p web --bin statuspage
//!     cargo run --release -p web --features bench --bin bench-page
//!
//! Load generator, servers and the rest of the machine share its cores: the figures compare the
//! two servers measured the same way in the same run, not absolute capacity.

use anyhow::Context;
use clap::{Parser, ValueEnum};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Generator {
    /// oha if it is found (--oha, PATH, $STATUSPAGE_CACHE/tools/bin), else the built-in one.
    Auto,
    Oha,
    Builtin,
}

#[derive(Parser)]
#[command(
    about = "The cached demo page under load beside nginx serving the same bytes: p50/p99 at a fixed rate, req/s at saturation, ratios"
)]
struct Args {
    /// Requests per second of the fixed-rate (open-loop) latency run.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Length of each fixed-rate run.
    #[arg(long, default_value_t = 10)]
    latency_secs: u64,
    /// Length of each saturation run (wrk).
    #[arg(long, default_value_t = 10)]
    saturation_secs: u64,
    /// Connections of the load generators.
    #[arg(long, default_value_t = 50)]
    connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    wrk_threads: u32,
    /// Who generates the fixed-rate load.
    #[arg(long, value_enum, default_value_t = Generator::Auto)]
    generator: Generator,
    /// The Accept-Encoding of the compressed body (what Chromium sends).
    #[arg(long, default_value = "gzip, deflate, br, zstd")]
    accept_encoding: String,
    /// Measure the compressed body only (not the uncompressed one too).
    #[arg(long)]
    compressed_only: bool,
    /// nginx workers (default: one per core, as the app server's runtime has threads).
    #[arg(long)]
    nginx_workers: Option<usize>,
    /// PostgreSQL server (a fresh database is made on it and dropped at the end).
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
    server: Option<PathBuf>,
    #[arg(long, default_value = "nginx")]
    nginx: PathBuf,
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// The oha binary (default: on PATH, else $STATUSPAGE_CACHE/tools/bin/oha).
    #[arg(long)]
    oha: Option<PathBuf>,
}

/// One body of the page as a client gets it: the request's headers and the response.
struct Body {
    label: String,
    /// Request headers sent by every generator (`Host`, `Accept-Encoding`).
    request: Vec<(String, String)>,
    /// Response headers nginx repeats (all but the ones it sets itself).
    response: Vec<(String, String)>,
    content_type: String,
    encoding: Option<String>,
    bytes: Vec<u8>,
}

#[derive(Default, Clone, Copy)]
struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    ok: u64,
    sent: u64,
}

#[derive(Default, Clone, Copy)]
struct Saturation {
    rps: f64,
    errors: u64,
}

/// A child process stopped with a signal when dropped (nginx: SIGQUIT lets its master stop its
/// workers; `kill_on_drop` would SIGKILL the master and orphan them).
struct Stop(Option<tokio::process::Child>, &'static str);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args([&format!("-{}", self.1), &pid.to_string()])
                    .status();
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.start_kill();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn header_map(pairs: &[(String, String)]) -> anyhow::Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.insert(HeaderName::try_from(k.as_str())?, HeaderValue::try_from(v)?);
    }
    Ok(map)
}

/// Headers nginx sets itself (or that describe this one response only).
const OWN_HEADERS: &[&str] = &[
    "date",
    "content-length",
    "content-type",
    "etag",
    "last-modified",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "server",
    "accept-ranges",
];

async fn fetch_body(
    http: &reqwest::Client,
    url: &str,
    label: &str,
    request: Vec<(String, String)>,
) -> anyhow::Result<Body> {
    let response = http
        .get(url)
        .headers(header_map(&request)?)
        .send()
        .await?
        .error_for_status()?;
    let headers = response.headers().clone();
    let bytes = response.bytes().await?.to_vec();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let response_headers = headers
        .iter()
        .filter(|(k, _)| !OWN_HEADERS.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        // nginx strings: `$` would be a variable, `"` ends the string.
        .filter(|(_, v)| !v.contains('$') && !v.contains('"') && !v.contains('\\'))
        .collect();
    Ok(Body {
        label: label.to_owned(),
        request,
        response: response_headers,
        content_type: text("content-type").unwrap_or_else(|| "text/html; charset=utf-8".into()),
        encoding: text("content-encoding"),
        bytes,
    })
}

/// nginx serving each body at `/` on its own port, with our headers.
fn nginx_config(dir: &Path, bodies: &[(&Body, u16)], workers: usize) -> String {
    let d = dir.display();
    let mut servers = String::new();
    for (i, (body, port)) in bodies.iter().enumerate() {
        let headers: String = body
            .response
            .iter()
            .map(|(k, v)| format!("            add_header {k} \"{v}\";\n"))
            .collect();
        servers.push_str(&format!(
            "    server {{\n        listen 127.0.0.1:{port} reuseport backlog=4096;\n        root {d}/body{i};\n\
             \x20       location = / {{\n            default_type \"{}\";\n{headers}            try_files /index.html =404;\n        }}\n    }}\n",
            body.content_type
        ));
    }
    format!(
        "daemon off;\nmaster_process on;\nworker_processes {workers};\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{\n    worker_connections 8192;\n}}\n\
         http {{\n    access_log off;\n    sendfile on;\n    tcp_nopush on;\n    tcp_nodelay on;\n    keepalive_timeout 65;\n\
         \x20   keepalive_requests 10000000;\n    server_tokens off;\n    gzip off;\n    types {{ }}\n\
         \x20   client_body_temp_path {d}/tmp/body;\n    proxy_temp_path {d}/tmp/proxy;\n    fastcgi_temp_path {d}/tmp/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/tmp/uwsgi;\n    scgi_temp_path {d}/tmp/scgi;\n{servers}}}\n"
    )
}

fn find_oha(args: &Args) -> Option<PathBuf> {
    if let Some(path) = &args.oha {
        return Some(path.clone());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("oha"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let cache = std::env::var_os("STATUSPAGE_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/statuspage"))
            })?;
        Some(cache.join("tools/bin/oha")).filter(|p| p.is_file())
    })
}

/// `oha -q <rate>` with latency correction: every request's latency counts from when it was due.
async fn oha_latency(oha: &Path, url: &str, body: &Body, args: &Args) -> anyhow::Result<Latency> {
    let mut command = tokio::process::Command::new(oha);
    command
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "--latency-correction",
        ])
        .args(["-q", &args.rate.to_string()])
        .args(["-z", &format!("{}s", args.latency_secs)])
        .args(["-c", &args.connections.to_string()]);
    for (k, v) in &body.request {
        // wrk adds its own `Host` unless it sees exactly `Host:` (case-sensitive): a lowercase
        // `host` would make two, which nginx answers with 400.
        command.args(["-H", &format!("{}: {v}", title_case(k))]);
    }
    let out = command
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", oha.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "oha failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).context("oha's JSON output")?;
    let ms = |x: &Value| x.as_f64().unwrap_or(f64::NAN) * 1000.0;
    let ok = v["statusCodeDistribution"]["200"].as_u64().unwrap_or(0);
    let statuses: u64 = v["statusCodeDistribution"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    let errors: u64 = v["errorDistribution"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    Ok(Latency {
        p50_ms: ms(&v["latencyPercentiles"]["p50"]),
        p99_ms: ms(&v["latencyPercentiles"]["p99"]),
        max_ms: ms(&v["summary"]["slowest"]),
        ok,
        sent: statuses + errors,
    })
}

/// Open loop in this program: request `i` is due at `start + i / rate`, sent then whatever the
/// earlier ones are doing, and its latency counts from that due time (so a stall of the server
/// is not hidden by the generator waiting for it).
async fn builtin_latency(url: &str, body: &Body, args: &Args) -> anyhow::Result<Latency> {
    let http = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(args.connections as usize * 4)
        .timeout(Duration::from_secs(10))
        .build()?;
    let headers = header_map(&body.request)?;
    let total = u64::from(args.rate) * args.latency_secs;
    let step = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + step.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let request = http.get(url).headers(headers.clone());
        runs.spawn(async move {
            let ok = match request.send().await {
                Ok(r) => r.status() == reqwest::StatusCode::OK && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (due.elapsed().as_secs_f64() * 1000.0, ok)
        });
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut ok = 0;
    while let Some(done) = runs.join_next().await {
        let (ms, good) = done?;
        latencies.push(ms);
        ok += u64::from(good);
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(Latency {
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        ok,
        sent: total,
    })
}

/// `accept-encoding` → `Accept-Encoding`.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `wrk` at saturation: requests per second, and how many were errors or not 2xx/3xx.
async fn wrk_saturation(url: &str, body: &Body, args: &Args) -> anyhow::Result<Saturation> {
    let mut command = tokio::process::Command::new(&args.wrk);
    command
        .args(["-t", &args.wrk_threads.to_string()])
        .args(["-c", &args.connections.to_string()])
        .args(["-d", &format!("{}s", args.saturation_secs)]);
    for (k, v) in &body.request {
        command.args(["-H", &format!("{}: {v}", title_case(k))]);
    }
    let out = command
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", args.wrk.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let mut errors = 0;
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += n.trim().parse::<u64>().unwrap_or(0);
        }
        if let Some(socket) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors += socket
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    if errors > 0 {
        tracing::warn!(%url, errors, "wrk counted errors:\n{text}");
    }
    Ok(Saturation { rps, errors })
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
    anyhow::ensure!(
        server.exists(),
        "no app server at {} (build it: cargo build --release -p web --bin statuspage, or pass --server)",
        server.display()
    );
    let oha = match args.generator {
        Generator::Builtin => None,
        Generator::Oha => Some(find_oha(&args).context(
            "oha not found (scripts/services.sh ensure_oha installs it; or --generator builtin)",
        )?),
        Generator::Auto => find_oha(&args),
    };

    // Fresh databases.
    let db_name = format!("bench_page_{}", Uuid::new_v4().simple());
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
    let dir = std::env::temp_dir().join(&db_name);
    std::fs::create_dir_all(dir.join("tmp"))?;

    let result = run(&args, &server, oha.as_deref(), &db_url, &db_name, &dir).await;

    let _ = std::fs::remove_dir_all(&dir);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    if let Ok(analytics) = statuspage_clickhouse::Analytics::new(&args.clickhouse_url, &db_name) {
        let _ = analytics
            .client()
            .query(&format!("DROP DATABASE IF EXISTS {db_name}"))
            .execute()
            .await;
    }
    result
}

async fn run(
    args: &Args,
    server: &Path,
    oha: Option<&Path>,
    db_url: &str,
    db_name: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let port = free_port()?;
    let targets = free_port()?;
    let app = tokio::process::Command::new(server)
        .arg("demo")
        .env("DATABASE_URL", db_url)
        .env("CLICKHOUSE_URL", &args.clickhouse_url)
        .env("CLICKHOUSE_DATABASE", db_name)
        .env("STATUSPAGE_ADDR", format!("127.0.0.1:{port}"))
        .env("DEMO_TARGETS_ADDR", format!("127.0.0.1:{targets}"))
        .env("CHECKER_SECRET", "bench-page-secret-0123456789")
        .env("CHECKER_ALLOW_CIDRS", "127.0.0.0/8")
        .env("CHECKER_INTERVAL_SECS", "15")
        .env("STATUSPAGE_DATA", dir.join("data"))
        .env("STATUSPAGE_RENDER_DIR", dir.join("renders"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    let mut app = Stop(Some(app), "TERM");

    // The demo page as a visitor's browser gets it, once it shows its components.
    let host = format!("demo.localhost:{port}");
    let ours = format!("http://127.0.0.1:{port}/");
    let http = reqwest::Client::builder()
        .http1_only()
        .timeout(Duration::from_secs(10))
        .build()?;
    let started = Instant::now();
    loop {
        let page = http.get(&ours).header("host", &host).send().await;
        if let Ok(page) = page {
            if page.status().is_success()
                && page
                    .text()
                    .await
                    .is_ok_and(|t| t.contains("data-component="))
            {
                break;
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "the demo page did not render within 120 s"
        );
        if let Some(child) = &mut app.0 {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the app server exited: {status}");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tracing::info!(
        after_secs = started.elapsed().as_secs_f64(),
        "the demo page renders"
    );
    let host_header = ("host".to_owned(), host.clone());
    let mut bodies = vec![
        fetch_body(
            &http,
            &ours,
            "browser (compressed)",
            vec![
                host_header.clone(),
                ("accept-encoding".into(), args.accept_encoding.clone()),
            ],
        )
        .await?,
    ];
    if !args.compressed_only {
        bodies.push(fetch_body(&http, &ours, "uncompressed", vec![host_header]).await?);
    }

    // nginx with the same bytes and headers, one port per body.
    let mut with_ports = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let folder = dir.join(format!("body{i}"));
        std::fs::create_dir_all(&folder)?;
        std::fs::write(folder.join("index.html"), &body.bytes)?;
        with_ports.push((body, free_port()?));
    }
    // nginx's workers run as nobody: they must read the folder.
    let _ = std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir)
        .status();
    let workers = args.nginx_workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let config = dir.join("nginx.conf");
    std::fs::write(&config, nginx_config(dir, &with_ports, workers))?;
    let nginx = tokio::process::Command::new(&args.nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (scripts/services.sh ensure_nginx installs it)",
                args.nginx.display()
            )
        })?;
    let _nginx = Stop(Some(nginx), "QUIT");
    for (body, nginx_port) in &with_ports {
        let url = format!("http://127.0.0.1:{nginx_port}/");
        let started = Instant::now();
        let served = loop {
            match fetch_body(&http, &url, &body.label, body.request.clone()).await {
                Ok(served) => break served,
                Err(e) if started.elapsed() > Duration::from_secs(10) => {
                    return Err(e.context(format!(
                        "nginx did not serve {url}; see {}",
                        dir.join("error.log").display()
                    )))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        anyhow::ensure!(
            served.bytes == body.bytes
                && served.encoding == body.encoding
                && served.content_type == body.content_type,
            "nginx does not serve the same bytes and headers as ours for {}",
            body.label
        );
    }

    // The measurements: per body, latency at the fixed rate then saturation, ours then nginx.
    let mut rows = Vec::new();
    for (body, nginx_port) in &with_ports {
        let targets = [
            ("ours", ours.clone()),
            ("nginx", format!("http://127.0.0.1:{nginx_port}/")),
        ];
        let mut measured = Vec::new();
        for (who, url) in &targets {
            tracing::info!(server = who, body = %body.label, rate = args.rate, secs = args.latency_secs, "fixed-rate run");
            let latency = match oha {
                Some(oha) => oha_latency(oha, url, body, args).await?,
                None => builtin_latency(url, body, args).await?,
            };
            tracing::info!(server = who, body = %body.label, secs = args.saturation_secs, "saturation run (wrk)");
            let saturation = wrk_saturation(url, body, args).await?;
            measured.push((*who, latency, saturation));
        }
        rows.push((*body, measured));
    }

    let generator = match oha {
        Some(_) => "oha -q (open loop, --latency-correction)",
        None => "built-in open loop (latency from each request's due time)",
    };
    println!();
    println!(
        "bench-page: the demo page, ours (statuspage demo, cached render) vs nginx {} serving the same bytes",
        nginx_version(&args.nginx)
    );
    println!(
        "  latency: {} req/s for {} s, {} connections, {generator}",
        args.rate, args.latency_secs, args.connections
    );
    println!(
        "  saturation: wrk -t{} -c{} -d{}s; {} cores shared by the generator, both servers and the rest of the machine",
        args.wrk_threads,
        args.connections,
        args.saturation_secs,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!();
    println!(
        "{:<22} {:<6} {:>8} {:>9} {:>9} {:>9} {:>13} {:>12} {:>7}",
        "body", "server", "bytes", "p50 ms", "p99 ms", "max ms", "ok/sent", "sat. req/s", "errors"
    );
    for (body, measured) in &rows {
        let label = match &body.encoding {
            Some(e) => format!("{} {e}", body.label.split(' ').next().unwrap_or_default()),
            None => body.label.clone(),
        };
        for (who, l, s) in measured {
            println!(
                "{:<22} {:<6} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>13} {:>12.0} {:>7}",
                label,
                who,
                body.bytes.len(),
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                format!("{}/{}", l.ok, l.sent),
                s.rps,
                s.errors
            );
        }
        if let [(_, ol, os), (_, nl, ns)] = measured.as_slice() {
            println!(
                "{:<22} {:<6} {:>8} {:>8.2}x {:>8.2}x {:>8.2}x {:>13} {:>11.3}x {:>7}",
                label,
                "ratio",
                "",
                ol.p50_ms / nl.p50_ms,
                ol.p99_ms / nl.p99_ms,
                ol.max_ms / nl.max_ms,
                "",
                os.rps / ns.rps,
                ""
            );
        }
    }
    println!();
    println!(
        "ratio = ours / nginx (latency: above 1 is slower than nginx; req/s: below 1 is fewer)"
    );
    Ok(())
}

fn nginx_version(nginx: &Path) -> String {
    std::process::Command::new(nginx)
        .arg("-v")
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .trim_start_matches("nginx version: ")
                .to_owned()
        })
        .unwrap_or_default()
}
