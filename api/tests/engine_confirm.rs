//! The incident engine, driven through the signed fast path as the checkers drive it: one
//! region alone is a regional outage only after the policy's time, a quorum is a major outage
//! with an incident carrying its evidence and an alert per channel, and recovery resolves both
//! under the same dedup key.

mod engine_support;

use engine_support::Harness;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn one_region_failing_alone_is_a_regional_outage_after_the_set_time(pool: PgPool) {
    let h = Harness::new(pool);
    let acme = h.tenant("acme").await;
    h.channel(&acme, "ops").await;
    let (_, monitor) = h.monitor(&acme, json!({})).await;

    h.report("eu", &acme, monitor, "down").await;
    assert_eq!(
        h.state_of(monitor).await,
        "operational",
        "not confirmed yet"
    );
    // The other regions were asked to check at once, the failing one not (one failure counts).
    let asked: Vec<String> = h
        .rechecks
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.region.clone())
        .collect();
    assert_eq!(asked, ["ap", "us"]);
    assert!(h
        .rechecks
        .0
        .lock()
        .unwrap()
        .iter()
        .all(|r| r.monitor_ids == [monitor]));
    // They answer healthy; eu keeps failing: no second dispatch for the same episode.
    h.report("ap", &acme, monitor, "up").await;
    h.report("us", &acme, monitor, "up").await;
    h.report("eu", &acme, monitor, "down").await;
    assert_eq!(h.rechecks.0.lock().unwrap().len(), 2);
    assert_eq!(h.sweep().await, 1, "the timer is running");
    assert_eq!(h.state_of(monitor).await, "operational", "before 120 s");
    assert!(h.alerts(&acme).await.is_empty());

    h.age_partial_failure(monitor, 121).await;
    h.sweep().await;
    assert_eq!(h.state_of(monitor).await, "regional_outage");
    let alerts = h.alerts(&acme).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "regional_outage");
    assert!(alerts[0].3.contains("regional outage (eu)"), "{alerts:?}");
    // An incident of its own impact level, never a major one.
    let incidents = h.incidents(&acme).await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        (incidents[0].1.as_str(), incidents[0].2.as_str()),
        ("investigating", "minor")
    );
    // Sweeping again changes nothing and raises nothing.
    h.sweep().await;
    assert_eq!(h.alerts(&acme).await.len(), 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_quorum_opens_a_major_incident_with_evidence_and_recovery_resolves_it(pool: PgPool) {
    let h = Harness::new(pool.clone());
    let acme = h.tenant("acme").await;
    let ops = h.channel(&acme, "ops").await;
    let pager = h.channel(&acme, "pager").await;
    let (component, monitor) = h.monitor(&acme, json!({})).await;

    h.report("eu", &acme, monitor, "down").await;
    h.report("us", &acme, monitor, "down").await;
    assert_eq!(h.state_of(monitor).await, "major_outage");
    h.report("ap", &acme, monitor, "up").await;

    // One Down alert per channel, written in the transaction of the change.
    let channels: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT channel_id, event FROM outbox WHERE tenant_id = $1 AND event = 'down' ORDER BY channel_id",
    )
    .bind(acme.id)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut expected = vec![(ops, "down".to_owned()), (pager, "down".to_owned())];
    expected.sort();
    assert_eq!(channels, expected);
    let alerts = h.alerts(&acme).await;
    let dedup = alerts[0].1.clone();
    assert!(dedup.starts_with(&format!("monitor-{monitor}-")), "{dedup}");

    let incidents = h.incidents(&acme).await;
    assert_eq!(incidents.len(), 1);
    let (incident, status, impact, published) = incidents[0].clone();
    assert_eq!(
        (status.as_str(), impact.as_str(), published),
        ("investigating", "major", true)
    );
    assert_eq!(dedup, format!("monitor-{monitor}-{incident}"));

    // The evidence, as an owner reads it through the API.
    let (code, body) = h
        .call(
            &acme.token,
            "GET",
            &format!("/api/v1/incidents/{incident}"),
            None,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["source"], "engine");
    assert_eq!(body["monitor_id"], json!(monitor));
    assert_eq!(
        body["components"],
        json!([{ "component_id": component, "status": "major_outage" }])
    );
    let evidence = &body["evidence"];
    assert_eq!(evidence["state"], "major_outage");
    assert_eq!(evidence["quorum"], 2);
    let failing: Vec<&str> = evidence["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["eu", "us"]);
    let eu = &evidence["failing"][0];
    assert_eq!(eu["phase"], "response");
    assert_eq!(eu["failure"], json!({ "kind": "http_status", "code": 503 }));
    assert_eq!(eu["status_code"], 503);
    assert_eq!(eu["resolved_ip"], "93.184.216.34", "admins see addresses");
    assert_eq!(eu["tls_version"], "TLSv1_3");
    assert_eq!(eu["timings"]["ttfb_us"], 9_000_000);
    assert_eq!(evidence["healthy"][0]["region"], "ap");

    // Its timeline follows the regions: eu recovers (after its two successes), us still fails.
    h.report("eu", &acme, monitor, "up").await;
    assert_eq!(
        h.state_of(monitor).await,
        "major_outage",
        "one success is not a recovery"
    );
    h.report("eu", &acme, monitor, "up").await;
    assert_eq!(
        h.state_of(monitor).await,
        "regional_outage",
        "below quorum now"
    );
    h.report("us", &acme, monitor, "up").await;
    assert_eq!(h.state_of(monitor).await, "regional_outage");
    h.report("us", &acme, monitor, "up").await;
    assert_eq!(h.state_of(monitor).await, "operational");

    let (code, body) = h
        .call(
            &acme.token,
            "GET",
            &format!("/api/v1/incidents/{incident}"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "resolved");
    let updates: Vec<&str> = body["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["message"].as_str().unwrap())
        .collect();
    assert!(
        updates[0].contains("Resolved automatically after"),
        "{updates:?}"
    );
    assert!(
        updates.iter().any(|u| u.contains("regional outage")),
        "{updates:?}"
    );
    assert_eq!(updates.len(), 3, "{updates:?}");
    assert_eq!(body["components"][0]["status"], "operational");

    // Recovery under the same dedup key, marked resolved, to every channel.
    let alerts = h.alerts(&acme).await;
    let recovery: Vec<_> = alerts.iter().filter(|a| a.0 == "recovery").collect();
    assert_eq!(recovery.len(), 2, "{alerts:?}");
    assert!(recovery.iter().all(|a| a.1 == dedup && a.2));
    assert!(
        alerts.iter().all(|a| a.1 == dedup),
        "one problem, one key: {alerts:?}"
    );

    // Further healthy results change nothing.
    h.report("ap", &acme, monitor, "up").await;
    assert_eq!(h.alerts(&acme).await.len(), alerts.len());
}

/// Two reports of one region that overlap (a scheduled run and a re-check of the same monitors)
/// arrive together with their results in opposite orders: both are recorded. Before results were
/// written in one order, PostgreSQL answered one of them "deadlock detected" (a 500 the checker
/// could only log), losing its failures.
#[sqlx::test(migrator = "api::MIGRATOR")]
async fn overlapping_reports_of_one_region_never_deadlock(pool: PgPool) {
    let h = Harness::new(pool);
    let acme = h.tenant("acme").await;
    let globex = h.tenant("globex").await;
    let (_, first) = h.monitor(&acme, json!({})).await;
    let (_, second) = h.monitor(&globex, json!({})).await;
    let owner = |id: &Uuid| if *id == first { acme.id } else { globex.id };
    let regions: Vec<String> = ["ap", "eu", "us"].iter().map(|r| r.to_string()).collect();
    let report = |ids: [Uuid; 2],
                  at: chrono::DateTime<chrono::Utc>|
     -> checker::plan::FastPathReport {
        serde_json::from_value(json!({
            "region": "eu",
            "run_id": Uuid::new_v4(),
            "results": ids.iter().map(|id| json!({
                "monitor_id": id, "tenant_id": owner(id), "status": "down", "checked_at": at,
                "total_us": 1000, "error": "HTTP status 503", "failure": {"kind": "http_status", "code": 503},
            })).collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    for round in 0..10 {
        let at = chrono::Utc::now() + chrono::Duration::milliseconds(round);
        let (a, b) = (report([first, second], at), report([second, first], at));
        let (a, b) = tokio::join!(
            api::checkers::record_results(&h.pool, &regions, &a),
            api::checkers::record_results(&h.pool, &regions, &b),
        );
        assert!(a.is_ok() && b.is_ok(), "round {round}: {a:?} / {b:?}");
    }
}
