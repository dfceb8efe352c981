//! The feeds and the Statuspage-compatible JSON end to end: a tenant writes components, a group,
//! incidents and maintenance through `/api/v1`; the real app server (router, gate, render from
//! PostgreSQL and ClickHouse) serves `/feed.rss`, `/feed.atom`, `/calendar.ics`, `/status.json`
//! and `/api/v2/*.json` on the tenant's host, and real parsers read them (feed-rs, icalendar's
//! parser, serde_json), in the language asked for.

mod support;

use chrono::{Duration, Utc};
use icalendar::{Component as _, DatePerhapsTime};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::net::SocketAddr;
use web::public::render::{PublicSite, RenderConfig};

const SECRET: &str = "public-feeds-test-secret-0123456789";

/// The whole app server, rendering from PostgreSQL and ClickHouse.
async fn serve(pool: PgPool) -> SocketAddr {
    let analytics = support::migrated_analytics().await;
    let app = support::app_state_with_cookie_key(pool, analytics, SECRET).await;
    support::serve_site(
        app,
        PublicSite::new(RenderConfig::default()),
        "public-feeds",
    )
    .await
}

struct Client {
    addr: SocketAddr,
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn send(&self, path: &str, body: Value) -> Value {
        let request = self
            .http
            .post(format!("http://{}{path}", self.addr))
            .bearer_auth(&self.token)
            .json(&body);
        support::send_ok(request, path).await
    }

