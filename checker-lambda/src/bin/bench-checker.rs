//! Benchmarks of the probe engine, on loopback only. Prints figures; asserts nothing.
//!
//! * `accuracy`: a local HTTPS server (HTTP/1.1, 5 ms before the first byte, then a body sent in
//!   10 chunks over 20 ms) probed in rounds by our engine and by `curl -w` in four ways, `--runs`
//!   times each: several transfers in one curl process (`curl-1p`, the fairest: curl's exec and
//!   OpenSSL initialisation stay out of the measured transfers) and one process per transfer
//!   (`curl-pp`), each with `--cacert` (verification, like ours) or `-k`. Every run is a fresh
//!   TCP + TLS connection without session resumption (checked: curl's `num_connects`, the
//!   server's handshake kind). curl's cumulative times are turned into disjoint phases; the
//!   server's own clock for each connection (TCP accept → ClientHello → handshake done) is the
//!   reference for the TLS phase. Prints per-phase medians per tool and, against `curl-1p`, the
//!   per-phase |Δ median| and median pairwise |Δ|.
//! * `throughput`: N HTTPS monitors (fresh connection each) against a loopback TLS server, by our
//!   engine in a child process on one tokio thread, and by Debian's
//!   `prometheus-blackbox-exporter` (`/probe` with an http module trusting the test CA); checks
//!   per CPU-second of the checker process, wall time, and peak RSS, and the ratio.
//!
//!   The same run measures the ceiling: a bare loop of rustls handshakes (TCP connect + full
//!   TLS 1.3 handshake, nothing else) on one thread against the same server, and prints our
//!   checks per CPU-second as a share of it. The default counts include 100,000 monitors.
//! * `cold start` (`cold_start.rs`): the release `checker-lambda` (or a package's `bootstrap`)
//!   under a loopback Lambda Runtime API: init time, first-check and warm-check time.
//!
//! The TLS servers run in their own child processes so their CPU time is not counted.

#[path = "bench-checker/cold_start.rs"]
mod cold_start;

use anyhow::{bail, Context};
use checker::guard::SsrfGuard;
use checker::probe::{CheckStatus, Prober};
use checker::spec::{HttpSpec, MonitorSpec};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[derive(Parser)]
#[command(
    name = "bench-checker",
    about = "Probe accuracy vs curl -w, throughput vs prometheus-blackbox-exporter and a bare rustls handshake loop, and the Lambda's cold start, on loopback"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Probes per tool for the accuracy benchmark.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Monitor counts for the throughput benchmark (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000usize, 10000, 100000])]
    monitors: Vec<usize>,
    /// Run the blackbox exporter only for monitor counts up to this (it is ~4x slower).
    #[arg(long, default_value_t = 10000)]
    blackbox_up_to: usize,
    /// Concurrent checks (ours) and concurrent /probe requests (blackbox exporter).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The blackbox exporter binary.
    #[arg(long, default_value = "prometheus-blackbox-exporter")]
    blackbox: String,
    /// The curl binary.
    #[arg(long, default_value = "curl")]
    curl: String,
    /// Measured transfers per curl process in the one-process curl variants (each process also
    /// makes one unmeasured warm-up transfer first).
    #[arg(long, default_value_t = 10)]
    curl_batch: usize,
    /// Skip the accuracy benchmark.
    #[arg(long)]
    skip_accuracy: bool,
    /// Skip the throughput benchmark.
    #[arg(long)]
    skip_throughput: bool,
    /// Skip the blackbox exporter in the throughput benchmark.
    #[arg(long)]
    skip_blackbox: bool,
    /// Skip the cold-start benchmark (which needs CLICKHOUSE_URL).
    #[arg(long)]
    skip_cold_start: bool,
    /// Fresh Lambda processes in the cold-start benchmark.
    #[arg(long, default_value_t = 20)]
    cold_starts: usize,
    /// HTTP monitors in the cold-start benchmark's plan.
    #[arg(long, default_value_t = 1)]
    cold_start_checks: usize,
    /// The Lambda binary for the cold-start benchmark [default: `checker-lambda` beside this
    /// binary]; a package's `bootstrap` works too.
    #[arg(long)]
    lambda: Option<PathBuf>,
    /// Run the Lambda binary through this command, e.g. `qemu-aarch64-static -L
    /// /usr/aarch64-linux-gnu` for the arm64 bootstrap.
    #[arg(long)]
    lambda_runner: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// (internal) Serve HTTPS on 127.0.0.1 and print the port.
    Serve {
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value_t = 0)]
        first_byte_ms: u64,
        #[arg(long, default_value_t = 0)]
        body_ms: u64,
        /// Print `tls <accept→ClientHello µs> <ClientHello→handshake done µs> <full|resumed>`
        /// per connection.
        #[arg(long)]
        report_tls: bool,
    },
    /// (internal) Run N checks of one URL on one thread and print JSON figures.
    RunOurs {
        #[arg(long)]
        url: String,
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        n: usize,
        #[arg(long)]
        concurrency: usize,
    },
    /// (internal) Make N bare TLS handshakes with 127.0.0.1:PORT on one thread and print JSON
    /// figures: the ceiling for `run-ours`.
    RunHandshakes {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        n: usize,
        #[arg(long)]
        concurrency: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the figures are per core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Some(Command::Serve {
            cert,
            key,
            first_byte_ms,
            body_ms,
            report_tls,
        }) => runtime.block_on(serve(&cert, &key, first_byte_ms, body_ms, report_tls)),
        Some(Command::RunOurs {
            url,
            ca,
            n,
            concurrency,
        }) => runtime.block_on(run_ours(&url, &ca, n, concurrency)),
        Some(Command::RunHandshakes {
            port,
            ca,
            n,
            concurrency,
        }) => runtime.block_on(run_handshakes(port, &ca, n, concurrency)),
        None => runtime.block_on(bench(&cli)),
    }
}

