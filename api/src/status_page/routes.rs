//! The status page's routes: the tenant's own settings (`/api/v1/status-page`, with If-Match and
//! the custom-domain check), its own snapshot (`/api/v1/status`), and the snapshot visitors read
//! (`/api/v1/public/status/{slug}`, plus the [`super::public`] routes).

use super::access::Visitor;
use super::snapshot::StatusSnapshot;
use super::{StatusPagePatch, StatusPageSettings};
use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiError, ApiPath, ApiResult};
use crate::rest::input::ApiJson;
use crate::rest::responses::{
    Invalid, Malformed, MalformedRequest, NeedsToken, NoSuchPage, NotFound, StaleVersion,
    TooManyGuesses, WriteForbidden,
};
use crate::rest::write::{record, Resource};
use crate::rest::{IfMatch, Tagged};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use uuid::Uuid;

/// The tenant's one status page (no id of its own: audit entries name none).
const STATUS_PAGE: Resource = Resource::new("status_page", "status_pages", "status page");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/status-page",
            get(get_status_page).patch(patch_status_page),
        )
        .route(
            "/api/v1/status-page/verify-domain",
            post(verify_status_page_domain),
        )
        .route("/api/v1/status", get(own_status))
        .route("/api/v1/public/status/{slug}", get(public_status))
        .merge(super::public::routes())
}

#[utoipa::path(
    get,
    path = "/api/v1/status-page",
    tag = "status page",
    responses(
        MalformedRequest,
        (status = 200, description = "the settings (ETag header)", body = StatusPageSettings),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get_status_page(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Tagged<StatusPageSettings>> {
    let page = super::get(&state.db, who.tenant_id).await?;
    Ok(Tagged(StatusCode::OK, page.version, page))
}

#[utoipa::path(
    patch,
    path = "/api/v1/status-page",
    tag = "status page",
    params(("If-Match" = Option<String>, Header, description = "ETag from a read, e.g. \"v3\"; 412 when the row changed since")),
    request_body = StatusPagePatch,
    responses(
        (status = 200, description = "the updated settings (ETag header)", body = StatusPageSettings),
        Malformed, NeedsToken, WriteForbidden, StaleVersion, Invalid
    ),
    security(("bearer" = []))
)]
pub(crate) async fn patch_status_page(
    State(state): State<AppState>,
    who: ApiTenant,
    if_match: IfMatch,
    ApiJson(patch): ApiJson<StatusPagePatch>,
) -> ApiResult<Tagged<StatusPageSettings>> {
    who.require_write()?;
    let Some(page) = super::patch(
        &state.db,
        who.tenant_id,
        if_match.0,
        &patch,
        &state.config.base_domain,
    )
    .await?
    else {
        let current = super::get(&state.db, who.tenant_id).await?;
        return Err(ApiError::PreconditionFailed(format!(
            "the status page changed since you read it (now version \"v{}\"); read it again and reapply your change",
            current.version
        )));
    };
    // Never the password itself.
    let changed: Vec<&str> = [
        ("title", patch.title.is_some()),
        ("description", patch.description.is_some()),
        ("visibility", patch.visibility.is_some()),
        ("password", patch.password.is_some()),
        ("branding", patch.branding.is_some()),
        ("custom_domain", patch.custom_domain.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    record(
        &state,
        &who,
        &STATUS_PAGE,
        "update",
        None,
        json!({ "changed": changed }),
    )
    .await?;
    Ok(Tagged(StatusCode::OK, page.version, page))
}

/// 200 with the settings once the TXT record is found; 422 saying what was found otherwise.
#[utoipa::path(
    post,
    path = "/api/v1/status-page/verify-domain",
    tag = "status page",
    responses(
        MalformedRequest,
        (status = 200, description = "verified (ETag header)", body = StatusPageSettings),
        NeedsToken, WriteForbidden,
        (status = 409, description = "conflict", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        Invalid
    ),
    security(("bearer" = []))
)]
pub(crate) async fn verify_status_page_domain(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Response> {
    who.require_write()?;
    match super::domains::verify_domain(&state.db, who.tenant_id, state.domain_resolver.as_deref())
        .await?
    {
        Ok(page) => {
            // The page shows nothing of its domain: the snapshot stays.
            record(
                &state,
                &who,
                &STATUS_PAGE.off_status_page(),
                "verify",
                None,
                json!({ "custom_domain": page.custom_domain }),
            )
            .await?;
            Ok(Tagged(StatusCode::OK, page.version, page).into_response())
        }
        Err(failure) => {
            let found = if failure.found.is_empty() {
                "no TXT record".to_owned()
            } else {
                format!("TXT {:?}", failure.found)
            };
            Err(ApiError::field(
                "custom_domain",
                format!(
                    "expected a TXT record {} with the value {:?}, found {found}{}",
                    failure.expected.name,
                    failure.expected.value,
                    failure.error.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            ))
        }
    }
}

/// The caller's own status snapshot, whatever the page's visibility.
#[utoipa::path(get, path = "/api/v1/status", tag = "status page", security(("bearer" = [])),
    responses((status = 200, description = "the snapshot", body = StatusSnapshot), NeedsToken))]
pub(crate) async fn own_status(
    State(state): State<AppState>,
    who: ApiTenant,
) -> ApiResult<Json<StatusSnapshot>> {
    let tenant = sqlx::query_as::<_, (Uuid, String, String)>(
        "SELECT id, slug, name FROM tenants WHERE id = $1",
    )
    .bind(who.tenant_id)
    .fetch_one(&state.db)
    .await?;
    let tenant = crate::accounts::tenancy::Tenant {
        id: tenant.0,
        slug: tenant.1,
        name: tenant.2,
    };
    let snapshot = state
        .status
        .get(&state.db, &state.analytics, &tenant)
        .await?;
    Ok(Json((*snapshot).clone()))
}

/// A tenant's public status snapshot, honouring the page's visibility.
#[utoipa::path(get, path = "/api/v1/public/status/{slug}", tag = "status page",
    params(("slug" = String, Path, description = "the tenant's slug"),
           ("Status-Page-Password" = Option<String>, Header, description = "for a password-protected page")),
    responses((status = 200, description = "the snapshot", body = StatusSnapshot),
              (status = 401, description = "password-protected: wrong or missing password (or page-access cookie)", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              NoSuchPage, TooManyGuesses))]
pub(crate) async fn public_status(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    visitor: Visitor,
) -> ApiResult<Json<StatusSnapshot>> {
    let tenant = super::public::readable_tenant(&state, &slug, &visitor).await?;
    let snapshot = state
        .status
        .get(&state.db, &state.analytics, &tenant)
        .await?;
    // Visitors get each failure's kind, never its detail.
    Ok(Json(snapshot.for_visitors()))
}
