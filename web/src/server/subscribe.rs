//! The public page's subscribe form and a subscriber's preferences page: server-rendered HTML
//! forms that work without JavaScript.
//!
//! `GET|POST /_status-page/subscribe` is a page of the tenant's host, behind the same access
//! gate as the status page ([`super::site_gate`]: private pages look unknown, password pages ask
//! for the password first). The preferences page (`/_status-page/subscription?id=&token=`) is
//! opened from a mail link: the signed link is the credential, so it bypasses the page gate
//! like the confirm and one-click unsubscribe links (`/api/v1/public/subscriptions/...`).

use super::WebState;
use api::rest::error::ApiError;
use api::subscribers::links::{MANAGE_PATH, SUBSCRIBE_PATH};
use api::subscribers::public::{self, form_pairs, html_escape, html_page, Subscribed};
use api::subscribers::{SubscriberInput, SubscriberKind};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use uuid::Uuid;

/// Longest form body read.
const FORM_MAX: usize = 16 * 1024;

/// The subscribe form: mounted among the pages, behind the site gate.
pub fn page_routes() -> Router<WebState> {
    Router::new().route(SUBSCRIBE_PATH, get(show_form).post(post_form))
}

/// The preferences page: mounted beside the API, outside the site gate (the link is the key).
pub fn link_routes(web: WebState) -> Router {
    Router::new()
        .route(MANAGE_PATH, get(show_preferences).post(post_preferences))
        .with_state(web)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let mut response = (status, Html(html_page(title, body))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "subscription page failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "<h1>Temporarily unavailable</h1><p>Please try again in a moment.</p>",
    )
}

async fn read_form(request: Request) -> Result<Vec<(String, String)>, Response> {
    match axum::body::to_bytes(request.into_body(), FORM_MAX).await {
        Ok(body) => Ok(form_pairs(&body)),
        Err(_) => Err(page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "<h1>The form was too large</h1>",
        )),
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The checked `component` boxes; ids that do not parse are dropped (the lookup refuses
/// unknown ones).
fn components_of(form: &[(String, String)]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = form
        .iter()
        .filter(|(k, _)| k == "component")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    ids.dedup();
    ids
}

async fn components(web: &WebState, tenant_id: Uuid) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name FROM components WHERE tenant_id = $1 ORDER BY name, id LIMIT 500",
    )
    .bind(tenant_id)
    .fetch_all(&web.app.db)
    .await
}

fn checkboxes(components: &[(Uuid, String)], checked: &[Uuid]) -> String {
    if components.is_empty() {
        return String::new();
    }
    let boxes: String = components
        .iter()
        .map(|(id, name)| {
            format!(
                "<label><input type=\"checkbox\" name=\"component\" value=\"{id}\"{}> {}</label><br>",
                if checked.contains(id) { " checked" } else { "" },
                html_escape(name)
            )
        })
        .collect();
    format!("<fieldset><legend>Components (none checked: all of them)</legend>{boxes}</fieldset>")
}

fn form_html(components: &[(Uuid, String)], kind: &str, target: &str, errors: &str) -> String {
    let option = |value: &str, label: &str| {
        format!(
            "<option value=\"{value}\"{}>{label}</option>",
            if value == kind { " selected" } else { "" }
        )
    };
    format!(
        "{errors}<form method=\"post\" action=\"{SUBSCRIBE_PATH}\">\
         <label>Send updates by <select name=\"kind\">{}{}{}</select></label><br>\
         <label>Email address or webhook URL <input name=\"target\" value=\"{}\" required maxlength=\"2048\"></label><br>\
         {}<button type=\"submit\">Subscribe</button></form>",
        option("email", "Email"),
        option("webhook", "Webhook"),
        option("slack", "Slack incoming webhook"),
        html_escape(target),
        checkboxes(components, &[]),
    )
}

async fn tenant_of(web: &WebState, host: &str) -> Result<api::accounts::tenancy::Tenant, Response> {
    match web.app.tenant_for_host(host).await {
        Ok(Some(tenant)) => Ok(tenant),
        Ok(None) => Err(page(
            StatusCode::NOT_FOUND,
            "No status page here",
            "<h1>No status page here</h1>",
        )),
        Err(e) => Err(unavailable(e)),
    }
}

async fn show_form(State(web): State<WebState>, request: Request) -> Response {
    let host = super::request_host(&request);
    let tenant = match tenant_of(&web, &host).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let components = match components(&web, tenant.id).await {
        Ok(c) => c,
        Err(e) => return unavailable(e),
    };
    let name = html_escape(&tenant.name);
    page(
        StatusCode::OK,
        &format!("Subscribe to {} status", tenant.name),
        &format!(
            "<h1>Subscribe to {name} status updates</h1>\
             <p>Incidents and maintenance, by email (confirmed by a link we send), a webhook or Slack.</p>{}\
             <p><a href=\"/\">Back to the status page</a></p>",
            form_html(&components, "email", "", "")
        ),
    )
}

