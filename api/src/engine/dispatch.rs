//! Re-checks on demand: when a monitor fails in one region, the engine asks other regions to
//! check it at once. One interface, two implementations: the local runner's pseudo-regions, and
//! the checker Lambda of each region invoked through `aws-sdk-lambda`.

use futures::future::BoxFuture;
use uuid::Uuid;

/// What a re-check asks of a region: run these monitors now, whatever their schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecheckRequest {
    pub region: String,
    pub monitor_ids: Vec<Uuid>,
}

#[derive(Debug, thiserror::Error)]
#[error("re-check in {region} could not be dispatched: {reason}")]
pub struct DispatchError {
    pub region: String,
    pub reason: String,
}

/// Starts re-checks; returns once each region has been asked (not once it has checked).
pub trait Recheck: Send + Sync {
    fn recheck(&self, requests: Vec<RecheckRequest>) -> BoxFuture<'_, Vec<DispatchError>>;
}

/// For deployments and tests without re-checks: the next scheduled check confirms instead.
pub struct NoRecheck;

impl Recheck for NoRecheck {
    fn recheck(&self, requests: Vec<RecheckRequest>) -> BoxFuture<'_, Vec<DispatchError>> {
        tracing::debug!(
            regions = requests.len(),
            "re-checks not configured; waiting for the schedule"
        );
        Box::pin(async { Vec::new() })
    }
}
