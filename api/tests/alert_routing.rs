//! Routing of team alerts, asserted on the outbox rows `raise` and the sweeper write (no worker
//! needed): a channel without rules gets everything; rules narrow by event and by component or
//! monitor; throttle, grouping, repeats and escalation with a moved clock; recovery closes the
//! problem; the signed acknowledge link (GET shows, POST acknowledges, forged and expired
//! tokens refused); rules CRUD with ETag, validation naming the field and the plan bound; and a
//! second tenant that can neither read nor write another's rules nor acknowledge its alerts.

use api::alerts::{self, ack, Alert};
use api::notify::{EventKind, Message};
use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;
use uuid::Uuid;

fn app(pool: PgPool) -> axum::Router {
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

struct Reply {
    status: StatusCode,
    body: Value,
    text: String,
    etag: Option<String>,
}

#[derive(Clone)]
struct Client {
    app: axum::Router,
    token: String,
    tenant_id: Uuid,
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(tag) = if_match {
            request = request.header(header::IF_MATCH, tag);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        call(&self.app, request).await
    }

    async fn create(&self, path: &str, body: Value) -> String {
        let reply = self.send("POST", path, Some(body), None).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.text);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    async fn channel(&self, name: &str) -> Uuid {
        self.create(
            "/api/v1/notification-channels",
            json!({ "name": name, "kind": "email", "config": { "to": [format!("{name}@example.com")] } }),
        )
        .await
        .parse()
        .unwrap()
    }

    async fn rule(&self, body: Value) -> Uuid {
        self.create("/api/v1/alert-rules", body)
            .await
            .parse()
            .unwrap()
    }
}

async fn call(app: &axum::Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let etag = response
        .headers()
        .get(header::ETAG)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
        etag,
    }
}

async fn tenant(app: &axum::Router, slug: &str) -> Client {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/tenants")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "slug": slug, "name": slug, "email": format!("{slug}@example.com") })
                .to_string(),
        ))
        .unwrap();
    let reply = call(app, request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    Client {
        app: app.clone(),
        token: reply.body["api_token"].as_str().unwrap().to_owned(),
        tenant_id: reply.body["tenant"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    }
}

fn alert(
    tenant: Uuid,
    event: EventKind,
    key: &str,
    monitors: &[Uuid],
    components: &[Uuid],
) -> Alert {
    Alert {
        message: Message {
            id: Uuid::new_v4(),
            tenant_id: tenant,
            event,
            title: format!("{key} is {}", event.as_str()),
            text: format!("{key}: {}", event.as_str()),
            url: None,
            dedup_key: key.into(),
            resolved: event == EventKind::Recovery,
            created_at: Utc::now(),
            unsubscribe_url: None,
        },
        monitor_ids: monitors.to_vec(),
        component_ids: components.to_vec(),
        incident_id: None,
    }
}

/// Raises in a transaction of its own, as the engine does in its.
async fn raise(pool: &PgPool, alert: &Alert, now: DateTime<Utc>) -> usize {
    let mut tx = pool.begin().await.unwrap();
    let written = alerts::raise_at(&mut tx, alert, now).await.unwrap();
    tx.commit().await.unwrap();
    written
}

/// The messages in the outbox for `channel`, oldest first.
async fn outbox(pool: &PgPool, channel: Uuid) -> Vec<Message> {
    let rows: Vec<Value> = sqlx::query_scalar(
        "SELECT message FROM outbox WHERE channel_id = $1 ORDER BY created_at, message->>'created_at'",
    )
    .bind(channel)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|m| serde_json::from_value(m).unwrap())
        .collect()
}

async fn count(pool: &PgPool, channel: Uuid) -> usize {
    outbox(pool, channel).await.len()
}

