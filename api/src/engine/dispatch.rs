//! Re-checks on demand: when a monitor fails in one region, the engine asks other regions to
//! check it at once. One interface, two implementations: the local runner's pseudo-regions
//! ([`LocalRecheck`]), and the checker Lambda of each region invoked through `aws-sdk-lambda`
//! ([`LambdaRecheck`]). Both send the region the same [`CheckEvent`] the schedule sends, with
//! the monitors to re-check in it, so a re-check runs through the same code as every other run.

use checker::plan::{CheckEvent, MAX_RECHECK_MONITORS};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
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

/// The events that carry `requests`: one per region and at most [`MAX_RECHECK_MONITORS`]
/// monitors (a longer list is split, duplicates dropped); requests naming no monitor send none.
pub fn recheck_events(requests: Vec<RecheckRequest>) -> Vec<CheckEvent> {
    let mut events = Vec::new();
    for RecheckRequest {
        region,
        mut monitor_ids,
    } in requests
    {
        monitor_ids.sort_unstable();
        monitor_ids.dedup();
        for ids in monitor_ids.chunks(MAX_RECHECK_MONITORS) {
            events.push(CheckEvent::recheck(region.clone(), ids.to_vec()));
        }
    }
    events
}

/// How many re-check events may wait for the local runner; beyond that a dispatch fails (and
/// the schedule confirms) rather than holding the engine up.
pub const LOCAL_RECHECK_QUEUE: usize = 256;

/// Hands re-checks to the local runner of this app server
/// (`checker::local::LocalRunner::run_with_rechecks`), which runs each event at once as its own
/// run of that pseudo-region.
pub struct LocalRecheck {
    sender: mpsc::Sender<CheckEvent>,
}

impl LocalRecheck {
    /// The dispatcher and the receiving end the local runner takes.
    pub fn channel() -> (Self, mpsc::Receiver<CheckEvent>) {
        let (sender, receiver) = mpsc::channel(LOCAL_RECHECK_QUEUE);
        (Self { sender }, receiver)
    }
}

impl Recheck for LocalRecheck {
    fn recheck(&self, requests: Vec<RecheckRequest>) -> BoxFuture<'_, Vec<DispatchError>> {
        let errors = recheck_events(requests)
            .into_iter()
            .filter_map(|event| {
                let region = event.region.clone();
                let reason = match self.sender.try_send(event) {
                    Ok(()) => return None,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        "the local runner's re-check queue is full"
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => "the local runner has stopped",
                };
                Some(DispatchError {
                    region,
                    reason: reason.into(),
                })
            })
            .collect();
        Box::pin(async move { errors })
    }
}

/// The checker function's name when `CHECKER_FUNCTION_NAME` is unset: what `infra` deploys.
pub const DEFAULT_CHECKER_FUNCTION: &str = "statuspage-checker";
/// Time allowed for one Invoke, retries included: an asynchronous invocation is only queued by
/// Lambda, so a slow answer means the region is in trouble, and the schedule confirms instead.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Invokes the checker Lambda of each region asynchronously (`InvocationType::Event`) with the
/// re-check event as payload. One SDK client per region, built once.
pub struct LambdaRecheck {
    function_name: String,
    clients: BTreeMap<String, aws_sdk_lambda::Client>,
}

/// What Lambda answered to one Invoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoked {
    /// 202 for an accepted asynchronous invocation.
    pub status_code: i32,
    /// Empty from AWS for an asynchronous invocation (an emulator may echo the request).
    pub payload: Vec<u8>,
}

impl LambdaRecheck {
    /// Clients for `regions` (credentials from the standard AWS chain), invoking `function_name`;
    /// `endpoint` overrides AWS's endpoints (a local emulator such as moto; `AWS_ENDPOINT_URL`).
    pub async fn new(regions: &[String], function_name: &str, endpoint: Option<&str>) -> Self {
        let timeouts = aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
            .connect_timeout(infra::CONNECT_TIMEOUT)
            .operation_timeout(INVOKE_TIMEOUT)
            .build();
        let mut clients = BTreeMap::new();
        for region in regions {
            let shared = infra::aws_config(region, endpoint).await;
            let config = aws_sdk_lambda::config::Builder::from(&shared)
                .timeout_config(timeouts.clone())
                .build();
            clients.insert(region.clone(), aws_sdk_lambda::Client::from_conf(config));
        }
        Self {
            function_name: function_name.to_owned(),
            clients,
        }
    }

    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// Invokes the checker of `event.region` with `event` as payload, and says what Lambda
    /// answered.
    pub async fn invoke(&self, event: &CheckEvent) -> Result<Invoked, DispatchError> {
        let fail = |reason: String| DispatchError {
            region: event.region.clone(),
            reason,
        };
        let client = self
            .clients
            .get(&event.region)
            .ok_or_else(|| fail("not a region of CHECKER_REGIONS".into()))?;
        let payload = serde_json::to_vec(event).map_err(|e| fail(e.to_string()))?;
        let output = client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| {
                fail(format!(
                    "Invoke {}: {}",
                    self.function_name,
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ))
            })?;
        if output.status_code != 202 {
            return Err(fail(format!(
                "Invoke {} answered {} instead of 202 (queued)",
                self.function_name, output.status_code
            )));
        }
        Ok(Invoked {
            status_code: output.status_code,
            payload: output.payload.map(|p| p.into_inner()).unwrap_or_default(),
        })
    }
}

impl Recheck for LambdaRecheck {
    fn recheck(&self, requests: Vec<RecheckRequest>) -> BoxFuture<'_, Vec<DispatchError>> {
        let events = recheck_events(requests);
        Box::pin(async move {
            let invoked =
                futures::future::join_all(events.iter().map(|event| self.invoke(event))).await;
            invoked
                .into_iter()
                .filter_map(Result::err)
                .inspect(|e| tracing::warn!(region = %e.region, reason = %e.reason, "re-check not dispatched"))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_split_and_duplicates_dropped() {
        let ids: Vec<Uuid> = (0..(MAX_RECHECK_MONITORS + 5))
            .map(|_| Uuid::new_v4())
            .collect();
        let mut doubled = ids.clone();
        doubled.extend_from_slice(&ids[..3]);
        let events = recheck_events(vec![
            RecheckRequest {
                region: "eu".into(),
                monitor_ids: doubled,
            },
            RecheckRequest {
                region: "us".into(),
                monitor_ids: Vec::new(),
            },
        ]);
        let sizes: Vec<(&str, usize)> = events
            .iter()
            .map(|e| (e.region.as_str(), e.recheck.len()))
            .collect();
        assert_eq!(sizes, [("eu", MAX_RECHECK_MONITORS), ("eu", 5)]);
        assert!(events.iter().all(|e| (e.shard, e.shards) == (0, 1)));
    }

    #[tokio::test]
    async fn the_local_dispatcher_queues_one_event_per_region() {
        let (dispatch, mut rx) = LocalRecheck::channel();
        let monitor = Uuid::new_v4();
        let errors = dispatch
            .recheck(vec![RecheckRequest {
                region: "local-us".into(),
                monitor_ids: vec![monitor],
            }])
            .await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rx.try_recv().unwrap(),
            CheckEvent::recheck("local-us", vec![monitor])
        );
        drop(rx);
        let errors = dispatch
            .recheck(vec![RecheckRequest {
                region: "local-us".into(),
                monitor_ids: vec![monitor],
            }])
            .await;
        assert_eq!(errors.len(), 1, "a stopped runner is reported");
        assert_eq!(errors[0].region, "local-us");
    }
}
