//! The contract between the API and the checkers: the event that starts a run, the work plan for
//! one region and shard, the fast-path report, and how internal requests are signed.

use crate::probe::CheckStatus;
use crate::spec::MonitorSpec;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What the EventBridge schedule (or the local runner) sends every minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckEvent {
    pub region: String,
    #[serde(default)]
    pub shard: u32,
    #[serde(default = "one")]
    pub shards: u32,
}

fn one() -> u32 {
    1
}

/// Monitors due in one region and shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkPlan {
    pub region: String,
    pub generated_at: DateTime<Utc>,
    pub checks: Vec<PlannedCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCheck {
    pub monitor_id: Uuid,
    pub tenant_id: Uuid,
    pub spec: MonitorSpec,
    /// The status this region last reported, so only changes and failures take the fast path.
    pub last_status: Option<CheckStatus>,
}

/// Which shard a monitor belongs to: stable across runs and processes.
pub fn shard_of(monitor_id: Uuid, shards: u32) -> u32 {
    let bytes = monitor_id.as_bytes();
    let n = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    n % shards.max(1)
}

/// Failures and status changes, posted to the API as soon as a run ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastPathReport {
    pub region: String,
    pub run_id: Uuid,
    pub results: Vec<ReportedResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportedResult {
    pub monitor_id: Uuid,
    pub tenant_id: Uuid,
    pub status: CheckStatus,
    pub checked_at: DateTime<Utc>,
    pub total_us: u32,
    pub error: Option<String>,
}

pub const SIGNATURE_HEADER: &str = "x-checker-signature";
pub const TIMESTAMP_HEADER: &str = "x-checker-timestamp";
/// How far a signed request's clock may be off before it is refused (replay window).
pub const MAX_SKEW_SECS: i64 = 300;

/// HMAC-SHA256 over timestamp, method, path with query, and the body's SHA-256.
fn request_mac(
    secret: &str,
    timestamp: i64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}\n{method}\n{path_and_query}\n").as_bytes());
    mac.update(hex::encode(Sha256::digest(body)).as_bytes());
    mac
}

/// The signature a checker sends with a request (hex).
pub fn sign(
    secret: &str,
    timestamp: i64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> String {
    hex::encode(
        request_mac(secret, timestamp, method, path_and_query, body)
            .finalize()
            .into_bytes(),
    )
}

/// Constant-time check of a signature made by [`sign`], within the allowed clock skew.
pub fn verify(
    secret: &str,
    now: i64,
    timestamp: i64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    if (now - timestamp).abs() > MAX_SKEW_SECS {
        return false;
    }
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    request_mac(secret, timestamp, method, path_and_query, body)
        .verify_slice(&given)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_the_same_request() {
        let path = "/internal/v1/plan?region=a";
        let sig = sign("s3cret", 1000, "GET", path, b"");
        let ok = |secret: &str, now: i64, method: &str, path: &str, body: &[u8], sig: &str| {
            verify(secret, now, 1000, method, path, body, sig)
        };
        assert!(ok("s3cret", 1010, "GET", path, b"", &sig));
        assert!(!ok("other", 1010, "GET", path, b"", &sig), "other secret");
        assert!(
            !ok(
                "s3cret",
                1010,
                "GET",
                "/internal/v1/plan?region=b",
                b"",
                &sig
            ),
            "other query"
        );
        assert!(!ok("s3cret", 1010, "POST", path, b"", &sig), "other method");
        assert!(!ok("s3cret", 1010, "GET", path, b"x", &sig), "other body");
        assert!(
            !ok("s3cret", 1000 + MAX_SKEW_SECS + 1, "GET", path, b"", &sig),
            "too old"
        );
        assert!(!ok("s3cret", 1010, "GET", path, b"", "zz"), "not hex");
    }

    #[test]
    fn shards_partition_monitors() {
        let ids: Vec<Uuid> = (0..1000).map(|_| Uuid::new_v4()).collect();
        let mut counts = [0u32; 4];
        for id in &ids {
            let shard = shard_of(*id, 4);
            assert_eq!(shard, shard_of(*id, 4));
            counts[shard as usize] += 1;
        }
        assert!(counts.iter().all(|c| *c > 150), "{counts:?}");
        assert_eq!(shard_of(ids[0], 0), 0);
    }
}
