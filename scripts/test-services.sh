#!/usr/bin/env bash
# Self-test of scripts/services.sh: start or reuse PostgreSQL and ClickHouse,
# run a query on each, stop what was started.  Prints "N passed, N failed".
set -euo pipefail

# shellcheck source=services.sh
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
trap stop_started_services EXIT

passed=0
failed=0
check() {
    local name="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
        sp_log "PASS $name"
    else
        failed=$((failed + 1))
        sp_log "FAIL $name"
    fi
}

pg_query() {
    local out
    out="$(psql -w -X -Atc 'select 40 + 2' "$DATABASE_URL")" && [ "$out" = "42" ]
}

ch_query() {
    local out
    out="$(sp_clickhouse_query 'SELECT 40 + 2')" && [ "$out" = "42" ]
}

ch_mergetree() {
    local db="sp_selftest_$$" out
    sp_clickhouse_query "CREATE DATABASE IF NOT EXISTS $db" >/dev/null &&
        sp_clickhouse_query "CREATE TABLE $db.t (at DateTime64(6, 'UTC'), id UUID, s Enum8('up' = 1, 'down' = 2), r LowCardinality(String)) ENGINE = MergeTree ORDER BY at TTL toDateTime(at) + INTERVAL 1 DAY" >/dev/null &&
        sp_clickhouse_query "INSERT INTO $db.t VALUES (now64(6), generateUUIDv4(), 'up', 'eu-west-1')" >/dev/null &&
        out="$(sp_clickhouse_query "SELECT count() FROM $db.t")" &&
        sp_clickhouse_query "DROP DATABASE $db SYNC" >/dev/null &&
        [ "$out" = "1" ]
}

ch_down() {
    ! _sp_http_ping "$CLICKHOUSE_URL/ping"
}

check "ensure_postgres" ensure_postgres
if [ -n "${DATABASE_URL:-}" ]; then
    check "postgres query" pg_query
fi
check "ensure_clickhouse" ensure_clickhouse
check "clickhouse query" ch_query
check "clickhouse MergeTree round trip" ch_mergetree
started_ch="${SP_STARTED_CLICKHOUSE:-}"
check "stop_started_services" stop_started_services
if [ -n "$started_ch" ]; then
    check "clickhouse stopped (port free)" ch_down
fi
if [ -n "${SP_STARTED_CLICKHOUSE:-}" ]; then
    failed=$((failed + 1))
    sp_log "FAIL ClickHouse still marked as started"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
