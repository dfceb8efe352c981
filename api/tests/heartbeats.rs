//! Heartbeat (push) monitors through the real router and PostgreSQL: the secret URL is issued
//! once and rotates; nothing is late before the first ping; a late heartbeat (period + grace) or
//! a `/fail` is a confirmed outage with an incident and alerts, the next good ping resolves it;
//! the checkers' plans never hold them; pings are bounded and rate-limited; another tenant can
//! neither issue nor read their URLs; cron expressions and zones are checked.

mod engine_support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use engine_support::{Harness, Tenant};
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

async fn heartbeat(h: &Harness, tenant: &Tenant, extra: Value) -> (StatusCode, Value) {
    let (status, component) = h
        .call(
            &tenant.token,
            "POST",
            "/api/v1/components",
            Some(json!({ "name": format!("Jobs {}", Uuid::new_v4().simple()) })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{component}");
    let mut body =
        json!({ "name": "Nightly backup", "type": "heartbeat", "component_id": component["id"] });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    h.call(&tenant.token, "POST", "/api/v1/monitors", Some(body))
        .await
}

/// The URL's path, from the issue answer.
fn path_of(url: &str) -> String {
    let at = url.find("/api/v1/heartbeats/").expect("a heartbeat URL");
    url[at..].to_owned()
}

/// A job's call: (status, body).
async fn ping(h: &Harness, path: &str, method: &str, body: &str) -> (StatusCode, Value) {
    h.send(
        Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "text/plain")
            .body(Body::from(body.to_owned()))
            .unwrap(),
    )
    .await
}

/// As if the last ping came `secs` ago (the sweeper then works the deadline out again).
async fn age_last_ping(h: &Harness, monitor: Uuid, secs: i64) {
    sqlx::query(
        "UPDATE heartbeats SET last_ping_at = last_ping_at - make_interval(secs => $2), due_by = NULL, \
         missed_reported_at = NULL WHERE monitor_id = $1",
    )
    .bind(monitor)
    .bind(secs as f64)
    .execute(&h.pool)
    .await
    .unwrap();
}

async fn sweep(h: &Harness) -> usize {
    api::heartbeats::sweep_once(&h.state, chrono::Utc::now())
        .await
        .unwrap()
}

async fn last_error(h: &Harness, monitor: Uuid) -> String {
    sqlx::query_scalar(
        "SELECT coalesce(last_error, '') FROM monitor_region_state WHERE monitor_id = $1 AND region = 'heartbeat'",
    )
    .bind(monitor)
    .fetch_one(&h.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_late_or_failed_heartbeat_is_an_outage_and_the_next_ping_resolves_it(pool: PgPool) {
    let h = Harness::new(pool.clone());
    let acme = h.tenant("acme").await;
    h.channel(&acme, "ops").await;
    let (status, created) = heartbeat(
        &h,
        &acme,
        json!({ "period_seconds": 3600, "grace_seconds": 300 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let monitor: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(created["regions"], json!(["heartbeat"]));
    assert_eq!(
        created["confirmation"]["recoveries"], 1,
        "a heartbeat recovers on its first good ping"
    );

    // No checker region ever gets it in a plan.
    for region in engine_support::REGIONS {
        let event = checker::plan::CheckEvent {
            region: region.into(),
            shard: 0,
            shards: 1,
            recheck: Vec::new(),
        };
        let plan = api::checkers::work_plan(&pool, &event, 60, chrono::Utc::now())
            .await
            .unwrap();
        assert!(
            plan.checks.iter().all(|c| c.monitor_id != monitor),
            "{region} plans a heartbeat"
        );
    }

    // The URL: shown once, never cached.
    let issue = h
        .app
        .clone()
        .oneshot(
            Request::post(format!("/api/v1/monitors/{monitor}/heartbeat-url"))
                .header("authorization", format!("Bearer {}", acme.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(issue.status(), StatusCode::CREATED);
    assert_eq!(issue.headers()["cache-control"], "no-store");
    let urls: Value = serde_json::from_slice(
        &http_body_util::BodyExt::collect(issue.into_body())
            .await
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    let ok = path_of(urls["url"].as_str().unwrap());
    let fail = path_of(urls["fail_url"].as_str().unwrap());
    assert!(ok.starts_with("/api/v1/heartbeats/hb_"), "{ok}");
    assert_eq!(fail, format!("{ok}/fail"));
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM heartbeats WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(ok.trim_start_matches("/api/v1/heartbeats/"))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 1, "only the SHA-256 is stored");

    // Nothing is late before the job's first call.
    assert_eq!(sweep(&h).await, 0);

    let (status, answer) = ping(&h, &ok, "GET", "").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["recorded"], true);
    assert_eq!(h.state_of(monitor).await, "operational");
    let (status, _) = ping(&h, &ok, "POST", "").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "one ping a second counts"
    );
    assert_eq!(sweep(&h).await, 0, "on time");

    // Late: 65 minutes after the last ping, past the hour plus five minutes of grace.
    age_last_ping(&h, monitor, 3900).await;
    assert_eq!(sweep(&h).await, 1);
    assert_eq!(h.state_of(monitor).await, "major_outage");
    assert!(
        last_error(&h, monitor)
            .await
            .starts_with("no heartbeat since"),
        "{}",
        last_error(&h, monitor).await
    );
    let incidents = h.incidents(&acme).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].1, "investigating");
    assert!(h
        .alerts(&acme)
        .await
        .iter()
        .any(|(event, _, resolved, _)| event == "down" && !resolved));
    assert_eq!(
        sweep(&h).await,
        0,
        "reported again only after interval_seconds"
    );

    // The job is back: the first good ping resolves it.
    let (status, _) = ping(&h, &ok, "POST", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.state_of(monitor).await, "operational");
    assert_eq!(h.incidents(&acme).await[0].1, "resolved");
    assert!(h
        .alerts(&acme)
        .await
        .iter()
        .any(|(event, _, _, _)| event == "recovery"));

    // A failure the job reports itself, with its message.
    sqlx::query("UPDATE heartbeats SET last_ping_at = last_ping_at - interval '2 seconds'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, answer) = ping(&h, &fail, "POST", "disk full on /var/backups").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "down");
    assert_eq!(h.state_of(monitor).await, "major_outage");
    assert_eq!(
        last_error(&h, monitor).await,
        "the job reported a failure: disk full on /var/backups"
    );
    assert_eq!(h.incidents(&acme).await.len(), 2);

    // Bounded: a message over 1,024 bytes is refused as it is read; unknown tokens are 404s.
    sqlx::query("UPDATE heartbeats SET last_ping_at = last_ping_at - interval '2 seconds'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, problem) = ping(&h, &fail, "POST", &"x".repeat(2000)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    let (status, problem) = ping(&h, "/api/v1/heartbeats/hb_nothing", "GET", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");

    // A new URL replaces the old one.
    let (status, rotated) = h
        .call(
            &acme.token,
            "POST",
            &format!("/api/v1/monitors/{monitor}/heartbeat-url"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let (status, _) = ping(&h, &ok, "GET", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the old URL stops working");
    let (status, _) = ping(&h, &path_of(rotated["url"].as_str().unwrap()), "GET", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.state_of(monitor).await, "operational");

    // Paused: a ping is not recorded and nothing is late.
    let (_, stored) = h
        .call(
            &acme.token,
            "GET",
            &format!("/api/v1/monitors/{monitor}"),
            None,
        )
        .await;
    let mut paused = stored.clone();
    for key in ["id", "version", "created_at", "updated_at"] {
        paused.as_object_mut().unwrap().remove(key);
    }
    paused["enabled"] = json!(false);
    let (status, answer) = h
        .call(
            &acme.token,
            "PUT",
            &format!("/api/v1/monitors/{monitor}"),
            Some(paused),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    age_last_ping(&h, monitor, 7200).await;
    assert_eq!(sweep(&h).await, 0, "a paused heartbeat is never late");
    let (status, answer) = ping(&h, &path_of(rotated["url"].as_str().unwrap()), "GET", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["recorded"], false);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn heartbeat_specs_are_checked_and_urls_stay_with_their_tenant(pool: PgPool) {
    let h = Harness::new(pool);
    let acme = h.tenant("acme").await;
    let other = h.tenant("other").await;
    for (extra, field) in [
        (json!({}), "period_seconds"),
        (json!({ "period_seconds": 10 }), "period_seconds"),
        (json!({ "period_seconds": 60, "cron": "0 3 * * *" }), "cron"),
        (json!({ "cron": "0 99 * * *" }), "cron"),
        (json!({ "cron": "0 0 30 2 *" }), "cron"),
        (
            json!({ "cron": "0 3 * * *", "timezone": "Mars/Olympus" }),
            "timezone",
        ),
        (
            json!({ "period_seconds": 60, "grace_seconds": 90000 }),
            "grace_seconds",
        ),
        (
            json!({ "period_seconds": 60, "regions": ["eu"] }),
            "regions",
        ),
    ] {
        let (status, problem) = heartbeat(&h, &acme, extra.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{extra}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], field, "{extra}: {problem}");
    }
    let (status, created) = heartbeat(
        &h,
        &acme,
        json!({ "cron": "0 3 * * *", "timezone": "Europe/Paris", "grace_seconds": 900 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["cron"], "0 3 * * *");
    assert_eq!(created["timezone"], "Europe/Paris");
    let monitor = created["id"].as_str().unwrap();

    // Another tenant: the monitor does not exist for it.
    let (status, _) = h
        .call(
            &other.token,
            "POST",
            &format!("/api/v1/monitors/{monitor}/heartbeat-url"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let issued: i64 = sqlx::query_scalar("SELECT count(*) FROM heartbeats")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(issued, 0);

    // Only heartbeat monitors have a URL.
    let (_, http) = h.monitor(&acme, json!({ "name": "Site" })).await;
    let (status, problem) = h
        .call(
            &acme.token,
            "POST",
            &format!("/api/v1/monitors/{http}/heartbeat-url"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "type");

    // A read-only token may not issue one.
    let (status, read_only) = h
        .call(
            &acme.token,
            "POST",
            "/api/v1/api-tokens",
            Some(json!({ "name": "ro", "scopes": ["read"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{read_only}");
    let (status, _) = h
        .call(
            read_only["token"].as_str().unwrap(),
            "POST",
            &format!("/api/v1/monitors/{monitor}/heartbeat-url"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
