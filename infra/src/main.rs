//! `infra`: deploy the checker Lambda to the regions, sync its EventBridge schedules, estimate
//! cost. Every flag can also be given through the environment variable shown in `--help`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use infra::{Arch, CheckerDeployment, DeployAction, Mode, Removal};
use tokio::task::JoinSet;

#[derive(Debug, Parser)]
#[command(
    name = "infra",
    version,
    about = "Deploys the statuspage checker Lambda to AWS regions and keeps its schedules in sync",
    long_about = "Deploys the statuspage checker Lambda to AWS regions and keeps its EventBridge \
                  schedules in sync (one `rate(1 minute)` rule per shard per region, named \
                  statuspage-checker-<shard>).\n\nCredentials come from the standard AWS chain \
                  (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity, instance \
                  role). For a local emulator: `source scripts/moto.sh && ensure_moto`."
)]
struct Cli {
    /// Endpoint override for every AWS service (e.g. http://127.0.0.1:5000 for moto).
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    endpoint_url: Option<String>,

    /// Name of the checker function (the same in every region).
    #[arg(
        long,
        env = "CHECKER_FUNCTION_NAME",
        default_value = "statuspage-checker",
        global = true
    )]
    function_name: String,

    /// Regions to act on, comma-separated [default: the 18 default regions].
    #[arg(long, env = "CHECKER_REGIONS", value_delimiter = ',', global = true)]
    regions: Vec<String>,

    /// Number of shards (one schedule rule per shard per region) [default: what the region's
    /// rules were made for, since the app server adjusts it to its monitors; 1 in a new region].
    #[arg(long, env = "CHECKER_SHARDS",
          value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    shards: Option<u32>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print what `deploy` would change in every region, without changing anything. Exits 0 when
    /// nothing would change, 2 when something would, 1 on an error.
    Plan(DeployArgs),
    /// Create or update the checker function, its permission and its schedules in every region
    /// (idempotent: a second run changes nothing).
    Deploy(DeployArgs),
    /// Remove the function and schedules `deploy` made (tagged managed-by=statuspage-infra) from
    /// every region. Without --yes it only prints what it would remove (exit 2 if anything).
    Destroy(DestroyArgs),
    /// Make the EventBridge rules in every region match --shards (idempotent; deletes stale rules).
    SyncSchedules,
    /// Estimate the monthly AWS bill (no AWS calls). Assumptions: see `infra::estimate_monthly_cost`.
    Cost(CostArgs),
}

#[derive(Debug, Args)]
struct DeployArgs {
    /// Deployment package: a zip with an executable `bootstrap` at its root.
    #[arg(long, env = "CHECKER_ZIP", value_name = "PATH")]
    zip: PathBuf,

    /// Execution role ARN of the function (IAM is global: one role for all regions).
    #[arg(long, env = "CHECKER_ROLE_ARN")]
    role_arn: String,

    /// Function memory in MB (128..=10240).
    #[arg(long, env = "CHECKER_MEMORY_MB", default_value_t = 256)]
    memory_mb: u32,

    /// Function timeout in seconds (1..=900). An invocation starts each check at its own
    /// instant within its minute; one due at the end may take 40 s more, plus 5 s to store.
    #[arg(long, env = "CHECKER_TIMEOUT_S", default_value_t = 110)]
    timeout_s: u32,

    /// Architecture of the bootstrap binary: arm64 or x86_64.
    #[arg(long, env = "CHECKER_ARCH", default_value = "arm64")]
    arch: Arch,

    /// Function environment variable KEY=VALUE; repeat the flag, or comma-separate in the env var.
    /// Values here are not secret; use --secret for those.
    #[arg(long = "set-env", env = "CHECKER_FUNCTION_ENV", value_name = "KEY=VALUE",
          value_delimiter = ',', value_parser = parse_key_value)]
    set_env: Vec<(String, String)>,

    /// Secret function environment variable, read at deploy time and never printed:
    /// KEY=env:VAR (this process's variable VAR) or KEY=secretsmanager:ID[#field] (AWS Secrets
    /// Manager in the region being deployed; `{region}` in ID becomes that region).
    #[arg(
        long = "secret",
        env = "CHECKER_FUNCTION_SECRETS",
        value_name = "KEY=SOURCE",
        value_delimiter = ','
    )]
    secrets: Vec<infra::SecretVar>,

    /// Executions reserved for the function in each region [default: unreserved].
    #[arg(long, env = "CHECKER_RESERVED_CONCURRENCY",
          value_parser = clap::value_parser!(u32).range(1..=10000))]
    reserved_concurrency: Option<u32>,
}

