//! The public page's model ([`web::public::model::load`]) from real PostgreSQL and ClickHouse:
//! groups and components in page order, each component's days and uptime combined from its
//! monitors' checks, chart series and phases merged over its monitors, per-region detail when
//! the page shows it, published incidents only (never drafts) with their timeline, maintenance,
//! nothing of another tenant; without ClickHouse the model still loads and says it is stale,
//! without PostgreSQL it fails.

mod support;

use api::accounts::tenancy::Tenant;
use api::{ApiConfig, AppState};
use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use statuspage_clickhouse::{Analytics, CheckRow, STATUS_DEGRADED, STATUS_DOWN, STATUS_UP};
use uuid::Uuid;
use web::public::model::{load, PageModel};

const SECRET: &str = "public-model-secret-0123456789";

fn app_state(pool: PgPool, analytics: Analytics) -> AppState {
    AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "status.test".into(),
            checker_secret: SECRET.into(),
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            open_signup: true,
        },
    )
    .with_platform_url("https://app.status.test:8443")
}

/// A ClickHouse address where nothing listens.
fn dead_clickhouse() -> Analytics {
    let closed = support::free_port();
    Analytics::new(&format!("http://127.0.0.1:{closed}"), "nowhere").unwrap()
}

/// The API on a loopback port, for writing a tenant's configuration as a tenant would.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(app: AppState) -> Api {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = api::router(app);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Api {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    async fn tenant(&self, slug: &str) -> (Tenant, String) {
        let created = support::sign_up(&self.http, &self.base, slug, &slug.to_uppercase()).await;
        let tenant: Tenant = serde_json::from_value(created["tenant"].clone()).unwrap();
        (tenant, support::token(&created))
    }

    async fn send(&self, token: &str, method: &str, path: &str, body: Value) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body);
        support::send_ok(request, path).await
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Uuid {
        let created = self.send(token, "POST", path, body).await;
        created["id"].as_str().unwrap().parse().unwrap()
    }

    async fn monitor(&self, token: &str, name: &str, component: Uuid) -> Uuid {
        self.post(
            token,
            "/api/v1/monitors",
            json!({ "name": name, "type": "http", "url": format!("https://{}.example/", name.to_lowercase()), "component_id": component }),
        )
        .await
    }
}

fn start_of_day(day: chrono::NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

fn close(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() <= want * 0.01)
}

