//! The first slice end to end, against real PostgreSQL and ClickHouse: a tenant and its monitors
//! created over the API, probed by the checker from three regions through the signed internal API,
//! stored in ClickHouse, and shown on the tenant's status page routed by `Host` (the public site
//! of `web::public`: components, not monitors, with the markup of its contract).

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
use std::time::{Duration, Instant};
use uuid::Uuid;
use web::public::render::{PublicSite, RenderConfig};

const SECRET: &str = "slice-test-secret-0123456789";
const REGIONS: [&str; 3] = ["test-eu", "test-us", "test-ap"];

struct Platform {
    app: AppState,
    addr: SocketAddr,
    targets: SocketAddr,
    analytics: Analytics,
    http: reqwest::Client,
    /// The rendered sites the router serves tenants' hosts from.
    site: PublicSite,
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
        let site = PublicSite::new(RenderConfig::default());
        let router = web::server::router_with_site(
            app.clone(),
            "target/site",
            false,
            Some(addr.port()),
            site.clone(),
        );
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
            site,
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

    /// The page of `host` once `ok` holds: the site is rendered once per change and rebuilt in
    /// the background, so this announces a change and asks again until the new render is there.
    async fn page_until(
        &self,
        host: &str,
        tenant_id: Uuid,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.site.changed(tenant_id);
            let (status, html) = self.page(host).await;
            if status == 200 && ok(&html) {
                return html;
            }
            assert!(Instant::now() < deadline, "{what}: {status} {html}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn tenant_id(&self, slug: &str) -> Uuid {
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    async fn create_component(&self, token: &str, name: &str) -> Uuid {
        let response = self
            .http
            .post(self.url("/api/v1/components"))
            .bearer_auth(token)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().parse().unwrap()
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

    async fn create_monitor(
        &self,
        token: &str,
        name: &str,
        path: &str,
        component: Option<Uuid>,
    ) -> Value {
        let response = self
            .http
            .post(self.url("/api/v1/monitors"))
            .bearer_auth(token)
            .json(&json!({ "name": name, "type": "http", "url": format!("http://{}{path}", self.targets),
                           "component_id": component }))
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

/// The component's `<article>` on the status page.
fn component_block<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!(
            "<article class=\"component\" data-component=\"{name}\""
        ))
        .unwrap_or_else(|| panic!("{name} missing in {html}"));
    let end = html[start..].find("</article>").map(|e| start + e).unwrap();
    &html[start..end]
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn monitors_created_over_the_api_show_real_status_on_the_tenant_page(pool: PgPool) {
    let platform = Platform::start(pool).await;
    let token = platform.create_tenant("acme").await;
    let tenant_id = platform.tenant_id("acme").await;
    // Visitors see components; the monitors behind them stay the tenant's.
    let homepage = platform.create_component(&token, "Homepage").await;
    let billing = platform.create_component(&token, "Billing").await;
    platform
        .create_monitor(&token, "Homepage probe", "/up", Some(homepage))
        .await;
    platform
        .create_monitor(&token, "Billing probe", "/down", Some(billing))
        .await;
    let patched = platform
        .http
        .patch(platform.url("/api/v1/status-page"))
        .bearer_auth(&token)
        .json(&json!({ "uptime_window": "7d" }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200, "{}", patched.text().await.unwrap());

    // Before any check: listed, honestly without data.
    let html = platform
        .page_until("acme.localhost", tenant_id, "both components", |h| {
            h.contains("data-component=\"Billing\"") && h.contains("data-window=\"7d\"")
        })
        .await;
    let block = component_block(&html, "Homepage");
    assert_eq!(block.matches("<li class=\"bar\" data-day=").count(), 90);
    assert_eq!(
        block.matches("data-status=\"no_data\"").count(),
        90,
        "{block}"
    );
    assert!(
        block.contains("<span class=\"uptime\" data-window=\"7d\">No data</span>"),
        "{block}"
    );
    assert!(!html.contains("probe"), "monitors stay internal: {html}");
    assert!(
        !html.contains("<table class=\"regions\">"),
        "regions only when the page shows them"
    );

    platform.run_checkers().await;
    // Per-region detail from now on (a new question for ClickHouse: the charts of the render
    // before the checks are not reused).
    let patched = platform
        .http
        .patch(platform.url("/api/v1/status-page"))
        .bearer_auth(&token)
        .json(&json!({ "show_region_detail": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);

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

    let html = platform
        .page_until("ACME.localhost", tenant_id, "checked components", |h| {
            component_block(h, "Homepage")
                .contains("data-component=\"Homepage\" data-status=\"operational\"")
                && component_block(h, "Billing").contains("<tr data-region=\"test-ap\"")
                // The figures of ClickHouse's rollups (latency, charts).
                && component_block(h, "Homepage").contains("Response time, last 24 hours")
        })
        .await;
    let up = component_block(&html, "Homepage");
    assert!(
        up.contains("<span class=\"component-status\">Operational</span>"),
        "{up}"
    );
    assert!(
        up.contains("<span class=\"uptime\" data-window=\"7d\">100%</span>"),
        "7-day uptime of the up component: {up}"
    );
    let down = component_block(&html, "Billing");
    assert!(
        down.contains("data-component=\"Billing\" data-status=\"major_outage\"")
            || down.contains("data-component=\"Billing\" data-status=\"partial_outage\""),
        "{down}"
    );
    assert!(
        down.contains("<span class=\"uptime\" data-window=\"7d\">0%</span>"),
        "7-day uptime of the down component: {down}"
    );
    for region in REGIONS {
        assert!(
            up.contains(&format!(
                "<tr data-region=\"{region}\" data-status=\"operational\">"
            )),
            "{region} row in {up}"
        );
        assert!(down.contains(&format!("<tr data-region=\"{region}\"")));
    }
    assert!(up.contains(" ms</td>"), "last latency per region: {up}");
    let banner = html
        .split("<section class=\"banner\" data-status=\"")
        .nth(1)
        .unwrap();
    assert!(
        banner.starts_with("partial_outage") || banner.starts_with("major_outage"),
        "one of two components down: {banner}"
    );
    // History from the rollups: 90 daily bars ending with today's; p50 / p95 over 24 hours.
    for (block, today) in [(up, "up"), (down, "down")] {
        assert_eq!(
            block.matches("<li class=\"bar\" data-day=").count(),
            90,
            "{block}"
        );
        assert_eq!(
            block.matches("data-status=\"no_data\"").count(),
            89,
            "{block}"
        );
        let last = block.rfind("<li class=\"bar\" data-day=").unwrap();
        let today_bar = format!(
            "<li class=\"bar\" data-day=\"{}\" data-status=\"{today}\"",
            chrono::Utc::now().date_naive()
        );
        assert!(block[last..].starts_with(&today_bar), "{block}");
    }
    assert!(
        up.contains("Response time, last 24 hours: median ")
            && up.contains(" ms, 95th percentile "),
        "{up}"
    );
    assert!(up.contains("<figure class=\"chart\" data-period=\"24h\" data-region=\"test-eu\">"));

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
    let html = platform
        .page_until("acme.localhost", tenant_id, "maintenance left out", |h| {
            component_block(h, "Billing").contains("data-window=\"7d\">No data<")
        })
        .await;
    let down = component_block(&html, "Billing");
    assert_eq!(
        down.matches("data-status=\"no_data\"").count(),
        90,
        "{down}"
    );
    assert!(
        !down.contains("data-component=\"Billing\" data-status=\"operational\""),
        "the current status stays: {down}"
    );

    // PostgreSQL goes away: the page keeps serving the last good render.
    platform.app.db.close().await;
    platform.app.status.invalidate(tenant_id);
    let (status, html) = platform.page("acme.localhost").await;
    assert_eq!(status, 200, "{html}");
    assert!(component_block(&html, "Homepage").contains("data-status=\"operational\""));

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
        html.contains("password-protected") && !html.contains("data-component"),
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

    // Writes announce the change: the page is rendered again with them.
    let tenant_id = platform.tenant_id("acme").await;
    let incident_id = {
        let created: Value = created.json().await.unwrap();
        created["id"].as_str().unwrap().to_owned()
    };
    let html = platform
        .page_until(
            "acme.localhost",
            tenant_id,
            "incident and maintenance",
            |h| h.contains("data-incident=") && h.contains("data-maintenance="),
        )
        .await;
    assert!(
        html.contains(&format!(
            "<article class=\"incident\" data-incident=\"{incident_id}\""
        )),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<a href=\"/incidents/{incident_id}\">Payments failing</a>"
    )));
    assert!(html.contains("Card payments fail for some customers."));
    assert!(html.contains("Checkout (Partial outage)"));
    assert!(html.contains("<h3>Database upgrade</h3>"));
    assert!(html.contains(">Scheduled<"));
}