fn token_in(message: &Message) -> String {
    let at = message
        .text
        .find("token=")
        .unwrap_or_else(|| panic!("no acknowledge link in {:?}", message.text));
    message.text[at + 6..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

async fn problem_id(pool: &PgPool, tenant: Uuid, key: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM alert_problems WHERE tenant_id = $1 AND dedup_key = $2 ORDER BY opened_at DESC LIMIT 1")
        .bind(tenant)
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn ack_get(app: &axum::Router, token: &str) -> Reply {
    call(
        app,
        Request::builder()
            .uri(format!("{}?token={token}", ack::ACK_PATH))
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

async fn ack_post(app: &axum::Router, token: &str) -> Reply {
    call(
        app,
        Request::builder()
            .method("POST")
            .uri(ack::ACK_PATH)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))
            .unwrap(),
    )
    .await
}

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

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_channel_without_rules_receives_every_alert(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let (ops, dev) = (acme.channel("ops").await, acme.channel("dev").await);
    let down = alert(
        acme.tenant_id,
        EventKind::Down,
        "m1",
        &[Uuid::new_v4()],
        &[],
    );
    assert_eq!(raise(&pool, &down, Utc::now()).await, 2);
    let update = alert(
        acme.tenant_id,
        EventKind::IncidentUpdate,
        "i1",
        &[],
        &[Uuid::new_v4()],
    );
    assert_eq!(raise(&pool, &update, Utc::now()).await, 2);
    let (ops_got, dev_got) = (outbox(&pool, ops).await, outbox(&pool, dev).await);
    assert_eq!(ops_got.len(), 2);
    assert_eq!(dev_got.len(), 2);
    let ids: std::collections::HashSet<Uuid> =
        ops_got.iter().chain(&dev_got).map(|m| m.id).collect();
    assert_eq!(ids.len(), 4, "one message id per recipient");
    assert!(
        ids.contains(&down.message.id),
        "the first recipient keeps the message id"
    );
    // A problem alert carries its acknowledge link; an incident update is no problem.
    assert!(ops_got.iter().any(|m| m.text.contains("token=")));
    assert!(ops_got
        .iter()
        .filter(|m| m.event == EventKind::IncidentUpdate)
        .all(|m| !m.text.contains("token=")));

    // It stands or falls with the caller's transaction.
    let mut tx = pool.begin().await.unwrap();
    let rolled = alert(acme.tenant_id, EventKind::Down, "rolled-back", &[], &[]);
    assert_eq!(alerts::raise(&mut tx, &rolled).await.unwrap(), 2);
    tx.rollback().await.unwrap();
    assert_eq!(count(&pool, ops).await, 2);
    let problems: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alert_problems WHERE dedup_key = 'rolled-back'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(problems, 0);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn rules_narrow_by_event_and_by_component_or_monitor(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let (a, b, c) = (
        acme.channel("a").await,
        acme.channel("b").await,
        acme.channel("c").await,
    );
    let m1: Uuid = acme
        .create(
            "/api/v1/monitors",
            json!({ "name": "Home", "type": "http", "url": "https://example.com/" }),
        )
        .await
        .parse()
        .unwrap();
    let c1: Uuid = acme
        .create("/api/v1/components", json!({ "name": "API" }))
        .await
        .parse()
        .unwrap();
    acme.rule(json!({ "name": "pager", "channel_id": a, "events": ["down"], "monitor_ids": [m1] }))
        .await;
    acme.rule(json!({ "name": "api team", "channel_id": b,
                       "events": ["recovery", "incident_update"], "component_ids": [c1] }))
        .await;
    let t = acme.tenant_id;
    let now = Utc::now();

    raise(&pool, &alert(t, EventKind::Down, "k1", &[m1], &[]), now).await;
    assert_eq!(
        (
            count(&pool, a).await,
            count(&pool, b).await,
            count(&pool, c).await
        ),
        (1, 0, 1)
    );
    raise(
        &pool,
        &alert(t, EventKind::Down, "k2", &[Uuid::new_v4()], &[c1]),
        now,
    )
    .await;
    assert_eq!(
        (
            count(&pool, a).await,
            count(&pool, b).await,
            count(&pool, c).await
        ),
        (1, 0, 2)
    );
    raise(&pool, &alert(t, EventKind::Recovery, "k2", &[], &[c1]), now).await;
    assert_eq!(
        (
            count(&pool, a).await,
            count(&pool, b).await,
            count(&pool, c).await
        ),
        (1, 1, 3)
    );
    raise(
        &pool,
        &alert(t, EventKind::IncidentUpdate, "i", &[], &[Uuid::new_v4()]),
        now,
    )
    .await;
    assert_eq!(
        (
            count(&pool, a).await,
            count(&pool, b).await,
            count(&pool, c).await
        ),
        (1, 1, 4)
    );
    assert_eq!(outbox(&pool, b).await[0].event, EventKind::Recovery);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn throttle_holds_back_a_second_message_within_the_window(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let ops = acme.channel("ops").await;
    acme.rule(json!({ "name": "calm", "channel_id": ops,
                       "events": ["down", "degraded", "recovery"], "throttle_secs": 60 }))
        .await;
    let t = acme.tenant_id;
    let t0 = Utc::now();
    assert_eq!(
        raise(&pool, &alert(t, EventKind::Down, "k", &[], &[]), t0).await,
        1
    );
    let again = alert(t, EventKind::Degraded, "k", &[], &[]);
    assert_eq!(raise(&pool, &again, t0 + Duration::seconds(10)).await, 0);
    assert_eq!(raise(&pool, &again, t0 + Duration::seconds(59)).await, 0);
    // Another problem is not held back by this one's throttle.
    assert_eq!(
        raise(
            &pool,
            &alert(t, EventKind::Down, "other", &[], &[]),
            t0 + Duration::seconds(20)
        )
        .await,
        1
    );
    assert_eq!(raise(&pool, &again, t0 + Duration::seconds(61)).await, 1);
    // A recovery always passes.
    assert_eq!(
        raise(
            &pool,
            &alert(t, EventKind::Recovery, "k", &[], &[]),
            t0 + Duration::seconds(62)
        )
        .await,
        1
    );
    let titles: Vec<String> = outbox(&pool, ops)
        .await
        .into_iter()
        .map(|m| m.title)
        .collect();
    assert_eq!(titles.len(), 4, "{titles:?}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn grouping_turns_the_alerts_of_a_window_into_one_message(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let ops = acme.channel("ops").await;
    let all = acme.channel("all").await;
    acme.rule(
        json!({ "name": "grouped", "channel_id": ops, "events": ["down"], "group_secs": 30 }),
    )
    .await;
    let t = acme.tenant_id;
    let t0 = Utc::now();
    for (i, name) in ["checkout", "search", "login"].iter().enumerate() {
        let written = raise(
            &pool,
            &alert(t, EventKind::Down, name, &[Uuid::new_v4()], &[]),
            t0 + Duration::seconds(5 * i as i64),
        )
        .await;
        assert_eq!(written, 2, "pending for ops, sent to all");
    }
    assert_eq!(
        count(&pool, ops).await,
        0,
        "nothing before the window closes"
    );
    assert_eq!(
        count(&pool, all).await,
        3,
        "a channel without rules does not group"
    );
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(20))
            .await
            .unwrap()
            .groups,
        0
    );
    assert_eq!(count(&pool, ops).await, 0);
    let swept = alerts::sweep(&pool, t0 + Duration::seconds(31))
        .await
        .unwrap();
    assert_eq!(swept.groups, 1);
    let got = outbox(&pool, ops).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].title.starts_with("3 alerts: "), "{}", got[0].title);
    for name in ["checkout", "search", "login"] {
        assert!(got[0].title.contains(name), "{}", got[0].title);
        assert!(
            got[0].text.contains(&format!("• {name} is down")),
            "{}",
            got[0].text
        );
    }
    // Each listed problem keeps its own acknowledge link.
    assert_eq!(got[0].text.matches("token=").count(), 3);
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(40))
            .await
            .unwrap()
            .groups,
        0
    );
    // A later alert opens a new window.
    raise(
        &pool,
        &alert(t, EventKind::Down, "billing", &[], &[]),
        t0 + Duration::seconds(50),
    )
    .await;
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(60))
            .await
            .unwrap()
            .groups,
        0
    );
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(81))
            .await
            .unwrap()
            .groups,
        1
    );
    let got = outbox(&pool, ops).await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].title, "billing is down",
        "a group of one is the alert itself"
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn repeats_resend_until_acknowledged_and_recovery_closes(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let ops = acme.channel("ops").await;
    acme.rule(json!({ "name": "nag", "channel_id": ops, "events": ["down", "recovery"], "repeat_secs": 60 }))
        .await;
    let t = acme.tenant_id;
    let t0 = Utc::now();
    raise(&pool, &alert(t, EventKind::Down, "k", &[], &[]), t0).await;
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(30))
            .await
            .unwrap()
            .repeats,
        0
    );
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(61))
            .await
            .unwrap()
            .repeats,
        1
    );
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(62))
            .await
            .unwrap()
            .repeats,
        0
    );
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(122))
            .await
            .unwrap()
            .repeats,
        1
    );
    let got = outbox(&pool, ops).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].title, "Reminder: k is down");
    assert!(
        got[1].text.contains("token="),
        "a repeat carries a fresh acknowledge link"
    );
    assert_eq!(got[1].text.matches("Acknowledge").count(), 1);

    let id = problem_id(&pool, t, "k").await;
    let acked = acme
        .send(
            "POST",
            &format!("/api/v1/alerts/{id}/acknowledge"),
            None,
            None,
        )
        .await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.text);
    assert!(acked.body["acknowledged_by"]
        .as_str()
        .unwrap()
        .starts_with("api_token:"));
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(400))
            .await
            .unwrap()
            .repeats,
        0
    );
    assert_eq!(count(&pool, ops).await, 3);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'acknowledge' AND entity_id = $2",
    )
    .bind(t)
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // A recovery closes the problem and cancels its repeats.
    raise(&pool, &alert(t, EventKind::Down, "r", &[], &[]), t0).await;
    raise(
        &pool,
        &alert(t, EventKind::Recovery, "r", &[], &[]),
        t0 + Duration::seconds(10),
    )
    .await;
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(500))
            .await
            .unwrap()
            .repeats,
        0
    );
    let open = acme
        .send("GET", "/api/v1/alerts?open=true", None, None)
        .await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.text);
    let keys: Vec<&str> = open.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["dedup_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["k"], "r is resolved");
    let all = acme.send("GET", "/api/v1/alerts", None, None).await;
    let r = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["dedup_key"] == "r")
        .unwrap();
    assert!(r["resolved_at"].is_string());
    assert_eq!(r["channels"][0]["channel_id"], json!(ops));
    assert!(r["channels"][0]["next_repeat_at"].is_null());
    // The same key going down again is a new problem.
    raise(
        &pool,
        &alert(t, EventKind::Down, "r", &[], &[]),
        t0 + Duration::seconds(600),
    )
    .await;
    assert_ne!(problem_id(&pool, t, "r").await, Uuid::nil());
    let problems: i64 =
        sqlx::query_scalar("SELECT count(*) FROM alert_problems WHERE dedup_key = 'r'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(problems, 2);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn unacknowledged_problems_escalate_and_acknowledged_ones_do_not(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let (first, manager) = (acme.channel("first").await, acme.channel("manager").await);
    acme.rule(
        json!({ "name": "escalating", "channel_id": first, "events": ["down", "recovery"],
                       "escalate_after_secs": 120, "escalate_channel_id": manager }),
    )
    .await;
    let t = acme.tenant_id;
    let t0 = Utc::now();
    raise(&pool, &alert(t, EventKind::Down, "k1", &[], &[]), t0).await;
    assert_eq!(
        (count(&pool, first).await, count(&pool, manager).await),
        (1, 0),
        "an escalation target is named by a rule: it only gets escalations"
    );
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(60))
            .await
            .unwrap()
            .escalations,
        0
    );
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(121))
            .await
            .unwrap()
            .escalations,
        1
    );
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(300))
            .await
            .unwrap()
            .escalations,
        0,
        "once"
    );
    let escalated = outbox(&pool, manager).await;
    assert_eq!(escalated.len(), 1);
    assert_eq!(
        escalated[0].title,
        "Escalated: k1 is down (not acknowledged within 2 min)"
    );
    assert_eq!(escalated[0].dedup_key, "k1");
    // The recovery reaches the channel it was escalated to as well.
    raise(
        &pool,
        &alert(t, EventKind::Recovery, "k1", &[], &[]),
        t0 + Duration::seconds(310),
    )
    .await;
    assert_eq!(
        (count(&pool, first).await, count(&pool, manager).await),
        (2, 2)
    );
    assert!(outbox(&pool, manager).await[1].resolved);

    // Acknowledged in time (by the link): no escalation.
    raise(&pool, &alert(t, EventKind::Down, "k2", &[], &[]), t0).await;
    let token = token_in(outbox(&pool, first).await.last().unwrap());
    assert_eq!(ack_post(&app, &token).await.status, StatusCode::OK);
    assert_eq!(
        alerts::sweep(&pool, t0 + Duration::seconds(200))
            .await
            .unwrap()
            .escalations,
        0
    );
    assert_eq!(count(&pool, manager).await, 2);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_acknowledge_link_shows_on_get_acknowledges_on_post_and_refuses_forgeries(
    pool: PgPool,
) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let globex = tenant(&app, "globex").await;
    let ops = acme.channel("ops").await;
    globex.channel("ops").await;
    let now = Utc::now();
    raise(
        &pool,
        &alert(acme.tenant_id, EventKind::Down, "k", &[], &[]),
        now,
    )
    .await;
    raise(
        &pool,
        &alert(globex.tenant_id, EventKind::Down, "g", &[], &[]),
        now,
    )
    .await;
    let token = token_in(&outbox(&pool, ops).await[0]);
    let id = problem_id(&pool, acme.tenant_id, "k").await;
    let theirs = problem_id(&pool, globex.tenant_id, "g").await;

    let shown = ack_get(&app, &token).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown.text.contains("<form method=\"post\""),
        "{}",
        shown.text
    );
    assert!(shown.text.contains("k is down"));
    let read = acme
        .send("GET", &format!("/api/v1/alerts/{id}"), None, None)
        .await;
    assert!(
        read.body["acknowledged_at"].is_null(),
        "a GET acknowledges nothing"
    );

    // Forged: an altered MAC, a token moved to another tenant's problem, one signed with
    // another tenant, one expired, junk.
    let mut altered = token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == '0' { '1' } else { '0' });
    let (_, rest) = token.split_once('.').unwrap();
    let moved = format!("{}.{rest}", theirs.simple());
    let mut conn = pool.acquire().await.unwrap();
    let key = ack::key(&mut conn).await.unwrap();
    let wrong_tenant = ack::token_with_key(&key, acme.tenant_id, theirs, now.timestamp() + 3600);
    let expired = ack::token_with_key(&key, acme.tenant_id, id, now.timestamp() - 1);
    let other_key = ack::token_with_key(
        b"not the platform key",
        acme.tenant_id,
        id,
        now.timestamp() + 3600,
    );
    for bad in [
        &altered,
        &moved,
        &wrong_tenant,
        &expired,
        &other_key,
        &"junk".to_string(),
    ] {
        assert_eq!(
            ack_get(&app, bad).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
        assert_eq!(
            ack_post(&app, bad).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    let missing = call(
        &app,
        Request::builder()
            .method("POST")
            .uri(ack::ACK_PATH)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&missing.body), ["token"]);
    for (tenant, problem) in [(&acme, id), (&globex, theirs)] {
        let read = tenant
            .send("GET", &format!("/api/v1/alerts/{problem}"), None, None)
            .await;
        assert!(
            read.body["acknowledged_at"].is_null(),
            "nothing forged acknowledged"
        );
    }

    let done = ack_post(&app, &token).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.text.contains("Acknowledged"));
    let read = acme
        .send("GET", &format!("/api/v1/alerts/{id}"), None, None)
        .await;
    assert_eq!(read.body["acknowledged_by"], "acknowledge_link");
    assert!(read.body["acknowledged_at"].is_string());
    let audited: String = sqlx::query_scalar(
        "SELECT actor FROM audit_log WHERE tenant_id = $1 AND action = 'acknowledge' AND entity_id = $2",
    )
    .bind(acme.tenant_id)
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, "acknowledge_link");
    let again = ack_get(&app, &token).await;
    assert!(again.text.contains("Already acknowledged"));
    assert!(!again.text.contains("<form"));
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn rules_crud_with_etags_named_fields_and_a_bound(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let (ops, pager) = (acme.channel("ops").await, acme.channel("pager").await);
    let created = acme
        .send(
            "POST",
            "/api/v1/alert-rules",
            Some(json!({ "name": "pager", "channel_id": ops, "events": ["down", "regional_outage"],
                         "repeat_secs": 300, "escalate_after_secs": 900, "escalate_channel_id": pager })),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.etag.as_deref(), Some("\"v1\""));
    assert_eq!(created.body["events"], json!(["down", "regional_outage"]));
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/alert-rules/{id}");

    let stale = acme
        .send(
            "PATCH",
            &path,
            Some(json!({ "throttle_secs": 30 })),
            Some("\"v7\""),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let patched = acme
        .send("PATCH", &path, Some(json!({ "throttle_secs": 30, "escalate_after_secs": null, "escalate_channel_id": null })), Some("\"v1\""))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["throttle_secs"], 30);
    assert!(patched.body["escalate_channel_id"].is_null());
    assert_eq!(patched.body["repeat_secs"], 300, "absent fields stay");
    assert_eq!(patched.etag.as_deref(), Some("\"v2\""));
    let half = acme
        .send(
            "PATCH",
            &path,
            Some(json!({ "escalate_after_secs": 60 })),
            None,
        )
        .await;
    assert_eq!(half.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&half.body), ["escalate_channel_id"]);

    let bad = acme
        .send(
            "POST",
            "/api/v1/alert-rules",
            Some(
                json!({ "name": "", "channel_id": Uuid::new_v4(), "events": ["test"],
                         "monitor_ids": [Uuid::new_v4()], "group_secs": 99999 }),
            ),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert_eq!(bad.body["title"], "Invalid request");
    assert_eq!(fields(&bad.body), ["name", "events[0]", "group_secs"]);
    let unknown = acme
        .send(
            "POST",
            "/api/v1/alert-rules",
            Some(
                json!({ "name": "x", "channel_id": Uuid::new_v4(), "events": ["down"],
                         "monitor_ids": [Uuid::new_v4()] }),
            ),
            None,
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    assert_eq!(fields(&unknown.body), ["channel_id", "monitor_ids[0]"]);

    // A write token (not admin) reads but does not change where alerts go.
    let token = acme
        .send(
            "POST",
            "/api/v1/api-tokens",
            Some(json!({ "name": "ci", "scopes": ["read", "write"] })),
            None,
        )
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.text);
    let writer = Client {
        token: token.body["token"].as_str().unwrap().to_owned(),
        ..acme.clone()
    };
    assert_eq!(
        writer.send("GET", &path, None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        writer.send("DELETE", &path, None, None).await.status,
        StatusCode::FORBIDDEN
    );

    sqlx::query("UPDATE tenants SET max_alert_rules = 1 WHERE id = $1")
        .bind(acme.tenant_id)
        .execute(&pool)
        .await
        .unwrap();
    let over = acme
        .send(
            "POST",
            "/api/v1/alert-rules",
            Some(json!({ "name": "two", "channel_id": ops, "events": ["down"] })),
            None,
        )
        .await;
    assert_eq!(over.status, StatusCode::FORBIDDEN);
    assert_eq!(over.body["limit"], "max_alert_rules");

    let list = acme
        .send("GET", "/api/v1/alert-rules?limit=1", None, None)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        acme.send("DELETE", &path, None, Some("\"v2\""))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        acme.send("GET", &path, None, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn another_tenant_can_neither_touch_rules_nor_acknowledge_alerts(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let globex = tenant(&app, "globex").await;
    let ops = acme.channel("ops").await;
    let component = acme
        .create("/api/v1/components", json!({ "name": "API" }))
        .await;
    let rule = acme
        .rule(json!({ "name": "r", "channel_id": ops, "events": ["down"] }))
        .await;
    raise(
        &pool,
        &alert(acme.tenant_id, EventKind::Down, "k", &[], &[]),
        Utc::now(),
    )
    .await;
    let problem = problem_id(&pool, acme.tenant_id, "k").await;
    let path = format!("/api/v1/alert-rules/{rule}");

    assert_eq!(
        globex.send("GET", &path, None, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        globex
            .send("PATCH", &path, Some(json!({ "throttle_secs": 5 })), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        globex.send("DELETE", &path, None, None).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = globex.send("GET", "/api/v1/alert-rules", None, None).await;
    assert_eq!(listed.body["items"], json!([]));
    let theirs = globex
        .send(
            "POST",
            "/api/v1/alert-rules",
            Some(json!({ "name": "steal", "channel_id": ops, "events": ["down"], "component_ids": [component] })),
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&theirs.body), ["channel_id", "component_ids[0]"]);
    let own = globex.channel("own").await;
    let moved = globex
        .send(
            "POST",
            "/api/v1/alert-rules",
            Some(json!({ "name": "x", "channel_id": own, "events": ["down"],
              "escalate_after_secs": 60, "escalate_channel_id": ops })),
            None,
        )
        .await;
    assert_eq!(fields(&moved.body), ["escalate_channel_id"]);

    assert_eq!(
        globex
            .send(
                "POST",
                &format!("/api/v1/alerts/{problem}/acknowledge"),
                None,
                None
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        globex
            .send("GET", &format!("/api/v1/alerts/{problem}"), None, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        globex.send("GET", "/api/v1/alerts", None, None).await.body["items"],
        json!([])
    );
    let read = acme
        .send("GET", &format!("/api/v1/alerts/{problem}"), None, None)
        .await;
    assert!(read.body["acknowledged_at"].is_null());
    assert_eq!(
        acme.send("GET", &path, None, None).await.status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn sweepers_running_at_once_send_each_thing_once(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let (first, manager) = (acme.channel("first").await, acme.channel("manager").await);
    acme.rule(
        json!({ "name": "all of it", "channel_id": first, "events": ["down"],
                       "group_secs": 10, "repeat_secs": 60,
                       "escalate_after_secs": 60, "escalate_channel_id": manager }),
    )
    .await;
    let t0 = Utc::now();
    for i in 0..20 {
        let key = format!("m{i}");
        raise(
            &pool,
            &alert(acme.tenant_id, EventKind::Down, &key, &[], &[]),
            t0,
        )
        .await;
    }
    let later = t0 + Duration::seconds(61);
    let (a, b, c) = tokio::join!(
        alerts::sweep(&pool, later),
        alerts::sweep(&pool, later),
        alerts::sweep(&pool, later)
    );
    let swept = [a.unwrap(), b.unwrap(), c.unwrap()];
    let total = |f: fn(&alerts::sweeper::Swept) -> usize| swept.iter().map(f).sum::<usize>();
    assert_eq!(total(|s| s.repeats), 20, "{swept:?}");
    assert_eq!(total(|s| s.escalations), 20, "{swept:?}");
    // The rule groups: the 20 downs, their 20 reminders and their 20 escalations are one
    // message each.
    assert_eq!(total(|s| s.groups), 3, "{swept:?}");
    let got = outbox(&pool, first).await;
    assert_eq!(got.len(), 2);
    assert!(got[0].title.starts_with("20 alerts: m"), "{}", got[0].title);
    assert!(
        got[1].title.starts_with("20 alerts: Reminder: m"),
        "{}",
        got[1].title
    );
    let escalated = outbox(&pool, manager).await;
    assert_eq!(escalated.len(), 1);
    assert!(
        escalated[0].title.starts_with("20 alerts: Escalated: m"),
        "{}",
        escalated[0].title
    );
    assert_eq!(
        alerts::sweep(&pool, later).await.unwrap(),
        Default::default()
    );
}
