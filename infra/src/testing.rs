//! Helpers for tests that talk to a local moto server (feature `testing`; never in a release
//! binary): the endpoint, checked loudly; an IAM role; a tiny deployment package.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HOW_TO_RUN: &str =
    "run through the moto helper: `source scripts/moto.sh && ensure_moto && cargo test -p <crate>` (or `./dev test`)";

/// The moto endpoint; panics loudly unless it is configured and answering.
pub async fn moto() -> String {
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
        Ok(r) if r.status().is_success() => {
            let config: serde_json::Value = r.json().await.unwrap_or_default();
            assert_eq!(
                config["lambda"]["use_docker"],
                serde_json::json!(false),
                "moto must run Lambda without Docker (ensure_moto configures it): {config}"
            );
            endpoint
        }
        Ok(r) => panic!(
            "{endpoint} answered {} to /moto-api/config: not a moto server? {HOW_TO_RUN}",
            r.status()
        ),
        Err(e) => {
            panic!("no moto server answers at AWS_ENDPOINT_URL={endpoint} ({e}); {HOW_TO_RUN}")
        }
    }
}

pub fn unique(prefix: &str) -> String {
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
pub async fn create_role(endpoint: &str, name: &str) -> String {
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
pub fn tiny_zip(content: &[u8]) -> Vec<u8> {
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

/// Removes every rule with the checker prefix in the client's region, ours or not, targets
/// first (test isolation on a moto server that outlives test runs).
pub async fn delete_all_rules(events: &aws_sdk_eventbridge::Client) {
    let rules = events
        .list_rules()
        .name_prefix(crate::RULE_PREFIX)
        .send()
        .await
        .expect("ListRules on moto");
    for rule in rules.rules() {
        let name = rule.name().unwrap_or_default();
        let ids: Vec<String> = events
            .list_targets_by_rule()
            .rule(name)
            .send()
            .await
            .expect("ListTargetsByRule on moto")
            .targets()
            .iter()
            .map(|t| t.id().to_owned())
            .collect();
        if !ids.is_empty() {
            events
                .remove_targets()
                .rule(name)
                .set_ids(Some(ids))
                .send()
                .await
                .expect("RemoveTargets on moto");
        }
        events
            .delete_rule()
            .name(name)
            .send()
            .await
            .expect("DeleteRule on moto");
    }
}
