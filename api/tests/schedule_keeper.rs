//! The app server keeps each region's checker schedules sized to its monitors: against a real
//! PostgreSQL and a real moto server through the real AWS SDK. Shards grow with the load, shrink
//! with headroom, honour each monitor's regions; a region without the function reports why; a
//! second server holding the lock makes this one skip its turn.
//!
//! Run with `./dev test`, or `source scripts/moto.sh && ensure_moto && cargo test -p api --test
//! schedule_keeper`. Fails (never skips) when moto does not answer.

use api::checkers::schedules::{region_schedules, RegionSync, ScheduleKeeper};
use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use infra::testing::{create_role, moto, tiny_zip, unique};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;
use tower::ServiceExt;
use uuid::Uuid;

/// Regions no other test uses on the shared moto server.
const DEPLOYED: &str = "eu-west-3";
const BARE: &str = "ap-northeast-2";

fn app(pool: PgPool) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "schedule-keeper-secret-0123456789".into(),
            regions: vec![DEPLOYED.into(), BARE.into()],
            open_signup: true,
        },
    ))
}

async fn post(app: &axum::Router, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    body
}

async fn monitor(app: &axum::Router, token: &str, regions: &[&str], interval: i64) -> Uuid {
    let created = post(
        app,
        "/api/v1/monitors",
        Some(token),
        json!({ "name": format!("Home {}", Uuid::new_v4()), "type": "http", "url": "https://example.com/", "regions": regions, "interval_seconds": interval }),
    )
    .await;
    created["id"].as_str().unwrap().parse().unwrap()
}

/// `(shard, shards)` of every checker rule's target in the region, by rule name.
async fn rules(events: &aws_sdk_eventbridge::Client) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    let listed = events
        .list_rules()
        .name_prefix(infra::RULE_PREFIX)
        .send()
        .await
        .unwrap();
    for rule in listed.rules() {
        let name = rule.name().unwrap().to_owned();
        let targets = events
            .list_targets_by_rule()
            .rule(&name)
            .send()
            .await
            .unwrap();
        let input: Value = serde_json::from_str(targets.targets()[0].input().unwrap()).unwrap();
        assert_eq!(input["region"], DEPLOYED);
        out.insert(
            name,
            (
                input["shard"].as_u64().unwrap(),
                input["shards"].as_u64().unwrap(),
            ),
        );
    }
    out
}

