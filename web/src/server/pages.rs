//! Server-side halves of the pages' server functions.

use super::WebState;
use crate::views::{self, AdminMonitor, AdminView, HomeView, MonitorView, RegionView, StatusView};
use api::auth::{SessionUser, SESSION_COOKIE, SESSION_DAYS};
use api::checkers::status_str;
use api::error::ApiError;
use api::status::StatusSnapshot;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use checker::probe::CheckStatus;
use chrono::{DateTime, SecondsFormat, Utc};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use tenants::Site;

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

pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn format_latency(us: Option<u32>) -> String {
    match us {
        Some(us) => format!("{:.1} ms", f64::from(us) / 1000.0),
        None => "–".to_owned(),
    }
}

pub fn format_uptime(percent: Option<f64>) -> String {
    match percent {
        Some(p) if p >= 99.995 => "100%".to_owned(),
        Some(p) => format!("{p:.2}%"),
        None => "no data".to_owned(),
    }
}

pub fn status_view(snapshot: &StatusSnapshot) -> StatusView {
    let overall = snapshot
        .overall
        .map(status_str)
        .unwrap_or("unknown")
        .to_owned();
    let statuses: Vec<_> = snapshot.monitors.iter().filter_map(|m| m.status).collect();
    let all_down = !statuses.is_empty() && statuses.iter().all(|s| *s == CheckStatus::Down);
    StatusView {
        title: snapshot.title.clone(),
        headline: views::headline(&overall, all_down).to_owned(),
        overall,
        generated_at: iso(snapshot.generated_at),
        stale: snapshot.stale,
        monitors: snapshot
            .monitors
            .iter()
            .map(|m| {
                let status = m.status.map(status_str).unwrap_or("unknown").to_owned();
                MonitorView {
                    name: m.name.clone(),
                    component: m.component.clone(),
                    status_label: views::status_label(&status).to_owned(),
                    status,
                    uptime_24h: format_uptime(m.uptime_24h),
                    regions: m
                        .regions
                        .iter()
                        .map(|r| RegionView {
                            region: r.region.clone(),
                            status: status_str(r.status).to_owned(),
                            latency: format_latency(r.last_total_us),
                            checked_at: iso(r.last_checked_at),
                            error: r.error.clone(),
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

pub async fn home_view() -> Result<HomeView, ServerFnError> {
    let state = state()?;
    let headers = headers().await?;
    let app = &state.app;
    let host = host(&headers);
    if tenants::resolve_host(&host, &app.config.base_domain) == Site::Platform {
        return Ok(HomeView::Landing {
            base_domain: app.config.base_domain.clone(),
        });
    }
    // Subdomain or verified custom domain; access was checked by the site gate.
    let Some(tenant) = app.tenant_for_host(&host).await.map_err(internal)? else {
        set_status(StatusCode::NOT_FOUND);
        return Err(ServerFnError::new("no status page here"));
    };
    let snapshot = app
        .status
        .get(&app.db, &app.analytics, &tenant)
        .await
        .map_err(internal)?;
    Ok(HomeView::Status(status_view(&snapshot)))
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    super::cookie(headers, SESSION_COOKIE)
}

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

pub async fn login(email: String, password: String) -> Result<(), ServerFnError> {
    let state = state()?;
    let (secret, _tenant) = api::auth::login(&state.app.db, &email, &password)
        .await
        .map_err(|e| match e {
            ApiError::Unauthorized(why) => {
                set_status(StatusCode::UNAUTHORIZED);
                ServerFnError::new(why)
            }
            other => internal(other),
        })?;
    set_cookie(&secret, SESSION_DAYS * 86_400, state.secure_cookies)?;
    leptos_axum::redirect("/admin");
    Ok(())
}

pub async fn logout() -> Result<(), ServerFnError> {
    let state = state()?;
    if let Some(secret) = session_cookie(&headers().await?) {
        api::auth::logout(&state.app.db, &secret)
            .await
            .map_err(internal)?;
    }
    set_cookie("", 0, state.secure_cookies)?;
    leptos_axum::redirect("/login");
    Ok(())
}

async fn signed_in(state: &WebState) -> Result<SessionUser, ServerFnError> {
    let headers = headers().await?;
    let user = match session_cookie(&headers) {
        Some(secret) => api::auth::session_user(&state.app.db, &secret)
            .await
            .map_err(internal)?,
        None => None,
    };
    user.ok_or_else(|| {
        leptos_axum::redirect("/login");
        ServerFnError::new("please sign in")
    })
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
            &api::tenancy::Tenant {
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
    Ok(AdminView {
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
    let user = signed_in(&state).await?;
    let input: api::monitors::MonitorInput =
        serde_json::from_value(serde_json::json!({ "name": name, "type": "http", "url": url }))
            .map_err(|e| ServerFnError::new(format!("invalid monitor: {e}")))?;
    api::monitors::create(
        &state.app.db,
        user.tenant_id,
        &input,
        &state.app.config.regions,
    )
    .await
    .map_err(|e| match e {
        ApiError::Validation(problems) => ServerFnError::new(
            problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => internal(other),
    })?;
    state.app.status.invalidate(user.tenant_id);
    Ok(())
}
