//! What the tenant decides about the engine's incidents (publish, draft, off), maintenance
//! windows suppressing everything, tenants kept apart, and evidence addresses kept to admins.

mod engine_support;

use chrono::{Duration, Utc};
use engine_support::Harness;
use serde_json::json;
use sqlx::PgPool;

async fn set_auto_incidents(h: &Harness, token: &str, mode: &str) {
    let (status, body) = h
        .call(
            token,
            "PATCH",
            "/api/v1/status-page",
            Some(json!({ "auto_incidents": mode })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auto_incidents"], mode);
}

async fn public_incident_ids(h: &Harness, slug: &str) -> Vec<String> {
    let (status, body) = h
        .call(
            "none",
            "GET",
            &format!("/api/v1/public/status/{slug}/incidents"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let list = body
        .as_array()
        .cloned()
        .or_else(|| body["incidents"].as_array().cloned())
        .unwrap_or_default();
    list.iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_draft_stays_off_the_page_until_published_and_only_by_its_tenant(pool: PgPool) {
    let h = Harness::with_clickhouse(pool).await;
    let acme = h.tenant("acme").await;
    let globex = h.tenant("globex").await;
    h.channel(&acme, "ops").await;
    set_auto_incidents(&h, &acme.token, "draft").await;
    let (_, monitor) = h.monitor(&acme, json!({})).await;

    h.report("eu", &acme, monitor, "down").await;
    h.report("us", &acme, monitor, "down").await;
    assert_eq!(h.state_of(monitor).await, "major_outage");
    let incidents = h.incidents(&acme).await;
    assert_eq!(incidents.len(), 1);
    let (incident, _, _, published) = incidents[0].clone();
    assert!(!published, "a draft");
    // The team is alerted all the same.
    assert_eq!(h.alerts(&acme).await.len(), 1);
    let (_, body) = h
        .call(
            &acme.token,
            "GET",
            &format!("/api/v1/incidents/{incident}"),
            None,
        )
        .await;
    assert_eq!(body["draft"], true);
    h.state.status.invalidate(acme.id);
    assert!(
        public_incident_ids(&h, "acme").await.is_empty(),
        "drafts are not public"
    );

    // Another tenant can neither read nor publish it.
    let path = format!("/api/v1/incidents/{incident}");
    let (status, _) = h.call(&globex.token, "GET", &path, None).await;
    assert_eq!(status, 404);
    let (status, _) = h
        .call(&globex.token, "POST", &format!("{path}/publish"), None)
        .await;
    assert_eq!(status, 404);
    assert!(!h.incidents(&acme).await[0].3, "still a draft");

    let (status, body) = h
        .call(&acme.token, "POST", &format!("{path}/publish"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["draft"], false);
    assert!(body["published_at"].is_string());
    // The page rebuilds in the background after the change; the next views show it.
    let mut shown = false;
    for _ in 0..50 {
        if public_incident_ids(&h, "acme")
            .await
            .contains(&incident.to_string())
        {
            shown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(shown, "published incidents are public");
    // Publishing twice changes nothing.
    let (status, again) = h
        .call(&acme.token, "POST", &format!("{path}/publish"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["version"], body["version"]);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn off_mode_alerts_without_an_incident(pool: PgPool) {
    let h = Harness::new(pool);
    let acme = h.tenant("acme").await;
    h.channel(&acme, "ops").await;
    set_auto_incidents(&h, &acme.token, "off").await;
    let (_, monitor) = h.monitor(&acme, json!({})).await;
    h.report("eu", &acme, monitor, "down").await;
    h.report("us", &acme, monitor, "down").await;
    assert_eq!(h.state_of(monitor).await, "major_outage");
    assert!(h.incidents(&acme).await.is_empty());
    let alerts = h.alerts(&acme).await;
    assert_eq!(
        alerts.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        ["down"]
    );
    for _ in 0..2 {
        h.report("eu", &acme, monitor, "up").await;
        h.report("us", &acme, monitor, "up").await;
    }
    assert_eq!(h.state_of(monitor).await, "operational");
    let alerts = h.alerts(&acme).await;
    // eu recovers first (below quorum: regional), then us: one problem, one key throughout.
    assert_eq!(
        alerts.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        ["down", "regional_outage", "recovery"]
    );
    assert!(
        alerts.iter().all(|a| a.1 == alerts[0].1),
        "the same dedup key"
    );
    let (status, body) = h
        .call(
            &acme.token,
            "PATCH",
            "/api/v1/status-page",
            Some(json!({ "auto_incidents": "sometimes" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn maintenance_suppresses_alerts_and_incidents(pool: PgPool) {
    let h = Harness::new(pool.clone());
    let acme = h.tenant("acme").await;
    h.channel(&acme, "ops").await;
    let (component, monitor) = h.monitor(&acme, json!({})).await;
    let (status, body) = h
        .call(
            &acme.token,
            "POST",
            "/api/v1/maintenances",
            Some(json!({ "title": "Database upgrade", "starts_at": Utc::now() - Duration::minutes(1),
                         "ends_at": Utc::now() + Duration::hours(1), "component_ids": [component] })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // The sweeper moves it under maintenance before any result arrives.
    h.sweep().await;
    assert_eq!(h.state_of(monitor).await, "under_maintenance");

    for region in ["eu", "us", "ap"] {
        h.report(region, &acme, monitor, "down").await;
    }
    assert_eq!(h.state_of(monitor).await, "under_maintenance");
    assert!(h.incidents(&acme).await.is_empty());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE tenant_id = $1 AND event NOT IN ('maintenance', 'account')")
        .bind(acme.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "no alerts under maintenance");
    assert!(
        h.rechecks.0.lock().unwrap().is_empty(),
        "no re-checks either"
    );

    // The window ends (moved into the past) with the monitor still down: now it alerts.
    sqlx::query("UPDATE maintenances SET starts_at = now() - interval '2 hours', ends_at = now() - interval '1 minute'")
        .execute(&pool)
        .await
        .unwrap();
    h.sweep().await;
    assert_eq!(h.state_of(monitor).await, "major_outage");
    assert_eq!(h.alerts(&acme).await.len(), 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn evidence_addresses_are_for_admins_only(pool: PgPool) {
    let h = Harness::new(pool);
    let acme = h.tenant("acme").await;
    let (_, monitor) = h.monitor(&acme, json!({})).await;
    h.report("eu", &acme, monitor, "down").await;
    h.report("us", &acme, monitor, "down").await;
    let incident = h.incidents(&acme).await[0].0;
    let (status, minted) = h
        .call(
            &acme.token,
            "POST",
            "/api/v1/api-tokens",
            Some(json!({ "name": "ro", "scopes": ["read"] })),
        )
        .await;
    assert_eq!(status, 201, "{minted}");
    let reader = minted["token"].as_str().unwrap();
    let path = format!("/api/v1/incidents/{incident}");
    let (_, admin_view) = h.call(&acme.token, "GET", &path, None).await;
    let (_, reader_view) = h.call(reader, "GET", &path, None).await;
    assert_eq!(
        admin_view["evidence"]["failing"][0]["resolved_ip"],
        "93.184.216.34"
    );
    let failing = &reader_view["evidence"]["failing"][0];
    assert_eq!(failing["status_code"], 503, "{reader_view}");
    assert!(
        failing.get("resolved_ip").is_none() && failing.get("error").is_none(),
        "{failing}"
    );
    // Never on the public page.
    let (_, public) = h
        .call("none", "GET", "/api/v1/public/status/acme/incidents", None)
        .await;
    let text = public.to_string();
    assert!(
        !text.contains("93.184.216.34") && !text.contains("evidence"),
        "{text}"
    );
    assert!(text.contains(&incident.to_string()), "published: {text}");
}
