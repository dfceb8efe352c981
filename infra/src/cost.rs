//! Monthly AWS cost estimate for the regional checkers, from public list prices.
//!
//! # Model and assumptions
//! * A month is [`HOURS_PER_MONTH`] = 730 hours (AWS's billing convention): 43,800 minutes.
//! * Each region has one EventBridge rule per shard firing every minute. Shards per region =
//!   checks per minute / [`CostInputs::shard_checks_per_minute`] (at least 1), as the app server
//!   sizes them (`CHECKER_SHARD_CHECKS_PER_MINUTE`; 0 here means one shard): `regions × shards ×
//!   43,800` requests, each doing its share of the work. Sub-minute intervals keep *every*
//!   shard's invocation alive for the minute, so shards multiply that floor.
//! * Each monitor is checked from every region once per `interval_s`:
//!   `checks = monitors × regions × 2,628,000 / interval_s`.
//! * Billed duration of one invocation = [`PER_INVOCATION_OVERHEAD_MS`] (fetching the work plan,
//!   flushing results) + the time spent probing. Probing time is the summed check time divided
//!   by the effective concurrency ([`CostInputs::concurrency`]; 1 in [`estimate_monthly_cost`],
//!   i.e. checks billed back to back: a deliberate **upper bound**, since Lambda bills wall-clock
//!   time and the engine overlaps checks).
//! * Sub-minute intervals repeat inside one invocation (rounds at 0, interval, 2×interval, ...
//!   within the minute), so the invocation lives at least until the last round of the minute has
//!   run: `(rounds - 1) × interval + one round's work`. This floor dominates for short intervals.
//! * Lambda compute: billed per 1 ms at `memory_mb / 1024` GB × duration, at
//!   [`LAMBDA_GB_SECOND_PRICE_X86`] (us-east-1 x86, first pricing tier) unless
//!   [`CostInputs::arm64`]; requests at [`LAMBDA_REQUEST_PRICE_PER_MILLION`].
//! * EventBridge scheduled rules on the default bus are free ([`EVENTBRIDGE_SCHEDULED_RULE_PRICE`]).
//! * Not included: the Lambda free tier (1M requests + 400,000 GB-s per month per account),
//!   regional price differences (a few regions cost more), volume tiers, CloudWatch Logs
//!   ingestion, and the ClickHouse / API side.
//! * Data out: every check sends [`RESULT_BYTES_PER_CHECK`] to ClickHouse outside AWS (the work
//!   plan comes in, which is free), at [`DATA_OUT_PRICE_PER_GB`]; the target's own response is
//!   inbound (free).

/// Hours in a billing month (AWS convention).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// Lambda request price, USD per million invocations.
pub const LAMBDA_REQUEST_PRICE_PER_MILLION: f64 = 0.20;
/// Lambda compute price on x86_64, USD per GB-second (first tier).
pub const LAMBDA_GB_SECOND_PRICE_X86: f64 = 0.000_016_666_7;
/// Lambda compute price on arm64 (Graviton), USD per GB-second (first tier).
pub const LAMBDA_GB_SECOND_PRICE_ARM64: f64 = 0.000_013_333_4;
/// EventBridge scheduled rules (default event bus) cost nothing.
pub const EVENTBRIDGE_SCHEDULED_RULE_PRICE: f64 = 0.0;
/// Assumed fixed cost of one invocation besides probing: fetching the work plan from the API
/// (cached, ETag) and flushing results to ClickHouse.
pub const PER_INVOCATION_OVERHEAD_MS: f64 = 100.0;

/// Data transfer out to the internet, USD per GB (first 10 TB tier; the first 100 GB a month
/// per account are free, not counted here).
pub const DATA_OUT_PRICE_PER_GB: f64 = 0.09;
/// Bytes one check result costs on the way out: its row (about 200 B in RowBinary with the
/// phases, TLS details and failure), HTTP framing, and the TLS overhead, rounded up.
pub const RESULT_BYTES_PER_CHECK: f64 = 400.0;

const MINUTES_PER_MONTH: f64 = HOURS_PER_MONTH * 60.0;
const SECONDS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;

