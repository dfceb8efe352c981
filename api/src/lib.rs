//! The API: Postgres model and services, the `/api/v1` router for tenants and automation, and the
//! internal endpoints the checkers call.

pub mod analytics;
pub mod auth;
pub mod channels;
pub mod checkers;
pub mod components;
pub mod config_io;
pub mod error;
pub mod incidents;
pub mod input;
pub mod limits;
pub mod maintenance;
pub mod members;
pub mod monitors;
pub mod openapi;
pub mod page_access;
pub mod public;
pub mod rest;
pub mod status;
pub mod status_pages;
pub mod subscribers;
pub mod tenancy;
pub mod tokens;
pub mod v1;
pub mod v1_notify;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use error::{ApiError, ApiJson, ApiPath, ApiResult};
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
    /// Each tenant's page visibility as last read, so access rules hold while PostgreSQL is down.
    page_access: Arc<std::sync::RwLock<std::collections::HashMap<Uuid, status_pages::PageAccess>>>,
    /// Resolver for custom-domain TXT lookups (`IP[:port]`); `None`: the system one.
    pub domain_resolver: Option<String>,
    /// The secret each region's checker signs with (`CHECKER_SECRETS`); every region without
    /// one of its own uses `config.checker_secret`.
    pub checker_secrets: Arc<checker::plan::CheckerSecrets>,
    /// The page-access cookie key and the password-guess limits ([`page_access::admit`]).
    pub page_gate: Arc<page_access::PageGate>,
}

impl AppState {
    pub fn new(db: PgPool, analytics: Analytics, config: ApiConfig) -> Self {
        let checker_secrets = Arc::new(checker::plan::CheckerSecrets::shared(
            config.checker_secret.clone(),
        ));
        Self {
            db,
            analytics,
            config: Arc::new(config),
            status: status::StatusCache::new(Duration::from_secs(10)),
            known_tenants: Arc::default(),
            domain_resolver: None,
            checker_secrets,
            page_access: Arc::default(),
            page_gate: Arc::new(page_access::PageGate::random()),
        }
    }

    /// Signs page-access cookies with `key` ([`page_access::load_cookie_secret`]) instead of
    /// the random per-process key [`AppState::new`] starts with.
    pub fn with_page_cookie_secret(mut self, key: &[u8]) -> Self {
        self.page_gate = Arc::new(page_access::PageGate::new(key));
        self
    }

    /// The page's visibility and password hash; the last known ones when PostgreSQL fails (a
    /// page never seen while the database is down is refused, not served).
    pub async fn page_access(&self, tenant_id: Uuid) -> ApiResult<status_pages::PageAccess> {
        match status_pages::page_access(&self.db, tenant_id).await {
            Ok(access) => {
                self.page_access
                    .write()
                    .expect("page access lock")
                    .insert(tenant_id, access.clone());
                Ok(access)
            }
            Err(e) => self
                .page_access
                .read()
                .expect("page access lock")
                .get(&tenant_id)
                .cloned()
                .ok_or(e),
        }
    }

    /// Per-region checker secrets (the shared one stays the default).
    pub fn with_checker_secrets(mut self, secrets: checker::plan::CheckerSecrets) -> Self {
        self.checker_secrets = Arc::new(secrets);
        self
    }

    pub fn with_domain_resolver(mut self, resolver: Option<String>) -> Self {
        self.domain_resolver = resolver;
        self
    }

    /// The tenant a `Host` serves: `<slug>.<base>` or a verified custom domain. `Ok(None)` for
    /// the platform's own hosts and for hosts nobody has claimed.
    pub async fn tenant_for_host(&self, host: &str) -> ApiResult<Option<tenancy::Tenant>> {
        match tenants::resolve_host(host, &self.config.base_domain) {
            tenants::Site::Platform => Ok(None),
            tenants::Site::Tenant(slug) => self.tenant_by_slug(&slug).await,
            site => match site.custom_domain() {
                None => Ok(None),
                Some(domain) => self.remembered(
                    &format!("domain:{domain}"),
                    status_pages::tenant_by_custom_domain(&self.db, domain).await,
                ),
            },
        }
    }

