//! Creating or updating the checker function in one region.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, LastUpdateStatus, Runtime,
    State,
};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{lambda_err, Error, Result};
use crate::schedules::RULE_PREFIX;

/// Handler name of a custom-runtime function: the zip must contain an executable `bootstrap`.
pub const HANDLER: &str = "bootstrap";
/// Largest zip Lambda accepts inline in CreateFunction/UpdateFunctionCode (50 MB); larger
/// packages would have to go through S3, which this crate does not do.
pub const MAX_DIRECT_ZIP_BYTES: usize = 50 * 1024 * 1024;
/// Statement id of the resource policy that lets EventBridge invoke the function.
pub const EVENTS_PERMISSION_STATEMENT_ID: &str = "statuspage-checker-schedules";
/// How long to wait for a function to leave `Pending` / `InProgress` after a change.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
const READY_POLL: Duration = Duration::from_millis(500);

/// CPU architecture of the checker binary inside the zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Graviton (`aarch64-unknown-linux-gnu` / `-musl` builds); 20% cheaper per GB-s.
    #[default]
    Arm64,
    /// `x86_64-unknown-linux-gnu` / `-musl` builds.
    X86_64,
}

impl Arch {
    fn to_sdk(self) -> Architecture {
        match self {
            Arch::Arm64 => Architecture::Arm64,
            Arch::X86_64 => Architecture::X8664,
        }
    }

    /// The name AWS uses (`arm64`, `x86_64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            "x86_64" | "x86-64" | "amd64" => Ok(Arch::X86_64),
            other => Err(format!(
                "unknown architecture `{other}` (expected arm64 or x86_64)"
            )),
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to deploy: one checker function (the same in every region).
///
/// The runtime is always `provided.al2023` with handler `bootstrap` (a Rust binary built for
/// `lambda_runtime`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerDeployment {
    pub function_name: String,
    /// Execution role (`arn:aws:iam::<account>:role/<name>`); IAM is global, so one role serves
    /// every region.
    pub role_arn: String,
    /// The deployment package: a zip holding an executable `bootstrap` at its root.
    pub zip: Vec<u8>,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub architecture: Arch,
    /// Function environment (API URL, tokens, ClickHouse URL, ...).
    pub env: BTreeMap<String, String>,
}

impl CheckerDeployment {
    fn validate(&self) -> Result<()> {
        if self.function_name.trim().is_empty() {
            return Err(Error::InvalidInput("function name is empty".into()));
        }
        if self.role_arn.trim().is_empty() {
            return Err(Error::InvalidInput("role ARN is empty".into()));
        }
        if self.zip.is_empty() {
            return Err(Error::InvalidInput("deployment zip is empty".into()));
        }
        if self.zip.len() > MAX_DIRECT_ZIP_BYTES {
            return Err(Error::InvalidInput(format!(
                "deployment zip is {} bytes; direct upload allows at most {MAX_DIRECT_ZIP_BYTES}",
                self.zip.len()
            )));
        }
        if !(128..=10_240).contains(&self.memory_mb) {
            return Err(Error::InvalidInput(format!(
                "memory {} MB is outside Lambda's 128..=10240",
                self.memory_mb
            )));
        }
        if !(1..=900).contains(&self.timeout_s) {
            return Err(Error::InvalidInput(format!(
                "timeout {} s is outside Lambda's 1..=900",
                self.timeout_s
            )));
        }
        Ok(())
    }
}

/// What [`deploy_function_with_outcome`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployAction {
    Created,
    /// The code (zip or architecture) and/or the configuration changed.
    Updated {
        code: bool,
        configuration: bool,
    },
    /// Everything already matched: no write call was made.
    Unchanged,
}

/// Result of a deployment in one region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeployOutcome {
    pub function_arn: String,
    pub action: DeployAction,
}

/// Lambda's `CodeSha256` of a package: base64 of the SHA-256 of the zip bytes.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

/// Creates the function, or brings an existing one up to date; returns its ARN.
/// See [`deploy_function_with_outcome`].
pub async fn deploy_function(
    lambda: &aws_sdk_lambda::Client,
    d: &CheckerDeployment,
) -> Result<String> {
    deploy_function_with_outcome(lambda, d)
        .await
        .map(|o| o.function_arn)
}

