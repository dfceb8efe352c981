//! The demo: local targets that are up, slow, flaky and down, and a seeded `demo` tenant
//! whose monitors check them.

use api::accounts::tenancy::{create_tenant, tenant_by_slug, NewTenant};
use api::monitors::MonitorInput;
use api::AppState;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const DEMO_SLUG: &str = "demo";
pub const DEMO_EMAIL: &str = "demo@example.com";
pub const DEMO_PASSWORD: &str = "demo-password";

/// Endpoints with known behaviour: `/up` answers at once, `/slow` after 1.2 s, `/flaky` fails
/// every third request, `/down` always answers 503.
pub fn targets_router() -> Router {
    let hits = Arc::new(AtomicU64::new(0));
    Router::new()
        .route("/up", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1200)).await;
                "ok, slowly"
            }),
        )
        .route(
            "/flaky",
            get(move || {
                let n = hits.fetch_add(1, Ordering::Relaxed);
                async move {
                    if n % 3 == 2 {
                        (StatusCode::SERVICE_UNAVAILABLE, "flaked")
                    } else {
                        (StatusCode::OK, "ok this time")
                    }
                }
            }),
        )
        .route(
            "/down",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down for the demo") }),
        )
}

pub async fn serve_targets(
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("demo targets cannot listen on {addr} (DEMO_TARGETS_ADDR): {e}")
    })?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, targets_router()).await {
            tracing::error!(error = %e, "demo targets stopped");
        }
    });
    Ok((bound, task))
}

/// The demo monitors: (name, component, path, degraded above ms).
pub const DEMO_MONITORS: &[(&str, &str, &str, Option<u32>)] = &[
    ("Website", "Website", "/up", None),
    ("Checkout API", "API", "/slow", Some(1000)),
    ("Search", "API", "/flaky", None),
    ("Legacy billing", "Billing", "/down", None),
];

/// Creates the demo tenant and its components and monitors if missing; points the monitors at
/// `targets`. Safe to run on every start.
pub async fn seed(app: &AppState, targets: SocketAddr) -> anyhow::Result<()> {
    let tenant = match tenant_by_slug(&app.db, DEMO_SLUG).await? {
        Some(t) => t,
        None => {
            create_tenant(
                &app.db,
                &NewTenant {
                    slug: DEMO_SLUG.into(),
                    name: "Demo Inc".into(),
                    email: DEMO_EMAIL.into(),
                    password: Some(DEMO_PASSWORD.into()),
                },
            )
            .await?
            .tenant
        }
    };
    for (position, component) in ["Website", "API", "Billing"].iter().enumerate() {
        sqlx::query(
            "INSERT INTO components (id, tenant_id, name, position) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(tenant.id)
        .bind(component)
        .bind(position as i32)
        .execute(&app.db)
        .await?;
    }
    let existing = api::monitors::list(&app.db, tenant.id).await?;
    for (name, component, path, degraded_above_ms) in DEMO_MONITORS {
        let component_id: uuid::Uuid =
            sqlx::query_scalar("SELECT id FROM components WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.id)
                .bind(component)
                .fetch_one(&app.db)
                .await?;
        let input: MonitorInput = serde_json::from_value(serde_json::json!({
            "name": name,
            "type": "http",
            "url": format!("http://{targets}{path}"),
            "timeout_ms": 5000,
            "degraded_above_ms": degraded_above_ms,
            "interval_seconds": 30,
            "component_id": component_id,
        }))?;
        match existing.iter().find(|m| m.name == *name) {
            None => {
                api::monitors::create(&app.db, tenant.id, &input, &app.config.regions).await?;
            }
            Some(monitor) if monitor.spec != input.spec => {
                // The targets moved (another port): follow them.
                sqlx::query("UPDATE monitors SET spec = $1, updated_at = now() WHERE tenant_id = $2 AND id = $3")
                    .bind(serde_json::to_value(&input.spec)?)
                    .bind(tenant.id)
                    .bind(monitor.id)
                    .execute(&app.db)
                    .await?;
            }
            Some(_) => {}
        }
    }
    tracing::info!(tenant = DEMO_SLUG, "demo tenant seeded");
    Ok(())
}
