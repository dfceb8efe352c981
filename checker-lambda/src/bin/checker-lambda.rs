//! The regional checker: runs as an AWS Lambda function (one invocation per region, shard and
//! minute, and one per re-check the API asks for: the same event naming the monitors, through
//! the same run), or probes one URL from the command line like `curl -w`.

use anyhow::Context;
use checker::api_client::ApiClient;
use checker::guard::SsrfGuard;
use checker::plan::CheckEvent;
use checker::probe::Prober;
use checker::run::{run_checks, RunOptions, RunSummary};
use clap::{Parser, Subcommand};
use lambda_runtime::{service_fn, LambdaEvent};
use statuspage_clickhouse::{Analytics, Writer, WriterConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "checker-lambda",
    version,
    about = "Regional checker: AWS Lambda handler and command-line probe"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve invocations from the Lambda Runtime API (the default with no subcommand).
    ///
    /// Reads CHECKER_API_URL, CHECKER_SECRET, CLICKHOUSE_URL, CLICKHOUSE_DATABASE,
    /// CLICKHOUSE_USER, CLICKHOUSE_PASSWORD (the checkers' insert-only user, see the README),
    /// CLICKHOUSE_SPOOL_DIR, CHECKER_ALLOW_CIDRS and CHECKER_CONCURRENCY from the environment.
    Lambda,
    /// Probe one URL like `curl -w` and print the phase timings and the verdict.
    ///
    /// Exit status: 0 up or degraded, 1 down, 2 invalid arguments. The SSRF guard applies:
    /// private, loopback and metadata addresses are refused unless `--allow-cidr` covers them.
    Probe(ProbeArgs),
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// http:// or https:// URL.
    url: String,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Request body (not with GET or HEAD).
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// Expected status: `200`, `200-299` or `2xx` (repeatable; default 200-399).
    #[arg(long = "expect-status")]
    expect_status: Vec<String>,
    /// The body must contain this text (repeatable).
    #[arg(long = "expect-body")]
    expect_body: Vec<String>,
    /// A JSON path comparison such as `$.status == "ok"` or `$.n < 5` (repeatable).
    #[arg(long = "expect-json")]
    expect_json: Vec<String>,
    /// Follow redirects (each target passes the SSRF guard again).
    #[arg(long, short = 'L')]
    follow_redirects: bool,
    /// Most redirects to follow.
    #[arg(long, default_value_t = checker::spec::DEFAULT_MAX_REDIRECTS)]
    max_redirects: u8,
    /// Retries after a down attempt (0-5); every attempt is printed.
    #[arg(long, default_value_t = 0)]
    retries: u8,
    /// Wait before the first retry, doubled for each later one.
    #[arg(long, default_value_t = checker::spec::DEFAULT_RETRY_BACKOFF_MS)]
    retry_backoff_ms: u32,
    /// Overall timeout of one attempt in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u32,
    /// Degraded when slower than this many milliseconds.
    #[arg(long)]
    degraded_above_ms: Option<u32>,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long)]
    cacert: Option<std::path::PathBuf>,
    /// Private network the probe may reach, as CIDR (repeatable); all private ranges are refused otherwise.
    #[arg(long = "allow-cidr")]
    allow_cidrs: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} must be set"))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Lambda) {
        Command::Lambda => lambda().await,
        Command::Probe(args) => probe(args).await,
    }
}

