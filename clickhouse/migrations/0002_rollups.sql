-- Rollups of check_results per (tenant, monitor, region) and hour / UTC day, filled by materialized
-- views on every insert. Counts are SimpleAggregateFunction(sum) and latency percentiles are
-- quantilesBFloat16 states (mergeable exactly: merging hourly states gives the same answer as the
-- same function over the raw rows). Read them with sum(...) / quantilesBFloat16Merge(...) and
-- GROUP BY, since parts are merged in the background.
-- Ordered by (tenant, bucket, ...): a status page reads all of a tenant's monitors over a time range,
-- which is then one contiguous run of rows; small granules because quantile states are costly to
-- read, so reading few rows past the range matters.
-- Hourly rows are kept 100 days (>= 90 days of status-page windows), daily rows 400 days (> 13 months).

-- One row per (tenant, monitor, region, hour).
CREATE TABLE IF NOT EXISTS check_rollup_hourly
(
    tenant_id       UUID,
    monitor_id      UUID,
    region          LowCardinality(String),
    bucket          DateTime('UTC'),
    checks          SimpleAggregateFunction(sum, UInt64),
    up              SimpleAggregateFunction(sum, UInt64),
    degraded        SimpleAggregateFunction(sum, UInt64),
    down            SimpleAggregateFunction(sum, UInt64),
    -- checks that were not down: the ones that have a latency
    latency_samples SimpleAggregateFunction(sum, UInt64),
    total_us_sum    SimpleAggregateFunction(sum, UInt64),
    -- not-down checks by total time in 10 ms bins (key k counts (k-1)*10ms < total_us <= k*10ms), for Apdex
    apdex_hist      SimpleAggregateFunction(sumMap, Tuple(Array(UInt32), Array(UInt64))),
    dns_q           AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    tcp_connect_q   AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    tls_handshake_q AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    ttfb_q          AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    transfer_q      AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    total_q         AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, bucket, monitor_id, region)
TTL bucket + INTERVAL 100 DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

-- Backfill from the raw rows already stored, once: only while check_rollup_hourly is empty (rows inserted
-- between this statement and the view's creation, a few milliseconds, miss the rollup).
INSERT INTO check_rollup_hourly
SELECT
    tenant_id,
    monitor_id,
    region,
    toStartOfHour(checked_at) AS bucket,
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
WHERE (SELECT count() FROM check_rollup_hourly) = 0
GROUP BY tenant_id, monitor_id, region, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS check_rollup_hourly_mv TO check_rollup_hourly AS
SELECT
    tenant_id,
    monitor_id,
    region,
    toStartOfHour(checked_at) AS bucket,
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
GROUP BY tenant_id, monitor_id, region, bucket;

-- One row per (tenant, monitor, region, UTC day); bucket is the day's midnight.
CREATE TABLE IF NOT EXISTS check_rollup_daily
(
    tenant_id       UUID,
    monitor_id      UUID,
    region          LowCardinality(String),
    bucket          DateTime('UTC'),
    checks          SimpleAggregateFunction(sum, UInt64),
    up              SimpleAggregateFunction(sum, UInt64),
    degraded        SimpleAggregateFunction(sum, UInt64),
    down            SimpleAggregateFunction(sum, UInt64),
    -- checks that were not down: the ones that have a latency
    latency_samples SimpleAggregateFunction(sum, UInt64),
    total_us_sum    SimpleAggregateFunction(sum, UInt64),
    -- not-down checks by total time in 10 ms bins (key k counts (k-1)*10ms < total_us <= k*10ms), for Apdex
    apdex_hist      SimpleAggregateFunction(sumMap, Tuple(Array(UInt32), Array(UInt64))),
    dns_q           AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    tcp_connect_q   AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    tls_handshake_q AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    ttfb_q          AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    transfer_q      AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32),
    total_q         AggregateFunction(quantilesBFloat16(0.5, 0.75, 0.9, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, bucket, monitor_id, region)
TTL bucket + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

-- Backfill from the raw rows already stored, once: only while check_rollup_daily is empty (rows inserted
-- between this statement and the view's creation, a few milliseconds, miss the rollup).
INSERT INTO check_rollup_daily
SELECT
    tenant_id,
    monitor_id,
    region,
    toStartOfDay(checked_at) AS bucket,
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
WHERE (SELECT count() FROM check_rollup_daily) = 0
GROUP BY tenant_id, monitor_id, region, bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS check_rollup_daily_mv TO check_rollup_daily AS
SELECT
    tenant_id,
    monitor_id,
    region,
    toStartOfDay(checked_at) AS bucket,
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
GROUP BY tenant_id, monitor_id, region, bucket;