/// Inputs of [`estimate_monthly_cost_with`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CostInputs {
    pub monitors: u32,
    /// Check interval of every monitor, seconds (clamped to at least 1).
    pub interval_s: u32,
    pub regions: u32,
    /// Average wall-clock time of one check (DNS + connect + TLS + request), milliseconds.
    pub avg_check_ms: f64,
    pub memory_mb: u32,
    /// Checks in flight at once inside one invocation (clamped to at least 1).
    pub concurrency: u32,
    /// Price compute at the arm64 rate instead of x86_64.
    pub arm64: bool,
    /// Checks per minute one shard carries (0: one shard per region).
    pub shard_checks_per_minute: u32,
}

/// A monthly estimate in USD, with the intermediate figures.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CostEstimate {
    pub checks_per_month: f64,
    /// Shards (rules, invocations a minute) per region.
    pub shards: f64,
    pub invocations_per_month: f64,
    /// Billed duration of one invocation, milliseconds (rounded up to whole ms).
    pub billed_ms_per_invocation: f64,
    pub gb_seconds_per_month: f64,
    pub lambda_requests_usd: f64,
    pub lambda_compute_usd: f64,
    pub eventbridge_usd: f64,
    pub data_out_usd: f64,
    pub total_usd: f64,
}

/// Upper-bound monthly estimate on x86_64 with checks billed back to back (concurrency 1).
/// See the module documentation for every assumption.
pub fn estimate_monthly_cost(
    monitors: u32,
    interval_s: u32,
    regions: u32,
    avg_check_ms: f64,
    memory_mb: u32,
) -> CostEstimate {
    estimate_monthly_cost_with(CostInputs {
        monitors,
        interval_s,
        regions,
        avg_check_ms,
        memory_mb,
        concurrency: 1,
        arm64: false,
        shard_checks_per_minute: 0,
    })
}

