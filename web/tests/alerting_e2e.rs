//! From a failing check to the right people, end to end on the local platform: the real app
//! server with its local runner (three pseudo-regions, each connecting from its own loopback
//! address), the engine's re-checks through the local dispatcher, the outbox workers, a real SMTP
//! server (aiosmtpd, `scripts/smtp-sink.py`) and a webhook receiver that checks Standard
//! Webhooks signatures and deduplicates by `webhook-id`.
//!
//! One monitor goes through a major outage (re-checked, confirmed, incident with evidence, mail
//! and webhook within the interval plus 15 s, then resolved and notified), a regional outage
//! (one region failing alone: a minor incident, never `down`), and a maintenance window (the
//! same failure alerts nobody).

use api::engine::dispatch::{DispatchError, LocalRecheck, Recheck, RecheckRequest};
use api::{ApiConfig, AppState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use checker::guard::SsrfGuard;
use serde_json::{json, Value};
use sqlx::PgPool;
use statuspage_clickhouse::{Analytics, WriterConfig};
use std::net::{IpAddr, SocketAddr};
#[path = "../../api/tests/support/smtp_sink.rs"]
mod smtp_sink;
use smtp_sink::Sink;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;
use web::server::demo::{Breakage, DemoInbox};

const SECRET: &str = "alerting-e2e-secret-0123456789";
const REGIONS: [&str; 3] = ["e2e-eu", "e2e-us", "e2e-ap"];
const TICK: Duration = Duration::from_secs(5);
const INTERVAL_SECS: u64 = 30;
const HOOK_SECRET: &str = "whsec_ZTJlLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3ODk=";

/// The engine's dispatcher, recording what it was asked before handing it to the local runner.
struct Recorded {
    inner: LocalRecheck,
    asked: Mutex<Vec<(Instant, RecheckRequest)>>,
}

impl Recheck for Recorded {
    fn recheck(
        &self,
        requests: Vec<RecheckRequest>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<DispatchError>> + Send + '_>> {
        let now = Instant::now();
        self.asked
            .lock()
            .unwrap()
            .extend(requests.iter().cloned().map(|r| (now, r)));
        self.inner.recheck(requests)
    }
}

/// A webhook as the receiver saw it.
#[derive(Debug, Clone)]
struct Hook {
    at: Instant,
    id: String,
    signature_valid: bool,
    body: Value,
}

#[derive(Default)]
struct Receiver {
    hooks: Mutex<Vec<Hook>>,
    duplicates: Mutex<usize>,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::http::StatusCode {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let id = header("webhook-id").to_owned();
    let expected = header("webhook-timestamp")
        .parse::<i64>()
        .map(|ts| api::notify::webhook::signature(HOOK_SECRET, &id, ts, &body))
        .unwrap_or_default();
    let signature_valid = header("webhook-signature")
        .split(' ')
        .any(|s| s == expected);
    let mut hooks = receiver.hooks.lock().unwrap();
    if hooks.iter().any(|h| h.id == id) {
        *receiver.duplicates.lock().unwrap() += 1;
    } else {
        hooks.push(Hook {
            at: Instant::now(),
            id,
            signature_valid,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
    }
    axum::http::StatusCode::NO_CONTENT
}

/// Subjects of the mail the sink received so far.
fn mail_subjects(sink: &Sink) -> Vec<String> {
    smtp_sink::received(sink)
        .iter()
        .filter_map(|(_, _, raw)| smtp_sink::header(raw, "Subject"))
        .collect()
}

struct Platform {
    app: AppState,
    addr: SocketAddr,
    targets: SocketAddr,
    inbox: Arc<DemoInbox>,
    receiver: Arc<Receiver>,
    hook_url: String,
    recheck: Arc<Recorded>,
    sink: Sink,
    http: reqwest::Client,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Platform {
    async fn start(pool: PgPool) -> Self {
        let url = std::env::var("CLICKHOUSE_URL")
            .expect("CLICKHOUSE_URL must point at a running ClickHouse: run `./dev test`");
        let analytics = Analytics::new(&url, &format!("test_{}", Uuid::new_v4().simple())).unwrap();
        analytics.migrate().await.unwrap();
        let sink = smtp_sink::start_sink();
        let smtp_port = sink.port;
        let smtp = api::notify::email::SmtpSettings::from_env_values(
            Some(&format!("smtp://127.0.0.1:{smtp_port}")),
            Some("Status <status@e2e.example>"),
            "localhost",
        )
        .unwrap();
        let (local, rechecks) = LocalRecheck::channel();
        let recheck = Arc::new(Recorded {
            inner: local,
            asked: Mutex::default(),
        });
        let guard = || SsrfGuard::new(SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap());
        let app = AppState::new(
            pool,
            analytics,
            ApiConfig {
                base_domain: "localhost".into(),
                checker_secret: SECRET.into(),
                regions: REGIONS.iter().map(|r| r.to_string()).collect(),
                open_signup: true,
            },
        )
        .with_delivery_guard(guard())
        .with_smtp(smtp)
        .with_recheck(recheck.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = app.with_platform_url(&format!("http://localhost:{}", addr.port()));
        let router = web::server::router(app.clone(), "target/site", false, Some(addr.port()));
        let mut tasks = vec![tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap()
        })];
        let regions: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
        let inbox = DemoInbox::with_regions(None, &regions);
        let (targets, task) =
            web::server::demo::serve_targets("127.0.0.1:0".parse().unwrap(), inbox.clone())
                .await
                .unwrap();
        tasks.push(task);
        let receiver = Arc::new(Receiver::default());
        let hooks = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook_url = format!("http://{}/hook", hooks.local_addr().unwrap());
        let hook_app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        tasks.push(tokio::spawn(async move {
            axum::serve(hooks, hook_app).await.unwrap()
        }));
        let delivery = api::outbox::DeliveryConfig {
            poll: Duration::from_secs(1),
            ..Default::default()
        };
        tasks.extend(web::server::spawn_alerting(&app, delivery));
        let spool = std::env::temp_dir().join(format!("e2e-spool-{}", Uuid::new_v4()));
        tasks.push(
            web::server::spawn_local_runner_with_rechecks(
                &app,
                addr,
                regions,
                TICK,
                guard(),
                WriterConfig {
                    spool_dir: Some(spool),
                    ..WriterConfig::default()
                },
                Some(rechecks),
            )
            .unwrap(),
        );
        Self {
            app,
            addr,
            targets,
            inbox,
            receiver,
            hook_url,
            recheck,
            sink,
            http: reqwest::Client::new(),
            _tasks: tasks,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, token: &str, path: &str, body: Value) -> Value {
        let (status, created) = self
            .call(token, reqwest::Method::POST, path, Some(body))
            .await;
        assert_eq!(status, 201, "POST {path}: {created}");
        created
    }

    fn hooks(&self) -> Vec<Hook> {
        self.receiver.hooks.lock().unwrap().clone()
    }

    /// Waits up to `within` for a webhook of `kind` (`statuspage.down`, ...) not in `seen`.
    async fn hook_of(&self, kind: &str, after: usize, within: Duration) -> Hook {
        let deadline = Instant::now() + within;
        loop {
            if let Some(hook) = self
                .hooks()
                .into_iter()
                .skip(after)
                .find(|h| h.body["type"] == kind)
            {
                return hook;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} webhook within {within:?}; received: {:#?}",
                self.hooks()
                    .iter()
                    .map(|h| h.body["type"].clone())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn mail_with(&self, subject_part: &str, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if mail_subjects(&self.sink)
                .iter()
                .any(|s| s.contains(subject_part))
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "no mail with {subject_part:?} within {within:?}: {:?}",
                mail_subjects(&self.sink)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn state_of(&self, monitor: Uuid) -> Option<String> {
        sqlx::query_scalar("SELECT state FROM monitor_state WHERE monitor_id = $1")
            .bind(monitor)
            .fetch_optional(&self.app.db)
            .await
            .unwrap()
    }

    async fn wait_for_state(&self, monitor: Uuid, state: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let now = self.state_of(monitor).await;
            if now.as_deref() == Some(state) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "monitor still {now:?}, not {state}, after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn incidents(&self, token: &str) -> Vec<Value> {
        let (status, page) = self
            .call(token, reqwest::Method::GET, "/api/v1/incidents", None)
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().cloned().unwrap_or_default()
    }
}

fn region_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|r| r["region"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_failing_target_reaches_the_team_confirmed_and_resolves_itself(pool: PgPool) {
    let p = Platform::start(pool).await;
    let signed_up = p
        .http
        .post(p.url("/api/v1/tenants"))
        .json(&json!({"slug": "acme", "name": "Acme", "email": "owner@acme.example", "password": "a long password 123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status().as_u16(), 201);
    let token = signed_up.json::<Value>().await.unwrap()["api_token"]
        .as_str()
        .unwrap()
        .to_owned();
    p.create(
        &token,
        "/api/v1/notification-channels",
        json!({
            "name": "Ops mail", "kind": "email", "config": {"to": ["ops@acme.example"]}
        }),
    )
    .await;
    p.create(&token, "/api/v1/notification-channels", json!({
        "name": "Ops hook", "kind": "webhook", "config": {"url": p.hook_url, "secret": HOOK_SECRET}
    }))
    .await;
    let component = p
        .create(&token, "/api/v1/components", json!({"name": "Checkout"}))
        .await;
    let monitor = p
        .create(
            &token,
            "/api/v1/monitors",
            json!({
                "name": "Checkout API",
                "type": "http",
                "url": format!("http://{}/switch/checkout", p.targets),
                "timeout_ms": 2000,
                "interval_seconds": INTERVAL_SECS,
                "component_id": component["id"],
                "confirmation": {"recoveries": 1, "regional_outage_after_seconds": 10},
            }),
        )
        .await;
    let monitor_id: Uuid = monitor["id"].as_str().unwrap().parse().unwrap();

    // Every region has seen it up.
    let deadline = Instant::now() + Duration::from_secs(INTERVAL_SECS + 15);
    loop {
        let up: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM monitor_region_state WHERE monitor_id = $1 AND status = 'up'",
        )
        .bind(monitor_id)
        .fetch_one(&p.app.db)
        .await
        .unwrap();
        if up == REGIONS.len() as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "only {up} regions up");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        p.hooks().is_empty(),
        "nothing to say while it is up: {:?}",
        p.hooks()
    );

    // 1. Down everywhere: re-checked, confirmed, an incident with evidence, mail and webhook.
    let broke = Instant::now();
    p.inbox.switches.set("checkout", Some(Breakage::Everywhere));
    let budget = Duration::from_secs(INTERVAL_SECS + 15);
    let down = p.hook_of("statuspage.down", 0, budget).await;
    let detected = down.at - broke;
    assert!(down.signature_valid, "{down:?}");
    assert_eq!(
        down.body["data"]["id"],
        down.id.as_str(),
        "webhook-id is the message id"
    );
    assert_eq!(down.body["data"]["resolved"], false);
    let dedup_key = down.body["data"]["dedup_key"].as_str().unwrap().to_owned();
    p.mail_with("[Down]", budget.saturating_sub(broke.elapsed()))
        .await;
    println!(
        "down: webhook {detected:?} after the break, mail {:?}",
        broke.elapsed()
    );
    assert!(broke.elapsed() <= budget);
    let asked = p.recheck.asked.lock().unwrap().clone();
    assert!(
        !asked.is_empty(),
        "the first failure asked the other regions to check now"
    );
    let rechecked: Vec<String> = asked.iter().map(|(_, r)| r.region.clone()).collect();
    assert!(rechecked.len() >= REGIONS.len() - 1, "{rechecked:?}");
    assert!(asked.iter().all(|(_, r)| r.monitor_ids == vec![monitor_id]));
    // Confirmed by the re-checks, not by the next scheduled round 30 s later.
    let confirmed_after = down.at - asked[0].0;
    assert!(
        confirmed_after < Duration::from_secs(10),
        "confirmed {confirmed_after:?} after the first re-check request"
    );
    let incidents = p.incidents(&token).await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = &incidents[0];
    assert_eq!(incident["source"], "engine");
    assert_eq!(incident["impact"], "major");
    assert_eq!(incident["monitor_id"], monitor_id.to_string());
    let evidence = &incident["evidence"];
    let mut all: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
    all.sort();
    assert_eq!(region_names(&evidence["failing"]), all, "{evidence:#}");
    let failing = &evidence["failing"][0];
    assert_eq!(failing["status_code"], 503, "{failing:#}");
    assert!(failing["phase"].is_string(), "{failing:#}");
    assert!(failing["timings"].is_object(), "{failing:#}");
    assert_eq!(
        failing["resolved_ip"], "127.0.0.1",
        "the admin token sees the resolved address: {failing:#}"
    );

    // 2. Back: resolved itself, with how long it lasted, and the recovery reaches both.
    let hooks_before = p.hooks().len();
    p.inbox.switches.set("checkout", None);
    let recovered = p.hook_of("statuspage.recovery", hooks_before, budget).await;
    assert!(recovered.signature_valid);
    assert_eq!(recovered.body["data"]["resolved"], true);
    assert_eq!(
        recovered.body["data"]["dedup_key"],
        dedup_key.as_str(),
        "the same problem"
    );
    p.mail_with("[Recovered]", Duration::from_secs(10)).await;
    let incident = &p.incidents(&token).await[0];
    assert_eq!(incident["status"], "resolved", "{incident:#}");
    let last = incident["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["message"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert!(
        last.iter()
            .any(|m| m.contains("Resolved automatically after")),
        "{last:#?}"
    );
    p.wait_for_state(monitor_id, "operational", Duration::from_secs(5))
        .await;

    // 3. One region failing alone: a regional outage (minor), never "down".
    let hooks_before = p.hooks().len();
    let ap = IpAddr::V4(checker::local::loopback_source(2));
    p.inbox
        .switches
        .set("checkout", Some(Breakage::From(vec![ap])));
    let regional = p
        .hook_of(
            "statuspage.regional_outage",
            hooks_before,
            budget + Duration::from_secs(10),
        )
        .await;
    assert!(regional.signature_valid);
    assert!(
        p.hooks()
            .iter()
            .skip(hooks_before)
            .all(|h| h.body["type"] != "statuspage.down"),
        "one region alone is not a major outage"
    );
    assert_eq!(
        p.state_of(monitor_id).await.as_deref(),
        Some("regional_outage")
    );
    let incidents = p.incidents(&token).await;
    let open: Vec<&Value> = incidents
        .iter()
        .filter(|i| i["status"] != "resolved")
        .collect();
    assert_eq!(open.len(), 1, "{incidents:#?}");
    assert_eq!(open[0]["impact"], "minor");
    assert_eq!(
        region_names(&open[0]["evidence"]["failing"]),
        vec!["e2e-ap".to_owned()]
    );
    let (_, page) = p
        .call(&token, reqwest::Method::GET, "/api/v1/status", None)
        .await;
    assert!(page.to_string().contains("regional_outage"), "{page:#}");
    let hooks_before = p.hooks().len();
    p.inbox.switches.set("checkout", None);
    p.hook_of("statuspage.recovery", hooks_before, budget).await;
    p.wait_for_state(monitor_id, "operational", Duration::from_secs(5))
        .await;

    // 4. Maintenance: the component's window suppresses the same failure.
    let now = chrono::Utc::now();
    p.create(
        &token,
        "/api/v1/maintenances",
        json!({
            "title": "Database upgrade",
            "starts_at": (now - chrono::Duration::seconds(5)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::minutes(30)).to_rfc3339(),
            "component_ids": [component["id"]],
        }),
    )
    .await;
    p.wait_for_state(monitor_id, "under_maintenance", Duration::from_secs(10))
        .await;
    let hooks_before = p.hooks().len();
    // The sink's files come back in no particular order: count, never skip.
    let downs = |subjects: Vec<String>| subjects.iter().filter(|s| s.contains("[Down]")).count();
    let down_mail_before = downs(mail_subjects(&p.sink));
    let broke = chrono::Utc::now();
    p.inbox.switches.set("checkout", Some(Breakage::Everywhere));
    // Wait until a failing check of every region has been recorded, then a little more.
    let deadline = Instant::now() + budget;
    loop {
        let down: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM monitor_region_state WHERE monitor_id = $1 AND status = 'down' AND last_checked_at > $2",
        )
        .bind(monitor_id)
        .bind(broke)
        .fetch_one(&p.app.db)
        .await
        .unwrap();
        if down == REGIONS.len() as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failure was not checked ({down} regions)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during: Vec<Value> = p
        .hooks()
        .iter()
        .skip(hooks_before)
        .map(|h| h.body["type"].clone())
        .collect();
    assert!(
        during.iter().all(|t| t == "statuspage.maintenance"),
        "only maintenance notices under maintenance: {during:?}"
    );
    assert_eq!(
        downs(mail_subjects(&p.sink)),
        down_mail_before,
        "no [Down] mail under maintenance: {:?}",
        mail_subjects(&p.sink)
    );
    assert_eq!(
        p.state_of(monitor_id).await.as_deref(),
        Some("under_maintenance")
    );
    assert_eq!(
        *p.receiver.duplicates.lock().unwrap(),
        0,
        "nothing arrived twice"
    );
}
