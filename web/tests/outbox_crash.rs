//! Kill -9 of the real app server (`statuspage serve`) while it holds delivery leases: after a
//! restart every committed message arrives, and after deduplication by `webhook-id` (what the
//! Standard Webhooks spec asks receivers to do) none arrives twice. The test's receiver counts
//! every request (raw) and every distinct id, and checks that each duplicate is a re-send of a
//! message it already had, under the same id.

mod support;

use api::channels::{ChannelInput, ChannelKind};
use api::notify::{EventKind, Message};
use api::outbox::{self, Recipient};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use checker::guard::SsrfGuard;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{database_url, AppServer};
use uuid::Uuid;

const MESSAGES: usize = 400;
const CONCURRENCY: usize = 8;
const LEASE_SECS: u64 = 3;

/// Every `webhook-id` received and how often.
type Seen = Arc<Mutex<HashMap<String, usize>>>;

async fn receive(
    State(seen): State<Seen>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // The body's message id is the header's: a receiver may deduplicate by either.
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    assert_eq!(body["data"]["id"].as_str(), Some(id.as_str()));
    *seen.lock().unwrap().entry(id).or_default() += 1;
    // A receiver's own latency, so that sends are in flight when the server dies.
    tokio::time::sleep(Duration::from_millis(40)).await;
    StatusCode::NO_CONTENT
}

fn counts(seen: &Seen) -> (usize, usize) {
    let seen = seen.lock().unwrap();
    (seen.values().sum(), seen.len())
}

/// One `statuspage serve` (server `n`) on a port the system picks, against the test's
/// database, delivering with the test's concurrency and lease and allowed to reach loopback.
fn start(database_url: &str, data: &std::path::Path, n: usize) -> AppServer {
    AppServer::start(
        support::log_path(data, n),
        0,
        &[
            ("DATABASE_URL", database_url.to_owned()),
            ("CLICKHOUSE_URL", support::clickhouse_url_or_local()),
            ("CLICKHOUSE_DATABASE", "outbox_crash_test".to_owned()),
            (
                "CHECKER_SECRET",
                "outbox-crash-secret-0123456789".to_owned(),
            ),
            ("STATUSPAGE_DATA", data.display().to_string()),
            ("CHECKER_ALLOW_CIDRS", "127.0.0.0/8".to_owned()),
            ("STATUSPAGE_DELIVERY_CONCURRENCY", CONCURRENCY.to_string()),
            ("STATUSPAGE_DELIVERY_PER_TENANT", CONCURRENCY.to_string()),
            ("STATUSPAGE_DELIVERY_LEASE_SECS", LEASE_SECS.to_string()),
        ],
        &[],
    )
}

async fn until(what: &str, within: Duration, server: &AppServer, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; server log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_killed_server_loses_no_delivery_and_sends_none_twice_after_dedup(pool: PgPool) {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .fallback(receive)
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let tenant_id = api::accounts::tenancy::create_tenant(
        &pool,
        &api::accounts::tenancy::NewTenant {
            slug: "acme".into(),
            name: "Acme".into(),
            email: "owner@acme.example".into(),
            password: None,
        },
    )
    .await
    .unwrap()
    .tenant
    .id;
    let guard = SsrfGuard::new(SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap());
    let channel = api::channels::create(
        &pool,
        tenant_id,
        &guard,
        &ChannelInput {
            name: "hook".into(),
            kind: ChannelKind::Webhook,
            config: serde_json::json!({ "url": url, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }),
            enabled: true,
        },
    )
    .await
    .unwrap()
    .id;
    let mut enqueued = HashSet::new();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..MESSAGES {
        let message = Message {
            id: Uuid::new_v4(),
            tenant_id,
            event: EventKind::Down,
            title: format!("Monitor {i} is down"),
            text: "Failing in every region".into(),
            url: None,
            dedup_key: format!("monitor-{i}"),
            resolved: false,
            created_at: chrono::Utc::now(),
            unsubscribe_url: None,
        };
        let id = outbox::enqueue(&mut tx, &Recipient::Channel(channel), &message)
            .await
            .unwrap();
        enqueued.insert(id.to_string());
    }
    tx.commit().await.unwrap();

    let data = std::env::temp_dir().join(format!("outbox-crash-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&data).unwrap();
    let url = database_url(&pool).await;

    let mut first = start(&url, &data, 1);
    until(
        "a quarter delivered",
        Duration::from_secs(60),
        &first,
        || counts(&seen).1 >= MESSAGES / 4,
    )
    .await;
    first.kill_9();
    // Requests the process wrote before it died still reach the receiver: let them land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (raw_at_kill, distinct_at_kill) = counts(&seen);
    // The killed process held leases: rows it claimed and never finished.
    let leased: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE state = 'pending' AND claimed_until > now()",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let leased: HashSet<String> = leased.iter().map(Uuid::to_string).collect();
    println!("killed with {} leases held; received so far raw {raw_at_kill}, distinct {distinct_at_kill}", leased.len());
    assert!(
        !leased.is_empty(),
        "the server held no lease when it was killed"
    );
    assert!(
        distinct_at_kill < MESSAGES,
        "everything arrived before the kill"
    );
    // Nothing is sent while nobody runs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counts(&seen), (raw_at_kill, distinct_at_kill));

    let second = start(&url, &data, 2);
    until(
        "every message delivered after the restart",
        Duration::from_secs(90),
        &second,
        || counts(&seen).1 >= MESSAGES,
    )
    .await;
    let recorded = Instant::now() + Duration::from_secs(20);
    loop {
        let delivered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'delivered'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if delivered as usize == MESSAGES {
            break;
        }
        assert!(
            Instant::now() < recorded,
            "{delivered} rows recorded delivered; log:\n{}",
            second.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);

    let seen = seen.lock().unwrap().clone();
    let raw: usize = seen.values().sum();
    let distinct: HashSet<String> = seen.keys().cloned().collect();
    let twice: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "enqueued {MESSAGES}: received raw {raw}, distinct {}; {} ids arrived more than once",
        distinct.len(),
        twice.len()
    );
    assert_eq!(distinct.len(), MESSAGES);
    assert_eq!(
        distinct, enqueued,
        "every id received is an enqueued message id"
    );
    // A duplicate is only a send the killed server made but could not record: a row it held
    // a lease on when it died, sent once by it and once after the restart.
    assert!(
        twice.iter().all(|(id, n)| **n == 2 && leased.contains(*id)),
        "duplicates beyond the killed server's leases: {twice:?}"
    );
    assert!(raw - distinct.len() <= leased.len(), "raw {raw}");
    let _ = std::fs::remove_dir_all(&data);
}
