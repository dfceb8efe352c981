//! Reads for status pages and the admin UI.

use crate::{Analytics, AnalyticsError, Result};
use clickhouse::Row;
use serde::Deserialize;
use uuid::Uuid;

/// The most recent check of one monitor from one region (its final attempt).
#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct RegionLatest {
    #[serde(with = "clickhouse::serde::uuid")]
    pub monitor_id: Uuid,
    pub region: String,
    pub status: i8,
    pub total_us: u32,
    /// Microseconds since the Unix epoch.
    pub last_checked_at: i64,
}

/// Check counts of one monitor over a window; uptime counts degraded checks as up.
#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct UptimeSummary {
    #[serde(with = "clickhouse::serde::uuid")]
    pub monitor_id: Uuid,
    pub checks: u64,
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
}

impl UptimeSummary {
    /// Percentage of checks that were not down, or `None` with no data (never a made-up 100%).
    pub fn uptime_percent(&self) -> Option<f64> {
        (self.checks > 0).then(|| 100.0 * (self.up + self.degraded) as f64 / self.checks as f64)
    }
}

impl Analytics {
    /// Latest check per (monitor, region) of a tenant, looking back `lookback_secs`: the verdict
    /// (final attempt) of the most recently scheduled check.
    pub async fn latest_by_region(
        &self,
        tenant_id: Uuid,
        lookback_secs: u32,
    ) -> Result<Vec<RegionLatest>> {
        self.client
            .query(
                "SELECT monitor_id, region, \
                        CAST(argMax(status, (scheduled_at, checked_at)) AS Int8) AS status, \
                        argMax(total_us, (scheduled_at, checked_at)) AS total_us, \
                        toInt64(toUnixTimestamp64Micro(max(checked_at))) AS last_checked_at \
                 FROM check_results \
                 WHERE tenant_id = ? AND checked_at >= now64(6) - toIntervalSecond(?) \
                   AND final_attempt \
                 GROUP BY monitor_id, region \
                 ORDER BY monitor_id, region",
            )
            .bind(tenant_id)
            .bind(lookback_secs)
            .fetch_all()
            .await
            .map_err(|source| AnalyticsError::Query {
                op: "latest_by_region",
                source,
            })
    }

    /// Check counts per monitor of a tenant over the last `window_secs` (rollups for whole
    /// hours, raw rows for the partial hours at the edges; see [`Analytics::uptime_report`]).
    pub async fn uptime(&self, tenant_id: Uuid, window_secs: u32) -> Result<Vec<UptimeSummary>> {
        let window = crate::TimeWindow::ending_at(
            chrono::Utc::now(),
            chrono::Duration::seconds(i64::from(window_secs.max(1))),
        );
        let report = self
            .uptime_report(tenant_id, window, &[], crate::Source::Rollups)
            .await?;
        Ok(report
            .into_iter()
            .map(|m| UptimeSummary {
                monitor_id: m.monitor_id,
                checks: m.overall.checks,
                up: m.overall.up,
                degraded: m.overall.degraded,
                down: m.overall.down,
            })
            .collect())
    }
}
