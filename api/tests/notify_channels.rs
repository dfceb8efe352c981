//! Channel test sends really deliver: every HTTP channel kind against a real receiver on loopback
//! (the test's guard allow-lists 127.0.0.0/8), each payload checked against its service's
//! documented shape, the webhook signature recomputed here; retry and failure answers; the SSRF
//! guard refusing an address before anything connects; and a second tenant that gets a 404.

use api::notify::{EventKind, Message};
use api::{ApiConfig, AppState};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use checker::guard::SsrfGuard;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

fn loopback() -> SsrfGuard {
    SsrfGuard::new(SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap())
}

fn app(pool: PgPool, guard: SsrfGuard) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(
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
        .with_delivery_guard(guard),
    )
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

/// What a receiver records into, and what it answers.
type Answering = (
    Arc<Mutex<Vec<Seen>>>,
    StatusCode,
    Vec<(&'static str, &'static str)>,
);

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<AtomicUsize>,
    base: String,
}

/// A real HTTP server on loopback answering every request with `status` and `headers`.
async fn receiver(status: StatusCode, headers: &[(&'static str, &'static str)]) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let answer_headers: Vec<(&'static str, &'static str)> = headers.to_vec();
    async fn record(
        State((seen, status, headers)): State<Answering>,
        method: Method,
        uri: Uri,
        request_headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        seen.lock().unwrap().push(Seen {
            method,
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: request_headers,
            body,
        });
        let mut response = (status, "receiver says no").into_response();
        if status.is_success() {
            response = status.into_response();
        }
        for (k, v) in headers {
            response.headers_mut().insert(k, v.parse().unwrap());
        }
        response
    }
    let router =
        axum::Router::new()
            .fallback(record)
            .with_state((seen.clone(), status, answer_headers));
    let counter = accepted.clone();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Receiver {
        seen,
        accepted,
        base,
    }
}

impl Receiver {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn only(&self, path: &str) -> Seen {
        let seen: Vec<Seen> = self.seen().into_iter().filter(|s| s.path == path).collect();
        assert_eq!(seen.len(), 1, "requests to {path}: {seen:?}");
        seen.into_iter().next().unwrap()
    }
}

struct Client {
    app: axum::Router,
    token: String,
}

