//! What the public page makes of the engine: the banner follows open incidents and components
//! (never "operational" under an open major incident), a regional outage is told apart from a
//! major one, and a person's override pins a component.

mod engine_support;

use engine_support::{Harness, Tenant};
use serde_json::{json, Value};
use sqlx::PgPool;

/// The public snapshot once it shows what `ready` waits for (it rebuilds after changes).
async fn public_status(h: &Harness, tenant: &Tenant, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..60 {
        h.state.status.invalidate(tenant.id);
        let (status, body) = h
            .call("none", "GET", "/api/v1/public/status/acme", None)
            .await;
        assert_eq!(status, 200, "{body}");
        if ready(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the page never showed it: {last:#}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_banner_is_not_operational_under_an_open_major_incident(pool: PgPool) {
    let h = Harness::with_clickhouse(pool).await;
    let acme = h.tenant("acme").await;
    let (_, monitor) = h.monitor(&acme, json!({})).await;
    for region in ["ap", "eu", "us"] {
        h.report(region, &acme, monitor, "up").await;
    }
    let page = public_status(&h, &acme, |b| b["overall"] == "up").await;
    assert_eq!(page["page_status"], "operational");

    // A person opens a major incident while every check passes.
    let (status, body) = h
        .call(&acme.token, "POST", "/api/v1/incidents",
              Some(json!({ "title": "Payments failing", "impact": "major", "message": "Looking into it" })))
        .await;
    assert_eq!(status, 201, "{body}");
    let page = public_status(&h, &acme, |b| b["overall"] != "up").await;
    assert_eq!(page["overall"], "down");
    assert_eq!(page["page_status"], "partial_outage");
    assert_ne!(
        page["overall"], "up",
        "never 'All systems operational' under it"
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_regional_outage_is_shown_apart_from_a_major_one_and_overrides_pin(pool: PgPool) {
    let h = Harness::with_clickhouse(pool).await;
    let acme = h.tenant("acme").await;
    let (component, monitor) = h
        .monitor(
            &acme,
            json!({ "confirmation": { "regional_outage_after_seconds": 0 } }),
        )
        .await;
    h.report("ap", &acme, monitor, "up").await;
    h.report("us", &acme, monitor, "up").await;
    h.report("eu", &acme, monitor, "down").await;
    assert_eq!(h.state_of(monitor).await, "regional_outage", "0 s: at once");
    let page = public_status(&h, &acme, |b| {
        b["monitors"][0]["state"] == "regional_outage"
    })
    .await;
    assert_eq!(
        page["components"][0]["status"], "partial_outage",
        "{page:#}"
    );
    assert_eq!(page["page_status"], "partial_outage");
    // Visitors see the kind of failure, never the address.
    assert!(!page.to_string().contains("93.184.216.34"), "{page}");

    h.report("us", &acme, monitor, "down").await;
    let page = public_status(&h, &acme, |b| b["monitors"][0]["state"] == "major_outage").await;
    assert_eq!(page["components"][0]["status"], "major_outage");

    // A person pins the component: the page follows the override, and the field clears.
    let path = format!("/api/v1/components/{component}");
    let (status, body) = h
        .call(
            &acme.token,
            "PATCH",
            &path,
            Some(json!({ "status_override": "under_maintenance" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status_override"], "under_maintenance");
    let page = public_status(&h, &acme, |b| b["components"][0]["overridden"] == true).await;
    assert_eq!(page["components"][0]["status"], "under_maintenance");
    let (status, body) = h
        .call(
            &acme.token,
            "PATCH",
            &path,
            Some(json!({ "status_override": "sideways" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = h
        .call(
            &acme.token,
            "PATCH",
            &path,
            Some(json!({ "status_override": null })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["status_override"].is_null());
}
