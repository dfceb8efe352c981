//! The local runner: what EventBridge and Lambda do in production, on one machine. Every interval
//! it fires the same run as the Lambda for each pseudo-region, through the same internal API.

use crate::api_client::ApiClient;
use crate::plan::CheckEvent;
use crate::probe::Prober;
use crate::run::{run_checks, ResultStore, RunOptions};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub struct LocalRunner<S> {
    pub regions: Vec<String>,
    pub interval: Duration,
    pub prober: Arc<Prober>,
    pub api: Arc<ApiClient>,
    pub store: Arc<S>,
}

impl<S: ResultStore + 'static> LocalRunner<S> {
    /// Runs until the task is dropped or aborted; a failed run is logged and retried next tick.
    pub async fn run_forever(self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            ticker.tick().await;
            let runs = self.regions.iter().map(|region| {
                let event = CheckEvent {
                    region: region.clone(),
                    shard: 0,
                    shards: 1,
                };
                let run_id = Uuid::new_v4();
                let mut options = RunOptions::new(run_id, format!("local-{region}-{run_id}"));
                options.cold_start = first;
                let (prober, api, store) = (self.prober.clone(), self.api.clone(), self.store.clone());
                async move {
                    if let Err(e) = run_checks(&event, &prober, api.as_ref(), store.as_ref(), api.as_ref(), &options).await {
                        tracing::warn!(region = %event.region, error = %e, "local checker run failed");
                    }
                }
            });
            futures::future::join_all(runs).await;
            first = false;
        }
    }
}
