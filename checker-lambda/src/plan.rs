//! The contract between the API and the checkers: the event that starts a run, the work plan for
//! one region and shard, the fast-path report, and how internal requests are signed.

use crate::probe::CheckStatus;
use crate::spec::MonitorSpec;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What the EventBridge schedule (or the local runner) sends every minute, and what the API
/// sends when it wants monitors re-checked at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckEvent {
    pub region: String,
    #[serde(default)]
    pub shard: u32,
    #[serde(default = "one")]
    pub shards: u32,
    /// Monitors to check now, whatever their schedule (at most [`MAX_RECHECK_MONITORS`]): a
    /// failure seen in another region asks this one to confirm it. Empty for a scheduled run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recheck: Vec<Uuid>,
}

fn one() -> u32 {
    1
}

/// Most monitors one re-check event names; the API refuses longer lists and dispatchers split
/// them, so a re-check run stays as small as a scheduled one.
pub const MAX_RECHECK_MONITORS: usize = 100;

impl CheckEvent {
    /// The scheduled run of one region's only shard.
    pub fn scheduled(region: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            shard: 0,
            shards: 1,
            recheck: Vec::new(),
        }
    }

    /// A run of exactly these monitors in `region`, now.
    pub fn recheck(region: impl Into<String>, monitor_ids: Vec<Uuid>) -> Self {
        Self {
            recheck: monitor_ids,
            ..Self::scheduled(region)
        }
    }

    /// Whether this event asks for a re-check rather than the schedule's work.
    pub fn is_recheck(&self) -> bool {
        !self.recheck.is_empty()
    }
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
    /// Every result of this check takes the fast path, not only failures and changes: set for
    /// re-checks (the engine waits for their answer) and for monitors the engine does not hold
    /// operational (it counts recoveries).
    #[serde(default)]
    pub report_always: bool,
    /// When this check is due: the run starts it then (at once when that has passed). `None`
    /// for re-checks, which run at once. A monitor due twice in one tick is planned twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}

/// Which shard a monitor belongs to: stable across runs and processes.
pub fn shard_of(monitor_id: Uuid, shards: u32) -> u32 {
    let bytes = monitor_id.as_bytes();
    let n = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    n % shards.max(1)
}

/// Where a monitor's schedule starts within its interval, from its id (other bits than
/// [`shard_of`] uses): a multiple of the interval's greatest common divisor with the tick, so a
/// monitor whose interval is a whole number of ticks runs at the start of its ticks (a run never
/// waits for it) and the others at the fewest instants within the tick their pace needs.
fn phase_of(monitor_id: Uuid, interval_secs: u32, tick_secs: u32) -> i64 {
    let (interval, tick) = (interval_secs.max(1), tick_secs.max(1));
    let step = gcd(interval, tick);
    let bytes = monitor_id.as_bytes();
    let n = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    i64::from(n % (interval / step) * step)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The start of the checkers' tick that `now_secs` falls in.
pub fn tick_start(now_secs: i64, tick_secs: u32) -> i64 {
    let tick = i64::from(tick_secs.max(1));
    now_secs.div_euclid(tick) * tick
}

/// When (seconds since the epoch) a monitor checked every `interval_secs` is due within the
/// tick that `now_secs` falls in, for checkers started every `tick_secs`. Each monitor keeps its
/// own pace: it is due every `interval_secs` from a phase set by its id, so a 30 s monitor runs
/// twice in a 60 s tick (at its start and 30 s in), a 45 s one four times in three ticks and a
/// 90 s one twice in three, never rounded to the tick; monitors of one interval are spread over
/// the ticks (and the instants) it spans.
pub fn due_times(
    monitor_id: Uuid,
    interval_secs: u32,
    now_secs: i64,
    tick_secs: u32,
) -> impl Iterator<Item = i64> {
    let interval = i64::from(interval_secs.max(1));
    let start = tick_start(now_secs, tick_secs);
    let end = start + i64::from(tick_secs.max(1));
    let first =
        start + (phase_of(monitor_id, interval_secs, tick_secs) - start).rem_euclid(interval);
    (0..)
        .map(move |k| first + k * interval)
        .take_while(move |t| *t < end)
}

/// Whether a monitor is due at least once in the tick that `now_secs` falls in.
pub fn is_due(monitor_id: Uuid, interval_secs: u32, now_secs: i64, tick_secs: u32) -> bool {
    due_times(monitor_id, interval_secs, now_secs, tick_secs)
        .next()
        .is_some()
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
    /// The full detail, for the tenant.
    pub error: Option<String>,
    /// The kind of `error`, all that visitors see of it (absent from older checkers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::failure::Failure>,
    /// What the incident engine keeps as evidence (absent from older checkers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ResultDetail>,
}

/// The per-result detail an incident's evidence shows: the response's status, the address
/// checked (tenant admins only), the TLS session and the phase timings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_ip: Option<std::net::IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cipher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_days_left: Option<i64>,
    #[serde(default)]
    pub timings: crate::probe::PhaseTimings,
    /// 1 for the first attempt, 2 for the first retry, ...
    #[serde(default)]
    pub attempt: u8,
    /// What the health document said (monitors with `health`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::HealthReport>,
    /// The document's first bytes, for the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_document: Option<String>,
}

