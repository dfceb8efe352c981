//! What the web crate's integration tests share: an app state on a ClickHouse database of the
//! test's own, the router served on a loopback port, sign-up, the sqlx test database's URL, body
//! decoding, and a real `statuspage serve` child process. One copy, so a change to how the app is
//! built or started is made once for every test.

// Each test crate includes this module and uses a part of it.
#![allow(dead_code)]

use api::{ApiConfig, AppState};
use serde_json::{json, Value};
use sqlx::PgPool;
use statuspage_clickhouse::Analytics;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;
use web::public::render::PublicSite;

/// `CLICKHOUSE_URL`; the in-process tests need a real ClickHouse and say how to get one.
pub fn clickhouse_url() -> String {
    std::env::var("CLICKHOUSE_URL")
        .expect("CLICKHOUSE_URL must point at a running ClickHouse (`./dev test` starts one)")
}

/// `CLICKHOUSE_URL`, or the one `./dev services` listens on: for the tests that hand it to a
/// child server (or never query it) and so run without it being set.
pub fn clickhouse_url_or_local() -> String {
    std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// A ClickHouse database of the test's own (`test_<uuid>`) on `url`, so tests running side by
/// side never see each other's checks; its tables are not made yet.
pub fn analytics_on(url: &str) -> Analytics {
    Analytics::new(url, &format!("test_{}", Uuid::new_v4().simple())).unwrap()
}

/// [`analytics_on`] `CLICKHOUSE_URL`, with its tables made (for tests that write or read checks).
pub async fn migrated_analytics() -> Analytics {
    let analytics = analytics_on(&clickhouse_url());
    analytics.migrate().await.unwrap();
    analytics
}

/// The configuration the app-server tests run with: tenants' hosts under `localhost`, one
/// region, open sign-up.
pub fn api_config(checker_secret: &str) -> ApiConfig {
    ApiConfig {
        base_domain: "localhost".into(),
        checker_secret: checker_secret.into(),
        regions: vec!["test-eu".into()],
        open_signup: true,
    }
}

/// The app state with [`api_config`] and the random per-process page-cookie key of
/// [`AppState::new`].
pub fn app_state(pool: PgPool, analytics: Analytics, checker_secret: &str) -> AppState {
    AppState::new(pool, analytics, api_config(checker_secret))
}

/// [`app_state`] signing page cookies with the key kept in the database, as `statuspage serve`
/// does.
pub async fn app_state_with_cookie_key(
    pool: PgPool,
    analytics: Analytics,
    checker_secret: &str,
) -> AppState {
    let key = api::status_page::access::load_cookie_secret(&pool, None)
        .await
        .unwrap();
    app_state(pool, analytics, checker_secret).with_page_cookie_secret(&key)
}

/// A path in the temporary directory no other test uses (not created).
pub fn temp_path(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{prefix}-{}", Uuid::new_v4()))
}

/// Serves the router `make` builds for the port it is given, on a free loopback port, with the
/// peer address known (as `statuspage serve` does, so per-client limits apply).
pub async fn serve(make: impl FnOnce(u16) -> axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = make(addr.port());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// The whole web app (not secure cookies) serving tenants' hosts from `site`, with a site root
/// of its own named after `prefix`.
pub async fn serve_site(app: AppState, site: PublicSite, prefix: &str) -> SocketAddr {
    let site_root = temp_path(prefix);
    serve(|port| {
        web::server::router_with_site(app, site_root.to_str().unwrap(), false, Some(port), site)
    })
    .await
}

/// A client connecting from `from` (any 127.0.0.0/8 address, so a test can be many clients)
/// that does not follow redirects.
pub fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Signs up with `body` at the server whose URL is `base`; the answer (`tenant`, `api_token`)
/// once it is 201.
pub async fn sign_up_with(http: &reqwest::Client, base: &str, body: Value) -> Value {
    let response = http
        .post(format!("{base}/api/v1/tenants"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "sign-up: {answer}");
    answer
}

/// Signs up `slug`, named `name`, with the owner `owner@<slug>.example` and a password.
pub async fn sign_up(http: &reqwest::Client, base: &str, slug: &str, name: &str) -> Value {
    sign_up_with(
        http,
        base,
        json!({ "slug": slug, "name": name, "email": format!("owner@{slug}.example"),
                "password": "correct horse battery" }),
    )
    .await
}

/// The API token of a sign-up's answer.
pub fn token(created: &Value) -> String {
    created["api_token"].as_str().unwrap().to_owned()
}

/// Sends `request` and asserts it succeeded (`what` names it in the failure); its JSON body, or
/// null when it has none.
pub async fn send_ok(request: reqwest::RequestBuilder, what: &str) -> Value {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{what}: {status} {body}");
    body
}

/// Creates `body` with a POST to `url` as the tenant whose API token is `token`; the new id.
pub async fn create(http: &reqwest::Client, url: &str, token: &str, body: Value) -> String {
    let created = send_ok(http.post(url).bearer_auth(token).json(&body), url).await;
    created["id"].as_str().unwrap().to_owned()
}

/// A port nothing listens on now (bound and released), for a server to take or to be dead.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test database's URL: `DATABASE_URL` with the database sqlx::test created, for a child
/// server to connect to.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let base = base.split('?').next().unwrap();
    let server = &base[..base.rfind('/').expect("DATABASE_URL has a path")];
    format!("{server}/{name}")
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

pub fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

/// The body as text, decoded when it came brotli-compressed.
pub async fn text(response: reqwest::Response) -> String {
    let br = response
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "br");
    let bytes = response.bytes().await.unwrap();
    if br {
        String::from_utf8(unbrotli(&bytes)).unwrap()
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}

/// A real `statuspage serve` (the binary this package builds), for what only a separate process
/// shows: restarts, kills, several servers on one database. Killed when dropped.
pub struct AppServer {
    child: Child,
    log: PathBuf,
    /// The port it listens on; 0 when the system picked one nobody knows.
    pub port: u16,
}

impl AppServer {
    /// Starts the server listening on `127.0.0.1:<port>` (0: any port) with `env` set (a later
    /// entry wins over an earlier one of the same name) and `unset` removed from what it
    /// inherits, its log written to `log`. Every server runs without the local checker runner
    /// or mail, logging at info.
    pub fn start(log: PathBuf, port: u16, env: &[(&str, String)], unset: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_statuspage"));
        command
            .arg("serve")
            .env("STATUSPAGE_ADDR", format!("127.0.0.1:{port}"))
            .env("CHECKER_LOCAL_RUNNER", "false")
            .env("RUST_LOG", "info,sqlx=warn")
            .env_remove("STATUSPAGE_SMTP_URL");
        for name in unset {
            command.env_remove(name);
        }
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = command.spawn().expect("starting the statuspage binary");
        Self { child, log, port }
    }

    /// The server's log, without colour codes (so tests can look for words in it).
    pub fn log(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut plain = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }

    pub fn url(&self, path: &str) -> String {
        assert_ne!(self.port, 0, "started on a port nobody knows");
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until the server accepts connections (its health check would wait for the
    /// databases).
    pub async fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server did not start listening; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the server's health check answers success (its databases are reachable).
    pub async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(self.url("/api/v1/health")).await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "server did not start; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server now (what dropping it does, said where it matters).
    pub fn stop(self) {
        drop(self);
    }

    /// SIGKILL: no shutdown, no chance to record anything.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "{status:?}");
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The log file of server `n` in the test's folder `data`.
pub fn log_path(data: &Path, n: usize) -> PathBuf {
    data.join(format!("server-{n}.log"))
}
