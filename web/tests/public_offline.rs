//! Up when everything behind it is down: a `statuspage serve` with a render folder serves a
//! public page and a password-protected one; it is stopped; a new server started with
//! `DATABASE_URL` and `CLICKHOUSE_URL` pointing at closed ports starts anyway and serves the
//! public page, its JSON, feed and badge from the kept render with 200 and the stale notice,
//! while the password-protected page is refused (503: never served without its gate). And a
//! server on a fresh machine (empty render folder) restores the renders another server kept in
//! the S3 bucket (moto) and serves them with both databases down.

mod support;

use serde_json::json;
use sqlx::PgPool;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{database_url, free_port, text, AppServer};
use uuid::Uuid;

const CHECKER_SECRET: &str = "public-offline-secret-0123456789";
const PAGE_PASSWORD: &str = "open sesame 123";

/// Server `n` of the test's folder `data` on the given databases, keeping renders in
/// `data/renders`, with `env` added (or overriding).
fn start(
    database_url: &str,
    clickhouse_url: &str,
    data: &Path,
    n: usize,
    env: &[(&str, String)],
) -> AppServer {
    let mut all = vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("CLICKHOUSE_URL", clickhouse_url.to_owned()),
        ("CLICKHOUSE_DATABASE", "public_offline_test".to_owned()),
        ("CHECKER_SECRET", CHECKER_SECRET.to_owned()),
        (
            "STATUSPAGE_DATA",
            data.join(format!("data-{n}")).display().to_string(),
        ),
        (
            "STATUSPAGE_RENDER_DIR",
            data.join("renders").display().to_string(),
        ),
    ];
    all.extend_from_slice(env);
    AppServer::start(
        support::log_path(data, n),
        free_port(),
        &all,
        &["STATUSPAGE_COOKIE_SECRET", "STATUSPAGE_RENDER_BUCKET"],
    )
}

/// `path` on the tenant's host, brotli accepted, with the page's password if given.
async fn get(
    server: &AppServer,
    slug: &str,
    path: &str,
    password: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(server.url(path))
        .header("host", format!("{slug}.localhost:{}", server.port))
        .header("accept-encoding", "br");
    if let Some(password) = password {
        request = request.header("status-page-password", password);
    }
    request.send().await.unwrap()
}

async fn sign_up(http: &reqwest::Client, server: &AppServer, slug: &str) -> String {
    let created = support::sign_up(http, &server.url(""), slug, &format!("{slug} Inc")).await;
    support::token(&created)
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn kept_renders_are_served_with_both_databases_down_and_protected_pages_are_not(
    pool: PgPool,
) {
    let data = std::env::temp_dir().join(format!("public-offline-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&data).unwrap();
    let clickhouse =
        std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let first = start(&database_url(&pool).await, &clickhouse, &data, 1, &[]);
    first.wait_listening().await;

    let http = reqwest::Client::new();
    let token = sign_up(&http, &first, "acme").await;
    let url = first.url("/api/v1/components");
    let component = support::create(&http, &url, &token, json!({ "name": "Checkout" })).await;
    let badge = format!("/badges/{component}/status.svg");
    let locked_token = sign_up(&http, &first, "locked").await;
    let set = http
        .patch(first.url("/api/v1/status-page"))
        .bearer_auth(&locked_token)
        .json(&json!({ "visibility": "password", "password": PAGE_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);

    let paths = ["/", "/status.json", "/feed.rss", badge.as_str()];
    let mut live = Vec::new();
    for path in paths {
        let r = get(&first, "acme", path, None).await;
        assert_eq!(r.status(), 200, "{path}; log:\n{}", first.log());
        assert!(r.headers().get("x-status-stale").is_none(), "{path}: live");
        live.push(text(r).await);
    }
    assert!(
        !live[0].contains("stale-notice"),
        "the live page is not stale"
    );
    let locked = get(&first, "locked", "/", Some(PAGE_PASSWORD)).await;
    assert_eq!(locked.status(), 200, "{}", first.log());
    assert_eq!(locked.headers()["cache-control"], "private, no-cache");

    // Both models are on disk.
    let renders = data.join("renders");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&renders)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "two renders kept; log:\n{}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.stop();

    // Both databases unreachable: ports nothing listens on.
    let dead_pg = format!("postgres://postgres@127.0.0.1:{}/statuspage", free_port());
    let dead_ch = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let second = start(&dead_pg, &dead_ch, &data, 2, &[]);
    second.wait_listening().await;
    println!(
        "the server without databases listened after {} ms",
        started.elapsed().as_millis()
    );
    for (path, before) in paths.iter().zip(&live) {
        let asked = Instant::now();
        let r = get(&second, "acme", path, None).await;
        assert_eq!(r.status(), 200, "{path} offline; log:\n{}", second.log());
        assert_eq!(r.headers()["x-status-stale"], "1", "{path}");
        assert!(r.headers().contains_key("etag"));
        let body = text(r).await;
        assert!(!body.is_empty());
        if *path == "/" {
            assert!(
                body.contains("stale-notice"),
                "the page says it is stale:\n{body}"
            );
        } else {
            // Same data as before (the badge and feeds may say they are stale too).
            assert!(body.len() * 2 > before.len(), "{path}");
        }
        println!("{path}: {} ms offline", asked.elapsed().as_millis());
        // Not after the pool's connect timeout (5 s): the server knows it started without it.
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "{path} took {:?} offline",
            asked.elapsed()
        );
    }
    // The password-protected page: never from disk (fail closed), with or without a password.
    for password in [None, Some(PAGE_PASSWORD)] {
        let r = get(&second, "locked", "/", password).await;
        assert_eq!(r.status(), 503, "{password:?}");
        let body = text(r).await;
        assert!(!body.contains("stale-notice"), "{body}");
    }
    // A host this server never rendered: 503, not someone else's page.
    assert_eq!(get(&second, "globex", "/", None).await.status(), 503);
    assert!(
        second.log().contains("does not answer"),
        "the log says why:\n{}",
        second.log()
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&data);
}

/// The moto server of `./dev test` (AWS_ENDPOINT_URL); fails loudly without it.
fn moto_endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: this test keeps renders in a moto bucket; run it through \
             `./dev test` or `source scripts/moto.sh && ensure_moto` first"
        ),
    }
}

