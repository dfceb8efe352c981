//! Squatting and abuse against a real PostgreSQL (and a DNS server on loopback): plan limits
//! under concurrent creates, the per-tenant bounds, custom-domain claims that lapse and never
//! block a verified owner, the periodic re-check of verified domains, and the sign-up limit per
//! client.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::net::SocketAddr;
use tower::ServiceExt;

fn state(pool: PgPool, resolver: Option<SocketAddr>) -> AppState {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into(), "us".into()],
            open_signup: true,
        },
    )
    .with_domain_resolver(resolver.map(|r| r.to_string()))
}

fn app(pool: PgPool) -> axum::Router {
    api::router(state(pool, None))
}

struct Reply {
    status: StatusCode,
    retry_after: Option<String>,
    content_type: String,
    body: Value,
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    client: Option<SocketAddr>,
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    if let Some(client) = client {
        // What `into_make_service_with_connect_info` puts there for a real connection.
        request.extensions_mut().insert(ConnectInfo(client));
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let (retry_after, content_type) = {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        (header("retry-after"), header("content-type"))
    };
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        retry_after,
        content_type: content_type.unwrap_or_default(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

#[derive(Clone)]
struct Tenant {
    app: axum::Router,
    token: String,
    id: uuid::Uuid,
}

impl Tenant {
    async fn post(&self, path: &str, body: Value) -> Reply {
        send(&self.app, "POST", path, Some(&self.token), None, Some(body)).await
    }
    async fn patch(&self, path: &str, body: Value) -> Reply {
        send(
            &self.app,
            "PATCH",
            path,
            Some(&self.token),
            None,
            Some(body),
        )
        .await
    }
    async fn get(&self, path: &str) -> Reply {
        send(&self.app, "GET", path, Some(&self.token), None, None).await
    }
    /// Creates and returns the new row's id (empty when the answer wraps the row).
    async fn create(&self, path: &str, body: Value) -> String {
        let reply = self.post(path, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.body);
        reply.body["id"].as_str().unwrap_or_default().to_owned()
    }
}

fn signup_body(slug: &str) -> Value {
    json!({ "slug": slug, "name": slug, "email": format!("{slug}@example.com") })
}

async fn tenant(app: &axum::Router, slug: &str) -> Tenant {
    let reply = send(
        app,
        "POST",
        "/api/v1/tenants",
        None,
        None,
        Some(signup_body(slug)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    Tenant {
        app: app.clone(),
        token: reply.body["api_token"].as_str().unwrap().to_owned(),
        id: reply.body["tenant"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    }
}

/// A 403 problem+json whose `limit` member and detail name the bound.
fn assert_limit(reply: &Reply, limit: &str) {
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "{limit}: {}",
        reply.body
    );
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(reply.body["limit"], limit, "{}", reply.body);
    assert!(
        reply.body["detail"].as_str().unwrap().contains(limit),
        "{}",
        reply.body
    );
}

fn monitor(name: &str) -> Value {
    json!({ "name": name, "type": "http", "url": "https://example.com/", "interval_seconds": 60 })
}

// ---- plan limits under concurrency ----

/// `n` creates at once; how many answered 201, and every other answer's status.
async fn concurrent_creates(
    tenant: &Tenant,
    path: &str,
    body: impl Fn(usize) -> Value,
    n: usize,
) -> (usize, Vec<Reply>) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let tenant = tenant.clone();
            let path = path.to_owned();
            let body = body(i);
            tokio::spawn(async move { tenant.post(&path, body).await })
        })
        .collect();
    let mut created = 0;
    let mut refused = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == StatusCode::CREATED {
            created += 1;
        } else {
            refused.push(reply);
        }
    }
    (created, refused)
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn concurrent_monitor_creates_stop_at_the_plan_limit(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    sqlx::query("UPDATE tenants SET max_monitors = 5")
        .execute(&pool)
        .await
        .unwrap();
    let (created, refused) =
        concurrent_creates(&acme, "/api/v1/monitors", |i| monitor(&format!("m{i}")), 30).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM monitors")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((created, stored), (5, 5));
    for reply in &refused {
        assert_limit(reply, "max_monitors");
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn concurrent_component_and_incident_creates_stop_at_their_limits(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    sqlx::query("UPDATE tenants SET max_components = 5, max_open_incidents = 3")
        .execute(&pool)
        .await
        .unwrap();
    let (created, refused) = concurrent_creates(
        &acme,
        "/api/v1/components",
        |i| json!({ "name": format!("c{i}") }),
        30,
    )
    .await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM components")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((created, stored), (5, 5));
    for reply in &refused {
        assert_limit(reply, "max_components");
    }

    let (created, refused) = concurrent_creates(
        &acme,
        "/api/v1/incidents",
        |i| json!({ "title": format!("outage {i}"), "message": "looking" }),
        20,
    )
    .await;
    assert_eq!(created, 3);
    for reply in &refused {
        assert_limit(reply, "max_open_incidents");
    }
}

// ---- per-tenant bounds ----

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn every_per_tenant_bound_is_a_403_naming_it(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let globex = tenant(&app, "globex").await;
    // One of each for acme (the owner is one member, the sign-up token one token).
    sqlx::query(
        "UPDATE tenants SET max_component_groups = 1, max_incidents = 2, max_open_incidents = 1, \
         max_updates_per_incident = 2, max_maintenances = 1, max_subscribers = 1, max_channels = 1, \
         max_api_tokens = 2, max_members = 2 WHERE slug = 'acme'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let maintenance = |title: &str| {
        json!({ "title": title, "starts_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
                "ends_at": (now + chrono::Duration::hours(2)).to_rfc3339() })
    };
    let subscriber =
        |n: u32| json!({ "kind": "webhook", "target": format!("https://example.com/hook/{n}") });
    let channel = |name: &str| json!({ "name": name, "kind": "webhook", "config": { "url": "https://example.com/hooks/ops" } });
    let member = |email: &str| json!({ "email": email, "role": "viewer" });
    let cases: Vec<(&str, &str, Value, Value)> = vec![
        (
            "max_component_groups",
            "/api/v1/component-groups",
            json!({ "name": "A" }),
            json!({ "name": "B" }),
        ),
        (
            "max_maintenances",
            "/api/v1/maintenances",
            maintenance("one"),
            maintenance("two"),
        ),
        (
            "max_subscribers",
            "/api/v1/subscribers",
            subscriber(1),
            subscriber(2),
        ),
        (
            "max_channels",
            "/api/v1/notification-channels",
            channel("one"),
            channel("two"),
        ),
        (
            "max_api_tokens",
            "/api/v1/api-tokens",
            json!({ "name": "ci", "scopes": ["read"] }),
            json!({ "name": "cd", "scopes": ["read"] }),
        ),
        (
            "max_members",
            "/api/v1/members",
            member("dev@acme.example"),
            member("ops@acme.example"),
        ),
    ];
    for (limit, path, first, second) in &cases {
        acme.create(path, first.clone()).await;
        assert_limit(&acme.post(path, second.clone()).await, limit);
        // The bound is acme's: globex creates the same rows (members with its own addresses: an
        // address with an account joins another tenant only by invitation).
        let theirs = |v: &Value| -> Value {
            serde_json::from_str(&v.to_string().replace("@acme.example", "@globex.example"))
                .unwrap()
        };
        globex.create(path, theirs(first)).await;
        globex.create(path, theirs(second)).await;
    }

    // Incidents: one open at a time, two in all, two timeline entries each.
    let open = acme
        .create(
            "/api/v1/incidents",
            json!({ "title": "down", "message": "looking" }),
        )
        .await;
    assert_limit(
        &acme
            .post(
                "/api/v1/incidents",
                json!({ "title": "also down", "message": "x" }),
            )
            .await,
        "max_open_incidents",
    );
    let update = |status: &str| json!({ "status": status, "message": "update" });
    let updates = format!("/api/v1/incidents/{open}/updates");
    assert_eq!(
        acme.post(&updates, update("resolved")).await.status,
        StatusCode::CREATED
    );
    assert_limit(
        &acme.post(&updates, update("monitoring")).await,
        "max_updates_per_incident",
    );
    let blip = acme
        .create(
            "/api/v1/incidents",
            json!({ "title": "blip", "message": "over", "status": "investigating" }),
        )
        .await;
    assert_limit(
        &acme
            .post(
                "/api/v1/incidents",
                json!({ "title": "old", "message": "x", "status": "resolved" }),
            )
            .await,
        "max_incidents",
    );
    // Reopening a resolved incident counts as opening one.
    sqlx::query("UPDATE tenants SET max_updates_per_incident = 10, max_open_incidents = 2 WHERE slug = 'acme'")
        .execute(&pool)
        .await
        .unwrap();
    let second_updates = format!("/api/v1/incidents/{blip}/updates");
    assert_eq!(
        acme.post(&second_updates, update("resolved")).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        acme.post(&updates, update("investigating")).await.status,
        StatusCode::CREATED
    );
    sqlx::query("UPDATE tenants SET max_open_incidents = 1 WHERE slug = 'acme'")
        .execute(&pool)
        .await
        .unwrap();
    assert_limit(
        &acme.post(&second_updates, update("identified")).await,
        "max_open_incidents",
    );

    // A revoked token no longer counts.
    let tokens = acme.get("/api/v1/api-tokens").await;
    let ci = tokens.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = send(
        &app,
        "DELETE",
        &format!("/api/v1/api-tokens/{ci}"),
        Some(&acme.token),
        None,
        None,
    )
    .await;
    assert!(revoked.status.is_success(), "{}", revoked.body);
    acme.create(
        "/api/v1/api-tokens",
        json!({ "name": "cd", "scopes": ["read"] }),
    )
    .await;
}

// ---- custom domains ----

/// A DNS server on loopback answering every TXT question with `txt` (NXDOMAIN when empty).
async fn txt_server(txt: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let query = &buf[..n];
            // Header (12 bytes), then the question: labels, 0, type, class.
            let mut end = 12;
            while query[end] != 0 {
                end += 1 + query[end] as usize;
            }
            let question = &query[12..end + 5];
            let records = txt.lock().unwrap().clone();
            let mut reply = Vec::new();
            reply.extend_from_slice(&query[..2]);
            let rcode = if records.is_empty() { 3 } else { 0 };
            reply.extend_from_slice(&[0x81, 0x80 | rcode]);
            reply.extend_from_slice(&[0, 1, 0, records.len() as u8, 0, 0, 0, 0]);
            reply.extend_from_slice(question);
            for record in &records {
                reply.extend_from_slice(&[0xC0, 0x0C, 0, 16, 0, 1, 0, 0, 0, 60]);
                reply.extend_from_slice(&((record.len() + 1) as u16).to_be_bytes());
                reply.push(record.len() as u8);
                reply.extend_from_slice(record.as_bytes());
            }
            let _ = socket.send_to(&reply, peer).await;
        }
    });
    addr
}

type Records = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

async fn dns_app(pool: PgPool) -> (axum::Router, Records, SocketAddr) {
    let records = Records::default();
    let dns = txt_server(records.clone()).await;
    (api::router(state(pool, Some(dns))), records, dns)
}

const DOMAIN: &str = "status.acme-corp.com";

/// Claims `DOMAIN` and returns the TXT value to publish.
async fn claim(tenant: &Tenant) -> String {
    let set = tenant
        .patch("/api/v1/status-page", json!({ "custom_domain": DOMAIN }))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["domain_verified_at"], Value::Null);
    assert!(
        set.body["domain_claim_expires_at"].is_string(),
        "{}",
        set.body
    );
    set.body["domain_verification"]["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn verify(tenant: &Tenant) -> Reply {
    tenant
        .post("/api/v1/status-page/verify-domain", json!({}))
        .await
}

async fn serves(pool: &PgPool, domain: &str) -> Option<uuid::Uuid> {
    api::status_page::domains::tenant_by_custom_domain(pool, domain)
        .await
        .unwrap()
        .map(|t| t.id)
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn an_unverified_claim_never_blocks_the_owner_and_lapses(pool: PgPool) {
    let (app, records, _) = dns_app(pool.clone()).await;
    let squatter = tenant(&app, "squatter").await;
    let owner = tenant(&app, "owner").await;
    let third = tenant(&app, "third").await;

    // The squatter claims first and never proves anything; the owner claims and verifies anyway.
    let squatter_value = claim(&squatter).await;
    let owner_value = claim(&owner).await;
    assert_ne!(squatter_value, owner_value);
    records.lock().unwrap().push(owner_value);
    let verified = verify(&owner).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(serves(&pool, DOMAIN).await, Some(owner.id));

    // The squatter's claim is gone, and it says so in the squatter's audit log.
    let page = squatter.get("/api/v1/status-page").await;
    assert_eq!(page.body["custom_domain"], Value::Null, "{}", page.body);
    let log = squatter.get("/api/v1/audit-log").await;
    let entry = &log.body["items"][0];
    assert_eq!(
        (entry["actor"].as_str(), entry["action"].as_str()),
        (Some("system"), Some("release")),
        "{}",
        log.body
    );
    // A verified domain cannot be claimed by anyone else.
    let taken = third
        .patch("/api/v1/status-page", json!({ "custom_domain": DOMAIN }))
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(taken.body["errors"][0]["field"], "custom_domain");

    // An expired claim: verifying it is refused, the sweep releases it, and it never blocked
    // another tenant from claiming and verifying.
    sqlx::query("UPDATE status_pages SET custom_domain = NULL, domain_verified_at = NULL")
        .execute(&pool)
        .await
        .unwrap();
    let stale_value = claim(&squatter).await;
    sqlx::query(
        "UPDATE status_pages SET domain_claimed_at = now() - interval '73 hours' WHERE custom_domain IS NOT NULL",
    )
    .execute(&pool)
    .await
    .unwrap();
    records.lock().unwrap().push(stale_value);
    let lapsed = verify(&squatter).await;
    assert_eq!(
        lapsed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        lapsed.body
    );
    assert!(
        lapsed.body["detail"].as_str().unwrap().contains("lapsed"),
        "{}",
        lapsed.body
    );
    let third_value = claim(&third).await;
    records.lock().unwrap().push(third_value);
    assert_eq!(verify(&third).await.status, StatusCode::OK);
    assert_eq!(serves(&pool, DOMAIN).await, Some(third.id));

    // The sweep releases a lapsed claim that nobody else verified.
    sqlx::query("UPDATE status_pages SET custom_domain = NULL, domain_verified_at = NULL")
        .execute(&pool)
        .await
        .unwrap();
    claim(&squatter).await;
    sqlx::query(
        "UPDATE status_pages SET domain_claimed_at = now() - interval '73 hours' WHERE custom_domain IS NOT NULL",
    )
    .execute(&pool)
    .await
    .unwrap();
    let summary = api::status_page::domains::recheck_domains(&pool, None, &Default::default())
        .await
        .unwrap();
    assert_eq!(summary.lapsed, 1, "{summary:?}");
    let page = squatter.get("/api/v1/status-page").await;
    assert_eq!(page.body["custom_domain"], Value::Null, "{}", page.body);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_verified_domain_whose_record_is_gone_is_unverified_after_the_grace(pool: PgPool) {
    let (app, records, dns) = dns_app(pool.clone()).await;
    let owner = tenant(&app, "owner").await;
    let value = claim(&owner).await;
    records.lock().unwrap().push(value.clone());
    assert_eq!(verify(&owner).await.status, StatusCode::OK);
    let policy = api::status_page::domains::RecheckPolicy {
        every: std::time::Duration::ZERO,
        grace_failures: 2,
        batch: 10,
    };
    let resolver = dns.to_string();
    let recheck = || api::status_page::domains::recheck_domains(&pool, Some(&resolver), &policy);

    // Still there: nothing changes.
    let summary = recheck().await.unwrap();
    assert_eq!(
        (summary.checked, summary.missing, summary.unverified),
        (1, 0, 0)
    );
    // Gone once: within the grace, still served.
    records.lock().unwrap().clear();
    let summary = recheck().await.unwrap();
    assert_eq!(
        (summary.checked, summary.missing, summary.unverified),
        (1, 1, 0)
    );
    assert_eq!(serves(&pool, DOMAIN).await, Some(owner.id));
    // Back again: the count starts over.
    records.lock().unwrap().push(value.clone());
    recheck().await.unwrap();
    records.lock().unwrap().clear();
    let summary = recheck().await.unwrap();
    assert_eq!(summary.unverified, 0, "{summary:?}");
    // Gone twice in a row: unverified, audited, no longer served.
    let summary = recheck().await.unwrap();
    assert_eq!((summary.missing, summary.unverified), (1, 1), "{summary:?}");
    assert_eq!(serves(&pool, DOMAIN).await, None);
    let page = owner.get("/api/v1/status-page").await;
    assert_eq!(page.body["custom_domain"], DOMAIN);
    assert_eq!(page.body["domain_verified_at"], Value::Null);
    assert_eq!(page.body["domain_verification"]["value"], value.as_str());
    let log = owner.get("/api/v1/audit-log").await;
    assert_eq!(log.body["items"][0]["action"], "unverify", "{}", log.body);
    assert_eq!(log.body["items"][0]["actor"], "system");

    // Publishing the same record again and verifying restores it.
    records.lock().unwrap().push(value);
    assert_eq!(verify(&owner).await.status, StatusCode::OK);
    assert_eq!(serves(&pool, DOMAIN).await, Some(owner.id));

    // A resolver that does not answer is no evidence: nothing is counted.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = silent.local_addr().unwrap().to_string();
    let summary = api::status_page::domains::recheck_domains(&pool, Some(&silent), &policy)
        .await
        .unwrap();
    assert_eq!(
        (summary.inconclusive, summary.missing),
        (1, 0),
        "{summary:?}"
    );
}

// ---- sign-up ----

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn sign_up_is_limited_per_client(pool: PgPool) {
    let app = app(pool.clone());
    let noisy: SocketAddr = "203.0.113.7:50000".parse().unwrap();
    // Another port of the same address, and another host of the same IPv6 /64, are one client.
    let noisy_again: SocketAddr = "203.0.113.7:50001".parse().unwrap();
    let quiet: SocketAddr = "198.51.100.20:40000".parse().unwrap();
    let signup = |slug: String, client: SocketAddr| {
        let app = app.clone();
        async move {
            send(
                &app,
                "POST",
                "/api/v1/tenants",
                None,
                Some(client),
                Some(signup_body(&slug)),
            )
            .await
        }
    };
    // Concurrent sign-ups from one client: exactly the allowance gets through.
    let tasks: Vec<_> = (0..12)
        .map(|i| tokio::spawn(signup(format!("tenant-{i}"), noisy)))
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count() as i64;
    assert_eq!(created, api::accounts::tenancy::SIGNUP_MAX_PER_CLIENT);
    for reply in statuses.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.body
        );
        assert_eq!(reply.content_type, "application/problem+json");
        let retry: u64 = reply.retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
    }
    let refused = signup("late".into(), noisy_again).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    // Another client still signs up.
    let other = signup("quiet".into(), quiet).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    // A failed sign-up (a taken slug) gives its place back.
    assert_eq!(
        signup("quiet".into(), quiet).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let counted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM signup_attempts WHERE client = '198.51.100.20'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(counted, 1);
    // Once the window has passed, the noisy client may sign up again.
    sqlx::query("UPDATE signup_attempts SET at = at - interval '61 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        signup("later".into(), noisy).await.status,
        StatusCode::CREATED
    );
}
