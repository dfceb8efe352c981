//! Subscribers hear of incidents and maintenance, against a real PostgreSQL: one outbox row per
//! confirmed subscriber following an affected component (none followed = all), each with its own
//! one-click unsubscribe link; drafts tell nobody; maintenance starts and ends by the clock are
//! announced exactly once with two announcers racing; another tenant's subscribers hear nothing.

use api::subscribers::notify::{self, IncidentChange};
use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::BTreeMap;
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

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

struct Tenant {
    id: Uuid,
    token: String,
}

async fn tenant(app: &axum::Router, slug: &str) -> Tenant {
    let (status, body) = call(
        app,
        "POST",
        "/api/v1/tenants",
        None,
        Some(json!({ "slug": slug, "name": format!("{slug} Inc"), "email": format!("owner@{slug}.example") })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Tenant {
        id: body["tenant"]["id"].as_str().unwrap().parse().unwrap(),
        token: body["api_token"].as_str().unwrap().to_owned(),
    }
}

impl Tenant {
    async fn create(&self, app: &axum::Router, path: &str, body: Value) -> Uuid {
        let (status, reply) = call(app, "POST", path, Some(&self.token), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {reply}");
        reply["id"].as_str().unwrap().parse().unwrap()
    }
}

/// A subscriber written directly (the public form is tested on its own).
async fn subscriber(
    pool: &PgPool,
    tenant: Uuid,
    target: &str,
    components: &[Uuid],
    confirmed: bool,
) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO subscribers (id, tenant_id, kind, target, component_ids, confirmed_at) \
         VALUES ($1, $2, 'email', $3, $4, CASE WHEN $5 THEN now() END)",
    )
    .bind(id)
    .bind(tenant)
    .bind(target)
    .bind(components)
    .bind(confirmed)
    .execute(pool)
    .await
    .unwrap();
    id
}

/// Subscriber rows of the outbox: subscriber id → messages, oldest first.
async fn told(pool: &PgPool) -> BTreeMap<Uuid, Vec<Value>> {
    let rows: Vec<(Uuid, Uuid, Value)> = sqlx::query_as(
        "SELECT id, subscriber_id, message FROM outbox WHERE subscriber_id IS NOT NULL \
         ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut by = BTreeMap::<Uuid, Vec<Value>>::new();
    for (row_id, subscriber, message) in rows {
        assert_eq!(message["id"], json!(row_id), "the row id is the message id");
        by.entry(subscriber).or_default().push(message);
    }
    by
}

async fn clear_outbox(pool: &PgPool) {
    sqlx::query("DELETE FROM outbox")
        .execute(pool)
        .await
        .unwrap();
}

fn titles(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["title"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn incidents_reach_matching_confirmed_subscribers_only(pool: PgPool) {
    let app = api::router(state(pool.clone()));
    let acme = tenant(&app, "acme").await;
    let other = tenant(&app, "other").await;
    let web = acme
        .create(&app, "/api/v1/components", json!({ "name": "Web" }))
        .await;
    let db = acme
        .create(&app, "/api/v1/components", json!({ "name": "Database" }))
        .await;
    let channel = acme
        .create(
            &app,
            "/api/v1/notification-channels",
            json!({ "name": "Ops hook", "kind": "webhook", "config": { "url": "https://example.com/hook" } }),
        )
        .await;
    let all = subscriber(&pool, acme.id, "all@example.com", &[], true).await;
    let web_only = subscriber(&pool, acme.id, "web@example.com", &[web], true).await;
    let db_only = subscriber(&pool, acme.id, "db@example.com", &[db], true).await;
    let unconfirmed = subscriber(&pool, acme.id, "later@example.com", &[], false).await;
    let elsewhere = subscriber(&pool, other.id, "all@example.com", &[], true).await;
    clear_outbox(&pool).await;

    let incident = acme
        .create(
            &app,
            "/api/v1/incidents",
            json!({ "title": "Checkout slow", "message": "Looking into it",
                    "components": [{ "component_id": web, "status": "degraded_performance" }] }),
        )
        .await;
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/v1/incidents/{incident}/updates"),
        Some(&acme.token),
        Some(json!({ "status": "monitoring", "message": "Fix deployed" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/v1/incidents/{incident}/updates"),
        Some(&acme.token),
        Some(json!({ "status": "resolved", "message": "All good" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let by = told(&pool).await;
    assert_eq!(
        by.keys().copied().collect::<Vec<_>>(),
        {
            let mut v = vec![all, web_only];
            v.sort();
            v
        },
        "only confirmed subscribers following Web (or everything)"
    );
    assert!(!by.contains_key(&db_only) && !by.contains_key(&unconfirmed));
    assert!(
        !by.contains_key(&elsewhere),
        "another tenant's subscriber hears nothing"
    );
    for subscriber in [all, web_only] {
        let messages = &by[&subscriber];
        assert_eq!(
            titles(messages),
            ["Checkout slow", "Checkout slow", "Resolved: Checkout slow"]
        );
        assert_eq!(
            messages
                .iter()
                .map(|m| m["resolved"].clone())
                .collect::<Vec<_>>(),
            [json!(false), json!(false), json!(true)]
        );
        assert!(messages.iter().all(|m| m["event"] == "incident_update"));
        assert!(messages[1]["text"]
            .as_str()
            .unwrap()
            .contains("Fix deployed"));
        assert!(messages[0]["text"]
            .as_str()
            .unwrap()
            .contains("Affected: Web"));
        // Each message links its own subscriber's one-click unsubscribe and preferences.
        for m in messages {
            let url = m["unsubscribe_url"].as_str().unwrap();
            assert!(
                url.starts_with(&format!(
                    "http://acme.localhost/api/v1/public/subscriptions/unsubscribe?id={subscriber}&token="
                )),
                "{url}"
            );
            assert!(m["text"].as_str().unwrap().contains(&format!(
                "/_status-page/subscription?id={subscriber}&token="
            )));
        }
    }
    assert_ne!(
        by[&all][0]["unsubscribe_url"], by[&web_only][0]["unsubscribe_url"],
        "links are per subscriber"
    );
    // The team's channel got the same three changes, as alerts.
    let alerts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE channel_id = $1 AND event = 'incident_update'",
    )
    .bind(channel)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(alerts, 3);

    // An incident on no component concerns the whole page: every confirmed subscriber hears it.
    clear_outbox(&pool).await;
    acme.create(
        &app,
        "/api/v1/incidents",
        json!({ "title": "Everything is down", "message": "Ouch" }),
    )
    .await;
    let mut heard: Vec<Uuid> = told(&pool).await.into_keys().collect();
    let mut expected = vec![all, web_only, db_only];
    heard.sort();
    expected.sort();
    assert_eq!(heard, expected);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn drafts_notify_nobody(pool: PgPool) {
    let app = api::router(state(pool.clone()));
    let acme = tenant(&app, "acme").await;
    subscriber(&pool, acme.id, "all@example.com", &[], true).await;
    let incident = acme
        .create(
            &app,
            "/api/v1/incidents",
            json!({ "title": "Maybe down", "message": "Engine saw it" }),
        )
        .await;
    // Make it a draft, as the engine opens them when the tenant wants to publish by hand.
    sqlx::query("UPDATE incidents SET published_at = NULL WHERE id = $1")
        .bind(incident)
        .execute(&pool)
        .await
        .unwrap();
    clear_outbox(&pool).await;
    let mut conn = pool.acquire().await.unwrap();
    for change in [
        IncidentChange::Created,
        IncidentChange::Updated,
        IncidentChange::Resolved,
    ] {
        assert_eq!(
            notify::incident_changed(&mut conn, acme.id, incident, change)
                .await
                .unwrap(),
            0
        );
    }
    let (status, body) = call(
        &app,
        "POST",
        &format!("/api/v1/incidents/{incident}/updates"),
        Some(&acme.token),
        Some(json!({ "status": "identified", "message": "Still a draft" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "a draft tells neither subscribers nor the team");
}

/// Moves a window's times (keeping `ends_at > starts_at`), as the clock would.
async fn move_window(pool: &PgPool, id: Uuid, starts_in_secs: i64, ends_in_secs: i64) {
    sqlx::query("UPDATE maintenances SET starts_at = $2, ends_at = $3 WHERE id = $1")
        .bind(id)
        .bind(Utc::now() + Duration::seconds(starts_in_secs))
        .bind(Utc::now() + Duration::seconds(ends_in_secs))
        .execute(pool)
        .await
        .unwrap();
}

/// Two announcers (as two app servers would run) racing for a few rounds.
async fn race_announcers(pool: &PgPool) -> usize {
    let mut announced = 0;
    for _ in 0..5 {
        let (a, b) = tokio::join!(notify::announce_due(pool), notify::announce_due(pool));
        announced += a.unwrap() + b.unwrap();
    }
    announced
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn maintenance_is_announced_scheduled_started_and_ended_once(pool: PgPool) {
    let app = api::router(state(pool.clone()));
    let acme = tenant(&app, "acme").await;
    let other = tenant(&app, "other").await;
    let web = acme
        .create(&app, "/api/v1/components", json!({ "name": "Web" }))
        .await;
    let db = acme
        .create(&app, "/api/v1/components", json!({ "name": "Database" }))
        .await;
    let all = subscriber(&pool, acme.id, "all@example.com", &[], true).await;
    let db_only = subscriber(&pool, acme.id, "db@example.com", &[db], true).await;
    let web_only = subscriber(&pool, acme.id, "web@example.com", &[web], true).await;
    let elsewhere = subscriber(&pool, other.id, "x@example.com", &[], true).await;
    clear_outbox(&pool).await;

    // Many windows, so the two announcers really contend for rows.
    let mut windows = Vec::new();
    for i in 0..12 {
        let starts = Utc::now() + Duration::hours(1);
        windows.push(
            acme.create(
                &app,
                "/api/v1/maintenances",
                json!({ "title": format!("Upgrade {i}"), "starts_at": starts,
                        "ends_at": starts + Duration::hours(1), "component_ids": [db] }),
            )
            .await,
        );
    }
    let by = told(&pool).await;
    let mut heard: Vec<Uuid> = by.keys().copied().collect();
    let mut expected = vec![all, db_only];
    heard.sort();
    expected.sort();
    assert_eq!(
        heard, expected,
        "Database followers and everything-followers"
    );
    assert!(!by.contains_key(&web_only) && !by.contains_key(&elsewhere));
    assert!(titles(&by[&all])
        .iter()
        .all(|t| t.starts_with("Maintenance scheduled: Upgrade")));
    assert_eq!(by[&all].len(), 12);
    assert_eq!(race_announcers(&pool).await, 0, "nothing is due yet");

    clear_outbox(&pool).await;
    for id in &windows {
        move_window(&pool, *id, -1, 3600).await;
    }
    assert_eq!(race_announcers(&pool).await, 12, "each start once");
    let by = told(&pool).await;
    for s in [all, db_only] {
        let t = titles(&by[&s]);
        assert_eq!(t.len(), 12, "{t:?}");
        assert!(t.iter().all(|t| t.starts_with("Maintenance started: ")));
        let mut unique = t.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 12, "no window announced twice: {t:?}");
    }

    clear_outbox(&pool).await;
    for id in &windows {
        move_window(&pool, *id, -7200, -1).await;
    }
    assert_eq!(race_announcers(&pool).await, 12, "each end once");
    let by = told(&pool).await;
    for s in [all, db_only] {
        let t = titles(&by[&s]);
        assert_eq!(t.len(), 12, "{t:?}");
        assert!(t.iter().all(|t| t.starts_with("Maintenance completed: ")));
        assert!(by[&s].iter().all(|m| m["resolved"] == true));
    }
    assert_eq!(race_announcers(&pool).await, 0, "ended windows stay quiet");

    // A window created already over (back-filled) tells nobody, now or later.
    clear_outbox(&pool).await;
    acme.create(
        &app,
        "/api/v1/maintenances",
        json!({ "title": "Last night", "starts_at": Utc::now() - Duration::hours(5),
                "ends_at": Utc::now() - Duration::hours(4) }),
    )
    .await;
    assert_eq!(race_announcers(&pool).await, 0);
    assert!(told(&pool).await.is_empty());
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn maintenance_edits_by_hand_and_cancellations_are_told(pool: PgPool) {
    let app = api::router(state(pool.clone()));
    let acme = tenant(&app, "acme").await;
    let all = subscriber(&pool, acme.id, "all@example.com", &[], true).await;
    let starts = Utc::now() + Duration::hours(2);
    let window = acme
        .create(
            &app,
            "/api/v1/maintenances",
            json!({ "title": "Move racks", "starts_at": starts, "ends_at": starts + Duration::hours(1),
                    "auto_transition": false }),
        )
        .await;
    let patch = |body: Value| {
        let app = app.clone();
        let token = acme.token.clone();
        async move {
            let (status, reply) = call(
                &app,
                "PATCH",
                &format!("/api/v1/maintenances/{window}"),
                Some(&token),
                Some(body),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{reply}");
        }
    };
    patch(json!({ "title": "Move racks (row 3)" })).await;
    patch(json!({ "status": "in_progress" })).await;
    patch(json!({ "status": "in_progress", "description": "half way" })).await;
    patch(json!({ "status": "completed" })).await;
    patch(json!({ "description": "done, thanks" })).await;
    assert_eq!(
        race_announcers(&pool).await,
        0,
        "a window by hand is not the clock's"
    );
    assert_eq!(
        titles(&told(&pool).await[&all]),
        [
            "Maintenance scheduled: Move racks",
            "Maintenance updated: Move racks (row 3)",
            "Maintenance started: Move racks (row 3)",
            "Maintenance updated: Move racks (row 3)",
            "Maintenance completed: Move racks (row 3)",
        ]
    );

    // Deleting a window that has not happened cancels it; deleting a finished one tells nobody.
    clear_outbox(&pool).await;
    let upcoming = acme
        .create(
            &app,
            "/api/v1/maintenances",
            json!({ "title": "Swap disks", "starts_at": starts, "ends_at": starts + Duration::hours(1) }),
        )
        .await;
    for id in [upcoming, window] {
        let (status, _) = call(
            &app,
            "DELETE",
            &format!("/api/v1/maintenances/{id}"),
            Some(&acme.token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert_eq!(
        titles(&told(&pool).await[&all]),
        [
            "Maintenance scheduled: Swap disks",
            "Maintenance cancelled: Swap disks"
        ]
    );
}
