//! EventBridge schedules that fire the checker every minute.
//!
//! Layout (per region): **one rule per shard**, named `statuspage-checker-<k>` for
//! `k in 0..shards`, each with `rate(1 minute)` and exactly one target (id `checker`): the
//! region's checker function, with the constant input `{"region": R, "shard": k, "shards": N}`.
//! One rule per shard (rather than one rule with N targets) because a rule holds at most five
//! targets, and because each shard can then be paused or inspected on its own.
//!
//! Every rule is tagged [`MANAGED_TAG`]. A rule with the prefix that is not one of the wanted
//! `0..shards` rules is stale: deleted (targets first, then the rule) when it carries the tag,
//! otherwise left alone and reported as foreign.

use std::collections::BTreeSet;

use aws_sdk_eventbridge::types::{Rule, RuleState, Tag, Target};

use crate::error::{describe, Error, Result};
use crate::{Mode, MANAGED_TAG};

/// Name prefix of every checker rule.
pub const RULE_PREFIX: &str = "statuspage-checker-";
/// Schedule of every checker rule.
pub const SCHEDULE_EXPRESSION: &str = "rate(1 minute)";
/// Id of the single target of every checker rule.
pub const TARGET_ID: &str = "checker";

/// Name of the rule for `shard`.
pub fn rule_name(shard: u32) -> String {
    format!("{RULE_PREFIX}{shard}")
}

/// Constant input passed to the checker by the rule for `shard`.
pub fn target_input(region: &str, shard: u32, shards: u32) -> serde_json::Value {
    serde_json::json!({ "region": region, "shard": shard, "shards": shards })
}

fn rule_description(shard: u32, shards: u32) -> String {
    format!("statuspage checker schedule, shard {shard} of {shards}")
}

/// What [`sync_schedules`] changed in one region (rule names, sorted by shard).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    pub region: String,
    /// Rules that did not exist.
    pub created: Vec<String>,
    /// Rules whose schedule, state, description or target differed (e.g. after `shards` changed).
    pub updated: Vec<String>,
    /// Stale rules removed (targets removed, then the rule deleted).
    pub deleted: Vec<String>,
    /// Rules already exactly as wanted: no write call was made for them.
    pub unchanged: Vec<String>,
    /// Stale rules with the prefix but without [`MANAGED_TAG`]: not ours, left in place.
    pub foreign: Vec<String>,
    /// One line per difference (what a plan prints).
    pub changes: Vec<String>,
}

