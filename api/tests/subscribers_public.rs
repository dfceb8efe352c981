//! Subscribing from the public page, against a real PostgreSQL: email double opt-in through the
//! outbox (the link's GET shows a button and confirms nothing; the POST confirms), answers that
//! never say whether an address was subscribed, Slack and webhook targets checked like channel
//! URLs, RFC 8058 one-click unsubscribe without a session, preferences by the signed link, rate
//! limits per client and per tenant, and links that open nothing of another subscriber or tenant.

use api::subscribers::public::{self, Subscribed, Unsubscribed};
use api::subscribers::{SubscriberInput, SubscriberKind};
use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::net::IpAddr;
use tower::ServiceExt;
use uuid::Uuid;

fn state(pool: PgPool) -> AppState {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
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
}

struct Reply {
    status: StatusCode,
    content_type: String,
    text: String,
    body: Value,
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    form: Option<&str>,
    token: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match form {
        Some(form) => request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn tenant(app: &axum::Router, slug: &str) -> (Uuid, String) {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/tenants")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "slug": slug, "name": format!("{slug} Inc"), "email": format!("owner@{slug}.example") })
                .to_string(),
        ))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    (
        body["tenant"]["id"].as_str().unwrap().parse().unwrap(),
        body["api_token"].as_str().unwrap().to_owned(),
    )
}

fn email(target: &str) -> SubscriberInput {
    SubscriberInput {
        kind: SubscriberKind::Email,
        target: target.into(),
        component_ids: vec![],
    }
}

fn client(n: u8) -> Option<IpAddr> {
    Some(format!("203.0.113.{n}").parse().unwrap())
}

