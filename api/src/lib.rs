//! The API: Postgres model and services, the `/api/v1` router for tenants and automation, and the
//! internal endpoints the checkers call.

pub mod accounts;
pub mod alerts;
pub mod channels;
pub mod checkers;
pub mod components;
pub mod config;
pub mod custom_metrics;
pub mod engine;
pub mod heartbeats;
pub mod incidents;
pub mod maintenance;
pub mod metrics;
pub mod monitors;
pub mod notify;
pub mod openapi;
pub mod outbox;
pub mod rest;
pub mod status_page;
pub mod subscribers;

use accounts::tenancy::Tenant;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use rest::error::ApiResult;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use statuspage_clickhouse::Analytics;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long the public gate trusts what it last read of a tenant and its page's access rule
/// without asking PostgreSQL again. A change announced over `NOTIFY` ([`AppState::forget_page`])
/// ends it at once; this bounds staleness when the announcement is missed.
pub const GATE_FRESH_FOR: Duration = Duration::from_secs(5);

/// When tenants' pages were announced as changed, for the last [`GATE_FRESH_FOR`] at least
/// (older entries cannot make anything stale: every read before them has expired anyway).
#[derive(Default)]
struct PageChanges {
    at: std::collections::HashMap<Uuid, std::time::Instant>,
    /// Prune when the map reaches this size; doubling it keeps the pruning amortised O(1).
    prune_at: usize,
}

impl PageChanges {
    const MIN_PRUNE_AT: usize = 1024;

    fn record(&mut self, tenant: Uuid) {
        if self.at.len() >= self.prune_at.max(Self::MIN_PRUNE_AT) {
            self.at.retain(|_, t| t.elapsed() < GATE_FRESH_FOR);
            self.prune_at = (self.at.len() * 2).max(Self::MIN_PRUNE_AT);
        }
        self.at.insert(tenant, std::time::Instant::now());
    }

    /// Whether a change to `tenant`'s page was announced at or after `read_at`.
    fn since(&self, tenant: Uuid, read_at: std::time::Instant) -> bool {
        self.at.get(&tenant).is_some_and(|t| *t >= read_at)
    }
}

/// A value as last read, and when (`None`: announced as changed since).
#[derive(Clone)]
struct Remembered<T> {
    value: T,
    read_at: Option<std::time::Instant>,
}

impl<T: Clone> Remembered<T> {
    fn now(value: T) -> Self {
        Self {
            value,
            read_at: Some(std::time::Instant::now()),
        }
    }

