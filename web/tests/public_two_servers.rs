//! Several app servers stay consistent: migration 0018's triggers announce a tenant whenever a
//! row its page shows is written, every server listens (`run_change_listener`) and rebuilds.
//! First the announcements themselves (what is announced, what is not), then two listeners in
//! this process, then two real `statuspage serve` processes on one database with a 600 s TTL, so
//! only the announcement can explain a change made through server A showing on server B.

mod support;

use api::accounts::tenancy::Tenant;
use api::AppState;
use serde_json::json;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{database_url, AppServer};
use uuid::Uuid;
use web::public::fixture;
use web::public::render::{Loader, PublicSite, RenderConfig, CHANGE_CHANNEL};

const CHECKER_SECRET: &str = "public-two-servers-secret-0123456789";

/// The app state of the in-process stores (their loader never reads ClickHouse).
fn app_state(pool: PgPool) -> AppState {
    let analytics = support::analytics_on(&support::clickhouse_url_or_local());
    support::app_state(pool, analytics, CHECKER_SECRET)
}

async fn tenant(pool: &PgPool, slug: &str) -> Tenant {
    api::accounts::tenancy::create_tenant(
        pool,
        &api::accounts::tenancy::NewTenant {
            slug: slug.into(),
            name: format!("{slug} Inc"),
            email: format!("owner@{slug}.example"),
            password: None,
        },
    )
    .await
    .unwrap()
    .tenant
}

/// The next announcement within `within`, if any.
async fn next_announcement(listener: &mut PgListener, within: Duration) -> Option<String> {
    tokio::time::timeout(within, listener.recv())
        .await
        .ok()
        .map(|n| n.unwrap().payload().to_owned())
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn writes_a_page_shows_are_announced_and_bookkeeping_is_not(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen(CHANGE_CHANNEL).await.unwrap();
    let quiet = Duration::from_millis(300);
    let soon = Duration::from_secs(2);
    while next_announcement(&mut listener, quiet).await.is_some() {}

    let component = Uuid::new_v4();
    sqlx::query("INSERT INTO components (id, tenant_id, name) VALUES ($1, $2, 'API')")
        .bind(component)
        .bind(acme.id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        next_announcement(&mut listener, soon).await,
        Some(acme.id.to_string())
    );
    // Many rows in one transaction: one announcement.
    let mut tx = pool.begin().await.unwrap();
    for name in ["Web", "CDN", "DNS"] {
        sqlx::query("INSERT INTO components (id, tenant_id, name) VALUES ($1, $2, $3)")
            .bind(Uuid::new_v4())
            .bind(acme.id)
            .bind(name)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(
        next_announcement(&mut listener, soon).await,
        Some(acme.id.to_string())
    );
    assert_eq!(next_announcement(&mut listener, quiet).await, None);
    // A rolled-back write: nothing.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("UPDATE components SET name = 'Gone' WHERE id = $1")
        .bind(component)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(next_announcement(&mut listener, quiet).await, None);

    // A monitor and its state: the fast path's bookkeeping (last check, streaks) is not news;
    // a change of status is.
    let monitor = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO monitors (id, tenant_id, component_id, name, kind, spec, interval_seconds)
         VALUES ($1, $2, $3, 'api', 'http', '{}', 60)",
    )
    .bind(monitor)
    .bind(acme.id)
    .bind(component)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        next_announcement(&mut listener, soon).await,
        Some(acme.id.to_string())
    );
    sqlx::query(
        "INSERT INTO monitor_region_state (monitor_id, region, status, since, last_checked_at)
         VALUES ($1, 'eu', 'up', now(), now())",
    )
    .bind(monitor)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        next_announcement(&mut listener, soon).await,
        Some(acme.id.to_string())
    );
    sqlx::query(
        "UPDATE monitor_region_state SET last_checked_at = now(), ok_streak = ok_streak + 1
         WHERE monitor_id = $1",
    )
    .bind(monitor)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(next_announcement(&mut listener, quiet).await, None);
    sqlx::query("UPDATE monitor_region_state SET status = 'down' WHERE monitor_id = $1")
        .bind(monitor)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        next_announcement(&mut listener, soon).await,
        Some(acme.id.to_string())
    );
    sqlx::query("INSERT INTO monitor_state (monitor_id, tenant_id) VALUES ($1, $2)")
        .bind(monitor)
        .bind(acme.id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        next_announcement(&mut listener, soon).await,
        Some(acme.id.to_string())
    );
    sqlx::query(
        "UPDATE monitor_state SET updated_at = now(), rechecked_at = now() WHERE monitor_id = $1",
    )
    .bind(monitor)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(next_announcement(&mut listener, quiet).await, None);
    sqlx::query("UPDATE monitor_state SET state = 'major_outage' WHERE monitor_id = $1")
        .bind(monitor)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        next_announcement(&mut listener, soon).await,
        Some(acme.id.to_string())
    );

    // Incidents, their updates and components; maintenance; groups; the page's settings.
    let incident = Uuid::new_v4();
    for sql in [
        "INSERT INTO incidents (id, tenant_id, title, status, impact, started_at)
         VALUES ($1, $2, 'Down', 'investigating', 'major', now())",
        "INSERT INTO incident_updates (id, tenant_id, incident_id, status, message)
         VALUES (gen_random_uuid(), $2, $1, 'investigating', 'Looking')",
        "INSERT INTO incident_components (tenant_id, incident_id, component_id, status)
         SELECT $2, $1, id, 'major_outage' FROM components WHERE tenant_id = $2 AND name = 'API'",
        "INSERT INTO maintenances (id, tenant_id, title, status, starts_at, ends_at)
         VALUES ($1, $2, 'Upgrade', 'scheduled', now() + interval '1 day', now() + interval '2 days')",
        "INSERT INTO maintenance_components (tenant_id, maintenance_id, component_id)
         SELECT $2, $1, id FROM components WHERE tenant_id = $2 AND name = 'API'",
        "INSERT INTO component_groups (id, tenant_id, name) VALUES ($1, $2, 'Core')",
        "UPDATE status_pages SET title = 'Acme status' WHERE tenant_id = $2 AND $1 = $1",
        "DELETE FROM incidents WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(incident)
            .bind(acme.id)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(
            next_announcement(&mut listener, soon).await,
            Some(acme.id.to_string()),
            "{sql}"
        );
    }
}

