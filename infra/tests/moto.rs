//! Integration tests against a real moto server through the real AWS SDK.
//!
//! Run them with:
//!
//! ```sh
//! source scripts/moto.sh && ensure_moto && cargo test -p infra
//! ```
//!
//! They fail (never skip) when `AWS_ENDPOINT_URL` is unset or nothing answers there.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::RuleState;
use aws_sdk_lambda::types::{Architecture, Runtime};
use infra::{Arch, CheckerDeployment, DeployAction};

use infra::testing::{create_role, delete_all_rules, moto, tiny_zip, unique};

#[tokio::test]
async fn deploy_creates_then_updates_idempotently() {
    let endpoint = moto().await;
    let region = "us-east-1";
    let role_arn = create_role(&endpoint, &unique("sp-checker-role")).await;
    let config = infra::aws_config(region, Some(&endpoint)).await;
    let lambda = aws_sdk_lambda::Client::new(&config);

    let mut d = CheckerDeployment {
        function_name: unique("sp-checker"),
        role_arn,
        zip: tiny_zip(b"#!/bin/sh\necho v1\n"),
        memory_mb: 128,
        timeout_s: 60,
        architecture: Arch::Arm64,
        env: BTreeMap::from([("API_URL".to_owned(), "http://127.0.0.1:3000".to_owned())]),
        reserved_concurrency: None,
    };

    // 1. Create.
    let first = infra::deploy_function_with_outcome(&lambda, &d)
        .await
        .unwrap();
    assert_eq!(first.action, DeployAction::Created);
    let first_arn = first.function_arn.clone().unwrap();
    assert!(
        first_arn.starts_with("arn:aws:lambda:us-east-1:")
            && first_arn.ends_with(&format!(":function:{}", d.function_name)),
        "{first_arn}"
    );
    let tags = lambda
        .list_tags()
        .resource(&first_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags()
            .and_then(|t| t.get(infra::MANAGED_TAG.0))
            .map(String::as_str),
        Some(infra::MANAGED_TAG.1)
    );
    let cfg = lambda
        .get_function()
        .function_name(&d.function_name)
        .send()
        .await
        .unwrap()
        .configuration
        .unwrap();
    assert_eq!(cfg.memory_size(), Some(128));
    assert_eq!(cfg.timeout(), Some(60));
    assert_eq!(cfg.runtime(), Some(&Runtime::Providedal2023));
    assert_eq!(cfg.handler(), Some("bootstrap"));
    assert_eq!(cfg.architectures(), [Architecture::Arm64]);
    assert_eq!(cfg.code_sha256(), Some(infra::code_sha256(&d.zip).as_str()));
    assert_eq!(
        cfg.environment()
            .and_then(|e| e.variables())
            .and_then(|v| v.get("API_URL"))
            .map(String::as_str),
        Some("http://127.0.0.1:3000")
    );

    // EventBridge may invoke it.
    let policy = lambda
        .get_policy()
        .function_name(&d.function_name)
        .send()
        .await
        .unwrap();
    let policy = policy.policy().unwrap_or_default();
    assert!(
        policy.contains("events.amazonaws.com") && policy.contains("statuspage-checker-*"),
        "{policy}"
    );

    // 2. Same input again: nothing to do (the plain API returns the same ARN).
    let again = infra::deploy_function(&lambda, &d).await.unwrap();
    assert_eq!(again, first_arn);
    let same = infra::deploy_function_with_outcome(&lambda, &d)
        .await
        .unwrap();
    assert_eq!(same.action, DeployAction::Unchanged, "{:?}", same.changes);
    assert!(same.changes.is_empty(), "{:?}", same.changes);
    let plan = infra::plan_function(&lambda, &d).await.unwrap();
    assert_eq!(plan.action, DeployAction::Unchanged, "{:?}", plan.changes);

    // A plan names the fields that differ and changes nothing.
    let mut planned = d.clone();
    planned.timeout_s = 90;
    planned.reserved_concurrency = Some(7);
    planned
        .env
        .insert("CHECKER_SECRET".into(), "s3cr3t-value".into());
    let plan = infra::plan_function(&lambda, &planned).await.unwrap();
    assert_eq!(
        plan.changes,
        [
            "timeout s: 60 -> 90",
            "environment: +CHECKER_SECRET (values not shown)",
            "reserved concurrency: none -> 7"
        ],
        "{plan:?}"
    );
    assert!(!format!("{plan:?}{planned:?}").contains("s3cr3t-value"));
    let cfg = lambda
        .get_function()
        .function_name(&d.function_name)
        .send()
        .await
        .unwrap()
        .configuration
        .unwrap();
    assert_eq!(cfg.timeout(), Some(60), "a plan must not write");

    // Reserved concurrency is set, then removed again.
    let mut reserved = d.clone();
    reserved.reserved_concurrency = Some(7);
    let r = infra::deploy_function_with_outcome(&lambda, &reserved)
        .await
        .unwrap();
    assert_eq!(r.changes, ["reserved concurrency: none -> 7"]);
    let got = lambda
        .get_function_concurrency()
        .function_name(&d.function_name)
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), Some(7));
    let r = infra::deploy_function_with_outcome(&lambda, &d)
        .await
        .unwrap();
    assert_eq!(r.changes, ["reserved concurrency: 7 -> none"]);
    let r = infra::deploy_function_with_outcome(&lambda, &d)
        .await
        .unwrap();
    assert_eq!(r.action, DeployAction::Unchanged, "{:?}", r.changes);

    // 3. Memory change: configuration update only.
    d.memory_mb = 256;
    let second = infra::deploy_function_with_outcome(&lambda, &d)
        .await
        .unwrap();
    assert_eq!(second.function_arn.as_deref(), Some(first_arn.as_str()));
    assert_eq!(second.changes, ["memory MB: 128 -> 256"]);
    assert_eq!(
        second.action,
        DeployAction::Updated {
            code: false,
            configuration: true
        }
    );
    let cfg = lambda
        .get_function()
        .function_name(&d.function_name)
        .send()
        .await
        .unwrap()
        .configuration
        .unwrap();
    assert_eq!(cfg.memory_size(), Some(256));

    // 4. New code: code update only.
    d.zip = tiny_zip(b"#!/bin/sh\necho v2\n");
    let third = infra::deploy_function_with_outcome(&lambda, &d)
        .await
        .unwrap();
    assert_eq!(
        third.action,
        DeployAction::Updated {
            code: true,
            configuration: false
        }
    );
    let cfg = lambda
        .get_function()
        .function_name(&d.function_name)
        .send()
        .await
        .unwrap()
        .configuration
        .unwrap();
    assert_eq!(cfg.code_sha256(), Some(infra::code_sha256(&d.zip).as_str()));
    assert_eq!(cfg.memory_size(), Some(256));

    // Destroy removes what deploy made; a function without the tag is left alone.
    assert_eq!(
        infra::destroy_function(&lambda, &d.function_name, infra::Mode::Plan)
            .await
            .unwrap(),
        infra::Removal::Deleted
    );
    assert!(lambda
        .get_function()
        .function_name(&d.function_name)
        .send()
        .await
        .is_ok());
    assert_eq!(
        infra::destroy_function(&lambda, &d.function_name, infra::Mode::Apply)
            .await
            .unwrap(),
        infra::Removal::Deleted
    );
    assert!(lambda
        .get_function()
        .function_name(&d.function_name)
        .send()
        .await
        .is_err());
    assert_eq!(
        infra::destroy_function(&lambda, &d.function_name, infra::Mode::Apply)
            .await
            .unwrap(),
        infra::Removal::Absent
    );
    let foreign = unique("not-ours");
    lambda
        .create_function()
        .function_name(&foreign)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(&d.role_arn)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(tiny_zip(b"x")))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        infra::destroy_function(&lambda, &foreign, infra::Mode::Apply)
            .await
            .unwrap(),
        infra::Removal::NotManaged
    );
    assert!(lambda
        .get_function()
        .function_name(&foreign)
        .send()
        .await
        .is_ok());
    lambda
        .delete_function()
        .function_name(&foreign)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn deploy_errors_name_function_and_region() {
    let endpoint = moto().await;
    let config = infra::aws_config("eu-central-1", Some(&endpoint)).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let d = CheckerDeployment {
        function_name: unique("sp-checker-badrole"),
        role_arn: "arn:aws:iam::123456789012:role/does-not-exist".into(),
        zip: tiny_zip(b"x"),
        memory_mb: 128,
        timeout_s: 30,
        architecture: Arch::X86_64,
        env: BTreeMap::new(),
        reserved_concurrency: None,
    };
    let err = infra::deploy_function(&lambda, &d).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            infra::Error::Lambda {
                operation: "CreateFunction",
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains(&d.function_name) && msg.contains("eu-central-1"),
        "{msg}"
    );
}

