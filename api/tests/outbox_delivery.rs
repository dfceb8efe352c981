//! The outbox workers against real HTTP receivers on loopback (the guard allow-lists
//! 127.0.0.0/8): a committed message leaves within a second; 503 then 200 is retried with
//! backoff; 429's `Retry-After` is honoured; a permanent 4xx is parked, shown in the delivery
//! log and sent again by the retry endpoint; two workers racing over the same rows send each
//! exactly once; a disabled channel's rows are cancelled; one tenant's black-hole receiver does
//! not hold back another tenant's deliveries; another tenant's log and retry are 404s.

use api::channels::{ChannelInput, ChannelKind};
use api::notify::{EventKind, Message};
use api::outbox::{self, DeliveryConfig, Recipient};
use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use checker::guard::SsrfGuard;
use chrono::Utc;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt;
use uuid::Uuid;

fn state(pool: PgPool) -> AppState {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into()],
            open_signup: true,
        },
    )
    .with_delivery_guard(SsrfGuard::new(
        SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap(),
    ))
}

/// Short delays so retries show within a test.
fn quick() -> DeliveryConfig {
    DeliveryConfig {
        concurrency: 16,
        per_tenant: 4,
        lease: Duration::from_secs(20),
        max_attempts: 5,
        backoff_base: Duration::from_millis(300),
        backoff_max: Duration::from_secs(2),
        retry_after_max: Duration::from_secs(10),
        // Long: wake-ups must come from NOTIFY and due times, not the poll.
        poll: Duration::from_secs(30),
    }
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// 429 with `Retry-After: <secs>`.
    TooMany(u64),
    /// Accepts the request and never answers.
    Hang,
}

/// One request the receiver saw: its `webhook-id`, the body's `data.id`, and when.
#[derive(Debug, Clone)]
struct Hit {
    webhook_id: String,
    data_id: String,
    at: Instant,
}

#[derive(Clone)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    url: String,
}

type Script = (
    Arc<Mutex<Vec<Hit>>>,
    Arc<Mutex<VecDeque<Answer>>>,
    Answer,
    Duration,
);

/// A webhook receiver on loopback answering from `script`, then `otherwise`, each after `delay`.
async fn receiver(script: &[Answer], otherwise: Answer, delay: Duration) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hits = Arc::new(Mutex::new(Vec::new()));
    async fn answer(
        State((hits, script, otherwise, delay)): State<Script>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> Response {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        hits.lock().unwrap().push(Hit {
            webhook_id: headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            data_id: body["data"]["id"].as_str().unwrap_or_default().to_owned(),
            at: Instant::now(),
        });
        let next = script.lock().unwrap().pop_front().unwrap_or(otherwise);
        tokio::time::sleep(delay).await;
        match next {
            Answer::Status(code) => {
                (StatusCode::from_u16(code).unwrap(), "receiver answer").into_response()
            }
            Answer::TooMany(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                "slow down",
            )
                .into_response(),
            Answer::Hang => std::future::pending().await,
        }
    }
    let router = axum::Router::new().fallback(answer).with_state((
        hits.clone(),
        Arc::new(Mutex::new(script.iter().copied().collect())),
        otherwise,
        delay,
    ));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Receiver { hits, url }
}