/// A loader of the sample page that counts its loads and names the component as the database
/// does now (so a rename shows).
fn counting_loader(pool: PgPool, loads: Arc<AtomicUsize>) -> Loader {
    Arc::new(move |_app, tenant: Tenant| {
        let pool = pool.clone();
        let loads = loads.clone();
        Box::pin(async move {
            loads.fetch_add(1, Ordering::SeqCst);
            let name: String =
                sqlx::query_scalar("SELECT name FROM components WHERE tenant_id = $1")
                    .bind(tenant.id)
                    .fetch_one(&pool)
                    .await?;
            let mut model = fixture::page(false);
            model.tenant_id = tenant.id;
            model.hosts = vec![format!("{}.localhost", tenant.slug)];
            model.groups[0].components[0].name = name;
            Ok(model)
        })
    })
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn two_listening_stores_rebuild_an_announced_tenant(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let globex = tenant(&pool, "globex").await;
    for t in [&acme, &globex] {
        sqlx::query("INSERT INTO components (id, tenant_id, name) VALUES ($1, $2, 'API')")
            .bind(Uuid::new_v4())
            .bind(t.id)
            .execute(&pool)
            .await
            .unwrap();
    }
    let app = app_state(pool.clone());
    let config = RenderConfig {
        dir: None,
        ttl: Duration::from_secs(600),
        bucket: None,
    };
    let mut stores = Vec::new();
    for _ in 0..2 {
        let loads = Arc::new(AtomicUsize::new(0));
        let site =
            PublicSite::with_loader(config.clone(), counting_loader(pool.clone(), loads.clone()));
        site.site(&app, &acme).await.unwrap();
        site.site(&app, &globex).await.unwrap();
        tokio::spawn(web::public::render::run_change_listener(
            app.clone(),
            site.clone(),
        ));
        stores.push((site, loads));
    }
    // Let both listeners subscribe.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: Vec<_> = stores
        .iter()
        .map(|(s, _)| s.current(globex.id).unwrap())
        .collect();

    let started = Instant::now();
    sqlx::query("UPDATE components SET name = 'Public API' WHERE tenant_id = $1")
        .bind(acme.id)
        .execute(&pool)
        .await
        .unwrap();
    for (site, loads) in &stores {
        loop {
            let current = site.current(acme.id).unwrap();
            if current.model().groups[0].components[0].name == "Public API" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "rebuilt within 2 s of the change"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(loads.load(Ordering::SeqCst), 3, "acme twice, globex once");
    }
    println!(
        "both stores showed the rename {} ms after the write",
        started.elapsed().as_millis()
    );
    // The other tenant was left alone.
    for ((site, _), before) in stores.iter().zip(before) {
        assert!(Arc::ptr_eq(&site.current(globex.id).unwrap(), &before));
    }
}

/// One `statuspage serve` (server `n`) on its own port against the test's database, with a
/// 600 s render TTL and no render folder.
fn start(database_url: &str, data: &std::path::Path, n: usize) -> AppServer {
    AppServer::start(
        support::log_path(data, n),
        support::free_port(),
        &[
            ("DATABASE_URL", database_url.to_owned()),
            ("CLICKHOUSE_URL", support::clickhouse_url_or_local()),
            ("CLICKHOUSE_DATABASE", "public_two_servers_test".to_owned()),
            ("CHECKER_SECRET", CHECKER_SECRET.to_owned()),
            (
                "STATUSPAGE_DATA",
                data.join(format!("data-{n}")).display().to_string(),
            ),
            ("STATUSPAGE_RENDER_TTL_SECS", "600".to_owned()),
        ],
        &["STATUSPAGE_RENDER_DIR"],
    )
}

/// `path` on the tenant's host.
async fn page(server: &AppServer, slug: &str, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(server.url(path))
        .header("host", format!("{slug}.localhost:{}", server.port))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_change_through_server_a_shows_on_server_b_within_two_seconds(pool: PgPool) {
    let data = std::env::temp_dir().join(format!("public-two-servers-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&data).unwrap();
    let url = database_url(&pool).await;
    let a = start(&url, &data, 1);
    let b = start(&url, &data, 2);
    a.wait_healthy().await;
    b.wait_healthy().await;

    let http = reqwest::Client::new();
    let token = support::token(&support::sign_up(&http, &a.url(""), "acme", "Acme").await);
    let url = a.url("/api/v1/components");
    let component_id = support::create(&http, &url, &token, json!({ "name": "Checkout" })).await;

    // Both servers have the page in memory.
    for server in [&a, &b] {
        let (status, body) = page(server, "acme", "/api/v2/components.json").await;
        assert_eq!(status, 200, "{body}\n{}", server.log());
        assert!(body.contains("Checkout"), "{body}");
    }
    // Rename through A; B shows it within 2 s (its TTL is 600 s: only NOTIFY explains it).
    let started = Instant::now();
    let renamed = http
        .patch(a.url(&format!("/api/v1/components/{component_id}")))
        .bearer_auth(&token)
        .json(&json!({ "name": "Checkout and payments" }))
        .send()
        .await
        .unwrap();
    assert!(
        renamed.status().is_success(),
        "{}",
        renamed.text().await.unwrap()
    );
    loop {
        let (status, body) = page(&b, "acme", "/api/v2/components.json").await;
        assert_eq!(status, 200);
        if body.contains("Checkout and payments") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "server B still shows the old name after 2 s:\n{body}\nB's log:\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    println!(
        "server B showed the rename {} ms after server A's API answered",
        started.elapsed().as_millis()
    );
    // An incident opened through A shows on B's page too.
    let started = Instant::now();
    let incident = http
        .post(a.url("/api/v1/incidents"))
        .bearer_auth(&token)
        .json(
            &json!({ "title": "Payments failing", "status": "investigating", "impact": "major",
                       "message": "Looking into it", "components": [
                           { "component_id": component_id, "status": "major_outage" } ] }),
        )
        .send()
        .await
        .unwrap();
    assert!(
        incident.status().is_success(),
        "{}",
        incident.text().await.unwrap()
    );
    loop {
        let (_, body) = page(&b, "acme", "/api/v2/incidents.json").await;
        if body.contains("Payments failing") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "server B does not show the incident after 2 s:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    drop((a, b));
    let _ = std::fs::remove_dir_all(&data);
}
