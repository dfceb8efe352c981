//! `bench-delivery`: outbox delivery throughput to a local webhook receiver, on one core.
//!
//! Creates a scratch PostgreSQL database (dropped at the end), a few tenants each with a
//! webhook channel pointing at a receiver on loopback (in this process), commits `--messages`
//! outbox rows, then runs the delivery workers ([`api::outbox::run_workers`]) until every
//! message has arrived, printing progress each second. The peer measured in the same run is
//! the same signed webhook POSTs sent directly (no outbox: no claim, no log), at the same
//! concurrency, so the ratio says what the outbox's bookkeeping costs. Everything runs on a
//! current-thread tokio runtime: one core.
//!
//! `cargo run --release -p api --bin bench-delivery -- --messages 5000`

use anyhow::Context;
use api::channels::{ChannelInput, ChannelKind};
use api::notify::{EventKind, Message};
use api::outbox::{self, DeliveryConfig, Recipient};
use api::{ApiConfig, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use checker::guard::SsrfGuard;
use clap::Parser;
use futures::StreamExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "bench-delivery",
    about = "Outbox delivery throughput (messages/s) to a local webhook receiver, on one core"
)]
struct Args {
    /// PostgreSQL server; a scratch database is created on it and dropped at the end.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Messages to deliver.
    #[arg(long, default_value_t = 5000)]
    messages: usize,
    /// Tenants the messages are spread over (one webhook channel each).
    #[arg(long, default_value_t = 4)]
    tenants: usize,
    /// Sends in flight at once (STATUSPAGE_DELIVERY_CONCURRENCY), also the peer's.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Sends in flight per tenant (STATUSPAGE_DELIVERY_PER_TENANT).
    #[arg(long, default_value_t = 16)]
    per_tenant: usize,
    /// Milliseconds the receiver waits before answering (a receiver's own latency).
    #[arg(long, default_value_t = 0)]
    receiver_delay_ms: u64,
    /// PostgreSQL connections of the app server's pool.
    #[arg(long, default_value_t = 16)]
    pool: u32,
    /// Keep the scratch database (for a look at the outbox and delivery_attempts afterwards).
    #[arg(long)]
    keep_database: bool,
}

/// What the receiver saw: every request, and the distinct `webhook-id`s.
#[derive(Default)]
struct Seen {
    raw: AtomicUsize,
    ids: Mutex<HashSet<String>>,
}

async fn receive(
    State((seen, delay)): State<(Arc<Seen>, Duration)>,
    headers: HeaderMap,
) -> StatusCode {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    seen.raw.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        seen.ids
            .lock()
            .expect("receiver lock")
            .insert(id.to_owned());
    }
    StatusCode::NO_CONTENT
}