fn component<'a>(model: &'a PageModel, name: &str) -> &'a web::public::model::ComponentModel {
    model
        .components()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no component {name} in {model:#?}"))
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_model_combines_each_components_monitors_and_shows_only_what_visitors_may_see(
    pool: PgPool,
) {
    let analytics = support::migrated_analytics().await;
    let app = app_state(pool.clone(), analytics.clone());
    let api = Api::start(app.clone()).await;
    let (tenant, token) = api.tenant("acme").await;
    let (other, other_token) = api.tenant("other").await;

    // Groups and components, created out of page order.
    let billing = api
        .post(
            &token,
            "/api/v1/component-groups",
            json!({ "name": "Billing", "position": 2 }),
        )
        .await;
    let core = api
        .post(
            &token,
            "/api/v1/component-groups",
            json!({ "name": "Core services", "position": 0 }),
        )
        .await;
    let payments = api
        .post(
            &token,
            "/api/v1/components",
            json!({ "name": "Payments", "group_id": billing, "position": 0 }),
        )
        .await;
    let api_component = api
        .post(&token, "/api/v1/components", json!({ "name": "API", "group_id": core, "position": 1, "description": "The REST API." }))
        .await;
    let website = api
        .post(&token, "/api/v1/components", json!({ "name": "Website", "group_id": core, "position": 0, "description": "Our home page." }))
        .await;
    let docs = api
        .post(
            &token,
            "/api/v1/components",
            json!({ "name": "Docs", "position": 1 }),
        )
        .await;
    let w1 = api.monitor(&token, "Web-eu", website).await;
    let w2 = api.monitor(&token, "Web-cdn", website).await;
    let a1 = api.monitor(&token, "Rest", api_component).await;
    let _p1 = api.monitor(&token, "Pay", payments).await;
    api.send(
        &token,
        "PATCH",
        "/api/v1/status-page",
        json!({ "description": "How Acme is doing.", "show_region_detail": true, "uptime_window": "30d",
                "branding": { "accent_color": "#1f6feb", "favicon_url": "https://acme.example/icon.png" } }),
    )
    .await;

    // The other tenant: its own component, incident and checks of a monitor id of ours.
    let theirs = api
        .post(
            &other_token,
            "/api/v1/components",
            json!({ "name": "Their website" }),
        )
        .await;
    let their_incident = api
        .post(&other_token, "/api/v1/incidents", json!({ "title": "Their outage", "message": "Down.", "components": [{ "component_id": theirs, "status": "major_outage" }] }))
        .await;

    // Checks: W1 40 up at 100 ms, W2 20 at 300 ms (2 down) yesterday at 23:00–23:40, so inside
    // the last 24 hours and yesterday's bar whenever the test runs; A1 degraded two days ago.
    let now = Utc::now();
    let today = now.date_naive();
    let yesterday = today - Duration::days(1);
    let two_days_ago = today - Duration::days(2);
    let late = start_of_day(yesterday) + Duration::hours(23);
    let region = |i: i64| if i % 2 == 0 { "eu-west-1" } else { "us-east-1" };
    let us = |t: DateTime<Utc>| t.timestamp_micros();
    let mut rows = Vec::new();
    for i in 0..40 {
        let at = us(late + Duration::minutes(i));
        rows.push(CheckRow::synthetic(
            tenant.id,
            w1,
            region(i),
            at,
            STATUS_UP,
            100_000,
        ));
    }
    for i in 0..20 {
        let at = us(late + Duration::minutes(2 * i));
        let status = if i < 2 { STATUS_DOWN } else { STATUS_UP };
        rows.push(CheckRow::synthetic(
            tenant.id,
            w2,
            region(i),
            at,
            status,
            300_000,
        ));
    }
    for i in 0..5 {
        let at = us(start_of_day(two_days_ago) + Duration::hours(12) + Duration::minutes(i));
        rows.push(CheckRow::synthetic(
            tenant.id,
            a1,
            region(i),
            at,
            STATUS_DEGRADED,
            50_000,
        ));
    }
    for i in 0..30 {
        rows.push(CheckRow::synthetic(
            other.id,
            w1,
            "eu-west-1",
            us(late + Duration::minutes(i)),
            STATUS_DOWN,
            9_000_000,
        ));
    }
    analytics
        .insert_checks(&rows, "public-model")
        .await
        .unwrap();

    // A published incident on Website yesterday (monitoring, then resolved), a draft, and
    // maintenance on API two days ago.
    let started = late + Duration::minutes(5);
    let incident = api
        .post(&token, "/api/v1/incidents", json!({ "title": "Slow pages", "message": "Looking.", "impact": "minor",
               "started_at": started, "components": [{ "component_id": website, "status": "degraded_performance" }] }))
        .await;
    api.send(
        &token,
        "POST",
        &format!("/api/v1/incidents/{incident}/updates"),
        json!({ "status": "monitoring", "message": "A fix is out." }),
    )
    .await;
    api.send(
        &token,
        "POST",
        &format!("/api/v1/incidents/{incident}/updates"),
        json!({ "status": "resolved", "message": "All good." }),
    )
    .await;
    let draft = api
        .post(
            &token,
            "/api/v1/incidents",
            json!({ "title": "Draft outage", "message": "Not public yet.",
               "components": [{ "component_id": website, "status": "major_outage" }] }),
        )
        .await;
    sqlx::query("UPDATE incidents SET published_at = NULL WHERE id = $1")
        .bind(draft)
        .execute(&pool)
        .await
        .unwrap();
    let window_start = start_of_day(two_days_ago) + Duration::hours(10);
    let maintenance = api
        .post(
            &token,
            "/api/v1/maintenances",
            json!({ "title": "Database upgrade", "starts_at": window_start,
               "ends_at": window_start + Duration::hours(4), "component_ids": [api_component] }),
        )
        .await;
    let upcoming = api
        .post(&token, "/api/v1/maintenances", json!({ "title": "Network work", "starts_at": now + Duration::days(3),
               "ends_at": now + Duration::days(3) + Duration::hours(1), "component_ids": [website] }))
        .await;

    let model = load(&app, &tenant).await.unwrap();
    assert!(!model.stale, "both databases answered");
    assert_eq!(model.slug, "acme");
    assert_eq!(model.hosts, ["acme.status.test"]);
    assert_eq!(model.url, "https://acme.status.test:8443");
    assert_eq!(model.description, "How Acme is doing.");
    assert_eq!(model.uptime_window, "30d");
    assert!(model.show_region_detail);
    assert_eq!(model.branding.accent_color.as_deref(), Some("#1f6feb"));
    assert_eq!(
        model.branding.favicon_url.as_deref(),
        Some("https://acme.example/icon.png")
    );
    assert_eq!(model.regions, ["eu-west-1", "us-east-1"]);

    // Page order: Core services (Website, API), Docs on its own, Billing.
    let order: Vec<(Option<&str>, Vec<&str>)> = model
        .groups
        .iter()
        .map(|g| {
            (
                g.name.as_deref(),
                g.components.iter().map(|c| c.name.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (Some("Core services"), vec!["Website", "API"]),
            (None, vec!["Docs"]),
            (Some("Billing"), vec!["Payments"]),
        ]
    );
    assert_eq!(model.groups[0].id, Some(core));
    assert_eq!(model.groups[1].id, None);
    let site = component(&model, "Website");
    assert_eq!(site.id, website);
    assert_eq!(site.description, "Our home page.");
    assert_eq!(site.group_id, Some(core));
    assert_eq!(component(&model, "Docs").id, docs);

    // Days: the worst of the monitors, the mean of their uptimes.
    assert_eq!(site.days.len(), 90);
    assert_eq!(site.days[89].day, today);
    let day = |c: &web::public::model::ComponentModel, d: chrono::NaiveDate| {
        c.days.iter().find(|x| x.day == d).unwrap().clone()
    };
    let y = day(site, yesterday);
    assert_eq!(y.status, "down", "W2 was down yesterday");
    assert!(close(y.uptime, 95.0), "mean of 100% and 90%: {y:?}");
    assert_eq!(y.incidents, [(incident, "Slow pages".to_owned())]);
    assert!(y.maintenances.is_empty());
    assert_eq!(day(site, two_days_ago).status, "no_data");
    let rest = component(&model, "API");
    let d2 = day(rest, two_days_ago);
    assert_eq!(d2.status, "degraded");
    assert_eq!(
        d2.maintenances,
        [(maintenance, "Database upgrade".to_owned())]
    );
    assert!(component(&model, "Docs")
        .days
        .iter()
        .all(|d| d.status == "no_data"));

    // Uptime per window: each monitor counts the same (mean 95%, not the pooled 96.7%).
    let windows: Vec<&str> = site.uptime.iter().map(|u| u.window.as_str()).collect();
    assert_eq!(windows, ["24h", "7d", "30d", "90d"]);
    for u in &site.uptime {
        assert!(close(u.percent, 95.0), "{u:?}");
    }
    assert!(component(&model, "Payments")
        .uptime
        .iter()
        .all(|u| u.percent.is_none()));

    // Latency merged over the monitors: 40 checks at 100 ms and 18 at 300 ms.
    assert!(close(site.p50_24h_ms, 100.0), "{:?}", site.p50_24h_ms);
    assert!(close(site.p95_24h_ms, 300.0), "{:?}", site.p95_24h_ms);
    let periods: Vec<&str> = site.charts.iter().map(|c| c.period.as_str()).collect();
    assert_eq!(periods, ["24h", "7d", "30d"]);
    let week = &site.charts[1];
    assert_eq!(week.bucket_secs, 3600);
    let series_regions: Vec<Option<&str>> =
        week.series.iter().map(|s| s.region.as_deref()).collect();
    assert_eq!(
        series_regions,
        [Some("eu-west-1"), Some("us-east-1")],
        "one series per region with per-region detail"
    );
    assert!(week.series.iter().all(|s| !s.points.is_empty()));
    let month = &site.charts[2];
    assert_eq!(month.bucket_secs, 86_400);
    assert_eq!(month.series.len(), 2);
    assert_eq!(month.series[0].points[0].at, start_of_day(yesterday));
    if now.hour() < 23 {
        assert_eq!(
            site.charts[0].series.len(),
            2,
            "yesterday 23:00 is in the last 24 h"
        );
    }
    let phase_regions: Vec<Option<&str>> =
        site.phases.iter().map(|p| p.region.as_deref()).collect();
    assert_eq!(phase_regions, [None, Some("eu-west-1"), Some("us-east-1")]);
    let names: Vec<&str> = site.phases[0].phases.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "dns",
            "tcp_connect",
            "tls_handshake",
            "ttfb",
            "transfer",
            "total"
        ]
    );
    assert_eq!(site.phases[0].samples, 58);
    assert!(
        close(Some(site.phases[0].phases[0].1), 10.0),
        "dns is a tenth"
    );
    assert!(component(&model, "Docs")
        .charts
        .iter()
        .all(|c| c.series.is_empty()));

    // Regions: status over the component's monitors, latency merged.
    let regions: Vec<&str> = site.regions.iter().map(|r| r.region.as_str()).collect();
    assert_eq!(regions, ["eu-west-1", "us-east-1"]);
    assert!(site.regions.iter().all(|r| r.failure.is_none()));
    assert!(site.regions.iter().all(|r| r.p50_24h_ms.is_some()));

    // Incidents: published only, with the timeline and when it entered monitoring.
    let ids: Vec<Uuid> = model.incidents.iter().map(|i| i.id).collect();
    assert_eq!(ids, [incident], "drafts never appear");
    let slow = model.incident(incident).unwrap();
    assert_eq!(slow.started_at.timestamp(), started.timestamp());
    assert!(slow.resolved_at.is_some());
    assert_eq!(slow.updates.len(), 3);
    assert_eq!(slow.updates[0].message, "All good.");
    assert_eq!(slow.monitoring_at, Some(slow.updates[1].created_at));
    assert_eq!(slow.components.len(), 1);
    assert_eq!(
        (slow.components[0].id, slow.components[0].name.as_str()),
        (website, "Website")
    );
    let maint: Vec<Uuid> = model.maintenances.iter().map(|m| m.id).collect();
    assert_eq!(
        maint,
        [upcoming, maintenance],
        "not ended first, then ended"
    );
    assert_eq!(
        model.maintenances[1].components,
        [(api_component, "API".to_owned())]
    );

    // Nothing of the other tenant, and nothing of ours in theirs.
    let json = serde_json::to_string(&model).unwrap();
    for id in [theirs, their_incident] {
        assert!(!json.contains(&id.to_string()), "{id} of the other tenant");
    }
    assert!(!json.contains("Their outage") && !json.contains("Their website"));
    let their_model = load(&app, &other).await.unwrap();
    let their_json = serde_json::to_string(&their_model).unwrap();
    for id in [website, api_component, incident, maintenance, core] {
        assert!(!their_json.contains(&id.to_string()), "{id} of acme");
    }
    assert_eq!(their_model.components().count(), 1);
    assert_eq!(their_model.incidents.len(), 1);
    assert!(
        their_model.components().all(|c| c.p50_24h_ms.is_none()),
        "their checks of our monitor id are not on their component"
    );

    // Without per-region detail: one combined series, one phase row, no regions.
    api.send(
        &token,
        "PATCH",
        "/api/v1/status-page",
        json!({ "show_region_detail": false }),
    )
    .await;
    let combined = load(&app, &tenant).await.unwrap();
    let site = component(&combined, "Website");
    assert!(site.regions.is_empty());
    assert_eq!(site.phases.len(), 1);
    assert_eq!(site.charts[1].series.len(), 1);
    assert_eq!(site.charts[1].series[0].region, None);
    assert!(close(site.p50_24h_ms, 100.0));

    // Another server without ClickHouse: no live figures (stale), the charts gathered in the
    // last five minutes still shown.
    let cold = load(&app_state(pool.clone(), dead_clickhouse()), &tenant)
        .await
        .unwrap();
    assert!(cold.stale);
    let site = component(&cold, "Website");
    assert!(
        site.days.is_empty(),
        "the snapshot has no ClickHouse figures"
    );
    assert_eq!(site.charts[1].series.len(), 1, "the cached chart figures");
    assert!(close(site.p50_24h_ms, 100.0));

    // PostgreSQL gone: the model fails (the snapshot alone is not enough).
    pool.close().await;
    assert!(load(&app, &tenant).await.is_err());
    analytics.drop_database().await.unwrap();
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn without_clickhouse_the_model_loads_and_says_it_is_stale(pool: PgPool) {
    let app = app_state(pool, dead_clickhouse());
    let api = Api::start(app.clone()).await;
    let (tenant, token) = api.tenant("quiet").await;
    let website = api
        .post(&token, "/api/v1/components", json!({ "name": "Website" }))
        .await;
    api.monitor(&token, "Web", website).await;
    let incident = api
        .post(
            &token,
            "/api/v1/incidents",
            json!({ "title": "Checking", "message": "Looking.",
               "components": [{ "component_id": website, "status": "partial_outage" }] }),
        )
        .await;

    let model = load(&app, &tenant).await.unwrap();
    assert!(model.stale, "no ClickHouse: stale");
    let site = component(&model, "Website");
    assert!(site.days.is_empty());
    assert!(site.uptime.iter().all(|u| u.percent.is_none()));
    assert!(site.charts.iter().all(|c| c.series.is_empty()));
    assert!(site.phases.is_empty());
    assert_eq!(site.p50_24h_ms, None);
    assert_eq!(
        model.incidents.iter().map(|i| i.id).collect::<Vec<_>>(),
        [incident]
    );
    assert_eq!(
        site.status,
        api::engine::components::PageStatus::PartialOutage,
        "the open incident still speaks"
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_demo_page_has_groups_descriptions_and_region_detail(pool: PgPool) {
    use web::server::demo;
    let analytics = support::migrated_analytics().await;
    // The demo's webhook channel points at the targets server on loopback.
    let loopback = checker::guard::SsrfGuard::new(
        checker::guard::SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap(),
    );
    let app = app_state(pool.clone(), analytics.clone()).with_delivery_guard(loopback);
    let inbox = demo::DemoInbox::with_regions(None, &["local-a".to_owned()]);
    let (targets, _task) = demo::serve_targets("127.0.0.1:0".parse().unwrap(), inbox.clone())
        .await
        .unwrap();
    demo::seed(&app, targets, &inbox).await.unwrap();
    let tenant = app.tenant_by_slug(demo::DEMO_SLUG).await.unwrap().unwrap();
    // A tenant's own choice survives a restart (the seed fills only what is unset).
    sqlx::query(
        "UPDATE components SET description = 'Ours.' WHERE tenant_id = $1 AND name = 'API'",
    )
    .bind(tenant.id)
    .execute(&pool)
    .await
    .unwrap();
    demo::seed(&app, targets, &inbox).await.unwrap();
    let model = load(&app, &tenant).await.unwrap();
    let order: Vec<(Option<&str>, Vec<&str>)> = model
        .groups
        .iter()
        .map(|g| {
            (
                g.name.as_deref(),
                g.components.iter().map(|c| c.name.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (Some("Core services"), vec!["Website", "API"]),
            (Some("Billing"), vec!["Billing"]),
        ]
    );
    assert!(model.show_region_detail);
    assert!(!model.description.is_empty());
    assert!(model.branding.accent_color.is_some());
    assert_eq!(component(&model, "API").description, "Ours.");
    assert!(!component(&model, "Website").description.is_empty());
    analytics.drop_database().await.unwrap();
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_new_page_settings_are_checked_and_travel_in_config_files(pool: PgPool) {
    let api = Api::start(app_state(pool, dead_clickhouse())).await;
    let (_, token) = api.tenant("tidy").await;
    let settings = api
        .send(&token, "GET", "/api/v1/status-page", Value::Null)
        .await;
    assert_eq!(settings["show_region_detail"], false);
    assert_eq!(settings["uptime_window"], "90d");

    let refused = api
        .http
        .patch(format!("{}/api/v1/status-page", api.base))
        .bearer_auth(&token)
        .json(&json!({ "uptime_window": "1y", "branding": { "favicon_url": "http://tidy.example/icon.png" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["branding.favicon_url", "uptime_window"],
        "{problem}"
    );

    // Config as code: exported, imported, checked under `status_page.`.
    let import = |document: Value| {
        api.http
            .post(format!("{}/api/v1/config?dry_run=false", api.base))
            .bearer_auth(&token)
            .json(&document)
            .send()
    };
    let bad = import(json!({ "version": 1, "status_page": { "uptime_window": "2d" } }))
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(
        problem["errors"][0]["field"], "status_page.uptime_window",
        "{problem}"
    );
    let good = import(
        json!({ "version": 1, "status_page": { "uptime_window": "7d", "show_region_detail": true,
                                "branding": { "favicon_url": "https://tidy.example/icon.png" } } }),
    )
    .await
    .unwrap();
    assert!(good.status().is_success(), "{}", good.text().await.unwrap());
    let exported = api
        .send(&token, "GET", "/api/v1/config?format=json", Value::Null)
        .await;
    assert_eq!(exported["status_page"]["uptime_window"], "7d");
    assert_eq!(exported["status_page"]["show_region_detail"], true);
    assert_eq!(
        exported["status_page"]["branding"]["favicon_url"],
        "https://tidy.example/icon.png"
    );
}