#[derive(Debug, Args)]
struct DestroyArgs {
    /// Really delete (otherwise only print what would be deleted).
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
struct CostArgs {
    /// Number of monitors.
    #[arg(long, env = "COST_MONITORS")]
    monitors: u32,

    /// Check interval of each monitor, seconds.
    #[arg(long = "interval", env = "COST_INTERVAL_S", value_name = "SECONDS")]
    interval_s: u32,

    /// Average duration of one check, milliseconds.
    #[arg(long, env = "COST_AVG_CHECK_MS", default_value_t = 300.0)]
    avg_check_ms: f64,

    /// Function memory in MB.
    #[arg(long, env = "CHECKER_MEMORY_MB", default_value_t = 256)]
    memory_mb: u32,

    /// Checks in flight at once in one invocation (1 = upper bound: checks billed back to back).
    #[arg(long, env = "COST_CONCURRENCY", default_value_t = 1)]
    concurrency: u32,

    /// Price compute at the arm64 rate (x86_64 otherwise).
    #[arg(long, env = "COST_ARM64")]
    arm64: bool,

    /// Checks per minute one shard carries, as the app server sizes them (0: one shard).
    #[arg(long, env = "CHECKER_SHARD_CHECKS_PER_MINUTE", default_value_t = 1000)]
    shard_checks_per_minute: u32,