    async fn id(&self, path: &str, body: Value) -> String {
        self.send(path, body).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// GET on the tenant's host.
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .header("host", format!("acme.localhost:{}", self.addr.port()));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        if response.status() != 200 {
            let status = response.status();
            panic!("{path}: {status} {}", response.text().await.unwrap());
        }
        response
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path, &[]).await;
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "*",
            "{path}: readable from other sites"
        );
        response.json().await.unwrap()
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn feeds_and_statuspage_json_from_a_real_tenant(pool: PgPool) {
    let addr = serve(pool).await;
    let http = reqwest::Client::new();
    let created = support::sign_up(&http, &format!("http://{addr}"), "acme", "Acme").await;
    let c = Client {
        addr,
        http,
        token: support::token(&created),
    };

    let core = c
        .id(
            "/api/v1/component-groups",
            json!({ "name": "Core", "position": 0 }),
        )
        .await;
    let api_component = c
        .id(
            "/api/v1/components",
            json!({ "name": "API", "group_id": core, "position": 0, "description": "REST <API>" }),
        )
        .await;
    let docs = c
        .id(
            "/api/v1/components",
            json!({ "name": "Docs", "position": 1 }),
        )
        .await;
    let now = Utc::now();
    let outage = c
        .id(
            "/api/v1/incidents",
            json!({ "title": "API <down> & out", "message": "Looking <script>x</script>.",
                    "impact": "major", "started_at": now - Duration::minutes(20),
                    "components": [{ "component_id": api_component, "status": "major_outage" }] }),
        )
        .await;
    let old = c
        .id(
            "/api/v1/incidents",
            json!({ "title": "Slow docs", "message": "Looking.", "impact": "minor",
                    "started_at": now - Duration::days(3),
                    "components": [{ "component_id": docs, "status": "degraded_performance" }] }),
        )
        .await;
    c.send(
        &format!("/api/v1/incidents/{old}/updates"),
        json!({ "status": "resolved", "message": "Fixed." }),
    )
    .await;
    let starts = now + Duration::days(2);
    let upcoming = c
        .id(
            "/api/v1/maintenances",
            json!({ "title": "Docs move", "description": "New host.", "starts_at": starts,
                    "ends_at": starts + Duration::hours(1), "component_ids": [docs] }),
        )
        .await;
    let active = c
        .id(
            "/api/v1/maintenances",
            json!({ "title": "Cache flush", "starts_at": now - Duration::minutes(5),
                    "ends_at": now + Duration::hours(1), "component_ids": [docs] }),
        )
        .await;

    // ---- Statuspage's documents.
    let summary = c.json("/api/v2/summary.json").await;
    assert_eq!(summary["page"]["name"], "Acme status");
    assert_eq!(summary["page"]["time_zone"], "Etc/UTC");
    // The page's address as the model has it (links in every document and feed use it).
    let base = summary["page"]["url"].as_str().unwrap().to_owned();
    assert!(base.starts_with("http://acme.localhost"), "{base}");
    assert_eq!(names(&summary["components"]), ["Core", "API", "Docs"]);
    assert_eq!(summary["components"][0]["group"], true);
    assert_eq!(
        summary["components"][0]["components"],
        json!([api_component])
    );
    assert_eq!(summary["components"][1]["group_id"], json!(core));
    assert_eq!(summary["components"][1]["status"], "major_outage");
    assert_eq!(summary["components"][1]["description"], "REST <API>");
    assert_eq!(summary["components"][2]["status"], "under_maintenance");
    // One component in major outage of two, an open major incident: "major".
    assert_eq!(
        summary["status"],
        json!({ "indicator": "major", "description": "Partial System Outage" })
    );
    assert_eq!(names(&summary["incidents"]), ["API <down> & out"]);
    let open = &summary["incidents"][0];
    assert_eq!(open["id"], json!(outage));
    assert_eq!(open["impact"], "major");
    assert_eq!(open["status"], "investigating");
    assert_eq!(open["shortlink"], format!("{base}/incidents/{outage}"));
    assert_eq!(
        open["incident_updates"][0]["body"],
        "Looking <script>x</script>."
    );
    assert_eq!(names(&open["components"]), ["API"]);
    assert_eq!(
        names(&summary["scheduled_maintenances"]),
        ["Cache flush", "Docs move"]
    );

    let status = c.json("/api/v2/status.json").await;
    assert_eq!(status["status"], summary["status"]);
    assert_eq!(status["page"], summary["page"]);
    let all = c.json("/api/v2/incidents.json").await;
    assert_eq!(names(&all["incidents"]), ["API <down> & out", "Slow docs"]);
    assert_eq!(all["incidents"][1]["status"], "resolved");
    assert!(all["incidents"][1]["resolved_at"].is_string());
    let unresolved = c.json("/api/v2/incidents/unresolved.json").await;
    assert_eq!(names(&unresolved["incidents"]), ["API <down> & out"]);
    let components = c.json("/api/v2/components.json").await;
    assert_eq!(components["components"], summary["components"]);
    let up = c.json("/api/v2/scheduled-maintenances/upcoming.json").await;
    assert_eq!(names(&up["scheduled_maintenances"]), ["Docs move"]);
    assert_eq!(up["scheduled_maintenances"][0]["id"], json!(upcoming));
    assert_eq!(up["scheduled_maintenances"][0]["status"], "scheduled");
    assert_eq!(up["scheduled_maintenances"][0]["impact"], "maintenance");
    let now_on = c.json("/api/v2/scheduled-maintenances/active.json").await;
    assert_eq!(names(&now_on["scheduled_maintenances"]), ["Cache flush"]);
    assert_eq!(now_on["scheduled_maintenances"][0]["status"], "in_progress");
    let every = c.json("/api/v2/scheduled-maintenances.json").await;
    assert_eq!(
        names(&every["scheduled_maintenances"]),
        ["Docs move", "Cache flush"]
    );

    // A poller asking again with the ETag gets a 304.
    let first = c.get("/api/v2/status.json", &[]).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = c
        .http
        .get(format!("http://{addr}/api/v2/status.json"))
        .header("host", format!("acme.localhost:{}", addr.port()))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // ---- Our JSON.
    let ours = c.json("/status.json").await;
    assert_eq!(ours["page"]["title"], "Acme status");
    assert_eq!(ours["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(ours["incidents"][0]["title"], "API <down> & out");
    assert_eq!(ours["maintenance"].as_array().unwrap().len(), 2);

    // ---- RSS and Atom, in the language asked for.
    for (query, accept, title) in [
        ("", "en", "Acme status: incidents and maintenance"),
        ("?lang=de", "en", "Acme status: Störungen und Wartungen"),
        ("", "de-DE,de;q=0.9", "Acme status: Störungen und Wartungen"),
    ] {
        for (path, content_type) in [
            ("/feed.rss", "application/rss+xml; charset=utf-8"),
            ("/feed.atom", "application/atom+xml; charset=utf-8"),
            // Statuspage's names for the same feeds.
            ("/history.rss", "application/rss+xml; charset=utf-8"),
            ("/history.atom", "application/atom+xml; charset=utf-8"),
        ] {
            let response = c
                .get(&format!("{path}{query}"), &[("accept-language", accept)])
                .await;
            assert_eq!(response.headers()["content-type"], content_type);
            let bytes = response.bytes().await.unwrap();
            let feed = feed_rs::parser::parse(&bytes[..]).unwrap_or_else(|e| {
                panic!("{path}{query}: {e}\n{}", String::from_utf8_lossy(&bytes))
            });
            assert_eq!(feed.title.unwrap().content, title, "{path}{query} {accept}");
            let titles: Vec<String> = feed
                .entries
                .iter()
                .map(|e| e.title.clone().unwrap().content)
                .collect();
            assert_eq!(titles.len(), 4, "{titles:?}");
            assert!(
                titles.contains(&"API <down> & out".to_owned()),
                "{titles:?}"
            );
            assert!(titles.contains(&"Slow docs".to_owned()));
            assert!(titles.iter().any(|t| t.ends_with("Docs move")));
            assert!(titles.iter().any(|t| t.ends_with("Cache flush")));
            // Newest first: windows by their announcement, incidents by their start.
            let dates: Vec<_> = feed.entries.iter().map(|e| e.published.unwrap()).collect();
            assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
            let first = feed
                .entries
                .iter()
                .find(|e| e.title.as_ref().unwrap().content == "API <down> & out")
                .unwrap();
            assert_eq!(first.links[0].href, format!("{base}/incidents/{outage}"));
            assert!(first.published.unwrap() <= Utc::now());
            assert!(!String::from_utf8_lossy(&bytes).contains("<script>"));
        }
    }

    // ---- The calendar of maintenance.
    let response = c.get("/calendar.ics", &[]).await;
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let calendar: icalendar::Calendar = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    let events: Vec<&icalendar::Event> = calendar.events().collect();
    assert_eq!(events.len(), 2);
    let docs_move = events
        .iter()
        .find(|e| e.get_summary() == Some("Docs move"))
        .expect("the upcoming window");
    assert_eq!(
        docs_move.get_uid(),
        Some(format!("{upcoming}@acme.localhost").as_str())
    );
    match docs_move.get_start() {
        Some(DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(t))) => {
            assert!((t - starts).num_seconds().abs() <= 1, "{t} vs {starts}")
        }
        other => panic!("DTSTART not in UTC: {other:?}"),
    }
    assert!(docs_move
        .get_description()
        .unwrap_or_default()
        .contains("Docs"));
    assert!(events
        .iter()
        .any(|e| e.get_uid() == Some(format!("{active}@acme.localhost").as_str())));
}
