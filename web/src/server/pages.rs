//! Server-side halves of the pages' server functions.

use super::WebState;
use crate::views::{self, AdminMonitor, AdminView, HomeView};
use api::accounts::auth::{login_limited, LoginError, SessionUser, SESSION_COOKIE, SESSION_DAYS};
use api::checkers::status_str;
use api::rest::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

fn state() -> Result<WebState, ServerFnError> {
    use_context::<WebState>().ok_or_else(|| ServerFnError::new("server state missing"))
}

async fn headers() -> Result<HeaderMap, ServerFnError> {
    Ok(leptos_axum::extract::<HeaderMap>().await?)
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn set_status(status: StatusCode) {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(status);
    }
}

/// Logs the real cause; the visitor gets a plain message.
fn internal(e: impl std::fmt::Display) -> ServerFnError {
    tracing::error!(error = %e, "page data failed");
    ServerFnError::new("temporarily unavailable, please retry")
}

pub fn format_uptime(percent: Option<f64>) -> String {
    match percent {
        Some(p) if p >= 99.995 => "100%".to_owned(),
        Some(p) => format!("{p:.2}%"),
        None => "no data".to_owned(),
    }
}

/// The platform's landing page. A tenant's host serves its public status site
/// ([`crate::public`]) at `/` instead; this page only ever shows the landing.
pub async fn home_view() -> Result<HomeView, ServerFnError> {
    let state = state()?;
    Ok(HomeView {
        base_domain: state.app.config.base_domain.clone(),
    })
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    super::cookie(headers, SESSION_COOKIE)
}

/// The session cookie: `HttpOnly` (no script reads it), `SameSite=Lax` (not sent on cross-site
/// posts), and `Secure` when `STATUSPAGE_SECURE_COOKIES=true`.
fn set_cookie(value: &str, max_age_secs: i64, secure: bool) -> Result<(), ServerFnError> {
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    );
    let response =
        use_context::<ResponseOptions>().ok_or_else(|| ServerFnError::new("no response"))?;
    response.append_header(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(internal)?,
    );
    Ok(())
}

/// Signs in. The form post must come from our own pages ([`check_same_origin`] with
/// [`FormPost::SignIn`]); failures are rate-limited per email and per client
/// ([`login_limited`], client from [`client_ip`]).
pub async fn login(email: String, password: String) -> Result<(), ServerFnError> {
    let state = state()?;
    let headers = headers().await?;
    check_same_origin(&headers, FormPost::SignIn)?;
    let client = client_ip(&headers);
    let (secret, _tenant) = login_limited(&state.app.db, &email, &password, client)
        .await
        .map_err(|e| match e {
            LoginError::Throttled {
                retry_after_minutes,
            } => {
                set_status(StatusCode::TOO_MANY_REQUESTS);
                if let Some(response) = use_context::<ResponseOptions>() {
                    response.insert_header(
                        header::RETRY_AFTER,
                        HeaderValue::from(retry_after_minutes.saturating_mul(60)),
                    );
                }
                ServerFnError::new(e.to_string())
            }
            LoginError::Api(ApiError::Unauthorized(why)) => {
                set_status(StatusCode::UNAUTHORIZED);
                ServerFnError::new(why)
            }
            LoginError::Api(other) => internal(other),
        })?;
    set_cookie(&secret, SESSION_DAYS * 86_400, state.secure_cookies)?;
    // A person in several tenants picks one first.
    leptos_axum::redirect(super::account::landing_after_sign_in(&state.app.db, &secret).await);
    Ok(())
}

/// Sign-up from the web: the same rules and errors as `POST /api/v1/tenants` (the messages name
/// the fields), then a session for the new owner.
pub async fn signup(
    slug: String,
    name: String,
    email: String,
    password: String,
) -> Result<(), ServerFnError> {
    let state = state()?;
    let headers = headers().await?;
    check_same_origin(&headers, FormPost::SignIn)?;
    if !state.app.config.open_signup {
        set_status(StatusCode::FORBIDDEN);
        return Err(ServerFnError::new("sign-up is closed on this deployment"));
    }
    let input = api::accounts::tenancy::NewTenant {
        slug: slug.trim().to_ascii_lowercase(),
        name,
        email: email.clone(),
        password: Some(password.clone()),
    };
    // Limited per client like `POST /api/v1/tenants`.
    let (db, url, client) = (&state.app.db, &state.app.platform_url, client_ip(&headers));
    api::accounts::tenancy::create_tenant_limited(db, url, &input, client)
        .await
        .map_err(console_error)?;
    let client = client_ip(&headers);
    let (secret, _tenant) = login_limited(&state.app.db, &email, &password, client)
        .await
        .map_err(|e| internal(e.to_string()))?;
    set_cookie(&secret, SESSION_DAYS * 86_400, state.secure_cookies)?;
    leptos_axum::redirect("/admin");
    Ok(())
}

