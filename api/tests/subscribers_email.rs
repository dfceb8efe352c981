//! One-click unsubscribe in real mail: a subscriber's message, as an incident writes it to the
//! outbox, sent through aiosmtpd (`scripts/smtp-sink.py`) carries RFC 8058 `List-Unsubscribe`
//! and `List-Unsubscribe-Post` headers, and POSTing `List-Unsubscribe=One-Click` to that URL,
//! with no session, unsubscribes. Needs `AIOSMTPD_PYTHON` like `notify_email.rs`.

use api::notify::email::{self, SmtpSettings};
use api::notify::{Message, Outcome};
use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
#[path = "support/smtp_sink.rs"]
mod smtp_sink;
use smtp_sink::{header, received, start_sink};
use tower::ServiceExt;
use uuid::Uuid;

fn app(pool: PgPool) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into()],
            open_signup: true,
        },
    ))
}

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn subscriber_mail_carries_one_click_unsubscribe(pool: PgPool) {
    let sink = start_sink();
    let smtp = SmtpSettings::from_env_values(
        Some(&format!("smtp://127.0.0.1:{}", sink.port)),
        Some("Acme Status <status@status.example.com>"),
        "localhost",
    )
    .unwrap()
    .expect("configured");
    let app = app(pool.clone());
    let (status, created) = call(
        &app,
        Request::post("/api/v1/tenants")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({ "slug": "acme", "name": "Acme", "email": "owner@acme.example" })
                    .to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let tenant: Uuid = created["tenant"]["id"].as_str().unwrap().parse().unwrap();
    let token = created["api_token"].as_str().unwrap().to_owned();
    let subscriber = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO subscribers (id, tenant_id, kind, target, confirmed_at) \
         VALUES ($1, $2, 'email', 'reader@example.com', now())",
    )
    .bind(subscriber)
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    let (status, _) = call(
        &app,
        Request::post("/api/v1/incidents")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(
                json!({ "title": "Checkout is slow", "message": "We are looking into it" })
                    .to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // The subscriber's outbox row, sent as the worker sends it: to the subscriber's address.
    let stored: Value = sqlx::query_scalar("SELECT message FROM outbox WHERE subscriber_id = $1")
        .bind(subscriber)
        .fetch_one(&pool)
        .await
        .unwrap();
    let message: Message = serde_json::from_value(stored).unwrap();
    let url = message
        .unsubscribe_url
        .clone()
        .expect("an unsubscribe link");
    assert_eq!(
        email::send(&smtp, &["reader@example.com".to_owned()], &message).await,
        Outcome::Delivered { status: 250 }
    );
    let mail = received(&sink);
    assert_eq!(mail.len(), 1);
    let raw = &mail[0].2;
    assert_eq!(
        header(raw, "List-Unsubscribe").as_deref(),
        Some(format!("<{url}>").as_str()),
        "{raw}"
    );
    assert_eq!(
        header(raw, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(header(raw, "Subject").unwrap().contains("Checkout is slow"));

    // Mail that is not to a subscriber has neither header.
    let account = Message {
        id: Uuid::new_v4(),
        unsubscribe_url: None,
        ..message.clone()
    };
    email::send(&smtp, &["owner@acme.example".to_owned()], &account).await;
    let plain = received(&sink)
        .into_iter()
        .find(|m| m.1 == ["owner@acme.example"])
        .unwrap();
    assert_eq!(header(&plain.2, "List-Unsubscribe"), None);
    assert_eq!(header(&plain.2, "List-Unsubscribe-Post"), None);

    // What the mail client does with the header: one POST, no session.
    let unsubscribe = header(raw, "List-Unsubscribe").unwrap();
    let target = unsubscribe.trim_start_matches('<').trim_end_matches('>');
    let path = format!(
        "/{}",
        target
            .split_once("://")
            .unwrap()
            .1
            .split_once('/')
            .unwrap()
            .1
    );
    let (status, body) = call(
        &app,
        Request::post(path.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("List-Unsubscribe=One-Click"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers WHERE id = $1")
        .bind(subscriber)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "unsubscribed");
}