// ---------------------------------------------------------------------------------------------
// The loopback HTTPS server

async fn serve(
    cert: &Path,
    key: &Path,
    first_byte_ms: u64,
    body_ms: u64,
    report_tls: bool,
) -> anyhow::Result<()> {
    let certs = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let accepted = Instant::now();
        let config = config.clone();
        tokio::spawn(async move {
            // The server's view of the handshake: how long the client took to send its
            // ClientHello after the TCP accept, then ClientHello to the client's Finished.
            let lazy =
                tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
            let Ok(start) = lazy.await else {
                return;
            };
            let hello = Instant::now();
            let Ok(mut tls) = start.into_stream(config).await else {
                return;
            };
            if report_tls {
                let done = hello.elapsed();
                let kind = match tls.get_ref().1.handshake_kind() {
                    Some(rustls::HandshakeKind::Resumed) => "resumed",
                    _ => "full",
                };
                println!(
                    "tls {} {} {kind}",
                    hello.duration_since(accepted).as_micros(),
                    done.as_micros()
                );
            }
            let mut request = Vec::with_capacity(1024);
            let mut buf = [0u8; 2048];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            const CHUNKS: usize = 10;
            const CHUNK: &[u8] = &[b'x'; 100];
            if first_byte_ms > 0 {
                tokio::time::sleep(Duration::from_millis(first_byte_ms)).await;
            }
            let body_len = if body_ms > 0 { CHUNKS * CHUNK.len() } else { 2 };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {body_len}\r\nconnection: close\r\n\r\n"
            );
            if body_ms == 0 {
                let _ = tls.write_all(format!("{head}ok").as_bytes()).await;
            } else {
                if tls.write_all(head.as_bytes()).await.is_err() || tls.flush().await.is_err() {
                    return;
                }
                let step = Duration::from_micros(body_ms * 1000 / CHUNKS as u64);
                for _ in 0..CHUNKS {
                    tokio::time::sleep(step).await;
                    if tls.write_all(CHUNK).await.is_err() || tls.flush().await.is_err() {
                        return;
                    }
                }
            }
            let _ = tls.shutdown().await;
        });
    }
}

