//! The API: Postgres model and services, the `/api/v1` router for tenants and automation, and the
//! internal endpoints the checkers call.

pub mod auth;
pub mod checkers;
pub mod components;
pub mod error;
pub mod monitors;
pub mod status;
pub mod tenancy;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use error::{ApiError, ApiJson, ApiResult};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use statuspage_clickhouse::Analytics;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Settings the API needs at run time (read from the environment by the binary).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Status pages live at `<slug>.<base_domain>`.
    pub base_domain: String,
    /// Shared secret that signs the checkers' internal requests.
    pub checker_secret: String,
    /// Regions this deployment checks from; monitors may pick among them.
    pub regions: Vec<String>,
    /// Whether sign-up over the public API is open.
    pub open_signup: bool,
}

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub analytics: Analytics,
    pub config: Arc<ApiConfig>,
    pub status: status::StatusCache,
    /// Tenants seen by slug, so status pages resolve while PostgreSQL is unreachable.
    known_tenants: Arc<std::sync::RwLock<std::collections::HashMap<String, tenancy::Tenant>>>,
}

impl AppState {
    pub fn new(db: PgPool, analytics: Analytics, config: ApiConfig) -> Self {
        Self {
            db,
            analytics,
            config: Arc::new(config),
            status: status::StatusCache::new(Duration::from_secs(10)),
            known_tenants: Arc::default(),
        }
    }

    /// The tenant with this slug; when PostgreSQL fails, the last one seen (pages stay up).
    pub async fn tenant_by_slug(&self, slug: &str) -> ApiResult<Option<tenancy::Tenant>> {
        match tenancy::tenant_by_slug(&self.db, slug).await {
            Ok(found) => {
                let mut known = self.known_tenants.write().expect("tenant cache lock");
                match &found {
                    Some(tenant) => known.insert(slug.to_owned(), tenant.clone()),
                    None => known.remove(slug),
                };
                Ok(found)
            }
            Err(e) => match self
                .known_tenants
                .read()
                .expect("tenant cache lock")
                .get(slug)
            {
                Some(tenant) => {
                    tracing::warn!(tenant = slug, error = %e, "PostgreSQL unreachable; using the last known tenant");
                    Ok(Some(tenant.clone()))
                }
                None => Err(e),
            },
        }
    }
}

/// Connects to Postgres and applies pending migrations.
pub async fn connect_db(url: &str) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to DATABASE_URL: {e}"))?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("applying Postgres migrations: {e}"))?;
    Ok(pool)
}

/// `/api/v1` and `/internal/v1`, ready to be nested in the app server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/tenants", post(create_tenant))
        .route("/api/v1/monitors", post(create_monitor).get(list_monitors))
        .route(
            "/api/v1/monitors/{id}",
            get(get_monitor).delete(delete_monitor),
        )
        .route(
            "/api/v1/components",
            post(create_component).get(list_components),
        )
        .route("/api/v1/status", get(own_status))
        .route("/api/v1/public/status/{slug}", get(public_status))
        .route(checker::api_client::PLAN_PATH, get(checkers::plan_handler))
        .route(
            checker::api_client::RESULTS_PATH,
            post(checkers::results_handler),
        )
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    sqlx::query("SELECT 1").execute(&state.db).await?;
    let clickhouse = state.analytics.ping().await.is_ok();
    Ok(Json(
        serde_json::json!({ "status": "ok", "postgres": true, "clickhouse": clickhouse }),
    ))
}

async fn create_tenant(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<tenancy::NewTenant>,
) -> ApiResult<(StatusCode, Json<tenancy::CreatedTenant>)> {
    if !state.config.open_signup {
        return Err(ApiError::Unauthorized(
            "sign-up is closed on this deployment",
        ));
    }
    let created = tenancy::create_tenant(&state.db, &input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn create_monitor(
    State(state): State<AppState>,
    who: auth::ApiTenant,
    ApiJson(input): ApiJson<monitors::MonitorInput>,
) -> ApiResult<(StatusCode, Json<monitors::Monitor>)> {
    let monitor = monitors::create(&state.db, who.tenant_id, &input, &state.config.regions).await?;
    state.status.invalidate(who.tenant_id);
    Ok((StatusCode::CREATED, Json(monitor)))
}

async fn list_monitors(
    State(state): State<AppState>,
    who: auth::ApiTenant,
) -> ApiResult<Json<Vec<monitors::Monitor>>> {
    Ok(Json(monitors::list(&state.db, who.tenant_id).await?))
}

async fn get_monitor(
    State(state): State<AppState>,
    who: auth::ApiTenant,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<monitors::Monitor>> {
    Ok(Json(monitors::get(&state.db, who.tenant_id, id).await?))
}

async fn delete_monitor(
    State(state): State<AppState>,
    who: auth::ApiTenant,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    monitors::delete(&state.db, who.tenant_id, id).await?;
    state.status.invalidate(who.tenant_id);
    Ok(StatusCode::NO_CONTENT)
}

async fn create_component(
    State(state): State<AppState>,
    who: auth::ApiTenant,
    ApiJson(input): ApiJson<components::ComponentInput>,
) -> ApiResult<(StatusCode, Json<components::Component>)> {
    let component = components::create(&state.db, who.tenant_id, &input).await?;
    Ok((StatusCode::CREATED, Json(component)))
}

async fn list_components(
    State(state): State<AppState>,
    who: auth::ApiTenant,
) -> ApiResult<Json<Vec<components::Component>>> {
    Ok(Json(components::list(&state.db, who.tenant_id).await?))
}

async fn own_status(
    State(state): State<AppState>,
    who: auth::ApiTenant,
) -> ApiResult<Json<status::StatusSnapshot>> {
    let tenant = sqlx::query_as::<_, (Uuid, String, String)>(
        "SELECT id, slug, name FROM tenants WHERE id = $1",
    )
    .bind(who.tenant_id)
    .fetch_one(&state.db)
    .await?;
    let tenant = tenancy::Tenant {
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

async fn public_status(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<Json<status::StatusSnapshot>> {
    let tenant = state
        .tenant_by_slug(&slug)
        .await?
        .ok_or(ApiError::NotFound("status page"))?;
    let snapshot = state
        .status
        .get(&state.db, &state.analytics, &tenant)
        .await?;
    Ok(Json((*snapshot).clone()))
}
