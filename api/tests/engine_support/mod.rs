//! Shared by the engine tests: an app with three regions, tenants made through the API, signed
//! fast-path reports as a checker sends them, and readers for what the engine wrote.
#![allow(dead_code)]

use api::engine::dispatch::{DispatchError, Recheck, RecheckRequest};
use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use checker::plan::{self, SignedRequest};
use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;
use uuid::Uuid;

pub const SECRET: &str = "engine-test-checker-secret-0123";
pub const REGIONS: [&str; 3] = ["ap", "eu", "us"];

/// Remembers every re-check asked for.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<RecheckRequest>>);

impl Recheck for Recorder {
    fn recheck(&self, requests: Vec<RecheckRequest>) -> BoxFuture<'_, Vec<DispatchError>> {
        self.0.lock().unwrap().extend(requests);
        Box::pin(async { Vec::new() })
    }
}

pub struct Harness {
    pub pool: PgPool,
    pub state: AppState,
    pub app: axum::Router,
    pub rechecks: Arc<Recorder>,
    /// Reports are stamped from here on, one second apart, so each is newer than the last.
    clock: Mutex<DateTime<Utc>>,
}

pub struct Tenant {
    pub id: Uuid,
    pub token: String,
}

impl Harness {
    /// Without ClickHouse: the engine needs none.
    pub fn new(pool: PgPool) -> Self {
        let analytics =
            statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
        Self::with_analytics(pool, analytics)
    }

    /// With the real ClickHouse (`CLICKHOUSE_URL`), for tests that read the public page: without
    /// it a rebuilt snapshot is stale and the page keeps the last good one.
    pub async fn with_clickhouse(pool: PgPool) -> Self {
        let url = std::env::var("CLICKHOUSE_URL")
            .expect("CLICKHOUSE_URL must point at a running ClickHouse");
        let analytics = statuspage_clickhouse::Analytics::new(
            &url,
            &format!("test_{}", Uuid::new_v4().simple()),
        )
        .unwrap();
        analytics.migrate().await.unwrap();
        Self::with_analytics(pool, analytics)
    }

