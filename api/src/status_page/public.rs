//! What visitors of a status page may read besides the snapshot: incidents and scheduled
//! maintenance, with component names instead of ids and nothing internal (no versions, no
//! audit). Every endpoint honours the page's visibility like the snapshot does.

use super::access::{self, Visitor};
use crate::incidents::{ComponentStatus, Impact, IncidentStatus};
use crate::maintenance::MaintenanceStatus;
use crate::rest::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::rest::responses::{NoSuchPage, TooManyGuesses};
use crate::{incidents, maintenance, AppState};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/public/status/{slug}/incidents",
            get(public_incidents),
        )
        .route(
            "/api/v1/public/status/{slug}/maintenances",
            get(public_maintenances),
        )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicComponent {
    pub name: String,
    pub status: ComponentStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicUpdate {
    pub status: IncidentStatus,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicIncident {
    pub id: Uuid,
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub components: Vec<PublicComponent>,
    /// Newest first.
    pub updates: Vec<PublicUpdate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicMaintenance {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub status: MaintenanceStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub components: Vec<String>,
}

/// `?days=` of history (1–90; default 14 for incidents, 7 for maintenance).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    #[param(minimum = 1, maximum = 90)]
    pub days: Option<i32>,
}

impl HistoryQuery {
    fn days(&self, default: i32) -> ApiResult<i32> {
        match self.days {
            None => Ok(default),
            Some(d) if (1..=90).contains(&d) => Ok(d),
            Some(d) => Err(ApiError::field(
                "days",
                format!("must be between 1 and 90, got {d}"),
            )),
        }
    }
}

/// The tenant of a page a visitor may read ([`access::admit`]: 404 for no page or a
/// private one, 401 without the cookie or password of a password-protected one, 429 when its
/// password guesses are used up).
pub(super) async fn readable_tenant(
    state: &AppState,
    slug: &str,
    visitor: &Visitor,
) -> ApiResult<crate::accounts::tenancy::Tenant> {
    let tenant = state
        .tenant_by_slug(slug)
        .await?
        .ok_or(ApiError::NotFound("status page"))?;
    access::admit(state, tenant.id, visitor).await?;
    Ok(tenant)
}

pub(super) async fn component_names(
    db: &PgPool,
    tenant_id: Uuid,
) -> ApiResult<HashMap<Uuid, String>> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM components WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Unresolved incidents and those resolved in the last `days` days, as visitors see them.
pub(crate) async fn incidents_for_visitors(
    db: &PgPool,
    tenant_id: Uuid,
    days: i32,
    names: &HashMap<Uuid, String>,
) -> ApiResult<Vec<PublicIncident>> {
    let incidents = incidents::recent(db, tenant_id, days).await?;
    Ok(incidents
        .into_iter()
        .map(|i| PublicIncident {
            id: i.id,
            title: i.title,
            status: i.status,
            impact: i.impact,
            started_at: i.started_at,
            resolved_at: i.resolved_at,
            components: i
                .components
                .iter()
                .filter_map(|c| {
                    names.get(&c.component_id).map(|name| PublicComponent {
                        name: name.clone(),
                        status: c.status,
                    })
                })
                .collect(),
            updates: i
                .updates
                .into_iter()
                .map(|u| PublicUpdate {
                    status: u.status,
                    message: u.message,
                    created_at: u.created_at,
                })
                .collect(),
        })
        .collect())
}

/// Maintenance in progress or upcoming, and what ended in the last `days` days.
pub(crate) async fn maintenances_for_visitors(
    db: &PgPool,
    tenant_id: Uuid,
    days: i32,
    names: &HashMap<Uuid, String>,
) -> ApiResult<Vec<PublicMaintenance>> {
    let windows = maintenance::current_and_upcoming(db, tenant_id, days).await?;
    Ok(windows
        .into_iter()
        .map(|m| PublicMaintenance {
            id: m.id,
            title: m.title,
            description: m.description,
            status: m.status,
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            components: m
                .component_ids
                .iter()
                .filter_map(|id| names.get(id).cloned())
                .collect(),
        })
        .collect())
}

const PB: &str = "application/problem+json";

/// Unresolved incidents and those resolved in the last `days` days, newest first.
#[utoipa::path(get, path = "/api/v1/public/status/{slug}/incidents", tag = "status page",
    params(("slug" = String, Path, description = "the tenant's slug"),
           ("Status-Page-Password" = Option<String>, Header, description = "for a password-protected page"),
           HistoryQuery),
    responses((status = 200, description = "incidents, newest first", body = Vec<PublicIncident>),
              (status = 400, description = "malformed query", body = crate::rest::error::Problem, content_type = PB),
              (status = 401, description = "password-protected: wrong or missing password", body = crate::rest::error::Problem, content_type = PB),
              NoSuchPage, TooManyGuesses,
              (status = 422, description = "`days` out of range", body = crate::rest::error::Problem, content_type = PB)))]
pub(crate) async fn public_incidents(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
    visitor: Visitor,
) -> ApiResult<Json<Vec<PublicIncident>>> {
    let days = query.days(14)?;
    let tenant = readable_tenant(&state, &slug, &visitor).await?;
    let entry = state
        .status
        .entry(&state.db, &state.analytics, &tenant)
        .await?;
    Ok(Json(entry.history.incidents(days, Utc::now())))
}

/// Maintenance in progress or upcoming, and what completed in the last `days` days, soonest first.
#[utoipa::path(get, path = "/api/v1/public/status/{slug}/maintenances", tag = "status page",
    params(("slug" = String, Path, description = "the tenant's slug"),
           ("Status-Page-Password" = Option<String>, Header, description = "for a password-protected page"),
           HistoryQuery),
    responses((status = 200, description = "maintenance windows, soonest first", body = Vec<PublicMaintenance>),
              (status = 400, description = "malformed query", body = crate::rest::error::Problem, content_type = PB),
              (status = 401, description = "password-protected: wrong or missing password", body = crate::rest::error::Problem, content_type = PB),
              NoSuchPage, TooManyGuesses,
              (status = 422, description = "`days` out of range", body = crate::rest::error::Problem, content_type = PB)))]
pub(crate) async fn public_maintenances(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
    visitor: Visitor,
) -> ApiResult<Json<Vec<PublicMaintenance>>> {
    let days = query.days(7)?;
    let tenant = readable_tenant(&state, &slug, &visitor).await?;
    let entry = state
        .status
        .entry(&state.db, &state.analytics, &tenant)
        .await?;
    Ok(Json(entry.history.maintenances(days, Utc::now())))
}
