//! `/api/v1` handlers for alert rules and alerts (open and recent problems), and the public
//! acknowledge page an alert's link opens. Only `admin` tokens create, change or delete rules
//! (they decide where alerts go, like channels); any `write` token may acknowledge. Rules carry
//! an `ETag` and honour `If-Match`, creates take `Idempotency-Key`, writes are audited, another
//! tenant's rule or alert is a 404.
//!
//! The acknowledge link's `GET` only shows a confirm button, so mail scanners and link
//! previews that fetch it acknowledge nothing; the button `POST`s the token.

use super::rules::{self, AlertRule, AlertRuleInput, AlertRulePatch};
use super::AlertProblem;
use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::rest::input::ApiJson;
use crate::rest::responses::{
    AdminForbidden, Invalid, Malformed, MalformedRequest, NeedsToken, NotFound, StaleVersion,
    WriteForbidden,
};
use crate::rest::write::{self, row, Resource};
use crate::rest::{audit, Actor, CreateRequest, IfMatch, Page, PageQuery, Tagged};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// Alert rules are not on the status page: writes leave the snapshot as it is.
const ALERT_RULE: Resource =
    Resource::new("alert_rule", "alert_rules", "alert rule").off_status_page();

row!(AlertRule);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alert-rules", post(create_rule).get(list_rules))
        .route(
            "/api/v1/alert-rules/{id}",
            get(get_rule).patch(patch_rule).delete(delete_rule),
        )
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}", get(get_alert))
        .route("/api/v1/alerts/{id}/acknowledge", post(acknowledge_alert))
        .route(super::ack::ACK_PATH, get(ack_page).post(ack_by_link))
}

