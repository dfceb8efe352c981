//! Outbox mail against a real SMTP server (aiosmtpd on loopback, `scripts/smtp-sink.py`): account
//! mail to an address, a confirmed email subscriber and an email channel all arrive, each with
//! its message id in `Message-ID`; an unconfirmed subscriber's row is cancelled; and without
//! an SMTP server mail is never dropped: it is retried, then parked with an error naming
//! `STATUSPAGE_SMTP_URL`. Needs `AIOSMTPD_PYTHON` (`./dev test` sets it).

use api::channels::{ChannelInput, ChannelKind};
use api::notify::email::SmtpSettings;
use api::notify::{EventKind, Message};
use api::outbox::{self, DeliveryConfig, Recipient};
use api::{ApiConfig, AppState};
use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
#[path = "support/smtp_sink.rs"]
mod smtp_sink;
use smtp_sink::{start_sink, Sink};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// (envelope recipients, raw message) of every mail the sink accepted.
fn received(sink: &Sink) -> Vec<(Vec<String>, String)> {
    smtp_sink::received(sink)
        .into_iter()
        .map(|(_, to, raw)| (to, raw))
        .collect()
}

fn state(pool: PgPool, smtp: Option<SmtpSettings>) -> AppState {
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
    .with_smtp(smtp)
}

fn config() -> DeliveryConfig {
    DeliveryConfig {
        max_attempts: 3,
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        poll: Duration::from_secs(30),
        ..DeliveryConfig::default()
    }
}

fn message(tenant_id: Uuid, title: &str) -> Message {
    Message {
        id: Uuid::new_v4(),
        tenant_id,
        event: EventKind::IncidentUpdate,
        title: title.into(),
        text: "We are looking into it.".into(),
        url: None,
        dedup_key: "incident-1".into(),
        resolved: false,
        created_at: Utc::now(),
        unsubscribe_url: None,
    }
}

async fn tenant(db: &PgPool) -> Uuid {
    api::accounts::tenancy::create_tenant(
        db,
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
    .id
}

async fn subscriber(db: &PgPool, tenant_id: Uuid, email: &str, confirmed: bool) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO subscribers (id, tenant_id, kind, target, confirmed_at) \
         VALUES ($1, $2, 'email', $3, CASE WHEN $4 THEN now() END)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(email)
    .bind(confirmed)
    .execute(db)
    .await
    .unwrap();
    id
}

/// Stops the workers when the test ends (they hold connections to the test's database).
struct Workers(tokio::task::JoinHandle<()>);
impl Drop for Workers {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn enqueue(db: &PgPool, recipient: Recipient, message: &Message) -> Uuid {
    let mut tx = db.begin().await.unwrap();
    let id = outbox::enqueue(&mut tx, &recipient, message).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn state_of(db: &PgPool, id: Uuid) -> (String, Option<String>) {
    sqlx::query_as("SELECT state, last_error FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn wait_state(
    db: &PgPool,
    id: Uuid,
    want: &str,
    within: Duration,
) -> (String, Option<String>) {
    let deadline = Instant::now() + within;
    loop {
        let now = state_of(db, id).await;
        if now.0 == want || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn outbox_mail_reaches_a_real_smtp_server(pool: PgPool) {
    let sink = start_sink();
    let smtp = SmtpSettings::from_env_values(
        Some(&format!("smtp://127.0.0.1:{}", sink.port)),
        Some("Acme Status <alerts@status.example.com>"),
        "localhost",
    )
    .unwrap();
    let state = state(pool.clone(), smtp);
    let tenant_id = tenant(&pool).await;
    let channel = api::channels::create(
        &pool,
        tenant_id,
        &state.delivery_guard,
        &ChannelInput {
            name: "on-call".into(),
            kind: ChannelKind::Email,
            config: json!({ "to": ["oncall@acme.example"] }),
            enabled: true,
        },
    )
    .await
    .unwrap()
    .id;
    let confirmed = subscriber(&pool, tenant_id, "reader@example.org", true).await;
    let unconfirmed = subscriber(&pool, tenant_id, "maybe@example.org", false).await;
    let _workers = Workers(tokio::spawn(outbox::run_workers(state.clone(), config())));

    let account = enqueue(
        &pool,
        Recipient::Address("new@example.net".into()),
        &message(Uuid::nil(), "Reset your password"),
    )
    .await;
    let to_channel = enqueue(
        &pool,
        Recipient::Channel(channel),
        &message(tenant_id, "Checkout is slow"),
    )
    .await;
    let to_reader = enqueue(
        &pool,
        Recipient::Subscriber(confirmed),
        &message(tenant_id, "Checkout is slow"),
    )
    .await;
    let to_unconfirmed = enqueue(
        &pool,
        Recipient::Subscriber(unconfirmed),
        &message(tenant_id, "Checkout is slow"),
    )
    .await;

    for id in [account, to_channel, to_reader] {
        let (state, error) = wait_state(&pool, id, "delivered", Duration::from_secs(10)).await;
        assert_eq!(state, "delivered", "{id}: {error:?}");
    }
    let (state, error) =
        wait_state(&pool, to_unconfirmed, "cancelled", Duration::from_secs(5)).await;
    assert_eq!(state, "cancelled");
    assert!(error.unwrap().contains("not confirmed"));

    let mail = received(&sink);
    assert_eq!(mail.len(), 3, "{mail:?}");
    for (id, to) in [
        (account, "new@example.net"),
        (to_channel, "oncall@acme.example"),
        (to_reader, "reader@example.org"),
    ] {
        let (_, raw) = mail
            .iter()
            .find(|(rcpt, _)| rcpt == &[to.to_owned()])
            .unwrap_or_else(|| panic!("no mail to {to}: {mail:?}"));
        assert!(
            raw.contains(&format!("<{id}@status.example.com>")),
            "Message-ID of {to}: {raw}"
        );
    }
    let attempt: (i32, String, Option<i32>) = sqlx::query_as(
        "SELECT attempt, outcome, status_code FROM delivery_attempts WHERE outbox_id = $1",
    )
    .bind(to_channel)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(attempt, (1, "delivered".into(), Some(250)));
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn mail_without_an_smtp_server_is_retried_then_parked_never_dropped(pool: PgPool) {
    let state = state(pool.clone(), None);
    let _workers = Workers(tokio::spawn(outbox::run_workers(state.clone(), config())));
    let id = enqueue(
        &pool,
        Recipient::Address("new@example.net".into()),
        &message(Uuid::nil(), "Confirm your address"),
    )
    .await;
    let (state, error) = wait_state(&pool, id, "parked", Duration::from_secs(10)).await;
    assert_eq!(state, "parked");
    let error = error.unwrap();
    assert!(error.contains("STATUSPAGE_SMTP_URL"), "{error}");
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM delivery_attempts WHERE outbox_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(outcomes, ["retry", "retry", "parked"]);
}