async fn rules_in(events: &aws_sdk_eventbridge::Client) -> Vec<String> {
    let mut names: Vec<String> = events
        .list_rules()
        .name_prefix(infra::RULE_PREFIX)
        .send()
        .await
        .unwrap()
        .rules()
        .iter()
        .filter_map(|r| r.name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

async fn assert_rule(
    events: &aws_sdk_eventbridge::Client,
    region: &str,
    function_arn: &str,
    shard: u32,
    shards: u32,
) {
    let name = infra::rule_name(shard);
    let rule = events.describe_rule().name(&name).send().await.unwrap();
    assert_eq!(rule.schedule_expression(), Some("rate(1 minute)"), "{name}");
    assert_eq!(rule.state(), Some(&RuleState::Enabled), "{name}");
    let targets = events
        .list_targets_by_rule()
        .rule(&name)
        .send()
        .await
        .unwrap();
    let targets = targets.targets();
    assert_eq!(targets.len(), 1, "{name}: {targets:?}");
    assert_eq!(targets[0].id(), "checker");
    assert_eq!(targets[0].arn(), function_arn);
    let input: serde_json::Value = serde_json::from_str(targets[0].input().unwrap()).unwrap();
    assert_eq!(
        input,
        serde_json::json!({"region": region, "shard": shard, "shards": shards}),
        "{name}"
    );
}

#[tokio::test]
async fn sync_schedules_converges_and_is_idempotent() {
    let endpoint = moto().await;
    // A region of its own so the deploy test never interferes.
    let region = "eu-west-2";
    let config = infra::aws_config(region, Some(&endpoint)).await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:statuspage-checker";
    let strs = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    // Start clean even if a previous run against the same moto server left rules behind.
    delete_all_rules(&events).await;

    // 3 shards: three rules created.
    let r = infra::sync_schedules(&events, region, function_arn, 3)
        .await
        .unwrap();
    assert_eq!(r.region, region);
    assert_eq!(
        r.created,
        strs(&[
            "statuspage-checker-0",
            "statuspage-checker-1",
            "statuspage-checker-2"
        ])
    );
    assert!(
        r.updated.is_empty() && r.deleted.is_empty() && r.unchanged.is_empty(),
        "{r:?}"
    );
    assert_eq!(
        rules_in(&events).await,
        strs(&[
            "statuspage-checker-0",
            "statuspage-checker-1",
            "statuspage-checker-2"
        ])
    );
    for k in 0..3 {
        assert_rule(&events, region, function_arn, k, 3).await;
    }

    // Same again: no-op.
    let r = infra::sync_schedules(&events, region, function_arn, 3)
        .await
        .unwrap();
    assert!(r.is_noop(), "{r:?}");
    assert_eq!(r.unchanged.len(), 3);

    // 2 shards: the third rule goes, the others get the new input.
    let r = infra::sync_schedules(&events, region, function_arn, 2)
        .await
        .unwrap();
    assert_eq!(r.deleted, strs(&["statuspage-checker-2"]));
    assert_eq!(
        r.updated,
        strs(&["statuspage-checker-0", "statuspage-checker-1"])
    );
    assert!(r.created.is_empty());
    assert_eq!(
        rules_in(&events).await,
        strs(&["statuspage-checker-0", "statuspage-checker-1"])
    );
    for k in 0..2 {
        assert_rule(&events, region, function_arn, k, 2).await;
    }
    let gone = events
        .describe_rule()
        .name("statuspage-checker-2")
        .send()
        .await;
    assert!(gone.is_err(), "rule 2 should be deleted: {gone:?}");

    // Second identical sync: no-op.
    let r = infra::sync_schedules(&events, region, function_arn, 2)
        .await
        .unwrap();
    assert!(r.is_noop(), "{r:?}");

    // Drift is repaired: an extra target, a disabled rule, a stale rule of ours; a rule with our
    // prefix but without our tag is not ours and stays.
    events
        .put_targets()
        .rule("statuspage-checker-0")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("intruder")
                .arn(function_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    events
        .disable_rule()
        .name("statuspage-checker-1")
        .send()
        .await
        .unwrap();
    events
        .put_rule()
        .name("statuspage-checker-legacy")
        .schedule_expression("rate(5 minutes)")
        .send()
        .await
        .unwrap();
    events
        .put_rule()
        .name("statuspage-checker-7")
        .schedule_expression("rate(1 minute)")
        .tags(
            aws_sdk_eventbridge::types::Tag::builder()
                .key(infra::MANAGED_TAG.0)
                .value(infra::MANAGED_TAG.1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(infra::deployed_shards(&events).await.unwrap(), Some(8));
    let plan = infra::plan_schedules(&events, region, Some(function_arn), 2)
        .await
        .unwrap();
    assert_eq!(
        plan.changes,
        [
            "rule statuspage-checker-0: update target (shard 0 of 2)",
            "rule statuspage-checker-1: update schedule (shard 1 of 2)",
            "rule statuspage-checker-7: delete (stale)"
        ]
    );
    assert_eq!(plan.foreign, strs(&["statuspage-checker-legacy"]));
    let r = infra::sync_schedules(&events, region, function_arn, 2)
        .await
        .unwrap();
    assert_eq!(r.changes, plan.changes, "the plan said what the sync did");
    assert_eq!(
        r.updated,
        strs(&["statuspage-checker-0", "statuspage-checker-1"])
    );
    assert_eq!(r.deleted, strs(&["statuspage-checker-7"]));
    assert_eq!(r.foreign, strs(&["statuspage-checker-legacy"]));
    assert_eq!(infra::deployed_shards(&events).await.unwrap(), Some(2));
    for k in 0..2 {
        assert_rule(&events, region, function_arn, k, 2).await;
    }

    // Teardown: only ours go.
    let r = infra::destroy_schedules(&events, infra::Mode::Apply)
        .await
        .unwrap();
    assert_eq!(
        r.deleted,
        strs(&["statuspage-checker-0", "statuspage-checker-1"])
    );
    assert_eq!(r.foreign, strs(&["statuspage-checker-legacy"]));
    assert_eq!(
        rules_in(&events).await,
        strs(&["statuspage-checker-legacy"])
    );
    delete_all_rules(&events).await;
    assert!(rules_in(&events).await.is_empty());
}
