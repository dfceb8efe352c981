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
use crate::{Mode, MANAGED_TAG};

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
#[derive(Clone, PartialEq, Eq)]
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
    /// Executions reserved for the function (`None`: unreserved, the account's pool).
    pub reserved_concurrency: Option<u32>,
}

/// Names the environment's keys but never its values (they hold secrets).
impl std::fmt::Debug for CheckerDeployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckerDeployment")
            .field("function_name", &self.function_name)
            .field("role_arn", &self.role_arn)
            .field("zip_bytes", &self.zip.len())
            .field("memory_mb", &self.memory_mb)
            .field("timeout_s", &self.timeout_s)
            .field("architecture", &self.architecture)
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .field("reserved_concurrency", &self.reserved_concurrency)
            .finish()
    }
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
        if self.reserved_concurrency == Some(0) {
            return Err(Error::InvalidInput(
                "reserved concurrency 0 would stop every check; leave it unset for none".into(),
            ));
        }
        Ok(())
    }
}

/// What [`deploy_function_with_outcome`] did (or, planned, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployAction {
    Created,
    /// The code (zip or architecture) and/or the configuration (role, memory, timeout,
    /// environment, reserved concurrency, tags, EventBridge permission) changed.
    Updated {
        code: bool,
        configuration: bool,
    },
    /// Everything already matched: no write call was made.
    Unchanged,
}

/// Result of a deployment (or a plan) in one region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeployOutcome {
    /// `None` only when planning a function that does not exist yet.
    pub function_arn: Option<String>,
    pub action: DeployAction,
    /// One line per difference, naming fields; environment values are never shown.
    pub changes: Vec<String>,
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
    let outcome = deploy_function_with_outcome(lambda, d).await?;
    outcome.function_arn.ok_or_else(|| Error::FunctionNotReady {
        function: d.function_name.clone(),
        region: crate::region_of(lambda.config().region()),
        reason: "Lambda returned no FunctionArn".into(),
    })
}

/// Creates the function (`provided.al2023`, handler `bootstrap`, tagged [`MANAGED_TAG`]), or,
/// when it exists, updates its code (only if the zip's SHA-256 or the architecture differ), its
/// configuration (only if role, runtime, handler, memory, timeout or environment differ), its
/// reserved concurrency and its tag, waiting for each change to settle before the next. Also makes
/// sure EventBridge rules named `statuspage-checker-*` in the function's region and account may
/// invoke it. Idempotent: a repeated call with the same input makes no write call and reports
/// [`DeployAction::Unchanged`].
pub async fn deploy_function_with_outcome(
    lambda: &aws_sdk_lambda::Client,
    d: &CheckerDeployment,
) -> Result<DeployOutcome> {
    converge(lambda, d, Mode::Apply).await
}

/// What [`deploy_function_with_outcome`] would change, without a single write call.
pub async fn plan_function(
    lambda: &aws_sdk_lambda::Client,
    d: &CheckerDeployment,
) -> Result<DeployOutcome> {
    converge(lambda, d, Mode::Plan).await
}

async fn converge(
    lambda: &aws_sdk_lambda::Client,
    d: &CheckerDeployment,
    mode: Mode,
) -> Result<DeployOutcome> {
    d.validate()?;
    let region = crate::region_of(lambda.config().region());
    let name = d.function_name.as_str();

    let existing = get_configuration(lambda, name, &region).await?;
    let mut changes = Vec::new();
    let (config, action) = match existing {
        None => {
            changes.push(format!(
                "function {name}: create ({}, {} MB, {} s, code {}, environment {})",
                d.architecture,
                d.memory_mb,
                d.timeout_s,
                short_sha(&code_sha256(&d.zip)),
                key_list(d.env.keys())
            ));
            if mode == Mode::Plan {
                if let Some(n) = d.reserved_concurrency {
                    changes.push(format!("reserved concurrency: none -> {n}"));
                }
                changes.push(format!(
                    "permission: EventBridge rules {RULE_PREFIX}* may invoke {name}"
                ));
                return Ok(DeployOutcome {
                    function_arn: None,
                    action: DeployAction::Created,
                    changes,
                });
            }
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
                .tags(MANAGED_TAG.0, MANAGED_TAG.1)
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
                    changes.clear();
                    let cfg = wait_ready(lambda, name, &region).await?;
                    update(lambda, d, &region, cfg, mode, &mut changes).await?
                }
                Err(e) => return Err(lambda_err("CreateFunction", name, &region, e)),
            }
        }
        Some(cfg) => {
            let cfg = if is_settled(&cfg) || mode == Mode::Plan {
                cfg
            } else {
                wait_ready(lambda, name, &region).await?
            };
            update(lambda, d, &region, cfg, mode, &mut changes).await?
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
    let created = action == DeployAction::Created;
    let before = changes.len();
    if !created {
        ensure_tag(lambda, name, &region, &function_arn, mode, &mut changes).await?;
    }
    ensure_concurrency(lambda, d, &region, mode, created, &mut changes).await?;
    ensure_events_permission(
        lambda,
        name,
        &region,
        &function_arn,
        mode,
        created,
        &mut changes,
    )
    .await?;
    let action = match action {
        DeployAction::Unchanged if changes.len() > before => DeployAction::Updated {
            code: false,
            configuration: true,
        },
        DeployAction::Updated { code, .. } if changes.len() > before => DeployAction::Updated {
            code,
            configuration: true,
        },
        other => other,
    };
    Ok(DeployOutcome {
        function_arn: Some(function_arn),
        action,
        changes,
    })
}