/// Monthly estimate with explicit concurrency and architecture. See the module documentation.
pub fn estimate_monthly_cost_with(i: CostInputs) -> CostEstimate {
    let interval_s = f64::from(i.interval_s.max(1));
    let regions = f64::from(i.regions);
    let avg_check_ms = if i.avg_check_ms.is_finite() {
        i.avg_check_ms.max(0.0)
    } else {
        0.0
    };
    let concurrency = f64::from(i.concurrency.max(1));

    let checks_per_month = f64::from(i.monitors) * regions * SECONDS_PER_MONTH / interval_s;
    let checks_per_region_minute = f64::from(i.monitors) * 60.0 / interval_s;
    let shards = if i.shard_checks_per_minute == 0 {
        1.0
    } else {
        (checks_per_region_minute / f64::from(i.shard_checks_per_minute))
            .ceil()
            .clamp(1.0, 1000.0)
    };
    let invocations_per_month = regions * shards * MINUTES_PER_MONTH;

    let (billed_ms_per_invocation, gb_seconds_per_month) = if invocations_per_month > 0.0 {
        let checks_per_invocation = checks_per_month / invocations_per_month;
        let probe_ms = checks_per_invocation * avg_check_ms / concurrency;
        // Rounds per minute: > 1 only for sub-minute intervals.
        let rounds = (60.0 / interval_s).ceil().max(1.0);
        let round_ms = probe_ms / rounds;
        let span_ms = (rounds - 1.0) * interval_s * 1000.0 + round_ms;
        let billed = (PER_INVOCATION_OVERHEAD_MS + probe_ms.max(span_ms)).ceil();
        let gb = f64::from(i.memory_mb) / 1024.0;
        (billed, invocations_per_month * billed / 1000.0 * gb)
    } else {
        (0.0, 0.0)
    };

    let gb_second_price = if i.arm64 {
        LAMBDA_GB_SECOND_PRICE_ARM64
    } else {
        LAMBDA_GB_SECOND_PRICE_X86
    };
    let lambda_requests_usd = invocations_per_month / 1e6 * LAMBDA_REQUEST_PRICE_PER_MILLION;
    let lambda_compute_usd = gb_seconds_per_month * gb_second_price;
    let eventbridge_usd = EVENTBRIDGE_SCHEDULED_RULE_PRICE;
    let data_out_usd = checks_per_month * RESULT_BYTES_PER_CHECK / 1e9 * DATA_OUT_PRICE_PER_GB;
    CostEstimate {
        checks_per_month,
        shards,
        invocations_per_month,
        billed_ms_per_invocation,
        gb_seconds_per_month,
        lambda_requests_usd,
        lambda_compute_usd,
        eventbridge_usd,
        data_out_usd,
        total_usd: lambda_requests_usd + lambda_compute_usd + eventbridge_usd + data_out_usd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn one_minute_interval_worked_example() {
        // 100 monitors, every 60 s, 18 regions, 300 ms each, 128 MB, sequential.
        let e = estimate_monthly_cost(100, 60, 18, 300.0, 128);
        assert!(close(e.invocations_per_month, 18.0 * 43_800.0));
        assert!(close(e.checks_per_month, 100.0 * 18.0 * 43_800.0));
        // 100 checks × 300 ms + 100 ms overhead.
        assert!(close(e.billed_ms_per_invocation, 30_100.0));
        let gbs = 18.0 * 43_800.0 * 30.1 * 0.125;
        assert!(close(e.gb_seconds_per_month, gbs));
        assert!(close(e.lambda_requests_usd, 18.0 * 43_800.0 / 1e6 * 0.20));
        assert!(close(
            e.lambda_compute_usd,
            gbs * LAMBDA_GB_SECOND_PRICE_X86
        ));
        assert_eq!(e.eventbridge_usd, 0.0);
        let out = 100.0 * 18.0 * 43_800.0 * 400.0 / 1e9 * 0.09;
        assert!(close(e.data_out_usd, out));
        assert!(close(
            e.total_usd,
            e.lambda_requests_usd + e.lambda_compute_usd + out
        ));
    }

    #[test]
    fn shards_split_the_work_and_multiply_the_sub_minute_floor() {
        let base = CostInputs {
            monitors: 10_000,
            interval_s: 60,
            regions: 1,
            avg_check_ms: 300.0,
            memory_mb: 256,
            concurrency: 64,
            arm64: true,
            shard_checks_per_minute: 1000,
        };
        let e = estimate_monthly_cost_with(base);
        assert!(close(e.shards, 10.0));
        assert!(close(e.invocations_per_month, 10.0 * 43_800.0));
        // 1,000 checks × 300 ms / 64 + 100 ms, per shard.
        assert!(close(
            e.billed_ms_per_invocation,
            (100.0 + 1000.0 * 300.0 / 64.0_f64).ceil()
        ));
        let fast = estimate_monthly_cost_with(CostInputs {
            interval_s: 30,
            monitors: 5_000,
            ..base
        });
        // The same 10,000 checks a minute, but each of the 10 invocations lives past 30 s.
        assert!(close(fast.shards, 10.0));
        assert!(fast.billed_ms_per_invocation > 30_000.0);
        assert!(fast.lambda_compute_usd > 5.0 * e.lambda_compute_usd);
    }

    #[test]
    fn sub_minute_interval_keeps_the_invocation_alive() {
        // 1 monitor every 10 s: 6 rounds, last one starts at 50 s.
        let e = estimate_monthly_cost(1, 10, 1, 200.0, 128);
        assert!(close(e.billed_ms_per_invocation, 100.0 + 50_000.0 + 200.0));
    }

    #[test]
    fn longer_intervals_spread_work_over_minutes() {
        let e = estimate_monthly_cost(500, 300, 1, 100.0, 256);
        // 500 monitors / 5 minutes = 100 checks per invocation.
        assert!(close(e.billed_ms_per_invocation, 100.0 + 10_000.0));
    }

    #[test]
    fn concurrency_and_arm_lower_the_bill() {
        let base = estimate_monthly_cost(1000, 60, 18, 300.0, 256);
        let better = estimate_monthly_cost_with(CostInputs {
            monitors: 1000,
            interval_s: 60,
            regions: 18,
            avg_check_ms: 300.0,
            memory_mb: 256,
            concurrency: 50,
            arm64: true,
            shard_checks_per_minute: 0,
        });
        assert!(better.total_usd < base.total_usd / 10.0);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let e = estimate_monthly_cost(0, 0, 0, f64::NAN, 0);
        assert_eq!(e.total_usd, 0.0);
    }
}