pub async fn logout() -> Result<(), ServerFnError> {
    let state = state()?;
    let headers = headers().await?;
    check_same_origin(&headers, FormPost::SignedIn)?;
    if let Some(secret) = session_cookie(&headers) {
        api::accounts::auth::logout(&state.app.db, &secret)
            .await
            .map_err(internal)?;
    }
    set_cookie("", 0, state.secure_cookies)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// What a state-changing form post is, for [`check_same_origin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPost {
    /// Signing in: there is no session yet to ride on.
    SignIn,
    /// An action of a signed-in user (logout, add_monitor, …): the session cookie is what a
    /// cross-site request would abuse.
    SignedIn,
}

/// Cross-site request forgery check for the server functions that change state (login, logout,
/// add_monitor, and any new one: call this first).
///
/// The rule (Origin check, no token needed, so the plain no-JavaScript form and the hydrated form
/// both work unchanged):
/// 1. `Sec-Fetch-Site: cross-site` or `same-site` is refused outright (a sibling subdomain, i.e.
///    another tenant's status page, is not the platform; nor is `http://` posting to `https://`).
/// 2. If `Origin` is present, its host and port must equal the request's `Host` (default port of
///    the Origin's scheme when either leaves it out); `Origin: null` never matches.
/// 3. Otherwise, if `Referer` is present, the same comparison with its host and port.
/// 4. With neither header, a signed-in action is refused. Signing in is allowed, since
///    `curl`-style clients send neither and a browser always sends `Origin` on a `POST` (every
///    current browser does, for forms and `fetch` alike), and `Sec-Fetch-Site` (rule 1) must then
///    be `same-origin` or absent. What remains is login CSRF from a browser too old to send
///    either `Origin` or `Sec-Fetch-Site`, with the Referer suppressed by the attacking page.
///
/// Our own pages post from the same origin, so their `Origin` always matches; keep it that way:
/// never serve the pages with `Referrer-Policy: no-referrer`, under which browsers send
/// `Origin: null` even for same-origin posts. The session cookie is also `SameSite=Lax`, which
/// already keeps it off cross-site `POST`s in current browsers; this check does not rely on it.
///
/// A reverse proxy in front must pass the original `Host` (status pages are routed by it anyway).
/// A refusal is a 403 with a message that says why.
pub fn check_same_origin(headers: &HeaderMap, post: FormPost) -> Result<(), ServerFnError> {
    match same_origin_verdict(headers, &request_host(headers), post) {
        Ok(()) => Ok(()),
        Err(why) => {
            tracing::warn!(reason = why, ?post, "cross-site form post refused");
            set_status(StatusCode::FORBIDDEN);
            Err(ServerFnError::new(format!(
                "forbidden: cross-site request refused ({why}); submit the form from this site's own page"
            )))
        }
    }
}

/// The request's host: the `Host` header, or the URI's authority (HTTP/2 `:authority`).
fn request_host(headers: &HeaderMap) -> String {
    let from_header = host(headers);
    if !from_header.is_empty() {
        return from_header;
    }
    use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.uri.authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default()
}

/// [`check_same_origin`]'s decision; `Err` names the reason.
fn same_origin_verdict(
    headers: &HeaderMap,
    request_host: &str,
    post: FormPost,
) -> Result<(), &'static str> {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").trim().to_owned())
    };
    let fetch_site = text("sec-fetch-site").map(|v| v.to_ascii_lowercase());
    if matches!(fetch_site.as_deref(), Some("cross-site" | "same-site")) {
        return Err("the browser says it comes from another site");
    }
    let source = match (text("origin"), text("referer")) {
        (Some(origin), _) => Some(("Origin", origin)),
        (None, Some(referer)) => Some(("Referer", referer)),
        (None, None) => None,
    };
    match source {
        Some((name, url)) => {
            if same_host(&url, request_host) {
                Ok(())
            } else if name == "Origin" {
                Err("Origin does not match the host")
            } else {
                Err("Referer does not match the host")
            }
        }
        None => match post {
            FormPost::SignIn if matches!(fetch_site.as_deref(), None | Some("same-origin")) => {
                Ok(())
            }
            FormPost::SignIn => Err("no Origin or Referer"),
            FormPost::SignedIn => Err("no Origin or Referer on a signed-in action"),
        },
    }
}

