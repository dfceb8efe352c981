//! Every tenant's rendered site in this server: served at once, rebuilt in the background (one
//! rebuild per tenant at a time), kept on disk, bounded in memory.

use super::disk::{self, Kept};
use super::{RenderConfig, RenderedSite};
use crate::public::model::{self, PageModel};
use api::accounts::tenancy::Tenant;
use api::rest::error::{ApiError, ApiResult};
use api::status_page::Visibility;
use api::AppState;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Tenants whose renders are kept in memory; beyond it (or beyond [`MAX_BYTES_IN_MEMORY`]) the
/// least recently requested one is dropped (its model stays on disk and is rendered again when
/// asked for).
pub const MAX_SITES_IN_MEMORY: usize = 1000;
/// Bytes of rendered files (every coding) kept in memory, all tenants together. The sample page
/// with per-region detail holds about 1.5 MB (94 files).
pub const MAX_BYTES_IN_MEMORY: usize = 512 * 1024 * 1024;
/// A failed rebuild is tried again after this long (not on every request).
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How a tenant's model is gathered: [`model::load`], or another source in tests.
pub type Loader = Arc<
    dyn Fn(AppState, Tenant) -> Pin<Box<dyn Future<Output = ApiResult<PageModel>> + Send>>
        + Send
        + Sync,
>;

fn default_loader() -> Loader {
    Arc::new(|app, tenant| Box::pin(async move { model::load(&app, &tenant).await }))
}

struct Slot {
    site: Option<Arc<RenderedSite>>,
    /// When the current render's model was loaded; `None` for one read from disk (rebuilt on
    /// its first request).
    built: Option<Instant>,
    /// A change was announced since the model was loaded.
    changed: bool,
    failed_at: Option<Instant>,
    /// A rebuild is running or spawned.
    building: bool,
    /// Held by whoever rebuilds.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// For eviction: the request counter when it was last asked for.
    used: u64,
    /// The tenant as the last request named it, for rebuilds nobody asked for (announced
    /// changes).
    tenant: Option<Tenant>,
}

impl Slot {
    fn new() -> Self {
        Self {
            site: None,
            built: None,
            changed: false,
            failed_at: None,
            building: false,
            lock: Arc::default(),
            used: 0,
            tenant: None,
        }
    }

    fn due(&self, ttl: Duration) -> bool {
        let old = self.changed || self.built.is_none_or(|b| b.elapsed() >= ttl);
        old && !self.building && self.failed_at.is_none_or(|f| f.elapsed() >= RETRY_AFTER)
    }
}

#[derive(Default)]
struct State {
    slots: HashMap<Uuid, Slot>,
    /// Host → tenant, from every render and every kept model.
    hosts: HashMap<String, Uuid>,
    /// Models kept on disk, by tenant.
    kept: HashMap<Uuid, Kept>,
}

struct Inner {
    config: RenderConfig,
    loader: Loader,
    state: Mutex<State>,
    requests: AtomicU64,
    rebuilds: AtomicU64,
    /// The change listener could not reach PostgreSQL the last time it tried.
    database_down: std::sync::atomic::AtomicBool,
}

/// Every tenant's rendered site in this server.
#[derive(Clone)]
pub struct PublicSite {
    inner: Arc<Inner>,
}

