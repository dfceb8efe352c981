//! Deploys the regional checker Lambda and keeps its EventBridge schedules in sync.
//!
//! Every AWS client in this crate (and in its callers, e.g. the API's schedule sync) is built
//! from [`aws_config()`], which pins the HTTP stack to hyper + rustls with the *ring* crypto
//! provider (no aws-lc, no second TLS stack) and honours an endpoint override such as a local
//! moto server (`AWS_ENDPOINT_URL`).
//!
//! * [`deploy_function`] creates or updates the checker function in one region (idempotent).
//! * [`sync_schedules`] keeps exactly one `rate(1 minute)` EventBridge rule per shard in one
//!   region (idempotent).
//! * [`estimate_monthly_cost`] estimates the AWS bill from public prices.

use std::time::Duration;

mod cost;
mod error;
pub mod keep;
mod lambda;
mod schedules;
mod secrets;
#[cfg(feature = "testing")]
pub mod testing;

pub use cost::{
    estimate_monthly_cost, estimate_monthly_cost_with, CostEstimate, CostInputs,
    EVENTBRIDGE_SCHEDULED_RULE_PRICE, HOURS_PER_MONTH, LAMBDA_GB_SECOND_PRICE_ARM64,
    LAMBDA_GB_SECOND_PRICE_X86, LAMBDA_REQUEST_PRICE_PER_MILLION, PER_INVOCATION_OVERHEAD_MS,
};
pub use error::{Error, Result};
pub use lambda::{
    code_sha256, deploy_function, deploy_function_with_outcome, destroy_function, plan_function,
    Arch, CheckerDeployment, DeployAction, DeployOutcome, Removal, EVENTS_PERMISSION_STATEMENT_ID,
    HANDLER, MAX_DIRECT_ZIP_BYTES,
};
pub use schedules::{
    deployed_shards, destroy_schedules, plan_schedules, rule_name, sync_schedules, target_input,
    RemovalReport, SyncReport, RULE_PREFIX, SCHEDULE_EXPRESSION, TARGET_ID,
};
pub use secrets::{resolve_secrets, SecretSource, SecretVar};

/// The 18 commercial AWS regions the checker runs in by default: three continents' worth of
/// opt-in-free regions plus a few opt-in ones (ap-east-1, me-south-1 need enabling in the account)
/// chosen for coverage of Hong Kong and the Gulf.
pub const DEFAULT_REGIONS: [&str; 18] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-east-1",
    "me-south-1",
];

/// Tag on every function and rule `infra` makes; `destroy` removes only what carries it.
pub const MANAGED_TAG: (&str, &str) = ("managed-by", "statuspage-infra");

/// Whether a call changes anything (`Apply`) or only reports what it would change (`Plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Plan,
}

/// Time allowed to open a TCP connection to an AWS (or emulator) endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for one whole SDK operation, retries included (a zip upload is the slowest).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the HTTP client every SDK client uses: hyper + rustls with the ring crypto provider and
/// the platform's trust roots. Built per config (cheap) so no connection pool outlives the Tokio
/// runtime that created it.
pub fn http_client() -> aws_sdk_lambda::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Loads the shared SDK configuration for `region`.
///
/// Credentials come from the standard chain (environment, profile, web identity, ECS/IMDS).
/// `endpoint` overrides the endpoint of every service (e.g. `http://127.0.0.1:5000` for moto);
/// when `None`, the SDK still honours `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` from the
/// environment as usual. Pass the value explicitly when it came from a CLI flag.
pub async fn aws_config(region: &str, endpoint: Option<&str>) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .http_client(http_client())
        .timeout_config(timeouts);
    if let Some(url) = endpoint.map(str::trim).filter(|u| !u.is_empty()) {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Region the client was configured with (for error context and logs).
pub(crate) fn region_of(region: Option<&aws_config::Region>) -> String {
    region
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| "<no region>".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_regions_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for r in DEFAULT_REGIONS {
            assert!(seen.insert(r), "duplicate region {r}");
            let parts: Vec<_> = r.split('-').collect();
            assert_eq!(parts.len(), 3, "{r}");
            assert!(parts[2].parse::<u8>().is_ok(), "{r}");
        }
    }

    #[tokio::test]
    async fn config_carries_region_and_endpoint() {
        let cfg = aws_config("eu-north-1", Some("http://127.0.0.1:5999")).await;
        assert_eq!(cfg.region().map(|r| r.as_ref()), Some("eu-north-1"));
        assert_eq!(cfg.endpoint_url(), Some("http://127.0.0.1:5999"));
        assert!(cfg.http_client().is_some());
    }
}