impl SyncReport {
    /// True when the sync made no write call at all.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Makes the checker rules in the client's region exactly `statuspage-checker-0..shards`, each
/// firing `function_arn` every minute with `{"region": region, "shard": k, "shards": shards}`,
/// tagged [`MANAGED_TAG`]; deletes every other tagged `statuspage-checker-*` rule. `region` is
/// what goes into the input and should be the client's region. `shards == 0` removes all
/// tagged checker rules.
///
/// Idempotent: a second call with the same arguments reports only `unchanged` rules. The
/// function must allow EventBridge to invoke it ([`crate::deploy_function`] adds that
/// permission).
pub async fn sync_schedules(
    events: &aws_sdk_eventbridge::Client,
    region: &str,
    function_arn: &str,
    shards: u32,
) -> Result<SyncReport> {
    converge_schedules(events, region, Some(function_arn), shards, Mode::Apply).await
}

/// What [`sync_schedules`] would change, without a single write call. `function_arn` is `None`
/// when the function does not exist yet (every target then counts as a change).
pub async fn plan_schedules(
    events: &aws_sdk_eventbridge::Client,
    region: &str,
    function_arn: Option<&str>,
    shards: u32,
) -> Result<SyncReport> {
    converge_schedules(events, region, function_arn, shards, Mode::Plan).await
}

async fn converge_schedules(
    events: &aws_sdk_eventbridge::Client,
    region: &str,
    function_arn: Option<&str>,
    shards: u32,
    mode: Mode,
) -> Result<SyncReport> {
    let client_region = crate::region_of(events.config().region());
    if client_region != region {
        tracing::warn!(
            client_region,
            region,
            "EventBridge client region differs from the region in the schedule input"
        );
    }
    if mode == Mode::Apply && function_arn.is_none() {
        return Err(Error::InvalidInput(
            "schedules need the function's ARN".into(),
        ));
    }
    let mut report = SyncReport {
        region: region.to_owned(),
        ..SyncReport::default()
    };

    let existing = list_checker_rules(events, &client_region).await?;
    let wanted: BTreeSet<String> = (0..shards).map(rule_name).collect();

    for shard in 0..shards {
        let name = rule_name(shard);
        let input = target_input(region, shard, shards);
        let description = rule_description(shard, shards);
        let current = existing.iter().find(|r| r.name() == Some(name.as_str()));

        let rule_ok = current.is_some_and(|r| {
            r.schedule_expression() == Some(SCHEDULE_EXPRESSION)
                && r.state() == Some(&RuleState::Enabled)
                && r.description() == Some(description.as_str())
        });
        let tagged = match current.and_then(|r| r.arn()) {
            Some(arn) => is_managed(events, arn, &name, &client_region).await?,
            None => false,
        };
        if mode == Mode::Apply {
            if !rule_ok {
                let mut put = events
                    .put_rule()
                    .name(&name)
                    .schedule_expression(SCHEDULE_EXPRESSION)
                    .state(RuleState::Enabled)
                    .description(&description);
                if current.is_none() {
                    put = put.tags(managed_tag()?);
                }
                put.send()
                    .await
                    .map_err(|e| eb_err("PutRule", &name, &client_region, e))?;
            }
            if let (Some(rule), false) = (current, tagged) {
                let arn = rule.arn().unwrap_or_default();
                events
                    .tag_resource()
                    .resource_arn(arn)
                    .tags(managed_tag()?)
                    .send()
                    .await
                    .map_err(|e| eb_err("TagResource", &name, &client_region, e))?;
            }
        }

        let targets = if current.is_some() {
            list_targets(events, &name, &client_region).await?
        } else {
            Vec::new()
        };
        let target_ok = targets.len() == 1 && {
            let t = &targets[0];
            t.id() == TARGET_ID
                && Some(t.arn()) == function_arn
                && t.input()
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                    .as_ref()
                    == Some(&input)
                && t.input_path().is_none()
                && t.input_transformer().is_none()
        };
        if !target_ok && mode == Mode::Apply {
            let function_arn = function_arn.unwrap_or_default();
            let extra: Vec<String> = targets
                .iter()
                .map(|t| t.id().to_owned())
                .filter(|id| id != TARGET_ID)
                .collect();
            remove_targets(events, &name, &client_region, extra).await?;
            let target = Target::builder()
                .id(TARGET_ID)
                .arn(function_arn)
                .input(input.to_string())
                .build()
                .map_err(|e| Error::InvalidInput(format!("EventBridge target: {e}")))?;
            let out = events
                .put_targets()
                .rule(&name)
                .targets(target)
                .send()
                .await
                .map_err(|e| eb_err("PutTargets", &name, &client_region, e))?;
            if out.failed_entry_count() > 0 {
                return Err(Error::PartialFailure {
                    operation: "PutTargets",
                    rule: name,
                    region: client_region,
                    failed: out.failed_entry_count(),
                    details: failed_details(out.failed_entries()),
                });
            }
        }

        match (current.is_some(), rule_ok && target_ok && tagged) {
            (false, _) => {
                if mode == Mode::Apply {
                    tracing::info!(region, rule = %name, "created schedule");
                }
                report
                    .changes
                    .push(format!("rule {name}: create (shard {shard} of {shards})"));
                report.created.push(name);
            }
            (true, false) => {
                let mut what = Vec::new();
                if !rule_ok {
                    what.push("schedule");
                }
                if !target_ok {
                    what.push("target");
                }
                if !tagged {
                    what.push("tag");
                }
                if mode == Mode::Apply {
                    tracing::info!(region, rule = %name, "updated schedule");
                }
                report.changes.push(format!(
                    "rule {name}: update {} (shard {shard} of {shards})",
                    what.join(", ")
                ));
                report.updated.push(name);
            }
            (true, true) => report.unchanged.push(name),
        }
    }

    let mut stale: Vec<&Rule> = existing
        .iter()
        .filter(|r| r.name().is_some_and(|n| !wanted.contains(n)))
        .collect();
    stale.sort_by_key(|r| shard_order(r.name().unwrap_or_default()));
    for rule in stale {
        let name = rule.name().unwrap_or_default().to_owned();
        if !is_managed(
            events,
            rule.arn().unwrap_or_default(),
            &name,
            &client_region,
        )
        .await?
        {
            tracing::warn!(region, rule = %name, "stale rule without the managed-by tag: left alone");
            report.foreign.push(name);
            continue;
        }
        if mode == Mode::Apply {
            delete_rule(events, &name, &client_region).await?;
            tracing::info!(region, rule = %name, "deleted stale schedule");
        }
        report.changes.push(format!("rule {name}: delete (stale)"));
        report.deleted.push(name);
    }
    Ok(report)
}

/// The shard count the region's rules were made for (`None`: no checker rule there), so a
/// deploy keeps what the API chose.
pub async fn deployed_shards(events: &aws_sdk_eventbridge::Client) -> Result<Option<u32>> {
    let region = crate::region_of(events.config().region());
    let rules = list_checker_rules(events, &region).await?;
    Ok(rules
        .iter()
        .filter_map(|r| r.name()?.strip_prefix(RULE_PREFIX)?.parse::<u32>().ok())
        .max()
        .map(|top| top + 1))
}

/// What [`destroy_schedules`] removed (or, planned, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RemovalReport {
    pub deleted: Vec<String>,
    /// Rules with the prefix but without [`MANAGED_TAG`]: left in place.
    pub foreign: Vec<String>,
}