/// A child `serve` process and its port.
struct ServerProcess {
    /// Killed on drop.
    _child: tokio::process::Child,
    port: u16,
    /// With `report_tls`: one entry per connection, in accept order.
    tls: Arc<std::sync::Mutex<Vec<ServerTls>>>,
}

/// The server's view of one TLS handshake.
#[derive(Clone, Copy, Debug)]
struct ServerTls {
    /// TCP accept → ClientHello received, ms.
    to_hello: f64,
    /// ClientHello → the client's Finished (handshake done), ms.
    hello_to_done: f64,
    resumed: bool,
}

async fn start_server(
    pki: &Pki,
    first_byte_ms: u64,
    body_ms: u64,
    report_tls: bool,
) -> anyhow::Result<ServerProcess> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg("--cert")
        .arg(&pki.chain_pem)
        .arg("--key")
        .arg(&pki.key_pem)
        .arg("--first-byte-ms")
        .arg(first_byte_ms.to_string())
        .arg("--body-ms")
        .arg(body_ms.to_string())
        .args(report_tls.then_some("--report-tls"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next_line().await?.unwrap_or_default();
    let port = line.trim().parse().context("server port")?;
    let tls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = tls.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let v: Vec<&str> = line.split_whitespace().collect();
            if let [_, to_hello, hello_to_done, kind] = v[..] {
                if let (Ok(a), Ok(b)) = (to_hello.parse::<f64>(), hello_to_done.parse::<f64>()) {
                    sink.lock().expect("lock").push(ServerTls {
                        to_hello: a / 1000.0,
                        hello_to_done: b / 1000.0,
                        resumed: kind == "resumed",
                    });
                }
            }
        }
    });
    Ok(ServerProcess {
        _child: child,
        port,
        tls,
    })
}

// ---------------------------------------------------------------------------------------------
// Test PKI

struct Pki {
    dir: PathBuf,
    ca_pem: PathBuf,
    chain_pem: PathBuf,
    key_pem: PathBuf,
}

