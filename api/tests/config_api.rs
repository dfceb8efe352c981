//! Config as code over `/api/v1/config` against a real PostgreSQL: export, a dry-run plan,
//! apply in one transaction (all or nothing), prune, scopes, plan limits, syntax errors, and a
//! file moved from one tenant to another without touching the first.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
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
    content_type: String,
    /// The body as sent (the YAML of an export).
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
        content_type: Option<&str>,
        body: Option<String>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            content_type,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(
            "POST",
            path,
            Some("application/json"),
            Some(body.to_string()),
        )
        .await
    }

    /// Creates and returns the new row's id.
    async fn create(&self, path: &str, body: Value) -> String {
        let reply = self.post(path, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    /// The YAML export.
    async fn export(&self) -> String {
        let reply = self.get("/api/v1/config").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.content_type, "text/yaml; charset=utf-8");
        reply.text
    }

    /// Posts a YAML document: a dry run unless `apply`.
    async fn import(&self, yaml: &str, apply: bool) -> Reply {
        let path = if apply {
            "/api/v1/config?dry_run=false"
        } else {
            "/api/v1/config?dry_run=true"
        };
        self.send(
            "POST",
            path,
            Some("application/yaml"),
            Some(yaml.to_owned()),
        )
        .await
    }

    /// The audit entries of imports, newest first.
    async fn imports(&self) -> Vec<Value> {
        let log = self.get("/api/v1/audit-log").await;
        assert_eq!(log.status, StatusCode::OK);
        log.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "import")
            .cloned()
            .collect()
    }

    fn with_token(&self, token: &str) -> Client {
        Client {
            app: self.app.clone(),
            token: token.to_owned(),
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

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// A tenant with a bit of everything: a group, components in and out of it, monitors of each
/// type (one with headers and assertions, one disabled), branding and a page password.
async fn furnish(client: &Client) {
    let core = client
        .create(
            "/api/v1/component-groups",
            json!({ "name": "Core", "position": 1 }),
        )
        .await;
    let api = client
        .create(
            "/api/v1/components",
            json!({ "name": "API", "description": "The public API", "position": 2, "group_id": core }),
        )
        .await;
    client
        .create("/api/v1/components", json!({ "name": "Web" }))
        .await;
    client
        .create(
            "/api/v1/monitors",
            json!({ "name": "API health", "type": "http", "url": "https://api.example.com/health",
                    "headers": [{ "name": "x-probe", "value": "1" }],
                    "assertions": [{ "kind": "json_path", "path": "$.status", "op": "==", "value": "ok" }],
                    "interval_seconds": 120, "regions": ["eu"], "component_id": api }),
        )
        .await;
    client
        .create(
            "/api/v1/monitors",
            json!({ "name": "Database", "type": "tcp", "host": "db.example.com", "port": 5432, "enabled": false }),
        )
        .await;
    client
        .create(
            "/api/v1/monitors",
            json!({ "name": "DNS", "type": "dns", "host": "example.com", "record_type": "AAAA" }),
        )
        .await;
    client
        .create(
            "/api/v1/monitors",
            json!({ "name": "Certificate", "type": "tls", "host": "example.com", "component_id": api }),
        )
        .await;
    let page = client
        .send(
            "PATCH",
            "/api/v1/status-page",
            Some("application/json"),
            Some(
                json!({ "title": "Acme status", "description": "All things Acme",
                        "password": "correct horse battery staple",
                        "branding": { "accent_color": "#1f9d55" } })
                .to_string(),
            ),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn an_export_applied_to_a_fresh_tenant_exports_the_same(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    furnish(&acme).await;
    let yaml = acme.export().await;

    // By name, never by id, sorted by name; never the password.
    assert!(yaml.starts_with("version: 1\n"), "{yaml}");
    assert!(!yaml.contains("_id"), "{yaml}");
    assert!(!yaml.contains("password"), "{yaml}");
    assert!(!yaml.contains("correct horse"), "{yaml}");
    let doc: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let monitor_names: Vec<&str> = doc["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        monitor_names,
        ["API health", "Certificate", "DNS", "Database"]
    );
    assert_eq!(doc["monitors"][0]["component"], "API");
    assert_eq!(doc["monitors"][0]["type"], "http");
    assert_eq!(doc["monitors"][0]["url"], "https://api.example.com/health");
    assert_eq!(doc["monitors"][0]["regions"], json!(["eu"]));
    assert_eq!(doc["monitors"][3]["enabled"], false);
    assert_eq!(doc["components"][0]["group"], "Core");
    assert_eq!(doc["status_page"]["title"], "Acme status");
    assert_eq!(doc["status_page"]["visibility"], "public");
    assert_eq!(doc["status_page"]["branding"]["accent_color"], "#1f9d55");
    // The JSON form is the same document.
    let as_json = acme.get("/api/v1/config?format=json").await;
    assert_eq!(as_json.status, StatusCode::OK);
    assert!(as_json.content_type.starts_with("application/json"));
    assert_eq!(as_json.body, doc);

    let globex = tenant(&app, "globex").await;
    let applied = globex.import(&yaml, true).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert_eq!(applied.body["applied"], true);
    assert_eq!(applied.body["dry_run"], false);
    assert_eq!(applied.body["summary"]["create"], 1 + 2 + 4);
    assert_eq!(
        applied.body["status_page"]["changes"],
        json!(["title", "description", "branding"])
    );
    assert_eq!(globex.export().await, yaml);

    // Applying it again changes nothing.
    let again = globex.import(&yaml, true).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(
        again.body["summary"],
        json!({ "create": 0, "update": 0, "delete": 0, "unchanged": 7, "unmanaged": 0 })
    );
    assert_eq!(again.body["status_page"]["action"], "unchanged");
    // And the JSON document is accepted too.
    let from_json = globex
        .send(
            "POST",
            "/api/v1/config",
            Some("application/json"),
            Some(as_json.text.clone()),
        )
        .await;
    assert_eq!(from_json.status, StatusCode::OK, "{}", from_json.body);
    assert_eq!(from_json.body["summary"]["unchanged"], 7);
}

/// Existing: group Core; components API and Legacy; monitors Home and Old.
async fn starting_point(client: &Client) {
    client
        .create("/api/v1/component-groups", json!({ "name": "Core" }))
        .await;
    client
        .create("/api/v1/components", json!({ "name": "API" }))
        .await;
    client
        .create("/api/v1/components", json!({ "name": "Legacy" }))
        .await;
    client
        .create(
            "/api/v1/monitors",
            json!({ "name": "Home", "type": "http", "url": "https://example.com/" }),
        )
        .await;
    client
        .create(
            "/api/v1/monitors",
            json!({ "name": "Old", "type": "tcp", "host": "old.example.com", "port": 22 }),
        )
        .await;
}

const CHANGES: &str = r#"
version: 1
component_groups:
  - name: Core
  - name: Edge
    position: 2
components:
  - name: API
  - name: Web
    group: Edge
monitors:
  - name: Home
    type: http
    url: https://example.com/v2
  - name: Shop
    type: http
    url: https://shop.example.com/
    component: Web
"#;

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_dry_run_reports_the_plan_and_changes_nothing(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    starting_point(&acme).await;
    let before = acme.export().await;

    // No `dry_run` parameter: a dry run.
    let plan = acme
        .send(
            "POST",
            "/api/v1/config",
            Some("text/yaml"),
            Some(CHANGES.into()),
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    let plan = plan.body;
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["status_page"]["action"], "unmanaged");
    assert_eq!(names(&plan["component_groups"]["create"]), ["Edge"]);
    assert_eq!(names(&plan["component_groups"]["unchanged"]), ["Core"]);
    assert_eq!(names(&plan["components"]["create"]), ["Web"]);
    assert_eq!(names(&plan["components"]["unchanged"]), ["API"]);
    assert_eq!(names(&plan["components"]["unmanaged"]), ["Legacy"]);
    assert_eq!(names(&plan["components"]["delete"]), Vec::<&str>::new());
    assert_eq!(names(&plan["monitors"]["create"]), ["Shop"]);
    assert_eq!(
        plan["monitors"]["update"],
        json!([{ "name": "Home", "changes": ["url"] }]),
        "exactly the url changes"
    );
    assert_eq!(names(&plan["monitors"]["unmanaged"]), ["Old"]);
    assert_eq!(
        plan["summary"],
        json!({ "create": 3, "update": 1, "delete": 0, "unchanged": 2, "unmanaged": 2 })
    );
    assert_eq!(acme.export().await, before, "a dry run writes nothing");
    assert!(acme.imports().await.is_empty());

    let applied = acme.import(CHANGES, true).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert_eq!(applied.body["applied"], true);
    assert_eq!(applied.body["monitors"], plan["monitors"]);
    let after: Value = serde_yaml_ng::from_str(&acme.export().await).unwrap();
    let monitors = after["monitors"].as_array().unwrap();
    assert_eq!(monitors.len(), 3, "Old is unmanaged, not deleted");
    assert_eq!(monitors[0]["name"], "Home");
    assert_eq!(monitors[0]["url"], "https://example.com/v2");
    assert_eq!(monitors[2]["name"], "Shop");
    assert_eq!(monitors[2]["component"], "Web");
    assert_eq!(after["components"][2]["name"], "Web");
    assert_eq!(after["components"][2]["group"], "Edge");

    let imports = acme.imports().await;
    assert_eq!(imports.len(), 1, "one audit entry per import");
    assert_eq!(imports[0]["entity"], "config");
    assert_eq!(imports[0]["details"]["created"], 3);
    assert_eq!(imports[0]["details"]["updated"], 1);
    assert_eq!(imports[0]["details"]["deleted"], 0);
    assert_eq!(imports[0]["details"]["monitors"]["create"], 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn prune_deletes_what_the_file_leaves_out(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    starting_point(&acme).await;
    // No component_groups section: groups are not managed, even with prune.
    let file = r#"
version: 1
prune: true
components:
  - name: API
monitors:
  - name: Home
    type: http
    url: https://example.com/
    component: API
"#;
    let plan = acme.import(file, false).await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    assert_eq!(plan.body["prune"], true);
    assert_eq!(names(&plan.body["components"]["delete"]), ["Legacy"]);
    assert_eq!(names(&plan.body["monitors"]["delete"]), ["Old"]);
    assert_eq!(
        plan.body["monitors"]["update"],
        json!([{ "name": "Home", "changes": ["component"] }])
    );
    assert_eq!(names(&plan.body["component_groups"]["unmanaged"]), ["Core"]);
    assert_eq!(plan.body["component_groups"]["delete"], json!([]));

    let applied = acme.import(file, true).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert_eq!(applied.body["summary"]["delete"], 2);
    let after: Value = serde_yaml_ng::from_str(&acme.export().await).unwrap();
    assert_eq!(
        after["monitors"],
        serde_yaml_ng::from_str::<Value>(
            "[{name: Home, type: http, url: 'https://example.com/', method: GET, headers: [], body: null, \
              expected_status: ['200-399'], timeout_ms: 10000, degraded_above_ms: null, \
              interval_seconds: 60, regions: [], enabled: true, component: API}]"
        )
        .unwrap()
    );
    assert_eq!(
        after["components"],
        json!([{ "name": "API", "description": "", "position": 0 }])
    );
    assert_eq!(
        after["component_groups"],
        json!([{ "name": "Core", "position": 0 }])
    );
    assert_eq!(acme.imports().await[0]["details"]["deleted"], 2);

    // An empty section with prune empties the kind.
    let empty = acme
        .import("version: 1\nprune: true\nmonitors: []\n", true)
        .await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(names(&empty.body["monitors"]["delete"]), ["Home"]);
    let after: Value = serde_yaml_ng::from_str(&acme.export().await).unwrap();
    assert_eq!(after["monitors"], json!([]));
    assert_eq!(after["components"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_file_with_one_bad_monitor_applies_nothing(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    starting_point(&acme).await;
    let before = acme.export().await;
    let file = r#"
version: 1
prune: true
components:
  - name: API
  - name: Web
monitors:
  - name: Home
    type: http
    url: https://example.com/v2
  - name: Shop
    type: http
    url: https://shop.example.com/
    component: Nope
  - name: Broken
    type: http
    url: ftp://example.com/
    intervall_seconds: 60
"#;
    for apply in [false, true] {
        let reply = acme.import(file, apply).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        assert_eq!(reply.content_type, "application/problem+json");
        let fields = fields(&reply.body);
        assert!(fields.contains(&"monitors[2].url".into()), "{fields:?}");
        assert!(
            fields.contains(&"monitors[2].intervall_seconds".into()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"monitors[1].component".into()),
            "{fields:?}"
        );
        assert!(reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("no component named \"Nope\""));
    }
    assert_eq!(acme.export().await, before, "nothing was written");
    assert!(acme.imports().await.is_empty());

    // Per-entry checks name their entry; duplicates name the second.
    let reply = acme
        .import(
            "version: 1\ncomponents:\n  - name: ''\n  - name: API\n  - name: API\n",
            true,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&reply.body),
        ["components[2].name", "components[0].name"]
    );

    // The plan's limits hold for the file as a whole, and nothing is written past them.
    sqlx::query("UPDATE tenants SET max_monitors = 3, min_interval_seconds = 60")
        .execute(&pool)
        .await
        .unwrap();
    let two_more = r#"
version: 1
monitors:
  - { name: A, type: tcp, host: a.example.com, port: 1, interval_seconds: 60 }
  - { name: B, type: tcp, host: b.example.com, port: 1, interval_seconds: 60 }
"#;
    let reply = acme.import(two_more, true).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let too_fast = "version: 1\nmonitors:\n  - { name: A, type: tcp, host: a.example.com, port: 1, interval_seconds: 30 }\n";
    let reply = acme.import(too_fast, true).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&reply.body), ["monitors[0].interval_seconds"]);
    assert_eq!(acme.export().await, before);
    // Pruning makes room: two out, two in.
    let swap = format!("{two_more}prune: true\n");
    let reply = acme.import(&swap, true).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(names(&reply.body["monitors"]["delete"]), ["Home", "Old"]);

    // A page can only become password-protected once it has a password.
    let reply = acme
        .import("version: 1\nstatus_page:\n  visibility: password\n", true)
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&reply.body), ["status_page.visibility"]);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_read_only_token_exports_and_plans_but_cannot_apply(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    starting_point(&acme).await;
    let created = acme
        .post(
            "/api/v1/api-tokens",
            json!({ "name": "ro", "scopes": ["read"] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let ro = acme.with_token(created.body["token"].as_str().unwrap());

    let before = ro.export().await;
    assert_eq!(before, acme.export().await);
    let plan = ro.import(CHANGES, false).await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    assert_eq!(names(&plan.body["monitors"]["create"]), ["Shop"]);
    let apply = ro.import(CHANGES, true).await;
    assert_eq!(apply.status, StatusCode::FORBIDDEN, "{}", apply.body);
    assert_eq!(apply.content_type, "application/problem+json");
    assert_eq!(acme.export().await, before);

    // Without a token: 401.
    let anonymous = acme.with_token("sp_nobody");
    assert_eq!(
        anonymous.get("/api/v1/config").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        anonymous.import(CHANGES, false).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_file_from_one_tenant_never_touches_its_rows_when_another_applies_it(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    furnish(&acme).await;
    let acme_yaml = acme.export().await;
    let acme_rows: Vec<(uuid::Uuid, i32)> =
        sqlx::query_as("SELECT id, version FROM monitors ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();

    // Globex has its own things, some with the same names.
    let globex = tenant(&app, "globex").await;
    globex
        .create("/api/v1/components", json!({ "name": "API" }))
        .await;
    globex
        .create(
            "/api/v1/monitors",
            json!({ "name": "DNS", "type": "dns", "host": "globex.example" }),
        )
        .await;
    globex
        .create(
            "/api/v1/monitors",
            json!({ "name": "Globex only", "type": "tcp", "host": "globex.example", "port": 80 }),
        )
        .await;
    let file = format!("{acme_yaml}prune: true\n");
    let plan = globex.import(&file, false).await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    assert_eq!(names(&plan.body["monitors"]["delete"]), ["Globex only"]);
    assert_eq!(
        plan.body["monitors"]["update"],
        json!([{ "name": "DNS", "changes": ["host", "record_type"] }])
    );
    assert_eq!(
        plan.body["components"]["update"],
        json!([{ "name": "API", "changes": ["description", "position", "group"] }])
    );
    let applied = globex.import(&file, true).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);

    assert_eq!(acme.export().await, acme_yaml, "acme is untouched");
    let still: Vec<(uuid::Uuid, i32)> = sqlx::query_as(
        "SELECT m.id, m.version FROM monitors m JOIN tenants t ON t.id = m.tenant_id \
         WHERE t.slug = 'acme' ORDER BY m.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(still, acme_rows, "same rows, same versions");
    assert_eq!(globex.export().await, acme_yaml);
    assert!(acme.imports().await.is_empty());
    assert_eq!(globex.imports().await.len(), 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn malformed_documents_are_refused_with_where(pool: PgPool) {
    let app = app(pool);
    let acme = tenant(&app, "acme").await;
    let before = acme.export().await;

    let bad_yaml = "version: 1\nmonitors:\n  - name: Home\n   type: http\n";
    let reply = acme.import(bad_yaml, true).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(fields(&reply.body), ["body"]);
    let message = reply.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("line 4"), "{message}");
    assert!(message.contains("column"), "{message}");

    let bad_json = acme
        .send(
            "POST",
            "/api/v1/config",
            Some("application/json"),
            Some("{\"version\": 1,".into()),
        )
        .await;
    assert_eq!(bad_json.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&bad_json.body), ["body"]);
    assert!(bad_json.body["detail"].as_str().unwrap().contains("line 1"));

    for (doc, field) in [
        ("", "body"),
        ("- just a list\n", "body"),
        ("version: 1\nmonitor: []\n", "monitor"),
        ("version: 2\n", "version"),
        ("version: 1\ncomponents:\n  - name: A\n    colour: red\n", "components[0].colour"),
        (
            "version: 1\nmonitors:\n  - { name: A, type: tcp, host: a.example.com, port: 1, url: 'https://a.example.com/' }\n",
            "monitors[0].url",
        ),
        (
            "version: 1\nmonitors:\n  - { name: A, type: http, url: 'https://a.example.com/', interval_seconds: often }\n",
            "monitors[0].interval_seconds",
        ),
        ("version: 1\nprune: maybe\n", "prune"),
        (
            "version: 1\nstatus_page:\n  branding: { accent_color: green }\n",
            "status_page.branding.accent_color",
        ),
    ] {
        let reply = acme.import(doc, false).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{doc:?}: {}",
            reply.body
        );
        assert_eq!(fields(&reply.body), [field], "{doc:?}: {}", reply.body);
    }

    let form = acme
        .send(
            "POST",
            "/api/v1/config",
            Some("application/x-www-form-urlencoded"),
            Some("version: 1\n".into()),
        )
        .await;
    assert_eq!(form.status, StatusCode::BAD_REQUEST);
    let minimal = acme.import("version: 1\n", false).await;
    assert_eq!(minimal.status, StatusCode::OK, "{}", minimal.body);
    assert_eq!(
        acme.get("/api/v1/config?format=xml").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        acme.send(
            "POST",
            "/api/v1/config?dry_run=perhaps",
            Some("text/yaml"),
            Some("version: 1\n".into())
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(acme.export().await, before);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_endpoints_are_in_the_openapi_document(pool: PgPool) {
    let app = app(pool);
    let request = Request::get("/api/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let path = &doc["paths"]["/api/v1/config"];
    let export = &path["get"]["responses"]["200"]["content"];
    assert!(export.get("text/yaml").is_some(), "{export}");
    assert!(export.get("application/json").is_some(), "{export}");
    let import = &path["post"];
    assert!(import["requestBody"]["content"]
        .get("application/yaml")
        .is_some());
    for status in ["200", "400", "401", "403", "422"] {
        assert!(import["responses"].get(status).is_some(), "{status}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["ConfigDocument", "MonitorConfig", "ImportPlan", "KindPlan"] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}