/// Deletes every checker rule in the client's region that carries [`MANAGED_TAG`].
pub async fn destroy_schedules(
    events: &aws_sdk_eventbridge::Client,
    mode: Mode,
) -> Result<RemovalReport> {
    let region = crate::region_of(events.config().region());
    let mut rules = list_checker_rules(events, &region).await?;
    rules.sort_by_key(|r| shard_order(r.name().unwrap_or_default()));
    let mut report = RemovalReport::default();
    for rule in rules {
        let name = rule.name().unwrap_or_default().to_owned();
        if !is_managed(events, rule.arn().unwrap_or_default(), &name, &region).await? {
            report.foreign.push(name);
            continue;
        }
        if mode == Mode::Apply {
            delete_rule(events, &name, &region).await?;
            tracing::info!(%region, rule = %name, "deleted schedule");
        }
        report.deleted.push(name);
    }
    Ok(report)
}

async fn delete_rule(events: &aws_sdk_eventbridge::Client, name: &str, region: &str) -> Result<()> {
    let ids = list_targets(events, name, region)
        .await?
        .into_iter()
        .map(|t| t.id().to_owned())
        .collect();
    remove_targets(events, name, region, ids).await?;
    events
        .delete_rule()
        .name(name)
        .send()
        .await
        .map_err(|e| eb_err("DeleteRule", name, region, e))?;
    Ok(())
}

fn managed_tag() -> Result<Tag> {
    Tag::builder()
        .key(MANAGED_TAG.0)
        .value(MANAGED_TAG.1)
        .build()
        .map_err(|e| Error::InvalidInput(format!("EventBridge tag: {e}")))
}

async fn is_managed(
    events: &aws_sdk_eventbridge::Client,
    arn: &str,
    rule: &str,
    region: &str,
) -> Result<bool> {
    if arn.is_empty() {
        return Ok(false);
    }
    let out = events
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| eb_err("ListTagsForResource", rule, region, e))?;
    Ok(out
        .tags()
        .iter()
        .any(|t| t.key() == MANAGED_TAG.0 && t.value() == MANAGED_TAG.1))
}

fn shard_order(name: &str) -> (u64, String) {
    let n = name
        .strip_prefix(RULE_PREFIX)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    (n, name.to_owned())
}

/// All rules (default bus) whose name starts with [`RULE_PREFIX`], following pagination.
async fn list_checker_rules(
    events: &aws_sdk_eventbridge::Client,
    region: &str,
) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = events
            .list_rules()
            .name_prefix(RULE_PREFIX)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| eb_err("ListRules", &format!("{RULE_PREFIX}*"), region, e))?;
        rules.extend(
            out.rules()
                .iter()
                .filter(|r| r.name().is_some_and(|n| n.starts_with(RULE_PREFIX)))
                .cloned(),
        );
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(rules)
}

async fn list_targets(
    events: &aws_sdk_eventbridge::Client,
    rule: &str,
    region: &str,
) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = events
            .list_targets_by_rule()
            .rule(rule)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| eb_err("ListTargetsByRule", rule, region, e))?;
        targets.extend(out.targets().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(targets)
}

/// RemoveTargets in batches of 100 (the API's limit); no-op for an empty list.
async fn remove_targets(
    events: &aws_sdk_eventbridge::Client,
    rule: &str,
    region: &str,
    ids: Vec<String>,
) -> Result<()> {
    for chunk in ids.chunks(100) {
        let out = events
            .remove_targets()
            .rule(rule)
            .set_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| eb_err("RemoveTargets", rule, region, e))?;
        if out.failed_entry_count() > 0 {
            let details = out
                .failed_entries()
                .iter()
                .map(|f| {
                    format!(
                        "{}: {} {}",
                        f.target_id().unwrap_or("?"),
                        f.error_code().unwrap_or("?"),
                        f.error_message().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::PartialFailure {
                operation: "RemoveTargets",
                rule: rule.to_owned(),
                region: region.to_owned(),
                failed: out.failed_entry_count(),
                details,
            });
        }
    }
    Ok(())
}

fn failed_details(entries: &[aws_sdk_eventbridge::types::PutTargetsResultEntry]) -> String {
    entries
        .iter()
        .map(|f| {
            format!(
                "{}: {} {}",
                f.target_id().unwrap_or("?"),
                f.error_code().unwrap_or("?"),
                f.error_message().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn eb_err<E, R>(
    operation: &'static str,
    rule: &str,
    region: &str,
    e: aws_sdk_eventbridge::error::SdkError<E, R>,
) -> Error
where
    E: std::error::Error + aws_sdk_eventbridge::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Error::EventBridge {
        operation,
        rule: rule.to_owned(),
        region: region.to_owned(),
        message: describe(&e),
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_input() {
        assert_eq!(rule_name(3), "statuspage-checker-3");
        assert_eq!(
            target_input("eu-west-1", 1, 4).to_string(),
            r#"{"region":"eu-west-1","shard":1,"shards":4}"#
        );
    }

    #[test]
    fn stale_rules_sort_numerically() {
        let mut v = vec![
            "statuspage-checker-10",
            "statuspage-checker-x",
            "statuspage-checker-9",
        ];
        v.sort_by_key(|n| shard_order(n));
        assert_eq!(
            v,
            [
                "statuspage-checker-9",
                "statuspage-checker-10",
                "statuspage-checker-x"
            ]
        );
    }
}
