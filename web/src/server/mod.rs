//! The app server: configuration, the router that mounts the API and the pages, the local checker
//! runner, and the demo (seed data and local targets).

pub mod config;
pub mod demo;
pub mod pages;

use crate::app::{shell, App};
use api::AppState;
use axum::extract::{FromRef, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use checker::api_client::ApiClient;
use checker::guard::SsrfGuard;
use checker::local::LocalRunner;
use checker::probe::Prober;
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tenants::Site;

/// What the pages and server functions can reach (`use_context::<WebState>()`).
#[derive(Clone, FromRef)]
pub struct WebState {
    pub leptos_options: LeptosOptions,
    pub app: AppState,
    pub secure_cookies: bool,
    /// Where the platform is reached, e.g. `http://localhost:3000`; for links to status pages.
    pub public_port: Option<u16>,
}

/// The whole HTTP surface: `/api/v1`, `/internal/v1`, pages, server functions and `/pkg` assets.
pub fn router(
    app: AppState,
    site_root: &str,
    secure_cookies: bool,
    public_port: Option<u16>,
) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name("web")
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .build();
    let web_state = WebState {
        leptos_options: leptos_options.clone(),
        app: app.clone(),
        secure_cookies,
        public_port,
    };
    let routes = generate_route_list(App);
    let pages = Router::new()
        .leptos_routes(&web_state, routes, {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<WebState, _>(shell))
        .with_state(web_state)
        .layer(axum::middleware::from_fn_with_state(app.clone(), site_gate));
    api::router(app)
        .merge(pages)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Unknown subdomains and foreign hosts get a 404 page before any page renders.
async fn site_gate(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let host = request_host(&request);
    match tenants::resolve_host(&host, &app.config.base_domain) {
        Site::Platform => next.run(request).await,
        Site::Tenant(slug) => match app.tenant_by_slug(&slug).await {
            Ok(Some(_)) => next.run(request).await,
            Ok(None) => not_found_page(&host),
            Err(e) => {
                tracing::error!(error = %e, "tenant lookup failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "status page temporarily unavailable",
                )
                    .into_response()
            }
        },
        Site::Other(_) => not_found_page(&host),
    }
}

pub fn request_host(request: &Request) -> String {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

fn not_found_page(host: &str) -> Response {
    let host = html_escape(host.split(':').next().unwrap_or_default());
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>No status page here</title>\
         <style>{}</style></head><body><main><section class=\"card\"><h1>404: no status page at {host}</h1>\
         <p>Nobody has claimed this address yet.</p></section></main></body></html>",
        include_str!("../../style/main.css")
    );
    (StatusCode::NOT_FOUND, Html(body)).into_response()
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Starts the local checker runner against this server's own internal API.
pub fn spawn_local_runner(
    app: &AppState,
    addr: SocketAddr,
    regions: Vec<String>,
    interval: Duration,
    guard: SsrfGuard,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let api = ApiClient::new(&format!("http://{addr}"), &app.config.checker_secret)
        .map_err(|e| anyhow::anyhow!("checker API client: {e}"))?
        .with_tick(interval.as_secs().try_into().unwrap_or(u32::MAX));
    let runner = LocalRunner {
        regions,
        interval,
        prober: Arc::new(Prober::new(guard)),
        api: Arc::new(api),
        store: Arc::new(app.analytics.clone()),
    };
    Ok(tokio::spawn(runner.run_forever()))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
