//! Sign-in rate limiting and look-alike slugs, against a real PostgreSQL.

use api::accounts::auth::{login, login_client_key, login_limited, LoginError};
use api::accounts::tenancy::{create_tenant, NewTenant};
use api::rest::error::ApiError;
use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::net::IpAddr;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

async fn owner(pool: &PgPool, slug: &str) -> String {
    let email = format!("owner@{slug}.example");
    create_tenant(
        pool,
        &NewTenant {
            slug: slug.into(),
            name: format!("{slug} Inc"),
            email: email.clone(),
            password: Some(PASSWORD.into()),
        },
    )
    .await
    .unwrap();
    email
}

/// What a sign-in came to, in short.
#[derive(Debug, PartialEq)]
enum Outcome {
    SignedIn,
    Wrong,
    Throttled(i64),
}

async fn attempt(pool: &PgPool, email: &str, password: &str, client: Option<&str>) -> Outcome {
    let client = client.map(|c| c.parse::<IpAddr>().unwrap());
    match login_limited(pool, email, password, client).await {
        Ok(_) => Outcome::SignedIn,
        Err(LoginError::Api(ApiError::Unauthorized(_))) => Outcome::Wrong,
        Err(LoginError::Throttled {
            retry_after_minutes,
        }) => Outcome::Throttled(retry_after_minutes),
        Err(other) => panic!("unexpected: {other:?}"),
    }
}

/// Moves every recorded attempt `minutes` into the past.
async fn age_attempts(pool: &PgPool, minutes: i32) {
    sqlx::query("UPDATE login_attempts SET at = at - make_interval(mins => $1)")
        .bind(minutes)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn five_failures_lock_the_email_even_for_the_right_password(pool: PgPool) {
    let acme = owner(&pool, "acme").await;
    let globex = owner(&pool, "globex").await;
    // Case and surrounding spaces do not make a different email.
    for email in [
        &acme,
        &acme.to_uppercase(),
        &format!(" {acme} "),
        &acme,
        &acme,
    ] {
        assert_eq!(
            attempt(&pool, email, "wrong password", None).await,
            Outcome::Wrong
        );
    }
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, None).await,
        Outcome::Throttled(15),
        "the 6th attempt is refused without checking the password"
    );
    let refused = login_limited(&pool, &acme.to_uppercase(), PASSWORD, None)
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "too many failed sign-ins; try again in 15 minutes"
    );
    // The plain `login` keeps its signature and is limited too.
    match login(&pool, &acme, PASSWORD).await {
        Err(ApiError::Forbidden(why)) => assert!(why.starts_with("too many failed sign-ins")),
        other => panic!("{other:?}"),
    }
    // Refused attempts are not counted: the wait does not grow while the user keeps trying.
    let failures: i64 = sqlx::query_scalar("SELECT count(*) FROM login_attempts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(failures, 5);

    // Another email is not affected, wrong guesses included.
    assert_eq!(
        attempt(&pool, &globex, "wrong password", None).await,
        Outcome::Wrong
    );
    assert_eq!(
        attempt(&pool, &globex, PASSWORD, None).await,
        Outcome::SignedIn
    );

    // The wait counts down as the failures age, and ends when they leave the 15-minute window.
    age_attempts(&pool, 10).await;
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, None).await,
        Outcome::Throttled(5)
    );
    age_attempts(&pool, 6).await;
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, None).await,
        Outcome::SignedIn
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_successful_sign_in_clears_the_emails_failures(pool: PgPool) {
    let acme = owner(&pool, "acme").await;
    for _ in 0..4 {
        assert_eq!(
            attempt(&pool, &acme, "nope nope", None).await,
            Outcome::Wrong
        );
    }
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, None).await,
        Outcome::SignedIn
    );
    // A fresh allowance of five failures, then the lock.
    for _ in 0..5 {
        assert_eq!(
            attempt(&pool, &acme, "nope nope", None).await,
            Outcome::Wrong
        );
    }
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, None).await,
        Outcome::Throttled(15)
    );
    // Unknown emails are limited like known ones: the limit tells nobody who has an account.
    for _ in 0..5 {
        assert_eq!(
            attempt(&pool, "nobody@example.com", PASSWORD, None).await,
            Outcome::Wrong
        );
    }
    assert_eq!(
        attempt(&pool, "nobody@example.com", PASSWORD, None).await,
        Outcome::Throttled(15)
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn twenty_failures_lock_the_client_address_across_emails(pool: PgPool) {
    let acme = owner(&pool, "acme").await;
    for i in 0..20 {
        // Four guesses at each of five emails: no email reaches its own limit.
        let email = format!("guess{}@example.com", i % 5);
        assert_eq!(
            attempt(&pool, &email, "123456", Some("203.0.113.7")).await,
            Outcome::Wrong,
            "attempt {i}"
        );
    }
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, Some("203.0.113.7")).await,
        Outcome::Throttled(15),
        "the address is locked, whatever the email"
    );
    // Another address, or an unknown one, still signs in.
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, Some("198.51.100.1")).await,
        Outcome::SignedIn
    );
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, None).await,
        Outcome::SignedIn
    );
    // An IPv4-mapped IPv6 address is the same client.
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, Some("::ffff:203.0.113.7")).await,
        Outcome::Throttled(15)
    );
}

