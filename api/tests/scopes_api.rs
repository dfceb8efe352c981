//! Token scopes against a real PostgreSQL through the real router: `read` < `write` < `admin`.
//! Only `admin` manages API tokens, members and notification channels and sees secret values
//! (monitor headers marked `secret`, channel configs); every other token reads them masked, in
//! the monitors, the channels and the config export, and a write that sends the mask back keeps
//! the stored value. A second tenant's admin token sees nothing of the first's.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;

const MASK: &str = "********";
const BEARER: &str = "Bearer very-secret-upstream-token-42";
const SLACK: &str = "https://hooks.slack.com/services/T000/B000/slack-secret-part";

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
    content_type: String,
    text: String,
    body: Value,
}

#[derive(Clone)]
struct Client {
    app: axum::Router,
    token: String,
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<String>,
    ) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type)
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            content_type,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, "application/json", None).await
    }

    async fn json(&self, method: &str, path: &str, body: Value) -> Reply {
        self.send(method, path, "application/json", Some(body.to_string()))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.json("POST", path, body).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, "application/json", None).await
    }

    /// Mints a token with these scopes (this client must be an admin).
    async fn mint(&self, scopes: &[&str]) -> Client {
        let reply = self
            .post(
                "/api/v1/api-tokens",
                json!({ "name": scopes.join("+"), "scopes": scopes }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.body["scopes"], json!(scopes));
        Client {
            app: self.app.clone(),
            token: reply.body["token"].as_str().unwrap().to_owned(),
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

fn monitor_body() -> Value {
    json!({
        "name": "API", "type": "http", "url": "https://api.example.com/health",
        "headers": [
            { "name": "accept", "value": "application/json" },
            { "name": "authorization", "value": BEARER, "secret": true }
        ]
    })
}

/// A monitor with a secret header and a Slack channel, made by the sign-up (admin) token.
async fn furnish(admin: &Client) -> (String, String) {
    let monitor = admin.post("/api/v1/monitors", monitor_body()).await;
    assert_eq!(monitor.status, StatusCode::CREATED, "{}", monitor.body);
    // The answer to a create is stored for Idempotency-Key replays: masked for everyone.
    assert_eq!(headers(&monitor.body), masked_headers());
    let channel = admin
        .post(
            "/api/v1/notification-channels",
            json!({ "name": "Ops", "kind": "slack", "config": { "webhook_url": SLACK } }),
        )
        .await;
    assert_eq!(channel.status, StatusCode::CREATED, "{}", channel.body);
    (
        monitor.body["id"].as_str().unwrap().to_owned(),
        channel.body["id"].as_str().unwrap().to_owned(),
    )
}

fn headers(monitor: &Value) -> Vec<(String, String, bool)> {
    monitor["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_owned(),
                h["value"].as_str().unwrap().to_owned(),
                h["secret"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn masked_headers() -> Vec<(String, String, bool)> {
    vec![
        ("accept".into(), "application/json".into(), false),
        ("authorization".into(), MASK.into(), true),
    ]
}

fn clear_headers() -> Vec<(String, String, bool)> {
    vec![
        ("accept".into(), "application/json".into(), false),
        ("authorization".into(), BEARER.into(), true),
    ]
}

/// Everything a token without `admin` reads, with the secrets masked and nowhere in clear.
async fn assert_sees_masked(who: &Client, monitor: &str, channel: &str) {
    let one = who.get(&format!("/api/v1/monitors/{monitor}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(headers(&one.body), masked_headers());
    let list = who.get("/api/v1/monitors").await;
    assert_eq!(headers(&list.body["items"][0]), masked_headers());
    let channel_one = who
        .get(&format!("/api/v1/notification-channels/{channel}"))
        .await;
    assert_eq!(channel_one.status, StatusCode::OK);
    assert_eq!(channel_one.body["config"], json!({ "webhook_url": MASK }));
    let channels = who.get("/api/v1/notification-channels").await;
    assert_eq!(
        channels.body["items"][0]["config"],
        json!({ "webhook_url": MASK })
    );
    let yaml = who.get("/api/v1/config").await;
    assert_eq!(yaml.status, StatusCode::OK);
    assert!(yaml.text.contains(MASK), "{}", yaml.text);
    let exported = who.get("/api/v1/config?format=json").await;
    assert_eq!(
        headers(&exported.body["monitors"][0]),
        masked_headers(),
        "{}",
        exported.body
    );
    for reply in [one, list, channel_one, channels, yaml, exported] {
        assert!(
            !reply.text.contains("very-secret-upstream-token"),
            "{}",
            reply.text
        );
        assert!(!reply.text.contains("slack-secret-part"), "{}", reply.text);
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn read_and_write_tokens_cannot_admin_nor_read_secrets(pool: PgPool) {
    let app = app(pool);
    let admin = tenant(&app, "acme").await;
    // The sign-up token has every scope.
    let tokens = admin.get("/api/v1/api-tokens").await;
    assert_eq!(
        tokens.body["items"][0]["scopes"],
        json!(["read", "write", "admin"])
    );
    let (monitor, channel) = furnish(&admin).await;
    let reader = admin.mint(&["read"]).await;
    let writer = admin.mint(&["read", "write"]).await;

    for who in [&reader, &writer] {
        // Minting tokens, adding members, creating channels: 403 problem+json naming the scope.
        for (path, body) in [
            (
                "/api/v1/api-tokens",
                json!({ "name": "escalate", "scopes": ["read", "write", "admin"] }),
            ),
            (
                "/api/v1/members",
                json!({ "email": "friend@example.com", "role": "owner" }),
            ),
            (
                "/api/v1/notification-channels",
                json!({ "name": "Mine", "kind": "webhook", "config": { "url": "https://evil.example/hook" } }),
            ),
        ] {
            let reply = who.post(path, body).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{path}: {}",
                reply.body
            );
            assert_eq!(reply.content_type, "application/problem+json");
            let detail = reply.body["detail"].as_str().unwrap();
            assert!(
                detail.contains("scope"),
                "{path}: the problem names the scope: {detail}"
            );
        }
        let patch = who
            .json(
                "PATCH",
                &format!("/api/v1/notification-channels/{channel}"),
                json!({ "config": { "webhook_url": "https://hooks.slack.com/services/evil/x/y" } }),
            )
            .await;
        assert_eq!(patch.status, StatusCode::FORBIDDEN, "{}", patch.body);
        let deleted = who
            .delete(&format!("/api/v1/notification-channels/{channel}"))
            .await;
        assert_eq!(deleted.status, StatusCode::FORBIDDEN);
        let first_token = tokens.body["items"][0]["id"].as_str().unwrap();
        let revoke = who
            .delete(&format!("/api/v1/api-tokens/{first_token}"))
            .await;
        assert_eq!(revoke.status, StatusCode::FORBIDDEN);

        assert_sees_masked(who, &monitor, &channel).await;
    }
    // Nothing changed: one member, the channel as it was, the sign-up token still works.
    let members = admin.get("/api/v1/members").await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 1);
    let kept = admin
        .get(&format!("/api/v1/notification-channels/{channel}"))
        .await;
    assert_eq!(kept.body["config"], json!({ "webhook_url": SLACK }));

    // A write token still writes what is not admin's.
    let component = writer
        .post("/api/v1/components", json!({ "name": "Web" }))
        .await;
    assert_eq!(component.status, StatusCode::CREATED, "{}", component.body);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_mask_sent_back_keeps_the_stored_secret(pool: PgPool) {
    let app = app(pool);
    let admin = tenant(&app, "acme").await;
    let (monitor, _) = furnish(&admin).await;
    let writer = admin.mint(&["read", "write"]).await;
    let path = format!("/api/v1/monitors/{monitor}");

    // PUT back what the write token read, with another interval: the secret stays.
    let mut read = writer.get(&path).await.body;
    assert_eq!(headers(&read), masked_headers());
    let object = read.as_object_mut().unwrap();
    for key in ["id", "version", "created_at", "updated_at"] {
        object.remove(key);
    }
    object.insert("interval_seconds".into(), json!(120));
    let put = writer.json("PUT", &path, read.clone()).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(
        headers(&put.body),
        masked_headers(),
        "the answer is masked too"
    );
    let stored = admin.get(&path).await;
    assert_eq!(stored.body["interval_seconds"], 120);
    assert_eq!(
        headers(&stored.body),
        clear_headers(),
        "the admin sees the value kept"
    );

    // The mask for a secret header the monitor does not have is refused, naming the field.
    read["headers"][0] = json!({ "name": "x-api-key", "value": MASK, "secret": true });
    let refused = writer.json("PUT", &path, read.clone()).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["errors"][0]["field"], "headers[0].value");
    let mut new = monitor_body();
    new["name"] = json!("Other");
    new["headers"][1]["value"] = json!(MASK);
    let refused = writer.post("/api/v1/monitors", new).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["errors"][0]["field"], "headers[1].value");

    // A write token may set a new secret it then cannot read back.
    read["headers"] =
        json!([{ "name": "authorization", "value": "Bearer rotated-0001", "secret": true }]);
    let rotated = writer.json("PUT", &path, read).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["headers"][0]["value"], MASK);
    let stored = admin.get(&path).await;
    assert_eq!(stored.body["headers"][0]["value"], "Bearer rotated-0001");

    // The current form (no `secret`) still works and is shown in clear to everyone.
    let plain = writer
        .post(
            "/api/v1/monitors",
            json!({ "name": "Plain", "type": "http", "url": "https://example.com",
                    "headers": [{ "name": "x-env", "value": "prod" }] }),
        )
        .await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.body);
    assert_eq!(
        plain.body["headers"],
        json!([{ "name": "x-env", "value": "prod" }])
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_masked_export_imports_back_without_losing_the_secret(pool: PgPool) {
    let app = app(pool);
    let admin = tenant(&app, "acme").await;
    let (monitor, _) = furnish(&admin).await;
    let writer = admin.mint(&["read", "write"]).await;
    let reader = admin.mint(&["read"]).await;

    let yaml = writer.get("/api/v1/config").await.text;
    assert!(
        yaml.contains(MASK) && !yaml.contains("very-secret"),
        "{yaml}"
    );
    let plan = writer
        .send(
            "POST",
            "/api/v1/config?dry_run=false",
            "application/yaml",
            Some(yaml.clone()),
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    assert_eq!(
        plan.body["monitors"]["unchanged"],
        json!(["API"]),
        "{}",
        plan.body
    );
    let stored = admin.get(&format!("/api/v1/monitors/{monitor}")).await;
    assert_eq!(headers(&stored.body), clear_headers());

    // A dry run cannot tell a token without `admin` whether a guess is the stored value: a
    // secret given in clear is always a change.
    let guessed = yaml.replace(MASK, BEARER);
    assert!(guessed.contains(BEARER));
    for who in [&reader, &writer] {
        let plan = who
            .send(
                "POST",
                "/api/v1/config?dry_run=true",
                "application/yaml",
                Some(guessed.clone()),
            )
            .await;
        assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
        assert_eq!(
            plan.body["monitors"]["update"][0]["name"], "API",
            "{}",
            plan.body
        );
        assert_eq!(
            plan.body["monitors"]["update"][0]["changes"],
            json!(["headers"])
        );
    }
    // The admin sees the truth.
    let plan = admin
        .send(
            "POST",
            "/api/v1/config?dry_run=true",
            "application/yaml",
            Some(guessed),
        )
        .await;
    assert_eq!(
        plan.body["monitors"]["unchanged"],
        json!(["API"]),
        "{}",
        plan.body
    );
    // The admin's export has the value in clear.
    let exported = admin.get("/api/v1/config?format=json").await;
    assert_eq!(headers(&exported.body["monitors"][0]), clear_headers());
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn an_admin_token_does_it_all_in_its_own_tenant_only(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    let (monitor, channel) = furnish(&acme).await;
    // A minted admin token (not just the sign-up one) manages tokens, members and channels.
    let admin = acme.mint(&["read", "write", "admin"]).await;
    let minted = admin.mint(&["read"]).await;
    assert_eq!(minted.get("/api/v1/monitors").await.status, StatusCode::OK);
    let member = admin
        .post(
            "/api/v1/members",
            json!({ "email": "friend@example.com", "role": "editor" }),
        )
        .await;
    assert_eq!(member.status, StatusCode::CREATED, "{}", member.body);
    let created = admin
        .post(
            "/api/v1/notification-channels",
            json!({ "name": "Mail", "kind": "email", "config": { "to": ["ops@acme.example"] } }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let one = admin.get(&format!("/api/v1/monitors/{monitor}")).await;
    assert_eq!(headers(&one.body), clear_headers());
    let channel_one = admin
        .get(&format!("/api/v1/notification-channels/{channel}"))
        .await;
    assert_eq!(channel_one.body["config"], json!({ "webhook_url": SLACK }));

    // Scopes nest: admin without write, or write without read, is not a set.
    for scopes in [
        json!(["read", "admin"]),
        json!(["admin"]),
        json!(["write", "admin"]),
    ] {
        let reply = admin
            .post(
                "/api/v1/api-tokens",
                json!({ "name": "odd", "scopes": scopes }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{scopes}");
        assert_eq!(reply.body["errors"][0]["field"], "scopes", "{scopes}");
    }

    // A second tenant's admin token sees nothing of the first's.
    let globex = tenant(&app, "globex").await;
    for path in [
        format!("/api/v1/monitors/{monitor}"),
        format!("/api/v1/notification-channels/{channel}"),
    ] {
        let reply = globex.get(&path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!reply.text.contains("very-secret") && !reply.text.contains("slack-secret"));
    }
    for path in [
        "/api/v1/monitors",
        "/api/v1/notification-channels",
        "/api/v1/members",
        "/api/v1/api-tokens",
        "/api/v1/config?format=json",
    ] {
        let reply = globex.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        for leak in ["very-secret", "slack-secret", "friend@example.com", "acme"] {
            assert!(
                !reply.text.contains(leak),
                "{path} shows {leak}: {}",
                reply.text
            );
        }
    }
    let patch = globex
        .json(
            "PATCH",
            &format!("/api/v1/notification-channels/{channel}"),
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
    let still = acme
        .get(&format!("/api/v1/notification-channels/{channel}"))
        .await;
    assert_eq!(still.body["enabled"], true);
}

/// Upgrading: tokens that could write (the sign-up token among them) could already do all that
/// `admin` now guards, so they keep it; read-only tokens stay read-only; a token inserted
/// without scopes from now on gets only `read`.
#[sqlx::test(migrations = false)]
async fn existing_write_tokens_get_admin_on_upgrade(pool: PgPool) {
    let (before, rest): (Vec<_>, Vec<_>) = api::MIGRATOR.iter().partition(|m| m.version < 8);
    for migration in before {
        sqlx::raw_sql(&migration.sql).execute(&pool).await.unwrap();
    }
    let tenant = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO tenants (id, slug, name, slug_skeleton) VALUES ($1, 'old', 'Old', 'old')",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    for (name, scopes) in [
        ("default", None),
        ("ci", Some(vec!["read", "write"])),
        ("dash", Some(vec!["read"])),
    ] {
        sqlx::query(
            "INSERT INTO api_tokens (id, tenant_id, name, prefix, token_hash, scopes) \
             VALUES ($1, $2, $3, 'sp_x', $4, coalesce($5, '{read,write}'))",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(tenant)
        .bind(name)
        .bind(name.as_bytes())
        .bind(scopes)
        .execute(&pool)
        .await
        .unwrap();
    }
    let upgrade = rest
        .iter()
        .find(|m| m.version == 8)
        .expect("migration 0008");
    sqlx::raw_sql(&upgrade.sql).execute(&pool).await.unwrap();
    let scopes: Vec<(String, Vec<String>)> =
        sqlx::query_as("SELECT name, scopes FROM api_tokens ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    let strings = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        scopes,
        [
            ("ci".to_owned(), strings(&["read", "write", "admin"])),
            ("dash".to_owned(), strings(&["read"])),
            ("default".to_owned(), strings(&["read", "write", "admin"])),
        ]
    );
    sqlx::query("INSERT INTO api_tokens (id, tenant_id, name, prefix, token_hash) VALUES ($1, $2, 'new', 'sp_y', 'new')")
        .bind(uuid::Uuid::new_v4())
        .bind(tenant)
        .execute(&pool)
        .await
        .unwrap();
    let fresh: Vec<String> = sqlx::query_scalar("SELECT scopes FROM api_tokens WHERE name = 'new'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(fresh, ["read"]);
}
