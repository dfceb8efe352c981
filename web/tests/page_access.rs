//! Status-page passwords and browser hardening against the real app server (router, site gate,
//! PostgreSQL, ClickHouse): guesses limited per page and per client, one credential (cookie or
//! `Status-Page-Password`) for the HTML page and every public JSON route, a cookie key of its
//! own, `Secure` and HSTS behind HTTPS, argon2 kept off the async workers, security headers on
//! every kind of response, and no sign-in or admin on a tenant's host.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use uuid::Uuid;

const CHECKER_SECRET: &str = "page-access-test-secret-0123456789";
const PAGE_PASSWORD: &str = "open sesame 123";

struct Platform {
    pool: PgPool,
    addr: SocketAddr,
    site_root: std::path::PathBuf,
}

impl Platform {
    /// Served with the peer address known (as `statuspage serve` does), so per-client limits
    /// apply; `secure`: `STATUSPAGE_SECURE_COOKIES=true`.
    async fn start(pool: PgPool, secure: bool) -> Self {
        let analytics = support::migrated_analytics().await;
        let app = support::app_state_with_cookie_key(pool.clone(), analytics, CHECKER_SECRET).await;
        // A site root of our own, with one static file of the bundle.
        let site_root = support::temp_path("page-access");
        std::fs::create_dir_all(site_root.join("pkg")).unwrap();
        std::fs::write(
            site_root.join("pkg/web.js"),
            "export default function () {}\n",
        )
        .unwrap();
        let addr = support::serve(|port| {
            web::server::router(app, site_root.to_str().unwrap(), secure, Some(port))
        })
        .await;
        Self {
            pool,
            addr,
            site_root,
        }
    }

