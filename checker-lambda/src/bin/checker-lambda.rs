//! The regional checker: runs as an AWS Lambda function (one invocation per region, shard and
//! minute), or probes one URL from the command line like `curl -w`.

use anyhow::Context;
use checker::api_client::ApiClient;
use checker::guard::SsrfGuard;
use checker::plan::CheckEvent;
use checker::probe::Prober;
use checker::run::{run_checks, RunOptions, RunSummary};
use clap::{Parser, Subcommand};
use lambda_runtime::{service_fn, LambdaEvent};
use statuspage_clickhouse::Analytics;
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
    /// CHECKER_ALLOW_CIDRS and CHECKER_CONCURRENCY from the environment.
    Lambda,
    /// Probe one URL once and print the phase timings and the verdict.
    Probe {
        /// http:// or https:// URL.
        url: String,
        /// HTTP method.
        #[arg(long, short = 'X', default_value = "GET")]
        method: String,
        /// Extra request header, `Name: value` (repeatable).
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
        /// Overall timeout in milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u32,
        /// Private network the probe may reach, as CIDR (repeatable); all private ranges are refused otherwise.
        #[arg(long = "allow-cidr")]
        allow_cidrs: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
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
        Command::Probe {
            url,
            method,
            headers,
            timeout_ms,
            allow_cidrs,
            json,
        } => probe(url, method, headers, timeout_ms, allow_cidrs, json).await,
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
    let analytics = Analytics::new(
        &env_or("CLICKHOUSE_URL", "http://127.0.0.1:8123"),
        &env_or("CLICKHOUSE_DATABASE", "statuspage"),
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

async fn probe(
    url: String,
    method: String,
    headers: Vec<String>,
    timeout_ms: u32,
    allow_cidrs: Vec<String>,
    json: bool,
) -> anyhow::Result<()> {
    let headers = headers
        .iter()
        .map(|h| {
            let (name, value) = h
                .split_once(':')
                .with_context(|| format!("--header {h:?} must look like `Name: value`"))?;
            Ok(serde_json::json!({ "name": name.trim(), "value": value.trim() }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let spec: checker::spec::MonitorSpec = serde_json::from_value(serde_json::json!({
        "type": "http", "url": url, "method": method.to_ascii_uppercase(), "headers": headers, "timeout_ms": timeout_ms,
    }))?;
    if let Err(problems) = spec.validate() {
        for p in problems {
            eprintln!("{}: {}", p.field, p.message);
        }
        std::process::exit(2);
    }
    let allow = SsrfGuard::parse_allowlist(&allow_cidrs.join(","))
        .map_err(|e| anyhow::anyhow!("--allow-cidr: {e}"))?;
    let outcome = Prober::new(SsrfGuard::new(allow)).check(&spec).await;
    let ok = outcome.status != checker::probe::CheckStatus::Down;
    if json {
        let t = &outcome.timings;
        println!(
            "{}",
            serde_json::json!({
                "dns_us": t.dns_us, "tcp_connect_us": t.tcp_connect_us, "tls_handshake_us": t.tls_handshake_us,
                "ttfb_us": t.ttfb_us, "transfer_us": t.transfer_us, "total_us": t.total_us,
                "status_code": outcome.status_code, "status": outcome.status, "ok": ok, "error": outcome.error,
                "resolved_ip": outcome.resolved_ip, "http_version": outcome.http_version,
                "tls_version": outcome.tls_version, "tls_cipher": outcome.tls_cipher,
                "response_bytes": outcome.response_bytes,
            })
        );
    } else {
        let t = &outcome.timings;
        let ms = |us: u32| f64::from(us) / 1000.0;
        println!("dns            {:>10.3} ms", ms(t.dns_us));
        println!("tcp_connect    {:>10.3} ms", ms(t.tcp_connect_us));
        println!("tls_handshake  {:>10.3} ms", ms(t.tls_handshake_us));
        println!("ttfb           {:>10.3} ms", ms(t.ttfb_us));
        println!("transfer       {:>10.3} ms", ms(t.transfer_us));
        println!("total          {:>10.3} ms", ms(t.total_us));
        if let Some(code) = outcome.status_code {
            println!("status_code    {code}");
        }
        println!(
            "verdict        {:?}{}",
            outcome.status,
            outcome.error.map(|e| format!(": {e}")).unwrap_or_default()
        );
    }
    std::process::exit(if ok { 0 } else { 1 });
}
