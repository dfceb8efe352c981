//! The checker's side of the internal API: signed requests for the work plan (cached by ETag)
//! and for fast-path reports.

use crate::plan::{
    sign, CheckEvent, CheckerSecrets, FastPathReport, SignedRequest, WorkPlan, NONCE_HEADER,
    REGION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use crate::run::{BoxError, FastPath, PlanSource};
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

pub const PLAN_PATH: &str = "/internal/v1/plan";
pub const RESULTS_PATH: &str = "/internal/v1/results";
/// Where a run's summary goes when it is over (the platform's own metrics).
pub const RUNS_PATH: &str = "/internal/v1/runs";
/// The plan's query parameter naming the monitors of a re-check, comma-separated.
pub const RECHECK_PARAM: &str = "recheck";

pub struct ApiClient {
    base_url: String,
    /// Each request is signed with the secret of the region it speaks for.
    secrets: CheckerSecrets,
    http: reqwest::Client,
    /// Seconds between this checker's runs: the API plans the monitors due in each tick.
    tick_secs: u32,
    /// Last plan per (region, shard, shards) with its ETag: an unchanged plan costs a 304.
    plans: Mutex<HashMap<String, (String, WorkPlan)>>,
}

impl ApiClient {
    /// Signs every region's requests with the one shared `secret`.
    pub fn new(base_url: &str, secret: &str) -> Result<Self, BoxError> {
        Self::with_secrets(base_url, CheckerSecrets::shared(secret))
    }

    /// Signs each region's requests with that region's secret (the local runner speaks for
    /// several regions).
    pub fn with_secrets(base_url: &str, secrets: CheckerSecrets) -> Result<Self, BoxError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("statuspage-checker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secrets,
            http,
            tick_secs: 60,
            plans: Mutex::new(HashMap::new()),
        })
    }

    /// Runs every `secs` instead of every minute (the local runner).
    pub fn with_tick(mut self, secs: u32) -> Self {
        self.tick_secs = secs.max(1);
        self
    }

    /// A request signed for `region`, with a fresh nonce so it is accepted once.
    fn signed(
        &self,
        method: reqwest::Method,
        region: &str,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let timestamp = chrono::Utc::now().timestamp();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature = sign(
            self.secrets.for_region(region),
            &SignedRequest {
                region,
                timestamp,
                nonce: &nonce,
                method: method.as_str(),
                path_and_query,
                body: &body,
            },
        );
        self.http
            .request(method, format!("{}{path_and_query}", self.base_url))
            .header(REGION_HEADER, region)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(NONCE_HEADER, nonce)
            .header(SIGNATURE_HEADER, signature)
            .body(body)
    }
}

impl PlanSource for ApiClient {
    async fn work_plan(&self, event: &CheckEvent) -> Result<WorkPlan, BoxError> {
        let mut path = format!(
            "{PLAN_PATH}?region={}&shard={}&shards={}&tick={}",
            event.region, event.shard, event.shards, self.tick_secs
        );
        // A re-check names its monitors (comma-separated ids); its plan is used once, so it is
        // neither cached nor asked for with an ETag.
        let recheck = event.is_recheck();
        if recheck {
            let ids: Vec<String> = event.recheck.iter().map(Uuid::to_string).collect();
            path.push_str(&format!("&{RECHECK_PARAM}={}", ids.join(",")));
        }
        let cached_etag = self
            .plans
            .lock()
            .expect("plan cache lock")
            .get(&path)
            .map(|(etag, _)| etag.clone());
        let mut request = self.signed(reqwest::Method::GET, &event.region, &path, Vec::new());
        if let Some(etag) = &cached_etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let response = request.send().await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            if let Some((_, plan)) = self.plans.lock().expect("plan cache lock").get(&path) {
                return Ok(plan.clone());
            }
            return Err("plan answered 304 but none is cached".into());
        }
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(format!("plan request answered {status}: {body}").into());
        }
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let plan: WorkPlan = response.json().await?;
        if let Some(etag) = etag.filter(|_| !recheck) {
            self.plans
                .lock()
                .expect("plan cache lock")
                .insert(path, (etag, plan.clone()));
        }
        Ok(plan)
    }
}

impl ApiClient {
    /// Posts `body` as JSON to `path`, signed as `region`; `what` names it in the error.
    async fn post_signed(
        &self,
        region: &str,
        path: &str,
        body: &impl serde::Serialize,
        what: &str,
    ) -> Result<(), BoxError> {
        let body = serde_json::to_vec(body)?;
        let response = self
            .signed(reqwest::Method::POST, region, path, body)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .send()
            .await?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(format!("{what} answered {status}: {body}").into());
        }
        Ok(())
    }
}

impl FastPath for ApiClient {
    async fn report(&self, report: &FastPathReport) -> Result<(), BoxError> {
        self.post_signed(&report.region, RESULTS_PATH, report, "results report")
            .await
    }

    async fn finished(&self, summary: &crate::run::RunSummary) -> Result<(), BoxError> {
        self.post_signed(&summary.region, RUNS_PATH, summary, "run summary")
            .await
    }
}
