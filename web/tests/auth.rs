//! Sign-in and the signed-in form posts against the real app server (router, server functions,
//! PostgreSQL): cross-site posts are refused, the site's own forms work with and without
//! JavaScript, failed sign-ins are rate-limited, and the session cookie keeps its attributes.

use api::{ApiConfig, AppState};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use std::net::SocketAddr;

const PASSWORD: &str = "correct horse battery";
const EMAIL: &str = "owner@acme.example";

struct Platform {
    pool: PgPool,
    addr: SocketAddr,
    http: reqwest::Client,
}

#[derive(Clone, Copy, Default)]
struct Options {
    /// `STATUSPAGE_SECURE_COOKIES=true`.
    secure_cookies: bool,
    /// Serve with `into_make_service_with_connect_info` so the peer address is known (the
    /// `statuspage` binary does not).
    connect_info: bool,
}

impl Platform {
    async fn start(pool: PgPool, options: Options) -> Self {
        // Sign-in and these forms never touch ClickHouse; the client only connects on use.
        let analytics =
            statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
        let app = AppState::new(
            pool.clone(),
            analytics,
            ApiConfig {
                base_domain: "localhost".into(),
                checker_secret: "auth-test-secret-0123456789".into(),
                regions: vec!["test-eu".into()],
                open_signup: true,
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = web::server::router(
            app,
            "target/site",
            options.secure_cookies,
            Some(addr.port()),
        );
        if options.connect_info {
            tokio::spawn(async move {
                axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                .unwrap()
            });
        } else {
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        }
        let platform = Self {
            pool,
            addr,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let created = platform
            .http
            .post(platform.url("/api/v1/tenants"))
            .json(&json!({ "slug": "acme", "name": "Acme Inc", "email": EMAIL, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        platform
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What the browser sends as `Host` for the platform, and as `Origin` from its own pages.
    fn host(&self) -> String {
        format!("localhost:{}", self.addr.port())
    }

    fn origin(&self) -> String {
        format!("http://{}", self.host())
    }

    /// A form post to a server function, as the browser sends it: `extra` adds Origin, Referer,
    /// Accept, Cookie…
    async fn post(
        &self,
        function: &str,
        form: &[(&str, &str)],
        extra: &[(&str, String)],
    ) -> reqwest::Response {
        self.post_form(&format!("/rpc/{function}"), form, extra)
            .await
    }

    /// A form post to a console page (`path`), as [`post`](Self::post) sends it.
    async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        extra: &[(&str, String)],
    ) -> reqwest::Response {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(&self.host()).unwrap());
        for (name, value) in extra {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        self.http
            .post(self.url(path))
            .headers(headers)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, password: &str, extra: &[(&str, String)]) -> reqwest::Response {
        self.post("login", &[("email", EMAIL), ("password", password)], extra)
            .await
    }

    async fn sessions(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM sessions")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn monitors(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM monitors")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// `sp_session=<secret>` from a sign-in response, for the `Cookie` header.
fn session_pair(response: &reqwest::Response) -> String {
    let cookie = set_cookie(response).expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

async fn refused(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        set_cookie(&response).is_none(),
        "no cookie on a refused post"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("cross-site request refused"), "{body}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn cross_site_sign_in_is_refused_and_the_sites_own_form_works(pool: PgPool) {
    let platform = Platform::start(pool, Options::default()).await;
    let html = || ("accept", "text/html,application/xhtml+xml".to_owned());

    // Another site posting the sign-in form (login CSRF), with or without JavaScript.
    refused(
        platform
            .login(PASSWORD, &[("origin", "http://evil.example".into())])
            .await,
    )
    .await;
    refused(
        platform
            .login(
                PASSWORD,
                &[
                    ("origin", "http://evil.example".into()),
                    ("referer", "http://evil.example/".into()),
                    html(),
                ],
            )
            .await,
    )
    .await;
    // A tenant's status page is another origin, too.
    refused(
        platform
            .login(
                PASSWORD,
                &[(
                    "origin",
                    format!("http://acme.localhost:{}", platform.addr.port()),
                )],
            )
            .await,
    )
    .await;
    // Without Origin, a foreign Referer or a browser that says cross-site is refused as well.
    refused(
        platform
            .login(PASSWORD, &[("referer", "http://evil.example/login".into())])
            .await,
    )
    .await;
    refused(
        platform
            .login(PASSWORD, &[("sec-fetch-site", "cross-site".into())])
            .await,
    )
    .await;
    assert_eq!(platform.sessions().await, 0);

    // The site's own page, hydrated (fetch): Origin matches, the server function answers and
    // tells the client where to go.
    let signed_in = platform
        .login(
            PASSWORD,
            &[
                ("origin", platform.origin()),
                ("sec-fetch-site", "same-origin".into()),
            ],
        )
        .await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let cookie = set_cookie(&signed_in).unwrap();
    assert!(
        cookie.starts_with("sp_session=sp_")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure"),
        "{cookie}"
    );

    // The same page without JavaScript: a plain form post, answered with a redirect.
    let plain = platform
        .login(
            PASSWORD,
            &[
                ("origin", platform.origin()),
                ("referer", format!("{}/login", platform.origin())),
                html(),
            ],
        )
        .await;
    assert_eq!(plain.status(), StatusCode::FOUND);
    assert_eq!(plain.headers()["location"], "/admin");
    assert!(set_cookie(&plain).is_some());

    // Not a browser at all (no Origin, no Referer): signing in is allowed.
    let scripted = platform.login(PASSWORD, &[]).await;
    assert_eq!(scripted.status(), StatusCode::OK);
    assert_eq!(platform.sessions().await, 3);

    // A wrong password through the site's own form is the usual 401.
    let wrong = platform
        .login("not the password", &[("origin", platform.origin())])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("wrong email or password"));
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn signed_in_actions_need_the_sites_own_origin(pool: PgPool) {
    let platform = Platform::start(pool, Options::default()).await;
    let signed_in = platform
        .login(PASSWORD, &[("origin", platform.origin())])
        .await;
    let cookie = ("cookie", session_pair(&signed_in));
    let monitor = [("name", "Homepage"), ("url", "https://example.com/health")];

    // Logout without Origin or Referer (a signed-in action): refused, the session survives.
    refused(
        platform
            .post("logout", &[], std::slice::from_ref(&cookie))
            .await,
    )
    .await;
    // A cross-site logout or monitor, riding on the cookie: refused.
    refused(
        platform
            .post(
                "logout",
                &[],
                &[cookie.clone(), ("origin", "http://evil.example".into())],
            )
            .await,
    )
    .await;
    refused(
        platform
            .post(
                "add_monitor",
                &monitor,
                &[cookie.clone(), ("origin", "http://evil.example".into())],
            )
            .await,
    )
    .await;
    refused(
        platform
            .post("add_monitor", &monitor, std::slice::from_ref(&cookie))
            .await,
    )
    .await;
    assert_eq!(platform.monitors().await, 0);
    assert_eq!(platform.sessions().await, 1);

    // From the admin page itself: hydrated, then without JavaScript (Referer only is enough).
    let added = platform
        .post(
            "add_monitor",
            &monitor,
            &[cookie.clone(), ("origin", platform.origin())],
        )
        .await;
    assert_eq!(
        added.status(),
        StatusCode::OK,
        "{}",
        added.text().await.unwrap()
    );
    assert_eq!(platform.monitors().await, 1);
    let added = platform
        .post(
            "add_monitor",
            &[("name", "Billing"), ("url", "https://example.com/billing")],
            &[
                cookie.clone(),
                ("referer", format!("{}/admin", platform.origin())),
                ("accept", "text/html".into()),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::FOUND);
    assert_eq!(platform.monitors().await, 2);

    let out = platform
        .post(
            "logout",
            &[],
            &[cookie.clone(), ("origin", platform.origin())],
        )
        .await;
    assert_eq!(out.status(), StatusCode::OK);
    let cleared = set_cookie(&out).unwrap();
    assert!(
        cleared.starts_with("sp_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(platform.sessions().await, 0);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn failed_sign_ins_are_limited_per_email_over_http(pool: PgPool) {
    let platform = Platform::start(pool, Options::default()).await;
    let origin = [("origin", platform.origin())];
    for _ in 0..5 {
        let wrong = platform.login("not the password", &origin).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = platform.login(PASSWORD, &origin).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.headers()["retry-after"], "900");
    assert!(set_cookie(&locked).is_none());
    let body = locked.text().await.unwrap();
    assert!(
        body.contains("too many failed sign-ins; try again in 15 minutes"),
        "{body}"
    );
    assert_eq!(platform.sessions().await, 0);

    // Served like `statuspage serve` (no peer address, no trusted proxy): the limit is per
    // email only, so many emails from one client are each judged on their own.
    for i in 0..25 {
        let other = platform
            .post(
                "login",
                &[
                    ("email", &format!("guess{i}@example.com")),
                    ("password", "x"),
                ],
                &origin,
            )
            .await;
        assert_eq!(other.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn with_the_peer_address_known_a_client_is_limited_across_emails(pool: PgPool) {
    let platform = Platform::start(
        pool,
        Options {
            connect_info: true,
            secure_cookies: true,
        },
    )
    .await;
    let origin = [("origin", platform.origin())];
    for i in 0..20 {
        let guess = platform
            .post(
                "login",
                &[
                    ("email", &format!("guess{i}@example.com")),
                    ("password", "x"),
                ],
                &origin,
            )
            .await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let locked = platform.login(PASSWORD, &origin).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let client: Option<String> = sqlx::query_scalar("SELECT DISTINCT client FROM login_attempts")
        .fetch_one(&platform.pool)
        .await
        .unwrap();
    assert_eq!(client.as_deref(), Some("127.0.0.1"));

    // Once those failures are old, the owner signs in; with secure cookies the cookie says so.
    sqlx::query("UPDATE login_attempts SET at = at - interval '16 minutes'")
        .execute(&platform.pool)
        .await
        .unwrap();
    let signed_in = platform.login(PASSWORD, &origin).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let cookie = set_cookie(&signed_in).unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("; Secure"),
        "{cookie}"
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn people_sign_up_from_the_web_and_land_signed_in(pool: PgPool) {
    let platform = Platform::start(pool, Options::default()).await;
    let origin = [("origin", platform.origin())];
    let form = |slug: &'static str, password: &'static str| {
        [
            ("slug", slug),
            ("name", "Globex"),
            ("email", "ops@globex.example"),
            ("password", password),
        ]
    };
    // Bad input names the fields and creates nothing.
    let bad = platform
        .post("signup", &form("adm1n", "short"), &origin)
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = bad.text().await.unwrap();
    assert!(
        body.contains("slug:") && body.contains("password:"),
        "{body}"
    );
    // Another site cannot sign people up (and in).
    refused(
        platform
            .post(
                "signup",
                &form("globex", "a long password"),
                &[("origin", "http://evil.example".into())],
            )
            .await,
    )
    .await;
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants WHERE slug = 'globex'")
        .fetch_one(&platform.pool)
        .await
        .unwrap();
    assert_eq!(tenants, 0);

    let created = platform
        .post("signup", &form("globex", "a long password"), &origin)
        .await;
    assert_eq!(created.status(), StatusCode::OK, "{:?}", created.headers());
    let session = session_pair(&created);
    // The cookie is a session of the new tenant's owner (this harness has no ClickHouse for
    // the admin page itself).
    let secret = session.trim_start_matches("sp_session=");
    let user = api::accounts::auth::session_user(&platform.pool, secret)
        .await
        .unwrap()
        .expect("a live session");
    let slug: String = sqlx::query_scalar("SELECT slug FROM tenants WHERE id = $1")
        .bind(user.tenant_id)
        .fetch_one(&platform.pool)
        .await
        .unwrap();
    assert_eq!(
        (slug.as_str(), user.email.as_str()),
        ("globex", "ops@globex.example")
    );
    assert!(user.can_edit(), "the owner");
    // The slug is taken now.
    let again = platform
        .post("signup", &form("globex", "a long password"), &origin)
        .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn web_sign_ups_are_limited_per_client(pool: PgPool) {
    let platform = Platform::start(
        pool,
        Options {
            connect_info: true,
            secure_cookies: false,
        },
    )
    .await;
    let origin = [("origin", platform.origin())];
    let post = |slug: String| {
        let platform = &platform;
        let origin = &origin;
        async move {
            let email = format!("ops@{slug}.example");
            let form = [
                ("slug", slug.as_str()),
                ("name", "Shell company"),
                ("email", email.as_str()),
                ("password", "a long password"),
            ];
            platform.post("signup", &form, origin).await
        }
    };
    // The harness's own `acme` sign-up over the API came from this client too: one allowance.
    for i in 1..api::accounts::tenancy::SIGNUP_MAX_PER_CLIENT {
        let created = post(format!("shell-{i}")).await;
        assert_eq!(created.status(), StatusCode::OK, "sign-up {i}");
    }
    let refused = post("shell-last".into()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // Another client (another loopback address) still signs up over the API.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap()
        .post(platform.url("/api/v1/tenants"))
        .json(&json!({ "slug": "other", "name": "Other", "email": "ops@other.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201);
}

/// Pause, resume and delete a monitor from the console, as the hydrated page and as plain forms:
/// each is audited as the person, an editor may, a viewer is told why and changes nothing,
/// another tenant's monitor id is a 404, a delete needs its confirmation box, and a cross-site
/// post is refused.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_console_pauses_resumes_and_deletes_monitors(pool: PgPool) {
    let platform = Platform::start(pool.clone(), Options::default()).await;
    let origin = ("origin", platform.origin());
    let cookie = session_pair(
        &platform
            .login(PASSWORD, std::slice::from_ref(&origin))
            .await,
    );
    let cookie = ("cookie", cookie);
    let mine = [cookie.clone(), origin.clone()];
    let plain_form = [
        cookie.clone(),
        ("referer", format!("{}/admin", platform.origin())),
        ("accept", "text/html".into()),
    ];
    let added = platform
        .post(
            "add_monitor",
            &[
                ("name", "Checkout"),
                ("url", "https://example.com/checkout"),
            ],
            &mine,
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    let (id, user): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
        "SELECT m.id, u.id FROM monitors m, users u WHERE m.name = 'Checkout' AND u.email = $1",
    )
    .bind(EMAIL)
    .fetch_one(&pool)
    .await
    .unwrap();
    let id_text = id.to_string();
    let enabled = || async {
        sqlx::query_scalar::<_, bool>("SELECT enabled FROM monitors WHERE id = $1")
            .bind(id)
            .fetch_optional(&pool)
            .await
            .unwrap()
    };
    let audited = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT action FROM audit_log WHERE entity = 'monitor' AND entity_id = $1 AND actor = $2 ORDER BY id",
        )
        .bind(id)
        .bind(format!("user:{user}"))
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let admin_page = || async {
        platform
            .http
            .get(platform.url("/admin"))
            .header("host", platform.host())
            .header("cookie", cookie.1.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(admin_page().await.contains("aria-label=\"Pause Checkout\""));

    // Pause (hydrated), resume (plain form: back to the page).
    let paused = platform
        .post(
            "set_monitor_enabled",
            &[("id", &id_text), ("enabled", "false")],
            &mine,
        )
        .await;
    assert_eq!(
        paused.status(),
        StatusCode::OK,
        "{}",
        paused.text().await.unwrap()
    );
    assert_eq!(enabled().await, Some(false));
    let page = admin_page().await;
    assert!(
        page.contains("Paused") && page.contains("aria-label=\"Resume Checkout\""),
        "{page}"
    );
    let resumed = platform
        .post(
            "set_monitor_enabled",
            &[("id", &id_text), ("enabled", "true")],
            &plain_form,
        )
        .await;
    assert_eq!(resumed.status(), StatusCode::FOUND);
    assert_eq!(enabled().await, Some(true));
    assert_eq!(audited().await, ["create", "pause", "resume"]);

    // A cross-site post, riding on the cookie: refused.
    refused(
        platform
            .post(
                "set_monitor_enabled",
                &[("id", &id_text), ("enabled", "false")],
                &[cookie.clone(), ("origin", "http://evil.example".into())],
            )
            .await,
    )
    .await;
    assert_eq!(enabled().await, Some(true));

    // Another tenant's monitor: not found, untouched.
    let other: uuid::Uuid = {
        let created: serde_json::Value = platform
            .http
            .post(platform.url("/api/v1/tenants"))
            .json(&json!({ "slug": "other", "name": "Other", "email": "owner@other.example", "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = created["api_token"].as_str().unwrap().to_owned();
        let monitor: serde_json::Value = platform
            .http
            .post(platform.url("/api/v1/monitors"))
            .bearer_auth(token)
            .json(&json!({ "name": "Theirs", "type": "http", "url": "https://example.org/" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        monitor["id"].as_str().unwrap().parse().unwrap()
    };
    for (function, form) in [
        (
            "set_monitor_enabled",
            vec![("id", other.to_string()), ("enabled", "false".into())],
        ),
        (
            "remove_monitor",
            vec![("id", other.to_string()), ("confirm", "yes".into())],
        ),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let foreign = platform.post(function, &form, &mine).await;
        assert_eq!(foreign.status(), StatusCode::NOT_FOUND, "{function}");
    }
    let theirs: bool = sqlx::query_scalar("SELECT enabled FROM monitors WHERE id = $1")
        .bind(other)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(theirs, "the other tenant's monitor is untouched");

    // A viewer is told why and changes nothing; an editor may.
    let set_role = |role: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE memberships SET role = $2 WHERE user_id = $1")
                .bind(user)
                .bind(role)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    set_role("viewer").await;
    let looked = platform
        .post(
            "set_monitor_enabled",
            &[("id", &id_text), ("enabled", "false")],
            &mine,
        )
        .await;
    assert_eq!(looked.status(), StatusCode::FORBIDDEN);
    assert!(looked
        .text()
        .await
        .unwrap()
        .contains("your role in this tenant is viewer"));
    let looked = platform
        .post(
            "remove_monitor",
            &[("id", &id_text), ("confirm", "yes")],
            &mine,
        )
        .await;
    assert_eq!(looked.status(), StatusCode::FORBIDDEN);
    assert_eq!(enabled().await, Some(true));
    set_role("editor").await;
    let paused = platform
        .post(
            "set_monitor_enabled",
            &[("id", &id_text), ("enabled", "false")],
            &mine,
        )
        .await;
    assert_eq!(paused.status(), StatusCode::OK);
    assert_eq!(enabled().await, Some(false));

    // Delete: only with the box ticked.
    let unconfirmed = platform
        .post("remove_monitor", &[("id", &id_text)], &mine)
        .await;
    assert_eq!(unconfirmed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unconfirmed.text().await.unwrap().contains("tick the box"));
    assert_eq!(enabled().await, Some(false), "still there");
    let deleted = platform
        .post(
            "remove_monitor",
            &[("id", &id_text), ("confirm", "yes")],
            &plain_form,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::FOUND);
    assert_eq!(enabled().await, None, "gone");
    assert_eq!(
        audited().await,
        ["create", "pause", "resume", "pause", "delete"]
    );
    assert!(!admin_page().await.contains("Checkout"));
}

/// A heartbeat monitor from the console: added by its form (the API's messages on a bad one),
/// its ping URL issued by a plain post and shown once (never cached), which the job's call then
/// reaches; a viewer may not issue one, another tenant's monitor is a 404.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_console_adds_a_heartbeat_and_shows_its_url_once(pool: PgPool) {
    let platform = Platform::start(pool.clone(), Options::default()).await;
    let origin = ("origin", platform.origin());
    let cookie = (
        "cookie",
        session_pair(
            &platform
                .login(PASSWORD, std::slice::from_ref(&origin))
                .await,
        ),
    );
    let mine = [cookie.clone(), origin.clone()];
    let bad = platform
        .post(
            "add_heartbeat",
            &[
                ("name", "Backup"),
                ("period_seconds", ""),
                ("cron", "0 3 * * *"),
                ("timezone", "Mars/Olympus"),
                ("grace_seconds", ""),
            ],
            &mine,
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("timezone: unknown time zone"));
    let added = platform
        .post(
            "add_heartbeat",
            &[
                ("name", "Backup"),
                ("period_seconds", ""),
                ("cron", "0 3 * * *"),
                ("timezone", "Europe/Paris"),
                ("grace_seconds", "900"),
            ],
            &mine,
        )
        .await;
    assert_eq!(
        added.status(),
        StatusCode::OK,
        "{}",
        added.text().await.unwrap()
    );
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM monitors WHERE name = 'Backup'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let console = platform
        .http
        .get(platform.url("/admin"))
        .header("host", platform.host())
        .header("cookie", cookie.1.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action = format!("action=\"/admin/monitors/{id}/heartbeat-url\"");
    assert!(console.contains(&action), "{console}");

    let issue = |cookie: String, monitor: uuid::Uuid| {
        let platform = &platform;
        async move {
            platform
                .post_form(
                    &format!("/admin/monitors/{monitor}/heartbeat-url"),
                    &[],
                    &[("origin", platform.origin()), ("cookie", cookie)],
                )
                .await
        }
    };
    let shown = issue(cookie.1.clone(), id).await;
    assert_eq!(shown.status(), StatusCode::CREATED);
    assert_eq!(shown.headers()["cache-control"], "no-store");
    let page = shown.text().await.unwrap();
    let at = page
        .find("id=\"ping-url\" readonly size=\"70\" value=\"")
        .unwrap();
    let url = &page[at..];
    let url = &url[url.find("value=\"").unwrap() + 7..];
    let url = &url[..url.find('"').unwrap()];
    let path = &url[url.find("/api/v1/heartbeats/hb_").expect("a heartbeat URL")..];
    let ping = platform.http.get(platform.url(path)).send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK);
    let pinged: bool =
        sqlx::query_scalar("SELECT last_ping_ok FROM heartbeats WHERE monitor_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(pinged);

    // A cross-site post issues nothing; a viewer is told why; another tenant's id is a 404.
    let forged = platform
        .post_form(
            &format!("/admin/monitors/{id}/heartbeat-url"),
            &[],
            &[
                ("origin", "http://evil.example".into()),
                ("cookie", cookie.1.clone()),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let still = platform.http.get(platform.url(path)).send().await.unwrap();
    assert_ne!(
        still.status(),
        StatusCode::NOT_FOUND,
        "the URL was not rotated"
    );
    sqlx::query("UPDATE memberships SET role = 'viewer'")
        .execute(&pool)
        .await
        .unwrap();
    let refused = issue(cookie.1.clone(), id).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Your role in this tenant is viewer"));
    sqlx::query("UPDATE memberships SET role = 'owner'")
        .execute(&pool)
        .await
        .unwrap();
    let foreign = issue(cookie.1.clone(), uuid::Uuid::new_v4()).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
}
