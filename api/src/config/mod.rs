//! Config as code: one tenant's status page settings, component groups, components and monitors
//! as one YAML (or JSON) document. `GET /api/v1/config` exports it; `POST /api/v1/config` plans
//! what would make the account match a document (a dry run unless `?dry_run=false`) and applies
//! that plan in one transaction, all or nothing.
//!
//! Things refer to each other by name, never by id, so a file moves between tenants and fresh
//! accounts. Names are the identity: a renamed thing is a delete plus a create. A section left
//! out of the document is not managed (nothing in it changes); a section present manages its
//! kind: things not in the file are `unmanaged` and left alone, or deleted with `prune: true`.
//!
//! The parts: [`document`] (the file's types), [`parse`] (reading a body), `account` (the
//! account as it is), [`export`], [`plan`] (the diff a dry run reports, with `monitors` for the
//! monitors section) and [`apply`] (carrying the plan out in one transaction).

mod account;
pub mod apply;
pub mod document;
pub mod export;
mod monitors;
mod page;
pub mod parse;
pub mod plan;

pub use apply::import;
pub use document::{
    ComponentConfig, ConfigDocument, GroupConfig, MonitorConfig, StatusPageConfig, FORMAT_VERSION,
    YAML_CONTENT_TYPE,
};
pub use export::{export, mask_secrets, to_yaml};
pub use parse::parse;
pub use plan::{ImportPlan, KindPlan, PageAction, PlanCounts, PlannedUpdate, StatusPagePlan};

use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiQuery, ApiResult};
use crate::rest::responses::{MalformedRequest, NeedsToken};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/config", get(export_config).post(import_config))
}

#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigFormat {
    #[default]
    Yaml,
    Json,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ExportQuery {
    /// `yaml` (default, `text/yaml`) or `json`.
    #[param(inline)]
    pub format: Option<ConfigFormat>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    /// `true` (the default): only report the plan. `false`: apply it (needs the `write` scope).
    pub dry_run: Option<bool>,
}

/// The tenant's configuration as a document: status page settings (never the password or
/// tokens), component groups, components and monitors, referring to each other by name, each
/// list sorted by name. Without the `admin` scope, header values marked `secret` read
/// `********`; importing the file back keeps the stored values.
#[utoipa::path(
    get,
    path = "/api/v1/config",
    tag = "config",
    params(ExportQuery),
    responses(
        (status = 200, description = "the document (YAML unless `format=json`)", content(
            (ConfigDocument = "text/yaml"),
            (ConfigDocument = "application/json")
        )),
        MalformedRequest,
        NeedsToken
    ),
    security(("bearer" = []))
)]
pub(crate) async fn export_config(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let mut doc = export(&state.db, who.tenant_id).await?;
    if !who.sees_secrets() {
        mask_secrets(&mut doc);
    }
    Ok(match query.format.unwrap_or_default() {
        ConfigFormat::Json => Json(doc).into_response(),
        ConfigFormat::Yaml => {
            ([(header::CONTENT_TYPE, YAML_CONTENT_TYPE)], to_yaml(&doc)?).into_response()
        }
    })
}

/// Plans the changes that make the account match a document and, with `dry_run=false`, applies
/// them in one transaction (all or nothing, one audit entry `import`). Things are matched by
/// name; those in the account but not in the file are `unmanaged`, or deleted with `prune: true`.
#[utoipa::path(
    post,
    path = "/api/v1/config",
    tag = "config",
    params(ImportQuery),
    request_body(description = "a config document, as `GET /api/v1/config` exports it (`prune` optional)", content(
        (ConfigDocument = "application/yaml"),
        (ConfigDocument = "text/yaml"),
        (ConfigDocument = "application/json")
    )),
    responses(
        (status = 200, description = "the plan; `applied: true` once carried out", body = ImportPlan),
        (status = 400, description = "malformed query or unsupported content type", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        NeedsToken,
        (status = 403, description = "applying with a read-only token, or a plan limit", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "the document is larger than 1 MiB", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid document (syntax errors name line and column on `body`), YAML anchors or aliases, more than 50 000 values or nesting deeper than 32; `errors` names the fields, e.g. `monitors[2].url`", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub(crate) async fn import_config(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ImportPlan>> {
    let dry_run = query.dry_run.unwrap_or(true);
    if !dry_run {
        who.require_write()?;
    }
    let body = crate::rest::input::read_body(body, crate::rest::input::MAX_DOCUMENT_BYTES).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let (doc, tree) = parse(content_type, &body)?;
    let plan = import(
        &state.db,
        &who,
        doc,
        &tree,
        &state.config.regions,
        &state.config.base_domain,
        dry_run,
    )
    .await?;
    if plan.applied {
        state.status.invalidate(who.tenant_id);
        state.forget_page(who.tenant_id);
    }
    Ok(Json(plan))
}
