-- Raw check results: one row per attempt per region. Ordered for per-monitor time-range reads.
CREATE TABLE IF NOT EXISTS check_results
(
    tenant_id        UUID,
    monitor_id       UUID,
    region           LowCardinality(String),
    checked_at       DateTime64(6, 'UTC'),
    run_id           UUID,
    attempt          UInt8,
    status           Enum8('up' = 1, 'degraded' = 2, 'down' = 3),
    status_code      UInt16,
    dns_us           UInt32,
    tcp_connect_us   UInt32,
    tls_handshake_us UInt32,
    ttfb_us          UInt32,
    transfer_us      UInt32,
    total_us         UInt32,
    resolved_ip      String,
    http_version     LowCardinality(String),
    tls_version      LowCardinality(String),
    tls_cipher       LowCardinality(String),
    cert_expires_at  Nullable(DateTime('UTC')),
    response_bytes   UInt64,
    redirects        UInt8,
    cold_start       Bool,
    error            String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(checked_at)
ORDER BY (tenant_id, monitor_id, checked_at, region)
TTL toDateTime(checked_at) + INTERVAL 35 DAY
SETTINGS non_replicated_deduplication_window = 10000;
