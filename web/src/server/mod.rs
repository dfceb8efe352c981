//! The app server: configuration, the router that mounts the API and the pages, the local checker
//! runner, and the demo (seed data and local targets).

pub mod account;
pub mod config;
pub mod demo;
pub mod headers;
pub mod heartbeats;
pub mod metrics;
pub mod pages;
pub mod subscribe;
pub mod tokens;

use crate::app::{shell, App};
use crate::public::render::{PublicSite, RenderConfig};
use crate::public::routes;
use api::rest::client::ClientAddr;
use api::rest::error::ApiError;
use api::status_page::access::{self, Visitor};
use api::status_page::Visibility;
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
    /// Every tenant's rendered public site (what tenant hosts serve).
    pub site: PublicSite,
}

/// The whole HTTP surface: `/api/v1`, `/internal/v1`, pages, server functions and `/pkg` assets,
/// with rendered sites kept in memory only ([`router_with_site`] for a configured store).
pub fn router(
    app: AppState,
    site_root: &str,
    secure_cookies: bool,
    public_port: Option<u16>,
) -> Router {
    let site = PublicSite::new(RenderConfig::default());
    router_with_site(app, site_root, secure_cookies, public_port, site)
}

/// [`router`] serving tenants' hosts from `site`.
pub fn router_with_site(
    app: AppState,
    site_root: &str,
    secure_cookies: bool,
    public_port: Option<u16>,
    site: PublicSite,
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
        site,
    };
    let routes = generate_route_list(App);
    let pages = Router::new()
        .leptos_routes(&web_state, routes, {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .merge(subscribe::page_routes())
        .merge(account::routes())
        .merge(tokens::routes())
        .merge(heartbeats::routes())
        .fallback(leptos_axum::file_and_error_handler::<WebState, _>(shell))
        .with_state(web_state.clone())
        .layer(axum::middleware::from_fn_with_state(
            web_state.clone(),
            site_gate,
        ));
    let routes = api::router(app)
        .merge(subscribe::link_routes(web_state.clone()))
        .merge(pages)
        .layer(axum::middleware::from_fn(remember_client));
    headers::harden(routes, secure_cookies).layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Puts the client address ([`pages::client_addr`]: the TCP peer, or the trusted
/// `X-Forwarded-For` entry) into the request for the per-client limits of every route.
async fn remember_client(mut request: Request, next: Next) -> Response {
    if let Some(ip) = pages::client_addr(request.headers(), request.extensions()) {
        request.extensions_mut().insert(ClientAddr(ip));
    }
    next.run(request).await
}

/// Unknown subdomains and foreign hosts get a 404 page before any page renders; a verified
/// custom domain serves its tenant's site; only the routes of [`routes::SITE_ROUTES`] exist on a
/// tenant's host (sign-in, sign-up, the admin pages and their server functions live only on the
/// platform's own host, so a tenant's custom domain never shows the platform's sign-in form).
///
/// This is the one gate of every public route of a tenant's host: each request is admitted by
/// [`access::admit`] (the check the public JSON API makes too, so the page-access cookie and the
/// `Status-Page-Password` header open both) before the rendered file or the form is reached;
/// private pages look unknown, password-protected ones ask for the password first. When
/// PostgreSQL cannot say whose host it is, a public page's kept render is served (never a
/// protected one's).
pub async fn site_gate(State(web): State<WebState>, request: Request, next: Next) -> Response {
    let app = &web.app;
    let host = request_host(&request);
    if tenants::resolve_host(&host, &app.config.base_domain) == Site::Platform {
        return next.run(request).await;
    }
    let Some(route) = routes::route(request.uri().path()) else {
        return not_found_page(&host);
    };
    if !routes::allows(route, request.method()) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(
                header::ALLOW,
                if route.post {
                    "GET, HEAD, POST"
                } else {
                    "GET, HEAD"
                },
            )],
        )
            .into_response();
    }
    // The change listener already knows PostgreSQL is away: answer from the kept render now
    // rather than after the pool's connect timeout.
    if web.site.database_down() {
        let down = ApiError::Internal(
            "PostgreSQL is unreachable (the page-change listener cannot connect)".into(),
        );
        return serve_offline(&web, &host, route, &request, down);
    }
    let tenant = match app.tenant_for_host(&host).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return not_found_page(&host),
        Err(e) => return serve_offline(&web, &host, route, &request, e),
    };
    let visitor = Visitor::from_parts(request.headers(), request.extensions());
    if request.uri().path() == UNLOCK_PATH {
        return unlock_page(&web, &tenant, &host, visitor, request).await;
    }
    match access::admit(app, tenant.id, &visitor).await {
        Ok(()) => {}
        Err(ApiError::NotFound(_)) => return not_found_page(&host),
        Err(ApiError::Unauthorized(_)) => return password_page(&tenant.name, Refusal::NoPassword),
        Err(ApiError::TooManyRequests {
            retry_after_secs, ..
        }) => return password_page(&tenant.name, Refusal::TooMany(retry_after_secs)),
        Err(e) => return serve_offline(&web, &host, route, &request, e),
    }
    if !route.rendered {
        return next.run(request).await;
    }
    let site = match web.site.site(app, &tenant).await {
        Ok(site) => site,
        Err(e) => return unavailable(e),
    };
    site.respond(
        request.uri().path(),
        request.uri().query(),
        request.headers(),
    )
    .unwrap_or_else(|| not_found_page(&host))
}

