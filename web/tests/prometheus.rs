//! The platform's `/metrics`, scraped by a real Prometheus (Debian's `prometheus`, started on a
//! loopback port of the test's own): checker runs from two regions go through the signed
//! internal API, their counts and phase histograms reach Prometheus, and every expression of the
//! Grafana dashboard in the repo (`infra/grafana/statuspage.json`) is valid PromQL that names
//! only metrics the server exposes. A tenant's custom metric reads that same Prometheus: its
//! first answer at the save, its refusals by field, the public page showing it, and the last
//! good value kept while the Prometheus is away.

mod support;

use axum::routing::get;
use checker::api_client::ApiClient;
use checker::guard::SsrfGuard;
use checker::plan::CheckEvent;
use checker::probe::Prober;
use checker::run::{run_checks, RunOptions};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;
use web::public::render::{PublicSite, RenderConfig};

const SECRET: &str = "metrics-test-secret-0123456789";
const TOKEN: &str = "metrics-scrape-token-0123456789";
const REGIONS: [&str; 2] = ["test-eu", "test-us"];

/// Debian's Prometheus (`PROMETHEUS_BIN` overrides); `./dev test` installs it.
fn prometheus_bin() -> String {
    let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    assert!(
        std::path::Path::new(&bin).exists(),
        "Prometheus not found at {bin}: install Debian's `prometheus` (`./dev test` does) or set PROMETHEUS_BIN"
    );
    bin
}

/// A Prometheus scraping `target` every second, with the bearer token; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempdir::Dir,
}