/// `demo.localhost:3000.` → `demo.localhost`.
fn bare_host(host: &str) -> String {
    let host = host.trim();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => host,
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl PublicSite {
    pub fn new(config: RenderConfig) -> Self {
        Self::with_loader(config, default_loader())
    }

    /// A store whose models come from `loader` (tests); reads the kept models of
    /// [`RenderConfig::dir`] at once.
    pub fn with_loader(config: RenderConfig, loader: Loader) -> Self {
        let mut state = State::default();
        if let Some(dir) = &config.dir {
            for kept in disk::scan(dir) {
                for host in &kept.hosts {
                    state.hosts.insert(bare_host(host), kept.tenant_id);
                }
                state.kept.insert(kept.tenant_id, kept);
            }
        }
        Self {
            inner: Arc::new(Inner {
                config,
                loader,
                state: Mutex::new(state),
                requests: AtomicU64::new(0),
                rebuilds: AtomicU64::new(0),
                database_down: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    pub fn config(&self) -> &RenderConfig {
        &self.inner.config
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().expect("public site lock")
    }

    /// Whether the change listener ([`super::run_change_listener`]) last failed to reach
    /// PostgreSQL: a gate may then answer public pages from [`Self::offline`] at once instead of
    /// waiting for the pool's connect timeout on every request.
    pub fn database_down(&self) -> bool {
        self.inner.database_down.load(Ordering::Relaxed)
    }

    /// Set by the change listener as it loses and finds PostgreSQL, and at start when the
    /// server starts without it.
    pub fn set_database_down(&self, down: bool) {
        self.inner.database_down.store(down, Ordering::Relaxed);
    }

    /// Rebuilds started (all tenants), for tests and logs.
    pub fn rebuilds(&self) -> u64 {
        self.inner.rebuilds.load(Ordering::Relaxed)
    }

    /// Tenants with a render in memory.
    pub fn in_memory(&self) -> usize {
        self.state()
            .slots
            .values()
            .filter(|s| s.site.is_some())
            .count()
    }

    /// How old the oldest page in memory is (its model's age: a page read from disk is as old
    /// as when it was made), for the metrics.
    pub fn oldest_in_memory(&self) -> Option<Duration> {
        let now = chrono::Utc::now();
        self.state()
            .slots
            .values()
            .filter_map(|s| s.site.as_ref())
            .map(|site| (now - site.model_generated_at).to_std().unwrap_or_default())
            .max()
    }

    /// Tenants whose model is kept on disk (read at start or written since).
    pub fn kept_on_disk(&self) -> usize {
        self.state().kept.len()
    }

    /// The rendered site of `tenant`: the current one (a rebuild starts in the background when
    /// it is older than the TTL or a change was announced), or a fresh render when there is
    /// none yet. Fails only when there is nothing to show.
    pub async fn site(&self, app: &AppState, tenant: &Tenant) -> ApiResult<Arc<RenderedSite>> {
        let used = self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let ttl = self.inner.config.ttl;
        let (current, refresh, lock) = {
            let mut state = self.state();
            let slot = state.slots.entry(tenant.id).or_insert_with(Slot::new);
            slot.used = used;
            slot.tenant = Some(tenant.clone());
            let refresh = slot.site.is_some() && slot.due(ttl);
            if refresh {
                slot.building = true;
            }
            (slot.site.clone(), refresh, slot.lock.clone())
        };
        if let Some(site) = current {
            if refresh {
                self.spawn_rebuild(app.clone(), tenant.clone());
            }
            return Ok(site);
        }
        // Nothing in memory: the model kept on disk answers at once (and is rebuilt).
        if let Some(site) = self.kept_render(tenant.id).await {
            if self.claim(tenant.id) {
                self.spawn_rebuild(app.clone(), tenant.clone());
            }
            return Ok(site);
        }
        // Nothing at all: this request waits for the first render (and the others behind it).
        let guard = lock.lock_owned().await;
        {
            let mut state = self.state();
            let slot = state.slots.entry(tenant.id).or_insert_with(Slot::new);
            if let Some(site) = &slot.site {
                return Ok(site.clone());
            }
            if slot.failed_at.is_some_and(|f| f.elapsed() < RETRY_AFTER) {
                return Err(ApiError::Internal(
                    "public site: the first render failed; retrying shortly".into(),
                ));
            }
            slot.building = true;
        }
        self.rebuild(app, tenant, guard).await
    }

    /// Marks a rebuild of `tenant_id` as started; false when one is already running.
    fn claim(&self, tenant_id: Uuid) -> bool {
        let mut state = self.state();
        let Some(slot) = state.slots.get_mut(&tenant_id) else {
            return false;
        };
        if slot.building || slot.failed_at.is_some_and(|f| f.elapsed() < RETRY_AFTER) {
            return false;
        }
        slot.building = true;
        true
    }

    /// Rebuilds `tenant` in the background; the caller has set its `building` flag (which
    /// every rebuild clears when it ends).
    fn spawn_rebuild(&self, app: AppState, tenant: Tenant) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let lock = this.state().slots.get(&tenant.id).map(|s| s.lock.clone());
                let Some(lock) = lock else {
                    return; // evicted meanwhile
                };
                let guard = lock.lock_owned().await;
                let _ = this.rebuild(&app, &tenant, guard).await;
                // A change announced while it ran: once more.
                let mut state = this.state();
                match state.slots.get_mut(&tenant.id) {
                    Some(slot) if slot.changed && slot.due(Duration::MAX) => slot.building = true,
                    _ => return,
                }
            }
        });
    }

    /// Loads the model, renders it and keeps it. Clears the `building` flag.
    async fn rebuild(
        &self,
        app: &AppState,
        tenant: &Tenant,
        _guard: tokio::sync::OwnedMutexGuard<()>,
    ) -> ApiResult<Arc<RenderedSite>> {
        self.inner.rebuilds.fetch_add(1, Ordering::Relaxed);
        let announced = {
            let mut state = self.state();
            let slot = state.slots.entry(tenant.id).or_insert_with(Slot::new);
            std::mem::take(&mut slot.changed)
        };
        if announced {
            // The snapshot the model reads must be rebuilt too.
            app.status.invalidate(tenant.id);
        }
        let loaded = (self.inner.loader)(app.clone(), tenant.clone()).await;
        let model = match loaded {
            Ok(model) => model,
            Err(e) => {
                tracing::warn!(tenant = %tenant.id, error = %e, "rebuilding the public site failed; the previous render stays");
                let mut state = self.state();
                let slot = state.slots.entry(tenant.id).or_insert_with(Slot::new);
                slot.failed_at = Some(Instant::now());
                slot.building = false;
                slot.changed |= announced;
                return Err(e);
            }
        };
        let previous = self
            .state()
            .slots
            .get(&tenant.id)
            .and_then(|s| s.site.clone());
        let rendered =
            tokio::task::spawn_blocking(move || RenderedSite::render(model, previous.as_deref()))
                .await;
        let site = match rendered {
            Ok(site) => Arc::new(site),
            Err(e) => {
                let mut state = self.state();
                if let Some(slot) = state.slots.get_mut(&tenant.id) {
                    slot.failed_at = Some(Instant::now());
                    slot.building = false;
                    slot.changed |= announced;
                }
                return Err(ApiError::Internal(format!("public site render: {e}")));
            }
        };
        tracing::debug!(tenant = %tenant.id, files = site.stats().files, reused = site.stats().reused, micros = site.stats().micros, "public site rendered");
        self.install(site.clone(), Some(Instant::now()));
        if let Some(dir) = self.inner.config.dir.clone() {
            // Figure-less models (ClickHouse away) do not replace a good one on disk.
            if !site.stale() {
                let this = self.clone();
                let written = site.clone();
                let result = tokio::task::spawn_blocking(move || {
                    disk::write_with_body(&dir, written.model()).map(|(kept, body)| {
                        this.remember_kept(kept);
                        body
                    })
                })
                .await;
                match result {
                    Ok(Ok(body)) => {
                        // Awaited under the rebuild's lock: puts of one tenant never cross.
                        if let Some(keep) = &self.inner.config.bucket {
                            super::bucket::put(keep, tenant.id, body).await;
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(tenant = %tenant.id, error = %e, "keeping the render on disk failed")
                    }
                    Err(e) => {
                        tracing::warn!(tenant = %tenant.id, error = %e, "keeping the render on disk failed")
                    }
                }
            }
        }
        Ok(site)
    }

    fn remember_kept(&self, kept: Kept) {
        let mut state = self.state();
        for host in &kept.hosts {
            state.hosts.insert(bare_host(host), kept.tenant_id);
        }
        state.kept.insert(kept.tenant_id, kept);
    }

    /// Makes `site` its tenant's current render; drops the least recently requested tenants
    /// beyond [`MAX_SITES_IN_MEMORY`].
    fn install(&self, site: Arc<RenderedSite>, built: Option<Instant>) {
        let mut state = self.state();
        for host in &site.hosts {
            state.hosts.insert(bare_host(host), site.tenant_id);
        }
        let used = self.inner.requests.load(Ordering::Relaxed);
        let slot = state.slots.entry(site.tenant_id).or_insert_with(|| Slot {
            used,
            ..Slot::new()
        });
        slot.site = Some(site.clone());
        slot.built = built;
        if built.is_some() {
            slot.failed_at = None;
            slot.building = false;
        }
        let held = |state: &State| -> usize {
            state
                .slots
                .values()
                .filter_map(|s| s.site.as_ref())
                .map(|s| s.stats().bytes)
                .sum()
        };
        while state.slots.len() > MAX_SITES_IN_MEMORY || held(&state) > MAX_BYTES_IN_MEMORY {
            let victim = state
                .slots
                .iter()
                .filter(|(id, s)| **id != site.tenant_id && !s.building)
                .min_by_key(|(_, s)| s.used)
                .map(|(id, _)| *id);
            match victim {
                Some(id) => {
                    state.slots.remove(&id);
                }
                None => break,
            }
        }
    }

    /// The model of `tenant_id` kept on disk, rendered as stale (it says how old it is).
    async fn kept_render(&self, tenant_id: Uuid) -> Option<Arc<RenderedSite>> {
        let kept = self.state().kept.get(&tenant_id)?.clone();
        let site = tokio::task::spawn_blocking(move || disk::render_kept(&kept))
            .await
            .ok()??;
        Some(self.install_kept(site))
    }

    /// Installs a render of a kept model unless a render arrived meanwhile.
    fn install_kept(&self, site: RenderedSite) -> Arc<RenderedSite> {
        let existing = self
            .state()
            .slots
            .get(&site.tenant_id)
            .and_then(|s| s.site.clone());
        if let Some(existing) = existing {
            return existing;
        }
        let site = Arc::new(site);
        self.install(site.clone(), None);
        site
    }

    /// The kept render of a host (`demo.localhost`, a custom domain), for when PostgreSQL cannot
    /// say which tenant it is. Only public pages: a password-protected or private page is never
    /// served without the database to check its visitors (fail closed).
    pub fn offline(&self, host: &str) -> Option<Arc<RenderedSite>> {
        let host = bare_host(host);
        let (tenant_id, current, kept) = {
            let state = self.state();
            let id = *state.hosts.get(&host)?;
            let current = state.slots.get(&id).and_then(|s| s.site.clone());
            (id, current, state.kept.get(&id).cloned())
        };
        let site = match current {
            Some(site) => site,
            None => self.install_kept(disk::render_kept(&kept?)?),
        };
        let _ = tenant_id;
        (site.visibility == Visibility::Public).then_some(site)
    }

    /// Something on `tenant_id`'s page changed: its next request rebuilds it.
    pub fn changed(&self, tenant_id: Uuid) {
        if let Some(slot) = self.state().slots.get_mut(&tenant_id) {
            slot.changed = true;
            // A change is news: do not wait out the retry delay of an earlier failure.
            slot.failed_at = None;
        }
    }

    /// Rebuilds `tenant_id` now, in the background, if it is in memory (after an announced
    /// change, so the next visitor already gets the new render).
    pub fn refresh(&self, app: &AppState, tenant_id: Uuid) {
        let tenant = {
            let mut state = self.state();
            match state.slots.get_mut(&tenant_id) {
                Some(slot) if slot.site.is_some() && !slot.building => {
                    slot.building = true;
                    slot.tenant.clone()
                }
                _ => None,
            }
        };
        if let Some(tenant) = tenant {
            self.spawn_rebuild(app.clone(), tenant);
        }
    }

    /// The render of `tenant_id` in memory, as it is now (no rebuild).
    pub fn current(&self, tenant_id: Uuid) -> Option<Arc<RenderedSite>> {
        self.state()
            .slots
            .get(&tenant_id)
            .and_then(|s| s.site.clone())
    }

    /// Every tenant with a render in memory.
    pub fn tenants_in_memory(&self) -> Vec<Uuid> {
        self.state()
            .slots
            .iter()
            .filter(|(_, s)| s.site.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Renders `model` and makes it its tenant's current site (as a rebuild would, without
    /// keeping it on disk). For tests and tools.
    pub fn insert_model(&self, model: PageModel) -> Arc<RenderedSite> {
        let previous = self
            .state()
            .slots
            .get(&model.tenant_id)
            .and_then(|s| s.site.clone());
        let site = Arc::new(RenderedSite::render(model, previous.as_deref()));
        self.install(site.clone(), Some(Instant::now()));
        site
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public::fixture;
    use std::sync::atomic::AtomicUsize;

    /// An app state whose databases are never reached (the loaders here do not use them).
    fn app() -> AppState {
        let db = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let analytics =
            statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "none").unwrap();
        AppState::new(
            db,
            analytics,
            api::ApiConfig {
                base_domain: "localhost".into(),
                checker_secret: "store-test-secret-0123456789".into(),
                regions: vec!["test".into()],
                open_signup: false,
            },
        )
    }

    fn tenant() -> Tenant {
        let model = fixture::page(false);
        Tenant {
            id: model.tenant_id,
            slug: model.slug,
            name: "Acme".into(),
        }
    }

    /// Counts loads; fails while `fail` is set; takes 50 ms.
    fn loader(loads: Arc<AtomicUsize>, fail: Arc<std::sync::atomic::AtomicBool>) -> Loader {
        Arc::new(move |_, _| {
            let (loads, fail) = (loads.clone(), fail.clone());
            Box::pin(async move {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                if fail.load(Ordering::SeqCst) {
                    return Err(ApiError::Internal("database away".into()));
                }
                Ok(fixture::page(false))
            })
        })
    }

    #[tokio::test]
    async fn one_render_for_a_burst_and_a_failed_rebuild_keeps_the_last_one() {
        let (loads, fail) = (Arc::new(AtomicUsize::new(0)), Arc::default());
        let site = PublicSite::with_loader(
            RenderConfig {
                dir: None,
                ttl: Duration::from_secs(600),
                bucket: None,
            },
            loader(loads.clone(), Arc::clone(&fail)),
        );
        let (app, tenant) = (app(), tenant());
        let burst: Vec<_> = (0..10)
            .map(|_| {
                let (site, app, tenant) = (site.clone(), app.clone(), tenant.clone());
                tokio::spawn(async move { site.site(&app, &tenant).await.unwrap() })
            })
            .collect();
        let mut sites = Vec::new();
        for task in burst {
            sites.push(task.await.unwrap());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for ten visitors");
        assert!(sites.iter().all(|s| Arc::ptr_eq(s, &sites[0])));

        // The database goes away; a change is announced: visitors keep the last render, and
        // the failed rebuild is not retried on every request.
        fail.store(true, Ordering::SeqCst);
        site.changed(tenant.id);
        for _ in 0..20 {
            let current = site.site(&app, &tenant).await.unwrap();
            assert!(Arc::ptr_eq(&current, &sites[0]));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "one failed rebuild, no retry storm"
        );
        assert!(Arc::ptr_eq(&site.current(tenant.id).unwrap(), &sites[0]));

        // Back: the next announcement rebuilds.
        fail.store(false, Ordering::SeqCst);
        site.changed(tenant.id);
        site.site(&app, &tenant).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::ptr_eq(&site.current(tenant.id).unwrap(), &sites[0]) {
            assert!(
                Instant::now() < deadline,
                "rebuilt once the database is back"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn kept_models_answer_offline_only_for_public_pages() {
        let dir = std::env::temp_dir().join(format!("render-store-{}", Uuid::new_v4()));
        let public = fixture::page(false);
        let mut locked = fixture::page(false);
        locked.tenant_id = Uuid::new_v4();
        locked.hosts = vec!["locked.status.example".into()];
        locked.visibility = Visibility::Password;
        disk::write(&dir, &public).unwrap();
        disk::write(&dir, &locked).unwrap();
        let (loads, fail) = (Arc::new(AtomicUsize::new(0)), Arc::default());
        let site = PublicSite::with_loader(
            RenderConfig {
                dir: Some(dir.clone()),
                ttl: Duration::from_secs(600),
                bucket: None,
            },
            loader(loads.clone(), fail),
        );
        assert_eq!(site.kept_on_disk(), 2);
        let offline = site.offline("ACME.status.example:443").expect("kept");
        assert!(offline.stale(), "a kept render says it is stale");
        assert!(Arc::ptr_eq(
            &site.offline("status.acme.example").unwrap(),
            &offline
        ));
        assert!(
            site.offline("locked.status.example").is_none(),
            "fail closed"
        );
        assert!(site.offline("unknown.example").is_none());
        // With the database up, the kept render answers at once and is rebuilt behind it.
        let first = site.site(&app(), &tenant()).await.unwrap();
        assert!(Arc::ptr_eq(&first, &offline));
        let deadline = Instant::now() + Duration::from_secs(5);
        while site.current(public.tenant_id).unwrap().stale() {
            assert!(Instant::now() < deadline, "rebuilt");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // The rebuild keeps its model on disk after installing it: the folder may still be
        // written to for a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir_all(&dir).is_err() {
            assert!(Instant::now() < deadline, "render folder removed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn hosts_lose_port_case_and_dot() {
        assert_eq!(bare_host("Demo.Localhost:3000"), "demo.localhost");
        assert_eq!(bare_host("status.acme.example."), "status.acme.example");
        assert_eq!(bare_host("acme.example"), "acme.example");
    }
}