    pub fn with_analytics(pool: PgPool, analytics: statuspage_clickhouse::Analytics) -> Self {
        let rechecks = Arc::new(Recorder::default());
        let state = AppState::new(
            pool.clone(),
            analytics,
            ApiConfig {
                base_domain: "localhost".into(),
                checker_secret: SECRET.into(),
                regions: REGIONS.iter().map(|r| r.to_string()).collect(),
                open_signup: true,
            },
        )
        .with_recheck(rechecks.clone());
        Self {
            app: api::router(state.clone()),
            pool,
            state,
            rechecks,
            clock: Mutex::new(Utc::now() - Duration::seconds(200)),
        }
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        let body = match body {
            Some(b) => {
                request = request.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    pub async fn tenant(&self, slug: &str) -> Tenant {
        let (status, created) = self
            .send(
                Request::post("/api/v1/tenants")
                    .header("content-type", "application/json")
                    .body(Body::from(
                        json!({ "slug": slug, "name": slug, "email": format!("owner@{slug}.example"), "password": "correct horse battery" })
                            .to_string(),
                    ))
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        Tenant {
            id: created["tenant"]["id"].as_str().unwrap().parse().unwrap(),
            token: created["api_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A component and a monitor on it, checked from every region: (component, monitor).
    pub async fn monitor(&self, tenant: &Tenant, extra: Value) -> (Uuid, Uuid) {
        let (status, component) = self
            .call(
                &tenant.token,
                "POST",
                "/api/v1/components",
                Some(json!({ "name": "API" })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{component}");
        let component: Uuid = component["id"].as_str().unwrap().parse().unwrap();
        let mut body = json!({ "name": "Checkout", "type": "http", "url": "https://example.com/", "component_id": component });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, monitor) = self
            .call(&tenant.token, "POST", "/api/v1/monitors", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{monitor}");
        (component, monitor["id"].as_str().unwrap().parse().unwrap())
    }

    /// A channel of the tenant, straight into PostgreSQL (the alerts only need it to exist).
    pub async fn channel(&self, tenant: &Tenant, name: &str) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO notification_channels (id, tenant_id, name, kind, config) \
             VALUES ($1, $2, $3, 'webhook', '{\"url\": \"https://hooks.example/x\"}')",
        )
        .bind(id)
        .bind(tenant.id)
        .bind(name)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    fn tick(&self) -> DateTime<Utc> {
        let mut clock = self.clock.lock().unwrap();
        *clock += Duration::seconds(1);
        *clock
    }

    /// Sends one signed fast-path report from `region`: `status` (`up`, `degraded`, `down`).
    pub async fn report(
        &self,
        region: &str,
        tenant: &Tenant,
        monitor: Uuid,
        status: &str,
    ) -> Value {
        let result = if status == "up" {
            json!({ "monitor_id": monitor, "tenant_id": tenant.id, "status": "up",
                    "checked_at": self.tick(), "total_us": 80_000,
                    "detail": { "status_code": 200, "resolved_ip": "93.184.216.34",
                                "timings": { "dns_us": 1000, "tcp_connect_us": 2000, "tls_handshake_us": 3000,
                                             "ttfb_us": 4000, "transfer_us": 500, "total_us": 80_000 } } })
        } else {
            json!({ "monitor_id": monitor, "tenant_id": tenant.id, "status": status,
                    "checked_at": self.tick(), "total_us": 10_000_000,
                    "error": "GET https://example.com/: HTTP status 503 from 93.184.216.34",
                    "failure": { "kind": "http_status", "code": 503 },
                    "detail": { "status_code": 503, "resolved_ip": "93.184.216.34", "http_version": "HTTP/2",
                                "tls_version": "TLSv1_3", "tls_cipher": "TLS13_AES_256_GCM_SHA384",
                                "timings": { "dns_us": 1000, "tcp_connect_us": 2000, "tls_handshake_us": 3000,
                                             "ttfb_us": 9_000_000, "transfer_us": 0, "total_us": 10_000_000 },
                                "attempt": 1 } })
        };
        let report = json!({ "region": region, "run_id": Uuid::new_v4(), "results": [result] });
        let body = serde_json::to_vec(&report).unwrap();
        let nonce = Uuid::new_v4().simple().to_string();
        let timestamp = Utc::now().timestamp();
        let path = "/internal/v1/results";
        let signature = plan::sign(
            SECRET,
            &SignedRequest {
                region,
                timestamp,
                nonce: &nonce,
                method: "POST",
                path_and_query: path,
                body: &body,
            },
        );
        let (status, answer) = self
            .send(
                Request::post(path)
                    .header(plan::REGION_HEADER, region)
                    .header(plan::TIMESTAMP_HEADER, timestamp.to_string())
                    .header(plan::NONCE_HEADER, &nonce)
                    .header(plan::SIGNATURE_HEADER, signature)
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        // Let the spawned re-check dispatch run.
        tokio::task::yield_now().await;
        answer
    }

    pub async fn state_of(&self, monitor: Uuid) -> String {
        sqlx::query_scalar("SELECT state FROM monitor_state WHERE monitor_id = $1")
            .bind(monitor)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Moves the regional-outage timer back, as if the below-quorum failure began `secs` ago.
    pub async fn age_partial_failure(&self, monitor: Uuid, secs: i64) {
        sqlx::query(
            "UPDATE monitor_state SET partial_since = partial_since - make_interval(secs => $2) WHERE monitor_id = $1",
        )
        .bind(monitor)
        .bind(secs as f64)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    pub async fn sweep(&self) -> usize {
        api::engine::sweep::sweep_once(&self.state, Utc::now())
            .await
            .unwrap()
    }

    /// (event, dedup_key, resolved, title) of the tenant's outbox rows for channels, oldest first.
    pub async fn alerts(&self, tenant: &Tenant) -> Vec<(String, String, bool, String)> {
        sqlx::query_as(
            "SELECT event, message->>'dedup_key', (message->>'resolved')::bool, message->>'title' \
             FROM outbox WHERE tenant_id = $1 AND channel_id IS NOT NULL AND event IN ('down', 'degraded', 'regional_outage', 'recovery') ORDER BY created_at, id",
        )
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// The engine's incidents of a tenant: (id, status, impact, published).
    pub async fn incidents(&self, tenant: &Tenant) -> Vec<(Uuid, String, String, bool)> {
        sqlx::query_as(
            "SELECT id, status, impact, published_at IS NOT NULL FROM incidents \
             WHERE tenant_id = $1 AND source = 'engine' ORDER BY created_at",
        )
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}
