//! Subscribing from the public status page against the real app server (router, site gate,
//! PostgreSQL, ClickHouse), with plain form posts as a browser without JavaScript sends them:
//! the form is on the page; a post queues the confirmation mail in the outbox; the mailed link's
//! GET shows a button and confirms nothing, its POST confirms; the preferences link changes
//! components and unsubscribes; private and password-protected pages gate subscribing like the
//! page; and the form is rate limited.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use std::net::SocketAddr;
use uuid::Uuid;

struct Platform {
    addr: SocketAddr,
}

impl Platform {
    async fn start(pool: PgPool) -> Self {
        let analytics = support::migrated_analytics().await;
        let app = support::app_state(pool, analytics, "subscribe-test-secret-0123456789");
        let site_root = support::temp_path("subscribe");
        std::fs::create_dir_all(site_root.join("pkg")).unwrap();
        let addr = support::serve(|port| {
            web::server::router(app, site_root.to_str().unwrap(), false, Some(port))
        })
        .await;
        Self { addr }
    }

    fn client(&self, from: &str) -> reqwest::Client {
        support::client_from(from)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn host(&self, slug: &str) -> String {
        format!("{slug}.localhost:{}", self.addr.port())
    }

    async fn tenant(&self, slug: &str) -> String {
        // Without a password, unlike `support::sign_up`.
        let created = support::sign_up_with(
            &self.client("127.0.0.1"),
            &self.url(""),
            json!({ "slug": slug, "name": format!("{slug} Inc"), "email": format!("owner@{slug}.example") }),
        )
        .await;
        support::token(&created)
    }

    /// Posts the subscribe form on the tenant's host, form-encoded like a browser.
    async fn subscribe(&self, from: &str, slug: &str, form: &str) -> (StatusCode, String) {
        let response = self
            .client(from)
            .post(self.url("/_status-page/subscribe"))
            .header("host", self.host(slug))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }
}

/// The path and query of an absolute link.
fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").unwrap().1;
    format!("/{}", after_scheme.split_once('/').unwrap().1)
}

