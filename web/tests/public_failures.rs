//! What visitors see of a failure is its kind, never its detail: a monitor refused on 127.0.0.1
//! reads "connection refused" in its component's region table on the status page and in the
//! public JSON, with no address
//! anywhere, while the tenant's API keeps the full error. Real PostgreSQL, ClickHouse, checker.

use api::{ApiConfig, AppState};
use checker::api_client::ApiClient;
use checker::guard::SsrfGuard;
use checker::plan::{CheckEvent, CheckerSecrets};
use checker::probe::Prober;
use checker::run::{run_checks, RunOptions};
use serde_json::{json, Value};
use sqlx::PgPool;
use statuspage_clickhouse::Analytics;
use uuid::Uuid;

const SECRET: &str = "public-failures-secret-0123";
const REGION_SECRET: &str = "eu-own-secret-0123456789";

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn visitors_see_the_kind_of_a_failure_and_the_tenant_its_detail(pool: PgPool) {
    let url = std::env::var("CLICKHOUSE_URL").expect("CLICKHOUSE_URL must point at ClickHouse");
    let analytics = Analytics::new(&url, &format!("test_{}", Uuid::new_v4().simple())).unwrap();
    analytics.migrate().await.unwrap();
    let secrets = CheckerSecrets::parse(SECRET, &format!("test-eu={REGION_SECRET}")).unwrap();
    let app = AppState::new(
        pool,
        analytics.clone(),
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: SECRET.into(),
            regions: vec!["test-eu".into(), "test-us".into()],
            open_signup: true,
        },
    )
    .with_checker_secrets(secrets.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = web::server::router(app, "target/site", false, Some(addr.port()));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let created: Value = http
        .post(format!("{base}/api/v1/tenants"))
        .json(&json!({ "slug": "acme", "name": "Acme", "email": "owner@acme.example", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["api_token"].as_str().unwrap().to_owned();
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    // Visitors see components; this one is fed by the monitor, with its regions shown.
    let component: Value = http
        .post(format!("{base}/api/v1/components"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Billing" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = http
        .post(format!("{base}/api/v1/monitors"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Billing", "type": "http", "url": format!("http://127.0.0.1:{closed}/"),
                       "component_id": component["id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = http
        .patch(format!("{base}/api/v1/status-page"))
        .bearer_auth(&token)
        .json(&json!({ "show_region_detail": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The checkers of both regions, each signing with its own secret through one client.
    let api = ApiClient::with_secrets(&base, secrets).unwrap();
    let prober = Prober::new(SsrfGuard::new(
        SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap(),
    ));
    for region in ["test-eu", "test-us"] {
        let event = CheckEvent {
            region: region.into(),
            shard: 0,
            shards: 1,
            recheck: Vec::new(),
        };
        let run_id = Uuid::new_v4();
        let summary = run_checks(
            &event,
            &prober,
            &api,
            &analytics,
            &api,
            &RunOptions::new(run_id, run_id.to_string()),
        )
        .await
        .unwrap();
        assert_eq!((summary.down, summary.reported), (1, 1), "{summary:?}");
        assert!(summary.errors.is_empty(), "{summary:?}");
    }

    // The status page.
    let html = http
        .get(format!("{base}/"))
        .header("host", format!("acme.localhost:{}", addr.port()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-component=\"Billing\" data-status=\"major_outage\""),
        "{html}"
    );
    for region in ["test-eu", "test-us"] {
        let row = format!("<tr data-region=\"{region}\" data-status=\"major_outage\">");
        let at = html.find(&row).unwrap_or_else(|| panic!("{row} in {html}"));
        let end = at + html[at..].find("</tr>").unwrap();
        assert!(
            html[at..end].contains("connection refused"),
            "{}",
            &html[at..end]
        );
    }
    assert!(
        !html.contains("127.0.0.1"),
        "an address on the public page: {html}"
    );
    assert!(
        !html.contains("os error"),
        "a raw error on the public page: {html}"
    );

    // The public JSON.
    let public = http
        .get(format!("{base}/api/v1/public/status/acme"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!public.contains("127.0.0.1"), "{public}");
    assert!(!public.contains("os error"), "{public}");
    let public: Value = serde_json::from_str(&public).unwrap();
    let region = &public["monitors"][0]["regions"][0];
    assert_eq!(region["failure"], json!({ "kind": "connection_refused" }));
    assert_eq!(region["failure_text"], "connection refused");
    assert_eq!(region["error"], Value::Null);

    // The tenant's own API keeps the detail.
    let own: Value = http
        .get(format!("{base}/api/v1/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let region = &own["monitors"][0]["regions"][0];
    let detail = region["error"].as_str().unwrap();
    assert!(detail.contains(&format!("127.0.0.1:{closed}")), "{detail}");
    assert_eq!(region["failure"]["kind"], "connection_refused");
    analytics.drop_database().await.unwrap();
}