/// Creates the function (`provided.al2023`, handler `bootstrap`), or, when it exists, updates
/// its code (only if the zip's SHA-256 or the architecture differ) and its configuration (only if
/// role, runtime, handler, memory, timeout or environment differ), waiting for each change to
/// settle before the next. Also makes sure EventBridge rules named `statuspage-checker-*` in the
/// function's region and account may invoke it. Idempotent: a repeated call with the same input
/// makes no write call and reports [`DeployAction::Unchanged`].
pub async fn deploy_function_with_outcome(
    lambda: &aws_sdk_lambda::Client,
    d: &CheckerDeployment,
) -> Result<DeployOutcome> {
    d.validate()?;
    let region = crate::region_of(lambda.config().region());
    let name = d.function_name.as_str();

    let existing = match lambda.get_function().function_name(name).send().await {
        Ok(out) => out.configuration,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(lambda_err("GetFunction", name, &region, e)),
    };

    let (config, action) = match existing {
        None => {
            tracing::debug!(function = name, %region, "creating function");
            let created = lambda
                .create_function()
                .function_name(name)
                .runtime(Runtime::Providedal2023)
                .handler(HANDLER)
                .role(&d.role_arn)
                .architectures(d.architecture.to_sdk())
                .memory_size(to_i32(d.memory_mb))
                .timeout(to_i32(d.timeout_s))
                .environment(environment(&d.env))
                .description("statuspage regional checker")
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(d.zip.clone()))
                        .build(),
                )
                .send()
                .await;
            match created {
                Ok(_) => {
                    let cfg = wait_ready(lambda, name, &region).await?;
                    (cfg, DeployAction::Created)
                }
                // Lost a race with a concurrent deploy: fall through to the update path.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_conflict_exception()) =>
                {
                    let cfg = wait_ready(lambda, name, &region).await?;
                    update(lambda, d, &region, cfg).await?
                }
                Err(e) => return Err(lambda_err("CreateFunction", name, &region, e)),
            }
        }
        Some(cfg) => {
            let cfg = if is_settled(&cfg) {
                cfg
            } else {
                wait_ready(lambda, name, &region).await?
            };
            update(lambda, d, &region, cfg).await?
        }
    };

    let function_arn =
        config
            .function_arn()
            .map(str::to_owned)
            .ok_or_else(|| Error::FunctionNotReady {
                function: name.to_owned(),
                region: region.clone(),
                reason: "Lambda returned no FunctionArn".into(),
            })?;
    ensure_events_permission(lambda, name, &region, &function_arn).await?;
    Ok(DeployOutcome {
        function_arn,
        action,
    })
}

async fn update(
    lambda: &aws_sdk_lambda::Client,
    d: &CheckerDeployment,
    region: &str,
    current: FunctionConfiguration,
) -> Result<(FunctionConfiguration, DeployAction)> {
    let name = d.function_name.as_str();

    let code_changed = current.code_sha256() != Some(code_sha256(&d.zip).as_str())
        || current.architectures() != [d.architecture.to_sdk()];
    let mut config = current;
    if code_changed {
        tracing::debug!(function = name, region, "updating function code");
        lambda
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(d.zip.clone()))
            .architectures(d.architecture.to_sdk())
            .send()
            .await
            .map_err(|e| lambda_err("UpdateFunctionCode", name, region, e))?;
        config = wait_ready(lambda, name, region).await?;
    }

    let config_changed = config.role() != Some(d.role_arn.as_str())
        || config.runtime() != Some(&Runtime::Providedal2023)
        || config.handler() != Some(HANDLER)
        || config.memory_size() != Some(to_i32(d.memory_mb))
        || config.timeout() != Some(to_i32(d.timeout_s))
        || current_env(&config) != d.env;
    if config_changed {
        tracing::debug!(function = name, region, "updating function configuration");
        lambda
            .update_function_configuration()
            .function_name(name)
            .runtime(Runtime::Providedal2023)
            .handler(HANDLER)
            .role(&d.role_arn)
            .memory_size(to_i32(d.memory_mb))
            .timeout(to_i32(d.timeout_s))
            .environment(environment(&d.env))
            .send()
            .await
            .map_err(|e| lambda_err("UpdateFunctionConfiguration", name, region, e))?;
        config = wait_ready(lambda, name, region).await?;
    }

    let action = if code_changed || config_changed {
        DeployAction::Updated {
            code: code_changed,
            configuration: config_changed,
        }
    } else {
        DeployAction::Unchanged
    };
    Ok((config, action))
}