/// The first `href="..."` containing `needle`, unescaped.
fn link_in(html: &str, needle: &str) -> String {
    html.split("href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .find(|href| href.contains(needle))
        .unwrap_or_else(|| panic!("no link with {needle} in {html}"))
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_public_form_subscribes_without_javascript(pool: PgPool) {
    let platform = Platform::start(pool.clone()).await;
    let token = platform.tenant("acme").await;
    let http = platform.client("127.0.0.1");
    let url = platform.url("/api/v1/components");
    let web = support::create(&http, &url, &token, json!({ "name": "Web" })).await;

    // The status page itself carries the form; the full form lists the components.
    let page = http
        .get(platform.url("/"))
        .header("host", platform.host("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(
            "<form class=\"subscribe\" method=\"post\" action=\"/_status-page/subscribe\">"
        ) && page.contains("name=\"target\""),
        "{page}"
    );
    let form = http
        .get(platform.url("/_status-page/subscribe"))
        .header("host", platform.host("acme"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains(&format!("value=\"{web}\"")), "{form}");

    let (status, answer) = platform
        .subscribe(
            "127.0.0.1",
            "acme",
            &format!("kind=email&target=reader%40example.com&component={web}"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("Check your inbox"));
    let (confirmed, followed): (bool, Vec<Uuid>) = sqlx::query_as(
        "SELECT confirmed_at IS NOT NULL, component_ids FROM subscribers WHERE target = 'reader@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!confirmed);
    assert_eq!(followed, [web.parse::<Uuid>().unwrap()]);

    // The confirmation mail is in the outbox, with its link.
    let link: String = sqlx::query_scalar(
        "SELECT message->>'url' FROM outbox WHERE address = 'reader@example.com' AND event = 'account'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        link.contains("/api/v1/public/subscriptions/confirm?token="),
        "{link}"
    );
    let shown = http
        .get(platform.url(&path_of(&link)))
        .header("host", platform.host("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 200);
    let shown = shown.text().await.unwrap();
    assert!(shown.contains("Confirm subscription"), "{shown}");
    let still: bool = sqlx::query_scalar(
        "SELECT confirmed_at IS NOT NULL FROM subscribers WHERE target = 'reader@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!still, "the GET confirmed nothing");
    // The button: a plain form post of the token.
    let token_value = link.split_once("token=").unwrap().1;
    let done = http
        .post(platform.url("/api/v1/public/subscriptions/confirm"))
        .header("host", platform.host("acme"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token_value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let done = done.text().await.unwrap();
    let confirmed: bool = sqlx::query_scalar(
        "SELECT confirmed_at IS NOT NULL FROM subscribers WHERE target = 'reader@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(confirmed);

    // The preferences page: follow everything, then unsubscribe.
    let manage = path_of(&link_in(&done, "/_status-page/subscription?id="));
    let prefs = http
        .get(platform.url(&manage))
        .header("host", platform.host("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(prefs.status(), 200);
    let prefs = prefs.text().await.unwrap();
    assert!(
        prefs.contains(&format!("value=\"{web}\" checked")),
        "{prefs}"
    );
    let query = manage.split_once('?').unwrap().1.to_owned();
    let save = http
        .post(platform.url("/_status-page/subscription"))
        .header("host", platform.host("acme"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&action=save"))
        .send()
        .await
        .unwrap();
    assert_eq!(save.status(), 200);
    let followed: Vec<Uuid> = sqlx::query_scalar(
        "SELECT component_ids FROM subscribers WHERE target = 'reader@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(followed.is_empty(), "no box checked: every component");
    let forged = query.replace("token=", "token=00");
    let refused = http
        .post(platform.url("/_status-page/subscription"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{forged}&action=unsubscribe"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    let gone = http
        .post(platform.url("/_status-page/subscription"))
        .header("host", platform.host("acme"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&action=unsubscribe"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 200);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);

    // A bad target comes back to the form, naming the field.
    let (status, answer) = platform
        .subscribe(
            "127.0.0.1",
            "acme",
            "kind=slack&target=https%3A%2F%2Fexample.com%2Fx",
        )
        .await;
    assert_eq!(status, 422);
    assert!(answer.contains("data-field=\"target\""), "{answer}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn subscribing_passes_the_page_gate_and_is_rate_limited(pool: PgPool) {
    let platform = Platform::start(pool.clone()).await;
    let private = platform.tenant("hidden").await;
    let locked = platform.tenant("locked").await;
    platform.tenant("open").await;
    let http = platform.client("127.0.0.1");
    for (token, page) in [
        (&private, json!({ "visibility": "private" })),
        (
            &locked,
            json!({ "visibility": "password", "password": "open sesame 123" }),
        ),
    ] {
        let set = http
            .patch(platform.url("/api/v1/status-page"))
            .bearer_auth(token)
            .json(&page)
            .send()
            .await
            .unwrap();
        assert_eq!(set.status(), 200);
    }
    let form = "kind=email&target=someone%40example.com";
    let (status, _) = platform.subscribe("127.0.0.1", "hidden", form).await;
    assert_eq!(status, 404, "a private page has no form");
    let (status, answer) = platform.subscribe("127.0.0.1", "locked", form).await;
    assert_eq!(status, 401, "a password page asks for the password first");
    assert!(answer.contains("password"), "{answer}");
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(none, 0);

    // One client: a burst, then 429 with Retry-After.
    let mut accepted = 0;
    let refusal = loop {
        let response = platform
            .client("127.0.0.9")
            .post(platform.url("/_status-page/subscribe"))
            .header("host", platform.host("open"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("kind=email&target=r{accepted}%40example.com"))
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            break response;
        }
        accepted += 1;
        assert!(accepted <= 10, "no limit");
    };
    assert_eq!(refusal.status(), 429);
    assert_eq!(accepted, api::subscribers::public::CLIENT_BURST);
    assert!(refusal.headers().get("retry-after").is_some());
    let (status, _) = platform.subscribe("127.0.0.10", "open", form).await;
    assert_eq!(status, 200, "other clients go on");
}