impl ResultDetail {
    pub fn of(outcome: &crate::probe::CheckOutcome) -> Self {
        Self {
            status_code: outcome.status_code,
            resolved_ip: outcome.resolved_ip,
            http_version: outcome.http_version.clone(),
            tls_version: outcome.tls_version.clone(),
            tls_cipher: outcome.tls_cipher.clone(),
            cert_expires_at: outcome.cert_expires_at,
            cert_days_left: outcome.cert_days_left,
            timings: outcome.timings.clone(),
            attempt: outcome.attempt,
            health: outcome.health.clone(),
            health_document: outcome.health_document.clone(),
        }
    }
}

pub const SIGNATURE_HEADER: &str = "x-checker-signature";
pub const TIMESTAMP_HEADER: &str = "x-checker-timestamp";
/// The region the request speaks for: picks the secret that must have signed it.
pub const REGION_HEADER: &str = "x-checker-region";
/// A value never used twice, so a captured request cannot be sent again.
pub const NONCE_HEADER: &str = "x-checker-nonce";
/// How far a signed request's clock may be off before it is refused; the API remembers nonces
/// for as long, so a request is accepted at most once.
pub const MAX_SKEW_SECS: i64 = 300;
/// How old a reported `checked_at` may be: a check's whole budget fits well inside it.
pub const MAX_RESULT_AGE_SECS: i64 = 300;
/// How far ahead of the API's clock a reported `checked_at` may be (clock drift only).
pub const MAX_RESULT_AHEAD_SECS: i64 = 60;

/// Everything a checker's signature covers: who it speaks for, when, a nonce, and the request.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub region: &'a str,
    pub timestamp: i64,
    pub nonce: &'a str,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("checker request timestamp is outside the allowed window")]
    Skew,
    #[error("malformed checker region or nonce")]
    Malformed,
    #[error("bad checker signature")]
    Mismatch,
}

/// Nonces are 16 to 64 characters of `[A-Za-z0-9_-]` (the client sends 32 hex digits).
pub fn valid_nonce(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Region names as `CHECKER_REGIONS` takes them: lower-case letters, digits and `-`.
pub fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// HMAC-SHA256 over a version tag, region, timestamp, nonce, method, path with query, and the
/// body's SHA-256, one per line (none of them can hold a newline).
fn request_mac(secret: &str, r: &SignedRequest<'_>) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(
        format!(
            "checker-v2\n{}\n{}\n{}\n{}\n{}\n",
            r.region, r.timestamp, r.nonce, r.method, r.path_and_query
        )
        .as_bytes(),
    );
    mac.update(hex::encode(Sha256::digest(r.body)).as_bytes());
    mac
}

/// The signature a checker sends with a request (hex).
pub fn sign(secret: &str, request: &SignedRequest<'_>) -> String {
    hex::encode(request_mac(secret, request).finalize().into_bytes())
}

