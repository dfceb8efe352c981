//! The local runner: what EventBridge and Lambda do in production, on one machine. Every interval
//! it fires the same run as the Lambda for each pseudo-region, through the same internal API.
//!
//! Each run is its own task with its own deadline (the period, but never less than
//! [`MIN_RUN_DEADLINE`], so every check the API accepts fits): a slow run of one region never
//! delays the next tick, nor another region's run.

use crate::api_client::ApiClient;
use crate::plan::CheckEvent;
use crate::probe::Prober;
use crate::run::{run_checks, ResultStore, RunOptions, MIN_RUN_DEADLINE};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub struct LocalRunner<S> {
    pub regions: Vec<String>,
    pub interval: Duration,
    pub prober: Arc<Prober>,
    pub api: Arc<ApiClient>,
    pub store: Arc<S>,
}

impl<S: ResultStore + 'static> LocalRunner<S> {
    /// How long one run may last before its unfinished checks are recorded as timeouts.
    pub fn run_deadline(&self) -> Duration {
        self.interval.max(MIN_RUN_DEADLINE)
    }

    /// Runs until the task is dropped or aborted (which also stops the runs under way); a failed
    /// run is logged and the region runs again next tick.
    pub async fn run_forever(self) {
        let mut ticker = tokio::time::interval(self.interval);
        // A stalled process catches up with one run, not a burst.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut runs = tokio::task::JoinSet::new();
        let mut first = true;
        loop {
            ticker.tick().await;
            while runs.try_join_next().is_some() {}
            let (tick, scheduled_at) = (Instant::now(), chrono::Utc::now());
            for region in &self.regions {
                let event = CheckEvent {
                    region: region.clone(),
                    shard: 0,
                    shards: 1,
                };
                let run_id = Uuid::new_v4();
                let mut options = RunOptions::new(run_id, format!("local-{region}-{run_id}"));
                options.cold_start = first;
                options.deadline = Some(tick + self.run_deadline());
                options.scheduled_at = Some(scheduled_at);
                let (prober, api, store) =
                    (self.prober.clone(), self.api.clone(), self.store.clone());
                runs.spawn(async move {
                    if let Err(e) = run_checks(
                        &event,
                        &prober,
                        api.as_ref(),
                        store.as_ref(),
                        api.as_ref(),
                        &options,
                    )
                    .await
                    {
                        tracing::warn!(region = %event.region, error = %e, "local checker run failed");
                    }
                });
            }
            first = false;
        }
    }
}