fn make_pki() -> anyhow::Result<Pki> {
    let dir = std::env::temp_dir().join(format!("bench-checker-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bench-checker CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
    let key = rcgen::KeyPair::generate()?;
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &ca)?;
    let pki = Pki {
        ca_pem: dir.join("ca.pem"),
        chain_pem: dir.join("chain.pem"),
        key_pem: dir.join("key.pem"),
        dir,
    };
    let ca_pem = pem("CERTIFICATE", ca.der());
    std::fs::write(&pki.ca_pem, &ca_pem)?;
    std::fs::write(
        &pki.chain_pem,
        format!("{}{ca_pem}", pem("CERTIFICATE", leaf.der())),
    )?;
    std::fs::write(&pki.key_pem, pem("PRIVATE KEY", &key.serialize_der()))?;
    Ok(pki)
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn prober_trusting(ca: &Path) -> anyhow::Result<Prober> {
    let roots = CertificateDer::pem_file_iter(ca)?.collect::<Result<Vec<_>, _>>()?;
    let allow = SsrfGuard::parse_allowlist("127.0.0.0/8,::1/128")?;
    Ok(Prober::with_extra_roots(SsrfGuard::new(allow), roots))
}

fn spec(url: &str) -> MonitorSpec {
    let mut spec = HttpSpec::get(url);
    spec.timeout_ms = 10_000;
    MonitorSpec::Http(spec)
}

// ---------------------------------------------------------------------------------------------
// Process figures from /proc

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of a process (all threads).
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = &stat[stat.rfind(')').context("stat format")? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields[11].parse()?;
    let stime: f64 = fields[12].parse()?;
    Ok((utime + stime) / clock_ticks())
}

/// Peak resident set size in KiB (VmHWM).
fn peak_rss_kib(pid: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmHWM in /proc status")
}

// ---------------------------------------------------------------------------------------------
// Our engine, N checks in this (child) process

#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct RunFigures {
    checks: usize,
    up: usize,
    wall_s: f64,
    cpu_s: f64,
    peak_rss_kib: u64,
    first_error: Option<String>,
}

/// Runs `n` of `one` on this thread, `concurrency` at a time, and prints this process's figures
/// as JSON: an `Ok` counts as up. Outcomes are counted as they finish, not collected, so the peak
/// RSS is the work's, not a list of 100,000 outcomes (a run stores its results as checks finish,
/// too).
async fn measure<F, Fut>(n: usize, concurrency: usize, one: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let cpu_before = cpu_seconds("self")?;
    let started = Instant::now();
    let (up, first_error) = futures::stream::iter(0..n)
        .map(|_| one())
        .buffer_unordered(concurrency.max(1))
        .fold((0usize, None::<String>), |(up, first), o| async move {
            match o {
                Ok(()) => (up + 1, first),
                Err(e) => (up, first.or(Some(e))),
            }
        })
        .await;
    let wall_s = started.elapsed().as_secs_f64();
    let figures = RunFigures {
        checks: n,
        up,
        wall_s,
        cpu_s: cpu_seconds("self")? - cpu_before,
        peak_rss_kib: peak_rss_kib("self")?,
        first_error,
    };
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}

async fn run_ours(url: &str, ca: &Path, n: usize, concurrency: usize) -> anyhow::Result<()> {
    let prober = prober_trusting(ca)?;
    let spec = spec(url);
    measure(n, concurrency, || async {
        let outcome = prober.check(&spec).await;
        match outcome.status {
            CheckStatus::Up => Ok(()),
            status => Err(outcome.error.unwrap_or_else(|| format!("{status:?}"))),
        }
    })
    .await
}

/// The ceiling: what one thread spends on TCP connect + a full TLS 1.3 handshake alone, with the
/// client configuration our prober uses (ring, resumption off, the same ALPN offer).
async fn run_handshakes(port: u16, ca: &Path, n: usize, concurrency: usize) -> anyhow::Result<()> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    measure(n, concurrency, || {
        let (connector, name) = (connector.clone(), name.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            let _ = tcp.set_nodelay(true);
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            drop(tls);
            Ok(())
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The benchmark driver

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

async fn bench(cli: &Cli) -> anyhow::Result<()> {
    let pki = make_pki()?;
    println!(
        "bench-checker: loopback only; machine: {} cores, load average {}",
        cores(),
        load()
    );
    let result = async {
        if !cli.skip_accuracy {
            accuracy(cli, &pki).await?;
        }
        if !cli.skip_throughput {
            throughput(cli, &pki).await?;
        }
        if !cli.skip_cold_start {
            let lambda = match &cli.lambda {
                Some(path) => path.clone(),
                None => std::env::current_exe()?.with_file_name("checker-lambda"),
            };
            cold_start::cold_start(&cold_start::Options {
                rounds: cli.cold_starts.max(1),
                checks: cli.cold_start_checks.max(1),
                lambda,
                runner: cli.lambda_runner.clone(),
            })
            .await?;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&pki.dir);
    result
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

const PHASES: [&str; 5] = ["dns", "tcp_connect", "tls_handshake", "ttfb", "transfer"];

/// How curl is run in the accuracy benchmark.
#[derive(Clone, Copy, PartialEq, Eq)]
struct CurlVariant {
    /// Several transfers in one curl process (OpenSSL initialised once per process) rather than
    /// one process per transfer.
    one_process: bool,
    /// `-k` (no CA file read, no certificate verification) instead of `--cacert`.
    insecure: bool,
}

/// The first is the fairest comparison with our engine: verification on, as ours, and curl's
/// per-process start-up (exec, OpenSSL initialisation) kept out of the measured transfers.
const CURL_VARIANTS: [CurlVariant; 4] = [
    CurlVariant {
        one_process: true,
        insecure: false,
    },
    CurlVariant {
        one_process: true,
        insecure: true,
    },
    CurlVariant {
        one_process: false,
        insecure: false,
    },
    CurlVariant {
        one_process: false,
        insecure: true,
    },
];

impl CurlVariant {
    fn label(self) -> &'static str {
        match (self.one_process, self.insecure) {
            (true, false) => "curl-1p",
            (true, true) => "curl-1p -k",
            (false, false) => "curl-pp",
            (false, true) => "curl-pp -k",
        }
    }
}

async fn accuracy(cli: &Cli, pki: &Pki) -> anyhow::Result<()> {
    let server = start_server(pki, 5, 20, true).await?;
    let port = server.port;
    let url = format!("https://localhost:{port}/");
    let prober = prober_trusting(&pki.ca_pem)?;
    let spec = spec(&url);
    let batch = cli.curl_batch.max(1);
    // Column 0 is ours, 1.. the curl variants; per column, per phase (PHASES, then total).
    let columns = 1 + CURL_VARIANTS.len();
    let mut samples: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); PHASES.len() + 1]; columns];
    // Who made each connection, in the order the server accepts them (all connections are
    // sequential): Some(column) for a measured one, None for a warm-up.
    let mut connections: Vec<Option<usize>> = Vec::new();
    // Warm up (page cache, curl's first exec, the server's first accept); not measured.
    const WARMUP: usize = 5;
    for _ in 0..WARMUP {
        prober.check(&spec).await;
        connections.push(None);
        for v in CURL_VARIANTS.iter().filter(|v| !v.one_process) {
            curl_run(cli, pki, &url, port, *v, 1).await?;
            connections.push(None);
        }
    }
    // Rounds of `batch` runs per tool, so that load changes on the machine hit every tool alike.
    let mut done = 0;
    while done < cli.runs {
        let b = batch.min(cli.runs - done);
        for _ in 0..b {
            let o = prober.check(&spec).await;
            if o.status != CheckStatus::Up {
                bail!("our probe failed: {:?}", o.error);
            }
            let t = &o.timings;
            for (i, us) in [
                t.dns_us,
                t.tcp_connect_us,
                t.tls_handshake_us,
                t.ttfb_us,
                t.transfer_us,
                t.total_us,
            ]
            .into_iter()
            .enumerate()
            {
                samples[0][i].push(f64::from(us) / 1000.0);
            }
            connections.push(Some(0));
        }
        for (k, v) in CURL_VARIANTS.iter().enumerate() {
            let column = 1 + k;
            if v.one_process {
                // One process: an unmeasured first transfer (it pays for OpenSSL's
                // initialisation), then `b` measured ones, each on its own TCP + TLS connection.
                let runs = curl_run(cli, pki, &url, port, *v, 1 + b).await?;
                connections.push(None);
                for run in &runs[1..] {
                    for (i, ms) in run.iter().enumerate() {
                        samples[column][i].push(*ms);
                    }
                    connections.push(Some(column));
                }
            } else {
                for _ in 0..b {
                    let runs = curl_run(cli, pki, &url, port, *v, 1).await?;
                    for (i, ms) in runs[0].iter().enumerate() {
                        samples[column][i].push(*ms);
                    }
                    connections.push(Some(column));
                }
            }
        }
        done += b;
    }
    // Let the server's last lines arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let server_tls = server.tls.lock().expect("lock").clone();
    drop(server);

    let labels: Vec<&str> = std::iter::once("ours")
        .chain(CURL_VARIANTS.iter().map(|v| v.label()))
        .collect();
    let mut names: Vec<&str> = PHASES.to_vec();
    names.push("total");
    let med = |v: &[f64]| median(&mut v.to_vec());

    println!();
    println!(
        "accuracy: {} measured runs per tool, {url} (HTTP/1.1; 5 ms to first byte, 20 ms body; TLS 1.3), a fresh TCP + TLS connection per run, no session resumption",
        cli.runs
    );
    let curl_version = tokio::process::Command::new(&cli.curl)
        .arg("--version")
        .output()
        .await
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.lines().next().map(str::to_owned))
        .unwrap_or_default();
    println!("  {curl_version}");
    println!(
        "  ours       = our engine in this process (test CA parsed once; full handshake, resumption off), {batch} checks back to back per round"
    );
    println!(
        "  curl-1p    = one curl process per round: {} -q -s --http1.1 --no-sessionid --cacert CA --resolve localhost:{port}:127.0.0.1 -w FMT -o /dev/null URL (x {}); the first transfer is not measured; each transfer connects anew (server sends connection: close; num_connects = 1 checked)",
        cli.curl,
        batch + 1
    );
    println!("  curl-1p -k = the same with -k instead of --cacert (no CA file, no certificate verification: less work than ours)");
    println!("  curl-pp    = one curl process per transfer, --cacert (the previous method: exec + OpenSSL initialisation + CA load in every measured transfer)");
    println!("  curl-pp -k = one curl process per transfer, -k");
    println!("  curl phases from its cumulative -w times: dns = namelookup, tcp_connect = connect - namelookup, tls_handshake = appconnect - connect, ttfb = starttransfer - appconnect, transfer = total - starttransfer");
    println!("  srv rows = the loopback server's own clock for the same connections (the reference for tls_handshake)");
    println!();
    print!("{:<26}", "median (ms)");
    for label in &labels {
        print!(" {label:>11}");
    }
    println!();
    for (i, name) in names.iter().enumerate() {
        print!("{name:<26}");
        for column in &samples {
            print!(" {:>11.3}", med(&column[i]));
        }
        println!();
    }
    // The server's view, per column, when every connection was reported.
    let server_ok = server_tls.len() == connections.len();
    if server_ok {
        let per_column = |column: usize| -> Vec<ServerTls> {
            connections
                .iter()
                .zip(&server_tls)
                .filter(|(c, _)| **c == Some(column))
                .map(|(_, s)| *s)
                .collect()
        };
        type Field = fn(&ServerTls) -> f64;
        let rows: [(&str, Field); 3] = [
            ("srv accept → ClientHello", |s| s.to_hello),
            ("srv ClientHello → done", |s| s.hello_to_done),
            ("srv accept → done (ref)", |s| {
                s.to_hello + s.hello_to_done
            }),
        ];
        for (name, f) in rows {
            print!("{name:<26}");
            for column in 0..columns {
                let v: Vec<f64> = per_column(column).iter().map(f).collect();
                print!(" {:>11.3}", med(&v));
            }
            println!();
        }
        print!("{:<26}", "tls_handshake − srv ref");
        for (column, s) in samples.iter().enumerate() {
            let v: Vec<f64> = s[2]
                .iter()
                .zip(per_column(column))
                .map(|(client, server)| client - (server.to_hello + server.hello_to_done))
                .collect();
            print!(" {:>+11.3}", med(&v));
        }
        println!();
        let resumed = server_tls.iter().filter(|s| s.resumed).count();
        println!(
            "(server: {} connections, {resumed} resumed handshakes; 'tls_handshake − srv ref' is the median per-connection difference)",
            server_tls.len()
        );
    } else {
        println!(
            "(server TLS view unavailable: {} connection reports for {} connections)",
            server_tls.len(),
            connections.len()
        );
    }

    println!();
    println!("ours vs curl-1p (the fairest curl variant), per phase:");
    println!(
        "{:<14} {:>11} {:>11} {:>12} {:>24} {:>14}",
        "phase (ms)", "ours", "curl-1p", "|Δ median|", "median |ours_i - curl_i|", "|Δ| <= 0.2 ms"
    );
    let mut worst: f64 = 0.0;
    let mut missed = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (ours, curl) = (&samples[0][i], &samples[1][i]);
        let pairwise: Vec<f64> = ours.iter().zip(curl).map(|(a, b)| (a - b).abs()).collect();
        let (mo, mc) = (med(ours), med(curl));
        let diff = (mo - mc).abs();
        let phase = i < PHASES.len();
        if phase {
            worst = worst.max(diff);
            if diff > 0.2 {
                missed.push(*name);
            }
        }
        println!(
            "{name:<14} {mo:>11.3} {mc:>11.3} {diff:>12.3} {:>24.3} {:>14}",
            med(&pairwise),
            match (phase, diff <= 0.2) {
                (false, _) => "-",
                (true, true) => "yes",
                (true, false) => "NO",
            }
        );
    }
    println!(
        "largest per-phase |Δ median| vs curl-1p: {worst:.3} ms (goal <= 0.2 ms: {})",
        if missed.is_empty() {
            "met for every phase".to_owned()
        } else {
            format!("NOT met for {}", missed.join(", "))
        }
    );
    Ok(())
}

