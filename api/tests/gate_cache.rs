//! The public gate answers a busy page without a query per request: what it read of a tenant
//! and its page's access rule is trusted for `GATE_FRESH_FOR`, and an announced change
//! (`forget_page`, which the change listener and the API's own writes call) ends that at once.
//! Against a real PostgreSQL.

use api::accounts::tenancy::{create_tenant, NewTenant};
use api::status_page::Visibility;
use api::{ApiConfig, AppState, GATE_FRESH_FOR};
use sqlx::PgPool;

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_gate_reads_again_after_a_change_or_its_freshness(pool: PgPool) {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    let app = AppState::new(
        pool.clone(),
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "gate-cache-secret-0123456789".into(),
            regions: vec!["eu".into()],
            open_signup: true,
        },
    );
    let created = create_tenant(
        &pool,
        &NewTenant {
            slug: "acme".into(),
            name: "Acme".into(),
            email: "owner@acme.example".into(),
            password: None,
        },
    )
    .await
    .unwrap();
    let id = created.tenant.id;
    assert_eq!(app.tenant_by_slug("acme").await.unwrap().unwrap().id, id);
    assert_eq!(app.page_access(id).await.unwrap().0, Visibility::Public);

    // Changed behind the gate's back (no announcement): still the value read, no query.
    sqlx::query("UPDATE status_pages SET visibility = 'private' WHERE tenant_id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE tenants SET name = 'Renamed' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(app.page_access(id).await.unwrap().0, Visibility::Public);
    assert_eq!(
        app.tenant_by_slug("acme").await.unwrap().unwrap().name,
        "Acme"
    );

    // Announced: read again at once.
    app.forget_page(id);
    assert_eq!(app.page_access(id).await.unwrap().0, Visibility::Private);
    assert_eq!(
        app.tenant_by_slug("acme").await.unwrap().unwrap().name,
        "Renamed"
    );

    // Missed announcement: read again once the freshness ran out.
    sqlx::query("UPDATE status_pages SET visibility = 'public' WHERE tenant_id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(app.page_access(id).await.unwrap().0, Visibility::Private);
    tokio::time::sleep(GATE_FRESH_FOR + std::time::Duration::from_millis(100)).await;
    assert_eq!(app.page_access(id).await.unwrap().0, Visibility::Public);

    // PostgreSQL gone: the last values still answer (pages stay up), fresh or not.
    pool.close().await;
    app.forget_page(id);
    assert_eq!(app.page_access(id).await.unwrap().0, Visibility::Public);
    assert_eq!(app.tenant_by_slug("acme").await.unwrap().unwrap().id, id);
}
