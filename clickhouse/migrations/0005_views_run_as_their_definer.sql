-- The rollup views run as the user who makes them (the app server's, which runs the migrations),
-- not as whoever inserts into check_results: the checkers' ClickHouse user then needs nothing
-- but INSERT on check_results (README, "Production ClickHouse"; clickhouse/tests/grants.rs).
-- A view made without SQL SECURITY runs its SELECT as the inserting user, who would need SELECT
-- on the raw table and INSERT on the rollups.
--
-- Made anew rather than with `ALTER TABLE ... MODIFY SQL SECURITY DEFINER`: after that ALTER, a
-- batch retried across a ClickHouse restart was counted twice in the rollups (seen on chDB
-- 26.9; a view created with the clause keeps its deduplication across restarts). The same
-- SELECTs as 0004. Rows inserted in the milliseconds between a DROP and its CREATE are stored but
-- miss the rollups, as in 0004. The definer must keep existing: drop or rename the app server's
-- ClickHouse user and these views stop, and every insert with them.
DROP VIEW IF EXISTS check_rollup_hourly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS check_rollup_hourly_mv TO check_rollup_hourly
DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
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

DROP VIEW IF EXISTS check_rollup_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS check_rollup_daily_mv TO check_rollup_daily
DEFINER = CURRENT_USER SQL SECURITY DEFINER AS
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
