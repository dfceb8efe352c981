//! The account pages as plain HTML forms (no JavaScript) against the real app server and
//! PostgreSQL: the links of account mail (read from the outbox) open pages whose GET changes
//! nothing, their POSTs verify, reset and accept, cross-site posts are refused, an unverified
//! account's session never accepts an invitation, and a person in two tenants picks one.

use api::{ApiConfig, AppState};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::net::SocketAddr;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

struct Platform {
    pool: PgPool,
    addr: SocketAddr,
    http: reqwest::Client,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    cookie: Option<String>,
    body: String,
}

impl Platform {
    async fn start(pool: PgPool) -> Self {
        let analytics =
            statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = AppState::new(
            pool.clone(),
            analytics,
            ApiConfig {
                base_domain: "localhost".into(),
                checker_secret: "accounts-test-secret-0123456789".into(),
                regions: vec!["test-eu".into()],
                open_signup: true,
            },
        )
        .with_platform_url(&format!("http://localhost:{}", addr.port()));
        let router = web::server::router(app, "target/site", false, Some(addr.port()));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            pool,
            addr,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn host(&self) -> String {
        format!("localhost:{}", self.addr.port())
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn page(response: reqwest::Response) -> Page {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (location, cookie) = (
            header("location"),
            header("set-cookie").map(|c| c.split(';').next().unwrap().to_owned()),
        );
        Page {
            status: response.status(),
            location,
            cookie,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = self.http.get(self.url(path)).header("host", self.host());
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        Self::page(request.send().await.unwrap()).await
    }

    /// A plain form post from `origin` (our own pages: `http://localhost:<port>`).
    async fn post_from(
        &self,
        origin: &str,
        path: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Page {
        let mut request = self
            .http
            .post(self.url(path))
            .header("host", self.host())
            .header("origin", origin)
            .header("accept", "text/html")
            .form(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        Self::page(request.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Page {
        self.post_from(&format!("http://{}", self.host()), path, form, cookie)
            .await
    }

    /// A tenant by public sign-up over the API: (API token, tenant id).
    async fn sign_up(&self, slug: &str, email: &str) -> (String, Uuid) {
        let created: Value = self
            .http
            .post(self.url("/api/v1/tenants"))
            .header("host", self.host())
            .json(&json!({ "slug": slug, "name": format!("{slug} Inc"), "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            created["api_token"].as_str().unwrap().to_owned(),
            created["tenant"]["id"].as_str().unwrap().parse().unwrap(),
        )
    }

    /// The token of the newest account mail to `address` linking to `path`.
    async fn mailed_token(&self, address: &str, path: &str) -> String {
        let texts: Vec<String> = sqlx::query_scalar(
            "SELECT message->>'text' FROM outbox WHERE lower(address) = lower($1) \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(address)
        .fetch_all(&self.pool)
        .await
        .unwrap();
        let start = format!("http://{}{path}?token=", self.host());
        let text = texts
            .iter()
            .find(|t| t.contains(&start))
            .unwrap_or_else(|| panic!("no {start} mail to {address}: {texts:?}"));
        let at = text.find(&start).unwrap() + start.len();
        text[at..].split_whitespace().next().unwrap().to_owned()
    }

    async fn verified(&self, email: &str) -> bool {
        sqlx::query_scalar(
            "SELECT email_verified_at IS NOT NULL FROM users WHERE lower(email) = lower($1)",
        )
        .bind(email)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    async fn unused_tokens(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM account_tokens WHERE used_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Signs in through the plain sign-in form: (cookie pair, where it redirects).
    async fn sign_in(&self, email: &str, password: &str) -> (String, String) {
        let page = self
            .post(
                "/rpc/login",
                &[("email", email), ("password", password)],
                None,
            )
            .await;
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
        (page.cookie.unwrap(), page.location.unwrap())
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn web_sign_up_mails_a_link_whose_page_confirms_only_on_post(pool: PgPool) {
    let platform = Platform::start(pool).await;
    let signed_up = platform
        .post(
            "/rpc/signup",
            &[
                ("slug", "acme"),
                ("name", "Acme Inc"),
                ("email", "owner@acme.example"),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::FOUND, "{}", signed_up.body);
    let cookie = signed_up.cookie.unwrap();
    assert!(!platform.verified("owner@acme.example").await);
    let token = platform
        .mailed_token("owner@acme.example", "/account/verify")
        .await;
    // The console says so, with a plain form to send the link again.
    let console = platform.get("/admin", Some(&cookie)).await;
    assert_eq!(console.status, StatusCode::OK);
    assert!(console.body.contains("data-unverified"), "{}", console.body);
    assert!(console.body.contains("action=\"/account/verify/resend\""));

    // The link's GET (what a mail scanner opens) shows a button and changes nothing.
    let shown = platform
        .get(&format!("/account/verify?token={token}"), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown
            .body
            .contains("<form method=\"post\" action=\"/account/verify\">"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains(&format!("value=\"{token}\"")));
    assert!(!platform.verified("owner@acme.example").await);
    assert_eq!(platform.unused_tokens().await, 1);

    // Another site posting the form is refused.
    let forged = platform
        .post_from(
            "http://evil.example",
            "/account/verify",
            &[("token", &token)],
            None,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!platform.verified("owner@acme.example").await);

    // The button.
    let done = platform
        .post("/account/verify", &[("token", &token)], None)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("is confirmed"), "{}", done.body);
    assert!(platform.verified("owner@acme.example").await);
    let again = platform
        .post("/account/verify", &[("token", &token)], None)
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("already been used"), "{}", again.body);
    let console = platform.get("/admin", Some(&cookie)).await;
    assert!(console.body.contains("acme"), "{}", console.body);
    assert!(
        !console.body.contains("data-unverified"),
        "{}",
        console.body
    );

    // Resend from the console session: verified already, so nothing more is mailed.
    let resend = platform
        .post("/account/verify/resend", &[], Some(&cookie))
        .await;
    assert_eq!(resend.status, StatusCode::OK, "{}", resend.body);
    assert_eq!(platform.unused_tokens().await, 0);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn web_password_reset_is_the_same_page_for_everyone_and_signs_everyone_out(pool: PgPool) {
    let platform = Platform::start(pool.clone()).await;
    platform.sign_up("acme", "owner@acme.example").await;
    let (old_session, _) = platform.sign_in("owner@acme.example", PASSWORD).await;

    let known = platform
        .post("/account/reset", &[("email", "owner@acme.example")], None)
        .await;
    let unknown = platform
        .post("/account/reset", &[("email", "ghost@acme.example")], None)
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    let token = platform
        .mailed_token("owner@acme.example", "/account/reset/confirm")
        .await;

    // The link's GET shows the form and spends nothing.
    let before = platform.unused_tokens().await;
    let shown = platform
        .get(&format!("/account/reset/confirm?token={token}"), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains("name=\"password\""));
    assert_eq!(platform.unused_tokens().await, before);

    let done = platform
        .post(
            "/account/reset/confirm",
            &[("token", &token), ("password", "a brand new password")],
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Password changed"));
    // The old session is gone: the console sends it to sign in.
    let picker = platform.get("/account/tenants", Some(&old_session)).await;
    assert_eq!(picker.status, StatusCode::SEE_OTHER);
    assert_eq!(picker.location.as_deref(), Some("/login"));
    platform
        .sign_in("owner@acme.example", "a brand new password")
        .await;
    let reused = platform
        .post(
            "/account/reset/confirm",
            &[("token", &token), ("password", "another new password")],
            None,
        )
        .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reused.body.contains("already been used"), "{}", reused.body);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn web_invitation_is_accepted_by_the_invited_address_only(pool: PgPool) {
    let platform = Platform::start(pool.clone()).await;
    let (acme, acme_id) = platform.sign_up("acme", "owner@acme.example").await;
    let verify = platform
        .mailed_token("owner@acme.example", "/account/verify")
        .await;
    platform
        .post("/account/verify", &[("token", &verify)], None)
        .await;
    // Someone registered the victim's address earlier and is signed in as it.
    platform.sign_up("evil", "victim@people.example").await;
    let (squatter, _) = platform.sign_in("victim@people.example", PASSWORD).await;

    let invited = platform
        .http
        .post(platform.url("/api/v1/members/invitations"))
        .header("host", platform.host())
        .bearer_auth(&acme)
        .json(&json!({ "email": "victim@people.example", "role": "editor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(invited.status(), StatusCode::CREATED);
    let token = platform
        .mailed_token("victim@people.example", "/account/invitation")
        .await;

    // The page tells what it is and changes nothing.
    let shown = platform
        .get(
            &format!("/account/invitation?token={token}"),
            Some(&squatter),
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(
        shown.body.contains("acme Inc") && shown.body.contains("editor"),
        "{}",
        shown.body
    );
    assert!(
        shown.body.contains("nobody has proved the address yet"),
        "{}",
        shown.body
    );
    let pending: bool = sqlx::query_scalar("SELECT accepted_at IS NULL FROM invitations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(pending);

    // The unverified account's session alone accepts nothing.
    let by_session = platform
        .post("/account/invitation", &[("token", &token)], Some(&squatter))
        .await;
    assert_eq!(
        by_session.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        by_session.body
    );
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE tenant_id = $1")
        .bind(acme_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(members, 1);
    // Cross-site: refused.
    let forged = platform
        .post_from(
            "http://evil.example",
            "/account/invitation",
            &[("token", &token), ("password", "the victim's password")],
            None,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // The address's owner, from the mailed link: a new password, signed in to Acme.
    let accepted = platform
        .post(
            "/account/invitation",
            &[("token", &token), ("password", "the victim's password")],
            None,
        )
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    assert_eq!(accepted.location.as_deref(), Some("/admin"));
    let cookie = accepted.cookie.unwrap();
    let secret = cookie.strip_prefix("sp_session=").unwrap();
    let user = api::accounts::auth::session_user(&pool, secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.tenant_id, acme_id);
    assert_eq!(user.role, api::accounts::roles::Role::Editor);
    // The squatter's session is over.
    let squatter_secret = squatter.strip_prefix("sp_session=").unwrap();
    assert!(api::accounts::auth::session_user(&pool, squatter_secret)
        .await
        .unwrap()
        .is_none());

    // Now in two tenants (evil and acme): signing in leads to the picker.
    let (session, landing) = platform
        .sign_in("victim@people.example", "the victim's password")
        .await;
    assert_eq!(landing, "/account/tenants");
    let picker = platform.get("/account/tenants", Some(&session)).await;
    assert_eq!(picker.status, StatusCode::OK);
    assert!(
        picker.body.contains("data-tenant=\"acme\"")
            && picker.body.contains("data-tenant=\"evil\""),
        "{}",
        picker.body
    );
    assert!(
        !picker.body.contains("data-unverified"),
        "verified by the invitation link"
    );
    let acme_text = acme_id.to_string();
    let switched = platform
        .post(
            "/account/tenants",
            &[("tenant_id", &acme_text)],
            Some(&session),
        )
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER, "{}", switched.body);
    let new = switched.cookie.unwrap();
    let user = api::accounts::auth::session_user(&pool, new.strip_prefix("sp_session=").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.tenant_id, acme_id);
    // A tenant the person is not in: refused; and only from our own pages.
    let (_, stranger) = platform.sign_up("initech", "owner@initech.example").await;
    let stranger = stranger.to_string();
    let refused = platform
        .post("/account/tenants", &[("tenant_id", &stranger)], Some(&new))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.cookie.is_none());
    let cross = platform
        .post_from(
            "http://evil.example",
            "/account/tenants",
            &[("tenant_id", &acme_text)],
            Some(&new),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);

    // An unverified owner sees the banner on the picker.
    let (initech, _) = platform.sign_in("owner@initech.example", PASSWORD).await;
    let banner = platform.get("/account/tenants", Some(&initech)).await;
    assert!(banner.body.contains("data-unverified"), "{}", banner.body);
    // Tenant hosts do not serve the account pages.
    let on_tenant = platform
        .http
        .get(platform.url(&format!("/account/invitation?token={token}")))
        .header("host", format!("acme.localhost:{}", platform.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(on_tenant.status(), StatusCode::NOT_FOUND);
}
