//! `GET /metrics` for Prometheus, on a listener of its own (`METRICS_ADDR`): the platform's
//! metrics ([`api::metrics`]) are for its operators, so they are never served on the hosts
//! visitors and tenants reach. With `METRICS_TOKEN` set, a scrape must send it as a bearer token.

use api::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::public::render::PublicSite;

#[derive(Clone)]
struct Scrape {
    app: AppState,
    site: PublicSite,
    token: Option<Arc<str>>,
}

pub fn router(app: AppState, site: PublicSite, token: Option<String>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape {
            app,
            site,
            token: token.map(Into::into),
        })
}

/// Listens on `addr` and serves [`router`] until the process ends; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    app: AppState,
    site: PublicSite,
    token: Option<String>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("listening for metrics on METRICS_ADDR={addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let router = router(app, site, token);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok((bound, task))
}

async fn scrape(State(scrape): State<Scrape>, headers: HeaderMap) -> Response {
    if let Some(token) = &scrape.token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Digests compared, so the time taken says nothing about the token.
        use api::accounts::auth::secret_hash;
        if secret_hash(sent.trim()) != secret_hash(token) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "METRICS_TOKEN is set: send it as a bearer token\n",
            )
                .into_response();
        }
    }
    let metrics = &scrape.app.metrics;
    metrics.set_pages(
        scrape.site.in_memory(),
        scrape.site.oldest_in_memory(),
        scrape.site.rebuilds(),
    );
    metrics.refresh(&scrape.app.db).await;
    (
        [
            (header::CONTENT_TYPE, api::metrics::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        metrics.encode(),
    )
        .into_response()
}
