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

/// Whether a monitor checked every `interval_secs` is due in the run at `now_secs`, for checkers
/// that run every `tick_secs`. Monitors are spread over the ticks of their interval by id, so a
/// 5-minute monitor runs in one minute out of five and not all 5-minute monitors in the same one.
/// Intervals shorter than a tick run every tick.
pub fn is_due(monitor_id: Uuid, interval_secs: u32, now_secs: i64, tick_secs: u32) -> bool {
    let tick = i64::from(tick_secs.max(1));
    let ticks_per_interval = (i64::from(interval_secs) / tick).max(1);
    let slot = now_secs.div_euclid(tick);
    let phase = i64::from(shard_of(monitor_id, u32::MAX)) % ticks_per_interval;
    slot.rem_euclid(ticks_per_interval) == phase
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
    fn monitors_are_due_once_per_interval() {
        for _ in 0..50 {
            let id = Uuid::new_v4();
            let due = |interval, tick| {
                (0..600)
                    .filter(|t| is_due(id, interval, t * tick as i64, tick))
                    .count()
            };
            assert_eq!(due(300, 60), 120, "every fifth minute");
            assert_eq!(due(60, 60), 600, "every minute");
            assert_eq!(due(30, 60), 600, "shorter than a tick: every tick");
            assert_eq!(due(30, 15), 300, "every other 15 s tick");
            assert_eq!(due(90, 60), 600, "rounded down to whole ticks");
        }
        // Spread: 5-minute monitors do not all land in the same minute.
        let in_first_minute = (0..1000)
            .filter(|_| is_due(Uuid::new_v4(), 300, 0, 60))
            .count();
        assert!((100..300).contains(&in_first_minute), "{in_first_minute}");
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