impl Receiver {
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

async fn tenant(db: &PgPool, slug: &str) -> (Uuid, String) {
    let created = api::accounts::tenancy::create_tenant(
        db,
        &api::accounts::tenancy::NewTenant {
            slug: slug.into(),
            name: format!("{slug} Inc"),
            email: format!("owner@{slug}.example"),
            password: None,
        },
    )
    .await
    .unwrap();
    (created.tenant.id, created.api_token)
}

async fn webhook_channel(state: &AppState, tenant_id: Uuid, url: &str) -> Uuid {
    api::channels::create(
        &state.db,
        tenant_id,
        &state.delivery_guard,
        &ChannelInput {
            name: format!("hook {}", Uuid::new_v4()),
            kind: ChannelKind::Webhook,
            config: json!({ "url": url }),
            enabled: true,
        },
    )
    .await
    .unwrap()
    .id
}

fn message(tenant_id: Uuid, title: &str) -> Message {
    Message {
        id: Uuid::new_v4(),
        tenant_id,
        event: EventKind::Down,
        title: title.into(),
        text: "Checked from 3 regions".into(),
        url: None,
        dedup_key: "m1".into(),
        resolved: false,
        created_at: Utc::now(),
        unsubscribe_url: None,
    }
}

/// Commits `n` messages for `channel` in one transaction; their ids.
async fn enqueue(db: &PgPool, tenant_id: Uuid, channel: Uuid, n: usize) -> Vec<Uuid> {
    let mut tx = db.begin().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let m = message(tenant_id, &format!("Monitor {i} is down"));
        ids.push(
            outbox::enqueue(&mut tx, &Recipient::Channel(channel), &m)
                .await
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    ids
}

struct Workers(tokio::task::JoinHandle<()>);
impl Drop for Workers {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn start(state: &AppState, config: DeliveryConfig) -> Workers {
    Workers(tokio::spawn(outbox::run_workers(state.clone(), config)))
}

/// Waits (up to `within`) until `query` (a count) reaches `want`.
async fn wait_count(db: &PgPool, query: &str, want: i64, within: Duration) -> i64 {
    let deadline = Instant::now() + within;
    loop {
        let n: i64 = sqlx::query_scalar(query).fetch_one(db).await.unwrap();
        if n >= want || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_hits(receiver: &Receiver, want: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let n = receiver.hits().len();
        if n >= want || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// (attempt, outcome, status) of a message's attempts, in order.
async fn attempts(db: &PgPool, id: Uuid) -> Vec<(i32, String, Option<i32>)> {
    sqlx::query_as(
        "SELECT attempt, outcome, status_code FROM delivery_attempts WHERE outbox_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(db)
    .await
    .unwrap()
}

async fn call(app: &axum::Router, token: &str, method: &str, path: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_committed_message_leaves_within_a_second_and_once(pool: PgPool) {
    let state = state(pool.clone());
    let hook = receiver(&[], Answer::Status(200), Duration::ZERO).await;
    let (tenant_id, _) = tenant(&pool, "acme").await;
    let channel = webhook_channel(&state, tenant_id, &hook.url).await;
    let _workers = start(&state, quick());
    // Let the workers go idle (nothing due, a 30 s poll): only the NOTIFY can wake them.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Rolled back: nothing is sent.
    let mut tx = pool.begin().await.unwrap();
    outbox::enqueue(
        &mut tx,
        &Recipient::Channel(channel),
        &message(tenant_id, "never"),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();

    let committed = Instant::now();
    let ids = enqueue(&pool, tenant_id, channel, 1).await;
    assert_eq!(wait_hits(&hook, 1, Duration::from_secs(5)).await, 1);
    let latency = hook.hits()[0].at - committed;
    println!("commit to receiver: {latency:?}");
    assert!(latency < Duration::from_secs(1), "took {latency:?}");
    let delivered = format!(
        "SELECT count(*) FROM outbox WHERE id = '{}' AND state = 'delivered' AND delivered_at IS NOT NULL",
        ids[0]
    );
    assert_eq!(
        wait_count(&pool, &delivered, 1, Duration::from_secs(5)).await,
        1
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = hook.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].webhook_id, ids[0].to_string());
    assert_eq!(hits[0].data_id, ids[0].to_string());
    assert_eq!(
        attempts(&pool, ids[0]).await,
        [(1, "delivered".to_owned(), Some(200))]
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_503_is_retried_with_backoff_until_it_is_delivered(pool: PgPool) {
    let state = state(pool.clone());
    let hook = receiver(
        &[Answer::Status(503), Answer::Status(503)],
        Answer::Status(200),
        Duration::ZERO,
    )
    .await;
    let (tenant_id, _) = tenant(&pool, "acme").await;
    let channel = webhook_channel(&state, tenant_id, &hook.url).await;
    let _workers = start(&state, quick());
    let ids = enqueue(&pool, tenant_id, channel, 1).await;
    assert_eq!(wait_hits(&hook, 3, Duration::from_secs(10)).await, 3);
    let hits = hook.hits();
    assert!(hits.iter().all(|h| h.webhook_id == ids[0].to_string()));
    // Base 300 ms, doubled, jitter takes off at most half: ≥150 ms, then ≥300 ms.
    let first = hits[1].at - hits[0].at;
    let second = hits[2].at - hits[1].at;
    println!("retry gaps: {first:?}, {second:?}");
    assert!(first >= Duration::from_millis(150), "{first:?}");
    assert!(second >= Duration::from_millis(300), "{second:?}");
    let delivered = format!(
        "SELECT count(*) FROM outbox WHERE id = '{}' AND state = 'delivered'",
        ids[0]
    );
    assert_eq!(
        wait_count(&pool, &delivered, 1, Duration::from_secs(5)).await,
        1
    );
    assert_eq!(
        attempts(&pool, ids[0]).await,
        [
            (1, "retry".to_owned(), Some(503)),
            (2, "retry".to_owned(), Some(503)),
            (3, "delivered".to_owned(), Some(200)),
        ]
    );
    let last_error: Option<String> =
        sqlx::query_scalar("SELECT last_error FROM outbox WHERE id = $1")
            .bind(ids[0])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(last_error, None);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn retry_after_of_a_429_is_honoured(pool: PgPool) {
    let state = state(pool.clone());
    let hook = receiver(&[Answer::TooMany(2)], Answer::Status(200), Duration::ZERO).await;
    let (tenant_id, _) = tenant(&pool, "acme").await;
    let channel = webhook_channel(&state, tenant_id, &hook.url).await;
    let config = DeliveryConfig {
        backoff_base: Duration::from_millis(50),
        ..quick()
    };
    let _workers = start(&state, config);
    let ids = enqueue(&pool, tenant_id, channel, 1).await;
    assert_eq!(wait_hits(&hook, 2, Duration::from_secs(10)).await, 2);
    let hits = hook.hits();
    let gap = hits[1].at - hits[0].at;
    println!("429 Retry-After: 2 → next attempt after {gap:?}");
    assert!(gap >= Duration::from_secs(2), "{gap:?}");
    assert!(gap < Duration::from_secs(4), "{gap:?}");
    let delivered = format!(
        "SELECT count(*) FROM outbox WHERE id = '{}' AND state = 'delivered'",
        ids[0]
    );
    assert_eq!(
        wait_count(&pool, &delivered, 1, Duration::from_secs(5)).await,
        1
    );
    assert_eq!(
        attempts(&pool, ids[0]).await,
        [
            (1, "retry".to_owned(), Some(429)),
            (2, "delivered".to_owned(), Some(200))
        ]
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_permanent_failure_is_parked_shown_in_the_log_and_sent_again_on_request(pool: PgPool) {
    let state = state(pool.clone());
    let app = api::router(state.clone());
    let hook = receiver(&[Answer::Status(400)], Answer::Status(200), Duration::ZERO).await;
    let (tenant_id, token) = tenant(&pool, "acme").await;
    let (_, other_token) = tenant(&pool, "globex").await;
    let channel = webhook_channel(&state, tenant_id, &hook.url).await;
    let _workers = start(&state, quick());
    let ids = enqueue(&pool, tenant_id, channel, 1).await;
    let parked = format!(
        "SELECT count(*) FROM outbox WHERE id = '{}' AND state = 'parked'",
        ids[0]
    );
    assert_eq!(
        wait_count(&pool, &parked, 1, Duration::from_secs(5)).await,
        1
    );
    // Not retried: a 400 will not get better.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(hook.hits().len(), 1);

    let log_path = format!("/api/v1/notification-channels/{channel}/deliveries");
    let (status, log) = call(&app, &token, "GET", &log_path).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let item = &log["items"][0];
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(item["id"], ids[0].to_string());
    assert_eq!(item["event"], "down");
    assert_eq!(item["title"], "Monitor 0 is down");
    assert_eq!(item["state"], "parked");
    assert_eq!(item["attempts"], 1);
    assert!(
        item["last_error"].as_str().unwrap().contains("HTTP 400"),
        "{item}"
    );
    assert_eq!(item["delivered_at"], Value::Null);
    assert_eq!(item["attempt_log"][0]["outcome"], "failed");
    assert_eq!(item["attempt_log"][0]["status_code"], 400);
    assert_eq!(item["attempt_log"][0]["attempt"], 1);
    let (_, only_parked) = call(&app, &token, "GET", &format!("{log_path}?state=parked")).await;
    assert_eq!(only_parked["items"].as_array().unwrap().len(), 1);
    let (_, only_delivered) =
        call(&app, &token, "GET", &format!("{log_path}?state=delivered")).await;
    assert_eq!(only_delivered["items"].as_array().unwrap().len(), 0);
    let (status, bad) = call(&app, &token, "GET", &format!("{log_path}?state=lost")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(bad.to_string().contains("state"), "{bad}");

    // Another tenant sees neither the log nor the message.
    let retry_path = format!("/api/v1/deliveries/{}/retry", ids[0]);
    let (status, _) = call(&app, &other_token, "GET", &log_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, &other_token, "POST", &retry_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(wait_count(&pool, &parked, 1, Duration::ZERO).await, 1);

    // The owner sends it again: delivered this time, under the same id.
    let (status, retried) = call(&app, &token, "POST", &retry_path).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["id"], ids[0].to_string());
    let delivered = format!(
        "SELECT count(*) FROM outbox WHERE id = '{}' AND state = 'delivered'",
        ids[0]
    );
    assert_eq!(
        wait_count(&pool, &delivered, 1, Duration::from_secs(5)).await,
        1
    );
    let hits = hook.hits();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.webhook_id == ids[0].to_string()));
    let (_, log) = call(&app, &token, "GET", &log_path).await;
    let item = &log["items"][0];
    assert_eq!(item["state"], "delivered");
    assert!(item["delivered_at"].is_string(), "{item}");
    let outcomes: Vec<&str> = item["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["failed", "delivered"]);
    // A delivered message is not sent again.
    let (status, body) = call(&app, &token, "POST", &retry_path).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND entity = 'delivery' AND action = 'retry' AND entity_id = $2",
    )
    .bind(tenant_id)
    .bind(ids[0])
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn two_workers_racing_over_the_same_rows_send_each_exactly_once(pool: PgPool) {
    const N: usize = 300;
    let state_a = state(pool.clone());
    // A second app server: its own pool, its own connections.
    let other_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let state_b = state(other_pool);
    let hook = receiver(&[], Answer::Status(200), Duration::from_millis(2)).await;
    let (tenant_id, _) = tenant(&pool, "acme").await;
    let channel = webhook_channel(&state_a, tenant_id, &hook.url).await;
    let ids = enqueue(&pool, tenant_id, channel, N).await;
    let config = DeliveryConfig {
        per_tenant: 16,
        ..quick()
    };
    let _a = start(&state_a, config.clone());
    let _b = start(&state_b, config);
    let delivered = "SELECT count(*) FROM outbox WHERE state = 'delivered'";
    assert_eq!(
        wait_count(&pool, delivered, N as i64, Duration::from_secs(60)).await,
        N as i64
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = hook.hits();
    let distinct: HashSet<&str> = hits.iter().map(|h| h.webhook_id.as_str()).collect();
    println!("raw {} distinct {}", hits.len(), distinct.len());
    assert_eq!(hits.len(), N, "a row was sent twice");
    assert_eq!(distinct.len(), N);
    let wanted: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    assert!(distinct.iter().all(|id| wanted.contains(*id)));
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM delivery_attempts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(attempts, N as i64);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_disabled_channels_rows_are_cancelled(pool: PgPool) {
    let state = state(pool.clone());
    let hook = receiver(&[], Answer::Status(200), Duration::ZERO).await;
    let (tenant_id, _) = tenant(&pool, "acme").await;
    let channel = webhook_channel(&state, tenant_id, &hook.url).await;
    let ids = enqueue(&pool, tenant_id, channel, 3).await;
    sqlx::query("UPDATE notification_channels SET enabled = false WHERE id = $1")
        .bind(channel)
        .execute(&pool)
        .await
        .unwrap();
    let _workers = start(&state, quick());
    let cancelled = "SELECT count(*) FROM outbox WHERE state = 'cancelled' \
                     AND last_error LIKE '%disabled%' AND attempts = 0";
    assert_eq!(
        wait_count(&pool, cancelled, 3, Duration::from_secs(5)).await,
        3
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hook.hits().is_empty());
    assert!(attempts(&pool, ids[0]).await.is_empty());
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_black_hole_of_one_tenant_does_not_hold_back_another(pool: PgPool) {
    let state = state(pool.clone());
    let black_hole = receiver(&[], Answer::Hang, Duration::ZERO).await;
    let fine = receiver(&[], Answer::Status(200), Duration::ZERO).await;
    let (slow_tenant, _) = tenant(&pool, "slowco").await;
    let (fast_tenant, _) = tenant(&pool, "fastco").await;
    let hole = webhook_channel(&state, slow_tenant, &black_hole.url).await;
    let good = webhook_channel(&state, fast_tenant, &fine.url).await;
    // The black hole's rows are older: a plain oldest-first worker would give them every slot.
    enqueue(&pool, slow_tenant, hole, 40).await;
    let config = DeliveryConfig {
        concurrency: 8,
        per_tenant: 2,
        ..quick()
    };
    let _workers = start(&state, config);
    assert_eq!(wait_hits(&black_hole, 2, Duration::from_secs(5)).await, 2);
    let enqueued = Instant::now();
    let ids = enqueue(&pool, fast_tenant, good, 10).await;
    assert_eq!(wait_hits(&fine, 10, Duration::from_secs(5)).await, 10);
    let took = fine.hits().last().unwrap().at - enqueued;
    println!("10 deliveries of the other tenant beside a black hole: {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let delivered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE id = ANY($1) AND state = 'delivered'",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(wait_count(&pool, &format!("SELECT count(*) FROM outbox WHERE tenant_id = '{fast_tenant}' AND state = 'delivered'"), 10, Duration::from_secs(3)).await, 10, "{delivered}");
    // The black hole holds no more than its tenant's bound.
    assert_eq!(black_hole.hits().len(), 2);
}