    fn fresh(&self) -> Option<T> {
        self.read_at
            .filter(|t| t.elapsed() < GATE_FRESH_FOR)
            .map(|_| self.value.clone())
    }
}

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
    pub status: status_page::snapshot::StatusCache,
    /// Tenants seen by slug or domain, when read: answered without a query for
    /// [`GATE_FRESH_FOR`], and while PostgreSQL is unreachable (pages stay up).
    known_tenants: Arc<std::sync::RwLock<std::collections::HashMap<String, Remembered<Tenant>>>>,
    /// When each tenant's page was last announced as changed: a tenant in `known_tenants` read
    /// before that is stale. Kept by tenant id so an announcement costs one insert, not a walk
    /// over every remembered slug and domain.
    page_changed: Arc<std::sync::RwLock<PageChanges>>,
    /// Each tenant's page visibility as last read, the same way: access rules hold while
    /// PostgreSQL is down, and a busy page costs no query per request.
    page_access: Arc<
        std::sync::RwLock<
            std::collections::HashMap<Uuid, Remembered<status_page::access::PageAccess>>,
        >,
    >,
    /// Resolver for custom-domain TXT lookups (`IP[:port]`); `None`: the system one.
    pub domain_resolver: Option<String>,
    /// The secret each region's checker signs with (`CHECKER_SECRETS`); every region without
    /// one of its own uses `config.checker_secret`.
    pub checker_secrets: Arc<checker::plan::CheckerSecrets>,
    /// The page-access cookie key and the password-guess limits ([`status_page::access::admit`]).
    pub page_gate: Arc<status_page::access::PageGate>,
    /// The deployment's mail server (`STATUSPAGE_SMTP_URL`); `None`: email is not configured.
    pub smtp: Option<notify::email::SmtpSettings>,
    /// The SSRF guard alert deliveries and channel URLs pass (`CHECKER_ALLOW_CIDRS`, the same
    /// allow-list as the checks); strict unless the deployment allows more.
    pub delivery_guard: checker::guard::SsrfGuard,
    /// How the engine asks other regions to check a failing monitor at once.
    pub recheck: Arc<dyn engine::dispatch::Recheck>,
    /// Where people reach the platform (`STATUSPAGE_PUBLIC_URL`, e.g. `https://status.example`):
    /// the start of every link in account mail. Configured, never taken from a request's `Host`
    /// (a forged Host would send someone's reset link to another site).
    pub platform_url: Arc<str>,
    /// The public subscribe form's limits per client and per tenant, one per app server.
    pub subscribe_limits: Arc<subscribers::public::SubscribeLimits>,
    /// This server's own metrics (`METRICS_ADDR`).
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    pub fn new(db: PgPool, analytics: Analytics, config: ApiConfig) -> Self {
        let platform_url = format!("http://{}", config.base_domain).into();
        let checker_secrets = Arc::new(checker::plan::CheckerSecrets::shared(
            config.checker_secret.clone(),
        ));
        Self {
            db,
            analytics,
            config: Arc::new(config),
            status: status_page::snapshot::StatusCache::new(Duration::from_secs(10)),
            known_tenants: Arc::default(),
            page_changed: Arc::default(),
            domain_resolver: None,
            checker_secrets,
            page_access: Arc::default(),
            page_gate: Arc::new(status_page::access::PageGate::random()),
            smtp: None,
            delivery_guard: checker::guard::SsrfGuard::strict(),
            recheck: Arc::new(engine::dispatch::NoRecheck),
            platform_url,
            subscribe_limits: Arc::default(),
            metrics: Arc::default(),
        }
    }

    /// Signs page-access cookies with `key` ([`status_page::access::load_cookie_secret`]) instead of
    /// the random per-process key [`AppState::new`] starts with.
    pub fn with_page_cookie_secret(mut self, key: &[u8]) -> Self {
        self.page_gate = Arc::new(status_page::access::PageGate::new(key));
        self
    }

    /// The page's visibility and password hash; the last known ones when PostgreSQL fails (a
    /// page never seen while the database is down is refused, not served).
    pub async fn page_access(&self, tenant_id: Uuid) -> ApiResult<status_page::access::PageAccess> {
        let fresh = self
            .page_access
            .read()
            .expect("page access lock")
            .get(&tenant_id)
            .and_then(Remembered::fresh);
        if let Some(access) = fresh {
            return Ok(access);
        }
        match status_page::access::page_access(&self.db, tenant_id).await {
            Ok(access) => {
                self.page_access
                    .write()
                    .expect("page access lock")
                    .insert(tenant_id, Remembered::now(access.clone()));
                Ok(access)
            }
            Err(e) => self
                .page_access
                .read()
                .expect("page access lock")
                .get(&tenant_id)
                .map(|r| r.value.clone())
                .ok_or(e),
        }
    }

    /// Forgets how fresh the tenant's page settings and host mapping are (a change was
    /// announced): the next request reads them again. The values stay as the fallback for
    /// when PostgreSQL is down.
    pub fn forget_page(&self, tenant_id: Uuid) {
        if let Some(r) = self
            .page_access
            .write()
            .expect("page access lock")
            .get_mut(&tenant_id)
        {
            r.read_at = None;
        }
        self.page_changed
            .write()
            .expect("page change lock")
            .record(tenant_id);
    }

    /// The tenant last read for `key` while it is fresh ([`GATE_FRESH_FOR`]) and no change to
    /// its page was announced since.
    fn fresh_tenant(&self, key: &str) -> Option<Tenant> {
        let (tenant, read_at) = {
            let known = self.known_tenants.read().expect("tenant cache lock");
            let remembered = known.get(key)?;
            (remembered.fresh()?, remembered.read_at?)
        };
        let changed = self
            .page_changed
            .read()
            .expect("page change lock")
            .since(tenant.id, read_at);
        (!changed).then_some(tenant)
    }

    /// Per-region checker secrets (the shared one stays the default).
    pub fn with_checker_secrets(mut self, secrets: checker::plan::CheckerSecrets) -> Self {
        self.checker_secrets = Arc::new(secrets);
        self
    }

    /// Sends email alerts through `smtp` ([`notify::email::SmtpSettings::from_env_values`]).
    pub fn with_smtp(mut self, smtp: Option<notify::email::SmtpSettings>) -> Self {
        self.smtp = smtp;
        self
    }

    /// Delivers alerts (and checks channel URLs) with `guard` instead of the strict one.
    pub fn with_delivery_guard(mut self, guard: checker::guard::SsrfGuard) -> Self {
        self.delivery_guard = guard;
        self
    }

    /// Dispatches the engine's re-checks through `recheck` (the local runner or Lambda).
    /// Links in account mail start with `url` (no trailing slash needed).
    pub fn with_platform_url(mut self, url: &str) -> Self {
        self.platform_url = url.trim_end_matches('/').into();
        self
    }

    pub fn with_recheck(mut self, recheck: Arc<dyn engine::dispatch::Recheck>) -> Self {
        self.recheck = recheck;
        self
    }

    pub fn with_domain_resolver(mut self, resolver: Option<String>) -> Self {
        self.domain_resolver = resolver;
        self
    }

    /// The tenant a `Host` serves: `<slug>.<base>` or a verified custom domain. `Ok(None)` for
    /// the platform's own hosts and for hosts nobody has claimed.
    pub async fn tenant_for_host(&self, host: &str) -> ApiResult<Option<Tenant>> {
        match tenants::resolve_host(host, &self.config.base_domain) {
            tenants::Site::Platform => Ok(None),
            tenants::Site::Tenant(slug) => self.tenant_by_slug(&slug).await,
            site => match site.custom_domain() {
                None => Ok(None),
                Some(domain) => {
                    let key = format!("domain:{domain}");
                    if let Some(tenant) = self.fresh_tenant(&key) {
                        return Ok(Some(tenant));
                    }
                    self.remembered(
                        &key,
                        status_page::domains::tenant_by_custom_domain(&self.db, domain).await,
                    )
                }
            },
        }
    }

    /// Remembers what PostgreSQL answered for `key`; when it fails, answers the last known
    /// tenant so status pages stay up.
    fn remembered(
        &self,
        key: &str,
        answer: ApiResult<Option<Tenant>>,
    ) -> ApiResult<Option<Tenant>> {
        match answer {
            Ok(found) => {
                let mut known = self.known_tenants.write().expect("tenant cache lock");
                match &found {
                    Some(tenant) => known.insert(key.to_owned(), Remembered::now(tenant.clone())),
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
                Some(known) => {
                    tracing::warn!(site = key, error = %e, "PostgreSQL unreachable; using the last known tenant");
                    Ok(Some(known.value.clone()))
                }
                None => Err(e),
            },
        }
    }

    /// The tenant with this slug; when PostgreSQL fails, the last one seen (pages stay up).
    pub async fn tenant_by_slug(&self, slug: &str) -> ApiResult<Option<Tenant>> {
        if let Some(tenant) = self.fresh_tenant(slug) {
            return Ok(Some(tenant));
        }
        self.remembered(
            slug,
            accounts::tenancy::tenant_by_slug(&self.db, slug).await,
        )
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
        .route("/api/v1/openapi.json", get(openapi::document))
        .merge(monitors::routes())
        .merge(heartbeats::routes())
        .merge(components::routes())
        .merge(custom_metrics::routes())
        .merge(incidents::routes())
        .merge(engine::routes())
        .merge(maintenance::routes())
        .merge(rest::audit_log::routes::<accounts::auth::ApiTenant>())
        .merge(status_page::routes())
        .merge(subscribers::routes())
        .merge(channels::routes())
        .merge(alerts::routes())
        .merge(outbox::routes())
        .merge(config::routes())
        .merge(checkers::routes())
        .merge(accounts::routes())
        .with_state(state)
}

/// Liveness of the API and its databases.
#[utoipa::path(get, path = "/api/v1/health", tag = "platform",
    responses((status = 200, description = "PostgreSQL answers; `clickhouse` says whether ClickHouse does", body = serde_json::Value),
              (status = 500, description = "PostgreSQL is unreachable", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
async fn health(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    sqlx::query("SELECT 1").execute(&state.db).await?;
    let clickhouse = state.analytics.ping().await.is_ok();
    Ok(Json(
        serde_json::json!({ "status": "ok", "postgres": true, "clickhouse": clickhouse }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_change_makes_only_earlier_reads_stale() {
        let mut changes = PageChanges::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let before = std::time::Instant::now();
        changes.record(a);
        let after = std::time::Instant::now();
        assert!(changes.since(a, before));
        assert!(!changes.since(a, after + Duration::from_millis(1)));
        assert!(!changes.since(b, before), "another tenant is untouched");
    }

    #[test]
    fn page_changes_stay_bounded_under_a_flood_of_tenants() {
        let mut changes = PageChanges::default();
        for _ in 0..10_000 {
            changes.record(Uuid::new_v4());
        }
        // All recent, so none may be pruned; the threshold grows with the map instead of
        // pruning on every record.
        assert_eq!(changes.at.len(), 10_000);
        assert!(
            changes.prune_at >= changes.at.len() / 2,
            "{}",
            changes.prune_at
        );
        let old = std::time::Instant::now() - GATE_FRESH_FOR - Duration::from_secs(1);
        for t in changes.at.values_mut() {
            *t = old;
        }
        let threshold = changes.prune_at.max(PageChanges::MIN_PRUNE_AT);
        for _ in 0..=(threshold - changes.at.len()) {
            changes.record(Uuid::new_v4());
        }
        assert!(
            changes.at.len() <= threshold - 10_000 + 1,
            "expired entries are pruned: {}",
            changes.at.len()
        );
    }
}
