//! The local runner: what EventBridge and Lambda do in production, on one machine. Every interval
//! it fires the same run as the Lambda for each pseudo-region, through the same internal API.
//!
//! Each run is its own task with its own deadline (the period plus [`MIN_RUN_DEADLINE`], so a
//! check due at the end of the tick still has every budget the API accepts): a slow run of one
//! region never
//! delays the next tick, nor another region's run. Re-checks the API asks for
//! ([`LocalRunner::run_with_rechecks`]) run at once, each as its own run, between the ticks.

use crate::api_client::ApiClient;
use crate::plan::CheckEvent;
use crate::probe::Prober;
use crate::run::{run_checks, ResultStore, RunOptions, MIN_RUN_DEADLINE};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

pub struct LocalRunner<S> {
    pub regions: Vec<String>,
    pub interval: Duration,
    pub prober: Arc<Prober>,
    pub api: Arc<ApiClient>,
    pub store: Arc<S>,
}

impl<S: ResultStore + 'static> LocalRunner<S> {
    /// How long one run may last before its unfinished checks are recorded as timeouts: a
    /// check due at the end of the tick still gets [`MIN_RUN_DEADLINE`].
    pub fn run_deadline(&self) -> Duration {
        self.interval + MIN_RUN_DEADLINE
    }

    /// Runs until the task is dropped or aborted (which also stops the runs under way); a failed
    /// run is logged and the region runs again next tick.
    pub async fn run_forever(self) {
        self.run(None).await
    }

    /// As [`run_forever`](Self::run_forever), and also runs every re-check event received, at
    /// once and as its own run (own id, own deadline), as the Lambda of that region would: the
    /// ticks go on undisturbed. Events for regions this runner does not serve are dropped.
    pub async fn run_with_rechecks(self, rechecks: mpsc::Receiver<CheckEvent>) {
        self.run(Some(rechecks)).await
    }

    async fn run(self, mut rechecks: Option<mpsc::Receiver<CheckEvent>>) {
        let mut ticker = tokio::time::interval(self.interval);
        // A stalled process catches up with one run, not a burst.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut runs = tokio::task::JoinSet::new();
        let mut first = true;
        loop {
            let recheck = async {
                match rechecks.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = ticker.tick() => {}
                event = recheck => {
                    match event {
                        Some(event) if self.regions.contains(&event.region) => {
                            tracing::debug!(region = %event.region, monitors = event.recheck.len(), "local re-check");
                            self.spawn_run(&mut runs, event, false, Instant::now(), chrono::Utc::now());
                        }
                        Some(event) => {
                            tracing::warn!(region = %event.region, "re-check for a region the local runner does not serve; dropped");
                        }
                        // Every sender is gone: only the ticks remain.
                        None => rechecks = None,
                    }
                    continue;
                }
            }
            while runs.try_join_next().is_some() {}
            let (tick, scheduled_at) = (Instant::now(), chrono::Utc::now());
            for region in &self.regions {
                self.spawn_run(
                    &mut runs,
                    CheckEvent::scheduled(region.clone()),
                    first,
                    tick,
                    scheduled_at,
                );
            }
            first = false;
        }
    }

    /// The prober of `region`: the shared one, connecting to loopback targets from the region's
    /// own address ([`loopback_source`]).
    fn prober_for(&self, region: &str) -> Arc<Prober> {
        match self.regions.iter().position(|r| r == region) {
            Some(i) => Arc::new(
                (*self.prober)
                    .clone()
                    .with_loopback_source(loopback_source(i)),
            ),
            None => self.prober.clone(),
        }
    }

    /// Starts one run as its own task, with its own deadline counted from `start`.
    fn spawn_run(
        &self,
        runs: &mut tokio::task::JoinSet<()>,
        event: CheckEvent,
        cold_start: bool,
        start: Instant,
        scheduled_at: chrono::DateTime<chrono::Utc>,
    ) {
        let region = &event.region;
        let run_id = Uuid::new_v4();
        let mut options = RunOptions::new(run_id, format!("local-{region}-{run_id}"));
        options.cold_start = cold_start;
        options.deadline = Some(start + self.run_deadline());
        options.scheduled_at = Some(scheduled_at);
        let prober = self.prober_for(region);
        let (api, store) = (self.api.clone(), self.store.clone());
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
}

/// The loopback address local pseudo-region `index` (its position in the runner's regions)
/// connects from to loopback targets, so a local target can fail for one region only, as a real
/// target can fail from one AWS region: 127.0.0.11, 127.0.0.12, ...
pub fn loopback_source(index: usize) -> std::net::Ipv4Addr {
    let n = u8::try_from(11 + index.min(200)).unwrap_or(211);
    std::net::Ipv4Addr::new(127, 0, 0, n)
}
