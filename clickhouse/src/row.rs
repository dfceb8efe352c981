use clickhouse::Row;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `status` values of the `Enum8` column.
pub const STATUS_UP: i8 = 1;
pub const STATUS_DEGRADED: i8 = 2;
pub const STATUS_DOWN: i8 = 3;

/// One check attempt from one region, exactly as stored in `check_results`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct CheckRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub tenant_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub monitor_id: Uuid,
    pub region: String,
    /// Microseconds since the Unix epoch (UTC).
    pub checked_at: i64,
    #[serde(with = "clickhouse::serde::uuid")]
    pub run_id: Uuid,
    pub attempt: u8,
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
    /// A plausible first-attempt HTTP check: the total split over the phases (DNS a tenth,
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
            run_id: Uuid::new_v4(),
            attempt: 1,
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
}
