//! The tenant model over `/api/v1` against a real PostgreSQL: incidents, maintenance, components
//! and groups; pagination, ETag / If-Match, Idempotency-Key, scopes, plan limits, the audit log;
//! and every endpoint tried from a second tenant.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use http_body_util::BodyExt;
use serde_json::{json, Value};
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
        let response = self.app.clone().oneshot(request).await.unwrap();
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
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, &[], Some(body)).await
    }

    /// Creates and returns the new row's id.
    async fn create(&self, path: &str, body: Value) -> String {
        let reply = self.post(path, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
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

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn an_incident_runs_its_course(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    let web = acme
        .create("/api/v1/components", json!({ "name": "Web" }))
        .await;
    let api = acme
        .create("/api/v1/components", json!({ "name": "API" }))
        .await;

    let created = acme
        .post(
            "/api/v1/incidents",
            json!({
                "title": "Elevated errors",
                "impact": "major",
                "message": "We are looking into errors on the web app.",
                "components": [{ "component_id": web, "status": "partial_outage" }]
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.etag.as_deref(), Some("\"v1\""));
    let incident = &created.body;
    let id = incident["id"].as_str().unwrap();
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["resolved_at"], Value::Null);
    assert_eq!(incident["components"][0]["status"], "partial_outage");
    assert_eq!(incident["updates"].as_array().unwrap().len(), 1);

    // The timeline grows; a stale If-Match is refused and changes nothing.
    let update = json!({ "status": "identified", "message": "A bad deploy; rolling back.",
                         "components": [{ "component_id": web, "status": "partial_outage" },
                                        { "component_id": api, "status": "degraded_performance" }] });
    let reply = acme
        .send(
            "POST",
            &format!("/api/v1/incidents/{id}/updates"),
            &[("if-match", "\"v1\"")],
            Some(update.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.etag.as_deref(), Some("\"v2\""));
    assert_eq!(reply.body["components"].as_array().unwrap().len(), 2);
    let stale = acme
        .send(
            "POST",
            &format!("/api/v1/incidents/{id}/updates"),
            &[("if-match", "\"v1\"")],
            Some(update),
        )
        .await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.body
    );
    assert_eq!(stale.content_type, "application/problem+json");
    assert_eq!(
        acme.get(&format!("/api/v1/incidents/{id}")).await.body["updates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Still active; then resolved, which frees the components.
    let active = acme.get("/api/v1/incidents?status=active").await;
    assert_eq!(active.body["items"].as_array().unwrap().len(), 1);
    let resolved = acme
        .post(
            &format!("/api/v1/incidents/{id}/updates"),
            json!({ "status": "resolved", "message": "Rolled back; all good." }),
        )
        .await;
    assert_eq!(resolved.status, StatusCode::CREATED);
    assert_eq!(resolved.body["status"], "resolved");
    assert!(resolved.body["resolved_at"].is_string());
    assert!(resolved.body["components"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "operational"));
    assert_eq!(
        resolved.body["updates"][0]["message"],
        "Rolled back; all good."
    );
    let active = acme.get("/api/v1/incidents?status=active").await;
    assert_eq!(active.body["items"], json!([]));
    let by_status = acme
        .get("/api/v1/incidents?status=resolved&impact=major")
        .await;
    assert_eq!(by_status.body["items"].as_array().unwrap().len(), 1);
    let bad = acme.get("/api/v1/incidents?status=sideways").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&bad.body), ["status"]);

    // PATCH with the current ETag; then delete.
    let current = acme.get(&format!("/api/v1/incidents/{id}")).await;
    let etag = current.etag.unwrap();
    let patched = acme
        .send(
            "PATCH",
            &format!("/api/v1/incidents/{id}"),
            &[("if-match", &etag)],
            Some(json!({ "title": "Errors on web" })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["title"], "Errors on web");
    assert_eq!(patched.body["impact"], "major");
    let gone = acme
        .send("DELETE", &format!("/api/v1/incidents/{id}"), &[], None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        acme.get(&format!("/api/v1/incidents/{id}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Bad input names the fields.
    let bad = acme
        .post(
            "/api/v1/incidents",
            json!({ "title": "", "message": "x", "started_at": (Utc::now() + Duration::days(1)).to_rfc3339(),
                    "components": [{ "component_id": web, "status": "major_outage" },
                                   { "component_id": web, "status": "major_outage" }] }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&bad.body),
        ["title", "started_at", "components[1].component_id"]
    );
    let unknown = acme
        .post(
            "/api/v1/incidents",
            json!({ "title": "x", "message": "x", "severity": 3 }),
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused: {}",
        unknown.body
    );
    assert_eq!(fields(&unknown.body), ["severity"]);
    let nul = acme
        .post(
            "/api/v1/incidents",
            json!({ "title": "x", "message": "a\u{0}b" }),
        )
        .await;
    assert_eq!(
        nul.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "NUL never reaches PostgreSQL: {}",
        nul.body
    );
    assert_eq!(fields(&nul.body), ["message"]);
    // C1 controls too: a YAML export could not carry them.
    let c1 = acme
        .post("/api/v1/components", json!({ "name": "Web\u{95}" }))
        .await;
    assert_eq!(c1.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", c1.body);
    assert_eq!(fields(&c1.body), ["name"]);
    let typed = acme
        .post(
            "/api/v1/incidents",
            json!({ "title": "x", "message": "m", "impact": 3 }),
        )
        .await;
    assert_eq!(
        fields(&typed.body),
        ["impact"],
        "type errors name the field"
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn maintenance_follows_the_clock(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    let db = acme
        .create("/api/v1/components", json!({ "name": "Database" }))
        .await;
    let now = Utc::now();
    let running = acme
        .post(
            "/api/v1/maintenances",
            json!({ "title": "Database upgrade", "starts_at": (now - Duration::minutes(5)).to_rfc3339(),
                    "ends_at": (now + Duration::hours(1)).to_rfc3339(), "component_ids": [db] }),
        )
        .await;
    assert_eq!(running.status, StatusCode::CREATED, "{}", running.body);
    assert_eq!(running.body["status"], "in_progress");
    assert_eq!(running.body["component_ids"], json!([db]));
    let later = acme
        .post(
            "/api/v1/maintenances",
            json!({ "title": "Network work", "starts_at": (now + Duration::days(2)).to_rfc3339(),
                    "ends_at": (now + Duration::days(2) + Duration::hours(2)).to_rfc3339() }),
        )
        .await;
    assert_eq!(later.body["status"], "scheduled");
    let manual = acme
        .post(
            "/api/v1/maintenances",
            json!({ "title": "Manual", "auto_transition": false, "starts_at": (now - Duration::hours(3)).to_rfc3339(),
                    "ends_at": (now - Duration::hours(2)).to_rfc3339() }),
        )
        .await;
    assert_eq!(
        manual.body["status"], "scheduled",
        "no auto transition: stays as set"
    );

    let active = acme.get("/api/v1/maintenances?status=active").await;
    let titles: Vec<&str> = active.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Database upgrade"]);
    let upcoming = acme.get("/api/v1/maintenances?status=upcoming").await;
    assert_eq!(upcoming.body["items"].as_array().unwrap().len(), 2);

    // Verifying by hand, then moving the end into the past completes it.
    let id = running.body["id"].as_str().unwrap();
    let verifying = acme
        .send(
            "PATCH",
            &format!("/api/v1/maintenances/{id}"),
            &[],
            Some(json!({ "status": "verifying" })),
        )
        .await;
    assert_eq!(verifying.body["status"], "verifying");
    let ended = acme
        .send(
            "PATCH",
            &format!("/api/v1/maintenances/{id}"),
            &[],
            Some(json!({ "ends_at": (now - Duration::minutes(1)).to_rfc3339() })),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["status"], "completed");
    let backwards = acme
        .send(
            "PATCH",
            &format!("/api/v1/maintenances/{id}"),
            &[],
            Some(json!({ "ends_at": (now - Duration::hours(1)).to_rfc3339() })),
        )
        .await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&backwards.body), ["ends_at"]);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn lists_page_with_cursors(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    for i in 0..5 {
        acme.create(
            "/api/v1/incidents",
            json!({ "title": format!("Incident {i}"), "message": "m" }),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/incidents?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = acme.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["title"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/incidents?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        [
            "Incident 4",
            "Incident 3",
            "Incident 2",
            "Incident 1",
            "Incident 0"
        ]
    );
    let bad = acme.get("/api/v1/incidents?cursor=garbage").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&bad.body), ["cursor"]);
    let bad = acme.get("/api/v1/monitors?limit=0").await;
    assert_eq!(fields(&bad.body), ["limit"]);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn idempotency_keys_replay_creates(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    let body = json!({ "title": "Outage", "message": "Looking into it" });
    let first = acme
        .send(
            "POST",
            "/api/v1/incidents",
            &[("idempotency-key", "k-1")],
            Some(body.clone()),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.replayed);
    let again = acme
        .send(
            "POST",
            "/api/v1/incidents",
            &[("idempotency-key", "k-1")],
            Some(body),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert!(again.replayed);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(
        acme.get("/api/v1/incidents").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let other = acme
        .send(
            "POST",
            "/api/v1/incidents",
            &[("idempotency-key", "k-1")],
            Some(json!({ "title": "Else", "message": "m" })),
        )
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&other.body), ["Idempotency-Key"]);
    // A failed create does not burn the key.
    let failed = acme
        .send(
            "POST",
            "/api/v1/components",
            &[("idempotency-key", "k-2")],
            Some(json!({ "name": "" })),
        )
        .await;
    assert_eq!(failed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fixed = acme
        .send(
            "POST",
            "/api/v1/components",
            &[("idempotency-key", "k-2")],
            Some(json!({ "name": "" })),
        )
        .await;
    assert!(!fixed.replayed, "errors are not stored");
    // Keys are per tenant.
    let globex = tenant(&app, "globex").await;
    let theirs = globex
        .send(
            "POST",
            "/api/v1/incidents",
            &[("idempotency-key", "k-1")],
            Some(json!({ "title": "Outage", "message": "Looking into it" })),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert!(!theirs.replayed);
    assert_ne!(theirs.body["id"], first.body["id"]);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn scopes_and_plan_limits_are_enforced(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    sqlx::query(
        "UPDATE tenants SET max_monitors = 1, min_interval_seconds = 60, max_components = 1",
    )
    .execute(&pool)
    .await
    .unwrap();
    let monitor = |name: &str, interval: i32| json!({ "name": name, "type": "http", "url": "https://example.com/", "interval_seconds": interval });
    let fast = acme.post("/api/v1/monitors", monitor("Fast", 30)).await;
    assert_eq!(fast.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&fast.body), ["interval_seconds"]);
    acme.create("/api/v1/monitors", monitor("One", 60)).await;
    let two = acme.post("/api/v1/monitors", monitor("Two", 60)).await;
    assert_eq!(two.status, StatusCode::FORBIDDEN, "{}", two.body);
    acme.create("/api/v1/components", json!({ "name": "A" }))
        .await;
    assert_eq!(
        acme.post("/api/v1/components", json!({ "name": "B" }))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    sqlx::query("UPDATE api_tokens SET scopes = '{read}'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(acme.get("/api/v1/monitors").await.status, StatusCode::OK);
    let write = acme
        .post("/api/v1/incidents", json!({ "title": "x", "message": "y" }))
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert_eq!(write.content_type, "application/problem+json");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn monitors_are_replaced_with_if_match_and_audited(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    let id = acme
        .create(
            "/api/v1/monitors",
            json!({ "name": "Home", "type": "http", "url": "https://example.com/" }),
        )
        .await;
    let read = acme.get(&format!("/api/v1/monitors/{id}")).await;
    let etag = read.etag.unwrap();
    let replacement = json!({ "name": "Home page", "type": "tcp", "host": "example.com", "port": 443, "interval_seconds": 120 });
    let put = acme
        .send(
            "PUT",
            &format!("/api/v1/monitors/{id}"),
            &[("if-match", &etag)],
            Some(replacement.clone()),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["type"], "tcp");
    assert_eq!(put.body["interval_seconds"], 120);
    assert_ne!(put.etag.as_deref(), Some(etag.as_str()));
    let stale = acme
        .send(
            "PUT",
            &format!("/api/v1/monitors/{id}"),
            &[("if-match", &etag)],
            Some(replacement),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let bad_tag = acme
        .send(
            "DELETE",
            &format!("/api/v1/monitors/{id}"),
            &[("if-match", "yesterday")],
            None,
        )
        .await;
    assert_eq!(fields(&bad_tag.body), ["If-Match"]);
    let stale_delete = acme
        .send(
            "DELETE",
            &format!("/api/v1/monitors/{id}"),
            &[("if-match", &etag)],
            None,
        )
        .await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        acme.get(&format!("/api/v1/monitors/{id}")).await.status,
        StatusCode::OK,
        "still there"
    );

    let log = acme.get("/api/v1/audit-log?limit=1").await;
    assert_eq!(log.body["items"][0]["action"], "update");
    assert_eq!(log.body["items"][0]["entity"], "monitor");
    assert!(log.body["items"][0]["actor"]
        .as_str()
        .unwrap()
        .starts_with("api_token:"));
    let cursor = log.body["next_cursor"].as_str().unwrap();
    let older = acme
        .get(&format!("/api/v1/audit-log?limit=5&cursor={cursor}"))
        .await;
    assert_eq!(older.body["items"][0]["action"], "create");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn groups_hold_components(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    let group = acme
        .create("/api/v1/component-groups", json!({ "name": "Backend" }))
        .await;
    let id = acme
        .create(
            "/api/v1/components",
            json!({ "name": "API", "group_id": group }),
        )
        .await;
    let read = acme.get(&format!("/api/v1/components/{id}")).await;
    assert_eq!(read.body["group_id"], json!(group));
    let out = acme
        .send(
            "PATCH",
            &format!("/api/v1/components/{id}"),
            &[],
            Some(json!({ "group_id": null })),
        )
        .await;
    assert_eq!(out.body["group_id"], Value::Null);
    let renamed = acme
        .send(
            "PATCH",
            &format!("/api/v1/components/{id}"),
            &[],
            Some(json!({ "description": "REST" })),
        )
        .await;
    assert_eq!(
        renamed.body["name"], "API",
        "absent fields keep their value"
    );
    let dup = acme
        .post("/api/v1/component-groups", json!({ "name": "Backend" }))
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&dup.body), ["name"]);
}

/// Every endpoint, from a second tenant, on the first tenant's rows: 404 or a field error,
/// never data, and nothing changes.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_second_tenant_gets_nothing_of_the_first(pool: PgPool) {
    let app = app(pool);
    let alice = tenant(&app, "alice").await;
    let mallory = tenant(&app, "mallory").await;
    let group = alice
        .create("/api/v1/component-groups", json!({ "name": "Core" }))
        .await;
    let component = alice
        .create(
            "/api/v1/components",
            json!({ "name": "Web", "group_id": group }),
        )
        .await;
    let monitor = alice
        .create("/api/v1/monitors", json!({ "name": "Home", "type": "http", "url": "https://example.com/", "component_id": component }))
        .await;
    let incident = alice
        .create("/api/v1/incidents", json!({ "title": "Down", "message": "m", "components": [{ "component_id": component, "status": "major_outage" }] }))
        .await;
    let now = Utc::now();
    let maintenance = alice
        .create("/api/v1/maintenances", json!({ "title": "Upgrade", "starts_at": now.to_rfc3339(),
                                                "ends_at": (now + Duration::hours(1)).to_rfc3339(), "component_ids": [component] }))
        .await;

    let rows = [
        (
            "monitors",
            &monitor,
            json!({ "name": "Mine", "type": "http", "url": "https://evil.example/" }),
        ),
        ("components", &component, json!({ "name": "Mine" })),
        ("component-groups", &group, json!({ "name": "Mine" })),
        ("incidents", &incident, json!({ "title": "Mine" })),
        ("maintenances", &maintenance, json!({ "title": "Mine" })),
    ];
    for (collection, id, change) in &rows {
        let path = format!("/api/v1/{collection}/{id}");
        let read = mallory.get(&path).await;
        assert_eq!(
            read.status,
            StatusCode::NOT_FOUND,
            "GET {path}: {}",
            read.body
        );
        assert!(read.body.get("id").is_none());
        let method = if *collection == "monitors" {
            "PUT"
        } else {
            "PATCH"
        };
        for if_match in [None, Some("\"v1\"")] {
            let headers: Vec<(&str, &str)> =
                if_match.map(|v| ("if-match", v)).into_iter().collect();
            let write = mallory
                .send(method, &path, &headers, Some(change.clone()))
                .await;
            assert_eq!(
                write.status,
                StatusCode::NOT_FOUND,
                "{method} {path} {if_match:?}: {}",
                write.body
            );
            let delete = mallory.send("DELETE", &path, &headers, None).await;
            assert_eq!(delete.status, StatusCode::NOT_FOUND, "DELETE {path}");
        }
        let list = mallory.get(&format!("/api/v1/{collection}")).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(
            list.body["items"],
            json!([]),
            "GET /api/v1/{collection} leaks"
        );
        // Guessed ids are no different from real ones of another tenant.
        let guessed = mallory
            .get(&format!("/api/v1/{collection}/{}", uuid::Uuid::new_v4()))
            .await;
        assert_eq!(guessed.status, StatusCode::NOT_FOUND);
    }
    let update = mallory
        .post(
            &format!("/api/v1/incidents/{incident}/updates"),
            json!({ "status": "resolved", "message": "pwned" }),
        )
        .await;
    assert_eq!(update.status, StatusCode::NOT_FOUND);
    let log = mallory.get("/api/v1/audit-log").await;
    assert_eq!(log.body["items"], json!([]), "audit log leaks");

    // Mallory's own rows cannot point at Alice's.
    let attach = mallory
        .post("/api/v1/incidents", json!({ "title": "t", "message": "m", "components": [{ "component_id": component, "status": "major_outage" }] }))
        .await;
    assert_eq!(attach.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&attach.body), ["components[0].component_id"]);
    let window = mallory
        .post("/api/v1/maintenances", json!({ "title": "t", "starts_at": now.to_rfc3339(),
                                              "ends_at": (now + Duration::hours(1)).to_rfc3339(), "component_ids": [component] }))
        .await;
    assert_eq!(fields(&window.body), ["component_ids[0]"]);
    let grouped = mallory
        .post(
            "/api/v1/components",
            json!({ "name": "X", "group_id": group }),
        )
        .await;
    assert_eq!(grouped.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&grouped.body), ["group_id"]);

    // Alice's rows are untouched.
    for (collection, id, _) in &rows {
        let read = alice.get(&format!("/api/v1/{collection}/{id}")).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(
            read.etag.as_deref(),
            Some("\"v1\""),
            "{collection} unchanged"
        );
    }
    let incident = alice.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(incident.body["status"], "investigating");
    assert_eq!(incident.body["updates"].as_array().unwrap().len(), 1);
}

/// Visitors read a page's incidents and maintenance by slug, with component names, under the
/// page's visibility; another tenant's page shows only its own.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn visitors_read_incidents_and_maintenance_of_a_page(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    let globex = tenant(&app, "globex").await;
    let web = acme
        .create("/api/v1/components", json!({ "name": "Web" }))
        .await;
    acme.create(
        "/api/v1/incidents",
        json!({ "title": "Web is slow", "impact": "minor", "message": "Looking",
                "components": [{ "component_id": web, "status": "degraded_performance" }] }),
    )
    .await;
    let old = acme
        .create("/api/v1/incidents", json!({ "title": "Long ago", "message": "m", "started_at": (Utc::now() - Duration::days(40)).to_rfc3339() }))
        .await;
    acme.post(
        &format!("/api/v1/incidents/{old}/updates"),
        json!({ "status": "resolved", "message": "done" }),
    )
    .await;
    let now = Utc::now();
    acme.create(
        "/api/v1/maintenances",
        json!({ "title": "DB upgrade", "starts_at": (now + Duration::hours(2)).to_rfc3339(),
                "ends_at": (now + Duration::hours(3)).to_rfc3339(), "component_ids": [web] }),
    )
    .await;
    acme.create(
        "/api/v1/maintenances",
        json!({ "title": "Last month", "starts_at": (now - Duration::days(30)).to_rfc3339(),
                "ends_at": (now - Duration::days(30) + Duration::hours(1)).to_rfc3339() }),
    )
    .await;

    let incidents = globex.get("/api/v1/public/status/acme/incidents").await;
    assert_eq!(incidents.status, StatusCode::OK, "{}", incidents.body);
    let list = incidents.body.as_array().unwrap();
    // "Long ago" was resolved just now, so it is recent history too.
    let titles: Vec<&str> = list.iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Web is slow", "Long ago"]);
    assert_eq!(
        list[0]["components"],
        json!([{ "name": "Web", "status": "degraded_performance" }])
    );
    assert_eq!(list[0]["updates"][0]["message"], "Looking");
    assert!(list[0].get("version").is_none(), "nothing internal");
    let windows = globex.get("/api/v1/public/status/acme/maintenances").await;
    let windows = windows.body.as_array().unwrap();
    assert_eq!(windows.len(), 1, "only current and upcoming: {windows:?}");
    assert_eq!(windows[0]["title"], "DB upgrade");
    assert_eq!(windows[0]["status"], "scheduled");
    assert_eq!(windows[0]["components"], json!(["Web"]));
    assert_eq!(
        globex
            .get("/api/v1/public/status/globex/incidents")
            .await
            .body,
        json!([]),
        "globex's page shows only globex's incidents"
    );
    assert_eq!(
        globex
            .get("/api/v1/public/status/nobody/incidents")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let bad = globex
        .get("/api/v1/public/status/acme/incidents?days=500")
        .await;
    assert_eq!(fields(&bad.body), ["days"]);

    let private = acme
        .send(
            "PATCH",
            "/api/v1/status-page",
            &[],
            Some(json!({ "visibility": "private" })),
        )
        .await;
    assert_eq!(private.status, StatusCode::OK);
    assert_eq!(
        globex
            .get("/api/v1/public/status/acme/incidents")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        globex
            .get("/api/v1/public/status/acme/maintenances")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    acme.send(
        "PATCH",
        "/api/v1/status-page",
        &[],
        Some(json!({ "visibility": "password", "password": "visitors only 1" })),
    )
    .await;
    assert_eq!(
        globex
            .get("/api/v1/public/status/acme/incidents")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let with_password = globex
        .send(
            "GET",
            "/api/v1/public/status/acme/incidents",
            &[("status-page-password", "visitors only 1")],
            None,
        )
        .await;
    assert_eq!(with_password.status, StatusCode::OK);
}