mod tempdir {
    /// A folder removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Prometheus {
    /// Scraping `target` with the bearer token [`TOKEN`].
    async fn start(target: SocketAddr) -> Self {
        let dir = support::temp_path("prometheus");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: statuspage\n    scrape_interval: 1s\n    scrape_timeout: 1s\n\
             \x20   authorization:\n      credentials: {TOKEN}\n\
             \x20   static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(prometheus_bin())
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting prometheus");
        let prometheus = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: tempdir::Dir(dir.clone()),
        };
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/-/ready", prometheus.url)).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "Prometheus not ready within 30 s: {}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        prometheus
    }

    /// An instant query's answer (`status` and `data`).
    async fn query(&self, promql: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The first sample of `promql` once Prometheus has one (within 30 s).
    async fn value(&self, promql: &str) -> f64 {
        let start = Instant::now();
        loop {
            let answer = self.query(promql).await;
            if let Some(v) = answer["data"]["result"][0]["value"][1].as_str() {
                return v.parse().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no sample of {promql} within 30 s: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sample names the exposition's `# TYPE` lines promise (a counter's `_total`, a
/// histogram's `_bucket`, `_sum` and `_count`), empty families included.
fn exposed_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// Every `statuspage_*` name an expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("statuspage_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn prometheus_scrapes_the_runs_and_the_dashboard_reads_only_what_is_exposed(pool: PgPool) {
    let analytics = support::migrated_analytics().await;
    let mut config = support::api_config(SECRET);
    config.regions = REGIONS.iter().map(|r| r.to_string()).collect();
    let app = api::AppState::new(pool, analytics.clone(), config);
    let site = PublicSite::new(RenderConfig::default());
    let addr = support::serve_site(app.clone(), site.clone(), "metrics-site").await;
    let base = format!("http://{addr}");
    let (metrics_addr, _metrics) = web::server::metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        app.clone(),
        site,
        Some(TOKEN.into()),
    )
    .await
    .unwrap();

    // Two targets on loopback: one up, one answering 503.
    let targets = axum::Router::new()
        .route("/up", get(|| async { "ok" }))
        .route(
            "/down",
            get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "no") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, targets).await.unwrap() });

    let http = reqwest::Client::new();
    let signed_up = support::sign_up(&http, &base, "acme", "Acme").await;
    let token = signed_up["api_token"].as_str().unwrap();
    for (name, path) in [("Home", "/up"), ("Billing", "/down")] {
        let created = http
            .post(format!("{base}/api/v1/monitors"))
            .bearer_auth(token)
            .json(&json!({ "name": name, "type": "http", "url": format!("http://{target_addr}{path}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    }

    // A heartbeat, pinged once (its monitor is no checker's).
    let beat: Value = http
        .post(format!("{base}/api/v1/monitors"))
        .bearer_auth(token)
        .json(&json!({ "name": "Nightly", "type": "heartbeat", "period_seconds": 3600 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issued: Value = http
        .post(format!(
            "{base}/api/v1/monitors/{}/heartbeat-url",
            beat["id"].as_str().unwrap()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = issued["url"].as_str().unwrap();
    let path = &url[url.find("/api/v1/heartbeats/").unwrap()..];
    let ping = http.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(ping.status(), 200, "{issued}");
    // The delivery workers try the sign-up's address confirmation (no mail server here).
    let _workers = tokio::spawn(api::outbox::run_workers(
        app.clone(),
        api::outbox::DeliveryConfig::default(),
    ));

    let api = ApiClient::new(&base, SECRET).unwrap();
    let prober = Prober::new(SsrfGuard::new(
        SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap(),
    ));
    // One region stores through the spooling writer, which reports its backlog.
    let spool = support::temp_path("metrics-spool");
    let writer = statuspage_clickhouse::Writer::new(
        analytics.clone(),
        statuspage_clickhouse::WriterConfig {
            spool_dir: Some(spool.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    for region in REGIONS {
        let event = CheckEvent::scheduled(region.to_owned());
        let run_id = Uuid::new_v4();
        let options = RunOptions::new(run_id, run_id.to_string());
        let summary = if region == "test-us" {
            run_checks(&event, &prober, &api, &writer, &api, &options).await
        } else {
            run_checks(&event, &prober, &api, &analytics, &api, &options).await
        }
        .unwrap();
        assert_eq!((summary.checks, summary.up, summary.down), (2, 1, 1));
        assert_eq!(summary.phases.total.count(), 2, "{summary:?}");
        assert_eq!(summary.phases.tcp_connect.count(), 2, "{summary:?}");
        assert_eq!(
            summary.phases.tls_handshake.count(),
            0,
            "plain HTTP has no TLS phase"
        );
    }

    // The listener refuses a scrape without the token, and answers one with it.
    let metrics_url = format!("http://{metrics_addr}/metrics");
    let refused = http.get(&metrics_url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = http
        .get(&metrics_url)
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let scraped = http
        .get(&metrics_url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = scraped.text().await.unwrap();
    for line in [
        "statuspage_checks_total{region=\"test-eu\",status=\"up\"} 1",
        "statuspage_checks_total{region=\"test-us\",status=\"down\"} 1",
        "statuspage_checker_runs_total{region=\"test-eu\"} 1",
        "statuspage_check_phase_seconds_count{region=\"test-us\",phase=\"total\"} 2",
        "statuspage_check_phase_seconds_count{region=\"test-us\",phase=\"tls_handshake\"} 0",
        // The first run reports both monitors as changes.
        "statuspage_fast_path_results_total{region=\"test-eu\",status=\"down\"} 1",
        "statuspage_database_up 1",
        "statuspage_clickhouse_spool_batches{region=\"test-us\"} 0",
        "statuspage_heartbeat_pings_total{status=\"up\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing in:\n{text}");
    }
    // The sign-up's address confirmation waits in the outbox (no delivery worker runs here).
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(pending >= 1);
    assert!(
        text.contains(&format!("statuspage_outbox_pending {pending}\n")),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    // Nothing a tenant named is a label: no monitor, tenant or URL.
    for private in ["Billing", "acme", &target_addr.to_string()] {
        assert!(!text.contains(private), "{private} leaked into the metrics");
    }

    let _ = std::fs::remove_dir_all(&spool);

    // Summaries are signed, well formed, and counted for the deployment's regions only.
    use checker::run::FastPath;
    let unsigned = http
        .post(format!("{base}{}", checker::api_client::RUNS_PATH))
        .json(
            &json!({ "region": "test-eu", "shard": 0, "run_id": Uuid::new_v4(), "checks": 9,
                       "up": 9, "degraded": 0, "down": 0, "stored": 9, "reported": 0,
                       "duration_ms": 1, "errors": [] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let mut bad = checker::run::RunSummary {
        region: "test-eu".into(),
        checks: 1,
        up: 1,
        ..Default::default()
    };
    bad.phases.ttfb.counts = vec![1, 2, 3];
    let refused = api.finished(&bad).await.unwrap_err().to_string();
    assert!(
        refused.contains("422") && refused.contains("phases.ttfb.counts"),
        "{refused}"
    );
    let elsewhere = checker::run::RunSummary {
        region: "test-ap".into(),
        checks: 5,
        up: 5,
        ..Default::default()
    };
    let unknown = api.finished(&elsewhere).await.unwrap_err().to_string();
    assert!(unknown.contains("401"), "{unknown}");
    let again = http
        .get(&metrics_url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!again.contains("test-ap"), "{again}");
    assert!(again.contains("statuspage_checker_runs_total{region=\"test-eu\"} 1\n"));

    // A real Prometheus scrapes it.
    let prometheus = Prometheus::start(metrics_addr).await;
    assert_eq!(prometheus.value("up{job=\"statuspage\"}").await, 1.0);
    assert_eq!(
        prometheus
            .value("sum(statuspage_checks_total{status=\"down\"})")
            .await,
        2.0
    );
    assert_eq!(
        prometheus
            .value("statuspage_check_phase_seconds_count{region=\"test-eu\",phase=\"ttfb\"}")
            .await,
        2.0
    );
    assert!(
        prometheus
            .value("sum(statuspage_deliveries_total{channel=\"email\"})")
            .await
            >= 1.0
    );
    // Loopback answers in well under a second: the median total is below the 1 s bucket.
    let median = prometheus
        .value("histogram_quantile(0.5, sum by (le) (statuspage_check_phase_seconds_bucket{phase=\"total\"}))")
        .await;
    assert!(median > 0.0 && median <= 1.0, "median {median}");

    // The dashboard: valid PromQL, reading only exposed names.
    let exposed = exposed_names(&text);
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../infra/grafana/statuspage.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    let variable = dashboard["templating"]["list"][0]["query"]["query"]
        .as_str()
        .unwrap();
    assert!(exprs.len() >= 20, "{} expressions", exprs.len());
    for name in exprs
        .iter()
        .flat_map(|e| metric_names(e))
        .chain(metric_names(variable))
    {
        assert!(
            exposed.contains(&name),
            "the dashboard reads {name}, which /metrics does not expose ({exposed:?})"
        );
    }
    exprs.sort();
    exprs.dedup();
    for expr in &exprs {
        let promql = expr
            .replace("$__rate_interval", "1m")
            .replace("$region", ".*");
        let answer = prometheus.query(&promql).await;
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
    }
    // And the first panel shows data once two scrapes are in.
    let checks = dashboard["panels"][1]["targets"][0]["expr"]
        .as_str()
        .unwrap()
        .replace("$__rate_interval", "1m")
        .replace("$region", ".*");
    let start = Instant::now();
    loop {
        let answer = prometheus.query(&checks).await;
        if answer["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{checks}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The visible text of `html` around the metric `name` (its `<li>`).
fn metric_item<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("data-metric=\"{name}\""))
        .unwrap_or_else(|| panic!("metric {name} missing in {html}"));
    let end = html[start..].find("</li>").map(|e| start + e).unwrap();
    &html[start..end]
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_custom_metric_reads_the_tenants_prometheus_and_shows_on_the_page(pool: PgPool) {
    let analytics = support::migrated_analytics().await;
    // Loopback is allow-listed here, as CHECKER_ALLOW_CIDRS does in the demo.
    let guard = SsrfGuard::new(SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap());
    let app =
        api::AppState::new(pool, analytics, support::api_config(SECRET)).with_delivery_guard(guard);
    let site = PublicSite::new(RenderConfig::default());
    // As every app server does: announced changes rebuild the page.
    let _listener = tokio::spawn(web::public::render::run_change_listener(
        app.clone(),
        site.clone(),
    ));
    let addr = support::serve_site(app.clone(), site.clone(), "custom-metrics-site").await;
    let base = format!("http://{addr}");
    let (metrics_addr, _metrics) = web::server::metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        app.clone(),
        site,
        Some(TOKEN.into()),
    )
    .await
    .unwrap();
    let prometheus = Prometheus::start(metrics_addr).await;
    assert_eq!(prometheus.value("sum(up) * 42").await, 42.0);

    let http = reqwest::Client::new();
    let acme = support::sign_up(&http, &base, "acme", "Acme").await;
    let token = acme["api_token"].as_str().unwrap().to_owned();
    let globex = support::sign_up(&http, &base, "globex", "Globex").await;
    let other = globex["api_token"].as_str().unwrap().to_owned();
    let post = |token: String, body: Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/custom-metrics"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let metric = |query: &str, source: &str| {
        json!({ "name": "Answer", "query": query, "unit": "req/s", "source_url": source,
                "authorization": "Bearer not-shown-anywhere", "decimals": 0 })
    };

    // Refusals name the field, with Prometheus's own words for a bad query.
    let (status, bad) = post(token.clone(), metric("sum(", &prometheus.url)).await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "query", "{bad}");
    assert!(bad.to_string().contains("bad_data"), "{bad}");
    let (status, two) = post(
        token.clone(),
        metric(
            "vector(1) or label_replace(vector(2), \"x\", \"y\", \"\", \"\")",
            &prometheus.url,
        ),
    )
    .await;
    assert_eq!(status, 422);
    assert!(two.to_string().contains("returned 2 series"), "{two}");
    let (status, away) = post(token.clone(), metric("sum(up)", "http://127.0.0.1:1")).await;
    assert_eq!(status, 422);
    assert_eq!(away["errors"][0]["field"], "source_url", "{away}");
    for refused in [
        "http://169.254.169.254",
        "http://10.0.0.1:9090",
        "ftp://example.com",
    ] {
        let (status, answer) = post(token.clone(), metric("sum(up)", refused)).await;
        assert_eq!(status, 422, "{refused}: {answer}");
        assert_eq!(answer["errors"][0]["field"], "source_url", "{answer}");
    }
    let (status, limits) = post(
        token.clone(),
        json!({ "name": "", "query": "sum(up)", "source_url": prometheus.url,
                "refresh_seconds": 5, "decimals": 9 }),
    )
    .await;
    assert_eq!(status, 422);
    let fields: BTreeSet<String> = limits["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        ["decimals", "name", "refresh_seconds"]
            .map(String::from)
            .into()
    );

    // Saved with its first answer; the header is never shown.
    let (status, created) = post(token.clone(), metric("sum(up) * 42", &prometheus.url)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["value"], 42.0, "{created}");
    assert_eq!(created["authorization_set"], true);
    assert!(!created.to_string().contains("not-shown-anywhere"));
    assert!(!created["series"].as_array().unwrap().is_empty());
    let id = created["id"].as_str().unwrap().to_owned();

    // Another tenant sees and touches nothing of it.
    let listed: Value = http
        .get(format!("{base}/api/v1/custom-metrics"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ] {
        let r = http
            .request(method.clone(), format!("{base}/api/v1/custom-metrics/{id}"))
            .bearer_auth(&other)
            .json(&json!({ "name": "Mine now" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method}");
    }

    // The public page shows the value and the line, never the query or the source.
    let page = |http: reqwest::Client| async move {
        http.get(format!("http://{addr}/"))
            .header("host", "acme.localhost")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let html = page(http.clone()).await;
    let item = metric_item(&html, "Answer");
    assert!(item.contains("42 req/s"), "{item}");
    assert!(item.contains("<svg class=\"sparkline\""), "{item}");
    assert!(
        item.contains("Answer over the last 24 hours: from 42 req/s to 42 req/s"),
        "{item}"
    );
    for private in ["sum(up)", &prometheus.url, "not-shown-anywhere"] {
        assert!(!html.contains(private), "{private} on the public page");
    }

    // A changed query is tried at once and shown (a definition change rebuilds the page).
    let changed = http
        .patch(format!("{base}/api/v1/custom-metrics/{id}"))
        .bearer_auth(&token)
        .json(&json!({ "query": "sum(up) * 7" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let start = Instant::now();
    while !metric_item(&page(http.clone()).await, "Answer").contains("7 req/s") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the page kept the old value"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The fetcher reads due metrics again; with the Prometheus gone, the last value stays and
    // the error names the source.
    sqlx::query(
        "UPDATE custom_metrics SET next_fetch_at = now(), fetched_at = now() - interval '1 hour'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(api::custom_metrics::fetch_due(&app).await.unwrap(), 1);
    let fetched =
        api::custom_metrics::get(&app.db, acme_id(&app, "acme").await, id.parse().unwrap())
            .await
            .unwrap();
    assert_eq!(fetched.value, Some(7.0));
    assert!(fetched.error.is_none(), "{fetched:?}");
    assert!(fetched.fetched_at.unwrap() > chrono::Utc::now() - chrono::Duration::minutes(1));
    assert_eq!(
        api::custom_metrics::fetch_due(&app).await.unwrap(),
        0,
        "not due again before refresh_seconds"
    );
    drop(prometheus);
    sqlx::query("UPDATE custom_metrics SET next_fetch_at = now()")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(api::custom_metrics::fetch_due(&app).await.unwrap(), 1);
    let failed: Value = http
        .get(format!("{base}/api/v1/custom-metrics/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(failed["value"], 7.0, "{failed}");
    assert!(
        failed["error"].as_str().unwrap().starts_with("source_url:"),
        "{failed}"
    );
    let text = http
        .get(format!("http://{metrics_addr}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("statuspage_custom_metric_fetches_total{outcome=\"ok\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("statuspage_custom_metric_fetches_total{outcome=\"failed\"} 1"),
        "{text}"
    );

    // Deleted: gone from the page.
    let deleted = http
        .delete(format!("{base}/api/v1/custom-metrics/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let start = Instant::now();
    while page(http.clone()).await.contains("data-metric=") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the page kept the metric"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn acme_id(app: &api::AppState, slug: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(&app.db)
        .await
        .unwrap()
}