/// The mails queued for `address`: (title, text, url), oldest first.
async fn mails_to(pool: &PgPool, address: &str) -> Vec<(String, String, String)> {
    let rows: Vec<Value> = sqlx::query_scalar(
        "SELECT message FROM outbox WHERE address = $1 AND event = 'account' ORDER BY created_at, id",
    )
    .bind(address)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|m| {
            (
                m["title"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
                m["url"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").unwrap().1;
    format!("/{}", after_scheme.split_once('/').unwrap().1)
}

async fn confirmed(pool: &PgPool, tenant: Uuid, target: &str) -> Option<bool> {
    sqlx::query_scalar(
        "SELECT confirmed_at IS NOT NULL FROM subscribers WHERE tenant_id = $1 AND lower(target) = lower($2)",
    )
    .bind(tenant)
    .bind(target)
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn email_is_double_opt_in_and_confirmed_by_post_only(pool: PgPool) {
    let state = state(pool.clone());
    let app = api::router(state.clone());
    let (acme, _) = tenant(&app, "acme").await;

    let answer = public::subscribe(&state, acme, &email("Reader@Example.com"), client(1))
        .await
        .unwrap();
    assert_eq!(answer, Subscribed::CheckInbox);
    assert_eq!(
        confirmed(&pool, acme, "reader@example.com").await,
        Some(false)
    );
    let mails = mails_to(&pool, "Reader@Example.com").await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (title, text, link) = &mails[0];
    assert_eq!(title, "Confirm your subscription to acme Inc status");
    assert!(
        link.starts_with("http://acme.localhost/api/v1/public/subscriptions/confirm?token="),
        "{link}"
    );
    assert!(text.contains(link.as_str()), "the mail carries the link");

    // The link's GET (a person, or a mail scanner) shows a button and confirms nothing.
    let shown = send(&app, "GET", &path_of(link), None, None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.content_type.starts_with("text/html"));
    assert!(
        shown.text.contains("<form method=\"post\""),
        "{}",
        shown.text
    );
    assert!(shown.text.contains("Confirm subscription"));
    assert_eq!(
        confirmed(&pool, acme, "reader@example.com").await,
        Some(false)
    );

    // The button posts the token as a form field; the page then links the preferences.
    let token = link.split_once("token=").unwrap().1;
    let done = send(
        &app,
        "POST",
        "/api/v1/public/subscriptions/confirm",
        Some(&format!("token={token}")),
        None,
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.text.contains("Subscription confirmed"));
    assert!(done.text.contains("/_status-page/subscription?id="));
    assert_eq!(
        confirmed(&pool, acme, "reader@example.com").await,
        Some(true)
    );
    let again = send(
        &app,
        "POST",
        "/api/v1/public/subscriptions/confirm",
        Some(&format!("token={token}")),
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "a link works once");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn answers_never_tell_whether_an_address_is_subscribed(pool: PgPool) {
    let state = state(pool.clone());
    let app = api::router(state.clone());
    let (acme, _) = tenant(&app, "acme").await;

    let first = public::subscribe(&state, acme, &email("a@example.com"), client(1))
        .await
        .unwrap();
    // Unconfirmed and subscribed again: the same answer, a fresh link, the old one dead.
    let second = public::subscribe(&state, acme, &email("A@example.com"), client(2))
        .await
        .unwrap();
    assert_eq!(first, second);
    let mails = mails_to(&pool, "a@example.com").await;
    let resent = mails_to(&pool, "A@example.com").await;
    assert_eq!((mails.len(), resent.len()), (1, 1));
    let (old, new) = (&mails[0].2, &resent[0].2);
    assert_ne!(old, new);
    assert_eq!(
        send(&app, "GET", &path_of(old), None, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, "POST", &path_of(new), None, None).await.status,
        StatusCode::OK
    );
    // Confirmed and subscribed again: the same answer; the owner gets their preferences link.
    let third = public::subscribe(&state, acme, &email("a@example.com"), client(3))
        .await
        .unwrap();
    assert_eq!(third, first);
    let mails = mails_to(&pool, "a@example.com").await;
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].0, "You are subscribed to acme Inc status");
    assert!(mails[1].2.contains("/_status-page/subscription?id="));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM subscribers WHERE tenant_id = $1")
        .bind(acme)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn slack_and_webhook_targets_are_checked_like_channel_urls(pool: PgPool) {
    let state = state(pool.clone());
    let app = api::router(state.clone());
    let (acme, _) = tenant(&app, "acme").await;
    let input = |kind, target: &str| SubscriberInput {
        kind,
        target: target.into(),
        component_ids: vec![],
    };
    for (kind, bad) in [
        (SubscriberKind::Slack, "https://example.com/services/x"),
        (SubscriberKind::Slack, "https://127.0.0.1/services/x"),
        (SubscriberKind::Webhook, "http://example.com/hook"),
        (SubscriberKind::Webhook, "https://10.0.0.1/hook"),
        (SubscriberKind::Webhook, "https://localhost/hook"),
        (SubscriberKind::Email, "not an address"),
    ] {
        let refused = public::subscribe(&state, acme, &input(kind, bad), None)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), 422, "{bad}");
    }
    let unknown_component = SubscriberInput {
        component_ids: vec![Uuid::new_v4()],
        ..email("c@example.com")
    };
    assert_eq!(
        public::subscribe(&state, acme, &unknown_component, None)
            .await
            .unwrap_err()
            .status(),
        422
    );
    let slack = public::subscribe(
        &state,
        acme,
        &input(
            SubscriberKind::Slack,
            "https://hooks.slack.com/services/T0/B0/xyz",
        ),
        None,
    )
    .await
    .unwrap();
    let Subscribed::Active { manage_url } = slack else {
        panic!("{slack:?}")
    };
    assert!(manage_url.starts_with("http://acme.localhost/_status-page/subscription?id="));
    let kinds: Vec<(String, bool)> = sqlx::query_as(
        "SELECT kind, confirmed_at IS NOT NULL FROM subscribers WHERE tenant_id = $1",
    )
    .bind(acme)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kinds, [("slack".to_owned(), true)]);
    // Loopback webhooks are accepted only where the deployment allow-lists them (the demo).
    let allowing = state
        .clone()
        .with_delivery_guard(checker::guard::SsrfGuard::new(vec!["127.0.0.0/8"
            .parse()
            .unwrap()]));
    public::subscribe(
        &allowing,
        acme,
        &input(SubscriberKind::Webhook, "http://127.0.0.1:9/hook"),
        None,
    )
    .await
    .unwrap();
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn public_subscribing_is_limited_per_client_and_per_tenant(pool: PgPool) {
    let state = state(pool.clone());
    let app = api::router(state.clone());
    let (acme, _) = tenant(&app, "acme").await;
    let (other, _) = tenant(&app, "other").await;
    for i in 0..public::CLIENT_BURST {
        public::subscribe(
            &state,
            acme,
            &email(&format!("r{i}@example.com")),
            client(1),
        )
        .await
        .unwrap();
    }
    let refused = public::subscribe(&state, other, &email("x@example.com"), client(1))
        .await
        .unwrap_err();
    assert_eq!(refused.status(), 429, "the client's limit spans pages");
    let api::rest::error::ApiError::TooManyRequests {
        retry_after_secs, ..
    } = refused
    else {
        unreachable!()
    };
    assert!(retry_after_secs >= 1);
    // Many clients together run into the page's own limit; other pages go on.
    let mut accepted = public::CLIENT_BURST;
    for n in 2..=250u8 {
        match public::subscribe(
            &state,
            acme,
            &email(&format!("c{n}@example.com")),
            client(n),
        )
        .await
        {
            Ok(_) => accepted += 1,
            Err(e) => {
                assert_eq!(e.status(), 429);
                break;
            }
        }
    }
    assert_eq!(accepted, public::TENANT_BURST);
    public::subscribe(&state, other, &email("y@example.com"), client(9))
        .await
        .unwrap();
}

/// A confirmed subscriber and its links (from the message an incident sends it).
async fn subscribed(
    state: &AppState,
    app: &axum::Router,
    tenant: Uuid,
    token: &str,
) -> (Uuid, String) {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO subscribers (id, tenant_id, kind, target, confirmed_at) VALUES ($1, $2, 'email', $3, now())",
    )
    .bind(id)
    .bind(tenant)
    .bind(format!("{id}@example.com"))
    .execute(&state.db)
    .await
    .unwrap();
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/incidents")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "title": "Slow", "message": "Looking" }).to_string(),
        ))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::CREATED
    );
    let url: String = sqlx::query_scalar(
        "SELECT message->>'unsubscribe_url' FROM outbox WHERE subscriber_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(id)
    .fetch_one(&state.db)
    .await
    .unwrap();
    (id, url)
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn one_click_unsubscribe_needs_no_session(pool: PgPool) {
    let state = state(pool.clone());
    let app = api::router(state.clone());
    let (acme, token) = tenant(&app, "acme").await;
    let (id, url) = subscribed(&state, &app, acme, &token).await;
    let path = path_of(&url);

    // Opened in a browser: a button, nothing removed.
    let shown = send(&app, "GET", &path, None, None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.text.contains("List-Unsubscribe"), "{}", shown.text);
    // A POST without the RFC 8058 body is refused, naming the field.
    let bare = send(&app, "POST", &path, None, None).await;
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bare.body["errors"][0]["field"], "List-Unsubscribe");
    // A link with another subscriber's id (or a changed token) opens nothing.
    let forged = path.replace(&id.to_string(), &Uuid::new_v4().to_string());
    assert_eq!(
        send(
            &app,
            "POST",
            &forged,
            Some("List-Unsubscribe=One-Click"),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM subscribers WHERE id = $1)")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(exists);

    // The mail client's one-click POST: no cookie, no token header.
    let done = send(
        &app,
        "POST",
        &path,
        Some("List-Unsubscribe=One-Click"),
        None,
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM subscribers WHERE id = $1)")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!exists, "unsubscribed");
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE subscriber_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, 0, "nothing more is sent to it");
    let twice = send(
        &app,
        "POST",
        &path,
        Some("List-Unsubscribe=One-Click"),
        None,
    )
    .await;
    assert_eq!(twice.status, StatusCode::OK, "a second click is fine too");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn preferences_follow_the_signed_link_and_stay_in_their_tenant(pool: PgPool) {
    let state = state(pool.clone());
    let app = api::router(state.clone());
    let (acme, acme_token) = tenant(&app, "acme").await;
    let (other, other_token) = tenant(&app, "other").await;
    let (mine, url) = subscribed(&state, &app, acme, &acme_token).await;
    let (theirs, _) = subscribed(&state, &app, other, &other_token).await;
    let token = url.split_once("token=").unwrap().1;
    let web: Uuid = sqlx::query_scalar(
        "INSERT INTO components (id, tenant_id, name) VALUES (gen_random_uuid(), $1, 'Web') RETURNING id",
    )
    .bind(acme)
    .fetch_one(&pool)
    .await
    .unwrap();
    let foreign: Uuid = sqlx::query_scalar(
        "INSERT INTO components (id, tenant_id, name) VALUES (gen_random_uuid(), $1, 'Theirs') RETURNING id",
    )
    .bind(other)
    .fetch_one(&pool)
    .await
    .unwrap();

    let prefs = public::preferences(&pool, mine, token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prefs.tenant_id, acme);
    assert_eq!(prefs.components, [(web, "Web".to_owned())]);
    assert!(public::set_components(&pool, mine, token, &[web])
        .await
        .unwrap());
    let followed: Vec<Uuid> =
        sqlx::query_scalar("SELECT component_ids FROM subscribers WHERE id = $1")
            .bind(mine)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(followed, [web]);
    // Another tenant's component is not one of ours to follow.
    assert_eq!(
        public::set_components(&pool, mine, token, &[foreign])
            .await
            .unwrap_err()
            .status(),
        422
    );
    // My token opens nothing of another tenant's subscriber.
    assert!(public::preferences(&pool, theirs, token)
        .await
        .unwrap()
        .is_none());
    assert!(!public::set_components(&pool, theirs, token, &[])
        .await
        .unwrap());
    assert_eq!(
        public::unsubscribe(&pool, theirs, token).await.unwrap(),
        Unsubscribed::BadLink
    );
    assert_eq!(
        public::unsubscribe(&pool, mine, token).await.unwrap(),
        Unsubscribed::Done
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn unconfirmed_subscriptions_are_forgotten_after_a_week(pool: PgPool) {
    let state = state(pool.clone());
    let app = api::router(state.clone());
    let (acme, _) = tenant(&app, "acme").await;
    for target in ["old@example.com", "new@example.com"] {
        public::subscribe(&state, acme, &email(target), None)
            .await
            .unwrap();
    }
    sqlx::query(
        "UPDATE subscribers SET created_at = now() - make_interval(days => $1 + 1) \
         WHERE target = 'old@example.com'",
    )
    .bind(api::subscribers::notify::UNCONFIRMED_DAYS)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        api::subscribers::notify::forget_unconfirmed(&pool)
            .await
            .unwrap(),
        1
    );
    assert_eq!(confirmed(&pool, acme, "old@example.com").await, None);
    assert_eq!(confirmed(&pool, acme, "new@example.com").await, Some(false));
}