/// A fresh machine (an empty render folder) whose databases are both down serves the public
/// page another server kept in the bucket; an unusable object in the bucket is skipped.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_fresh_server_without_databases_serves_the_renders_kept_in_the_bucket(pool: PgPool) {
    let endpoint = moto_endpoint();
    let data = std::env::temp_dir().join(format!("public-bucket-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&data).unwrap();
    let clickhouse =
        std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let bucket = "statuspage-renders-test";
    let prefix = format!("run-{}", Uuid::new_v4());
    let keep = infra::keep::ObjectKeep::new(bucket, &prefix, "us-east-1", Some(&endpoint)).await;
    keep.ensure_bucket().await.unwrap();
    let env = |renders: &str| {
        vec![
            ("STATUSPAGE_RENDER_BUCKET", format!("{bucket}/{prefix}")),
            (
                "STATUSPAGE_RENDER_DIR",
                data.join(renders).display().to_string(),
            ),
        ]
    };

    let first = start(
        &database_url(&pool).await,
        &clickhouse,
        &data,
        1,
        &env("renders-1"),
    );
    first.wait_listening().await;
    let http = reqwest::Client::new();
    sign_up(&http, &first, "acme").await;
    let live = get(&first, "acme", "/", None).await;
    assert_eq!(live.status(), 200, "{}", first.log());
    let live = text(live).await;
    assert!(live.contains("acme Inc"), "{live}");
    // The model is put in the bucket after the disk write.
    let deadline = Instant::now() + Duration::from_secs(20);
    let kept = loop {
        let objects = keep.list().await.unwrap();
        if let Some(object) = objects.into_iter().find(|o| o.name.ends_with(".json")) {
            break object;
        }
        assert!(
            Instant::now() < deadline,
            "nothing put in the bucket; log:\n{}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(kept.size > 100, "{kept:?}");
    first.stop();
    // Beside it, an object that is no kept model: skipped, not served.
    keep.put(
        &format!("{}.json", Uuid::new_v4()),
        b"{not json".to_vec(),
        "application/json",
    )
    .await
    .unwrap();

    let dead_pg = format!("postgres://postgres@127.0.0.1:{}/statuspage", free_port());
    let dead_ch = format!("http://127.0.0.1:{}", free_port());
    let second = start(&dead_pg, &dead_ch, &data, 2, &env("renders-2"));
    second.wait_listening().await;
    for path in ["/", "/status.json", "/api/v2/summary.json"] {
        let r = get(&second, "acme", path, None).await;
        assert_eq!(
            r.status(),
            200,
            "{path} from the bucket; log:\n{}",
            second.log()
        );
        assert_eq!(r.headers()["x-status-stale"], "1", "{path}");
        let body = text(r).await;
        assert!(body.contains("acme Inc"), "{path}: {body}");
    }
    let log = second.log();
    assert!(
        log.contains("kept renders restored from the bucket"),
        "{log}"
    );
    assert!(log.contains("fetched=1"), "one model fetched:\n{log}");
    assert!(log.contains("skipped=1"), "the bad object skipped:\n{log}");
    assert!(data.join("renders-2").join(&kept.name).exists());
    drop(second);
    let _ = std::fs::remove_dir_all(&data);
}