/// Constant-time check of a signature made by [`sign`], within the allowed clock skew. The nonce
/// is only checked for shape: remembering it is the verifier's job.
pub fn verify(
    secret: &str,
    now: i64,
    request: &SignedRequest<'_>,
    signature: &str,
) -> Result<(), SignatureError> {
    if (now - request.timestamp).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Skew);
    }
    if !valid_region(request.region) || !valid_nonce(request.nonce) {
        return Err(SignatureError::Malformed);
    }
    let given = hex::decode(signature).map_err(|_| SignatureError::Mismatch)?;
    request_mac(secret, request)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

/// The secrets that sign checker requests: one per region where configured, the shared one for
/// every other region. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct CheckerSecrets {
    default: String,
    by_region: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for CheckerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckerSecrets")
            .field("regions_with_own_secret", &self.by_region.keys())
            .finish_non_exhaustive()
    }
}

/// Shortest secret accepted, shared or per region.
pub const MIN_SECRET_LEN: usize = 16;

impl CheckerSecrets {
    /// One secret for every region.
    pub fn shared(secret: impl Into<String>) -> Self {
        Self {
            default: secret.into(),
            by_region: Default::default(),
        }
    }

    /// The shared secret plus `region=secret` pairs, comma-separated (`CHECKER_SECRETS`); an
    /// empty list keeps the shared secret for every region.
    pub fn parse(shared: &str, per_region: &str) -> Result<Self, String> {
        let mut secrets = Self::shared(shared);
        for entry in per_region
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let Some((region, secret)) = entry.split_once('=') else {
                return Err("expected region=secret pairs separated by commas".into());
            };
            let region = region.trim();
            if !valid_region(region) {
                return Err(format!("{region:?} is not a region name like eu-west-1"));
            }
            if secret.len() < MIN_SECRET_LEN {
                return Err(format!(
                    "the secret for {region} must be at least {MIN_SECRET_LEN} characters"
                ));
            }
            if secrets
                .by_region
                .insert(region.to_owned(), secret.to_owned())
                .is_some()
            {
                return Err(format!("{region} is listed twice"));
            }
        }
        Ok(secrets)
    }

    /// The secret that signs (and must have signed) `region`'s requests.
    pub fn for_region(&self, region: &str) -> &str {
        self.by_region
            .get(region)
            .map(String::as_str)
            .unwrap_or(&self.default)
    }

    /// Regions that have a secret of their own.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.by_region.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_the_same_request() {
        let nonce = "0123456789abcdef0123456789abcdef";
        let request = SignedRequest {
            region: "eu-west-1",
            timestamp: 1000,
            nonce,
            method: "GET",
            path_and_query: "/internal/v1/plan?region=eu-west-1",
            body: b"",
        };
        let sig = sign("s3cret", &request);
        let check =
            |secret: &str, now: i64, r: SignedRequest<'_>, sig: &str| verify(secret, now, &r, sig);
        assert_eq!(check("s3cret", 1010, request, &sig), Ok(()));
        let mismatch = Err(SignatureError::Mismatch);
        assert_eq!(
            check("other", 1010, request, &sig),
            mismatch,
            "other secret"
        );
        for (what, changed) in [
            (
                "other region",
                SignedRequest {
                    region: "us-east-1",
                    ..request
                },
            ),
            (
                "other nonce",
                SignedRequest {
                    nonce: "ffffffffffffffffffffffffffffffff",
                    ..request
                },
            ),
            (
                "other timestamp",
                SignedRequest {
                    timestamp: 1001,
                    ..request
                },
            ),
            (
                "other query",
                SignedRequest {
                    path_and_query: "/internal/v1/plan?region=b",
                    ..request
                },
            ),
            (
                "other method",
                SignedRequest {
                    method: "POST",
                    ..request
                },
            ),
            (
                "other body",
                SignedRequest {
                    body: b"x",
                    ..request
                },
            ),
        ] {
            assert_eq!(check("s3cret", 1010, changed, &sig), mismatch, "{what}");
        }
        assert_eq!(
            check("s3cret", 1000 + MAX_SKEW_SECS + 1, request, &sig),
            Err(SignatureError::Skew),
            "too old"
        );
        assert_eq!(
            check("s3cret", 1000 - MAX_SKEW_SECS - 1, request, &sig),
            Err(SignatureError::Skew),
            "from the future"
        );
        assert_eq!(check("s3cret", 1010, request, "zz"), mismatch, "not hex");
        let short_nonce = SignedRequest {
            nonce: "abc",
            ..request
        };
        assert_eq!(
            check("s3cret", 1010, short_nonce, &sign("s3cret", &short_nonce)),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn each_region_can_have_its_own_secret() {
        let secrets = CheckerSecrets::parse(
            "shared-secret-0123456789",
            " eu-west-1=eu-secret-0123456789 ,us-east-1=us-secret-0123456789",
        )
        .unwrap();
        assert_eq!(secrets.for_region("eu-west-1"), "eu-secret-0123456789");
        assert_eq!(secrets.for_region("us-east-1"), "us-secret-0123456789");
        assert_eq!(secrets.for_region("ap-south-1"), "shared-secret-0123456789");
        assert_eq!(
            secrets.regions().collect::<Vec<_>>(),
            ["eu-west-1", "us-east-1"]
        );
        assert!(
            !format!("{secrets:?}").contains("secret-0123"),
            "never printed"
        );
        assert_eq!(
            CheckerSecrets::parse("shared-secret-0123456789", "").unwrap(),
            CheckerSecrets::shared("shared-secret-0123456789")
        );
        for bad in [
            "eu-west-1",
            "EU=secret-0123456789abc",
            "eu-west-1=short",
            "a=secret-0123456789,a=secret-0123456789",
        ] {
            assert!(
                CheckerSecrets::parse("shared-secret-0123456789", bad).is_err(),
                "{bad}"
            );
        }
    }

    /// A simulated hour of 60 s ticks: every interval the API accepts keeps its own pace.
    #[test]
    fn over_an_hour_each_interval_runs_at_its_own_pace() {
        let hour_start: i64 = 1_800_000_000; // a whole hour (500,000 of them since the epoch)
        for interval in [30u32, 45, 60, 90, 300, 31, 3600] {
            for _ in 0..50 {
                let id = Uuid::new_v4();
                let times: Vec<i64> = (0..60)
                    .flat_map(|tick| due_times(id, interval, hour_start + tick * 60 + 7, 60))
                    .collect();
                // Exactly 3600 / interval when it divides the hour; else that or one more.
                let (n, i) = (times.len() as i64, i64::from(interval));
                assert!(
                    n == 3600 / i || (3600 % i != 0 && n == 3600 / i + 1),
                    "{interval} s: due {n} times in an hour"
                );
                assert!(
                    times.windows(2).all(|w| w[1] - w[0] == i64::from(interval)),
                    "{interval} s: evenly spaced: {times:?}"
                );
                assert!(times
                    .iter()
                    .all(|t| (hour_start..hour_start + 3600).contains(t)));
            }
        }
        // Other ticks (the local runner's) keep the same pace.
        let id = Uuid::new_v4();
        let times: Vec<i64> = (0..240)
            .flat_map(|tick| due_times(id, 30, tick * 15, 15))
            .collect();
        assert_eq!(times.len(), 120);
        assert!(times.windows(2).all(|w| w[1] - w[0] == 30));
    }

    #[test]
    fn monitors_of_one_interval_are_spread_over_it() {
        let in_first_minute = (0..1000)
            .filter(|_| is_due(Uuid::new_v4(), 300, 0, 60))
            .count();
        assert!((100..300).contains(&in_first_minute), "{in_first_minute}");
        // Within the tick, only at the instants the pace needs: whole ticks at the start.
        let offsets = |interval| {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..1000 {
                let id = Uuid::new_v4();
                for tick in 0..12 {
                    seen.extend(due_times(id, interval, tick * 60, 60).map(|t| t % 60));
                }
            }
            seen.into_iter().collect::<Vec<i64>>()
        };
        assert_eq!(offsets(60), [0]);
        assert_eq!(offsets(300), [0]);
        assert_eq!(offsets(30), [0, 30]);
        assert_eq!(offsets(90), [0, 30]);
        assert_eq!(offsets(45), [0, 15, 30, 45]);
        assert_eq!(tick_start(-1, 60), -60);
        assert_eq!(tick_start(119, 60), 60);
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