impl Client {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn channel(&self, name: &str, kind: &str, config: Value) -> String {
        let (status, body) = self
            .send(
                "POST",
                "/api/v1/notification-channels",
                Some(json!({ "name": name, "kind": kind, "config": config })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn test_send(&self, id: &str) -> (StatusCode, Value) {
        self.send(
            "POST",
            &format!("/api/v1/notification-channels/{id}/test"),
            None,
        )
        .await
    }

    fn on(&self, app: axum::Router) -> Client {
        Client {
            app,
            token: self.token.clone(),
        }
    }
}

async fn tenant(app: &axum::Router, slug: &str) -> Client {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/tenants")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "slug": slug, "name": slug, "email": format!("{slug}@example.com") })
                .to_string(),
        ))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    Client {
        app: app.clone(),
        token: body["api_token"].as_str().unwrap().to_owned(),
    }
}

fn delivered(reply: &(StatusCode, Value), status: u16) -> String {
    assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);
    assert_eq!(reply.1["outcome"], "delivered", "{}", reply.1);
    assert_eq!(reply.1["status"], status, "{}", reply.1);
    reply.1["message_id"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn every_kind_delivers_its_documented_shape(pool: PgPool) {
    let app = app(pool, loopback());
    let acme = tenant(&app, "acme").await;
    let rx = receiver(StatusCode::ACCEPTED, &[]).await;
    let base = &rx.base;
    let key = STANDARD.encode(b"0123456789abcdef0123456789abcdef");
    let secret = format!("whsec_{key}");
    let routing_key = "R0123456789abcdef0123456789abcde";

    // Standard Webhooks: id, timestamp, and an HMAC we recompute from the bytes received.
    let webhook = acme
        .channel(
            "hook",
            "webhook",
            json!({ "url": format!("{base}/webhook"), "secret": secret }),
        )
        .await;
    let id = delivered(&acme.test_send(&webhook).await, 202);
    let seen = rx.only("/webhook");
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.header("content-type"), "application/json");
    assert_eq!(seen.header("webhook-id"), id);
    let timestamp: i64 = seen.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    let mut mac = Hmac::<Sha256>::new_from_slice(&STANDARD.decode(&key).unwrap()).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&seen.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(seen.header("webhook-signature"), expected);
    let body = seen.json();
    assert_eq!(body["type"], "statuspage.test");
    assert_eq!(body["data"]["id"], id);
    assert_eq!(body["data"]["event"], "test");
    assert!(body["timestamp"].is_string());

    // Slack: text plus blocks.
    let slack = acme
        .channel(
            "slack",
            "slack",
            json!({ "webhook_url": format!("{base}/slack") }),
        )
        .await;
    delivered(&acme.test_send(&slack).await, 202);
    let body = rx.only("/slack").json();
    assert!(body["text"].as_str().unwrap().contains("Test alert"));
    assert_eq!(body["blocks"][0]["type"], "header");
    assert_eq!(body["blocks"][0]["text"]["type"], "plain_text");
    assert_eq!(body["blocks"][1]["text"]["type"], "mrkdwn");

    // Teams: a message with one Adaptive Card attachment.
    let teams = acme
        .channel(
            "teams",
            "teams",
            json!({ "webhook_url": format!("{base}/teams") }),
        )
        .await;
    delivered(&acme.test_send(&teams).await, 202);
    let body = rx.only("/teams").json();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(attachment["content"]["version"], "1.4");
    assert_eq!(attachment["content"]["body"][0]["type"], "TextBlock");
    assert!(attachment["content"]["body"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Test alert"));

    // Discord: content plus embeds, mentions off.
    let discord = acme
        .channel(
            "discord",
            "discord",
            json!({ "webhook_url": format!("{base}/discord") }),
        )
        .await;
    delivered(&acme.test_send(&discord).await, 202);
    let body = rx.only("/discord").json();
    assert!(body["content"].as_str().unwrap().contains("Test alert"));
    assert!(body["embeds"][0]["title"].is_string());
    assert!(body["embeds"][0]["description"].is_string());
    assert!(body["embeds"][0]["color"].is_u64());
    assert_eq!(body["allowed_mentions"], json!({ "parse": [] }));

    // PagerDuty Events v2: a trigger with a dedup key and the required payload fields.
    let pagerduty = acme
        .channel(
            "pd",
            "pagerduty",
            json!({ "routing_key": routing_key, "events_url": format!("{base}/v2/enqueue") }),
        )
        .await;
    delivered(&acme.test_send(&pagerduty).await, 202);
    let body = rx.only("/v2/enqueue").json();
    assert_eq!(body["routing_key"], routing_key);
    assert_eq!(body["event_action"], "trigger");
    assert_eq!(body["dedup_key"], format!("statuspage-test-{pagerduty}"));
    assert!(body["payload"]["summary"]
        .as_str()
        .unwrap()
        .contains("Test"));
    assert_eq!(body["payload"]["source"], "statuspage");
    assert_eq!(body["payload"]["severity"], "info");

    // Opsgenie: create with an alias, GenieKey authorization.
    let opsgenie = acme
        .channel(
            "og",
            "opsgenie",
            json!({ "api_key": "eb243592-faa2-4ba2-a551q-1afdf565c889", "api_url": base }),
        )
        .await;
    delivered(&acme.test_send(&opsgenie).await, 202);
    let seen = rx.only("/v2/alerts");
    assert_eq!(
        seen.header("authorization"),
        "GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889"
    );
    let body = seen.json();
    assert!(body["message"].as_str().unwrap().contains("Test alert"));
    assert_eq!(body["alias"], format!("statuspage-test-{opsgenie}"));
    assert_eq!(body["priority"], "P5");

    // What is over resolves (PagerDuty) and closes by alias (Opsgenie).
    let over = Message {
        id: uuid::Uuid::new_v4(),
        tenant_id: uuid::Uuid::new_v4(),
        event: EventKind::Recovery,
        title: "Checkout API is up".into(),
        text: "Recovered in every region.".into(),
        url: None,
        dedup_key: "monitor/checkout api".into(),
        resolved: true,
        created_at: chrono::Utc::now(),
        unsubscribe_url: None,
    };
    let guard = loopback();
    let url = format!("{base}/resolve");
    let outcome = api::notify::pagerduty::send(&guard, Some(&url), routing_key, &over).await;
    assert_eq!(outcome, api::notify::Outcome::Delivered { status: 202 });
    assert_eq!(
        rx.only("/resolve").json(),
        json!({ "routing_key": routing_key, "event_action": "resolve", "dedup_key": "monitor/checkout api" })
    );
    let outcome = api::notify::opsgenie::send(&guard, Some(base), "key-12345678", &over).await;
    assert_eq!(outcome, api::notify::Outcome::Delivered { status: 202 });
    let close = rx.only("/v2/alerts/monitor%2Fcheckout%20api/close");
    assert_eq!(close.query.as_deref(), Some("identifierType=alias"));
    assert_eq!(close.header("authorization"), "GenieKey key-12345678");
    assert_eq!(close.json()["source"], "statuspage");

    // Admins see where alerts go; other tokens see the keys masked.
    let (status, read) = acme
        .send(
            "POST",
            "/api/v1/api-tokens",
            Some(json!({ "name": "viewer", "scopes": ["read"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{read}");
    let viewer = Client {
        app: app.clone(),
        token: read["token"].as_str().unwrap().to_owned(),
    };
    let (_, shown) = acme
        .send(
            "GET",
            &format!("/api/v1/notification-channels/{pagerduty}"),
            None,
        )
        .await;
    assert_eq!(shown["config"]["routing_key"], routing_key);
    for id in [&pagerduty, &opsgenie] {
        let (_, shown) = viewer
            .send("GET", &format!("/api/v1/notification-channels/{id}"), None)
            .await;
        let text = shown["config"].to_string();
        assert!(
            !text.contains(routing_key) && !text.contains("eb243592"),
            "{text}"
        );
        assert!(text.contains("********"), "{text}");
    }
    // Only admins send tests.
    let (status, _) = viewer.test_send(&pagerduty).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rx.seen().len(), 8, "no request besides the ones above");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn refusals_and_overload_are_outcomes_not_errors(pool: PgPool) {
    let app = app(pool, loopback());
    let acme = tenant(&app, "acme").await;

    let busy = receiver(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "30")]).await;
    let id = acme
        .channel(
            "busy",
            "discord",
            json!({ "webhook_url": format!("{}/d", busy.base) }),
        )
        .await;
    let (status, body) = acme.test_send(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "retry", "{body}");
    assert_eq!(body["retry_after_secs"], 30, "{body}");
    assert!(body["error"].as_str().unwrap().contains("429"), "{body}");
    assert_eq!(busy.seen().len(), 1);

    let gone = receiver(StatusCode::NOT_FOUND, &[]).await;
    let id = acme
        .channel(
            "gone",
            "slack",
            json!({ "webhook_url": format!("{}/s", gone.base) }),
        )
        .await;
    let (status, body) = acme.test_send(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "failed", "{body}");
    assert!(body["error"].as_str().unwrap().contains("404"), "{body}");

    let broken = receiver(StatusCode::BAD_GATEWAY, &[]).await;
    let id = acme
        .channel(
            "broken",
            "teams",
            json!({ "webhook_url": format!("{}/t", broken.base) }),
        )
        .await;
    let (_, body) = acme.test_send(&id).await;
    assert_eq!(body["outcome"], "retry", "{body}");
    assert_eq!(body["retry_after_secs"], Value::Null, "{body}");

    // Nothing listens: a connection failure is worth retrying, not a 5xx.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let id = acme
        .channel(
            "closed",
            "webhook",
            json!({ "url": format!("http://127.0.0.1:{port}/h") }),
        )
        .await;
    let (status, body) = acme.test_send(&id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "retry", "{body}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_guard_refuses_before_anything_connects(pool: PgPool) {
    // The channel was created while the deployment allowed loopback; now it does not.
    let allowing = app(pool.clone(), loopback());
    let strict = app(pool, SsrfGuard::strict());
    let acme = tenant(&allowing, "acme").await;
    let rx = receiver(StatusCode::OK, &[]).await;
    let id = acme
        .channel(
            "local",
            "webhook",
            json!({ "url": format!("{}/h", rx.base) }),
        )
        .await;
    let https = acme
        .channel(
            "local-tls",
            "slack",
            json!({ "webhook_url": format!("{}/s", rx.base.replace("http://", "https://")) }),
        )
        .await;
    let acme = acme.on(strict);
    for channel in [&id, &https] {
        let (status, body) = acme.test_send(channel).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["outcome"], "failed", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("refused"),
            "{body}"
        );
    }
    assert_eq!(
        rx.accepted.load(Ordering::SeqCst),
        0,
        "no connection reached the receiver"
    );

    // And with the strict guard such URLs are refused when the channel is written.
    let (status, body) = acme
        .send(
            "POST",
            "/api/v1/notification-channels",
            Some(json!({ "name": "x", "kind": "teams", "config": { "webhook_url": format!("{}/t", rx.base) } })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "config.webhook_url", "{body}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn another_tenant_cannot_test_a_channel(pool: PgPool) {
    let app = app(pool, loopback());
    let acme = tenant(&app, "acme").await;
    let mallory = tenant(&app, "mallory").await;
    let rx = receiver(StatusCode::OK, &[]).await;
    let id = acme
        .channel(
            "hook",
            "webhook",
            json!({ "url": format!("{}/h", rx.base) }),
        )
        .await;
    let (status, body) = mallory.test_send(&id).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = mallory.test_send(&uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(rx.accepted.load(Ordering::SeqCst), 0);
    // The owner's test send does arrive.
    let (status, body) = acme.test_send(&id).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::OK, Some("delivered"))
    );
    assert_eq!(rx.seen().len(), 1);

    // Email goes through the deployment's SMTP server; without one the answer says so.
    let email = acme
        .channel("mail", "email", json!({ "to": ["ops@example.com"] }))
        .await;
    let (status, body) = acme.test_send(&email).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "failed", "{body}");
    assert_eq!(body["error"], api::notify::email::NOT_CONFIGURED, "{body}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn new_kinds_name_the_bad_field(pool: PgPool) {
    let app = app(pool, SsrfGuard::strict());
    let acme = tenant(&app, "acme").await;
    for (kind, config, field) in [
        (
            "pagerduty",
            json!({ "routing_key": "short" }),
            "config.routing_key",
        ),
        (
            "pagerduty",
            json!({ "routing_key": "R0123456789abcdef0123456789abcde", "events_url": "http://events.example.com/x" }),
            "config.events_url",
        ),
        ("opsgenie", json!({}), "config.api_key"),
        (
            "opsgenie",
            json!({ "api_key": "abcdefgh1234", "api_url": "https://10.0.0.1" }),
            "config.api_url",
        ),
        (
            "discord",
            json!({ "webhook_url": "https://example.com/api/webhooks/1/x" }),
            "config.webhook_url",
        ),
        (
            "teams",
            json!({ "webhook_url": "http://example.com/x" }),
            "config.webhook_url",
        ),
        (
            "teams",
            json!({ "url": "https://example.com/x" }),
            "config.url",
        ),
        (
            "webhook",
            json!({ "url": "http://127.0.0.1:9/h" }),
            "config.url",
        ),
    ] {
        let (status, body) = acme
            .send(
                "POST",
                "/api/v1/notification-channels",
                Some(json!({ "name": "x", "kind": kind, "config": config })),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}: {body}");
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{kind}: {body}");
        assert!(
            !body.to_string().contains("R0123456789abcdef"),
            "keys are never echoed"
        );
    }
    // Real service URLs pass.
    for (kind, config) in [
        (
            "discord",
            json!({ "webhook_url": "https://discord.com/api/webhooks/1/abc" }),
        ),
        (
            "teams",
            json!({ "webhook_url": "https://prod-01.westeurope.logic.azure.com/workflows/x" }),
        ),
        (
            "pagerduty",
            json!({ "routing_key": "R0123456789abcdef0123456789abcde" }),
        ),
        (
            "opsgenie",
            json!({ "api_key": "eb243592-faa2-4ba2", "api_url": "https://api.eu.opsgenie.com" }),
        ),
    ] {
        acme.channel(kind, kind, config).await;
    }
}