    /// Print the estimate as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

fn resolve_regions(given: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for r in given.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        if !r
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!("CHECKER_REGIONS: `{r}` is not a region name (like eu-west-1)");
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.to_owned());
        }
    }
    if out.is_empty() {
        out = infra::DEFAULT_REGIONS
            .iter()
            .map(|r| (*r).to_owned())
            .collect();
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<ExitWith>().is_some() => {
            std::process::ExitCode::from(e.downcast_ref::<ExitWith>().map_or(1, |x| x.0))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let cli = Cli::parse();
    let regions = resolve_regions(&cli.regions)?;
    let endpoint = cli.endpoint_url.clone().filter(|e| !e.trim().is_empty());

    let function = cli.function_name.clone();
    let shards = cli.shards;
    let plan_only = matches!(cli.command, Command::Plan(_));
    let outcome = match cli.command {
        Command::Cost(args) => {
            cost(&args, regions.len());
            return Ok(());
        }
        Command::Plan(args) | Command::Deploy(args) => {
            let mode = if plan_only { Mode::Plan } else { Mode::Apply };
            let deployment = read_deployment(&function, &args)?;
            let secrets = args.secrets.clone();
            for_each_region(&regions, move |region| {
                let (d, secrets, endpoint) =
                    (deployment.clone(), secrets.clone(), endpoint.clone());
                async move {
                    converge_region(&region, endpoint.as_deref(), d, &secrets, shards, mode).await
                }
            })
            .await?
        }
        Command::Destroy(args) => {
            let mode = if args.yes { Mode::Apply } else { Mode::Plan };
            let outcome = for_each_region(&regions, move |region| {
                let (function, endpoint) = (function.clone(), endpoint.clone());
                async move { destroy_region(&region, endpoint.as_deref(), &function, mode).await }
            })
            .await?;
            if mode == Mode::Plan && outcome.changes > 0 {
                println!("nothing was deleted; run `infra destroy --yes` to delete the above");
                return Err(ExitWith(2).into());
            }
            return Ok(());
        }
        Command::SyncSchedules => {
            for_each_region(&regions, move |region| {
                let (function, endpoint) = (function.clone(), endpoint.clone());
                async move { sync_region(&region, endpoint.as_deref(), &function, shards).await }
            })
            .await?
        }
    };
    if plan_only && outcome.changes > 0 {
        println!(
            "{} change(s) in {} region(s); `infra deploy` with the same arguments makes them",
            outcome.changes, outcome.regions_changed
        );
        return Err(ExitWith(2).into());
    }
    if plan_only {
        println!("no changes: every region is up to date");
    }
    Ok(())
}

/// Ends the process with this code after printing nothing more (a plan that found changes).
#[derive(Debug)]
struct ExitWith(u8);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for ExitWith {}

fn read_deployment(function: &str, args: &DeployArgs) -> anyhow::Result<CheckerDeployment> {
    let zip = std::fs::read(&args.zip)
        .with_context(|| format!("reading deployment zip {}", args.zip.display()))?;
    if !zip.starts_with(b"PK\x03\x04") {
        bail!("{} is not a zip file", args.zip.display());
    }
    let env = args.set_env.iter().cloned().collect::<BTreeMap<_, _>>();
    if let Some(s) = args.secrets.iter().find(|s| env.contains_key(&s.key)) {
        bail!("{} is given both as --set-env and as --secret", s.key);
    }
    Ok(CheckerDeployment {
        function_name: function.to_owned(),
        role_arn: args.role_arn.clone(),
        zip,
        memory_mb: args.memory_mb,
        timeout_s: args.timeout_s,
        architecture: args.arch,
        env,
        reserved_concurrency: args.reserved_concurrency,
    })
}

/// What one region's task reports: a log summary and the changes to print.
struct RegionDone {
    summary: String,
    changes: Vec<String>,
}

/// Totals over all regions.
struct Outcome {
    changes: usize,
    regions_changed: usize,
}

/// Runs `op` for every region concurrently, logging progress as regions finish, then prints
/// every region's changes in region order; fails (after all regions finished) if any failed.
async fn for_each_region<F, Fut>(regions: &[String], op: F) -> anyhow::Result<Outcome>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<RegionDone>> + Send + 'static,
{
    let started = Instant::now();
    let total = regions.len();
    let mut set = JoinSet::new();
    for region in regions {
        let region = region.clone();
        let fut = op(region.clone());
        set.spawn(async move { (region, fut.await) });
    }
    let mut failed = Vec::new();
    let mut printed = BTreeMap::new();
    let mut done = 0;
    while let Some(joined) = set.join_next().await {
        done += 1;
        let (region, result) = joined.context("region task panicked")?;
        match result {
            Ok(r) => {
                tracing::info!("[{done}/{total}] {region}: {}", r.summary);
                printed.insert(region, r.changes);
            }
            Err(e) => {
                tracing::error!("[{done}/{total}] {region}: {e:#}");
                failed.push(region);
            }
        }
    }
    let mut outcome = Outcome {
        changes: 0,
        regions_changed: 0,
    };
    for (region, changes) in &printed {
        outcome.changes += changes.len();
        outcome.regions_changed += usize::from(!changes.is_empty());
        for line in changes {
            println!("{region}: {line}");
        }
    }
    let elapsed = started.elapsed();
    if failed.is_empty() {
        tracing::info!("all {total} regions done in {elapsed:.1?}");
        Ok(outcome)
    } else {
        failed.sort();
        bail!(
            "{} of {total} regions failed: {}",
            failed.len(),
            failed.join(", ")
        )
    }
}

/// Deploys (or plans) the function, its permission and its schedules in one region.
async fn converge_region(
    region: &str,
    endpoint: Option<&str>,
    mut d: CheckerDeployment,
    secrets: &[infra::SecretVar],
    shards: Option<u32>,
    mode: Mode,
) -> anyhow::Result<RegionDone> {
    let config = infra::aws_config(region, endpoint).await;
    d.env
        .extend(infra::resolve_secrets(secrets, region, &config).await?);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let outcome = match mode {
        Mode::Apply => {
            tracing::info!("{region}: deploying {}", d.function_name);
            infra::deploy_function_with_outcome(&lambda, &d).await?
        }
        Mode::Plan => infra::plan_function(&lambda, &d).await?,
    };
    let shards = match shards {
        Some(n) => n,
        None => infra::deployed_shards(&events).await?.unwrap_or(1),
    };
    let report = match (mode, outcome.function_arn.as_deref()) {
        (Mode::Apply, Some(arn)) => infra::sync_schedules(&events, region, arn, shards).await?,
        (_, arn) => infra::plan_schedules(&events, region, arn, shards).await?,
    };
    let action = match outcome.action {
        DeployAction::Created => "created".to_owned(),
        DeployAction::Updated {
            code,
            configuration,
        } => format!("updated (code: {code}, configuration: {configuration})"),
        DeployAction::Unchanged => "unchanged".to_owned(),
    };
    let verb = if mode == Mode::Plan { "would be " } else { "" };
    let summary = format!(
        "{} {verb}{action}; schedules: {}",
        outcome.function_arn.as_deref().unwrap_or(&d.function_name),
        report_summary(&report)
    );
    // Printed for a deploy too: what it changed.
    let mut changes = outcome.changes;
    changes.extend(report.changes);
    Ok(RegionDone { summary, changes })
}

async fn destroy_region(
    region: &str,
    endpoint: Option<&str>,
    function: &str,
    mode: Mode,
) -> anyhow::Result<RegionDone> {
    let config = infra::aws_config(region, endpoint).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    // Rules first: a rule left without its function would fire into nothing.
    let rules = infra::destroy_schedules(&events, mode).await?;
    let removal = infra::destroy_function(&lambda, function, mode).await?;
    let verb = if mode == Mode::Plan {
        "would delete"
    } else {
        "deleted"
    };
    let mut changes: Vec<String> = rules
        .deleted
        .iter()
        .map(|r| format!("rule {r}: {verb}"))
        .collect();
    for r in &rules.foreign {
        tracing::warn!("{region}: rule {r} has no managed-by tag: left alone");
    }
    match removal {
        Removal::Deleted => changes.push(format!("function {function}: {verb}")),
        Removal::NotManaged => {
            tracing::warn!("{region}: function {function} has no managed-by tag: left alone")
        }
        Removal::Absent => {}
    }
    let summary = if changes.is_empty() {
        "nothing of ours here".to_owned()
    } else {
        format!("{} {verb}", changes.len())
    };
    Ok(RegionDone { summary, changes })
}

async fn sync_region(
    region: &str,
    endpoint: Option<&str>,
    function: &str,
    shards: Option<u32>,
) -> anyhow::Result<RegionDone> {
    let config = infra::aws_config(region, endpoint).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let function_arn = match lambda.get_function().function_name(function).send().await {
        Ok(out) => out
            .configuration()
            .and_then(|c| c.function_arn())
            .map(str::to_owned)
            .with_context(|| format!("GetFunction `{function}` returned no ARN"))?,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            bail!("function `{function}` is not deployed in {region}; run `infra deploy` first")
        }
        Err(e) => bail!(
            "GetFunction `{function}` in {region}: {}",
            aws_sdk_lambda::error::DisplayErrorContext(&e)
        ),
    };
    let shards = match shards {
        Some(n) => n,
        None => infra::deployed_shards(&events).await?.unwrap_or(1),
    };
    tracing::info!("{region}: syncing {shards} shard(s) -> {function_arn}");
    let report = infra::sync_schedules(&events, region, &function_arn, shards).await?;
    Ok(RegionDone {
        summary: report_summary(&report),
        changes: report.changes,
    })
}