    /// A client connecting from `from` (any 127.0.0.0/8 address), so tests can be many clients.
    fn client(&self, from: &str) -> reqwest::Client {
        support::client_from(from)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn host(&self, name: &str) -> String {
        format!("{name}:{}", self.addr.port())
    }

    /// A tenant whose page is password-protected; returns its id and API token.
    async fn protected_tenant(&self, slug: &str) -> (Uuid, String) {
        let http = self.client("127.0.0.1");
        let body = support::sign_up(&http, &self.url(""), slug, &format!("{slug} Inc")).await;
        let token = support::token(&body);
        let id: Uuid = body["tenant"]["id"].as_str().unwrap().parse().unwrap();
        let set = http
            .patch(self.url("/api/v1/status-page"))
            .bearer_auth(&token)
            .json(&json!({ "visibility": "password", "password": PAGE_PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(set.status(), 200);
        (id, token)
    }

    /// `GET /api/v1/public/status/{slug}{suffix}` with the password header, from `from`.
    async fn json_with_password(
        &self,
        from: &str,
        slug: &str,
        password: &str,
    ) -> reqwest::Response {
        self.client(from)
            .get(self.url(&format!("/api/v1/public/status/{slug}")))
            .header("status-page-password", password)
            .send()
            .await
            .unwrap()
    }

    /// Posts the page's password form on the tenant's host.
    async fn unlock(&self, from: &str, slug: &str, password: &str) -> reqwest::Response {
        self.client(from)
            .post(self.url(web::server::UNLOCK_PATH))
            .header("host", self.host(&format!("{slug}.localhost")))
            .form(&[("password", password)])
            .send()
            .await
            .unwrap()
    }

    async fn password_hash(&self, tenant: Uuid) -> String {
        sqlx::query_scalar("SELECT password_hash FROM status_pages WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.site_root);
    }
}

fn cookie_pair(response: &reqwest::Response) -> String {
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn password_guesses_beyond_the_limit_get_429_per_client_and_per_page(pool: PgPool) {
    use api::status_page::access::{CLIENT_BURST, PAGE_BURST};
    let platform = Platform::start(pool, false).await;
    platform.protected_tenant("acme").await;
    platform.protected_tenant("globex").await;

    // One client: its allowance of wrong guesses, then 429 even for the right password, on the
    // JSON route and on the HTML form alike.
    for _ in 0..CLIENT_BURST {
        let wrong = platform
            .json_with_password("127.0.0.2", "acme", "wrong guess!")
            .await;
        assert_eq!(wrong.status(), 401);
    }
    let refused = platform
        .json_with_password("127.0.0.2", "acme", PAGE_PASSWORD)
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let form = platform.unlock("127.0.0.2", "acme", PAGE_PASSWORD).await;
    assert_eq!(form.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(form.headers().get("set-cookie").is_none());
    assert!(form
        .text()
        .await
        .unwrap()
        .contains("Too many password attempts"));
    // The limit is the client's, over every page.
    assert_eq!(
        platform
            .json_with_password("127.0.0.2", "globex", PAGE_PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Another client still gets in with the right password...
    let other = platform
        .json_with_password("127.0.0.3", "acme", PAGE_PASSWORD)
        .await;
    assert_eq!(other.status(), 200);
    // ...until many clients together use up the page's allowance (PAGE_BURST guesses).
    let mut guesses = CLIENT_BURST + 1;
    let mut client = 4;
    while guesses < PAGE_BURST {
        let from = format!("127.0.0.{client}");
        for _ in 0..CLIENT_BURST.min(PAGE_BURST - guesses) {
            let wrong = platform
                .json_with_password(&from, "acme", "wrong guess!")
                .await;
            assert_eq!(wrong.status(), 401);
            guesses += 1;
        }
        client += 1;
    }
    let fresh = format!("127.0.0.{client}");
    assert_eq!(
        platform
            .json_with_password(&fresh, "acme", "yet another guess")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the page's allowance is used up for every new guess"
    );
    let form = platform.unlock(&fresh, "acme", "one more guess").await;
    assert_eq!(form.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another page is not affected, and a password proven right a moment ago still works.
    assert_eq!(
        platform
            .json_with_password(&fresh, "globex", PAGE_PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        platform
            .json_with_password("127.0.0.3", "acme", PAGE_PASSWORD)
            .await
            .status(),
        200
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn one_credential_opens_the_html_page_and_every_json_route(pool: PgPool) {
    let platform = Platform::start(pool, false).await;
    let (acme, _) = platform.protected_tenant("acme").await;
    platform.protected_tenant("globex").await;
    let http = platform.client("127.0.0.1");
    let acme_host = platform.host("acme.localhost");
    let routes = [
        "/api/v1/public/status/acme",
        "/api/v1/public/status/acme/incidents",
        "/api/v1/public/status/acme/maintenances",
    ];
    let get = |path: &str, host: &str, cookie: Option<&str>| {
        let mut request = http.get(platform.url(path)).header("host", host);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    for path in ["/"].iter().chain(&routes) {
        assert_eq!(
            get(path, &acme_host, None).await.unwrap().status(),
            401,
            "{path}"
        );
    }

    let unlocked = platform.unlock("127.0.0.1", "acme", PAGE_PASSWORD).await;
    assert_eq!(unlocked.status(), 303);
    let cookie = cookie_pair(&unlocked);
    let set_cookie = unlocked.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && !set_cookie.contains("Secure"),
        "{set_cookie}"
    );
    for path in ["/"].iter().chain(&routes) {
        let response = get(path, &acme_host, Some(&cookie)).await.unwrap();
        assert_eq!(response.status(), 200, "{path} with the cookie");
    }
    let html = get("/", &acme_host, Some(&cookie))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("password-protected"), "{html}");

    // The header opens the HTML page too, not only the JSON.
    let with_header = http
        .get(platform.url("/"))
        .header("host", &acme_host)
        .header("status-page-password", PAGE_PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), 200);
    for path in routes {
        let response = http
            .get(platform.url(path))
            .header("status-page-password", PAGE_PASSWORD)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} with the header");
    }

    // acme's cookie does not open globex's page.
    let globex_host = platform.host("globex.localhost");
    assert_eq!(
        get("/", &globex_host, Some(&cookie))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        get("/api/v1/public/status/globex", &globex_host, Some(&cookie))
            .await
            .unwrap()
            .status(),
        401
    );

    // A cookie made with CHECKER_SECRET, in the old format or the new one, opens nothing.
    let hash = platform.password_hash(acme).await;
    let old_format = {
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(CHECKER_SECRET.as_bytes()).unwrap();
        mac.update(format!("status-page-access\n{acme}\n{hash}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let far = chrono::Utc::now().timestamp() + 86_400;
    let new_format = api::status_page::access::access_cookie_with_key(
        CHECKER_SECRET.as_bytes(),
        acme,
        &hash,
        far,
    );
    for forged in [old_format, new_format] {
        let forged = format!("sp_page_access={forged}");
        assert_eq!(
            get("/", &acme_host, Some(&forged)).await.unwrap().status(),
            401
        );
        assert_eq!(
            get(routes[0], &acme_host, Some(&forged))
                .await
                .unwrap()
                .status(),
            401
        );
    }
    // The key is generated once, kept in PostgreSQL for every app server, and is not the
    // checker secret; a configured one wins.
    let key = api::status_page::access::load_cookie_secret(&platform.pool, None)
        .await
        .unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(
        key,
        api::status_page::access::load_cookie_secret(&platform.pool, None)
            .await
            .unwrap()
    );
    assert_ne!(key, CHECKER_SECRET.as_bytes());
    assert_eq!(
        api::status_page::access::load_cookie_secret(&platform.pool, Some("x".repeat(40).as_str()))
            .await
            .unwrap(),
        "x".repeat(40).into_bytes()
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn behind_https_the_cookie_is_secure_and_hsts_is_sent(pool: PgPool) {
    let platform = Platform::start(pool, true).await;
    platform.protected_tenant("acme").await;
    let unlocked = platform.unlock("127.0.0.1", "acme", PAGE_PASSWORD).await;
    assert_eq!(unlocked.status(), 303);
    let set_cookie = unlocked.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("; Secure") && set_cookie.contains("HttpOnly"),
        "{set_cookie}"
    );
    assert_eq!(
        unlocked.headers()["strict-transport-security"],
        web::server::headers::HSTS
    );
    let http = platform.client("127.0.0.1");
    for path in ["/", "/api/v1/health", "/pkg/web.js"] {
        let response = http.get(platform.url(path)).send().await.unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            web::server::headers::HSTS,
            "{path}"
        );
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn argon2_runs_off_the_async_workers_with_bounded_concurrency(pool: PgPool) {
    // The test runtime has one thread: argon2 on it would stall every other request.
    let platform = Platform::start(pool, false).await;
    platform.protected_tenant("acme").await;
    let http = platform.client("127.0.0.1");
    let health = || async {
        let started = Instant::now();
        let response = http
            .get(platform.url("/api/v1/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        started.elapsed()
    };
    let idle = health().await;
    let started = Instant::now();
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..24 {
        let client = platform.client(&format!("127.0.1.{}", i % 3 + 1));
        let url = platform.url("/api/v1/public/status/acme");
        guesses.spawn(async move {
            let response = client
                .get(url)
                .header("status-page-password", "wrong guess!")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
        });
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut busy = Duration::ZERO;
    for _ in 0..5 {
        busy = busy.max(health().await);
    }
    guesses.join_all().await;
    let all = started.elapsed();
    eprintln!("health idle {idle:?}, worst during 24 parallel wrong guesses {busy:?}; guesses took {all:?}");
    assert!(
        busy < Duration::from_millis(300) && busy * 4 < all,
        "health took {busy:?} while the guesses took {all:?}"
    );
}

/// The security headers every response carries.
fn assert_hardened(response: &reqwest::Response, what: &str) -> String {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(
        headers["referrer-policy"], "strict-origin-when-cross-origin",
        "{what}"
    );
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert!(
        headers.get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP: {what}"
    );
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "'wasm-unsafe-eval'",
    ] {
        assert!(csp.contains(directive), "{what}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    csp
}

/// `'sha256-…'` of the first inline `<style>` of `html`.
fn inline_style_hash(html: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let start = html.find("<style>").expect("an inline style") + "<style>".len();
    let end = start + html[start..].find("</style>").unwrap();
    let digest = sha2::Sha256::digest(&html.as_bytes()[start..end]);
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn security_headers_on_html_json_and_static_routes(pool: PgPool) {
    let platform = Platform::start(pool, false).await;
    platform.protected_tenant("acme").await;
    let http = platform.client("127.0.0.1");

    // A Leptos page: its inline scripts carry this response's nonce, and the policy names it.
    let page = http.get(platform.url("/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = assert_hardened(&page, "the sign-in page");
    let html = page.text().await.unwrap();
    let nonce = html
        .split("<script type=\"module\" nonce=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("a nonced hydration script: {html}"));
    assert!(nonce.len() >= 16);
    assert!(csp.contains(&format!("'nonce-{nonce}'")), "{csp}");
    let again = http.get(platform.url("/login")).send().await.unwrap();
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(nonce),
        "a fresh nonce per response"
    );
    assert!(
        !html.contains("<script>") && !html.contains("<script type=\"module\">"),
        "no inline script without the nonce: {html}"
    );

    // JSON, problem+json and a static file of the bundle.
    let json = http
        .get(platform.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    let csp = assert_hardened(&json, "JSON");
    assert!(!csp.contains("nonce"), "{csp}");
    let problem = http
        .get(platform.url("/api/v1/public/status/acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem.status(), 401);
    assert_hardened(&problem, "problem+json");
    let asset = http.get(platform.url("/pkg/web.js")).send().await.unwrap();
    assert_eq!(asset.status(), 200);
    assert_hardened(&asset, "a static file");

    // The hand-written pages (password, no such page): their inline style is allowed by hash.
    for (host, status) in [("acme.localhost", 401), ("nobody.localhost", 404)] {
        let response = http
            .get(platform.url("/"))
            .header("host", platform.host(host))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{host}");
        let csp = assert_hardened(&response, host);
        let html = response.text().await.unwrap();
        assert!(csp.contains(&inline_style_hash(&html)), "{host}: {csp}");
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn sign_in_and_admin_are_served_on_the_platform_host_only(pool: PgPool) {
    let platform = Platform::start(pool, false).await;
    let (acme, _) = platform.protected_tenant("acme").await;
    // Make the page public, with a verified custom domain.
    sqlx::query(
        "UPDATE status_pages SET visibility = 'public', custom_domain = 'status.acme.test', \
         domain_verified_at = now() WHERE tenant_id = $1",
    )
    .bind(acme)
    .execute(&platform.pool)
    .await
    .unwrap();
    let http = platform.client("127.0.0.1");
    let get =
        |path: &'static str, host: String| http.get(platform.url(path)).header("host", host).send();
    for path in ["/login", "/signup", "/admin"] {
        assert_ne!(
            get(path, platform.host("localhost"))
                .await
                .unwrap()
                .status(),
            404,
            "{path}"
        );
        for host in ["acme.localhost", "status.acme.test"] {
            let response = get(path, platform.host(host)).await.unwrap();
            assert_eq!(response.status(), 404, "{path} on {host}");
            assert!(response.text().await.unwrap().contains("no status page at"));
        }
    }
    // Nor their server functions: a sign-in posted to a tenant's host never reaches the check.
    for host in ["acme.localhost", "status.acme.test"] {
        let login = http
            .post(platform.url("/rpc/login"))
            .header("host", platform.host(host))
            .header("origin", format!("http://{}", platform.host(host)))
            .form(&[
                ("email", "owner@acme.example"),
                ("password", "correct horse battery"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 404, "{host}");
        assert!(login.headers().get("set-cookie").is_none());
    }
    // The status page itself is served on both.
    for host in ["acme.localhost", "status.acme.test"] {
        assert_eq!(
            get("/", platform.host(host)).await.unwrap().status(),
            200,
            "{host}"
        );
    }
}
