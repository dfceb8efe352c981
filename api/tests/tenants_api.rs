//! `/api/v1` against a real PostgreSQL: validation as problem+json, and one tenant can never
//! read or change another's data.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;

fn app(pool: PgPool) -> axum::Router {
    // ClickHouse is not touched by these endpoints; the client only connects on use.
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

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, value)
}

async fn tenant(app: &axum::Router, slug: &str) -> String {
    let (status, _, body) = call(
        app,
        "POST",
        "/api/v1/tenants",
        None,
        Some(json!({ "slug": slug, "name": slug, "email": format!("{slug}@example.com") })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["api_token"].as_str().unwrap().to_owned()
}

fn monitor(name: &str) -> Value {
    json!({ "name": name, "type": "http", "url": "https://example.com/health" })
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn bad_input_is_problem_json_naming_the_field(pool: PgPool) {
    let app = app(pool);
    let (status, content_type, body) = call(
        &app,
        "POST",
        "/api/v1/tenants",
        None,
        Some(json!({ "slug": "Admin!", "name": "", "email": "nope" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(content_type, "application/problem+json");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["slug", "name", "email"]);

    let token = tenant(&app, "acme").await;
    let (status, _, body) = call(
        &app,
        "POST",
        "/api/v1/tenants",
        None,
        Some(json!({ "slug": "acme", "name": "x", "email": "x@example.com" })),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "slug already taken: {body}"
    );
    assert_eq!(body["errors"][0]["field"], "slug");

    let (status, _, body) = call(
        &app,
        "POST",
        "/api/v1/monitors",
        Some(&token),
        Some(json!({ "name": "x", "type": "http", "url": "ftp://example.com", "interval_seconds": 5, "regions": ["mars"] })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"url")
            && fields.contains(&"interval_seconds")
            && fields.contains(&"regions[0]"),
        "{body}"
    );

    let (status, content_type, _) = call(
        &app,
        "POST",
        "/api/v1/monitors",
        Some(&token),
        Some(json!({ "name": 1 })),
    )
    .await;
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
        "{status}"
    );
    assert_eq!(content_type, "application/problem+json");

    let (status, _, _) = call(
        &app,
        "POST",
        "/api/v1/monitors",
        Some(&token),
        Some(monitor("Home")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = call(
        &app,
        "POST",
        "/api/v1/monitors",
        Some(&token),
        Some(monitor("Home")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "duplicate name: {body}"
    );
    assert_eq!(body["errors"][0]["field"], "name");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn api_tokens_are_required_and_checked(pool: PgPool) {
    let app = app(pool);
    let (status, content_type, _) = call(&app, "GET", "/api/v1/monitors", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type, "application/problem+json");
    let (status, _, _) = call(&app, "GET", "/api/v1/monitors", Some("sp_forged"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn one_tenant_cannot_see_or_touch_anothers_monitors(pool: PgPool) {
    let app = app(pool);
    let alice = tenant(&app, "alice").await;
    let mallory = tenant(&app, "mallory").await;
    let (_, _, created) = call(
        &app,
        "POST",
        "/api/v1/monitors",
        Some(&alice),
        Some(monitor("Alice home")),
    )
    .await;
    let id = created["id"].as_str().unwrap();

    let (status, _, list) = call(&app, "GET", "/api/v1/monitors", Some(&mallory), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([]), "no leak in lists");
    let (status, _, body) = call(
        &app,
        "GET",
        &format!("/api/v1/monitors/{id}"),
        Some(&mallory),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.get("name").is_none());
    let (status, _, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/monitors/{id}"),
        Some(&mallory),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A component of mallory's cannot be attached to... mallory's monitor pointing at alice's component.
    let (_, _, component) = call(
        &app,
        "POST",
        "/api/v1/components",
        Some(&alice),
        Some(json!({ "name": "Web" })),
    )
    .await;
    let mut sneaky = monitor("Sneaky");
    sneaky["component_id"] = component["id"].clone();
    let (status, _, body) = call(
        &app,
        "POST",
        "/api/v1/monitors",
        Some(&mallory),
        Some(sneaky),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "component_id");
    let (_, _, components) = call(&app, "GET", "/api/v1/components", Some(&mallory), None).await;
    assert_eq!(components["items"], json!([]));

    // Alice still has everything.
    let (status, _, body) = call(
        &app,
        "GET",
        &format!("/api/v1/monitors/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Alice home");
    let (status, _, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/monitors/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