fn unavailable(e: ApiError) -> Response {
    tracing::error!(error = %e, "status page unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, "30"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        "status page temporarily unavailable",
    )
        .into_response()
}

/// PostgreSQL could not admit the request: a public page's kept render answers GETs; anything
/// else (a protected page, a form) is a 503.
fn serve_offline(
    web: &WebState,
    host: &str,
    route: &routes::SiteRoute,
    request: &Request,
    error: ApiError,
) -> Response {
    let bare = host
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match web.site.offline(&bare) {
        Some(site) if route.rendered && site.visibility == Visibility::Public => {
            tracing::warn!(host = %bare, error = %error, "serving the kept render: the database did not answer");
            site.respond(
                request.uri().path(),
                request.uri().query(),
                request.headers(),
            )
            .unwrap_or_else(|| not_found_page(host))
        }
        _ => unavailable(error),
    }
}

/// The password form's post: a correct password sets the page-access cookie.
async fn unlock_page(
    web: &WebState,
    tenant: &api::accounts::tenancy::Tenant,
    host: &str,
    visitor: Visitor,
    request: Request,
) -> Response {
    let app = &web.app;
    match app.page_access(tenant.id).await {
        Ok((Visibility::Password, _)) => {}
        Ok((Visibility::Public, _)) => {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
        }
        Ok((Visibility::Private, _)) => return not_found_page(host),
        Err(e) => return unavailable(e),
    }
    if request.method() != axum::http::Method::POST {
        return password_page(&tenant.name, Refusal::NoPassword);
    }
    let form = axum::extract::Form::<Unlock>::from_request(request, &()).await;
    let given = form.map(|f| f.0.password).unwrap_or_default();
    match access::unlock(app, tenant.id, &given, visitor.client).await {
        Ok(Some(value)) => {
            let cookie = format!(
                "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                access::ACCESS_COOKIE,
                access::COOKIE_DAYS * 86_400,
                if web.secure_cookies { "; Secure" } else { "" }
            );
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/".to_owned()),
                    (header::SET_COOKIE, cookie),
                ],
            )
                .into_response()
        }
        Ok(None) => password_page(&tenant.name, Refusal::WrongPassword),
        Err(ApiError::TooManyRequests {
            retry_after_secs, ..
        }) => password_page(&tenant.name, Refusal::TooMany(retry_after_secs)),
        Err(e) => unavailable(e),
    }
}

