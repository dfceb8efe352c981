//! The first slice end to end, against real PostgreSQL and ClickHouse: a tenant and its monitors
//! created over the API, probed by the checker from three regions through the signed internal API,
//! stored in ClickHouse, and shown on the tenant's status page routed by `Host`.

use api::{ApiConfig, AppState};
use checker::api_client::ApiClient;
use checker::guard::SsrfGuard;
use checker::plan::CheckEvent;
use checker::probe::Prober;
use checker::run::{run_checks, RunOptions};
use serde_json::{json, Value};
use sqlx::PgPool;
use statuspage_clickhouse::Analytics;
use std::net::SocketAddr;
use uuid::Uuid;

const SECRET: &str = "slice-test-secret-0123456789";
const REGIONS: [&str; 3] = ["test-eu", "test-us", "test-ap"];

struct Platform {
    app: AppState,
    addr: SocketAddr,
    targets: SocketAddr,
    analytics: Analytics,
    http: reqwest::Client,
}

impl Platform {
    async fn start(pool: PgPool) -> Self {
        Self::start_with_resolver(pool, None).await
    }

    /// With the DNS resolver custom domains are verified against.
    async fn start_with_resolver(pool: PgPool, resolver: Option<String>) -> Self {
        let url = std::env::var("CLICKHOUSE_URL").expect(
            "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
        );
        let analytics = Analytics::new(&url, &format!("test_{}", Uuid::new_v4().simple())).unwrap();
        analytics.migrate().await.unwrap();
        let app = AppState::new(
            pool,
            analytics.clone(),
            ApiConfig {
                base_domain: "localhost".into(),
                checker_secret: SECRET.into(),
                regions: REGIONS.iter().map(|r| r.to_string()).collect(),
                open_signup: true,
            },
        )
        .with_domain_resolver(resolver);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = web::server::router(app.clone(), "target/site", false, Some(addr.port()));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let (targets, _) = web::server::demo::serve_targets(
            "127.0.0.1:0".parse().unwrap(),
            web::server::demo::DemoInbox::new(None),
        )
        .await
        .unwrap();
        Self {
            app,
            addr,
            targets,
            analytics,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn page(&self, host: &str) -> (u16, String) {
        let response = self
            .http
            .get(self.url("/"))
            .header("host", format!("{host}:{}", self.addr.port()))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn create_tenant(&self, slug: &str) -> String {
        let response = self
            .http
            .post(self.url("/api/v1/tenants"))
            .json(&json!({ "slug": slug, "name": format!("{slug} Inc"), "email": format!("owner@{slug}.example"), "password": "correct horse battery" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert!(body["tenant"]["id"].as_str().is_some());
        body["api_token"].as_str().unwrap().to_owned()
    }

    async fn create_monitor(&self, token: &str, name: &str, path: &str) -> Value {
        let response = self
            .http
            .post(self.url("/api/v1/monitors"))
            .bearer_auth(token)
            .json(&json!({ "name": name, "type": "http", "url": format!("http://{}{path}", self.targets) }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    async fn run_checkers(&self) {
        let api = ApiClient::new(&self.url(""), SECRET).unwrap();
        let prober = Prober::new(SsrfGuard::new(
            SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap(),
        ));
        for region in REGIONS {
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
                &self.analytics,
                &api,
                &RunOptions::new(run_id, run_id.to_string()),
            )
            .await
            .unwrap();
            assert_eq!(
                (summary.checks, summary.up, summary.down),
                (2, 1, 1),
                "{summary:?}"
            );
            assert!(summary.errors.is_empty(), "{summary:?}");
            assert_eq!(
                summary.reported, 2,
                "first run reports both as state changes"
            );
        }
    }
}

/// The monitor's `<article>` on the status page.
fn monitor_block<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("data-monitor=\"{name}\""))
        .unwrap_or_else(|| panic!("{name} missing in {html}"));
    let end = html[start..].find("</article>").map(|e| start + e).unwrap();
    &html[start..end]
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn monitors_created_over_the_api_show_real_status_on_the_tenant_page(pool: PgPool) {
    let platform = Platform::start(pool).await;
    let token = platform.create_tenant("acme").await;
    platform.create_monitor(&token, "Homepage", "/up").await;
    platform.create_monitor(&token, "Billing", "/down").await;

    // Before any check: listed, honestly without data.
    let (status, html) = platform.page("acme.localhost").await;
    assert_eq!(status, 200);
    assert!(monitor_block(&html, "Homepage").contains("No data yet"));

    platform.run_checkers().await;

    // Every attempt from every region is in ClickHouse with real phase timings.
    let rows: Vec<(String, String, u32, u32, u16)> = platform
        .analytics
        .client()
        .query("SELECT region, toString(status), tcp_connect_us, ttfb_us, status_code FROM check_results ORDER BY region, status")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 6);
    for region in REGIONS {
        let of_region: Vec<_> = rows.iter().filter(|r| r.0 == region).collect();
        assert_eq!(of_region.len(), 2);
        assert!(of_region.iter().any(|r| r.1 == "up" && r.4 == 200));
        assert!(of_region.iter().any(|r| r.1 == "down" && r.4 == 503));
        assert!(
            of_region.iter().all(|r| r.2 > 0 && r.3 > 0),
            "connect and ttfb measured: {of_region:?}"
        );
    }

    let (status, html) = platform.page("ACME.localhost").await;
    assert_eq!(status, 200);
    let up = monitor_block(&html, "Homepage");
    assert!(up.contains("data-status=\"up\""), "{up}");
    assert!(up.contains("Operational"));
    assert!(up.contains("100%"), "24h uptime of the up monitor: {up}");
    let down = monitor_block(&html, "Billing");
    assert!(down.contains("data-status=\"down\""), "{down}");
    assert!(
        down.contains("0.00%"),
        "24h uptime of the down monitor: {down}"
    );
    for region in REGIONS {
        assert!(
            up.contains(&format!("data-region=\"{region}\"")),
            "{region} row in {up}"
        );
        assert!(down.contains(&format!("data-region=\"{region}\"")));
    }
    assert!(up.contains(" ms</td>"), "last latency per region: {up}");
    assert!(html.contains("Partial outage"), "one of two monitors down");
    // History from the rollups: 90 daily bars ending with today's, 7/30/90-day uptime, and
    // p50 / p95 per region over 24 hours (down checks have no latency).
    for (block, today) in [(up, "day up"), (down, "day down")] {
        assert_eq!(block.matches("class=\"day ").count(), 90, "{block}");
        assert_eq!(block.matches("class=\"day no_data\"").count(), 89);
        let last = block.rfind("class=\"day ").unwrap();
        assert!(
            block[last..].starts_with(&format!("class=\"{today}\"")),
            "{block}"
        );
    }
    assert!(
        up.contains("100% (7d)") && up.contains("100% (90d)"),
        "{up}"
    );
    assert!(down.contains("0.00% (30d)"), "{down}");
    let p95 = |block: &str| {
        let at = block.find("class=\"latency-24h\">").unwrap();
        block[at..].split('<').next().unwrap().to_owned()
    };
    assert!(p95(up).contains(" / ") && p95(up).ends_with(" ms"), "{up}");
    assert!(p95(down).ends_with('–'), "{down}");

    // The same data over the public API.
    let snapshot: Value = platform
        .http
        .get(platform.url("/api/v1/public/status/acme"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["monitors"].as_array().unwrap().len(), 2);
    for monitor in snapshot["monitors"].as_array().unwrap() {
        assert_eq!(monitor["days"].as_array().unwrap().len(), 90);
        assert_eq!(monitor["uptime_windows"].as_array().unwrap().len(), 4);
    }

    let tenant_id: Uuid = snapshot["tenant"]["id"].as_str().unwrap().parse().unwrap();

    // The page may leave scheduled maintenance out of its uptime: with every check inside one,
    // the history shows no data instead of an outage.
    let started = chrono::Utc::now() - chrono::Duration::minutes(30);
    let maintenance = platform
        .http
        .post(platform.url("/api/v1/maintenances"))
        .bearer_auth(&token)
        .json(
            &json!({ "title": "Billing migration", "starts_at": started.to_rfc3339(),
                       "ends_at": (started + chrono::Duration::hours(1)).to_rfc3339() }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(maintenance.status(), 201);
    let patched = platform
        .http
        .patch(platform.url("/api/v1/status-page"))
        .bearer_auth(&token)
        .json(&json!({ "exclude_maintenance": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let settings: Value = patched.json().await.unwrap();
    assert_eq!(settings["exclude_maintenance"], true);
    platform.app.status.invalidate(tenant_id);
    let (_, html) = platform.page("acme.localhost").await;
    let down = monitor_block(&html, "Billing");
    assert!(down.contains("no data (7d)"), "{down}");
    assert_eq!(down.matches("class=\"day no_data\"").count(), 90, "{down}");
    assert!(
        down.contains("data-status=\"down\""),
        "the current status stays: {down}"
    );

    // PostgreSQL goes away: the page keeps serving the last good snapshot, and says so.
    platform.app.db.close().await;
    platform.app.status.invalidate(tenant_id);
    let (status, html) = platform.page("acme.localhost").await;
    assert_eq!(status, 200, "{html}");
    assert!(monitor_block(&html, "Homepage").contains("data-status=\"up\""));
    assert!(html.contains("Showing the last known status"), "{html}");

    platform.analytics.drop_database().await.unwrap();
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn hosts_route_to_landing_status_page_or_404(pool: PgPool) {
    let platform = Platform::start(pool).await;
    platform.create_tenant("acme").await;

    let (status, html) = platform.page("localhost").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Sign in") && html.contains("href=\"/login\""),
        "landing page: {html}"
    );

    let (status, html) = platform.page("nobody.localhost").await;
    assert_eq!(status, 404);
    assert!(
        html.contains("no status page at nobody.localhost"),
        "{html}"
    );

    let (status, html) = platform.page("<script>.localhost").await;
    assert_eq!(status, 404);
    assert!(!html.contains("<script>"), "host is escaped: {html}");

    let (status, _) = platform.page("acme.localhost").await;
    assert_eq!(status, 200);

    let response = platform
        .http
        .get(platform.url("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    platform.analytics.drop_database().await.unwrap();
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn internal_endpoints_require_a_valid_signature(pool: PgPool) {
    let platform = Platform::start(pool).await;
    let plan_url = platform.url("/internal/v1/plan?region=test-eu&shard=0&shards=1");
    let unsigned = platform.http.get(&plan_url).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        unsigned.headers()["content-type"],
        "application/problem+json"
    );

    let wrong = ApiClient::new(&platform.url(""), "not-the-secret-at-all").unwrap();
    let event = CheckEvent {
        region: "test-eu".into(),
        shard: 0,
        shards: 1,
        recheck: Vec::new(),
    };
    use checker::run::PlanSource;
    assert!(wrong.work_plan(&event).await.is_err());

    let right = ApiClient::new(&platform.url(""), SECRET).unwrap();
    let plan = right.work_plan(&event).await.unwrap();
    assert!(plan.checks.is_empty());
    let unknown = CheckEvent {
        region: "mars-1".into(),
        shard: 0,
        shards: 1,
        recheck: Vec::new(),
    };
    assert!(
        right.work_plan(&unknown).await.is_err(),
        "unknown regions are refused"
    );
    platform.analytics.drop_database().await.unwrap();
}

/// A one-record DNS server on loopback: answers every TXT question with `txt` (NXDOMAIN when
/// `txt` is empty), over UDP.
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

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn custom_domains_serve_the_page_once_verified_by_dns(pool: PgPool) {
    let records = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let dns = txt_server(records.clone()).await;
    let platform = Platform::start_with_resolver(pool, Some(dns.to_string())).await;
    let token = platform.create_tenant("acme").await;
    let other = platform.create_tenant("globex").await;
    let settings = |token: &str, body: Value| {
        platform
            .http
            .patch(platform.url("/api/v1/status-page"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };

    // Bad domains are refused on the field; a good one (Unicode, stored as punycode) waits for proof.
    let bad = settings(&token, json!({ "custom_domain": "acme.localhost" }))
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["errors"][0]["field"], "custom_domain", "{bad}");
    let set = settings(
        &token,
        json!({ "custom_domain": "Status.Bücher.example.com" }),
    )
    .await
    .unwrap();
    assert_eq!(set.status(), 200);
    let set: Value = set.json().await.unwrap();
    let domain = "status.xn--bcher-kva.example.com";
    assert_eq!(set["custom_domain"], domain);
    assert_eq!(set["domain_verified_at"], Value::Null);
    let record_name = set["domain_verification"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let record_value = set["domain_verification"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(record_name, format!("_statuspage-verify.{domain}"));

    // An unverified claim blocks nobody: another tenant may claim it too (only verified
    // domains are unique); acme verifying it below releases that claim.
    let also = settings(&other, json!({ "custom_domain": domain }))
        .await
        .unwrap();
    assert_eq!(also.status(), 200);

    // Not served, and not verified, until the TXT record is there.
    assert_eq!(platform.page(domain).await.0, 404);
    let verify = |token: &str| {
        platform
            .http
            .post(platform.url("/api/v1/status-page/verify-domain"))
            .bearer_auth(token)
            .send()
    };
    let failed = verify(&token).await.unwrap();
    assert_eq!(failed.status(), 422);
    let failed: Value = failed.json().await.unwrap();
    assert!(
        failed["detail"].as_str().unwrap().contains(&record_value),
        "{failed}"
    );
    records
        .lock()
        .unwrap()
        .push("statuspage-verification=someone-elses-token".into());
    assert_eq!(
        verify(&token).await.unwrap().status(),
        422,
        "a wrong value does not verify"
    );
    records.lock().unwrap().push(record_value.clone());
    let verified = verify(&token).await.unwrap();
    assert_eq!(verified.status(), 200);
    let verified: Value = verified.json().await.unwrap();
    assert!(verified["domain_verified_at"].is_string(), "{verified}");
    assert_eq!(verified["domain_verification"], Value::Null);

    let (status, html) = platform.page(domain).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("acme Inc"), "the tenant's own page");
    // Globex's claim was released, a verified domain cannot be claimed again, and globex
    // verifying has nothing to verify.
    let taken = settings(&other, json!({ "custom_domain": domain }))
        .await
        .unwrap();
    assert_eq!(taken.status(), 422);
    assert_eq!(verify(&other).await.unwrap().status(), 422);
    assert_eq!(platform.page("globex.localhost").await.0, 200);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn private_and_password_pages_keep_visitors_out(pool: PgPool) {
    let platform = Platform::start(pool).await;
    let token = platform.create_tenant("acme").await;
    let patch = |body: Value| {
        platform
            .http
            .patch(platform.url("/api/v1/status-page"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let public_api = |password: Option<&str>| {
        let mut request = platform
            .http
            .get(platform.url("/api/v1/public/status/acme"));
        if let Some(p) = password {
            request = request.header("status-page-password", p);
        }
        request.send()
    };
    assert_eq!(public_api(None).await.unwrap().status(), 200);

    assert_eq!(
        patch(json!({ "visibility": "private" }))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(platform.page("acme.localhost").await.0, 404);
    assert_eq!(public_api(None).await.unwrap().status(), 404);

    let refused = patch(json!({ "visibility": "password" })).await.unwrap();
    assert_eq!(refused.status(), 422, "a password page needs a password");
    let set = patch(json!({ "visibility": "password", "password": "open sesame 123" }))
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let set: Value = set.json().await.unwrap();
    assert_eq!(set["password_set"], true);
    assert!(
        !set.to_string().contains("open sesame"),
        "the password never comes back"
    );

    let (status, html) = platform.page("acme.localhost").await;
    assert_eq!(status, 401);
    assert!(
        html.contains("password-protected") && !html.contains("data-monitor"),
        "{html}"
    );
    assert_eq!(public_api(None).await.unwrap().status(), 401);
    assert_eq!(
        public_api(Some("wrong password!")).await.unwrap().status(),
        401
    );
    assert_eq!(
        public_api(Some("open sesame 123")).await.unwrap().status(),
        200
    );

    let unlock = |password: &str| {
        platform
            .http
            .post(platform.url(web::server::UNLOCK_PATH))
            .header("host", format!("acme.localhost:{}", platform.addr.port()))
            .form(&[("password", password)])
            .send()
    };
    let wrong = unlock("nope nope nope").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let right = unlock("open sesame 123").await.unwrap();
    assert_eq!(right.status(), 303);
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && !cookie.contains("sesame"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = platform
        .http
        .get(platform.url("/"))
        .header("host", format!("acme.localhost:{}", platform.addr.port()))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), 200);
    // A forged or stale cookie does not open it; a new password shuts earlier visitors out.
    assert_eq!(
        platform
            .http
            .get(platform.url("/"))
            .header("host", format!("acme.localhost:{}", platform.addr.port()))
            .header("cookie", "sp_page_access=00ff")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        patch(json!({ "password": "another secret 456" }))
            .await
            .unwrap()
            .status(),
        200
    );
    let stale = platform
        .http
        .get(platform.url("/"))
        .header("host", format!("acme.localhost:{}", platform.addr.port()))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_page_shows_incidents_and_maintenance(pool: PgPool) {
    let platform = Platform::start(pool).await;
    let token = platform.create_tenant("acme").await;
    let post = |path: &str, body: Value| {
        platform
            .http
            .post(platform.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let component: Value = post("/api/v1/components", json!({ "name": "Checkout" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, before) = platform.page("acme.localhost").await;
    assert!(!before.contains("data-incident"), "no incidents yet");
    let created = post(
        "/api/v1/incidents",
        json!({ "title": "Payments failing", "impact": "major", "message": "Card payments fail for some customers.",
                "components": [{ "component_id": component["id"], "status": "partial_outage" }] }),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let now = chrono::Utc::now();
    let window = post(
        "/api/v1/maintenances",
        json!({ "title": "Database upgrade", "starts_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
                "ends_at": (now + chrono::Duration::hours(2)).to_rfc3339(), "component_ids": [component["id"]] }),
    )
    .await
    .unwrap();
    assert_eq!(window.status(), 201);

    // Writes invalidate the snapshot: the next view shows them.
    let (status, html) = platform.page("acme.localhost").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("data-incident=\"Payments failing\""),
        "{html}"
    );
    assert!(html.contains("Card payments fail for some customers."));
    assert!(html.contains("Checkout (partial outage)"));
    assert!(html.contains("data-maintenance=\"Database upgrade\""));
    assert!(html.contains(">Scheduled<"));
}
