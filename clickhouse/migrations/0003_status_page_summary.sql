-- The status page's analytics for every tenant up to the start of the previous hour, refreshed
-- every hour from the rollups; a status page adds the last one to two hours live (hourly rollup),
-- so it reads a few hundred small rows instead of merging thousands of rollup rows on each view.
-- Counts add up exactly, so bars and uptime windows are exact; the 24 h latency percentiles are
-- those of the 24 whole hours before `until` (percentiles do not add up).
--
-- Rows (`kind`):
--   marker   one per refresh (tenant_id = nil): `until` of this refresh, also for tenants without rows
--   window   per (tenant, monitor, region): checks/up/degraded/down over [h - N days, until) for
--            N = 1, 7, 30, 90 (arrays in that order), h = until + 1 hour
--   day      per (tenant, monitor, UTC day): the 90 whole days before until's day and that day up to until
--   latency  per (tenant, monitor, region): counts, latency samples, total-time sum and
--            p50/p75/p90/p95/p99 over [until - 24 hours, until)
-- `until` is the start of the hour before the refresh: rows that land up to an hour late (a
-- checker's spool replayed after an outage of ClickHouse) are still counted, by the live part.
CREATE TABLE IF NOT EXISTS status_page_summary
(
    kind            Enum8('marker' = 0, 'window' = 1, 'day' = 2, 'latency' = 3),
    until           DateTime('UTC'),
    tenant_id       UUID,
    monitor_id      UUID,
    region          LowCardinality(String),
    day             Date,
    checks          Array(UInt64),
    up              Array(UInt64),
    degraded        Array(UInt64),
    down            Array(UInt64),
    latency_samples UInt64,
    total_us_sum    UInt64,
    total           Array(Float64)
)
ENGINE = MergeTree
ORDER BY (tenant_id, kind, monitor_id, region, day);

-- Refreshed at two minutes past every hour (EMPTY: not at creation, when nothing is stored yet;
-- `Analytics::refresh_status_page_summary` runs it on demand). Each refresh replaces the table's
-- contents atomically. Window N reads the hourly rollup for its first, partial day
-- [s_N, e_N), the daily rollup for whole days [e_N, d0) and the hourly rollup for until's day
-- [d0, until), so no check is counted twice.
CREATE MATERIALIZED VIEW IF NOT EXISTS status_page_summary_mv
REFRESH EVERY 1 HOUR OFFSET 2 MINUTE
TO status_page_summary
EMPTY
AS
WITH
    toStartOfHour(now('UTC')) AS h,
    h - INTERVAL 1 HOUR AS u,
    toStartOfDay(u) AS d0,
    h - INTERVAL 1 DAY AS s1,
    h - INTERVAL 7 DAY AS s7,
    h - INTERVAL 30 DAY AS s30,
    h - INTERVAL 90 DAY AS s90,
    toStartOfDay(s1) + INTERVAL 1 DAY AS e1,
    toStartOfDay(s7) + INTERVAL 1 DAY AS e7,
    toStartOfDay(s30) + INTERVAL 1 DAY AS e30,
    toStartOfDay(s90) + INTERVAL 1 DAY AS e90
SELECT
    'window' AS kind,
    u AS until,
    tenant_id,
    monitor_id,
    region,
    toDate(0) AS day,
    [sumIf(c, w1), sumIf(c, w7), sumIf(c, w30), sumIf(c, w90)] AS checks,
    [sumIf(o, w1), sumIf(o, w7), sumIf(o, w30), sumIf(o, w90)] AS up,
    [sumIf(g, w1), sumIf(g, w7), sumIf(g, w30), sumIf(g, w90)] AS degraded,
    [sumIf(n, w1), sumIf(n, w7), sumIf(n, w30), sumIf(n, w90)] AS down,
    toUInt64(0) AS latency_samples,
    toUInt64(0) AS total_us_sum,
    CAST([], 'Array(Float64)') AS total
FROM
(
    SELECT tenant_id, monitor_id, region,
        toUInt64(checks) AS c, toUInt64(up) AS o, toUInt64(degraded) AS g, toUInt64(down) AS n,
        bucket >= s1 AND (bucket < e1 OR bucket >= d0) AS w1,
        bucket >= s7 AND (bucket < e7 OR bucket >= d0) AS w7,
        bucket >= s30 AND (bucket < e30 OR bucket >= d0) AS w30,
        bucket >= s90 AND (bucket < e90 OR bucket >= d0) AS w90
    FROM check_rollup_hourly
    WHERE bucket >= s90 AND bucket < u
      AND (bucket >= d0 OR bucket < e1 AND bucket >= s1 OR bucket < e7 AND bucket >= s7
           OR bucket < e30 AND bucket >= s30 OR bucket < e90)
    UNION ALL
    SELECT tenant_id, monitor_id, region,
        toUInt64(checks) AS c, toUInt64(up) AS o, toUInt64(degraded) AS g, toUInt64(down) AS n,
        bucket >= e1 AS w1, bucket >= e7 AS w7, bucket >= e30 AS w30, bucket >= e90 AS w90
    FROM check_rollup_daily
    WHERE bucket >= e90 AND bucket < d0
)
GROUP BY tenant_id, monitor_id, region
HAVING sum(c) > 0

UNION ALL

SELECT
    'day' AS kind,
    toStartOfHour(now('UTC')) - INTERVAL 1 HOUR AS until,
    tenant_id,
    monitor_id,
    '' AS region,
    toDate(day_start) AS day,
    [sum(c)] AS checks,
    [sum(o)] AS up,
    [sum(g)] AS degraded,
    [sum(n)] AS down,
    toUInt64(0) AS latency_samples,
    toUInt64(0) AS total_us_sum,
    CAST([], 'Array(Float64)') AS total
FROM
(
    SELECT tenant_id, monitor_id, bucket AS day_start,
        toUInt64(checks) AS c, toUInt64(up) AS o, toUInt64(degraded) AS g, toUInt64(down) AS n
    FROM check_rollup_daily
    WHERE bucket >= toStartOfDay(toStartOfHour(now('UTC')) - INTERVAL 1 HOUR) - INTERVAL 90 DAY
      AND bucket < toStartOfDay(toStartOfHour(now('UTC')) - INTERVAL 1 HOUR)
    UNION ALL
    -- (a new name: an alias `bucket` would be what the WHERE below compares)
    SELECT tenant_id, monitor_id, toStartOfDay(bucket) AS day_start,
        toUInt64(checks) AS c, toUInt64(up) AS o, toUInt64(degraded) AS g, toUInt64(down) AS n
    FROM check_rollup_hourly
    WHERE bucket >= toStartOfDay(toStartOfHour(now('UTC')) - INTERVAL 1 HOUR)
      AND bucket < toStartOfHour(now('UTC')) - INTERVAL 1 HOUR
)
GROUP BY tenant_id, monitor_id, day

UNION ALL

SELECT
    'latency' AS kind,
    toStartOfHour(now('UTC')) - INTERVAL 1 HOUR AS until,
    tenant_id,
    monitor_id,
    region,
    toDate(0) AS day,
    [sum(toUInt64(checks))] AS checks,
    [sum(toUInt64(up))] AS up,
    [sum(toUInt64(degraded))] AS degraded,
    [sum(toUInt64(down))] AS down,
    sum(toUInt64(latency_samples)) AS latency_samples,
    sum(toUInt64(total_us_sum)) AS total_us_sum,
    quantilesBFloat16Merge(0.5, 0.75, 0.9, 0.95, 0.99)(total_q) AS total
FROM check_rollup_hourly
WHERE bucket >= toStartOfHour(now('UTC')) - INTERVAL 25 HOUR
  AND bucket < toStartOfHour(now('UTC')) - INTERVAL 1 HOUR
GROUP BY tenant_id, monitor_id, region

UNION ALL

SELECT
    'marker' AS kind,
    toStartOfHour(now('UTC')) - INTERVAL 1 HOUR AS until,
    toUUID('00000000-0000-0000-0000-000000000000') AS tenant_id,
    toUUID('00000000-0000-0000-0000-000000000000') AS monitor_id,
    '' AS region,
    toDate(0) AS day,
    CAST([], 'Array(UInt64)') AS checks,
    CAST([], 'Array(UInt64)') AS up,
    CAST([], 'Array(UInt64)') AS degraded,
    CAST([], 'Array(UInt64)') AS down,
    toUInt64(0) AS latency_samples,
    toUInt64(0) AS total_us_sum,
    CAST([], 'Array(Float64)') AS total;
