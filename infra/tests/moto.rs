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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_eventbridge::types::RuleState;
use aws_sdk_lambda::types::{Architecture, Runtime};
use infra::{Arch, CheckerDeployment, DeployAction};

const HOW_TO_RUN: &str =
    "run the infra tests through the moto helper: `source scripts/moto.sh && ensure_moto && cargo test -p infra`";

/// The moto endpoint; panics loudly unless it is configured and answering.
async fn moto() -> String {
    let endpoint = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(v) if !v.trim().is_empty() => v.trim().trim_end_matches('/').to_owned(),
        _ => panic!("AWS_ENDPOINT_URL is not set: these tests need a moto server; {HOW_TO_RUN}"),
    };
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        // Without static credentials the SDK would fall back to instance metadata: refuse.
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set; {HOW_TO_RUN}"
        );
    }
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("{endpoint}/moto-api/config"))
        .send()
        .await;
    match probe {
        Ok(r) if r.status().is_success() => endpoint,
        Ok(r) => panic!(
            "{endpoint} answered {} to /moto-api/config: not a moto server? {HOW_TO_RUN}",
            r.status()
        ),
        Err(e) => {
            panic!("no moto server answers at AWS_ENDPOINT_URL={endpoint} ({e}); {HOW_TO_RUN}")
        }
    }
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Creates an IAM role through moto's IAM query API (unsigned; the Authorization header only
/// tells moto which service is meant) and returns its ARN.
async fn create_role(endpoint: &str, name: &str) -> String {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let body = form_encode(&[
        ("Action", "CreateRole"),
        ("Version", "2010-05-08"),
        ("RoleName", name),
        ("AssumeRolePolicyDocument", trust),
    ]);
    let resp = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body)
        .send()
        .await
        .expect("IAM CreateRole request to moto");
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "IAM CreateRole: {status}: {text}");
    let arn = text
        .split("<Arn>")
        .nth(1)
        .and_then(|s| s.split("</Arn>").next())
        .unwrap_or_else(|| panic!("no <Arn> in CreateRole response: {text}"));
    arn.to_owned()
}

/// A valid zip (stored, no compression) holding one executable file `bootstrap`.
fn tiny_zip(content: &[u8]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let name = b"bootstrap";
    let crc = crc32(content);
    let size = u32::try_from(content.len()).unwrap();
    let mut z = Vec::new();
    // Local file header.
    z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    z.extend_from_slice(&20u16.to_le_bytes()); // version needed
    z.extend_from_slice(&0u16.to_le_bytes()); // flags
    z.extend_from_slice(&0u16.to_le_bytes()); // method: stored
    z.extend_from_slice(&0u16.to_le_bytes()); // time
    z.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes()); // extra len
    z.extend_from_slice(name);
    z.extend_from_slice(content);
    let cd_offset = u32::try_from(z.len()).unwrap();
    // Central directory entry.
    z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    z.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: unix
    z.extend_from_slice(&20u16.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0x21u16.to_le_bytes());
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes()); // extra
    z.extend_from_slice(&0u16.to_le_bytes()); // comment
    z.extend_from_slice(&0u16.to_le_bytes()); // disk
    z.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
    z.extend_from_slice(&((0o100_755u32) << 16).to_le_bytes()); // -rwxr-xr-x
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name);
    let cd_size = u32::try_from(z.len()).unwrap() - cd_offset;
    // End of central directory.
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&cd_size.to_le_bytes());
    z.extend_from_slice(&cd_offset.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

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
    };

    // 1. Create.
    let first = infra::deploy_function_with_outcome(&lambda, &d)
        .await
        .unwrap();
    assert_eq!(first.action, DeployAction::Created);
    assert!(
        first.function_arn.starts_with("arn:aws:lambda:us-east-1:")
            && first
                .function_arn
                .ends_with(&format!(":function:{}", d.function_name)),
        "{}",
        first.function_arn
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
    assert_eq!(again, first.function_arn);
    let same = infra::deploy_function_with_outcome(&lambda, &d)
        .await
        .unwrap();
    assert_eq!(same.action, DeployAction::Unchanged);

    // 3. Memory change: configuration update only.
    d.memory_mb = 256;
    let second = infra::deploy_function_with_outcome(&lambda, &d)
        .await
        .unwrap();
    assert_eq!(second.function_arn, first.function_arn);
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

    lambda
        .delete_function()
        .function_name(&d.function_name)
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
    infra::sync_schedules(&events, region, function_arn, 0)
        .await
        .unwrap();
    assert!(rules_in(&events).await.is_empty());

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

    // Drift is repaired: an extra target, a disabled rule, a foreign rule with our prefix.
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
    let r = infra::sync_schedules(&events, region, function_arn, 2)
        .await
        .unwrap();
    assert_eq!(
        r.updated,
        strs(&["statuspage-checker-0", "statuspage-checker-1"])
    );
    assert_eq!(r.deleted, strs(&["statuspage-checker-legacy"]));
    for k in 0..2 {
        assert_rule(&events, region, function_arn, k, 2).await;
    }

    // Teardown.
    let r = infra::sync_schedules(&events, region, function_arn, 0)
        .await
        .unwrap();
    assert_eq!(
        r.deleted,
        strs(&["statuspage-checker-0", "statuspage-checker-1"])
    );
    assert!(rules_in(&events).await.is_empty());
}