async fn lambda() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .without_time()
        .with_ansi(false)
        .init();
    // Clients are built once per execution environment and reused by every invocation.
    let api = ApiClient::new(&env("CHECKER_API_URL")?, &env("CHECKER_SECRET")?)
        .map_err(|e| anyhow::anyhow!("checker API client: {e}"))?;
    // Batched, retrying writer, as in the app server: a batch ClickHouse refuses waits in the
    // spool (default /tmp/clickhouse-spool, which lives as long as the execution environment;
    // CLICKHOUSE_SPOOL_DIR moves it, set empty it is off) and is replayed by a later invocation.
    let mut writer_config = WriterConfig::from_env()?;
    if std::env::var_os("CLICKHOUSE_SPOOL_DIR").is_none() {
        writer_config.spool_dir = Some(std::env::temp_dir().join("clickhouse-spool"));
    }
    let analytics = Writer::new(
        Analytics::new(
            &env_or("CLICKHOUSE_URL", "http://127.0.0.1:8123"),
            &env_or("CLICKHOUSE_DATABASE", "statuspage"),
        )?,
        writer_config,
    )?;
    let allow = SsrfGuard::parse_allowlist(&env_or("CHECKER_ALLOW_CIDRS", ""))
        .map_err(|e| anyhow::anyhow!("CHECKER_ALLOW_CIDRS: {e}"))?;
    let concurrency: usize = env_or("CHECKER_CONCURRENCY", "64")
        .parse()
        .context("CHECKER_CONCURRENCY must be a positive integer")?;
    let prober = Arc::new(Prober::new(SsrfGuard::new(allow)));
    let (api, analytics) = (Arc::new(api), Arc::new(analytics));
    let cold = Arc::new(AtomicBool::new(true));

    lambda_runtime::run(service_fn(move |event: LambdaEvent<CheckEvent>| {
        let (prober, api, analytics, cold) =
            (prober.clone(), api.clone(), analytics.clone(), cold.clone());
        async move {
            let (event, context) = event.into_parts();
            let run_id = Uuid::new_v4();
            // A retried invocation keeps its request id, so its batch is stored once.
            let token = format!(
                "lambda-{}-{}-{}",
                event.region, event.shard, context.request_id
            );
            let mut options = RunOptions::new(run_id, token);
            options.concurrency = concurrency;
            options.cold_start = cold.swap(false, Ordering::Relaxed);
            options.deadline = Some(run_deadline(context.deadline));
            let summary: RunSummary = run_checks(
                &event,
                &prober,
                api.as_ref(),
                analytics.as_ref(),
                api.as_ref(),
                &options,
            )
            .await?;
            Ok::<_, lambda_runtime::Error>(summary)
        }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// The invocation's deadline (ms since the epoch) less the margin for storing and reporting,
/// as an instant; at most a minute away (the schedule's period), at least a second.
fn run_deadline(deadline_ms: u64) -> std::time::Instant {
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        .saturating_sub(checker::run::DEADLINE_MARGIN)
        .clamp(
            std::time::Duration::from_secs(1),
            checker::run::DEFAULT_RUN_DEADLINE,
        );
    std::time::Instant::now() + left
}

/// A failed argument: printed as `field: message`, exit status 2.
fn usage_error(field: &str, message: impl std::fmt::Display) -> ! {
    eprintln!("{field}: {message}");
    std::process::exit(2);
}

async fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    use checker::probe::{CheckOutcome, CheckStatus};
    use checker::spec::{Assertion, Header, HttpSpec, MonitorSpec, StatusRange};

    let mut spec = HttpSpec::get(args.url);
    spec.method = args.method.to_ascii_uppercase();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            usage_error("--header", format!("{h:?} must look like `Name: value`"));
        };
        spec.headers.push(Header {
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            secret: false,
        });
    }
    spec.body = args.data;
    if !args.expect_status.is_empty() {
        spec.expected_status = args
            .expect_status
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| {
                s.parse::<StatusRange>()
                    .unwrap_or_else(|e| usage_error("--expect-status", e))
            })
            .collect();
    }
    for text in args.expect_body {
        spec.assertions
            .push(Assertion::BodyContains { value: text });
    }
    for expr in &args.expect_json {
        spec.assertions.push(
            Assertion::parse_json_expr(expr).unwrap_or_else(|e| usage_error("--expect-json", e)),
        );
    }
    spec.follow_redirects = args.follow_redirects;
    spec.max_redirects = args.max_redirects;
    spec.retries = args.retries;
    spec.retry_backoff_ms = args.retry_backoff_ms;
    spec.timeout_ms = args.timeout_ms;
    spec.degraded_above_ms = args.degraded_above_ms;
    let spec = MonitorSpec::Http(spec);
    if let Err(problems) = spec.validate() {
        for p in problems {
            eprintln!("{}: {}", p.field, p.message);
        }
        std::process::exit(2);
    }
    let allow = SsrfGuard::parse_allowlist(&args.allow_cidrs.join(","))
        .unwrap_or_else(|e| usage_error("--allow-cidr", e));
    let mut roots = Vec::new();
    if let Some(path) = &args.cacert {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .unwrap_or_else(|e| usage_error("--cacert", format!("{}: {e}", path.display())));
        roots.extend(certs);
    }
    let attempts = Prober::with_extra_roots(SsrfGuard::new(allow), roots)
        .check_with_retries(&spec)
        .await;
    let Some(outcome) = attempts.last() else {
        anyhow::bail!("no attempt was made");
    };
    let ok = outcome.status != CheckStatus::Down;
    let fields = |o: &CheckOutcome| {
        let t = &o.timings;
        serde_json::json!({
            "dns_us": t.dns_us, "tcp_connect_us": t.tcp_connect_us,
            "tls_handshake_us": t.tls_handshake_us, "ttfb_us": t.ttfb_us,
            "transfer_us": t.transfer_us, "total_us": t.total_us,
            "status_code": o.status_code, "ok": o.status != CheckStatus::Down,
            "status": o.status, "error": o.error, "attempt": o.attempt,
            "resolved_ip": o.resolved_ip, "http_version": o.http_version,
            "tls_version": o.tls_version, "tls_cipher": o.tls_cipher,
            "cert_expires_at": o.cert_expires_at, "cert_days_left": o.cert_days_left,
            "response_bytes": o.response_bytes, "redirects": o.redirects, "hops": o.hops,
        })
    };
    if args.json {
        let mut json = fields(outcome);
        json["attempts"] = attempts.iter().map(fields).collect();
        println!("{json}");
    } else {
        let ms = |us: u32| f64::from(us) / 1000.0;
        for o in &attempts {
            if attempts.len() > 1 {
                println!("attempt {}", o.attempt);
            }
            for hop in o.hops.iter().filter(|_| o.hops.len() > 1) {
                let t = &hop.timings;
                println!(
                    "  hop {:<60} {} dns {:.3} tcp {:.3} tls {:.3} ttfb {:.3} transfer {:.3} total {:.3} ms",
                    hop.url,
                    hop.status_code.map(|c| c.to_string()).unwrap_or_else(|| "---".into()),
                    ms(t.dns_us), ms(t.tcp_connect_us), ms(t.tls_handshake_us),
                    ms(t.ttfb_us), ms(t.transfer_us), ms(t.total_us)
                );
            }
            let t = &o.timings;
            println!("dns            {:>10.3} ms", ms(t.dns_us));
            println!("tcp_connect    {:>10.3} ms", ms(t.tcp_connect_us));
            println!("tls_handshake  {:>10.3} ms", ms(t.tls_handshake_us));
            println!("ttfb           {:>10.3} ms", ms(t.ttfb_us));
            println!("transfer       {:>10.3} ms", ms(t.transfer_us));
            println!("total          {:>10.3} ms", ms(t.total_us));
            if let Some(code) = o.status_code {
                println!("status_code    {code}");
            }
            if o.redirects > 0 {
                println!("redirects      {}", o.redirects);
            }
            if let Some(days) = o.cert_days_left {
                println!("cert_days_left {days}");
            }
            println!(
                "verdict        {}{}",
                o.status,
                o.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }
    std::process::exit(if ok { 0 } else { 1 });
}