#[utoipa::path(
    post,
    path = "/api/v1/alert-rules",
    tag = "alerting",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = AlertRuleInput,
    responses(
        (status = 201, description = "created (ETag header)", body = AlertRule),
        Malformed, NeedsToken, AdminForbidden, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn create_rule(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<AlertRuleInput>,
) -> ApiResult<Response> {
    who.require_admin()?;
    let insert = rules::create(&state.db, who.tenant_id, &request.input);
    write::create(
        &state,
        &who,
        &ALERT_RULE,
        &request,
        insert,
        |r| json!({ "name": r.name, "channel_id": r.channel_id }),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/alert-rules",
    tag = "alerting",
    params(PageQuery),
    responses(
        MalformedRequest,
        (status = 200, description = "one page, newest first", body = crate::rest::Page<AlertRule>),
        NeedsToken, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn list_rules(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<AlertRule>>> {
    Ok(Json(rules::list(&state.db, who.tenant_id, &page).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/alert-rules/{id}",
    tag = "alerting",
    params(("id" = uuid::Uuid, Path, description = "alert rule id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the alert rule (ETag header)", body = AlertRule),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn get_rule(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<AlertRule>> {
    let rule = rules::get(&state.db, who.tenant_id, id).await?;
    Ok(Tagged(StatusCode::OK, rule.version, rule))
}

#[utoipa::path(
    patch,
    path = "/api/v1/alert-rules/{id}",
    tag = "alerting",
    params(("id" = uuid::Uuid, Path, description = "alert rule id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = AlertRulePatch,
    responses(
        (status = 200, description = "the updated alert rule (ETag header)", body = AlertRule),
        Malformed, NeedsToken, AdminForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn patch_rule(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<AlertRulePatch>,
) -> ApiResult<Tagged<AlertRule>> {
    who.require_admin()?;
    let change = rules::patch(&state.db, who.tenant_id, id, if_match.0, &patch);
    write::update(
        &state,
        &who,
        &ALERT_RULE,
        id,
        if_match,
        change,
        |r| json!({ "name": r.name, "channel_id": r.channel_id }),
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/v1/alert-rules/{id}",
    tag = "alerting",
    params(("id" = uuid::Uuid, Path, description = "alert rule id"), ("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    responses(
        MalformedRequest,
        (status = 204, description = "deleted"),
        NeedsToken, AdminForbidden, NotFound, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn delete_rule(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    who.require_admin()?;
    let remove = rules::delete(&state.db, who.tenant_id, id, if_match.0);
    write::delete(&state, &who, &ALERT_RULE, id, if_match, remove).await
}

/// `?open=true` for open problems only; a page as every list takes it.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
pub struct AlertsQuery {
    /// Only problems not resolved yet (default: open and recently resolved ones).
    pub open: Option<bool>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerting",
    params(AlertsQuery),
    responses(
        MalformedRequest,
        (status = 200, description = "one page of problems, newest first, with what each channel had of them", body = crate::rest::Page<AlertProblem>),
        NeedsToken, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn list_alerts(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> ApiResult<Json<Page<AlertProblem>>> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(Json(
        super::list(&state.db, who.tenant_id, query.open.unwrap_or(false), &page).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/alerts/{id}",
    tag = "alerting",
    params(("id" = uuid::Uuid, Path, description = "alert (problem) id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the problem", body = AlertProblem),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn get_alert(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<AlertProblem>> {
    Ok(Json(super::get(&state.db, who.tenant_id, id).await?))
}

/// Stops the problem's repeats and escalation. Acknowledging twice is fine (the first one is
/// kept); a resolved problem is a 409.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/acknowledge",
    tag = "alerting",
    params(("id" = uuid::Uuid, Path, description = "alert (problem) id")),
    responses(
        MalformedRequest,
        (status = 200, description = "acknowledged (now or before)", body = AlertProblem),
        NeedsToken, WriteForbidden, NotFound,
        (status = 409, description = "the problem is resolved", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn acknowledge_alert(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<AlertProblem>> {
    who.require_write()?;
    let mut tx = state.db.begin().await?;
    if super::acknowledge(&mut tx, who.tenant_id, id, &who.actor(), Utc::now()).await? {
        audit(&mut *tx, &who, "acknowledge", "alert", Some(id), json!({})).await?;
    }
    tx.commit().await?;
    Ok(Json(super::get(&state.db, who.tenant_id, id).await?))
}

/// Whoever holds a valid acknowledge link, as the audit log names them.
struct LinkHolder(Uuid);

impl Actor for LinkHolder {
    fn tenant_id(&self) -> Uuid {
        self.0
    }
    fn actor(&self) -> String {
        "acknowledge_link".into()
    }
}

#[derive(utoipa::IntoParams, utoipa::ToSchema, Debug, Clone, Deserialize)]
pub struct AckToken {
    /// The token of the alert's acknowledge link.
    pub token: Option<String>,
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

/// A small page, never cached, never leaking the token in a `Referer`.
fn page(status: StatusCode, heading: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{heading}</title></head>\
         <body><main><h1>{heading}</h1>{body}</main></body></html>",
        heading = escape(heading)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn invalid_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "This acknowledge link does not work",
        "<p>It is not a link this status platform sent, or it has expired. Acknowledge the \
         alert from a newer message, or in the API (<code>POST /api/v1/alerts/{id}/acknowledge</code>).</p>",
    )
}

/// The problem a link names and its state: `(title, resolved, acknowledged_at)`.
async fn linked(
    state: &AppState,
    token: Option<&str>,
) -> ApiResult<Option<(Uuid, Uuid, String, bool, Option<chrono::DateTime<Utc>>)>> {
    // No token at all is a malformed request (a 422 naming it); a wrong one, the HTML 404.
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::field("token", "is required: use the link from the alert"))?;
    let mut conn = state.db.acquire().await?;
    let Some((tenant, problem)) = super::ack::verify(&mut conn, token, Utc::now()).await? else {
        return Ok(None);
    };
    let (title, resolved, acknowledged): (String, bool, Option<chrono::DateTime<Utc>>) =
        sqlx::query_as(
            "SELECT title, resolved_at IS NOT NULL, acknowledged_at FROM alert_problems \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(problem)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Some((tenant, problem, title, resolved, acknowledged)))
}

/// Public: the page an alert's acknowledge link opens. It acknowledges nothing by itself: it
/// shows the alert and a button that posts the token.
#[utoipa::path(
    get,
    path = "/api/v1/public/alerts/ack",
    tag = "alerting",
    params(AckToken),
    responses(
        (status = 200, description = "an HTML page with the alert and a confirm button", content_type = "text/html", body = String),
        (status = 404, description = "an HTML page: forged, altered or expired link", content_type = "text/html", body = String),
        (status = 422, description = "no token", body = crate::rest::error::Problem, content_type = "application/problem+json")
    )
)]
pub async fn ack_page(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AckToken>,
) -> ApiResult<Response> {
    let Some((_, _, title, resolved, acknowledged)) =
        linked(&state, query.token.as_deref()).await?
    else {
        return Ok(invalid_link());
    };
    let title = escape(&title);
    Ok(match (resolved, acknowledged) {
        (_, Some(at)) => page(
            StatusCode::OK,
            "Already acknowledged",
            &format!("<p>{title}</p><p>Acknowledged at {}.</p>", at.to_rfc3339()),
        ),
        (true, None) => page(
            StatusCode::OK,
            "Already resolved",
            &format!("<p>{title}</p><p>The problem is over; there is nothing to acknowledge.</p>"),
        ),
        (false, None) => page(
            StatusCode::OK,
            "Acknowledge this alert?",
            &format!(
                "<p>{title}</p><p>Acknowledging stops its reminders and its escalation.</p>\
                 <form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"token\" \
                 value=\"{}\"><button type=\"submit\">Acknowledge</button></form>",
                super::ack::ACK_PATH,
                escape(query.token.as_deref().unwrap_or_default().trim())
            ),
        ),
    })
}

/// Public: the acknowledge page's button. The token is the authority: it names one problem of
/// one tenant and expires.
#[utoipa::path(
    post,
    path = "/api/v1/public/alerts/ack",
    tag = "alerting",
    request_body(content = AckToken, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "an HTML page: acknowledged (now or before)", content_type = "text/html", body = String),
        (status = 404, description = "an HTML page: forged, altered or expired link", content_type = "text/html", body = String),
        (status = 409, description = "an HTML page: the problem is resolved", content_type = "text/html", body = String),
        (status = 422, description = "no token", body = crate::rest::error::Problem, content_type = "application/problem+json")
    )
)]
pub async fn ack_by_link(
    State(state): State<AppState>,
    form: Result<Form<AckToken>, axum::extract::rejection::FormRejection>,
) -> ApiResult<Response> {
    let token = form.ok().and_then(|Form(f)| f.token);
    let Some((tenant, problem, title, _, _)) = linked(&state, token.as_deref()).await? else {
        return Ok(invalid_link());
    };
    let title = escape(&title);
    let mut tx = state.db.begin().await?;
    let holder = LinkHolder(tenant);
    match super::acknowledge(&mut tx, tenant, problem, &holder.actor(), Utc::now()).await {
        Ok(true) => {
            audit(
                &mut *tx,
                &holder,
                "acknowledge",
                "alert",
                Some(problem),
                json!({}),
            )
            .await?;
            tx.commit().await?;
            Ok(page(
                StatusCode::OK,
                "Acknowledged",
                &format!("<p>{title}</p><p>No more reminders or escalation for it.</p>"),
            ))
        }
        Ok(false) => Ok(page(
            StatusCode::OK,
            "Already acknowledged",
            &format!("<p>{title}</p>"),
        )),
        Err(ApiError::Conflict(_)) => Ok(page(
            StatusCode::CONFLICT,
            "Already resolved",
            &format!("<p>{title}</p><p>The problem is over; there is nothing to acknowledge.</p>"),
        )),
        Err(e) => Err(e),
    }
}
