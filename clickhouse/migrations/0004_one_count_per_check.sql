-- Retries are attempts, not checks. A check is every attempt of one monitor from one region for one
-- scheduled time; its last attempt is its verdict. Until now every attempt row counted in the
-- rollups (a check that failed once and passed on retry counted one down and one up).
--
-- 1. `scheduled_at` (when the check was due; all its attempts share it) and `final_attempt` (this
--    row is the verdict). Rows written without them (older checkers) count as before: each row
--    its own check at its own time.
-- 2. Rows stored before this migration: the attempts of one (monitor, region, run) are one check,
--    scheduled at its first attempt's time, decided by its highest attempt (one check per run and
--    monitor: runs never repeat a monitor).
-- 3. The rollup views count final attempts only, by `scheduled_at`.
-- 4. The rollups are derived again from the raw rows for every bucket the raw rows still hold
--    completely (from the later of the hour after the oldest raw row and the raw TTL's horizon
--    plus two hours; days from the first whole day after that). Older buckets cannot be derived
--    again (their attempts are gone) and keep counting attempts.
-- 5. The status-page summary, computed from the old rollups, is emptied; pages are computed from
--    the rollups on the spot until its next hourly refresh.
--
-- Placeholders filled by `migrate.rs`: {database} (joinGet and mutations need qualified names),
-- {raw_ttl_days} (the raw table's TTL as it is now). Every statement can run again after a failure.

ALTER TABLE check_results
    ADD COLUMN IF NOT EXISTS scheduled_at DateTime64(6, 'UTC') DEFAULT checked_at AFTER checked_at,
    ADD COLUMN IF NOT EXISTS final_attempt Bool DEFAULT true AFTER attempt;

-- Checks with retries among the stored rows: first attempt's time and last attempt.
DROP TABLE IF EXISTS legacy_retried_checks;

CREATE TABLE legacy_retried_checks
(
    monitor_id       UUID,
    region           String,
    run_id           UUID,
    first_checked_at DateTime64(6, 'UTC'),
    last_attempt     UInt8
)
ENGINE = Join(ANY, LEFT, monitor_id, region, run_id);

INSERT INTO legacy_retried_checks
SELECT monitor_id, toString(region), run_id, min(checked_at), max(attempt)
FROM check_results
WHERE (monitor_id, region, run_id) IN (SELECT monitor_id, region, run_id FROM check_results WHERE attempt > 1)
GROUP BY monitor_id, region, run_id;

-- Only unmarked rows (`scheduled_at` still its default, `final_attempt` still true): a second run
-- changes nothing.
ALTER TABLE check_results
UPDATE
    scheduled_at = joinGet('{database}.legacy_retried_checks', 'first_checked_at', monitor_id, toString(region), run_id),
    final_attempt = attempt = joinGet('{database}.legacy_retried_checks', 'last_attempt', monitor_id, toString(region), run_id)
WHERE scheduled_at = checked_at AND final_attempt
  AND (monitor_id, region, run_id) IN (SELECT monitor_id, region, run_id FROM check_results WHERE attempt > 1)
SETTINGS mutations_sync = 2;

DROP TABLE IF EXISTS legacy_retried_checks;

-- The first hourly and daily buckets derived again (2100-01-01, i.e. none, without raw rows).
DROP TABLE IF EXISTS rollup_rederive_from;

CREATE TABLE rollup_rederive_from (hourly DateTime('UTC'), daily DateTime('UTC'))
ENGINE = MergeTree ORDER BY tuple();

INSERT INTO rollup_rederive_from
SELECT h, if(toStartOfDay(h) = h, h, toDateTime(toStartOfDay(h) + INTERVAL 1 DAY, 'UTC'))
FROM
(
    SELECT if(count() = 0, toDateTime(4102444800, 'UTC'),
              greatest(toDateTime(toStartOfHour(min(checked_at)), 'UTC') + INTERVAL 1 HOUR,
                       toStartOfHour(now('UTC') - INTERVAL {raw_ttl_days} DAY) + INTERVAL 2 HOUR)) AS h
    FROM check_results
);

-- No view between here and the new ones: rows inserted meanwhile reach the rollups through the
-- INSERTs below, which read the raw table after the new views exist (a row inserted in the
-- milliseconds between a view's creation and its INSERT's start is counted twice).
DROP VIEW IF EXISTS check_rollup_hourly_mv;

DROP VIEW IF EXISTS check_rollup_daily_mv;

ALTER TABLE check_rollup_hourly DELETE WHERE bucket >= (SELECT min(hourly) FROM rollup_rederive_from)
SETTINGS mutations_sync = 2;

ALTER TABLE check_rollup_daily DELETE WHERE bucket >= (SELECT min(daily) FROM rollup_rederive_from)
SETTINGS mutations_sync = 2;

CREATE MATERIALIZED VIEW IF NOT EXISTS check_rollup_hourly_mv TO check_rollup_hourly AS
SELECT
    tenant_id,
    monitor_id,
    region,
    toStartOfHour(scheduled_at) AS bucket,
    count() AS checks,
    countIf(status = 'up') AS up,
    countIf(status = 'degraded') AS degraded,
    countIf(status = 'down') AS down,
    countIf(status != 'down') AS latency_samples,
    sumIf(toUInt64(total_us), status != 'down') AS total_us_sum,
    sumMap(if(status != 'down', [toUInt32(intDiv(toUInt64(total_us) + 9999, 10000))], []),
           if(status != 'down', [toUInt64(1)], [])) AS apdex_hist,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(dns_us, status != 'down') AS dns_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(tcp_connect_us, status != 'down') AS tcp_connect_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(tls_handshake_us, status != 'down') AS tls_handshake_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(ttfb_us, status != 'down') AS ttfb_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(transfer_us, status != 'down') AS transfer_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(total_us, status != 'down') AS total_q
FROM check_results
WHERE final_attempt
GROUP BY tenant_id, monitor_id, region, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS check_rollup_daily_mv TO check_rollup_daily AS
SELECT
    tenant_id,
    monitor_id,
    region,
    toStartOfDay(scheduled_at) AS bucket,
    count() AS checks,
    countIf(status = 'up') AS up,
    countIf(status = 'degraded') AS degraded,
    countIf(status = 'down') AS down,
    countIf(status != 'down') AS latency_samples,
    sumIf(toUInt64(total_us), status != 'down') AS total_us_sum,
    sumMap(if(status != 'down', [toUInt32(intDiv(toUInt64(total_us) + 9999, 10000))], []),
           if(status != 'down', [toUInt64(1)], [])) AS apdex_hist,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(dns_us, status != 'down') AS dns_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(tcp_connect_us, status != 'down') AS tcp_connect_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(tls_handshake_us, status != 'down') AS tls_handshake_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(ttfb_us, status != 'down') AS ttfb_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(transfer_us, status != 'down') AS transfer_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(total_us, status != 'down') AS total_q
FROM check_results
WHERE final_attempt
GROUP BY tenant_id, monitor_id, region, bucket;

-- insert_deduplicate = 0: a second run's blocks equal the first run's (since deleted) ones.
INSERT INTO check_rollup_hourly SETTINGS insert_deduplicate = 0
SELECT
    tenant_id,
    monitor_id,
    region,
    toStartOfHour(scheduled_at) AS bucket,
    count() AS checks,
    countIf(status = 'up') AS up,
    countIf(status = 'degraded') AS degraded,
    countIf(status = 'down') AS down,
    countIf(status != 'down') AS latency_samples,
    sumIf(toUInt64(total_us), status != 'down') AS total_us_sum,
    sumMap(if(status != 'down', [toUInt32(intDiv(toUInt64(total_us) + 9999, 10000))], []),
           if(status != 'down', [toUInt64(1)], [])) AS apdex_hist,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(dns_us, status != 'down') AS dns_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(tcp_connect_us, status != 'down') AS tcp_connect_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(tls_handshake_us, status != 'down') AS tls_handshake_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(ttfb_us, status != 'down') AS ttfb_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(transfer_us, status != 'down') AS transfer_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(total_us, status != 'down') AS total_q
FROM check_results
WHERE final_attempt AND toStartOfHour(scheduled_at) >= (SELECT min(hourly) FROM rollup_rederive_from)
GROUP BY tenant_id, monitor_id, region, bucket;

INSERT INTO check_rollup_daily SETTINGS insert_deduplicate = 0
SELECT
    tenant_id,
    monitor_id,
    region,
    toStartOfDay(scheduled_at) AS bucket,
    count() AS checks,
    countIf(status = 'up') AS up,
    countIf(status = 'degraded') AS degraded,
    countIf(status = 'down') AS down,
    countIf(status != 'down') AS latency_samples,
    sumIf(toUInt64(total_us), status != 'down') AS total_us_sum,
    sumMap(if(status != 'down', [toUInt32(intDiv(toUInt64(total_us) + 9999, 10000))], []),
           if(status != 'down', [toUInt64(1)], [])) AS apdex_hist,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(dns_us, status != 'down') AS dns_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(tcp_connect_us, status != 'down') AS tcp_connect_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(tls_handshake_us, status != 'down') AS tls_handshake_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(ttfb_us, status != 'down') AS ttfb_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(transfer_us, status != 'down') AS transfer_q,
    quantilesBFloat16StateIf(0.5, 0.75, 0.9, 0.95, 0.99)(total_us, status != 'down') AS total_q
FROM check_results
WHERE final_attempt AND toStartOfDay(scheduled_at) >= (SELECT min(daily) FROM rollup_rederive_from)
GROUP BY tenant_id, monitor_id, region, bucket;

DROP TABLE IF EXISTS rollup_rederive_from;

TRUNCATE TABLE IF EXISTS status_page_summary;