fn expect_rules(n: u64) -> BTreeMap<String, (u64, u64)> {
    (0..n)
        .map(|k| (format!("statuspage-checker-{k}"), (k, n)))
        .collect()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn schedules_follow_the_monitors_of_each_region(pool: PgPool) {
    let endpoint = moto().await;
    let config = infra::aws_config(DEPLOYED, Some(&endpoint)).await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    infra::destroy_schedules(&events, infra::Mode::Apply)
        .await
        .unwrap();
    let function = unique("sp-keeper");
    let d = infra::CheckerDeployment {
        function_name: function.clone(),
        role_arn: create_role(&endpoint, &unique("sp-keeper-role")).await,
        zip: tiny_zip(b"#!/bin/sh\n"),
        memory_mb: 128,
        timeout_s: 110,
        architecture: infra::Arch::Arm64,
        env: BTreeMap::new(),
        reserved_concurrency: None,
    };
    infra::deploy_function(&lambda, &d).await.unwrap();

    let app = app(pool.clone());
    let created = post(
        &app,
        "/api/v1/tenants",
        None,
        json!({ "slug": "acme", "name": "Acme", "email": "owner@acme.example", "password": "correct horse battery" }),
    )
    .await;
    let token = created["api_token"].as_str().unwrap().to_owned();
    // Everywhere at 60 s: 1 check a minute each; one 30 s monitor only where deployed: 2.
    let mut everywhere = Vec::new();
    for _ in 0..3 {
        everywhere.push(monitor(&app, &token, &[], 60).await);
    }
    monitor(&app, &token, &[DEPLOYED], 30).await;
    monitor(&app, &token, &[BARE], 300).await;

    // Two checks a minute per shard: 5 where deployed → 3 shards; 3.2 in the other → 2.
    let keeper = ScheduleKeeper::new(
        &[DEPLOYED.into(), BARE.into()],
        &function,
        2,
        Duration::from_secs(600),
        Some(&endpoint),
    )
    .await;
    let done = keeper
        .cycle(&pool)
        .await
        .unwrap()
        .expect("the lock is free");
    assert_eq!(
        done[DEPLOYED],
        RegionSync::Synced {
            shards: 3,
            changes: 3
        }
    );
    assert!(
        matches!(&done[BARE], RegionSync::Failed(e) if e.contains("not deployed in ap-northeast-2")),
        "{done:?}"
    );
    assert_eq!(rules(&events).await, expect_rules(3));
    let rows = region_schedules(&pool).await.unwrap();
    assert_eq!(rows.len(), 2);
    let (bare, deployed) = (&rows[0], &rows[1]);
    assert_eq!((deployed.region.as_str(), deployed.shards), (DEPLOYED, 3));
    assert!((deployed.checks_per_minute - 5.0).abs() < 1e-9);
    assert!(deployed.error.is_none() && deployed.synced_at.is_some());
    assert_eq!((bare.region.as_str(), bare.shards), (BARE, 2));
    assert!((bare.checks_per_minute - 3.2).abs() < 1e-9);
    assert!(bare.error.as_deref().unwrap().contains("infra deploy"));

    // Nothing changed: the deployed region is left alone, the failed one is tried again.
    let done = keeper.cycle(&pool).await.unwrap().unwrap();
    assert_eq!(done[DEPLOYED], RegionSync::Fresh);
    assert!(matches!(done[BARE], RegionSync::Failed(_)));

    // Drift (a rule deleted by hand) is repaired on the next full sync.
    sqlx::query("UPDATE checker_schedules SET synced_at = now() - interval '1 hour'")
        .execute(&pool)
        .await
        .unwrap();
    events
        .remove_targets()
        .rule("statuspage-checker-2")
        .ids("checker")
        .send()
        .await
        .unwrap();
    events
        .delete_rule()
        .name("statuspage-checker-2")
        .send()
        .await
        .unwrap();
    let done = keeper.cycle(&pool).await.unwrap().unwrap();
    assert_eq!(
        done[DEPLOYED],
        RegionSync::Synced {
            shards: 3,
            changes: 1
        }
    );
    assert_eq!(rules(&events).await, expect_rules(3));

    // Two monitors paused: 3 checks a minute fit in 2 shards with headroom (≤ 3.2).
    sqlx::query("UPDATE monitors SET enabled = false WHERE id = ANY ($1)")
        .bind(&everywhere[..2])
        .execute(&pool)
        .await
        .unwrap();
    let done = keeper.cycle(&pool).await.unwrap().unwrap();
    assert_eq!(
        done[DEPLOYED],
        RegionSync::Synced {
            shards: 2,
            changes: 3
        }
    );
    assert_eq!(rules(&events).await, expect_rules(2));

    // Another server holding the lock: this one skips its turn and changes nothing.
    let mut other = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(0x5350_5343_4845_4431_i64)
        .execute(&mut *other)
        .await
        .unwrap();
    sqlx::query("UPDATE monitors SET enabled = true")
        .execute(&pool)
        .await
        .unwrap();
    assert!(keeper.cycle(&pool).await.unwrap().is_none());
    assert_eq!(rules(&events).await, expect_rules(2));
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(0x5350_5343_4845_4431_i64)
        .execute(&mut *other)
        .await
        .unwrap();
    drop(other);
    let done = keeper.cycle(&pool).await.unwrap().unwrap();
    assert_eq!(
        done[DEPLOYED],
        RegionSync::Synced {
            shards: 3,
            changes: 3
        }
    );

    infra::destroy_schedules(&events, infra::Mode::Apply)
        .await
        .unwrap();
    infra::destroy_function(&lambda, &function, infra::Mode::Apply)
        .await
        .unwrap();
}
