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

/// The value of the one-time token field on the page that answers a create.
fn shown_token(body: &str) -> String {
    let at = body
        .find("id=\"new-token\"")
        .unwrap_or_else(|| panic!("no new token on the page: {body}"));
    let value = &body[at..];
    let start = value.find("value=\"").unwrap() + "value=\"".len();
    value[start..start + value[start..].find('"').unwrap()].to_owned()
}

async fn api_status(
    platform: &Platform,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> StatusCode {
    let mut request = platform
        .http
        .request(method.clone(), platform.url(path))
        .header("host", platform.host())
        .bearer_auth(token);
    if method == reqwest::Method::POST {
        request = request.json(&json!({ "name": "from the console's token", "type": "http", "url": "https://example.com/" }));
    }
    request.send().await.unwrap().status()
}

async fn set_role(pool: &PgPool, email: &str, role: &str) {
    sqlx::query(
        "UPDATE memberships SET role = $2 WHERE user_id = (SELECT id FROM users WHERE lower(email) = lower($1))",
    )
    .bind(email)
    .bind(role)
    .execute(pool)
    .await
    .unwrap();
}

/// A tenant who signed up on the web reaches the API: the console makes a token (shown once, on
/// the answer page only, never cached), which the API accepts with its scopes; the form shows
/// the API's own messages next to the fields; revoking it shuts the API to it; every change is
/// audited as the person; only owners and admins may do any of it; a cross-site post and
/// another tenant's token id are refused.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_console_makes_shows_once_and_revokes_api_tokens(pool: PgPool) {
    let platform = Platform::start(pool.clone()).await;
    let email = "owner@tokens.example";
    let signed_up = platform
        .post(
            "/rpc/signup",
            &[
                ("slug", "tokens"),
                ("name", "Tokens Inc"),
                ("email", email),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::FOUND, "{}", signed_up.body);
    let cookie = signed_up.cookie.unwrap();

    // Not signed in: to the sign-in page.
    let anonymous = platform.get("/admin/tokens", None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location.as_deref(), Some("/login"));
    // The console links to the page, which has the form.
    let console = platform.get("/admin", Some(&cookie)).await;
    assert!(
        console.body.contains("href=\"/admin/tokens\""),
        "{}",
        console.body
    );
    let page = platform.get("/admin/tokens", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page
        .body
        .contains("<form method=\"post\" action=\"/admin/tokens\">"));
    assert!(page.body.contains("<label for=\"token-name\">"));

    // The API's own messages, next to the fields they are about.
    let empty = platform
        .post(
            "/admin/tokens",
            &[("name", " "), ("scopes", "read")],
            Some(&cookie),
        )
        .await;
    assert_eq!(
        empty.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        empty.body
    );
    assert!(empty.body.contains("id=\"name-error\""), "{}", empty.body);
    assert!(empty
        .body
        .contains("aria-invalid=\"true\" aria-describedby=\"name-error\""));
    let odd = platform
        .post(
            "/admin/tokens",
            &[("name", "odd"), ("scopes", "read,admin")],
            Some(&cookie),
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", odd.body);
    assert!(odd.body.contains("id=\"scopes-error\""), "{}", odd.body);
    assert!(odd.body.contains("value=\"odd\""), "what was typed is kept");

    // A cross-site post makes nothing.
    let tokens_before: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    let forged = platform
        .post_from(
            "http://evil.example",
            "/admin/tokens",
            &[("name", "stolen"), ("scopes", "read,write,admin")],
            Some(&cookie),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let tokens_after: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tokens_after, tokens_before);

    // Made: shown once, never cached, and the API takes it with its scopes.
    let made = platform
        .post(
            "/admin/tokens",
            &[("name", "ci deploy"), ("scopes", "read,write")],
            Some(&cookie),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert!(made.body.contains("data-created-token"));
    let token = shown_token(&made.body);
    assert!(token.starts_with("sp_"), "{token}");
    let no_store = platform
        .http
        .post(platform.url("/admin/tokens"))
        .header("host", platform.host())
        .header("origin", format!("http://{}", platform.host()))
        .header("cookie", &cookie)
        .form(&[("name", "second"), ("scopes", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_store.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(
        api_status(&platform, reqwest::Method::GET, "/api/v1/monitors", &token).await,
        StatusCode::OK
    );
    assert_eq!(
        api_status(&platform, reqwest::Method::POST, "/api/v1/monitors", &token).await,
        StatusCode::CREATED
    );
    // read and write, not admin: managing tokens is refused to it.
    assert_eq!(
        api_status(
            &platform,
            reqwest::Method::DELETE,
            &format!("/api/v1/api-tokens/{}", Uuid::new_v4()),
            &token
        )
        .await,
        StatusCode::FORBIDDEN
    );
    let listed = platform.get("/admin/tokens", Some(&cookie)).await;
    assert!(listed.body.contains("ci deploy"), "{}", listed.body);
    assert!(listed.body.contains(&token[..9]), "the prefix is shown");
    assert!(
        !listed.body.contains(&token),
        "the token itself never again"
    );
    let id: Uuid = sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = 'ci deploy'")
        .fetch_one(&pool)
        .await
        .unwrap();

    // Only owners and admins: an editor or a viewer is told why, and changes nothing.
    for role in ["editor", "viewer"] {
        set_role(&pool, email, role).await;
        let refused = platform.get("/admin/tokens", Some(&cookie)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{role}");
        assert!(
            refused
                .body
                .contains(&format!("Your role in this tenant is {role}")),
            "{}",
            refused.body
        );
        let made = platform
            .post(
                "/admin/tokens",
                &[("name", role), ("scopes", "read")],
                Some(&cookie),
            )
            .await;
        assert_eq!(made.status, StatusCode::FORBIDDEN, "{role}");
        let revoke = platform
            .post(&format!("/admin/tokens/{id}/revoke"), &[], Some(&cookie))
            .await;
        assert_eq!(revoke.status, StatusCode::FORBIDDEN, "{role}");
    }
    set_role(&pool, email, "admin").await;
    assert_eq!(
        platform.get("/admin/tokens", Some(&cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api_status(&platform, reqwest::Method::GET, "/api/v1/monitors", &token).await,
        StatusCode::OK
    );

    // Another tenant's owner cannot revoke it, nor see it.
    platform.sign_up("other", "owner@other.example").await;
    let (other, _) = platform.sign_in("owner@other.example", PASSWORD).await;
    let theirs = platform.get("/admin/tokens", Some(&other)).await;
    assert!(!theirs.body.contains("ci deploy"), "{}", theirs.body);
    let foreign = platform
        .post(&format!("/admin/tokens/{id}/revoke"), &[], Some(&other))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api_status(&platform, reqwest::Method::GET, "/api/v1/monitors", &token).await,
        StatusCode::OK
    );

    // Revoked: the API no longer takes it; the list says so.
    let revoked = platform
        .post(&format!("/admin/tokens/{id}/revoke"), &[], Some(&cookie))
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(revoked.location.as_deref(), Some("/admin/tokens"));
    assert_eq!(
        api_status(&platform, reqwest::Method::GET, "/api/v1/monitors", &token).await,
        StatusCode::UNAUTHORIZED
    );
    let listed = platform.get("/admin/tokens", Some(&cookie)).await;
    assert!(listed.body.contains("revoked <time"), "{}", listed.body);

    // Audited as the person who did it.
    let user: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&pool)
        .await
        .unwrap();
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE entity = 'api_token' AND entity_id = $1 AND actor = $2 ORDER BY at",
    )
    .bind(id)
    .bind(format!("user:{user}"))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actions, ["create", "revoke"]);
}
