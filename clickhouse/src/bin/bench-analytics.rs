//! Benchmark of the analytics store: generates synthetic check results (N monitors × R regions ×
//! D days at one check per interval), ingests them through the [`Writer`] and times the status
//! page's query set for one tenant: from the hourly summary (what status pages use), from the
//! rollups on the spot and from raw rows.
//!
//! `cargo run --release -p statuspage-clickhouse --bin bench-analytics -- --help`

use anyhow::Context;
use chrono::{DateTime, Duration, DurationRound, Utc};
use clap::Parser;
use statuspage_clickhouse::{
    Analytics, CheckRow, Source, StatusPageAnalytics, TimeWindow, Writer, WriterConfig,
    STATUS_DEGRADED, STATUS_DOWN, STATUS_UP,
};
use std::time::Instant;
use uuid::Uuid;

const REGIONS: [&str; 18] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "me-south-1",
];

/// Benchmark ingest and status-page queries against a real ClickHouse.
#[derive(Debug, Parser)]
#[command(name = "bench-analytics")]
struct Args {
    /// ClickHouse HTTP interface.
    #[arg(long, env = "CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123")]
    url: String,
    /// Database the benchmark creates (and drops at the end unless --keep).
    #[arg(long, default_value = "bench_analytics")]
    database: String,
    /// Monitors of the one benchmark tenant.
    #[arg(long, default_value_t = 20)]
    monitors: usize,
    /// Regions per monitor (at most 18).
    #[arg(long, default_value_t = 18)]
    regions: usize,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 90)]
    days: i64,
    /// Seconds between checks of one monitor from one region (60 = one a minute). A larger value
    /// keeps the rollups' size (one row per hour / day per monitor and region) at a fraction of
    /// the raw rows.
    #[arg(long, default_value_t = 60)]
    interval_secs: i64,
    /// Rows per insert batch.
    #[arg(long, default_value_t = 100_000)]
    batch_rows: usize,
    /// Concurrent insert streams.
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Timed runs of the query set per source (at least 50 for a meaningful p99).
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Timed runs from raw rows (default: --runs).
    #[arg(long)]
    raw_runs: Option<usize>,
    /// Reuse the data of a previous run with --keep instead of generating it.
    #[arg(long)]
    skip_ingest: bool,
    /// Keep the database at the end.
    #[arg(long)]
    keep: bool,
}

/// xorshift64*: deterministic, dependency-free noise for the generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly log-normal around `median` (µs).
    fn latency(&mut self, median: f64) -> u32 {
        let z = (self.unit() + self.unit() + self.unit() - 1.5) * 2.0;
        (median * (0.35 * z).exp()).clamp(1.0, 4e9) as u32
    }
}

struct Generator {
    tenant: Uuid,
    monitors: Vec<Uuid>,
    regions: Vec<&'static str>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    interval: Duration,
    rng: Rng,
}

impl Generator {
    fn rows_total(&self) -> u64 {
        let steps = (self.end - self.start).num_seconds() / self.interval.num_seconds();
        steps as u64 * (self.monitors.len() * self.regions.len()) as u64
    }

