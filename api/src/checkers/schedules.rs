//! Keeps each region's EventBridge schedules sized to its monitors, so nobody has to run
//! `infra sync-schedules` when the fleet grows or shrinks.
//!
//! A region's load is the checks per minute its enabled monitors ask for (a 30 s monitor counts
//! 2, a 5 min one 0.2; a monitor without regions runs in every region). The shard count is the
//! load over [`ScheduleKeeper::checks_per_shard`], at least one. It grows as soon as the load
//! passes what the shards carry, and shrinks only once the load fits in one shard fewer with
//! 20 % to spare, so a fleet near a boundary does not flap. Several app servers take turns
//! through an advisory lock; the choice and the last sync's outcome live in `checker_schedules`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Advisory lock key (one key space of its own) held by the server syncing this cycle.
const SYNC_LOCK: i64 = 0x5350_5343_4845_4431; // "SPSCHED1"
/// Most shards per region (`infra` accepts no more).
pub const MAX_SHARDS: u32 = 1000;
/// Headroom a shrink needs: the load must fit in one shard fewer at this share of capacity.
const SHRINK_AT: f64 = 0.8;

/// The shard count for `load` checks per minute, given the count now in place.
pub fn shards_for(load: f64, per_shard: u32, current: Option<u32>) -> u32 {
    let per_shard = f64::from(per_shard.max(1));
    let needed = ((load / per_shard).ceil() as u32).clamp(1, MAX_SHARDS);
    match current {
        Some(now) if needed < now => {
            // Shrink only as far as the load fits with headroom.
            let mut n = now;
            while n > needed && load <= f64::from(n - 1) * per_shard * SHRINK_AT {
                n -= 1;
            }
            n
        }
        _ => needed,
    }
}

/// Checks per minute each of `regions` must run for its enabled monitors.
pub async fn region_loads(db: &PgPool, regions: &[String]) -> sqlx::Result<BTreeMap<String, f64>> {
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "SELECT r.region, COALESCE(SUM(60.0 / GREATEST(m.interval_seconds, 1)), 0)::float8 \
         FROM unnest($1::text[]) AS r(region) \
         LEFT JOIN monitors m ON m.enabled \
           AND (cardinality(m.regions) = 0 OR r.region = ANY (m.regions)) \
         GROUP BY r.region",
    )
    .bind(regions)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// One region's row of `checker_schedules`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct RegionSchedule {
    pub region: String,
    pub shards: i32,
    pub checks_per_minute: f64,
    pub synced_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

pub async fn region_schedules(db: &PgPool) -> sqlx::Result<Vec<RegionSchedule>> {
    sqlx::query_as(
        "SELECT region, shards, checks_per_minute, synced_at, error FROM checker_schedules \
         ORDER BY region",
    )
    .fetch_all(db)
    .await
}

/// Syncs the schedules of every region of the deployment to its load.
pub struct ScheduleKeeper {
    function_name: String,
    /// Checks per minute one shard's invocation is given at most.
    checks_per_shard: u32,
    /// A region whose count did not change is synced again this often (repairs drift).
    resync_every: Duration,
    clients: BTreeMap<String, (aws_sdk_lambda::Client, aws_sdk_eventbridge::Client)>,
}

/// What one cycle did in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionSync {
    /// Count unchanged and synced recently: no AWS call.
    Fresh,
    Synced {
        shards: u32,
        changes: usize,
    },
    Failed(String),
}

impl ScheduleKeeper {
    pub async fn new(
        regions: &[String],
        function_name: &str,
        checks_per_shard: u32,
        resync_every: Duration,
        endpoint: Option<&str>,
    ) -> Self {
        let mut clients = BTreeMap::new();
        for region in regions {
            let config = infra::aws_config(region, endpoint).await;
            clients.insert(
                region.clone(),
                (
                    aws_sdk_lambda::Client::new(&config),
                    aws_sdk_eventbridge::Client::new(&config),
                ),
            );
        }
        Self {
            function_name: function_name.to_owned(),
            checks_per_shard: checks_per_shard.max(1),
            resync_every,
            clients,
        }
    }

    /// One cycle: unless another server holds the lock, size every region and sync the ones
    /// whose count changed, whose last sync failed or that were not synced for a while.
    /// `None` when another server is syncing.
    pub async fn cycle(&self, db: &PgPool) -> sqlx::Result<Option<BTreeMap<String, RegionSync>>> {
        let mut lock = db.acquire().await?;
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(SYNC_LOCK)
            .fetch_one(&mut *lock)
            .await?;
        if !held {
            return Ok(None);
        }
        let result = self.sync_all(db).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(SYNC_LOCK)
            .execute(&mut *lock)
            .await;
        if unlocked.is_err() {
            // A connection that may still hold the lock must not go back to the pool.
            lock.detach();
        }
        result.map(Some)
    }

