//! Who hears about incidents, over `/api/v1` against a real PostgreSQL: subscribers with email
//! double opt-in, notification channels whose secrets never come back, API tokens with scopes
//! and revocation; and every one of them tried from a second tenant.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tower::ServiceExt;

fn app(pool: PgPool) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into(), "us".into()],
            open_signup: true,
        },
    ))
}

struct Reply {
    status: StatusCode,
    etag: Option<String>,
    replayed: bool,
    content_type: String,
    /// The body as sent, to search for things that must never appear in it.
    text: String,
    body: Value,
}

struct Client {
    app: axum::Router,
    token: String,
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        reply(self.app.clone().oneshot(request).await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, &[], Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, &[], None).await
    }

    /// Creates and returns the new row's id.
    async fn create(&self, path: &str, body: Value) -> String {
        let reply = self.post(path, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    /// The same app with another token.
    fn with_token(&self, token: &str) -> Client {
        Client {
            app: self.app.clone(),
            token: token.to_owned(),
        }
    }
}

async fn reply(response: axum::response::Response) -> Reply {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (etag, replayed, content_type) = (
        header("etag"),
        header("idempotent-replayed").is_some(),
        header("content-type").unwrap_or_default(),
    );
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        etag,
        replayed,
        content_type,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A request with no credentials at all, as a visitor's browser sends it.
async fn anonymous_get(app: &axum::Router, path: &str) -> Reply {
    anonymous(app, "GET", path).await
}

async fn anonymous(app: &axum::Router, method: &str, path: &str) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    reply(app.clone().oneshot(request).await.unwrap()).await
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

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn ids(list: &Reply) -> Vec<String> {
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn email_subscribers_confirm_once(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let web = acme
        .create("/api/v1/components", json!({ "name": "Web" }))
        .await;

    let created = acme
        .send(
            "POST",
            "/api/v1/subscribers",
            &[("idempotency-key", "sub-1")],
            Some(json!({ "kind": "email", "target": " Ops@Example.com ", "component_ids": [web] })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.etag, None, "subscribers have no version");
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["kind"], "email");
    assert_eq!(created.body["target"], "Ops@Example.com");
    assert_eq!(created.body["component_ids"], json!([web]));
    assert_eq!(created.body["confirmed"], false);
    assert_eq!(created.body["confirmed_at"], Value::Null);
    let confirm_url = created.body["confirm_url"].as_str().unwrap().to_owned();
    let token = confirm_url
        .strip_prefix("/api/v1/public/subscriptions/confirm?token=")
        .unwrap();

    // Only the token's SHA-256 is stored, nowhere its plaintext (not in the idempotency replay).
    let hash: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT confirm_token_hash FROM subscribers WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(hash.unwrap(), Sha256::digest(token.as_bytes()).to_vec());
    let stored: Vec<String> = sqlx::query_scalar("SELECT response::text FROM idempotency_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(stored.iter().all(|r| !r.contains(token)), "{stored:?}");
    let replay = acme
        .send(
            "POST",
            "/api/v1/subscribers",
            &[("idempotency-key", "sub-1")],
            Some(json!({ "kind": "email", "target": " Ops@Example.com ", "component_ids": [web] })),
        )
        .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert!(replay.replayed);
    assert_eq!(replay.body["id"], json!(id));
    assert_eq!(replay.body["confirm_url"], Value::Null);

    // Unconfirmed until the link is followed; reads never show the link again.
    let read = acme.get(&format!("/api/v1/subscribers/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["confirmed"], false);
    assert!(!read.text.contains(token));
    let unconfirmed = acme.get("/api/v1/subscribers?confirmed=false").await;
    assert_eq!(ids(&unconfirmed), [id.as_str()]);
    assert!(!unconfirmed.text.contains(token));
    assert_eq!(
        ids(&acme.get("/api/v1/subscribers?confirmed=true").await),
        Vec::<String>::new()
    );

    // Following the link (what a mail scanner does) only shows the button.
    let shown = anonymous_get(&app, &confirm_url).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    assert!(
        shown.content_type.starts_with("text/html"),
        "{}",
        shown.content_type
    );
    assert!(shown.text.contains("method=\"post\""), "{}", shown.text);
    assert!(shown.text.contains(token), "the button posts the token");
    let read = acme.get(&format!("/api/v1/subscribers/{id}")).await;
    assert_eq!(read.body["confirmed"], false, "a GET confirms nothing");
    let confirmed = anonymous(&app, "POST", &confirm_url).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(confirmed.body, json!({ "confirmed": true }));
    let read = acme.get(&format!("/api/v1/subscribers/{id}")).await;
    assert_eq!(read.body["confirmed"], true);
    assert!(read.body["confirmed_at"].is_string());
    let hash: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT confirm_token_hash FROM subscribers WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(hash, None, "the token is forgotten");

    // Single use; unknown and missing tokens.
    let again = anonymous(&app, "POST", &confirm_url).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        anonymous_get(&app, &confirm_url).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(again.content_type, "application/problem+json");
    let guessed = anonymous(
        &app,
        "POST",
        "/api/v1/public/subscriptions/confirm?token=sp_guessed",
    )
    .await;
    assert_eq!(guessed.status, StatusCode::NOT_FOUND);
    let missing = anonymous(&app, "POST", "/api/v1/public/subscriptions/confirm").await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&missing.body), ["token"]);
    assert_eq!(
        ids(&acme.get("/api/v1/subscribers?confirmed=true").await),
        [id.as_str()]
    );

    let log = acme.get("/api/v1/audit-log?limit=1").await;
    assert_eq!(log.body["items"][0]["action"], "confirm");
    assert_eq!(log.body["items"][0]["entity"], "subscriber");
    assert_eq!(log.body["items"][0]["entity_id"], json!(id));
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn subscribers_are_validated_listed_and_deleted(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    let web = acme
        .create("/api/v1/components", json!({ "name": "Web" }))
        .await;

    let hook = acme
        .post(
            "/api/v1/subscribers",
            json!({ "kind": "webhook", "target": "https://example.com/hooks/status" }),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
    assert_eq!(hook.body["confirmed"], true, "webhooks need no opt-in");
    assert_eq!(hook.body["confirm_url"], Value::Null);
    assert_eq!(hook.body["component_ids"], json!([]));
    let hook = hook.body["id"].as_str().unwrap().to_owned();
    let email = acme
        .create(
            "/api/v1/subscribers",
            json!({ "kind": "email", "target": "ops@example.com" }),
        )
        .await;

    let bad = [
        (
            json!({ "kind": "email", "target": "not-an-address" }),
            "target",
        ),
        (
            json!({ "kind": "email", "target": "OPS@example.com" }),
            "target",
        ),
        (
            json!({ "kind": "webhook", "target": "http://example.com/hook" }),
            "target",
        ),
        (
            json!({ "kind": "webhook", "target": "https://127.0.0.1/hook" }),
            "target",
        ),
        (
            json!({ "kind": "webhook", "target": "https://example.com/hooks/status" }),
            "target",
        ),
        (
            json!({ "kind": "email", "target": "b@example.com", "component_ids": [web, uuid::Uuid::new_v4()] }),
            "component_ids[1]",
        ),
        (
            json!({ "kind": "email", "target": "b@example.com", "component_ids": [web, web] }),
            "component_ids[1]",
        ),
    ];
    for (input, field) in bad {
        let reply = acme.post("/api/v1/subscribers", input.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{input}: {}",
            reply.body
        );
        assert_eq!(reply.content_type, "application/problem+json");
        assert_eq!(fields(&reply.body), [field], "{input}");
    }
    let unknown = acme
        .post(
            "/api/v1/subscribers",
            json!({ "kind": "email", "target": "c@example.com", "admin": true }),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    assert_eq!(unknown.content_type, "application/problem+json");
    assert_eq!(fields(&unknown.body), ["admin"]);
    let sms = acme
        .post(
            "/api/v1/subscribers",
            json!({ "kind": "sms", "target": "+15550100" }),
        )
        .await;
    assert_eq!(sms.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&sms.body), ["kind"]);

    assert_eq!(
        ids(&acme.get("/api/v1/subscribers").await),
        [email.as_str(), hook.as_str()]
    );
    assert_eq!(
        ids(&acme.get("/api/v1/subscribers?kind=webhook").await),
        [hook.as_str()]
    );
    let page = acme.get("/api/v1/subscribers?limit=1").await;
    assert_eq!(ids(&page), [email.as_str()]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    assert_eq!(
        ids(&acme
            .get(&format!("/api/v1/subscribers?limit=1&cursor={cursor}"))
            .await),
        [hook.as_str()]
    );
    let bad_kind = acme.get("/api/v1/subscribers?kind=sms").await;
    assert_eq!(bad_kind.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&bad_kind.body), ["kind"]);
    let bad_flag = acme.get("/api/v1/subscribers?confirmed=maybe").await;
    assert_eq!(fields(&bad_flag.body), ["confirmed"]);

    let deleted = acme.delete(&format!("/api/v1/subscribers/{hook}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        acme.get(&format!("/api/v1/subscribers/{hook}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        acme.delete(&format!("/api/v1/subscribers/{hook}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let log = acme.get("/api/v1/audit-log?limit=1").await;
    assert_eq!(log.body["items"][0]["action"], "delete");
    assert_eq!(log.body["items"][0]["entity"], "subscriber");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn channels_never_show_their_secret(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    const SECRET: &str = "whsec-0123456789-abcdef";
    const NEW_SECRET: &str = "whsec-rotated-9876543210";
    let mut bodies: Vec<String> = Vec::new();

    let created = acme
        .send(
            "POST",
            "/api/v1/notification-channels",
            &[("idempotency-key", "chan-1")],
            Some(json!({ "name": "Ops hook", "kind": "webhook",
                         "config": { "url": "https://example.com/hooks/ops", "secret": SECRET } })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        created.body["config"],
        json!({ "url": "https://example.com/hooks/ops", "secret_set": true })
    );
    assert_eq!(created.body["enabled"], true);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/notification-channels/{id}");
    bodies.push(created.text);
    let replay = acme
        .send(
            "POST",
            "/api/v1/notification-channels",
            &[("idempotency-key", "chan-1")],
            Some(json!({ "name": "Ops hook", "kind": "webhook",
                         "config": { "url": "https://example.com/hooks/ops", "secret": SECRET } })),
        )
        .await;
    assert!(replay.replayed);
    assert_eq!(replay.body["id"], json!(id));
    bodies.push(replay.text);

    let email = acme
        .create(
            "/api/v1/notification-channels",
            json!({ "name": "On-call", "kind": "email", "config": { "to": ["oncall@example.com"] }, "enabled": false }),
        )
        .await;
    let slack = acme
        .post(
            "/api/v1/notification-channels",
            json!({ "name": "Slack", "kind": "slack",
                    "config": { "webhook_url": "https://hooks.slack.com/services/T0/B0/xyz" } }),
        )
        .await;
    assert_eq!(slack.status, StatusCode::CREATED, "{}", slack.body);
    assert_eq!(
        slack.body["config"]["webhook_url"],
        "https://hooks.slack.com/services/T0/B0/xyz"
    );

    let read = acme.get(&path).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.etag.as_deref(), Some("\"v1\""));
    assert_eq!(read.body["config"]["secret_set"], true);
    bodies.push(read.text);
    let list = acme.get("/api/v1/notification-channels").await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 3);
    assert!(ids(&list).contains(&email));
    bodies.push(list.text);

    // A config without `secret` keeps it; a stale If-Match changes nothing.
    let moved = acme
        .send(
            "PATCH",
            &path,
            &[("if-match", "\"v1\"")],
            Some(json!({ "config": { "url": "https://example.com/hooks/ops2" } })),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.etag.as_deref(), Some("\"v2\""));
    assert_eq!(
        moved.body["config"],
        json!({ "url": "https://example.com/hooks/ops2", "secret_set": true })
    );
    assert_eq!(moved.body["name"], "Ops hook");
    bodies.push(moved.text);
    let stored: String = sqlx::query_scalar(
        "SELECT config->>'secret' FROM notification_channels WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, SECRET, "kept for signing deliveries");
    let stale = acme
        .send(
            "PATCH",
            &path,
            &[("if-match", "\"v1\"")],
            Some(json!({ "name": "Stale" })),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    bodies.push(stale.text);
    let rotated = acme
        .send(
            "PATCH",
            &path,
            &[],
            Some(json!({ "config": { "url": "https://example.com/hooks/ops2", "secret": NEW_SECRET } })),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(rotated.body["config"]["secret_set"], true);
    bodies.push(rotated.text);
    let bad_secret = acme
        .send(
            "PATCH",
            &path,
            &[],
            Some(json!({ "config": { "url": "https://example.com/hooks/ops2", "secret": 1234567890 } })),
        )
        .await;
    assert_eq!(fields(&bad_secret.body), ["config.secret"]);
    bodies.push(bad_secret.text);
    let cleared = acme
        .send(
            "PATCH",
            &path,
            &[],
            Some(json!({ "config": { "url": "https://example.com/hooks/ops2", "secret": null }, "enabled": false })),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.body["config"]["secret_set"], false);
    assert_eq!(cleared.body["enabled"], false);
    assert_eq!(cleared.etag.as_deref(), Some("\"v4\""));

    // Config is checked per kind, naming the setting at fault.
    let bad = [
        (
            json!({ "name": "x", "kind": "webhook", "config": { "url": "http://example.com/h" } }),
            vec!["config.url"],
        ),
        (
            json!({ "name": "x", "kind": "webhook", "config": { "secret": "0123456789abcdefgh" } }),
            vec!["config.url"],
        ),
        (
            json!({ "name": "x", "kind": "webhook", "config": { "url": "https://example.com/h", "token": "t" } }),
            vec!["config.token"],
        ),
        (
            json!({ "name": "x", "kind": "email", "config": { "to": ["a@example.com", "nope"] } }),
            vec!["config.to[1]"],
        ),
        (
            json!({ "name": "x", "kind": "email", "config": { "to": [] } }),
            vec!["config.to"],
        ),
        (
            json!({ "name": "x", "kind": "slack", "config": { "webhook_url": "https://example.com/services/x" } }),
            vec!["config.webhook_url"],
        ),
        (
            json!({ "name": "x", "kind": "slack", "config": "https://hooks.slack.com/services/x" }),
            vec!["config"],
        ),
        (
            json!({ "name": "", "kind": "email", "config": { "to": ["a@example.com"] } }),
            vec!["name"],
        ),
        (
            json!({ "name": "On-call", "kind": "email", "config": { "to": ["a@example.com"] } }),
            vec!["name"],
        ),
    ];
    for (input, expected) in bad {
        let reply = acme
            .post("/api/v1/notification-channels", input.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{input}: {}",
            reply.body
        );
        assert_eq!(fields(&reply.body), expected, "{input}");
    }
    let unknown = acme
        .post(
            "/api/v1/notification-channels",
            json!({ "name": "x", "kind": "email", "config": { "to": ["a@example.com"] }, "owner": "me" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&unknown.body), ["owner"]);
    let kind_change = acme
        .send("PATCH", &path, &[], Some(json!({ "kind": "slack" })))
        .await;
    assert_eq!(kind_change.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&kind_change.body), ["kind"]);

    // Deletes honour If-Match too.
    let stale_delete = acme
        .send("DELETE", &path, &[("if-match", "\"v1\"")], None)
        .await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
    let log = acme.get("/api/v1/audit-log?limit=100").await;
    bodies.push(log.text);
    let gone = acme
        .send("DELETE", &path, &[("if-match", "\"v4\"")], None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(acme.get(&path).await.status, StatusCode::NOT_FOUND);

    for body in &bodies {
        assert!(!body.contains(SECRET), "secret leaked: {body}");
        assert!(!body.contains(NEW_SECRET), "secret leaked: {body}");
    }
    let audit: Vec<String> = sqlx::query_scalar("SELECT details::text FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(audit
        .iter()
        .all(|d| !d.contains(SECRET) && !d.contains(NEW_SECRET)));
    let replays: Vec<String> = sqlx::query_scalar("SELECT response::text FROM idempotency_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(replays.iter().all(|r| !r.contains(SECRET)));
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn api_tokens_are_scoped_and_revocable(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;

    let created = acme
        .send(
            "POST",
            "/api/v1/api-tokens",
            &[("idempotency-key", "tok-1")],
            Some(json!({ "name": "Dashboard", "scopes": ["read"] })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let plaintext = created.body["token"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(plaintext.starts_with("sp_"));
    assert!(plaintext.starts_with(created.body["prefix"].as_str().unwrap()));
    assert_eq!(created.body["scopes"], json!(["read"]));
    assert_eq!(created.body["revoked_at"], Value::Null);
    assert!(created.body.get("token_hash").is_none());
    // Not stored in plaintext, not even for the idempotent replay.
    let replay = acme
        .send(
            "POST",
            "/api/v1/api-tokens",
            &[("idempotency-key", "tok-1")],
            Some(json!({ "name": "Dashboard", "scopes": ["read"] })),
        )
        .await;
    assert!(replay.replayed);
    assert_eq!(replay.body["id"], json!(id));
    assert_eq!(replay.body["token"], Value::Null);
    let stored: Vec<String> = sqlx::query_scalar("SELECT response::text FROM idempotency_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(stored.iter().all(|r| !r.contains(&plaintext)));

    let list = acme.get("/api/v1/api-tokens").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        2,
        "with the tenant's first"
    );
    assert!(!list.text.contains(&plaintext));
    let listed = &list.body["items"][0];
    assert_eq!(listed["id"], json!(id));
    let mut keys: Vec<&str> = listed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "id",
            "last_used_at",
            "name",
            "prefix",
            "revoked_at",
            "scopes"
        ]
    );
    assert_eq!(
        list.body["items"][1]["scopes"],
        json!(["read", "write", "admin"]),
        "the sign-up token has every scope"
    );

    // The read-only token reads, and may not write (nor make itself a stronger token).
    let reader = acme.with_token(&plaintext);
    assert_eq!(
        reader.get("/api/v1/subscribers").await.status,
        StatusCode::OK
    );
    assert_eq!(
        reader.get("/api/v1/api-tokens").await.status,
        StatusCode::OK
    );
    for (path, body) in [
        (
            "/api/v1/subscribers",
            json!({ "kind": "email", "target": "a@example.com" }),
        ),
        (
            "/api/v1/notification-channels",
            json!({ "name": "x", "kind": "email", "config": { "to": ["a@example.com"] } }),
        ),
        (
            "/api/v1/api-tokens",
            json!({ "name": "escalate", "scopes": ["read", "write"] }),
        ),
    ] {
        let write = reader.post(path, body).await;
        assert_eq!(write.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(write.content_type, "application/problem+json");
    }
    assert_eq!(
        reader
            .delete(&format!("/api/v1/api-tokens/{id}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let used = acme.get(&format!("/api/v1/api-tokens/{id}")).await;
    assert!(used.body["last_used_at"].is_string());

    let writer = acme
        .post(
            "/api/v1/api-tokens",
            json!({ "name": "CI", "scopes": ["write", "read"] }),
        )
        .await;
    assert_eq!(writer.body["scopes"], json!(["read", "write"]));
    let ci = acme.with_token(writer.body["token"].as_str().unwrap());
    ci.create(
        "/api/v1/subscribers",
        json!({ "kind": "email", "target": "ci@example.com" }),
    )
    .await;

    for (body, field) in [
        (
            json!({ "name": "x", "scopes": ["read", "root"] }),
            "scopes[1]",
        ),
        (
            json!({ "name": "x", "scopes": ["read", "admin"] }),
            "scopes",
        ),
        (json!({ "name": "x", "scopes": ["write"] }), "scopes"),
        (json!({ "name": "x", "scopes": [] }), "scopes"),
        (json!({ "name": "x" }), "scopes"),
        (json!({ "name": " ", "scopes": ["read"] }), "name"),
    ] {
        let reply = acme.post("/api/v1/api-tokens", body.clone()).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(fields(&reply.body), [field], "{body}");
    }

    // Revoked: 401 from then on, kept in the list with its date; revoking twice is harmless.
    let revoked = acme.delete(&format!("/api/v1/api-tokens/{id}")).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let refused = reader.get("/api/v1/subscribers").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.content_type, "application/problem+json");
    let read = acme.get(&format!("/api/v1/api-tokens/{id}")).await;
    assert!(read.body["revoked_at"].is_string());
    assert_eq!(
        acme.delete(&format!("/api/v1/api-tokens/{id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let log = acme.get("/api/v1/audit-log?limit=100").await;
    let revokes = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "revoke" && e["entity"] == "api_token")
        .count();
    assert_eq!(revokes, 1);
    assert!(!log.text.contains(&plaintext));
    assert_eq!(
        acme.delete(&format!("/api/v1/api-tokens/{}", uuid::Uuid::new_v4()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Every notify endpoint, from a second tenant, on the first tenant's rows: 404 or a field
/// error, never data, and nothing changes.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_second_tenant_gets_nothing_of_the_first(pool: PgPool) {
    let app = app(pool);
    let alice = tenant(&app, "alice").await;
    let mallory = tenant(&app, "mallory").await;
    let component = alice
        .create("/api/v1/components", json!({ "name": "Web" }))
        .await;
    let subscriber = alice
        .create(
            "/api/v1/subscribers",
            json!({ "kind": "email", "target": "ops@alice.example", "component_ids": [component] }),
        )
        .await;
    let channel = alice
        .create(
            "/api/v1/notification-channels",
            json!({ "name": "Ops", "kind": "webhook",
                    "config": { "url": "https://alice.example/hook", "secret": "alice-secret-0123456789" } }),
        )
        .await;
    let issued = alice
        .post(
            "/api/v1/api-tokens",
            json!({ "name": "Robot", "scopes": ["read"] }),
        )
        .await;
    let token = issued.body["id"].as_str().unwrap().to_owned();
    let robot = alice.with_token(issued.body["token"].as_str().unwrap());

    for (collection, id) in [
        ("subscribers", &subscriber),
        ("notification-channels", &channel),
        ("api-tokens", &token),
    ] {
        let path = format!("/api/v1/{collection}/{id}");
        let read = mallory.get(&path).await;
        assert_eq!(
            read.status,
            StatusCode::NOT_FOUND,
            "GET {path}: {}",
            read.body
        );
        assert!(read.body.get("id").is_none());
        for if_match in [None, Some("\"v1\"")] {
            let headers: Vec<(&str, &str)> =
                if_match.map(|v| ("if-match", v)).into_iter().collect();
            if collection == "notification-channels" {
                let write = mallory
                    .send(
                        "PATCH",
                        &path,
                        &headers,
                        Some(
                            json!({ "name": "Mine", "config": { "url": "https://evil.example/" } }),
                        ),
                    )
                    .await;
                assert_eq!(
                    write.status,
                    StatusCode::NOT_FOUND,
                    "PATCH {path} {if_match:?}: {}",
                    write.body
                );
            }
            let delete = mallory.send("DELETE", &path, &headers, None).await;
            assert_eq!(delete.status, StatusCode::NOT_FOUND, "DELETE {path}");
        }
        let list = mallory.get(&format!("/api/v1/{collection}")).await;
        assert_eq!(list.status, StatusCode::OK);
        let leaked: Vec<String> = ids(&list).into_iter().filter(|i| i == id).collect();
        assert!(leaked.is_empty(), "GET /api/v1/{collection} leaks");
        if collection != "api-tokens" {
            assert_eq!(list.body["items"], json!([]), "GET /api/v1/{collection}");
        }
        let guessed = mallory
            .get(&format!("/api/v1/{collection}/{}", uuid::Uuid::new_v4()))
            .await;
        assert_eq!(guessed.status, StatusCode::NOT_FOUND);
    }
    // Mallory's token list holds only Mallory's own first token.
    let tokens = mallory.get("/api/v1/api-tokens").await;
    assert_eq!(tokens.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(tokens.body["items"][0]["name"], "default");

    // Mallory cannot subscribe to Alice's components, even among its own.
    let own = mallory
        .create("/api/v1/components", json!({ "name": "Mine" }))
        .await;
    let attach = mallory
        .post(
            "/api/v1/subscribers",
            json!({ "kind": "email", "target": "m@mallory.example", "component_ids": [own, component] }),
        )
        .await;
    assert_eq!(attach.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&attach.body), ["component_ids[1]"]);
    // The same address may subscribe to two tenants' pages.
    mallory
        .create(
            "/api/v1/subscribers",
            json!({ "kind": "email", "target": "ops@alice.example" }),
        )
        .await;

    // Alice's rows are untouched, and the token Mallory tried to revoke still works.
    assert_eq!(
        robot.get("/api/v1/subscribers").await.status,
        StatusCode::OK
    );
    let read = alice.get(&format!("/api/v1/api-tokens/{token}")).await;
    assert_eq!(read.body["revoked_at"], Value::Null);
    let read = alice
        .get(&format!("/api/v1/subscribers/{subscriber}"))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["component_ids"], json!([component]));
    let read = alice
        .get(&format!("/api/v1/notification-channels/{channel}"))
        .await;
    assert_eq!(read.etag.as_deref(), Some("\"v1\""));
    assert_eq!(read.body["name"], "Ops");
    assert_eq!(read.body["config"]["url"], "https://alice.example/hook");
    let log = mallory.get("/api/v1/audit-log").await;
    assert!(log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["entity"] != "subscriber" || e["entity_id"] != json!(subscriber)));
}
