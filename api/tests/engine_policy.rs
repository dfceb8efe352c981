//! The confirmation policy as tenants set it (monitor API and config as code, bounds named by
//! field) and the flapping guard: more changes than the policy allows within its window hold
//! the state and raise one alert, not one per flip.

mod engine_support;

use engine_support::Harness;
use serde_json::{json, Value};
use sqlx::PgPool;

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_policy_has_defaults_and_bounds_named_by_field(pool: PgPool) {
    let h = Harness::new(pool);
    let acme = h.tenant("acme").await;
    let (_, monitor) = h.monitor(&acme, json!({})).await;
    let path = format!("/api/v1/monitors/{monitor}");
    let (_, body) = h.call(&acme.token, "GET", &path, None).await;
    assert_eq!(
        body["confirmation"],
        json!({ "failures": 1, "recoveries": 2, "regional_outage_after_seconds": 120,
                "flapping_changes": 6, "flapping_window_minutes": 30 })
    );

    let base = json!({ "name": "Edge", "type": "http", "url": "https://example.com/", "regions": ["eu", "us"] });
    let with = |confirmation: Value| {
        let mut b = base.clone();
        b["confirmation"] = confirmation;
        b
    };
    for (confirmation, field) in [
        (json!({ "regions": 3 }), "confirmation.regions"),
        (json!({ "failures": 0 }), "confirmation.failures"),
        (json!({ "recoveries": 11 }), "confirmation.recoveries"),
        (
            json!({ "regional_outage_after_seconds": 3601 }),
            "confirmation.regional_outage_after_seconds",
        ),
        (
            json!({ "flapping_changes": 1 }),
            "confirmation.flapping_changes",
        ),
        (
            json!({ "flapping_window_minutes": 0 }),
            "confirmation.flapping_window_minutes",
        ),
    ] {
        let (status, problem) = h
            .call(
                &acme.token,
                "POST",
                "/api/v1/monitors",
                Some(with(confirmation)),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, problem) = h
        .call(
            &acme.token,
            "POST",
            "/api/v1/monitors",
            Some(with(json!({ "quorum": 2 }))),
        )
        .await;
    assert_eq!(status, 422, "unknown keys are refused: {problem}");

    let (status, created) = h
        .call(
            &acme.token,
            "POST",
            "/api/v1/monitors",
            Some(with(json!({ "regions": 2, "failures": 3 }))),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["confirmation"]["regions"], 2);
    assert_eq!(created["confirmation"]["failures"], 3);
    assert_eq!(
        created["confirmation"]["recoveries"], 2,
        "unset fields keep their defaults"
    );
    // A replace without the object goes back to the defaults.
    let id = created["id"].as_str().unwrap();
    let (status, replaced) = h
        .call(
            &acme.token,
            "PUT",
            &format!("/api/v1/monitors/{id}"),
            Some(base.clone()),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert!(replaced["confirmation"].get("regions").is_none());
    assert_eq!(replaced["confirmation"]["failures"], 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_policy_round_trips_through_config_as_code(pool: PgPool) {
    let h = Harness::new(pool);
    let acme = h.tenant("acme").await;
    let globex = h.tenant("globex").await;
    h.monitor(
        &acme,
        json!({ "confirmation": { "regions": 3, "recoveries": 4 } }),
    )
    .await;
    let (status, doc) = h
        .call(&acme.token, "GET", "/api/v1/config?format=json", None)
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["monitors"][0]["confirmation"]["regions"], 3, "{doc}");
    assert_eq!(doc["monitors"][0]["confirmation"]["recoveries"], 4);

    let (status, applied) = h
        .call(
            &globex.token,
            "POST",
            "/api/v1/config?dry_run=false",
            Some(doc.clone()),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let (_, again) = h
        .call(&globex.token, "GET", "/api/v1/config?format=json", None)
        .await;
    assert_eq!(again["monitors"], doc["monitors"]);
    let (_, plan) = h
        .call(
            &globex.token,
            "POST",
            "/api/v1/config?dry_run=true",
            Some(doc.clone()),
        )
        .await;
    assert_eq!(plan["summary"]["update"], 0, "{plan}");

    // A changed policy is an update naming the field; a bad one is refused by its path.
    let mut changed = doc.clone();
    changed["monitors"][0]["confirmation"]["recoveries"] = json!(5);
    let (_, plan) = h
        .call(
            &globex.token,
            "POST",
            "/api/v1/config?dry_run=true",
            Some(changed.clone()),
        )
        .await;
    assert_eq!(
        plan["monitors"]["update"][0]["changes"],
        json!(["confirmation"]),
        "{plan}"
    );
    changed["monitors"][0]["confirmation"]["failures"] = json!(0);
    let (status, problem) = h
        .call(
            &globex.token,
            "POST",
            "/api/v1/config?dry_run=true",
            Some(changed),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"], "monitors[0].confirmation.failures",
        "{problem}"
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_flapping_monitor_raises_one_alert_not_one_per_flip(pool: PgPool) {
    let h = Harness::new(pool.clone());
    let acme = h.tenant("acme").await;
    h.channel(&acme, "ops").await;
    let (_, monitor) = h
        .monitor(&acme, json!({ "regions": ["eu"], "confirmation": { "recoveries": 1, "flapping_changes": 2 } }))
        .await;
    h.report("eu", &acme, monitor, "down").await;
    h.report("eu", &acme, monitor, "up").await;
    assert_eq!(h.alerts(&acme).await.len(), 2, "down and recovery");
    // The third change within the window: flapping. One alert saying so, the state held.
    h.report("eu", &acme, monitor, "down").await;
    let alerts = h.alerts(&acme).await;
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert!(alerts[2].3.contains("is flapping"), "{alerts:?}");
    assert_eq!(h.state_of(monitor).await, "operational", "held");
    for status in ["up", "down", "up", "down"] {
        h.report("eu", &acme, monitor, status).await;
    }
    assert_eq!(h.alerts(&acme).await.len(), 3, "no alert per flip");
    let flapping: bool =
        sqlx::query_scalar("SELECT flapping FROM monitor_state WHERE monitor_id = $1")
            .bind(monitor)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(flapping);
    let (_, own) = h.call(&acme.token, "GET", "/api/v1/status", None).await;
    assert_eq!(own["monitors"][0]["flapping"], true, "{own}");

    // It settles (the window has passed): the held state catches up with one alert.
    sqlx::query("UPDATE monitor_state SET transitions = '{}' WHERE monitor_id = $1")
        .bind(monitor)
        .execute(&pool)
        .await
        .unwrap();
    h.sweep().await;
    assert_eq!(h.state_of(monitor).await, "major_outage");
    let alerts = h.alerts(&acme).await;
    assert_eq!(alerts.len(), 4, "{alerts:?}");
    assert_eq!(alerts[3].0, "down");
}
