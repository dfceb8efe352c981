use clickhouse::Row;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `status` values of the `Enum8` column.
pub const STATUS_UP: i8 = 1;
pub const STATUS_DEGRADED: i8 = 2;
pub const STATUS_DOWN: i8 = 3;

/// One check attempt from one region, exactly as stored in `check_results`.
///
/// A check is every attempt of one monitor from one region for one scheduled time: the attempts
/// share `run_id` and `scheduled_at`, and the last one (`final_attempt`) is the check's verdict.
/// Uptime, bars, Apdex and latency count final attempts only, in the bucket of `scheduled_at`;
/// the other attempts are kept for analysis.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct CheckRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub tenant_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub monitor_id: Uuid,
    pub region: String,
    /// When this attempt started: microseconds since the Unix epoch (UTC).
    pub checked_at: i64,
    /// When the check was due (its run's start), the same for all its attempts: microseconds
    /// since the Unix epoch (UTC), never after `checked_at`. 0 in spool files written before
    /// the column existed (see [`CheckRow::fill_legacy`]).
    #[serde(default)]
    pub scheduled_at: i64,
    #[serde(with = "clickhouse::serde::uuid")]
    pub run_id: Uuid,
    pub attempt: u8,
    /// This attempt is the check's last one: its verdict.
    #[serde(default)]
    pub final_attempt: bool,
    pub status: i8,
    pub status_code: u16,
    pub dns_us: u32,
    pub tcp_connect_us: u32,
    pub tls_handshake_us: u32,
    pub ttfb_us: u32,
    pub transfer_us: u32,
    pub total_us: u32,
    pub resolved_ip: String,
    pub http_version: String,
    pub tls_version: String,
    pub tls_cipher: String,
    /// Seconds since the Unix epoch.
    pub cert_expires_at: Option<u32>,
    pub response_bytes: u64,
    pub redirects: u8,
    pub cold_start: bool,
    pub error: String,
}

impl CheckRow {
    /// A plausible single-attempt HTTP check: the total split over the phases (DNS a tenth,
    /// connect an eighth, TLS a fifth, TTFB a third, transfer a seventh), 503 when down. For
    /// tests and synthetic data.
    pub fn synthetic(
        tenant: Uuid,
        monitor: Uuid,
        region: &str,
        checked_at_us: i64,
        status: i8,
        total_us: u32,
    ) -> Self {
        Self {
            tenant_id: tenant,
            monitor_id: monitor,
            region: region.into(),
            checked_at: checked_at_us,
            scheduled_at: checked_at_us,
            run_id: Uuid::new_v4(),
            attempt: 1,
            final_attempt: true,
            status,
            status_code: if status == STATUS_DOWN { 503 } else { 200 },
            dns_us: total_us / 10,
            tcp_connect_us: total_us / 8,
            tls_handshake_us: total_us / 5,
            ttfb_us: total_us / 3,
            transfer_us: total_us / 7,
            total_us,
            resolved_ip: "192.0.2.1".into(),
            http_version: "HTTP/1.1".into(),
            tls_version: String::new(),
            tls_cipher: String::new(),
            cert_expires_at: None,
            response_bytes: 2,
            redirects: 0,
            cold_start: false,
            error: String::new(),
        }
    }

    /// A result a job pushed itself (a heartbeat): one final attempt, no network phases.
    pub fn pushed(
        tenant: Uuid,
        monitor: Uuid,
        region: &str,
        checked_at_us: i64,
        status: i8,
        error: String,
    ) -> Self {
        Self {
            tenant_id: tenant,
            monitor_id: monitor,
            region: region.into(),
            checked_at: checked_at_us,
            scheduled_at: checked_at_us,
            run_id: Uuid::new_v4(),
            attempt: 1,
            final_attempt: true,
            status,
            status_code: 0,
            dns_us: 0,
            tcp_connect_us: 0,
            tls_handshake_us: 0,
            ttfb_us: 0,
            transfer_us: 0,
            total_us: 0,
            resolved_ip: String::new(),
            http_version: String::new(),
            tls_version: String::new(),
            tls_cipher: String::new(),
            cert_expires_at: None,
            response_bytes: 0,
            redirects: 0,
            cold_start: false,
            error,
        }
    }

    /// One synthetic check with retries: an attempt per `(offset from scheduled_at in µs,
    /// status, total_us)`, sharing a run id and `scheduled_at`, the last one final. For tests.
    pub fn synthetic_check(
        tenant: Uuid,
        monitor: Uuid,
        region: &str,
        scheduled_at_us: i64,
        attempts: &[(i64, i8, u32)],
    ) -> Vec<Self> {
        let run_id = Uuid::new_v4();
        attempts
            .iter()
            .enumerate()
            .map(|(i, &(offset_us, status, total_us))| {
                let mut row = Self::synthetic(
                    tenant,
                    monitor,
                    region,
                    scheduled_at_us + offset_us,
                    status,
                    total_us,
                );
                row.scheduled_at = scheduled_at_us;
                row.run_id = run_id;
                row.attempt = u8::try_from(i + 1).unwrap_or(u8::MAX);
                row.final_attempt = i + 1 == attempts.len();
                row
            })
            .collect()
    }

    /// Fills `scheduled_at` and `final_attempt` of rows written before they existed (spool
    /// files of an older writer; `scheduled_at` is 0): the attempts of one (monitor, region,
    /// run) are one check, scheduled at its first attempt's time, decided by its last attempt.
    /// Rows that have a `scheduled_at` are left alone.
    pub fn fill_legacy(rows: &mut [CheckRow]) {
        use std::collections::HashMap;
        let mut checks: HashMap<(Uuid, String, Uuid), (i64, u8)> = HashMap::new();
        for row in rows.iter().filter(|r| r.scheduled_at == 0) {
            let check = checks
                .entry((row.monitor_id, row.region.clone(), row.run_id))
                .or_insert((row.checked_at, row.attempt));
            check.0 = check.0.min(row.checked_at);
            check.1 = check.1.max(row.attempt);
        }
        for row in rows.iter_mut().filter(|r| r.scheduled_at == 0) {
            let (first, last) = checks[&(row.monitor_id, row.region.clone(), row.run_id)];
            row.scheduled_at = first;
            row.final_attempt = row.attempt == last;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rows_get_one_final_attempt_per_check() {
        let (t, m) = (Uuid::new_v4(), Uuid::new_v4());
        let mut rows = CheckRow::synthetic_check(
            t,
            m,
            "eu",
            1_000_000,
            &[(5, STATUS_DOWN, 1), (2_000_000, STATUS_UP, 9)],
        );
        rows.push(CheckRow::synthetic(t, m, "us", 7_000_000, STATUS_UP, 3));
        let want = rows.clone();
        for row in &mut rows {
            row.scheduled_at = 0;
            row.final_attempt = false;
        }
        CheckRow::fill_legacy(&mut rows);
        assert_eq!(rows[0].scheduled_at, 1_000_005, "first attempt's time");
        assert_eq!(rows[1].scheduled_at, 1_000_005);
        assert_eq!(
            rows.iter().map(|r| r.final_attempt).collect::<Vec<_>>(),
            [false, true, true]
        );
        assert_eq!(rows[2], want[2]);
        // Rows that carry the fields keep them.
        let mut current = want.clone();
        CheckRow::fill_legacy(&mut current);
        assert_eq!(current, want);
    }
}