/// Why the password page is shown.
enum Refusal {
    NoPassword,
    WrongPassword,
    /// Too many guesses: try again after this many seconds.
    TooMany(u64),
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

fn password_page(name: &str, refusal: Refusal) -> Response {
    let (status, error) = match refusal {
        Refusal::NoPassword => (StatusCode::UNAUTHORIZED, String::new()),
        Refusal::WrongPassword => (
            StatusCode::UNAUTHORIZED,
            "<p class=\"error\" role=\"alert\">Wrong password.</p>".to_owned(),
        ),
        Refusal::TooMany(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "<p class=\"error\" role=\"alert\">Too many password attempts; try again in {} minute(s).</p>",
                secs.div_ceil(60)
            ),
        ),
    };
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name}: password required</title>\
         <style>{}</style></head><body><main><section class=\"card narrow\"><h1>{name} status</h1>\
         <p>This status page is password-protected.</p>{error}\
         <form method=\"post\" action=\"{UNLOCK_PATH}\"><label>Password \
         <input type=\"password\" name=\"password\" required autofocus></label>\
         <button type=\"submit\">View status</button></form></section></main></body></html>",
        crate::app::STYLE,
        name = html_escape(name),
    );
    let mut response = (status, Html(body)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    if let Refusal::TooMany(secs) = refusal {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    response
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
        crate::app::STYLE
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

/// How often the app server looks for custom domains due a re-check (each verified domain is
/// looked up once a day, [`api::status_page::domains::RecheckPolicy`]) and for lapsed claims.
pub const DOMAIN_RECHECK_TICK: Duration = Duration::from_secs(3600);

/// Starts the periodic re-check of verified custom domains (and the release of lapsed
/// unverified claims), with the same resolver and SSRF guard rules as verify-domain.
pub fn spawn_domain_rechecks(app: &AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(api::status_page::domains::run_domain_rechecks(
        app.db.clone(),
        app.domain_resolver.clone(),
        api::status_page::domains::RecheckPolicy::default(),
        DOMAIN_RECHECK_TICK,
    ))
}

/// Starts the local checker runner against this server's own internal API.
pub fn spawn_local_runner(
    app: &AppState,
    addr: SocketAddr,
    regions: Vec<String>,
    interval: Duration,
    guard: SsrfGuard,
    writer: statuspage_clickhouse::WriterConfig,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    spawn_local_runner_with_rechecks(app, addr, regions, interval, guard, writer, None)
}

/// The engine's re-check dispatcher for `STATUSPAGE_RECHECK`, and for `local` the receiving end
/// the local runner takes ([`spawn_local_runner_with_rechecks`]). Built before the app state,
/// which holds the dispatcher.
pub async fn recheck_dispatch(
    config: &config::ServeConfig,
) -> anyhow::Result<(
    Arc<dyn api::engine::dispatch::Recheck>,
    Option<tokio::sync::mpsc::Receiver<checker::plan::CheckEvent>>,
)> {
    use api::engine::dispatch::{LambdaRecheck, LocalRecheck, NoRecheck};
    Ok(match config.recheck_mode()? {
        config::RecheckMode::Local => {
            let (dispatch, rechecks) = LocalRecheck::channel();
            (Arc::new(dispatch), Some(rechecks))
        }
        config::RecheckMode::Lambda => {
            let dispatch = LambdaRecheck::new(
                &config.regions,
                config.checker_function_name.trim(),
                config.aws_endpoint(),
            )
            .await;
            tracing::info!(function = dispatch.function_name(), regions = ?config.regions, "re-checks invoke the checker Lambda of each region");
            (Arc::new(dispatch), None)
        }
        config::RecheckMode::Off => (Arc::new(NoRecheck), None),
    })
}

/// How long a region whose shard count did not change goes between two syncs.
pub const SCHEDULE_RESYNC_EVERY: Duration = Duration::from_secs(600);

/// With CHECKER_SCHEDULE_SYNC, the task that keeps every region's checker schedules sized to
/// its monitors ([`api::checkers::schedules`]).
pub async fn spawn_schedule_keeper(
    app: &AppState,
    config: &config::ServeConfig,
) -> Option<tokio::task::JoinHandle<()>> {
    if !config.schedule_sync {
        return None;
    }
    use api::checkers::schedules::{run_schedule_keeper, ScheduleKeeper};
    let keeper = ScheduleKeeper::new(
        &config.regions,
        config.checker_function_name.trim(),
        config.shard_checks_per_minute,
        SCHEDULE_RESYNC_EVERY,
        config.aws_endpoint(),
    )
    .await;
    tracing::info!(
        function = config.checker_function_name.trim(),
        regions = ?config.regions,
        checks_per_shard = config.shard_checks_per_minute,
        every_secs = config.schedule_sync_secs,
        "checker schedules follow the monitors"
    );
    Some(tokio::spawn(run_schedule_keeper(
        keeper,
        app.db.clone(),
        Duration::from_secs(config.schedule_sync_secs),
    )))
}

/// [`spawn_local_runner`], also running at once every re-check event `rechecks` delivers (the
/// engine's [`api::engine::dispatch::LocalRecheck`] sends them), each as its own run.
pub fn spawn_local_runner_with_rechecks(
    app: &AppState,
    addr: SocketAddr,
    regions: Vec<String>,
    interval: Duration,
    guard: SsrfGuard,
    writer: statuspage_clickhouse::WriterConfig,
    rechecks: Option<tokio::sync::mpsc::Receiver<checker::plan::CheckEvent>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let api = ApiClient::with_secrets(&format!("http://{addr}"), (*app.checker_secrets).clone())
        .map_err(|e| anyhow::anyhow!("checker API client: {e}"))?
        .with_tick(interval.as_secs().try_into().unwrap_or(u32::MAX));
    let runner = LocalRunner {
        regions,
        interval,
        prober: Arc::new(Prober::new(guard)),
        api: Arc::new(api),
        // The same retrying, spooling writer as the Lambda: a batch ClickHouse refuses waits in
        // the spool and is replayed, with its token, when ClickHouse answers again.
        store: Arc::new(
            statuspage_clickhouse::Writer::new(app.analytics.clone(), writer)
                .map_err(|e| anyhow::anyhow!("ClickHouse result spool: {e}"))?,
        ),
    };
    let replayer = AbortOnDrop(runner.store.spawn_replayer(SPOOL_REPLAY_EVERY));
    Ok(tokio::spawn(async move {
        let _replayer = replayer;
        match rechecks {
            Some(rechecks) => runner.run_with_rechecks(rechecks).await,
            None => runner.run_forever().await,
        }
    }))
}

/// Starts what turns checks into action in this app server: the incident engine's timers
/// (regional outage, maintenance, flapping), the outbox workers that deliver every
/// notification, alert routing's sweeper (grouping, repeats, escalation) and the maintenance
/// announcer. All of them are safe with several app servers on one database (`SKIP LOCKED`).
pub fn spawn_alerting(
    app: &AppState,
    delivery: api::outbox::DeliveryConfig,
) -> Vec<tokio::task::JoinHandle<()>> {
    // Subscribers' links go to <slug>.<base domain> with the public URL's scheme and port.
    api::subscribers::links::configure_from_platform_url(
        &app.platform_url,
        &app.config.base_domain,
    );
    vec![
        tokio::spawn(api::engine::run_sweeper(app.clone())),
        tokio::spawn(api::outbox::run_workers(app.clone(), delivery)),
        tokio::spawn(api::alerts::run_sweeper(app.clone())),
        tokio::spawn(api::custom_metrics::run_fetcher(app.clone())),
        // Late heartbeats are failures like any other: the same engine, incidents and alerts.
        tokio::spawn(api::heartbeats::run_sweeper(app.clone())),
        tokio::spawn(api::subscribers::notify::run_maintenance_announcer(
            app.clone(),
        )),
    ]
}

/// How often the local runner's spool is retried while batches wait in it (each write also
/// retries it first).
pub const SPOOL_REPLAY_EVERY: Duration = Duration::from_secs(5);

/// Stops a helper task together with the task that owns it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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