/// The function's configuration, or `None` when it does not exist.
async fn get_configuration(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    region: &str,
) -> Result<Option<FunctionConfiguration>> {
    match lambda.get_function().function_name(name).send().await {
        Ok(out) => Ok(out.configuration),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(lambda_err("GetFunction", name, region, e)),
    }
}

async fn update(
    lambda: &aws_sdk_lambda::Client,
    d: &CheckerDeployment,
    region: &str,
    current: FunctionConfiguration,
    mode: Mode,
    changes: &mut Vec<String>,
) -> Result<(FunctionConfiguration, DeployAction)> {
    let name = d.function_name.as_str();

    let wanted_sha = code_sha256(&d.zip);
    let current_sha = current.code_sha256().unwrap_or_default().to_owned();
    let current_arch = match current.architectures() {
        [Architecture::Arm64] => "arm64".to_owned(),
        [Architecture::X8664] => "x86_64".to_owned(),
        other => format!("{other:?}"),
    };
    let mut code_changed = false;
    if current_sha != wanted_sha {
        changes.push(format!(
            "code: {} -> {}",
            short_sha(&current_sha),
            short_sha(&wanted_sha)
        ));
        code_changed = true;
    }
    if current.architectures() != [d.architecture.to_sdk()] {
        changes.push(format!(
            "architecture: {current_arch} -> {}",
            d.architecture
        ));
        code_changed = true;
    }
    let mut config = current;
    if code_changed && mode == Mode::Apply {
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

    let before = changes.len();
    let mut differs = |field: &str, now: String, wanted: String| {
        if now != wanted {
            changes.push(format!("{field}: {now} -> {wanted}"));
        }
    };
    differs(
        "role",
        config.role().unwrap_or("none").to_owned(),
        d.role_arn.clone(),
    );
    differs(
        "runtime",
        config
            .runtime()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_else(|| "none".into()),
        Runtime::Providedal2023.as_str().to_owned(),
    );
    differs(
        "handler",
        config.handler().unwrap_or("none").to_owned(),
        HANDLER.to_owned(),
    );
    differs(
        "memory MB",
        config.memory_size().unwrap_or_default().to_string(),
        d.memory_mb.to_string(),
    );
    differs(
        "timeout s",
        config.timeout().unwrap_or_default().to_string(),
        d.timeout_s.to_string(),
    );
    if let Some(line) = env_changes(&current_env(&config), &d.env) {
        changes.push(line);
    }
    let config_changed = changes.len() > before;
    if config_changed && mode == Mode::Apply {
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

/// Tags an existing function with [`MANAGED_TAG`] when it lacks it (a function made before
/// tagging, or by hand under our name).
async fn ensure_tag(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    region: &str,
    function_arn: &str,
    mode: Mode,
    changes: &mut Vec<String>,
) -> Result<()> {
    if is_managed(lambda, name, region, function_arn).await? {
        return Ok(());
    }
    changes.push(format!("tags: +{}={}", MANAGED_TAG.0, MANAGED_TAG.1));
    if mode == Mode::Apply {
        lambda
            .tag_resource()
            .resource(function_arn)
            .tags(MANAGED_TAG.0, MANAGED_TAG.1)
            .send()
            .await
            .map_err(|e| lambda_err("TagResource", name, region, e))?;
    }
    Ok(())
}

async fn is_managed(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    region: &str,
    function_arn: &str,
) -> Result<bool> {
    let tags = lambda
        .list_tags()
        .resource(function_arn)
        .send()
        .await
        .map_err(|e| lambda_err("ListTags", name, region, e))?;
    Ok(tags
        .tags()
        .and_then(|t| t.get(MANAGED_TAG.0))
        .is_some_and(|v| v == MANAGED_TAG.1))
}

/// Makes the function's reserved concurrency what the deployment asks (none: unreserved).
async fn ensure_concurrency(
    lambda: &aws_sdk_lambda::Client,
    d: &CheckerDeployment,
    region: &str,
    mode: Mode,
    created: bool,
    changes: &mut Vec<String>,
) -> Result<()> {
    let name = d.function_name.as_str();
    let current = if created {
        None
    } else {
        lambda
            .get_function_concurrency()
            .function_name(name)
            .send()
            .await
            .map_err(|e| lambda_err("GetFunctionConcurrency", name, region, e))?
            .reserved_concurrent_executions()
            .and_then(|n| u32::try_from(n).ok())
    };
    if current == d.reserved_concurrency {
        return Ok(());
    }
    let show = |v: Option<u32>| v.map_or_else(|| "none".to_owned(), |n| n.to_string());
    changes.push(format!(
        "reserved concurrency: {} -> {}",
        show(current),
        show(d.reserved_concurrency)
    ));
    if mode == Mode::Plan {
        return Ok(());
    }
    match d.reserved_concurrency {
        Some(n) => {
            lambda
                .put_function_concurrency()
                .function_name(name)
                .reserved_concurrent_executions(to_i32(n))
                .send()
                .await
                .map_err(|e| lambda_err("PutFunctionConcurrency", name, region, e))?;
        }
        None => {
            lambda
                .delete_function_concurrency()
                .function_name(name)
                .send()
                .await
                .map_err(|e| lambda_err("DeleteFunctionConcurrency", name, region, e))?;
        }
    }
    Ok(())
}

/// Lets EventBridge rules named `statuspage-checker-*` in the function's own account and region
/// invoke it (a resource-based policy statement; already present is fine).
async fn ensure_events_permission(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    region: &str,
    function_arn: &str,
    mode: Mode,
    created: bool,
    changes: &mut Vec<String>,
) -> Result<()> {
    let line = format!("permission: EventBridge rules {RULE_PREFIX}* may invoke {name}");
    // Asked first: Lambda answers a repeated AddPermission with a conflict, but emulators
    // (moto) add a duplicate statement.
    if !created && has_events_permission(lambda, name, region).await? {
        return Ok(());
    }
    if mode == Mode::Plan {
        changes.push(line);
        return Ok(());
    }
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
        Ok(_) => {
            if !created {
                changes.push(line);
            }
            Ok(())
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_conflict_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(lambda_err("AddPermission", name, region, e)),
    }
}

/// Whether the function's resource policy holds our EventBridge statement.
async fn has_events_permission(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    region: &str,
) -> Result<bool> {
    match lambda.get_policy().function_name(name).send().await {
        Ok(out) => {
            let policy: serde_json::Value = out
                .policy()
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or_default();
            Ok(policy["Statement"].as_array().is_some_and(|statements| {
                statements
                    .iter()
                    .any(|s| s["Sid"] == EVENTS_PERMISSION_STATEMENT_ID)
            }))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(lambda_err("GetPolicy", name, region, e)),
    }
}

/// What [`destroy_function`] did (or, planned, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    Deleted,
    /// Nothing by that name exists.
    Absent,
    /// It exists but lacks [`MANAGED_TAG`]: someone else made it, so it is left alone.
    NotManaged,
}

/// Deletes the function (with its permissions and concurrency setting) if `infra` made it.
pub async fn destroy_function(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    mode: Mode,
) -> Result<Removal> {
    let region = crate::region_of(lambda.config().region());
    let Some(cfg) = get_configuration(lambda, name, &region).await? else {
        return Ok(Removal::Absent);
    };
    let arn = cfg.function_arn().unwrap_or(name);
    if !is_managed(lambda, name, &region, arn).await? {
        return Ok(Removal::NotManaged);
    }
    if mode == Mode::Apply {
        match lambda.delete_function().function_name(name).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(lambda_err("DeleteFunction", name, &region, e)),
        }
        tracing::info!(function = name, %region, "deleted function");
    }
    Ok(Removal::Deleted)
}

fn short_sha(sha: &str) -> String {
    if sha.is_empty() {
        "none".to_owned()
    } else {
        sha.chars().take(12).collect()
    }
}

fn key_list<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let keys: Vec<&str> = keys.map(String::as_str).collect();
    if keys.is_empty() {
        "empty".to_owned()
    } else {
        keys.join(" ")
    }
}

/// `environment: +NEW ~CHANGED -GONE` by key only, so secrets never reach a terminal or a log.
fn env_changes(
    current: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> Option<String> {
    let mut parts = Vec::new();
    for (k, v) in wanted {
        match current.get(k) {
            None => parts.push(format!("+{k}")),
            Some(now) if now != v => parts.push(format!("~{k}")),
            Some(_) => {}
        }
    }
    parts.extend(
        current
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .map(|k| format!("-{k}")),
    );
    (!parts.is_empty()).then(|| format!("environment: {} (values not shown)", parts.join(" ")))
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
            reserved_concurrency: None,
        };
        let err = d.validate().unwrap_err().to_string();
        assert!(err.contains("memory 64 MB"), "{err}");
    }
}