    /// Remembers what PostgreSQL answered for `key`; when it fails, answers the last known
    /// tenant so status pages stay up.
    fn remembered(
        &self,
        key: &str,
        answer: ApiResult<Option<tenancy::Tenant>>,
    ) -> ApiResult<Option<tenancy::Tenant>> {
        match answer {
            Ok(found) => {
                let mut known = self.known_tenants.write().expect("tenant cache lock");
                match &found {
                    Some(tenant) => known.insert(key.to_owned(), tenant.clone()),
                    None => known.remove(key),
                };
                Ok(found)
            }
            Err(e) => match self
                .known_tenants
                .read()
                .expect("tenant cache lock")
                .get(key)
            {
                Some(tenant) => {
                    tracing::warn!(site = key, error = %e, "PostgreSQL unreachable; using the last known tenant");
                    Ok(Some(tenant.clone()))
                }
                None => Err(e),
            },
        }
    }

    /// The tenant with this slug; when PostgreSQL fails, the last one seen (pages stay up).
    pub async fn tenant_by_slug(&self, slug: &str) -> ApiResult<Option<tenancy::Tenant>> {
        self.remembered(slug, tenancy::tenant_by_slug(&self.db, slug).await)
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
        .route("/api/v1/status", get(own_status))
        .route("/api/v1/public/status/{slug}", get(public_status))
        .route(checker::api_client::PLAN_PATH, get(checkers::plan_handler))
        .route(
            checker::api_client::RESULTS_PATH,
            post(checkers::results_handler),
        )
        .route("/api/v1/openapi.json", get(openapi::document))
        .merge(v1::routes())
        .merge(analytics::routes())
        .merge(public::routes())
        .merge(v1_notify::routes())
        .merge(config_io::routes())
        .merge(members::routes())
        .with_state(state)
}

/// Liveness of the API and its databases.
#[utoipa::path(get, path = "/api/v1/health", tag = "platform",
    responses((status = 200, description = "PostgreSQL answers; `clickhouse` says whether ClickHouse does", body = serde_json::Value),
              (status = 500, description = "PostgreSQL is unreachable", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn health(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    sqlx::query("SELECT 1").execute(&state.db).await?;
    let clickhouse = state.analytics.ping().await.is_ok();
    Ok(Json(
        serde_json::json!({ "status": "ok", "postgres": true, "clickhouse": clickhouse }),
    ))
}

/// Sign-up: a tenant, its owner and a first API token (shown once).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "platform", request_body = tenancy::NewTenant,
    responses((status = 201, description = "created", body = tenancy::CreatedTenant),
              (status = 400, description = "malformed JSON", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 403, description = "sign-up is closed on this deployment", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid input; `errors` names the fields", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 429, description = "too many sign-ups from this client address; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn create_tenant(
    State(state): State<AppState>,
    client: tenancy::SignupClient,
    ApiJson(input): ApiJson<tenancy::NewTenant>,
) -> ApiResult<(StatusCode, Json<tenancy::CreatedTenant>)> {
    if !state.config.open_signup {
        return Err(ApiError::Forbidden(
            "sign-up is closed on this deployment".into(),
        ));
    }
    let created = tenancy::create_tenant_limited(&state.db, &input, client.0).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The caller's own status snapshot, whatever the page's visibility.
#[utoipa::path(get, path = "/api/v1/status", tag = "status page", security(("bearer" = [])),
    responses((status = 200, description = "the snapshot", body = status::StatusSnapshot),
              (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json")))]
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

/// A tenant's public status snapshot, honouring the page's visibility.
#[utoipa::path(get, path = "/api/v1/public/status/{slug}", tag = "status page",
    params(("slug" = String, Path, description = "the tenant's slug"),
           ("Status-Page-Password" = Option<String>, Header, description = "for a password-protected page")),
    responses((status = 200, description = "the snapshot", body = status::StatusSnapshot),
              (status = 401, description = "password-protected: wrong or missing password (or page-access cookie)", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "no such page, or a private one", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 429, description = "too many password attempts for the page or from this client; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn public_status(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    visitor: page_access::Visitor,
) -> ApiResult<Json<status::StatusSnapshot>> {
    let tenant = state
        .tenant_by_slug(&slug)
        .await?
        .ok_or(ApiError::NotFound("status page"))?;
    page_access::admit(&state, tenant.id, &visitor).await?;
    let snapshot = state
        .status
        .get(&state.db, &state.analytics, &tenant)
        .await?;
    // Visitors get each failure's kind, never its detail.
    Ok(Json(snapshot.for_visitors()))
}