    /// Calls `emit` with batches of about `batch_rows` rows, oldest first.
    fn run(&mut self, batch_rows: usize, mut emit: impl FnMut(Vec<CheckRow>) -> bool) {
        let mut batch = Vec::with_capacity(batch_rows + self.regions.len() * self.monitors.len());
        let mut at = self.start;
        let run_id = Uuid::new_v4();
        while at < self.end {
            let micros = at.timestamp_micros();
            // A 20-minute outage of one monitor every ~3 days, per monitor.
            let minute = micros / 60_000_000;
            for (m, monitor) in self.monitors.iter().enumerate() {
                let outage = (minute + m as i64 * 997) % 4_320 < 20;
                for (r, region) in self.regions.iter().enumerate() {
                    let base = 20_000.0 + 8_000.0 * r as f64 + 3_000.0 * m as f64;
                    let roll = self.rng.unit();
                    let status = if outage || roll < 0.002 {
                        STATUS_DOWN
                    } else if roll < 0.012 {
                        STATUS_DEGRADED
                    } else {
                        STATUS_UP
                    };
                    let dns_us = self.rng.latency(2_000.0);
                    let tcp_connect_us = self.rng.latency(base * 0.3);
                    let tls_handshake_us = self.rng.latency(base * 0.6);
                    let ttfb_us = self.rng.latency(base);
                    let transfer_us = self.rng.latency(3_000.0);
                    let total_us = dns_us
                        .saturating_add(tcp_connect_us)
                        .saturating_add(tls_handshake_us)
                        .saturating_add(ttfb_us)
                        .saturating_add(transfer_us);
                    batch.push(CheckRow {
                        tenant_id: self.tenant,
                        monitor_id: *monitor,
                        region: (*region).to_owned(),
                        checked_at: micros + r as i64 * 1_000,
                        scheduled_at: micros,
                        run_id,
                        attempt: 1,
                        final_attempt: true,
                        status,
                        status_code: if status == STATUS_DOWN { 503 } else { 200 },
                        dns_us,
                        tcp_connect_us,
                        tls_handshake_us,
                        ttfb_us,
                        transfer_us,
                        total_us,
                        resolved_ip: "192.0.2.10".to_owned(),
                        http_version: "HTTP/2".to_owned(),
                        tls_version: "TLSv1.3".to_owned(),
                        tls_cipher: "TLS13_AES_128_GCM_SHA256".to_owned(),
                        cert_expires_at: Some(1_900_000_000),
                        response_bytes: 1_024,
                        redirects: 0,
                        cold_start: false,
                        error: if status == STATUS_DOWN {
                            "HTTP 503".to_owned()
                        } else {
                            String::new()
                        },
                    });
                }
            }
            at += self.interval;
            if batch.len() >= batch_rows {
                let capacity = batch.capacity();
                let full = std::mem::replace(&mut batch, Vec::with_capacity(capacity));
                if !emit(full) {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            emit(batch);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// How the status page's set is answered.
#[derive(Clone, Copy)]
enum Path {
    /// `Analytics::status_page`: the hourly summary plus the last hour or two of the hourly rollup.
    Summary,
    /// `Analytics::status_page_analytics` from the rollups or from raw rows.
    OnTheSpot(Source),
}

async fn query_set(
    analytics: &Analytics,
    tenant: Uuid,
    monitors: &[Uuid],
    path: Path,
) -> anyhow::Result<StatusPageAnalytics> {
    let now = Utc::now();
    Ok(match path {
        Path::Summary => analytics.status_page(tenant, monitors, now, &[]).await?,
        Path::OnTheSpot(source) => {
            analytics
                .status_page_analytics(tenant, monitors, now, &[], source)
                .await?
        }
    })
}

async fn time_queries(
    analytics: &Analytics,
    tenant: Uuid,
    monitors: &[Uuid],
    path: Path,
    runs: usize,
) -> anyhow::Result<(Vec<f64>, StatusPageAnalytics)> {
    // One warm-up run, not timed.
    let first = query_set(analytics, tenant, monitors, path).await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let result = query_set(analytics, tenant, monitors, path).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(result);
    }
    times.sort_by(f64::total_cmp);
    Ok((times, first))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        (1..=REGIONS.len()).contains(&args.regions),
        "--regions must be 1..=18"
    );
    anyhow::ensure!(args.interval_secs >= 1 && args.days >= 1 && args.monitors >= 1);
    // Raw rows are kept for the whole generated history, so the raw reference sees all of it.
    let analytics = Analytics::new(&args.url, &args.database)
        .context("--database")?
        .with_raw_ttl_days((args.days + 7) as u32);
    if !args.skip_ingest {
        analytics.drop_database().await?;
    }
    analytics
        .migrate()
        .await
        .with_context(|| format!("ClickHouse at {}", args.url))?;

    // Deterministic ids, so --skip-ingest finds the data again.
    let tenant = Uuid::from_u128(0x5ca1_ab1e_0000_0000_0000_0000_0000_0001);
    let monitors: Vec<Uuid> = (0..args.monitors)
        .map(|i| Uuid::from_u128(0x5ca1_ab1e_0000_0000_0000_0001_0000_0000 + i as u128))
        .collect();
    let end = Utc::now().duration_trunc(Duration::minutes(1))?;
    let mut generator = Generator {
        tenant,
        monitors: monitors.clone(),
        regions: REGIONS[..args.regions].to_vec(),
        start: end - Duration::days(args.days),
        end,
        interval: Duration::seconds(args.interval_secs),
        rng: Rng(0x9E37_79B9_7F4A_7C15),
    };
    println!(
        "bench-analytics: {} monitors x {} regions x {} days, one check every {} s = {} rows; \
         ClickHouse {} database {}",
        args.monitors,
        args.regions,
        args.days,
        args.interval_secs,
        generator.rows_total(),
        args.url,
        args.database
    );

    if !args.skip_ingest {
        let writer = Writer::new(
            analytics.clone(),
            WriterConfig {
                max_batch_rows: args.batch_rows,
                ..WriterConfig::default()
            },
        )?;
        let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Vec<CheckRow>)>(args.writers * 2);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        let started = Instant::now();
        let batch_rows = args.batch_rows;
        let producer = std::thread::spawn(move || {
            let mut seq = 0;
            generator.run(batch_rows, |batch| {
                seq += 1;
                tx.blocking_send((seq, batch)).is_ok()
            });
        });
        let mut tasks = Vec::new();
        for _ in 0..args.writers.max(1) {
            let (writer, rx) = (writer.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                let mut rows = 0u64;
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some((seq, batch)) = next else { break };
                    writer.write(&batch, &format!("bench-{seq}")).await?;
                    rows += batch.len() as u64;
                }
                anyhow::Ok(rows)
            }));
        }
        let mut rows = 0;
        for task in tasks {
            rows += task.await??;
        }
        producer
            .join()
            .map_err(|_| anyhow::anyhow!("generator panicked"))?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "ingest: {rows} rows in {secs:.1} s = {:.0} rows/s through the Writer \
             ({} writers, {} rows per batch, raw table + hourly and daily rollups; includes generating the rows)",
            rows as f64 / secs,
            args.writers,
            args.batch_rows
        );
    }

    let sizes: Vec<(String, u64, u64)> = analytics
        .client()
        .query(
            "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts \
             WHERE database = currentDatabase() AND active GROUP BY table ORDER BY table",
        )
        .fetch_all()
        .await?;
    for (table, rows, bytes) in &sizes {
        println!(
            "  {table:<22} {rows:>12} rows {:>10.1} MiB",
            *bytes as f64 / 1_048_576.0
        );
    }

    // The hourly refresh of the status page summary, as the server runs it at HH:02.
    let started = Instant::now();
    analytics.refresh_status_page_summary().await?;
    println!(
        "status page summary refresh (every tenant, 90 days): {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    let (summary, page) =
        time_queries(&analytics, tenant, &monitors, Path::Summary, args.runs).await?;
    anyhow::ensure!(
        page.summary_until.is_some(),
        "the status page did not use the summary"
    );
    let (rollups, live) = time_queries(
        &analytics,
        tenant,
        &monitors,
        Path::OnTheSpot(Source::Rollups),
        args.runs,
    )
    .await?;
    // Both answers agree on what counts add up to (the windows may start an hour apart when the
    // hour turned since the refresh).
    let checks = |p: &StatusPageAnalytics| -> u64 {
        p.bars
            .iter()
            .flat_map(|b| &b.days[..89])
            .map(|d| d.counts.checks)
            .sum()
    };
    anyhow::ensure!(
        checks(&page) == checks(&live),
        "summary and rollups disagree on the bars before today"
    );
    let raw_runs = args.raw_runs.unwrap_or(args.runs).max(1);
    let (raw, _) = time_queries(
        &analytics,
        tenant,
        &monitors,
        Path::OnTheSpot(Source::Raw),
        raw_runs,
    )
    .await?;
    println!(
        "status-page query set for one tenant ({} monitors; 90 daily bars + uptime 24h/7d/30d/90d \
         overall and per region + p50/p75/p90/p95/p99 of the total time per region over 24h; \
         {} monitor-region latency rows), {} runs each from the summary and the rollups, \
         {raw_runs} from raw:",
        args.monitors,
        page.latency_24h.len(),
        args.runs
    );
    let (sm, sp) = (percentile(&summary, 0.5), percentile(&summary, 0.99));
    let (rm, rp) = (percentile(&rollups, 0.5), percentile(&rollups, 0.99));
    let (wm, wp) = (percentile(&raw, 0.5), percentile(&raw, 0.99));
    println!("  summary + live hour : median {sm:8.1} ms   p99 {sp:8.1} ms   (what the status page uses)");
    println!("  rollups on the spot : median {rm:8.1} ms   p99 {rp:8.1} ms");
    println!("  raw rows            : median {wm:8.1} ms   p99 {wp:8.1} ms");
    println!(
        "  raw / summary: median {:.0}x p99 {:.0}x;  raw / rollups: median {:.1}x p99 {:.1}x",
        wm / sm,
        wp / sp,
        wm / rm,
        wp / rp
    );
    // Where the time goes: each query of the set alone, from the rollups.
    let now = Utc::now();
    let windows: Vec<TimeWindow> = [1, 7, 30, 90]
        .iter()
        .map(|d| TimeWindow::status_page(now, *d))
        .collect();
    let mut parts = Vec::new();
    for name in [
        "daily bars (90)",
        "uptime 24h/7d/30d/90d",
        "latency 24h per region",
    ] {
        let mut times = Vec::new();
        for _ in 0..args.runs.min(20) {
            let started = Instant::now();
            match name {
                "daily bars (90)" => {
                    analytics
                        .daily_bars(tenant, &monitors, 90, now, &[], Source::Rollups)
                        .await?;
                }
                "uptime 24h/7d/30d/90d" => {
                    analytics
                        .uptime_windows(tenant, &windows, &[], Source::Rollups)
                        .await?;
                }
                _ => {
                    analytics
                        .latency_total(tenant, windows[0], Source::Rollups)
                        .await?;
                }
            }
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        parts.push(format!("{name} {:.1} ms", percentile(&times, 0.5)));
    }
    println!("  alone, from rollups (median): {}", parts.join(", "));
    if !args.keep {
        analytics.drop_database().await?;
    }
    Ok(())
}
