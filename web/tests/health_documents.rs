//! Nested health documents end to end, against real PostgreSQL and ClickHouse: an HTTP monitor
//! with `health` checked from two regions through the signed internal API keeps each region's
//! latest document (`GET /api/v1/monitors/{id}/health`, scoped by tenant), and with
//! `show_on_page` its dependencies appear under its component on the public page, each with its
//! status and timing, following the document as it changes.

mod support;

use axum::routing::get;
use checker::api_client::ApiClient;
use checker::guard::SsrfGuard;
use checker::plan::CheckEvent;
use checker::probe::Prober;
use checker::run::{run_checks, RunOptions};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use web::public::render::{PublicSite, RenderConfig};

const SECRET: &str = "health-test-secret-0123456789";
const REGIONS: [&str; 2] = ["test-eu", "test-us"];

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn dependencies_are_kept_per_region_and_shown_under_their_component(pool: PgPool) {
    let analytics = support::migrated_analytics().await;
    let mut config = support::api_config(SECRET);
    config.regions = REGIONS.iter().map(|r| r.to_string()).collect();
    let app = api::AppState::new(pool, analytics.clone(), config);
    let site = PublicSite::new(RenderConfig::default());
    let _listener = tokio::spawn(web::public::render::run_change_listener(
        app.clone(),
        site.clone(),
    ));
    let addr = support::serve_site(app.clone(), site, "health-site").await;
    let base = format!("http://{addr}");

    // The service: Spring Boot's actuator shape, its database failing until told otherwise.
    let db_down = Arc::new(AtomicBool::new(true));
    let flag = db_down.clone();
    let service = axum::Router::new().route(
        "/actuator/health",
        get(move || {
            let down = flag.load(Ordering::SeqCst);
            async move {
                let db = if down {
                    json!({ "status": "DOWN", "details": { "error": "Connection refused" } })
                } else {
                    json!({ "status": "UP", "details": { "duration_ms": 4 } })
                };
                let status = if down { 503 } else { 200 };
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    axum::Json(
                        json!({ "status": if down { "DOWN" } else { "UP" }, "components": {
                        "db": db,
                        "redis": { "status": "UP", "details": { "duration_ms": 1.5 } } } }),
                    ),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });

    let http = reqwest::Client::new();
    let acme = support::sign_up(&http, &base, "acme", "Acme").await;
    let token = acme["api_token"].as_str().unwrap().to_owned();
    let globex = support::sign_up(&http, &base, "globex", "Globex").await;
    let other = globex["api_token"].as_str().unwrap().to_owned();
    let post = |path: &str, body: Value| {
        let (http, url, token) = (http.clone(), format!("{base}{path}"), token.clone());
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
            r.json::<Value>().await.unwrap()
        }
    };
    let checkout = post("/api/v1/components", json!({ "name": "Checkout" })).await;
    let internal = post("/api/v1/components", json!({ "name": "Internal" })).await;
    let url = format!("http://{target}/actuator/health");
    let shown = post(
        "/api/v1/monitors",
        json!({ "name": "Checkout health", "type": "http", "url": url,
                "component_id": checkout["id"], "health": { "show_on_page": true } }),
    )
    .await;
    post(
        "/api/v1/monitors",
        json!({ "name": "Internal health", "type": "http", "url": url,
                "component_id": internal["id"], "health": {} }),
    )
    .await;
    assert_eq!(shown["health"]["show_on_page"], true, "{shown}");
    let id = shown["id"].as_str().unwrap().to_owned();

    let api = ApiClient::new(&base, SECRET).unwrap();
    let prober = Prober::new(SsrfGuard::new(
        SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap(),
    ));
    let run_all = || async {
        for region in REGIONS {
            let run_id = Uuid::new_v4();
            let summary = run_checks(
                &CheckEvent::scheduled(region.to_owned()),
                &prober,
                &api,
                &analytics,
                &api,
                &RunOptions::new(run_id, run_id.to_string()),
            )
            .await
            .unwrap();
            assert_eq!(summary.checks, 2);
            assert_eq!(
                summary.reported, 2,
                "every result of a health monitor is reported"
            );
        }
    };
    run_all().await;

    // The tenant reads each region's latest document; another tenant gets a 404.
    let health: Value = http
        .get(format!("{base}/api/v1/monitors/{id}/health"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["reads_health_document"], true);
    let regions = health["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2, "{health}");
    for region in regions {
        assert_eq!(region["status"], "down");
        assert!(region["error"]
            .as_str()
            .unwrap()
            .contains("db is down (Connection refused)"));
        assert_eq!(region["report"]["shape"], "spring");
        assert_eq!(region["report"]["dependencies"][0]["name"], "db");
        assert_eq!(region["report"]["dependencies"][1]["duration_ms"], 1.5);
        assert!(region["document"]
            .as_str()
            .unwrap()
            .contains("Connection refused"));
    }
    let foreign = http
        .get(format!("{base}/api/v1/monitors/{id}/health"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);

    // The page: Checkout's dependencies with status and timing; Internal's stay private, and
    // what the document says of itself is the tenant's.
    let page = || async {
        http.get(format!("{base}/"))
            .header("host", "acme.localhost")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let article = |html: &str, name: &str| {
        let start = html
            .find(&format!("data-component=\"{name}\""))
            .unwrap_or_else(|| panic!("{name} missing"));
        let end = html[start..].find("</article>").unwrap() + start;
        html[start..end].to_owned()
    };
    let start = Instant::now();
    let html = loop {
        let html = page().await;
        if article(&html, "Checkout").contains("data-dependency=\"db\" data-status=\"down\"") {
            break html;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no dependencies on the page: {}",
            article(&html, "Checkout")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let checkout_html = article(&html, "Checkout");
    assert!(
        checkout_html.contains("What Checkout depends on"),
        "{checkout_html}"
    );
    assert!(checkout_html.contains("data-dependency=\"redis\" data-status=\"up\""));
    assert!(checkout_html.contains("1.5 ms"), "{checkout_html}");
    assert!(!article(&html, "Internal").contains("data-dependency"));
    assert!(!html.contains("Connection refused"));

    // The database recovers: the next results say so, on the page too.
    db_down.store(false, Ordering::SeqCst);
    run_all().await;
    let start = Instant::now();
    loop {
        let checkout_html = article(&page().await, "Checkout");
        if checkout_html.contains("data-dependency=\"db\" data-status=\"up\"") {
            assert!(checkout_html.contains("4 ms"), "{checkout_html}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "the page kept db down: {checkout_html}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
