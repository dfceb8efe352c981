//! The app server: configuration, the router that mounts the API and the pages, the local checker
//! runner, and the demo (seed data and local targets).

pub mod config;
pub mod demo;
pub mod pages;

use crate::app::{shell, App};
use api::status_pages::{self, Visibility};
use api::AppState;
use axum::extract::{FromRef, FromRequest, Request, State};
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

/// Unknown subdomains and foreign hosts get a 404 page before any page renders; a verified
/// custom domain serves its tenant's page; private pages look unknown; password-protected ones
/// ask for the password first.
async fn site_gate(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let host = request_host(&request);
    if tenants::resolve_host(&host, &app.config.base_domain) == Site::Platform {
        return next.run(request).await;
    }
    let unavailable = |e: api::error::ApiError| {
        tracing::error!(error = %e, "status page lookup failed");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "status page temporarily unavailable",
        )
            .into_response()
    };
    let tenant = match app.tenant_for_host(&host).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return not_found_page(&host),
        Err(e) => return unavailable(e),
    };
    let access = match app.page_access(tenant.id).await {
        Ok(access) => access,
        Err(e) => return unavailable(e),
    };
    match access {
        (Visibility::Public, _) => next.run(request).await,
        (Visibility::Private, _) => not_found_page(&host),
        (Visibility::Password, hash) => {
            let hash = hash.unwrap_or_default();
            let secret = &app.config.checker_secret;
            if request.uri().path() == UNLOCK_PATH && request.method() == axum::http::Method::POST {
                let secure = request.uri().scheme_str() == Some("https");
                let form = axum::extract::Form::<Unlock>::from_request(request, &()).await;
                let given = form.map(|f| f.0.password).unwrap_or_default();
                if api::auth::verify_password(&given, &hash) {
                    let cookie = format!(
                        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000{}",
                        status_pages::ACCESS_COOKIE,
                        status_pages::access_cookie(secret, tenant.id, &hash),
                        if secure { "; Secure" } else { "" }
                    );
                    return (
                        StatusCode::SEE_OTHER,
                        [
                            (header::LOCATION, "/".to_owned()),
                            (header::SET_COOKIE, cookie),
                        ],
                    )
                        .into_response();
                }
                return password_page(&tenant.name, true);
            }
            let unlocked = cookie(request.headers(), status_pages::ACCESS_COOKIE)
                .is_some_and(|c| status_pages::access_cookie_valid(secret, tenant.id, &hash, &c));
            if unlocked {
                next.run(request).await
            } else {
                password_page(&tenant.name, false)
            }
        }
    }
}

/// Where a password-protected page's form posts.
pub const UNLOCK_PATH: &str = "/_status-page/unlock";

#[derive(serde::Deserialize)]
struct Unlock {
    password: String,
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

fn password_page(name: &str, wrong: bool) -> Response {
    let error = if wrong {
        "<p class=\"error\" role=\"alert\">Wrong password.</p>"
    } else {
        ""
    };
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name}: password required</title>\
         <style>{}</style></head><body><main><section class=\"card narrow\"><h1>{name} status</h1>\
         <p>This status page is password-protected.</p>{error}\
         <form method=\"post\" action=\"{UNLOCK_PATH}\"><label>Password \
         <input type=\"password\" name=\"password\" required autofocus></label>\
         <button type=\"submit\">View status</button></form></section></main></body></html>",
        include_str!("../../style/main.css"),
        name = html_escape(name),
    );
    (StatusCode::UNAUTHORIZED, Html(body)).into_response()
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