fn report_summary(r: &infra::SyncReport) -> String {
    if r.is_noop() {
        return format!("no change ({} rules up to date)", r.unchanged.len());
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(" ")
        }
    };
    format!(
        "created [{}] updated [{}] deleted [{}] unchanged [{}]",
        list(&r.created),
        list(&r.updated),
        list(&r.deleted),
        list(&r.unchanged)
    ) + &if r.foreign.is_empty() {
        String::new()
    } else {
        format!(" not ours [{}]", list(&r.foreign))
    }
}

fn cost(a: &CostArgs, regions: usize) {
    let inputs = infra::CostInputs {
        monitors: a.monitors,
        interval_s: a.interval_s,
        regions: u32::try_from(regions).unwrap_or(u32::MAX),
        avg_check_ms: a.avg_check_ms,
        memory_mb: a.memory_mb,
        concurrency: a.concurrency,
        arm64: a.arm64,
        shard_checks_per_minute: a.shard_checks_per_minute,
    };
    let e = infra::estimate_monthly_cost_with(inputs);
    if a.json {
        let doc = serde_json::json!({ "inputs": inputs, "estimate": e });
        println!("{doc:#}");
        return;
    }
    println!(
        "{} monitors every {} s from {} regions, {} ms/check, {} MB, concurrency {}, {}",
        a.monitors,
        a.interval_s,
        regions,
        a.avg_check_ms,
        a.memory_mb,
        a.concurrency.max(1),
        if a.arm64 { "arm64" } else { "x86_64" }
    );
    println!("  checks / month        {:>16.0}", e.checks_per_month);
    println!("  shards / region       {:>16.0}", e.shards);
    println!("  invocations / month   {:>16.0}", e.invocations_per_month);
    println!(
        "  billed ms / invocation{:>16.0}",
        e.billed_ms_per_invocation
    );
    println!("  GB-seconds / month    {:>16.1}", e.gb_seconds_per_month);
    println!("  Lambda requests       {:>14.2} $", e.lambda_requests_usd);
    println!("  Lambda compute        {:>14.2} $", e.lambda_compute_usd);
    println!("  EventBridge schedules {:>14.2} $", e.eventbridge_usd);
    println!("  data out (results)    {:>14.2} $", e.data_out_usd);
    println!("  total / month         {:>14.2} $", e.total_usd);
    println!("  (list prices, no free tier, no logs; see `infra` docs)");
    if e.billed_ms_per_invocation > 60_000.0 {
        println!(
            "  note: one invocation needs more than a minute of work; raise the engine's \
             concurrency (--concurrency) or CHECKER_SHARDS"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn regions_default_and_dedupe() {
        assert_eq!(resolve_regions(&[]).unwrap().len(), 18);
        let r = resolve_regions(&["eu-west-1".into(), " eu-west-1".into(), "us-east-1".into()]);
        assert_eq!(r.unwrap(), ["eu-west-1", "us-east-1"]);
        assert!(resolve_regions(&["EU_WEST".into()]).is_err());
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("A=b=c").unwrap(),
            ("A".to_owned(), "b=c".to_owned())
        );
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("novalue").is_err());
    }
}