    async fn sync_all(&self, db: &PgPool) -> sqlx::Result<BTreeMap<String, RegionSync>> {
        let regions: Vec<String> = self.clients.keys().cloned().collect();
        let loads = region_loads(db, &regions).await?;
        let known: BTreeMap<String, RegionSchedule> = region_schedules(db)
            .await?
            .into_iter()
            .map(|r| (r.region.clone(), r))
            .collect();
        let mut out = BTreeMap::new();
        for (region, (lambda, events)) in &self.clients {
            let load = loads.get(region).copied().unwrap_or(0.0);
            let row = known.get(region);
            let current = row.and_then(|r| u32::try_from(r.shards).ok());
            let shards = shards_for(load, self.checks_per_shard, current);
            let fresh = row.is_some_and(|r| {
                r.error.is_none()
                    && current == Some(shards)
                    && r.synced_at.is_some_and(|t| {
                        Utc::now()
                            .signed_duration_since(t)
                            .to_std()
                            .unwrap_or_default()
                            < self.resync_every
                    })
            });
            if fresh {
                out.insert(region.clone(), RegionSync::Fresh);
                continue;
            }
            let outcome = self.sync_region(region, lambda, events, shards).await;
            let (synced_at, error) = match &outcome {
                RegionSync::Synced { changes, .. } => {
                    if *changes > 0 || current != Some(shards) {
                        tracing::info!(
                            region,
                            shards,
                            checks_per_minute = load,
                            changes,
                            "checker schedules follow the monitors"
                        );
                    }
                    (Some(Utc::now()), None)
                }
                RegionSync::Failed(e) => {
                    tracing::warn!(region, shards, error = %e, "checker schedules not synced");
                    (row.and_then(|r| r.synced_at), Some(e.clone()))
                }
                RegionSync::Fresh => unreachable!("sync_region never reports Fresh"),
            };
            sqlx::query(
                "INSERT INTO checker_schedules (region, shards, checks_per_minute, synced_at, error) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (region) DO UPDATE SET shards = $2, checks_per_minute = $3, \
                   synced_at = $4, error = $5, updated_at = now()",
            )
            .bind(region)
            .bind(i32::try_from(shards).unwrap_or(1))
            .bind(load)
            .bind(synced_at)
            .bind(error)
            .execute(db)
            .await?;
            out.insert(region.clone(), outcome);
        }
        Ok(out)
    }

    async fn sync_region(
        &self,
        region: &str,
        lambda: &aws_sdk_lambda::Client,
        events: &aws_sdk_eventbridge::Client,
        shards: u32,
    ) -> RegionSync {
        let name = self.function_name.as_str();
        let arn = match lambda.get_function().function_name(name).send().await {
            Ok(out) => out
                .configuration()
                .and_then(|c| c.function_arn())
                .map(str::to_owned),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return RegionSync::Failed(format!(
                    "function `{name}` is not deployed in {region} (`infra deploy`)"
                ))
            }
            Err(e) => {
                return RegionSync::Failed(format!(
                    "GetFunction `{name}`: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ))
            }
        };
        let Some(arn) = arn else {
            return RegionSync::Failed(format!("GetFunction `{name}` returned no ARN"));
        };
        match infra::sync_schedules(events, region, &arn, shards).await {
            Ok(report) => RegionSync::Synced {
                shards,
                changes: report.changes.len(),
            },
            Err(e) => RegionSync::Failed(e.to_string()),
        }
    }
}

/// Runs [`ScheduleKeeper::cycle`] every `every` until the task is dropped.
pub async fn run_schedule_keeper(keeper: ScheduleKeeper, db: PgPool, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = keeper.cycle(&db).await {
            tracing::warn!(error = %e, "checker schedule cycle failed (PostgreSQL)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_grow_at_once_and_shrink_with_headroom() {
        assert_eq!(shards_for(0.0, 1000, None), 1);
        assert_eq!(shards_for(1000.0, 1000, None), 1);
        assert_eq!(shards_for(1000.5, 1000, None), 2);
        assert_eq!(shards_for(2500.0, 1000, Some(1)), 3);
        // 1,900 checks fit in 2 shards, but 3 stay until the load is at most 1,600 (80 % of 2).
        assert_eq!(shards_for(1900.0, 1000, Some(3)), 3);
        assert_eq!(shards_for(1600.0, 1000, Some(3)), 2);
        // A collapse shrinks all the way at once.
        assert_eq!(shards_for(10.0, 1000, Some(9)), 1);
        assert_eq!(shards_for(1e12, 1, None), MAX_SHARDS);
    }
}
