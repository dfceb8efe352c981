//! `GET /api/v1/monitors/{id}/health`: what the latest health document of an HTTP monitor with
//! `health` said in each region (its dependencies, their statuses and timings, and the document
//! itself, bounded), kept from every result by the fast path.

use crate::accounts::auth::ApiTenant;
use crate::monitors;
use crate::rest::error::{ApiPath, ApiResult};
use crate::rest::responses::{MalformedRequest, NeedsToken, NotFound};
use crate::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use checker::health::HealthReport;
use checker::spec::MonitorSpec;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/monitors/{id}/health", get(monitor_health))
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct MonitorHealth {
    pub monitor_id: Uuid,
    /// Whether the monitor reads a health document (an HTTP monitor with `health`).
    pub reads_health_document: bool,
    /// One entry per region that checked it, by region.
    pub regions: Vec<RegionHealth>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct RegionHealth {
    pub region: String,
    pub checked_at: DateTime<Utc>,
    /// The check's status in that region (`up`, `degraded`, `down`).
    pub status: String,
    /// Why it is not up; a failing dependency is named.
    pub error: Option<String>,
    /// The document's shape, overall status and dependencies; `null` when the last answer
    /// was not a health document.
    pub report: Option<HealthReport>,
    /// The document's first 16 KiB, as received.
    pub document: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/monitors/{id}/health",
    tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "monitor id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the latest health document of each region", body = MonitorHealth),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn monitor_health(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<MonitorHealth>> {
    // 404 for another tenant's monitor.
    let monitor = monitors::get(&state.db, who.tenant_id, id).await?;
    type Row = (
        String,
        DateTime<Utc>,
        String,
        Option<String>,
        Option<sqlx::types::Json<HealthReport>>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.region, s.last_checked_at, s.status, s.last_error, s.detail -> 'health', \
           s.detail ->> 'health_document' \
         FROM monitor_region_state s JOIN monitors m ON m.id = s.monitor_id \
         WHERE m.tenant_id = $1 AND m.id = $2 ORDER BY s.region",
    )
    .bind(who.tenant_id)
    .bind(id)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(MonitorHealth {
        monitor_id: id,
        reads_health_document: matches!(&monitor.spec, MonitorSpec::Http(h) if h.health.is_some()),
        regions: rows
            .into_iter()
            .map(
                |(region, checked_at, status, error, report, document)| RegionHealth {
                    region,
                    checked_at,
                    status,
                    error,
                    report: report.map(|r| r.0),
                    document,
                },
            )
            .collect(),
    }))
}
