//! Accounts by email against a real PostgreSQL, through the `/api/v1` routes: sign-up mails a
//! single-use verification link (taken from the outbox row's text, as the mail carries it),
//! password resets that reveal nothing about who has an account, invitations accepted only by the
//! account of the invited address (the capture attack tried explicitly), limits on mail people
//! can ask for, and a second tenant that neither sees nor touches another's invitations. One
//! verification mail is sent through a real SMTP server (aiosmtpd, `AIOSMTPD_PYTHON`).

use api::rest::client::ClientAddr;
use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::net::IpAddr;
use tower::ServiceExt;
use uuid::Uuid;

const PLATFORM: &str = "https://status.test";
const PASSWORD: &str = "correct horse battery";

fn app(pool: PgPool) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(
        AppState::new(
            pool,
            analytics,
            ApiConfig {
                base_domain: "localhost".into(),
                checker_secret: "api-test-secret-0123456789".into(),
                regions: vec!["eu".into()],
                open_signup: true,
            },
        )
        .with_platform_url(PLATFORM),
    )
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    content_type: String,
    retry_after: Option<String>,
    text: String,
    body: Value,
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    client: Option<IpAddr>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(ip) = client {
        request = request.extension(ClientAddr(ip));
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (content_type, retry_after) = (
        header("content-type").unwrap_or_default(),
        header("retry-after"),
    );
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        retry_after,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn post(app: &axum::Router, path: &str, body: Value) -> Reply {
    send(app, "POST", path, None, Some(body), None).await
}

/// The fields a problem+json names.
fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|p| p["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts a 422 problem+json on `token` whose text says `says`.
fn refused_token(reply: &Reply, says: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(fields(&reply.body), ["token"], "{}", reply.text);
    assert!(
        reply.text.contains(says),
        "expected {says:?} in {}",
        reply.text
    );
}

/// A tenant made by public sign-up: (API token, owner user id, tenant id).
async fn sign_up(app: &axum::Router, slug: &str, email: &str) -> (String, Uuid, Uuid) {
    let created = post(
        app,
        "/api/v1/tenants",
        json!({ "slug": slug, "name": format!("{slug} Inc"), "email": email, "password": PASSWORD }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    (
        created.body["api_token"].as_str().unwrap().to_owned(),
        created.body["user_id"].as_str().unwrap().parse().unwrap(),
        created.body["tenant"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    )
}

/// Account mail in the outbox for `address` (case-insensitive), oldest first:
/// (tenant id, title, text).
async fn mail_to(pool: &PgPool, address: &str) -> Vec<(Option<Uuid>, String, String)> {
    let rows: Vec<(Option<Uuid>, String, Value)> = sqlx::query_as(
        "SELECT tenant_id, event, message FROM outbox WHERE lower(address) = lower($1) \
         ORDER BY created_at, id",
    )
    .bind(address)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(tenant, event, message)| {
            assert_eq!(event, "account");
            assert_eq!(message["event"], "account");
            (
                tenant,
                message["title"].as_str().unwrap().to_owned(),
                message["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The token of the link to `path` in a mail's text (`{PLATFORM}{path}?token=…`).
fn token_in(text: &str, path: &str) -> String {
    let start = format!("{PLATFORM}{path}?token=");
    let at = text
        .find(&start)
        .unwrap_or_else(|| panic!("no {start} link in {text}"));
    text[at + start.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

async fn verified(pool: &PgPool, email: &str) -> bool {
    sqlx::query_scalar(
        "SELECT email_verified_at IS NOT NULL FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Verifies a signed-up owner through the link of their sign-up mail.
async fn verify(app: &axum::Router, pool: &PgPool, email: &str) {
    let mails = mail_to(pool, email).await;
    let token = token_in(&mails.last().unwrap().2, "/account/verify");
    let done = post(
        app,
        "/api/v1/account/email-verification",
        json!({ "token": token }),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
}

async fn sessions_of(pool: &PgPool, user: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1")
        .bind(user)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn members_of(pool: &PgPool, tenant: Uuid) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT lower(u.email), m.role FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 ORDER BY 1",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn sign_up_mails_a_single_use_verification_link(pool: PgPool) {
    let app = app(pool.clone());
    let (_, owner, tenant) = sign_up(&app, "acme", "Owner@Acme.example").await;
    assert!(
        !verified(&pool, "owner@acme.example").await,
        "unverified until the link is followed"
    );

    // One mail, in the outbox with the tenant, carrying the link; only the token's hash is stored.
    let mails = mail_to(&pool, "owner@acme.example").await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (mail_tenant, title, text) = &mails[0];
    assert_eq!(*mail_tenant, Some(tenant));
    assert_eq!(title, "Confirm your email address");
    let token = token_in(text, "/account/verify");
    assert!(token.starts_with("sp_") && token.len() > 40, "{token}");
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT token_hash FROM account_tokens WHERE user_id = $1")
            .bind(owner)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stored, [api::accounts::auth::secret_hash(&token)]);
    let anywhere: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM account_tokens WHERE position($1 in encode(token_hash, 'escape')) > 0",
    )
    .bind(&token)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(anywhere, 0, "the plaintext token is not stored");

    // Forged, then the real one, then the real one again.
    let forged = post(
        &app,
        "/api/v1/account/email-verification",
        json!({ "token": "sp_forged" }),
    )
    .await;
    refused_token(&forged, "is not a valid verification link");
    assert!(!verified(&pool, "owner@acme.example").await);
    let done = post(
        &app,
        "/api/v1/account/email-verification",
        json!({ "token": token }),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["user_id"], owner.to_string());
    assert_eq!(done.body["email"], "Owner@Acme.example");
    assert!(done.body["email_verified_at"].is_string());
    assert!(verified(&pool, "owner@acme.example").await);
    let again = post(
        &app,
        "/api/v1/account/email-verification",
        json!({ "token": token }),
    )
    .await;
    refused_token(&again, "has already been used");

    // A verified address gets no more verification mail, though the answer is the same 202.
    let resend = post(
        &app,
        "/api/v1/account/email-verification/resend",
        json!({ "email": "owner@acme.example" }),
    )
    .await;
    assert_eq!(resend.status, StatusCode::ACCEPTED, "{}", resend.text);
    assert_eq!(mail_to(&pool, "owner@acme.example").await.len(), 1);

    // An expired link is refused as expired, and verifies nothing.
    let (_, other, _) = sign_up(&app, "globex", "owner@globex.example").await;
    sqlx::query(
        "UPDATE account_tokens SET expires_at = now() - interval '1 minute' WHERE user_id = $1",
    )
    .bind(other)
    .execute(&pool)
    .await
    .unwrap();
    let token = token_in(
        &mail_to(&pool, "owner@globex.example").await[0].2,
        "/account/verify",
    );
    let expired = post(
        &app,
        "/api/v1/account/email-verification",
        json!({ "token": token }),
    )
    .await;
    refused_token(&expired, "has expired");
    assert!(!verified(&pool, "owner@globex.example").await);
    // A resend makes a new, working link.
    let resend = post(
        &app,
        "/api/v1/account/email-verification/resend",
        json!({ "email": "OWNER@globex.example" }),
    )
    .await;
    assert_eq!(resend.status, StatusCode::ACCEPTED);
    verify(&app, &pool, "owner@globex.example").await;
    assert!(verified(&pool, "owner@globex.example").await);

    // A reset token is no verification token (and the other way round).
    let reset_as_verify = post(
        &app,
        "/api/v1/account/password-reset/confirm",
        json!({ "token": token_in(&mail_to(&pool, "owner@globex.example").await[1].2, "/account/verify"), "password": "another long password" }),
    )
    .await;
    refused_token(&reset_as_verify, "is not a valid password-reset link");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn resends_are_limited_per_address_and_per_client(pool: PgPool) {
    let app = app(pool.clone());
    sign_up(&app, "acme", "owner@acme.example").await;
    let resend = |email: &'static str, client: Option<IpAddr>| {
        let app = app.clone();
        async move {
            send(
                &app,
                "POST",
                "/api/v1/account/email-verification/resend",
                None,
                Some(json!({ "email": email })),
                client,
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(
            resend("owner@acme.example", None).await.status,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            resend("nobody@acme.example", None).await.status,
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(
        mail_to(&pool, "owner@acme.example").await.len(),
        4,
        "sign-up + 3 resends"
    );
    assert!(mail_to(&pool, "nobody@acme.example").await.is_empty());
    // The fourth is refused alike for the account and for the address without one.
    for email in ["owner@acme.example", "Nobody@acme.example"] {
        let refused = resend(email, None).await;
        assert_eq!(
            refused.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            refused.text
        );
        assert_eq!(refused.content_type, "application/problem+json");
        let wait: u64 = refused.retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=3600).contains(&wait), "{wait}");
    }
    assert_eq!(mail_to(&pool, "owner@acme.example").await.len(), 4);

    // One client, many addresses: ten, then refused.
    let client: IpAddr = "203.0.113.9".parse().unwrap();
    let addresses: Vec<&'static str> = (0..11)
        .map(|i| &*Box::leak(format!("a{i}@spray.example").into_boxed_str()))
        .collect();
    for address in &addresses[..10] {
        assert_eq!(
            resend(address, Some(client)).await.status,
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(
        resend(addresses[10], Some(client)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client is not held back by the first.
    assert_eq!(
        resend(addresses[10], Some("198.51.100.7".parse().unwrap()))
            .await
            .status,
        StatusCode::ACCEPTED
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn password_reset_reveals_nobody_and_is_single_use(pool: PgPool) {
    let app = app(pool.clone());
    let (_, owner, _) = sign_up(&app, "acme", "owner@acme.example").await;

    // The same answer, byte for byte, whether or not the address has an account.
    let known = post(
        &app,
        "/api/v1/account/password-reset",
        json!({ "email": "OWNER@acme.example" }),
    )
    .await;
    let unknown = post(
        &app,
        "/api/v1/account/password-reset",
        json!({ "email": "ghost@acme.example" }),
    )
    .await;
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.text);
    assert_eq!((known.status, &known.text), (unknown.status, &unknown.text));
    assert!(mail_to(&pool, "ghost@acme.example").await.is_empty());
    let mails = mail_to(&pool, "owner@acme.example").await;
    assert_eq!(mails.len(), 2, "verification + reset");
    assert_eq!(mails[1].0, None, "a reset concerns no tenant");
    assert_eq!(mails[1].1, "Reset your password");
    let first = token_in(&mails[1].2, "/account/reset/confirm");

    // A second request: two outstanding links.
    post(
        &app,
        "/api/v1/account/password-reset",
        json!({ "email": "owner@acme.example" }),
    )
    .await;
    let second = token_in(
        &mail_to(&pool, "owner@acme.example").await[2].2,
        "/account/reset/confirm",
    );
    assert_ne!(first, second);

    // Signed in twice with the old password.
    for _ in 0..2 {
        api::accounts::auth::login(&pool, "owner@acme.example", PASSWORD)
            .await
            .unwrap();
    }
    assert_eq!(sessions_of(&pool, owner).await, 2);

    // Too short: refused on `password`, and the link still works afterwards.
    let short = post(
        &app,
        "/api/v1/account/password-reset/confirm",
        json!({ "token": first, "password": "short" }),
    )
    .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&short.body), ["password"]);
    let forged = post(
        &app,
        "/api/v1/account/password-reset/confirm",
        json!({ "token": "sp_nope", "password": "a brand new password" }),
    )
    .await;
    refused_token(&forged, "is not a valid password-reset link");
    let done = post(
        &app,
        "/api/v1/account/password-reset/confirm",
        json!({ "token": first, "password": "a brand new password" }),
    )
    .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);

    // Every session ended, the old password is gone, the new one works; the address is proven.
    assert_eq!(sessions_of(&pool, owner).await, 0);
    assert!(
        api::accounts::auth::login(&pool, "owner@acme.example", PASSWORD)
            .await
            .is_err()
    );
    api::accounts::auth::login(&pool, "owner@acme.example", "a brand new password")
        .await
        .unwrap();
    assert!(verified(&pool, "owner@acme.example").await);
    // Used, and the other outstanding link was spent with it.
    for token in [&first, &second] {
        let reuse = post(
            &app,
            "/api/v1/account/password-reset/confirm",
            json!({ "token": token, "password": "yet another password" }),
        )
        .await;
        refused_token(&reuse, "has already been used");
    }

    // An expired link.
    post(
        &app,
        "/api/v1/account/password-reset",
        json!({ "email": "owner@acme.example" }),
    )
    .await;
    sqlx::query("UPDATE account_tokens SET expires_at = now() WHERE used_at IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    let third = token_in(
        &mail_to(&pool, "owner@acme.example").await[3].2,
        "/account/reset/confirm",
    );
    let expired = post(
        &app,
        "/api/v1/account/password-reset/confirm",
        json!({ "token": third, "password": "yet another password" }),
    )
    .await;
    refused_token(&expired, "has expired");
    // The link lives about an hour.
    let ttl: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 FROM account_tokens \
         WHERE purpose = 'password_reset' ORDER BY created_at LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(ttl, 3600.0);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn password_resets_are_limited_alike_for_known_and_unknown_addresses(pool: PgPool) {
    let app = app(pool.clone());
    sign_up(&app, "acme", "owner@acme.example").await;
    let reset = |email: String, client: Option<IpAddr>| {
        let app = app.clone();
        async move {
            send(
                &app,
                "POST",
                "/api/v1/account/password-reset",
                None,
                Some(json!({ "email": email })),
                client,
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(
            reset("owner@acme.example".into(), None).await.status,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            reset("ghost@acme.example".into(), None).await.status,
            StatusCode::ACCEPTED
        );
    }
    let known = reset("owner@acme.example".into(), None).await;
    let unknown = reset("ghost@acme.example".into(), None).await;
    assert_eq!(known.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(unknown.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(known.body["detail"], unknown.body["detail"]);
    assert_eq!(mail_to(&pool, "owner@acme.example").await.len(), 1 + 3);

    let client: IpAddr = "2001:db8::1".parse().unwrap();
    let neighbour: IpAddr = "2001:db8::ffff".parse().unwrap();
    for i in 0..10 {
        let at = if i % 2 == 0 { client } else { neighbour };
        assert_eq!(
            reset(format!("p{i}@spray.example"), Some(at)).await.status,
            StatusCode::ACCEPTED
        );
    }
    // The same /64 is one client.
    assert_eq!(
        reset("p10@spray.example".into(), Some(neighbour))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// `POST /api/v1/members/invitations` as the tenant's token.
async fn invite(app: &axum::Router, token: &str, email: &str, role: &str) -> Reply {
    send(
        app,
        "POST",
        "/api/v1/members/invitations",
        Some(token),
        Some(json!({ "email": email, "role": role })),
        None,
    )
    .await
}

async fn accept(app: &axum::Router, token: &str, password: Option<&str>) -> Reply {
    let mut body = json!({ "token": token });
    if let Some(password) = password {
        body["password"] = json!(password);
    }
    post(app, "/api/v1/invitations/accept", body).await
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn an_invitation_is_mailed_and_accepted_by_a_new_account(pool: PgPool) {
    let app = app(pool.clone());
    let (acme, _, acme_id) = sign_up(&app, "acme", "owner@acme.example").await;

    // Until an owner or admin has a verified address, the tenant cannot invite anyone.
    let early = invite(&app, &acme, "dev@people.example", "editor").await;
    assert_eq!(early.status, StatusCode::FORBIDDEN, "{}", early.text);
    assert!(
        early.text.contains("verify your email address first"),
        "{}",
        early.text
    );
    assert!(mail_to(&pool, "dev@people.example").await.is_empty());
    verify(&app, &pool, "owner@acme.example").await;

    // Bad input names the fields; a member already in is refused.
    let bad = invite(&app, &acme, "not an email", "root").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&bad.body), ["email", "role"]);
    let member = invite(&app, &acme, "OWNER@acme.example", "viewer").await;
    assert_eq!(fields(&member.body), ["email"], "{}", member.text);

    let invited = invite(&app, &acme, "Dev@People.example", "editor").await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    assert_eq!(invited.body["status"], "pending");
    assert_eq!(invited.body["role"], "editor");
    let mails = mail_to(&pool, "dev@people.example").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, Some(acme_id));
    assert!(mails[0].1.contains("acme Inc"), "{}", mails[0].1);
    let token = token_in(&mails[0].2, "/account/invitation");
    // The inviter never sees the token: not in the answer, the list or the audit log.
    let list = send(
        &app,
        "GET",
        "/api/v1/members/invitations",
        Some(&acme),
        None,
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let audit: Vec<Value> =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE entity = 'invitation'")
            .fetch_all(&pool)
            .await
            .unwrap();
    for seen in [&invited.text, &list.text, &format!("{audit:?}")] {
        assert!(!seen.contains(&token), "{seen}");
    }

    // No password: a new account needs one. Then accepted, once.
    let none = accept(&app, &token, None).await;
    assert_eq!(fields(&none.body), ["password"], "{}", none.text);
    let short = accept(&app, &token, Some("short")).await;
    assert_eq!(fields(&short.body), ["password"]);
    let done = accept(&app, &token, Some("the invitee's own password")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["account"], "none");
    assert_eq!(done.body["role"], "editor");
    assert_eq!(done.body["tenant"]["slug"], "acme");
    assert!(
        verified(&pool, "dev@people.example").await,
        "the link proved the address"
    );
    assert_eq!(
        members_of(&pool, acme_id).await,
        [
            ("dev@people.example".to_owned(), "editor".to_owned()),
            ("owner@acme.example".to_owned(), "owner".to_owned())
        ]
    );
    let (_, tenant) =
        api::accounts::auth::login(&pool, "dev@people.example", "the invitee's own password")
            .await
            .unwrap();
    assert_eq!(tenant, acme_id);
    refused_token(
        &accept(&app, &token, Some("the invitee's own password")).await,
        "already been accepted",
    );
    let list = send(
        &app,
        "GET",
        "/api/v1/members/invitations",
        Some(&acme),
        None,
        None,
    )
    .await;
    assert_eq!(list.body["items"][0]["status"], "accepted");
    assert_eq!(list.body["items"][0]["accepted_by"], done.body["user_id"]);
    refused_token(
        &accept(&app, "sp_forged", Some("whatever password")).await,
        "is not a valid invitation link",
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn an_account_registered_earlier_by_someone_else_cannot_capture_the_invitation(pool: PgPool) {
    let app = app(pool.clone());
    let (acme, _, acme_id) = sign_up(&app, "acme", "owner@acme.example").await;
    verify(&app, &pool, "owner@acme.example").await;

    // The attacker registers the victim's address first (it stays unverified: the attacker
    // cannot read the victim's mail) and keeps a session.
    let (_, squatter, evil_id) = sign_up(&app, "evil", "victim@people.example").await;
    let (attacker_session, _) =
        api::accounts::auth::login(&pool, "victim@people.example", PASSWORD)
            .await
            .unwrap();
    assert!(!verified(&pool, "victim@people.example").await);

    // Direct add-member does not bring the existing account in.
    let direct = send(
        &app,
        "POST",
        "/api/v1/members",
        Some(&acme),
        Some(json!({ "email": "victim@people.example", "role": "admin" })),
        None,
    )
    .await;
    assert_eq!(
        direct.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        direct.text
    );
    assert_eq!(fields(&direct.body), ["email"]);
    assert!(direct.text.contains("invite it instead"), "{}", direct.text);

    let invited = invite(&app, &acme, "victim@people.example", "admin").await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    let token = token_in(
        &mail_to(&pool, "victim@people.example")
            .await
            .last()
            .unwrap()
            .2,
        "/account/invitation",
    );

    // The attacker has the account's session and password, but not the link: nothing works.
    refused_token(
        &accept(&app, "sp_guessed", Some(PASSWORD)).await,
        "is not a valid invitation link",
    );
    // Even given the link, the unverified account's session is no proof (it needs a new password)
    // and the membership is not made.
    let by_session = api::accounts::invitations::accept(&pool, &token, None, Some(squatter))
        .await
        .unwrap_err();
    assert!(
        matches!(&by_session, api::rest::error::ApiError::Validation(p) if p[0].field == "password"),
        "{by_session}"
    );
    assert_eq!(members_of(&pool, acme_id).await.len(), 1);

    // The victim follows the mailed link and chooses a password: the address is proven, the
    // account is theirs, and the attacker is out (session ended, password replaced).
    let done = accept(&app, &token, Some("the victim's real password")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["account"], "unverified");
    assert_eq!(
        done.body["user_id"],
        squatter.to_string(),
        "one account per address"
    );
    assert!(verified(&pool, "victim@people.example").await);
    assert!(api::accounts::auth::session_user(&pool, &attacker_session)
        .await
        .unwrap()
        .is_none());
    assert_eq!(sessions_of(&pool, squatter).await, 0);
    assert!(
        api::accounts::auth::login(&pool, "victim@people.example", PASSWORD)
            .await
            .is_err()
    );
    api::accounts::auth::login(&pool, "victim@people.example", "the victim's real password")
        .await
        .unwrap();
    assert!(members_of(&pool, acme_id)
        .await
        .contains(&("victim@people.example".to_owned(), "admin".to_owned())));
    // The squatter's own tenant is untouched (it just has the address's owner as its owner now).
    assert_eq!(members_of(&pool, evil_id).await.len(), 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_verified_account_accepts_with_its_password_and_picks_a_tenant(pool: PgPool) {
    let app = app(pool.clone());
    let (acme, _, acme_id) = sign_up(&app, "acme", "owner@acme.example").await;
    let (_, person, globex_id) = sign_up(&app, "globex", "owner@globex.example").await;
    verify(&app, &pool, "owner@acme.example").await;
    verify(&app, &pool, "owner@globex.example").await;
    let invited = invite(&app, &acme, "owner@globex.example", "viewer").await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.text);
    let token = token_in(
        &mail_to(&pool, "owner@globex.example")
            .await
            .last()
            .unwrap()
            .2,
        "/account/invitation",
    );

    // A verified account is not taken over: its password is needed, and guesses are limited.
    let none = accept(&app, &token, None).await;
    assert_eq!(fields(&none.body), ["password"]);
    for _ in 0..5 {
        let wrong = accept(&app, &token, Some("not the password")).await;
        assert_eq!(
            wrong.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            wrong.text
        );
        assert_eq!(fields(&wrong.body), ["password"]);
    }
    let limited = accept(&app, &token, Some(PASSWORD)).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    sqlx::query("DELETE FROM account_mail_requests WHERE kind = 'invitation:password'")
        .execute(&pool)
        .await
        .unwrap();
    // The right password; the account keeps it.
    let done = accept(&app, &token, Some(PASSWORD)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["account"], "verified");
    api::accounts::auth::login(&pool, "owner@globex.example", PASSWORD)
        .await
        .unwrap();

    // In two tenants now: the picker lists both; switching needs a membership.
    let tenants = api::accounts::tenant_choice::memberships(&pool, person)
        .await
        .unwrap();
    let slugs: Vec<&str> = tenants.iter().map(|m| m.tenant.slug.as_str()).collect();
    assert_eq!(slugs, ["globex", "acme"]);
    let (session, first) = api::accounts::auth::login(&pool, "owner@globex.example", PASSWORD)
        .await
        .unwrap();
    assert_eq!(first, globex_id);
    let switched = api::accounts::tenant_choice::switch_tenant(&pool, &session, acme_id)
        .await
        .unwrap();
    let user = api::accounts::auth::session_user(&pool, &switched)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.tenant_id, user.role),
        (acme_id, api::accounts::roles::Role::Viewer)
    );
    assert!(
        api::accounts::auth::session_user(&pool, &session)
            .await
            .unwrap()
            .is_none(),
        "the old session ends"
    );
    let (_, _, stranger) = sign_up(&app, "initech", "owner@initech.example").await;
    let refused = api::accounts::tenant_choice::switch_tenant(&pool, &switched, stranger)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(api::accounts::auth::session_user(&pool, &switched)
        .await
        .unwrap()
        .is_some());
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn invitations_belong_to_their_tenant_and_can_be_withdrawn(pool: PgPool) {
    let app = app(pool.clone());
    let (acme, _, acme_id) = sign_up(&app, "acme", "owner@acme.example").await;
    let (globex, _, globex_id) = sign_up(&app, "globex", "owner@globex.example").await;
    verify(&app, &pool, "owner@acme.example").await;
    verify(&app, &pool, "owner@globex.example").await;
    let invited = invite(&app, &acme, "dev@people.example", "editor").await;
    let id = invited.body["id"].as_str().unwrap().to_owned();

    // Globex neither sees nor withdraws it.
    let list = send(
        &app,
        "GET",
        "/api/v1/members/invitations",
        Some(&globex),
        None,
        None,
    )
    .await;
    assert_eq!(list.body["items"], json!([]));
    let path = format!("/api/v1/members/invitations/{id}");
    let theirs = send(&app, "DELETE", &path, Some(&globex), None, None).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.text);
    // Nor can a read-only token of Acme's.
    let read = send(
        &app,
        "POST",
        "/api/v1/api-tokens",
        Some(&acme),
        Some(json!({ "name": "ro", "scopes": ["read"] })),
        None,
    )
    .await;
    let read = read.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        invite(&app, &read, "x@people.example", "viewer")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, "DELETE", &path, Some(&read), None, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Inviting the address again replaces the open invitation: the first link stops working.
    let first = token_in(
        &mail_to(&pool, "dev@people.example").await[0].2,
        "/account/invitation",
    );
    let again = invite(&app, &acme, "DEV@people.example", "viewer").await;
    assert_eq!(again.status, StatusCode::CREATED);
    refused_token(
        &accept(&app, &first, Some("a password for dev")).await,
        "was withdrawn",
    );
    let second = token_in(
        &mail_to(&pool, "dev@people.example").await[1].2,
        "/account/invitation",
    );
    let again_id = again.body["id"].as_str().unwrap().to_owned();

    // Withdrawn by Acme: the link is refused; withdrawing twice is a no-op.
    let path = format!("/api/v1/members/invitations/{again_id}");
    assert_eq!(
        send(&app, "DELETE", &path, Some(&acme), None, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, "DELETE", &path, Some(&acme), None, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    refused_token(
        &accept(&app, &second, Some("a password for dev")).await,
        "was withdrawn",
    );

    // An expired one.
    invite(&app, &acme, "late@people.example", "viewer").await;
    sqlx::query(
        "UPDATE invitations SET expires_at = now() WHERE lower(email) = 'late@people.example'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let late = token_in(
        &mail_to(&pool, "late@people.example").await[0].2,
        "/account/invitation",
    );
    refused_token(
        &accept(&app, &late, Some("a password for late")).await,
        "has expired",
    );

    // Accepting Globex's invitation joins Globex only.
    let to_globex = invite(&app, &globex, "dev@people.example", "admin").await;
    assert_eq!(to_globex.status, StatusCode::CREATED);
    let token = token_in(
        &mail_to(&pool, "dev@people.example").await[2].2,
        "/account/invitation",
    );
    let done = accept(&app, &token, Some("a password for dev")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(members_of(&pool, acme_id).await.len(), 1);
    assert_eq!(members_of(&pool, globex_id).await.len(), 2);
    // Accepted: it cannot be withdrawn.
    let accepted = format!(
        "/api/v1/members/invitations/{}",
        to_globex.body["id"].as_str().unwrap()
    );
    assert_eq!(
        send(&app, "DELETE", &accepted, Some(&globex), None, None)
            .await
            .status,
        StatusCode::CONFLICT
    );
    // Each tenant's audit log holds its own invitations.
    let logged: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT tenant_id, action FROM audit_log WHERE entity = 'invitation' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        logged,
        [
            (acme_id, "create".to_owned()),
            (acme_id, "create".to_owned()),
            (acme_id, "revoke".to_owned()),
            (acme_id, "create".to_owned()),
            (globex_id, "create".to_owned()),
            (globex_id, "accept".to_owned()),
        ]
    );
}

/// The verification mail of a sign-up, taken from the outbox and sent the way the outbox worker
/// sends account mail (`notify::email::send`) to a real SMTP server: the link arrives intact.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_verification_mail_reaches_a_real_smtp_server(pool: PgPool) {
    use std::io::{BufRead, BufReader};
    let app = app(pool.clone());
    sign_up(&app, "acme", "owner@acme.example").await;
    let (address, message): (String, Value) =
        sqlx::query_as("SELECT address, message FROM outbox WHERE event = 'account'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let message: api::notify::Message = serde_json::from_value(message).unwrap();
    let token = token_in(&message.text, "/account/verify");

    let python = std::env::var("AIOSMTPD_PYTHON").expect("AIOSMTPD_PYTHON (see notify_email.rs)");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink.py");
    let folder = std::env::temp_dir().join(format!("smtp-sink-{}", Uuid::new_v4()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut sink = std::process::Command::new(&python)
        .arg(&script)
        .arg("--port")
        .arg(port.to_string())
        .arg(&folder)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sink.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), format!("ready {port}"));

    let smtp = api::notify::email::SmtpSettings::from_env_values(
        Some(&format!("smtp://127.0.0.1:{port}")),
        Some("Status <accounts@status.test>"),
        "localhost",
    )
    .unwrap()
    .unwrap();
    let outcome = api::notify::email::send(&smtp, std::slice::from_ref(&address), &message).await;
    let mut raw = String::new();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(v["rcpt_tos"], json!(["owner@acme.example"]));
            raw = v["data"].as_str().unwrap().to_owned();
        }
    }
    let _ = sink.kill();
    let _ = sink.wait();
    let _ = std::fs::remove_dir_all(&folder);
    assert_eq!(outcome, api::notify::Outcome::Delivered { status: 250 });
    // Undo quoted-printable soft breaks and `=3D`, should the body be encoded.
    let body = raw
        .split_once("\r\n\r\n")
        .unwrap()
        .1
        .replace("=\r\n", "")
        .replace("=3D", "=");
    assert!(
        body.contains(&format!("{PLATFORM}/account/verify?token={token}")),
        "{raw}"
    );
    assert!(raw.contains("Confirm your email address"), "{raw}");
}