fn message(tenant_id: Uuid, i: usize) -> Message {
    Message {
        id: Uuid::new_v4(),
        tenant_id,
        event: EventKind::Down,
        title: format!("Monitor {i} is down"),
        text: "Failing in 3 of 3 regions: connect timeout".into(),
        url: Some("https://acme.status.example.com/incidents/1".into()),
        dedup_key: format!("monitor-{i}"),
        resolved: false,
        created_at: chrono::Utc::now(),
        unsubscribe_url: None,
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,bench_delivery=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    anyhow::ensure!(args.messages > 0, "--messages must be at least 1");
    anyhow::ensure!(args.tenants > 0, "--tenants must be at least 1");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    // One core: everything (receiver, workers, peer) on one thread.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let server = PgConnectOptions::from_str(&args.database_url).context("DATABASE_URL")?;
    let name = format!("bench_delivery_{}", Uuid::new_v4().simple());
    let mut admin = server
        .connect()
        .await
        .context("connecting to DATABASE_URL")?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    tracing::info!(database = name, "scratch database created");
    let result = bench(&args, server.clone().database(&name)).await;
    if args.keep_database {
        tracing::info!(database = name, "scratch database kept");
    } else {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await?;
    result
}

async fn bench(args: &Args, options: PgConnectOptions) -> anyhow::Result<()> {
    let db = PgPoolOptions::new()
        .max_connections(args.pool)
        .connect_with(options)
        .await?;
    api::MIGRATOR.run(&db).await?;

    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let router = axum::Router::new()
        .fallback(receive)
        .with_state((seen.clone(), Duration::from_millis(args.receiver_delay_ms)));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused")?;
    let state = AppState::new(
        db.clone(),
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "bench-checker-secret-0123456789".into(),
            regions: vec!["local-eu".into()],
            open_signup: false,
        },
    )
    .with_delivery_guard(SsrfGuard::new(
        SsrfGuard::parse_allowlist("127.0.0.0/8").map_err(anyhow::Error::msg)?,
    ));

    let mut channels = Vec::new();
    for t in 0..args.tenants {
        let created = api::accounts::tenancy::create_tenant(
            &db,
            &api::accounts::tenancy::NewTenant {
                slug: format!("bench{t}"),
                name: format!("Bench {t}"),
                email: format!("owner@bench{t}.example"),
                password: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating a tenant: {e}"))?;
        let channel = api::channels::create(
            &db,
            created.tenant.id,
            &state.delivery_guard,
            &ChannelInput {
                name: "bench hook".into(),
                kind: ChannelKind::Webhook,
                config: serde_json::json!({ "url": url, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }),
                enabled: true,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating a channel: {e}"))?;
        channels.push((created.tenant.id, channel.id));
    }

    // The peer: the same signed POSTs, sent directly.
    let peer_n = args.messages.min(5000);
    let started = Instant::now();
    let guard = state.delivery_guard.clone();
    let delivered = futures::stream::iter(0..peer_n)
        .map(|i| {
            let (tenant_id, _) = channels[i % channels.len()];
            let m = message(tenant_id, i);
            let (guard, url) = (&guard, &url);
            async move {
                api::notify::webhook::send(
                    guard,
                    url,
                    Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                    &m,
                )
                .await
            }
        })
        .buffer_unordered(args.concurrency)
        .filter(|o| futures::future::ready(matches!(o, api::notify::Outcome::Delivered { .. })))
        .count()
        .await;
    let peer_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        delivered == peer_n,
        "the peer delivered {delivered} of {peer_n}"
    );
    let peer_rate = peer_n as f64 / peer_secs;
    tracing::info!(
        messages = peer_n,
        secs = peer_secs,
        rate = peer_rate,
        "peer: direct webhook POSTs"
    );
    seen.raw.store(0, Ordering::Relaxed);
    seen.ids.lock().expect("receiver lock").clear();

    // Commit the outbox rows, 100 per transaction.
    let started = Instant::now();
    let mut ids = HashSet::new();
    for chunk in (0..args.messages).collect::<Vec<_>>().chunks(100) {
        let mut tx = db.begin().await?;
        for &i in chunk {
            let (tenant_id, channel) = channels[i % channels.len()];
            let id = outbox::enqueue(
                &mut tx,
                &Recipient::Channel(channel),
                &message(tenant_id, i),
            )
            .await?;
            ids.insert(id.to_string());
        }
        tx.commit().await?;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();
    tracing::info!(
        messages = args.messages,
        secs = enqueue_secs,
        "outbox rows committed"
    );

    let config = DeliveryConfig {
        concurrency: args.concurrency,
        per_tenant: args.per_tenant.min(args.concurrency),
        ..DeliveryConfig::default()
    };
    let started = Instant::now();
    let workers = tokio::spawn(outbox::run_workers(state.clone(), config));
    let mut last = (Instant::now(), 0usize);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let got = seen.ids.lock().expect("receiver lock").len();
        if last.0.elapsed() >= Duration::from_secs(1) || got >= args.messages {
            let rate = (got - last.1) as f64 / last.0.elapsed().as_secs_f64();
            tracing::info!(
                delivered = got,
                of = args.messages,
                rate_now = rate as u64,
                "progress"
            );
            last = (Instant::now(), got);
        }
        if got >= args.messages {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "not every message arrived within 10 minutes ({got} of {})",
            args.messages
        );
    }
    let arrived_secs = started.elapsed().as_secs_f64();
    // Every row recorded as delivered (the log written), not only received.
    loop {
        let recorded: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'delivered'")
                .fetch_one(&db)
                .await?;
        if recorded as usize >= args.messages {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded_secs = started.elapsed().as_secs_f64();
    workers.abort();
    let raw = seen.raw.load(Ordering::Relaxed);
    let distinct = seen.ids.lock().expect("receiver lock").clone();
    anyhow::ensure!(
        distinct == ids,
        "the receiver's ids differ from the enqueued ones"
    );
    let rate = args.messages as f64 / recorded_secs;
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM delivery_attempts")
        .fetch_one(&db)
        .await?;
    println!();
    println!("outbox delivery, one core (tokio current_thread), webhook receiver on loopback");
    println!(
        "  messages {}  tenants {}  concurrency {}  per tenant {}  receiver delay {} ms",
        args.messages, args.tenants, args.concurrency, args.per_tenant, args.receiver_delay_ms
    );
    println!(
        "  enqueue (100 per transaction): {:>9.0} messages/s",
        args.messages as f64 / enqueue_secs
    );
    println!(
        "  outbox delivery:               {:>9.0} messages/s  (all arrived {:.2} s, all recorded {:.2} s)",
        rate, arrived_secs, recorded_secs
    );
    println!(
        "  peer, direct POSTs:            {:>9.0} messages/s  ({peer_n} messages)",
        peer_rate
    );
    println!("  outbox / peer:                 {:>9.2}", rate / peer_rate);
    println!(
        "  received raw {raw}, distinct {}, attempts logged {attempts}",
        distinct.len()
    );
    db.close().await;
    Ok(())
}
