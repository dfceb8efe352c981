//! Changes announced between app servers: migration 0018's triggers `NOTIFY` the tenant id on
//! [`CHANGE_CHANNEL`] whenever a row a page shows is written (by any server, or the engine); every
//! server listens, drops its cached snapshot and rebuilds the tenant's site if it has it.

use super::PublicSite;
use api::AppState;
use sqlx::postgres::PgListener;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// The channel of migration 0018 (`pg_notify('status_page_changed', tenant_id::text)`).
pub const CHANGE_CHANNEL: &str = "status_page_changed";
/// Announcements of one burst (a transaction touching many rows, several quick edits) are
/// gathered this long before the rebuilds start.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Listens for announced changes until the process ends; reconnects when PostgreSQL goes away
/// (and then treats every tenant in memory as changed: announcements made meanwhile are lost).
pub async fn run_change_listener(app: AppState, site: PublicSite) {
    let mut connected_before = false;
    loop {
        let mut listener = match PgListener::connect_with(&app.db).await {
            Ok(listener) => listener,
            Err(e) => {
                site.set_database_down(true);
                tracing::debug!(error = %e, "LISTEN for page changes: PostgreSQL unavailable");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANGE_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN for page changes failed; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        site.set_database_down(false);
        if connected_before {
            tracing::info!("LISTEN for page changes is back; every page in memory is rebuilt");
            for tenant in site.tenants_in_memory() {
                announce(&app, &site, tenant);
                site.refresh(&app, tenant);
            }
        }
        connected_before = true;
        // `recv` reconnects by itself, but we want to know when it did (announcements lost), so
        // a failure drops this listener and a new one starts.
        let mut pending: HashSet<Uuid> = HashSet::new();
        loop {
            let next = if pending.is_empty() {
                listener.try_recv().await.map(Some)
            } else {
                match tokio::time::timeout(DEBOUNCE, listener.try_recv()).await {
                    Ok(received) => received.map(Some),
                    Err(_) => {
                        for tenant in pending.drain() {
                            site.refresh(&app, tenant);
                        }
                        continue;
                    }
                }
            };
            match next {
                Ok(Some(Some(notification))) => {
                    match notification.payload().parse::<Uuid>() {
                        Ok(tenant) => {
                            // At once, so a request arriving meanwhile rebuilds too.
                            announce(&app, &site, tenant);
                            pending.insert(tenant);
                        }
                        Err(_) => tracing::debug!(
                            payload = notification.payload(),
                            "page change without a tenant id"
                        ),
                    }
                }
                Ok(Some(None)) | Ok(None) | Err(_) => {
                    site.set_database_down(true);
                    tracing::warn!("the page-change listener lost PostgreSQL; reconnecting");
                    for tenant in pending.drain() {
                        site.refresh(&app, tenant);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

fn announce(app: &AppState, site: &PublicSite, tenant: Uuid) {
    app.status.invalidate(tenant);
    app.forget_page(tenant);
    site.changed(tenant);
}