/// Lets EventBridge rules named `statuspage-checker-*` in the function's own account and region
/// invoke it (a resource-based policy statement; already present is fine).
async fn ensure_events_permission(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    region: &str,
    function_arn: &str,
) -> Result<()> {
    // arn:<partition>:lambda:<region>:<account>:function:<name>
    let parts: Vec<&str> = function_arn.split(':').collect();
    let (partition, fn_region, account) = match parts.as_slice() {
        [_, partition, _, r, account, ..] => (*partition, *r, *account),
        _ => {
            return Err(Error::FunctionNotReady {
                function: name.to_owned(),
                region: region.to_owned(),
                reason: format!("unexpected function ARN `{function_arn}`"),
            })
        }
    };
    let source_arn = format!("arn:{partition}:events:{fn_region}:{account}:rule/{RULE_PREFIX}*");
    let res = lambda
        .add_permission()
        .function_name(name)
        .statement_id(EVENTS_PERMISSION_STATEMENT_ID)
        .action("lambda:InvokeFunction")
        .principal("events.amazonaws.com")
        .source_arn(source_arn)
        .source_account(account)
        .send()
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_conflict_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(lambda_err("AddPermission", name, region, e)),
    }
}

fn is_settled(cfg: &FunctionConfiguration) -> bool {
    !matches!(cfg.state(), Some(State::Pending))
        && !matches!(cfg.last_update_status(), Some(LastUpdateStatus::InProgress))
}

/// Polls until the function is neither `Pending` nor mid-update (Lambda rejects a second update
/// with ResourceConflictException until then); fails if it lands in `Failed`.
async fn wait_ready(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    region: &str,
) -> Result<FunctionConfiguration> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let cfg = lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .map_err(|e| lambda_err("GetFunction", name, region, e))?
            .configuration;
        let not_ready = |reason: String| Error::FunctionNotReady {
            function: name.to_owned(),
            region: region.to_owned(),
            reason,
        };
        let Some(cfg) = cfg else {
            return Err(not_ready("GetFunction returned no configuration".into()));
        };
        if matches!(cfg.state(), Some(State::Failed)) {
            return Err(not_ready(format!(
                "state Failed: {}",
                cfg.state_reason().unwrap_or("no reason given")
            )));
        }
        if matches!(cfg.last_update_status(), Some(LastUpdateStatus::Failed)) {
            return Err(not_ready(format!(
                "last update failed: {}",
                cfg.last_update_status_reason().unwrap_or("no reason given")
            )));
        }
        if is_settled(&cfg) {
            return Ok(cfg);
        }
        if Instant::now() >= deadline {
            return Err(not_ready(format!(
                "still {:?}/{:?} after {READY_TIMEOUT:?}",
                cfg.state(),
                cfg.last_update_status()
            )));
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

fn environment(env: &BTreeMap<String, String>) -> Environment {
    let vars: HashMap<String, String> = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Environment::builder().set_variables(Some(vars)).build()
}

fn current_env(cfg: &FunctionConfiguration) -> BTreeMap<String, String> {
    cfg.environment()
        .and_then(|e| e.variables())
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Values are validated to Lambda's ranges first, so this never saturates in practice.
fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_matches_lambda_format() {
        // sha256("") base64-encoded, as Lambda reports CodeSha256.
        assert_eq!(
            code_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn arch_parses() {
        assert_eq!("arm64".parse::<Arch>(), Ok(Arch::Arm64));
        assert_eq!("X86_64".parse::<Arch>(), Ok(Arch::X86_64));
        assert!("sparc".parse::<Arch>().is_err());
    }

    #[test]
    fn validation_names_the_problem() {
        let d = CheckerDeployment {
            function_name: "f".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            zip: vec![1],
            memory_mb: 64,
            timeout_s: 60,
            architecture: Arch::Arm64,
            env: BTreeMap::new(),
        };
        let err = d.validate().unwrap_err().to_string();
        assert!(err.contains("memory 64 MB"), "{err}");
    }
}