/// Whether the URL (an Origin or a Referer) names the same host and port as the `Host` header.
fn same_host(url: &str, request_host: &str) -> bool {
    let Ok(url) = url.parse::<axum::http::Uri>() else {
        return false;
    };
    let Ok(request) = request_host.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    let (Some(scheme), Some(host)) = (url.scheme_str(), url.host()) else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    let normal = |h: &str| h.trim_end_matches('.').to_ascii_lowercase();
    normal(host) == normal(request.host())
        && url.port_u16().unwrap_or(default_port) == request.port_u16().unwrap_or(default_port)
}

/// The environment variable that says the app server runs behind reverse proxies that append
/// the client address to `X-Forwarded-For`: `true` (one proxy) or how many (`2` for a CDN in front
/// of a load balancer); unset, empty or `false`: the header is ignored.
pub const TRUST_PROXY_VAR: &str = "STATUSPAGE_TRUST_PROXY";

/// How many trusted proxies append to `X-Forwarded-For` (0: the header is not trusted). Read
/// once; an unreadable value trusts nothing and says so in the log.
fn trusted_proxies() -> usize {
    static HOPS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *HOPS.get_or_init(|| {
        let value = std::env::var(TRUST_PROXY_VAR).unwrap_or_default();
        parse_trusted_proxies(&value).unwrap_or_else(|| {
            tracing::error!(
                value,
                "{TRUST_PROXY_VAR} must be true, false or a number of proxies; X-Forwarded-For is not trusted"
            );
            0
        })
    })
}

pub fn parse_trusted_proxies(value: &str) -> Option<usize> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" => Some(0),
        "true" | "yes" => Some(1),
        n => n.parse().ok().filter(|n| *n <= 10),
    }
}

/// The client address sign-in failures are also counted under.
///
/// - Behind trusted reverse proxies ([`TRUST_PROXY_VAR`] set to `true` or `N`): the address the
///   outermost trusted proxy saw, i.e. the `N`-th `X-Forwarded-For` entry counted from the
///   right. Not the first (left-most) entry: proxies append to the header the client sent, so
///   the left end is whatever the client chose and would let one attacker pose as many clients.
/// - Otherwise the TCP peer address, when the server was started with
///   `into_make_service_with_connect_info::<SocketAddr>()`, as `statuspage serve` is; without
///   it (e.g. a test harness's plain `axum::serve`), sign-ins are rate-limited per email only.
pub fn client_ip(headers: &HeaderMap) -> Option<std::net::IpAddr> {
    let parts = use_context::<axum::http::request::Parts>();
    client_addr(
        headers,
        parts
            .as_ref()
            .map(|p| &p.extensions)
            .unwrap_or(&axum::http::Extensions::new()),
    )
}