/// One curl process making `transfers` sequential transfers of `url`; per transfer the disjoint
/// phases plus total, in milliseconds.
async fn curl_run(
    cli: &Cli,
    pki: &Pki,
    url: &str,
    port: u16,
    variant: CurlVariant,
    transfers: usize,
) -> anyhow::Result<Vec<[f64; 6]>> {
    let mut command = tokio::process::Command::new(&cli.curl);
    // -q: no ~/.curlrc. --no-sessionid: no TLS session reuse between this process's transfers
    // (our engine never resumes either).
    command.args(["-q", "-s", "--http1.1", "--no-sessionid"]);
    if variant.insecure {
        command.arg("-k");
    } else {
        command.arg("--cacert").arg(&pki.ca_pem);
    }
    command
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg("-w")
        .arg("%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total} %{http_code} %{num_connects}\\n");
    for _ in 0..transfers {
        command.args(["-o", "/dev/null"]).arg(url);
    }
    let out = command
        .output()
        .await
        .with_context(|| format!("running {}", cli.curl))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut runs = Vec::with_capacity(transfers);
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let times: Vec<f64> = fields
            .iter()
            .take(5)
            .filter_map(|s| s.parse::<f64>().ok())
            .map(|s| s * 1000.0)
            .collect();
        // One new connection per transfer, or the phases are not comparable.
        if fields.len() != 7 || times.len() != 5 || fields[5] != "200" || fields[6] != "1" {
            bail!(
                "curl transfer failed or did not make exactly one new connection: {line:?} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (dns, connect, app, start, total) = (times[0], times[1], times[2], times[3], times[4]);
        runs.push([
            dns,
            connect - dns,
            app - connect,
            start - app,
            total - start,
            total,
        ]);
    }
    if runs.len() != transfers || !out.status.success() {
        bail!(
            "curl made {} of {transfers} transfers: {text} {}",
            runs.len(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(runs)
}

async fn throughput(cli: &Cli, pki: &Pki) -> anyhow::Result<()> {
    let server = start_server(pki, 0, 0, false).await?;
    let url = format!("https://localhost:{}/", server.port);
    println!();
    println!(
        "throughput: HTTPS GET {url} (fresh TCP+TLS per check, TLS 1.3), concurrency {}",
        cli.concurrency
    );
    println!(
        "{:<28} {:>8} {:>6} {:>9} {:>9} {:>12} {:>11} {:>14}",
        "checker", "monitors", "up", "wall s", "cpu s", "checks/s", "per core*", "peak RSS MiB"
    );
    let mut rows = Vec::new();
    for &n in &cli.monitors {
        let ours = in_child(
            &[
                "run-ours".into(),
                "--url".into(),
                url.clone(),
                "--ca".into(),
                pki.ca_pem.display().to_string(),
            ],
            n,
            cli.concurrency,
        )
        .await?;
        print_row("ours (1 tokio thread)", &ours);
        let ceiling = in_child(
            &[
                "run-handshakes".into(),
                "--port".into(),
                server.port.to_string(),
                "--ca".into(),
                pki.ca_pem.display().to_string(),
            ],
            n,
            cli.concurrency,
        )
        .await?;
        print_row("rustls handshakes (ceiling)", &ceiling);
        let bb = if cli.skip_blackbox || n > cli.blackbox_up_to {
            None
        } else {
            let bb = blackbox(cli, pki, &url, n).await?;
            print_row("blackbox_exporter 0.23", &bb);
            Some(bb)
        };
        rows.push((n, ours, ceiling, bb));
    }
    drop(server);
    println!("* checks per CPU-second of the checker process (user+sys), i.e. per fully used core");
    println!("  ceiling = TCP connect + full TLS 1.3 handshake and nothing else, same client TLS configuration, same thread count");
    for (n, ours, ceiling, bb) in &rows {
        for (who, figures) in [("ours", ours), ("ceiling", ceiling)] {
            if let Some(first) = &figures.first_error {
                println!("  {who} {n}: first error: {first}");
            }
        }
        println!(
            "{n} monitors: ours {:.1} s wall, {:.1} CPU-s, peak RSS {:.1} MiB; {:.0}% of the bare-handshake ceiling per core ({:.0} of {:.0} per CPU-second)",
            ours.wall_s,
            ours.cpu_s,
            ours.peak_rss_kib as f64 / 1024.0,
            100.0 * per_core(ours) / per_core(ceiling),
            per_core(ours),
            per_core(ceiling)
        );
        if let Some(bb) = bb {
            println!(
                "{n} monitors: ours / blackbox per-core ratio {:.2}x, wall ratio {:.2}x; ours checked {n} in {:.1} s",
                per_core(ours) / per_core(bb),
                bb.wall_s / ours.wall_s,
                ours.wall_s
            );
        } else {
            println!("{n} monitors: ours checked {n} in {:.1} s", ours.wall_s);
        }
    }
    Ok(())
}

fn per_core(f: &RunFigures) -> f64 {
    f.checks as f64 / f.cpu_s.max(1e-9)
}

fn print_row(name: &str, f: &RunFigures) {
    println!(
        "{name:<28} {:>8} {:>6} {:>9.2} {:>9.2} {:>12.0} {:>11.0} {:>14.1}",
        f.checks,
        f.up,
        f.wall_s,
        f.cpu_s,
        f.checks as f64 / f.wall_s,
        per_core(f),
        f.peak_rss_kib as f64 / 1024.0
    );
}

/// One of the internal `run-*` commands in a child process (its own CPU and RSS figures).
async fn in_child(command: &[String], n: usize, concurrency: usize) -> anyhow::Result<RunFigures> {
    let out = tokio::process::Command::new(std::env::current_exe()?)
        .args(command)
        .arg("--n")
        .arg(n.to_string())
        .arg("--concurrency")
        .arg(concurrency.to_string())
        .stderr(Stdio::inherit())
        .output()
        .await?;
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} output: {}",
            command[0],
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A fresh blackbox exporter on a free loopback port, probed `n` times.
async fn blackbox(cli: &Cli, pki: &Pki, url: &str, n: usize) -> anyhow::Result<RunFigures> {
    let config = pki.dir.join("blackbox.yml");
    std::fs::write(
        &config,
        format!(
            "modules:\n  https_2xx:\n    prober: http\n    timeout: 10s\n    http:\n      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n      tls_config:\n        ca_file: {}\n",
            pki.ca_pem.display()
        ),
    )?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let mut child = tokio::process::Command::new(&cli.blackbox)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (apt-get install -y prometheus-blackbox-exporter)",
                cli.blackbox
            )
        })?;
    let pid = child.id().context("blackbox pid")?.to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let probe_url = format!(
        "http://127.0.0.1:{port}/probe?module=https_2xx&target={}",
        url
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the blackbox exporter did not start on 127.0.0.1:{port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One probe to make sure the module works before measuring.
    let first = client.get(&probe_url).send().await?.text().await?;
    if !first.lines().any(|l| l == "probe_success 1") {
        bail!("blackbox probe failed:\n{first}");
    }
    let cpu_before = cpu_seconds(&pid)?;
    let started = Instant::now();
    let results: Vec<bool> = futures::stream::iter(0..n)
        .map(|_| {
            let (client, probe_url) = (client.clone(), probe_url.clone());
            async move {
                match client.get(&probe_url).send().await {
                    Ok(r) => r
                        .text()
                        .await
                        .map(|t| t.lines().any(|l| l == "probe_success 1"))
                        .unwrap_or(false),
                    Err(_) => false,
                }
            }
        })
        .buffer_unordered(cli.concurrency.max(1))
        .collect()
        .await;
    let wall_s = started.elapsed().as_secs_f64();
    let figures = RunFigures {
        checks: n,
        up: results.iter().filter(|ok| **ok).count(),
        wall_s,
        cpu_s: cpu_seconds(&pid)? - cpu_before,
        peak_rss_kib: peak_rss_kib(&pid)?,
        first_error: None,
    };
    child.kill().await.ok();
    Ok(figures)
}