#[test]
fn clients_are_keyed_by_ipv4_address_or_ipv6_slash_64() {
    let key = |ip: &str| login_client_key(ip.parse().unwrap());
    assert_eq!(key("203.0.113.7"), "203.0.113.7");
    assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
    assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
    assert_eq!(key("2001:db8:1:2:ffff::9"), key("2001:db8:1:2::1"));
    assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn concurrent_guesses_cannot_slip_under_the_limit(pool: PgPool) {
    let acme = owner(&pool, "acme").await;
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let (pool, acme) = (pool.clone(), acme.clone());
            tokio::spawn(
                async move { attempt(&pool, &acme, &format!("guess number {i}"), None).await },
            )
        })
        .collect();
    let mut wrong = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Outcome::Wrong => wrong += 1,
            Outcome::Throttled(_) => {}
            Outcome::SignedIn => panic!("a wrong guess signed in"),
        }
    }
    assert_eq!(
        wrong, 5,
        "exactly the allowance of passwords is checked, however many guesses arrive at once"
    );
    assert_eq!(
        attempt(&pool, &acme, PASSWORD, None).await,
        Outcome::Throttled(15)
    );
}

fn app(pool: PgPool) -> axum::Router {
    // ClickHouse is not touched by these endpoints; the client only connects on use.
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into()],
            open_signup: true,
        },
    ))
}

async fn sign_up(app: &axum::Router, slug: &str) -> (StatusCode, Value) {
    let body = json!({ "slug": slug, "name": slug, "email": format!("owner@{slug}.example") });
    let request = Request::post("/api/v1/tenants")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn look_alike_slugs_of_existing_tenants_are_refused(pool: PgPool) {
    let app = app(pool.clone());
    assert_eq!(sign_up(&app, "acme").await.0, StatusCode::CREATED);
    for look_alike in ["acrne", "ac-me", "a-c-m-e"] {
        let (status, body) = sign_up(&app, look_alike).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{look_alike}: {body}"
        );
        assert_eq!(body["errors"][0]["field"], "slug", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("looks too much like an existing status page"),
            "{message}"
        );
    }
    let (status, body) = sign_up(&app, "acme").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already taken"),
        "the same slug still says so: {body}"
    );
    // Nothing half-created by the refusals; distinct slugs are fine.
    assert_eq!(sign_up(&app, "acne").await.0, StatusCode::CREATED);
    assert_eq!(sign_up(&app, "v-vidget").await.0, StatusCode::CREATED);
    assert_eq!(
        sign_up(&app, "wldget").await.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "vv→w and i→l: wldget looks like v-vidget"
    );
    let (users, tenants): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM tenants)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((users, tenants), (3, 3));
    let stored: String =
        sqlx::query_scalar("SELECT slug_skeleton FROM tenants WHERE slug = 'v-vidget'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, tenants::slug_skeleton("v-vidget"));
}

/// The migration's backfill: its SQL folds slugs exactly as `tenants::slug_skeleton` does, and
/// tenants that already look alike keep working (the older one keeps the skeleton).
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_migration_backfills_skeletons_like_rust_does(pool: PgPool) {
    let migration = include_str!("../migrations/0004_auth.sql");
    let start = migration.find("UPDATE tenants").unwrap();
    let end = start + migration[start..].find(';').unwrap();
    let backfill = &migration[start..end];
    let slugs = [
        "acme",
        "rnvv-0i135-x",
        "supp0rt",
        "a-p-i",
        "rrnn",
        "vvv",
        "rnrn-vvvv",
        "st4tus",
        "i1-l",
        "acrne",
    ];
    for (n, slug) in slugs.iter().enumerate() {
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, created_at) \
             VALUES ($1, $2, $2, now() - make_interval(mins => $3))",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(slug)
        .bind(100 - n as i32)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(backfill).execute(&pool).await.unwrap();
    for slug in slugs {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT slug_skeleton FROM tenants WHERE slug = $1")
                .bind(slug)
                .fetch_one(&pool)
                .await
                .unwrap();
        if slug == "acrne" {
            assert_eq!(stored, None, "the younger look-alike is grandfathered");
        } else {
            assert_eq!(
                stored.as_deref(),
                Some(tenants::slug_skeleton(slug).as_str()),
                "{slug}"
            );
        }
    }
}
