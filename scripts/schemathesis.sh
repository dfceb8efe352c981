# shellcheck shell=bash
# Contract tests of /api/v1 with schemathesis (PyPI) against the OpenAPI document the app server
# serves: no 5xx, and every response matches the document (status codes, content types,
# headers, bodies).
#
#   source scripts/services.sh scripts/schemathesis.sh
#   api_contract_tests   # needs target/debug/statuspage, PostgreSQL and ClickHouse
#
# Variables read: STATUSPAGE_CACHE (venv in $STATUSPAGE_CACHE/schemathesis-venv), DATABASE_URL,
# CLICKHOUSE_URL, SCHEMATHESIS_MAX_EXAMPLES (default 25), SCHEMATHESIS_PIP_SPEC.

_st_venv() { printf '%s/schemathesis-venv\n' "${STATUSPAGE_CACHE:-$HOME/.cache/statuspage}"; }

ensure_schemathesis() {
    local venv spec
    venv="$(_st_venv)"
    spec="${SCHEMATHESIS_PIP_SPEC:-schemathesis==4.32.5}"
    if [ -x "$venv/bin/schemathesis" ] && "$venv/bin/pip" show -q schemathesis >/dev/null 2>&1; then
        return 0
    fi
    sp_log "installing $spec into $venv"
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv" || { _sp_err "python venv creation failed"; return 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$spec" || {
        _sp_err "pip install $spec failed"
        rm -rf "$venv"
        return 1
    }
}

# A free TCP port on 127.0.0.1.
_st_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

api_contract_tests() {
    ensure_schemathesis || return 1
    local db=statuspage_contract_test port pid token rc=0 log
    port="$(_st_free_port)"
    log="$SP_REPO_ROOT/target/contract-server.log"
    PGOPTIONS='--client-min-messages=warning' psql -X -q "$DATABASE_URL" \
        -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" || return 1
    sp_clickhouse_query "DROP DATABASE IF EXISTS $db" >/dev/null
    DATABASE_URL="${DATABASE_URL%/*}/$db" CLICKHOUSE_DATABASE="$db" STATUSPAGE_ADDR="127.0.0.1:$port" \
        CHECKER_SECRET="${CHECKER_SECRET:-contract-test-secret-0123456789}" CHECKER_LOCAL_RUNNER=false \
        "$SP_REPO_ROOT/target/debug/statuspage" serve >"$log" 2>&1 &
    pid=$!
    local i
    for i in $(seq 1 60); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/api/v1/health" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { _sp_err "app server exited; see $log"; return 1; }
        sleep 0.5
    done
    token="$(curl -fsS -X POST "http://127.0.0.1:$port/api/v1/tenants" -H 'content-type: application/json' \
        -d '{"slug":"contract","name":"Contract","email":"contract@example.com"}' |
        python3 -c 'import sys, json; print(json.load(sys.stdin)["api_token"])')" || {
        _sp_err "could not create the contract-test tenant"
        kill "$pid"
        return 1
    }
    mkdir -p "$SP_REPO_ROOT/target/schemathesis"
    sp_log "running schemathesis against http://127.0.0.1:$port/api/v1/openapi.json"
    # revoke_token is left out: revoking the run's own token would turn the rest into 401s.
    "$(_st_venv)/bin/schemathesis" run "http://127.0.0.1:$port/api/v1/openapi.json" \
        -H "Authorization: Bearer $token" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
        --exclude-operation-id revoke_token \
        --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" --workers 2 --seed 1 \
        --report junit --report-dir "$SP_REPO_ROOT/target/schemathesis" 2>&1 |
        tee "$SP_REPO_ROOT/target/schemathesis/run.log" || rc=$?
    # A crashed worker thread (e.g. a response it cannot parse) leaves its operations untested
    # while the summary still passes: count it as a failure.
    if [ "$rc" -eq 0 ] && grep -q -e '^Traceback' -e '^Exception in thread' "$SP_REPO_ROOT/target/schemathesis/run.log"; then
        _sp_err "schemathesis crashed while testing (see the traceback above)"
        rc=1
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ "$rc" -ne 0 ]; then
        _sp_err "schemathesis found problems (exit $rc); app server log: $log"
        return "$rc"
    fi
    sp_log "schemathesis: no server errors and no schema violations"
}