/// [`client_ip`] from a request's headers and extensions (the router's middleware records it
/// for every route as [`api::rest::client::ClientAddr`]).
pub fn client_addr(
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> Option<std::net::IpAddr> {
    let hops = trusted_proxies();
    if hops > 0 {
        return forwarded_client(headers, hops);
    }
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The `hops`-th `X-Forwarded-For` entry from the right (all headers of that name, in order).
fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<std::net::IpAddr> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let entry = entries.len().checked_sub(hops).map(|i| entries[i])?;
    entry
        .parse::<std::net::IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

async fn signed_in(state: &WebState) -> Result<SessionUser, ServerFnError> {
    let headers = headers().await?;
    let user = match session_cookie(&headers) {
        Some(secret) => api::accounts::auth::session_user(&state.app.db, &secret)
            .await
            .map_err(internal)?,
        None => None,
    };
    user.ok_or_else(|| {
        leptos_axum::redirect("/login");
        ServerFnError::new("please sign in")
    })
}

/// Refuses a state-changing admin action to a member who may only read (a `viewer`): a 403
/// that says why. Call it in every server function that changes the tenant's data.
fn require_editor(user: &SessionUser) -> Result<(), ServerFnError> {
    if user.can_edit() {
        return Ok(());
    }
    set_status(StatusCode::FORBIDDEN);
    Err(ServerFnError::new(
        "forbidden: your role in this tenant is viewer, which can only look; \
         ask an owner or admin to make you an editor",
    ))
}

pub async fn admin_view() -> Result<AdminView, ServerFnError> {
    let state = state()?;
    let user = signed_in(&state).await?;
    let app = &state.app;
    let tenant: (String, String) = sqlx::query_as("SELECT slug, name FROM tenants WHERE id = $1")
        .bind(user.tenant_id)
        .fetch_one(&app.db)
        .await
        .map_err(internal)?;
    let monitors = api::monitors::list(&app.db, user.tenant_id)
        .await
        .map_err(internal)?;
    let snapshot = app
        .status
        .get(
            &app.db,
            &app.analytics,
            &api::accounts::tenancy::Tenant {
                id: user.tenant_id,
                slug: tenant.0.clone(),
                name: tenant.1.clone(),
            },
        )
        .await
        .map_err(internal)?;
    let port = state
        .public_port
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let email_verified = api::accounts::auth::email_verified(&app.db, user.user_id)
        .await
        .map_err(internal)?;
    Ok(AdminView {
        email_verified,
        status_page_url: format!("http://{}.{}{port}/", tenant.0, app.config.base_domain),
        tenant_name: tenant.1,
        tenant_slug: tenant.0,
        email: user.email,
        monitors: monitors
            .into_iter()
            .map(|m| {
                let live = snapshot.monitors.iter().find(|s| s.id == m.id);
                let status = live
                    .and_then(|s| s.status)
                    .map(status_str)
                    .unwrap_or("unknown")
                    .to_owned();
                AdminMonitor {
                    id: m.id.to_string(),
                    enabled: m.enabled,
                    heartbeat: !m.spec.is_probed(),
                    target: m.spec.target(),
                    interval_seconds: m.interval_seconds,
                    status_label: views::status_label(&status).to_owned(),
                    status,
                    uptime_24h: format_uptime(live.and_then(|s| s.uptime_24h)),
                    name: m.name,
                }
            })
            .collect(),
    })
}

pub async fn add_monitor(name: String, url: String) -> Result<(), ServerFnError> {
    let state = state()?;
    check_same_origin(&headers().await?, FormPost::SignedIn)?;
    let user = signed_in(&state).await?;
    require_editor(&user)?;
    let input: api::monitors::MonitorInput =
        serde_json::from_value(serde_json::json!({ "name": name, "type": "http", "url": url }))
            .map_err(|e| ServerFnError::new(format!("invalid monitor: {e}")))?;
    let monitor = api::monitors::create(
        &state.app.db,
        user.tenant_id,
        &input,
        &state.app.config.regions,
    )
    .await
    .map_err(console_error)?;
    audit_monitor(&state, &user, "create", &monitor).await?;
    Ok(())
}

/// Adds a heartbeat monitor from the console: every `period_seconds`, or at the times of `cron`
/// in `timezone` (empty: UTC), late after `grace_seconds` (empty: the default). The API's rules
/// and messages (`api::monitors::create`).
pub async fn add_heartbeat(
    name: String,
    period_seconds: String,
    cron: String,
    timezone: String,
    grace_seconds: String,
) -> Result<(), ServerFnError> {
    let state = state()?;
    check_same_origin(&headers().await?, FormPost::SignedIn)?;
    let user = signed_in(&state).await?;
    require_editor(&user)?;
    let number = |field: &str, value: &str| -> Result<Option<u64>, ServerFnError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        value.parse().map(Some).map_err(|_| {
            set_status(StatusCode::UNPROCESSABLE_ENTITY);
            ServerFnError::new(format!("{field}: must be a whole number of seconds"))
        })
    };
    let mut body = serde_json::json!({ "name": name, "type": "heartbeat" });
    if let Some(period) = number("period_seconds", &period_seconds)? {
        body["period_seconds"] = period.into();
    }
    if !cron.trim().is_empty() {
        body["cron"] = cron.trim().into();
    }
    if !timezone.trim().is_empty() {
        body["timezone"] = timezone.trim().into();
    }
    if let Some(grace) = number("grace_seconds", &grace_seconds)? {
        body["grace_seconds"] = grace.into();
    }
    let input: api::monitors::MonitorInput = serde_json::from_value(body).map_err(|e| {
        set_status(StatusCode::UNPROCESSABLE_ENTITY);
        ServerFnError::new(format!("invalid heartbeat monitor: {e}"))
    })?;
    let monitor = api::monitors::create(
        &state.app.db,
        user.tenant_id,
        &input,
        &state.app.config.regions,
    )
    .await
    .map_err(console_error)?;
    audit_monitor(&state, &user, "create", &monitor).await
}

/// Records a console change of `monitor` as the person's (like an API write as its token's)
/// and drops the tenant's page snapshot.
async fn audit_monitor(
    state: &WebState,
    user: &SessionUser,
    action: &str,
    monitor: &api::monitors::Monitor,
) -> Result<(), ServerFnError> {
    api::rest::write::record(
        &state.app,
        user,
        &api::monitors::MONITOR,
        action,
        Some(monitor.id),
        serde_json::json!({ "name": monitor.name }),
    )
    .await
    .map_err(internal)
}

/// A refused console write as the message the person sees: the API's own problems (field and
/// message), a rate limit's text (and `Retry-After`), its 4xx texts, or the plain message of
/// [`internal`].
fn console_error(e: ApiError) -> ServerFnError {
    match e {
        ApiError::TooManyRequests {
            detail,
            retry_after_secs,
        } => {
            set_status(StatusCode::TOO_MANY_REQUESTS);
            if let Some(response) = use_context::<ResponseOptions>() {
                response.insert_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ServerFnError::new(detail)
        }
        ApiError::Validation(problems) => {
            set_status(StatusCode::UNPROCESSABLE_ENTITY);
            ServerFnError::new(
                problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        }
        other if other.status().is_client_error() => {
            set_status(other.status());
            ServerFnError::new(other.to_string())
        }
        other => internal(other),
    }
}

/// The monitor `id` of this tenant (a 404 for another tenant's or a malformed id).
async fn own_monitor(
    state: &WebState,
    user: &SessionUser,
    id: &str,
) -> Result<api::monitors::Monitor, ServerFnError> {
    let id: uuid::Uuid = id.trim().parse().map_err(|_| {
        set_status(StatusCode::NOT_FOUND);
        ServerFnError::new("no such monitor")
    })?;
    api::monitors::get(&state.app.db, user.tenant_id, id)
        .await
        .map_err(console_error)
}

/// Pauses (`enabled = false`: no more checks, no alerts) or resumes a monitor from the console.
pub async fn set_monitor_enabled(id: String, enabled: bool) -> Result<(), ServerFnError> {
    let state = state()?;
    check_same_origin(&headers().await?, FormPost::SignedIn)?;
    let user = signed_in(&state).await?;
    require_editor(&user)?;
    let stored = own_monitor(&state, &user, &id).await?;
    if stored.enabled == enabled {
        return Ok(());
    }
    let input = api::monitors::MonitorInput {
        name: stored.name.clone(),
        spec: stored.spec.clone(),
        interval_seconds: stored.interval_seconds,
        regions: stored.regions.clone(),
        enabled,
        component_id: stored.component_id,
        confirmation: stored.confirmation,
    };
    // Against the version read: a change made meanwhile is not overwritten.
    let changed = api::monitors::replace(
        &state.app.db,
        user.tenant_id,
        stored.id,
        Some(stored.version),
        &input,
        &state.app.config.regions,
    )
    .await
    .map_err(console_error)?;
    if changed.is_none() {
        set_status(StatusCode::CONFLICT);
        return Err(ServerFnError::new(
            "the monitor changed meanwhile: reload the page and try again",
        ));
    }
    audit_monitor(
        &state,
        &user,
        if enabled { "resume" } else { "pause" },
        &stored,
    )
    .await?;
    Ok(())
}

/// Deletes a monitor from the console; the form must carry `confirm` (a required checkbox, so
/// the browser asks without JavaScript).
pub async fn remove_monitor(id: String, confirm: Option<String>) -> Result<(), ServerFnError> {
    let state = state()?;
    check_same_origin(&headers().await?, FormPost::SignedIn)?;
    let user = signed_in(&state).await?;
    require_editor(&user)?;
    let stored = own_monitor(&state, &user, &id).await?;
    if confirm.as_deref() != Some("yes") {
        set_status(StatusCode::UNPROCESSABLE_ENTITY);
        return Err(ServerFnError::new(format!(
            "confirm: tick the box to delete {:?} and its state",
            stored.name
        )));
    }
    api::monitors::delete(&state.app.db, user.tenant_id, stored.id, None)
        .await
        .map_err(console_error)?;
    audit_monitor(&state, &user, "delete", &stored).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn same_origin_posts_pass_and_cross_site_ones_do_not() {
        let host = "localhost:3000";
        let verdict =
            |pairs: &[(&'static str, &str)], post| same_origin_verdict(&headers(pairs), host, post);
        for post in [FormPost::SignIn, FormPost::SignedIn] {
            // The hydrated form (fetch) and the plain form both send Origin.
            assert_eq!(
                verdict(&[("origin", "http://localhost:3000")], post),
                Ok(())
            );
            assert_eq!(
                verdict(
                    &[
                        ("origin", "http://LOCALHOST:3000"),
                        ("sec-fetch-site", "same-origin")
                    ],
                    post
                ),
                Ok(())
            );
            assert_eq!(
                verdict(&[("referer", "http://localhost:3000/login?x=1")], post),
                Ok(())
            );
            for origin in [
                "http://evil.example",
                "http://localhost:3001",
                "http://acme.localhost:3000",
                "http://localhost:3000.evil.example",
                "null",
                "",
            ] {
                assert!(
                    verdict(&[("origin", origin)], post).is_err(),
                    "{origin} {post:?}"
                );
            }
            // Origin decides when present; a Referer cannot vouch for a foreign Origin.
            assert!(verdict(
                &[
                    ("origin", "http://evil.example"),
                    ("referer", "http://localhost:3000/login")
                ],
                post
            )
            .is_err());
            assert!(verdict(&[("referer", "http://evil.example/localhost:3000")], post).is_err());
            assert!(verdict(
                &[
                    ("origin", "http://localhost:3000"),
                    ("sec-fetch-site", "cross-site")
                ],
                post
            )
            .is_err());
            assert!(verdict(&[("sec-fetch-site", "same-site")], post).is_err());
        }
        // Neither Origin nor Referer: only a sign-in, and not when the browser says cross-site.
        assert_eq!(verdict(&[], FormPost::SignIn), Ok(()));
        assert_eq!(
            verdict(&[("sec-fetch-site", "same-origin")], FormPost::SignIn),
            Ok(())
        );
        assert!(verdict(&[("sec-fetch-site", "cross-site")], FormPost::SignIn).is_err());
        assert!(verdict(&[("sec-fetch-site", "none")], FormPost::SignIn).is_err());
        assert!(verdict(&[], FormPost::SignedIn).is_err());
    }

    #[test]
    fn default_ports_match_and_host_must_be_known() {
        assert!(same_host(
            "https://status.example.com",
            "status.example.com"
        ));
        assert!(same_host(
            "https://status.example.com",
            "status.example.com:443"
        ));
        assert!(same_host(
            "http://status.example.com:80",
            "status.example.com"
        ));
        assert!(!same_host(
            "https://status.example.com",
            "status.example.com:80"
        ));
        assert!(!same_host(
            "http://status.example.com",
            "status.example.com:443"
        ));
        assert!(same_host("http://[::1]:3000/admin", "[::1]:3000"));
        assert!(!same_host("ftp://localhost:3000", "localhost:3000"));
        assert!(!same_host("http://localhost:3000", ""));
        assert!(!same_host(
            "http://localhost:3000@evil.example",
            "localhost:3000"
        ));
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_by_trusted_hops() {
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(
            forwarded_client(&h, 1),
            Some("198.51.100.2".parse().unwrap())
        );
        assert_eq!(
            forwarded_client(&h, 2),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(forwarded_client(&h, 4), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), 1), None);
        assert_eq!(
            forwarded_client(&headers(&[("x-forwarded-for", "[2001:db8::1]:443")]), 1),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            forwarded_client(&headers(&[("x-forwarded-for", "unknown")]), 1),
            None
        );
        assert_eq!(parse_trusted_proxies(""), Some(0));
        assert_eq!(parse_trusted_proxies("false"), Some(0));
        assert_eq!(parse_trusted_proxies("TRUE"), Some(1));
        assert_eq!(parse_trusted_proxies("2"), Some(2));
        assert_eq!(parse_trusted_proxies("maybe"), None);
    }
}