async fn post_form(State(web): State<WebState>, request: Request) -> Response {
    let host = super::request_host(&request);
    let tenant = match tenant_of(&web, &host).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let client = api::rest::client::client_addr(request.extensions());
    let form = match read_form(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let kind_text = field(&form, "kind").unwrap_or("email").to_owned();
    let target = field(&form, "target").unwrap_or_default().trim().to_owned();
    let kind = match kind_text.as_str() {
        "email" => SubscriberKind::Email,
        "webhook" => SubscriberKind::Webhook,
        "slack" => SubscriberKind::Slack,
        _ => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Subscribe",
                "<h1>Subscribe</h1><p class=\"error\" role=\"alert\">kind: must be email, webhook or slack</p>",
            )
        }
    };
    let input = SubscriberInput {
        kind,
        target: target.clone(),
        component_ids: components_of(&form),
    };
    let name = html_escape(&tenant.name);
    match public::subscribe(&web.app, tenant.id, &input, client).await {
        Ok(Subscribed::CheckInbox) => page(
            StatusCode::OK,
            "Check your inbox",
            &format!(
                "<h1>Check your inbox</h1><p>If the address can receive {name} status updates, a \
                 message with a confirmation link is on its way. Nothing is sent until you confirm.</p>\
                 <p><a href=\"/\">Back to the status page</a></p>"
            ),
        ),
        Ok(Subscribed::Active { manage_url }) => page(
            StatusCode::OK,
            "Subscribed",
            &format!(
                "<h1>Subscribed</h1><p>{name} status updates will be posted to this URL. Keep \
                 this link to change components or unsubscribe:</p><p><a href=\"{0}\">{0}</a></p>",
                html_escape(&manage_url)
            ),
        ),
        Err(ApiError::TooManyRequests {
            retry_after_secs,
            detail,
        }) => {
            let mut response = page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many subscriptions",
                &format!(
                    "<h1>Too many subscriptions</h1><p class=\"error\" role=\"alert\">{}</p>",
                    html_escape(&detail)
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Err(ApiError::Validation(problems)) => {
            let errors: String = problems
                .iter()
                .map(|p| {
                    format!(
                        "<p class=\"error\" role=\"alert\" data-field=\"{}\">{}: {}</p>",
                        html_escape(&p.field),
                        html_escape(&p.field),
                        html_escape(&p.message)
                    )
                })
                .collect();
            let components = components(&web, tenant.id).await.unwrap_or_default();
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Subscribe",
                &format!(
                    "<h1>Subscribe to {name} status updates</h1>{}",
                    form_html(&components, &kind_text, &target, &errors)
                ),
            )
        }
        Err(e) if e.status().is_client_error() => page(
            e.status(),
            "Subscribe",
            &format!(
                "<h1>Subscribe</h1><p class=\"error\" role=\"alert\">{}</p>",
                html_escape(&e.to_string())
            ),
        ),
        Err(e) => unavailable(e),
    }
}

/// `?id=&token=` of a preferences link.
fn link_of(query: Option<&str>, form: &[(String, String)]) -> Option<(Uuid, String)> {
    let query = form_pairs(query.unwrap_or_default().as_bytes());
    let get = |name: &str| {
        field(form, name)
            .or_else(|| field(&query, name))
            .map(str::to_owned)
    };
    Some((get("id")?.parse().ok()?, get("token")?))
}

fn bad_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Unknown link",
        "<h1>This link does not work</h1><p>The subscription may have been removed already.</p>",
    )
}

async fn preferences_page(web: &WebState, id: Uuid, token: &str, note: &str) -> Response {
    let prefs = match public::preferences(&web.app.db, id, token).await {
        Ok(Some(p)) => p,
        Ok(None) => return bad_link(),
        Err(e) => return unavailable(e),
    };
    let token = html_escape(token);
    page(
        StatusCode::OK,
        "Subscription preferences",
        &format!(
            "<h1>{page} status updates</h1>{note}<p>Sent to {target}.</p>\
             <form method=\"post\" action=\"{MANAGE_PATH}\">\
             <input type=\"hidden\" name=\"id\" value=\"{id}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
             {boxes}<button type=\"submit\" name=\"action\" value=\"save\">Save</button> \
             <button type=\"submit\" name=\"action\" value=\"unsubscribe\">Unsubscribe</button></form>",
            page = html_escape(&prefs.page_title),
            target = html_escape(&prefs.shown_target),
            boxes = checkboxes(&prefs.components, &prefs.component_ids),
        ),
    )
}

async fn show_preferences(State(web): State<WebState>, request: Request) -> Response {
    let Some((id, token)) = link_of(request.uri().query(), &[]) else {
        return bad_link();
    };
    preferences_page(&web, id, &token, "").await
}

async fn post_preferences(State(web): State<WebState>, request: Request) -> Response {
    let query = request.uri().query().map(str::to_owned);
    let form = match read_form(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some((id, token)) = link_of(query.as_deref(), &form) else {
        return bad_link();
    };
    if field(&form, "action") == Some("unsubscribe") {
        return match public::unsubscribe(&web.app.db, id, &token).await {
            Ok(public::Unsubscribed::BadLink) => bad_link(),
            Ok(_) => page(
                StatusCode::OK,
                "Unsubscribed",
                "<h1>Unsubscribed</h1><p>You will receive no more status updates.</p>",
            ),
            Err(e) => unavailable(e),
        };
    }
    match public::set_components(&web.app.db, id, &token, &components_of(&form)).await {
        Ok(true) => preferences_page(&web, id, &token, "<p role=\"status\">Saved.</p>").await,
        Ok(false) => bad_link(),
        Err(e) if e.status().is_client_error() => page(
            e.status(),
            "Subscription preferences",
            &format!(
                "<h1>Not saved</h1><p class=\"error\" role=\"alert\">{}</p>",
                html_escape(&e.to_string())
            ),
        ),
        Err(e) => unavailable(e),
    }
}
