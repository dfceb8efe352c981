# shellcheck shell=bash
# Start or reuse the external systems the tests and the demo need.
#
#   source scripts/services.sh
#   trap stop_started_services EXIT
#   ensure_postgres || exit 1
#   ensure_clickhouse || exit 1
#
# Safe to source from scripts running under `set -euo pipefail`: sourcing only
# defines functions and variables (no shell options are changed, nothing exits).
# Every function returns 0 on success and non-zero with a message on stderr on
# failure; none of them calls `exit`.
#
# Environment:
#   STATUSPAGE_CACHE   venvs and tools           (default $HOME/.cache/statuspage)
#   STATUSPAGE_DATA    persistent service data   (default $HOME/.local/share/statuspage)
#   DATABASE_URL       PostgreSQL to use         (default postgres://postgres@127.0.0.1:5432/statuspage)
#   CLICKHOUSE_URL     ClickHouse HTTP interface (default http://127.0.0.1:8123)
#   CLICKHOUSE_DATA_DIR  data of the local ClickHouse (default $STATUSPAGE_DATA/clickhouse)
#
# Set by the functions:
#   SP_STARTED_POSTGRES=1        ensure_postgres started a local cluster (SP_PG_CLUSTER="<ver> <name>")
#   SP_STARTED_CLICKHOUSE=<pid>  ensure_clickhouse started scripts/clickhouse-server.py

: "${STATUSPAGE_CACHE:=${HOME:-/root}/.cache/statuspage}"
: "${STATUSPAGE_DATA:=${HOME:-/root}/.local/share/statuspage}"
export STATUSPAGE_CACHE STATUSPAGE_DATA

SP_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SP_CHDB_VERSION="26.9.0"
SP_DEFAULT_DATABASE_URL="postgres://postgres@127.0.0.1:5432/statuspage"
SP_DEFAULT_CLICKHOUSE_URL="http://127.0.0.1:8123"
: "${SP_STARTED_POSTGRES:=}"
: "${SP_PG_CLUSTER:=}"
: "${SP_STARTED_CLICKHOUSE:=}"
: "${_SP_APT_UPDATED:=}"
_SP_PG_PORT=5432

# ---------------------------------------------------------------------------
# helpers

sp_log() {
    printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

_sp_err() {
    sp_log "ERROR: $*"
}

# Run a command as root (directly, or through sudo).
_sp_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _sp_err "need root (or sudo) to run: $*"
        return 1
    fi
}

# apt-get install the given Debian packages (apt-get update at most once per shell).
_sp_apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        _sp_err "apt-get not found; install these packages by hand: $*"
        return 1
    fi
    if [ -z "$_SP_APT_UPDATED" ]; then
        sp_log "apt-get update"
        _sp_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || {
            _sp_err "apt-get update failed"
            return 1
        }
        _SP_APT_UPDATED=1
    fi
    sp_log "apt-get install -y $*"
    _sp_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "$@" >&2 || {
        _sp_err "apt-get install $* failed"
        return 1
    }
}

# Is something accepting TCP connections on host:port?
_sp_tcp_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# GET a URL; succeed only on HTTP 2xx with body "Ok." (ClickHouse /ping).
_sp_http_ping() {
    local url="$1" body
    if command -v curl >/dev/null 2>&1; then
        body="$(curl -sf --max-time 2 "$url" 2>/dev/null)" || return 1
    else
        body="$(python3 - "$url" 2>/dev/null <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())
PY
)" || return 1
    fi
    [ "${body%%$'\n'*}" = "Ok." ]
}

# POST a query to ClickHouse's HTTP interface; prints the response body.
sp_clickhouse_query() {
    local sql="$1" url="${CLICKHOUSE_URL:-$SP_DEFAULT_CLICKHOUSE_URL}"
    if command -v curl >/dev/null 2>&1; then
        curl -sS --fail-with-body --max-time 30 "$url/" --data-binary "$sql"
    else
        python3 - "$url/" "$sql" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode()), timeout=30).read().decode(), end="")
PY
    fi
}

# ---------------------------------------------------------------------------
# PostgreSQL

# psql as the postgres superuser against the local server on 127.0.0.1:$_SP_PG_PORT.
# TCP first (trust auth); as root, fall back to the unix socket with peer auth.
_sp_pg_admin() {
    if psql -w -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$_SP_PG_PORT" -U postgres -d postgres "$@" 2>/dev/null; then
        return 0
    fi
    if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- psql -w -X -q -v ON_ERROR_STOP=1 -p "$_SP_PG_PORT" -d postgres "$@"
        return
    fi
    return 1
}

_sp_pg_answers() {
    # psql proves the database itself exists and accepts us; pg_isready only the server.
    if command -v psql >/dev/null 2>&1; then
        PGCONNECT_TIMEOUT=5 psql -w -X -q -Atc 'select 1' "$1" >/dev/null 2>&1
    elif command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -t 5 -d "$1" >/dev/null 2>&1
    else
        return 1
    fi
}

# Newest installed server version (e.g. 15), empty if none.
_sp_pg_version() {
    local d
    d="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$d" ] && [ -x "/usr/lib/postgresql/$d/bin/postgres" ]; then
        printf '%s\n' "$d"
    fi
}

# "<ver> <name>" of the Debian cluster configured for port $1, empty if none.
_sp_pg_cluster_on_port() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 0
    pg_lsclusters -h 2>/dev/null | awk -v p="$1" '$3 == p { print $1, $2; exit }'
}

# Allow password-less TCP logins from loopback (local development only).
_sp_pg_trust_loopback() {
    local hba="/etc/postgresql/$1/$2/pg_hba.conf"
    [ -f "$hba" ] || { _sp_err "pg_hba.conf not found at $hba"; return 1; }
    if grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        return 0
    fi
    sp_log "allowing trust auth from 127.0.0.1 in $hba"
    local tmp
    tmp="$(mktemp)" || return 1
    {
        echo "# added by statuspage scripts/services.sh: local development, loopback only"
        echo "host    all             all             127.0.0.1/32            trust"
        echo "host    all             all             ::1/128                 trust"
        cat "$hba"
    } >"$tmp" && _sp_root cp "$tmp" "$hba" && rm -f "$tmp"
}

# Start (creating if needed) the local cluster on port $_SP_PG_PORT.
_sp_pg_start_local() {
    local ver cluster name tries status new_name="${SP_PG_CLUSTER_NAME:-main}" p="$_SP_PG_PORT"
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(_sp_pg_version)" ]; then
        _sp_apt_install postgresql || return 1
    fi
    ver="$(_sp_pg_version)"
    [ -n "$ver" ] || { _sp_err "PostgreSQL server binaries not found after install"; return 1; }

    # A cluster on our port, any version (pg_lsclusters -h: ver name port status owner ...).
    cluster="$(_sp_pg_cluster_on_port "$p")"
    if [ -z "$cluster" ]; then
        if pg_lsclusters -h 2>/dev/null | awk -v v="$ver" -v n="$new_name" '$1 == v && $2 == n { f = 1 } END { exit !f }'; then
            _sp_err "cluster $ver/$new_name exists but not on port $p; start it yourself and set DATABASE_URL"
            return 1
        fi
        sp_log "creating PostgreSQL cluster $ver/$new_name on port $p"
        _sp_root pg_createcluster -p "$p" "$ver" "$new_name" >&2 || {
            _sp_err "pg_createcluster -p $p $ver $new_name failed"
            return 1
        }
        cluster="$ver $new_name"
    fi
    ver="${cluster%% *}"
    name="${cluster#* }"
    _sp_pg_trust_loopback "$ver" "$name" || return 1

    status="$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n { print $4 }')"
    if [ "$status" != "online" ]; then
        sp_log "starting PostgreSQL cluster $ver/$name"
        _sp_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 || {
            _sp_err "pg_ctlcluster $ver $name start failed; see /var/log/postgresql/postgresql-$ver-$name.log"
            return 1
        }
        SP_STARTED_POSTGRES=1
        SP_PG_CLUSTER="$ver $name"
    else
        # Online but not answering on TCP before: the hba change needs a reload.
        _sp_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >&2 || true
    fi

    tries=0
    while ! _sp_tcp_open 127.0.0.1 "$p"; do
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ]; then
            _sp_err "PostgreSQL $ver/$name did not accept connections on 127.0.0.1:$p within 30 s"
            return 1
        fi
        sleep 0.5
    done
}

# ensure_postgres: make DATABASE_URL point at a PostgreSQL that answers.
#   - DATABASE_URL set and answering: used as is.
#   - otherwise the local server on 127.0.0.1:5432 (installed, created, started if needed),
#     with DATABASE_URL defaulting to postgres://postgres@127.0.0.1:5432/statuspage;
#     the database is created if absent.
#   - DATABASE_URL set to a non-local server that does not answer: error.
# Exports DATABASE_URL; sets SP_STARTED_POSTGRES=1 if it started the server.
ensure_postgres() {
    local url="${DATABASE_URL:-}" db exists
    if [ -n "$url" ] && _sp_pg_answers "$url"; then
        sp_log "PostgreSQL: using DATABASE_URL (answers)"
        export DATABASE_URL="$url"
        return 0
    fi
    if [ -z "$url" ]; then
        url="$SP_DEFAULT_DATABASE_URL"
    fi
    # Only a local server (127.0.0.1/localhost) can be started/created here.
    local re='^postgres(ql)?://([^@/]*@)?(127\.0\.0\.1|localhost)(:([0-9]+))?/([A-Za-z0-9_]+)([?].*)?$'
    if ! [[ "$url" =~ $re ]]; then
        _sp_err "DATABASE_URL does not answer and is not a local 127.0.0.1 database: $url"
        return 1
    fi
    _SP_PG_PORT="${BASH_REMATCH[5]:-5432}"
    db="${BASH_REMATCH[6]}"

    if ! _sp_tcp_open 127.0.0.1 "$_SP_PG_PORT"; then
        _sp_pg_start_local || return 1
    fi
    if ! command -v psql >/dev/null 2>&1; then
        _sp_apt_install postgresql-client || return 1
    fi
    if ! PGCONNECT_TIMEOUT=5 psql -w -X -q -Atc 'select 1' -h 127.0.0.1 -p "$_SP_PG_PORT" -U postgres -d postgres >/dev/null 2>&1; then
        # Something answers but refuses password-less TCP logins: a local Debian
        # cluster without trust auth (the tests and the app connect over TCP).
        local cluster
        cluster="$(_sp_pg_cluster_on_port "$_SP_PG_PORT")"
        if [ -z "$cluster" ]; then
            _sp_err "a server answers on 127.0.0.1:$_SP_PG_PORT but refuses user postgres without password; set DATABASE_URL"
            return 1
        fi
        _sp_pg_trust_loopback "${cluster%% *}" "${cluster#* }" || return 1
        _sp_root pg_ctlcluster --skip-systemctl-redirect "${cluster%% *}" "${cluster#* }" reload >&2 || return 1
        sleep 1
        PGCONNECT_TIMEOUT=5 psql -w -X -q -Atc 'select 1' -h 127.0.0.1 -p "$_SP_PG_PORT" -U postgres -d postgres >/dev/null || {
            _sp_err "cannot log in to 127.0.0.1:$_SP_PG_PORT as postgres even after enabling trust auth"
            return 1
        }
    fi

    exists="$(_sp_pg_admin -Atc "select 1 from pg_database where datname = '$db'")" || {
        _sp_err "cannot list databases on 127.0.0.1:$_SP_PG_PORT"
        return 1
    }
    if [ "$exists" != "1" ]; then
        sp_log "PostgreSQL: creating database $db"
        _sp_pg_admin -c "create database \"$db\"" || {
            _sp_err "create database $db failed"
            return 1
        }
    fi
    if ! _sp_pg_answers "$url"; then
        _sp_err "PostgreSQL is up but DATABASE_URL still does not answer: $url"
        return 1
    fi
    sp_log "PostgreSQL: ready at $url${SP_STARTED_POSTGRES:+ (started by this shell)}"
    export DATABASE_URL="$url"
}

# ---------------------------------------------------------------------------
# ClickHouse (chdb-core behind scripts/clickhouse-server.py)

_sp_chdb_venv() {
    printf '%s\n' "$STATUSPAGE_CACHE/chdb-venv"
}

_sp_chdb_usable() {
    "$1/bin/python" - "$SP_CHDB_VERSION" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
assert version("chdb-core") == sys.argv[1]
import chdb._chdb
PY
}

# Create $STATUSPAGE_CACHE/chdb-venv with chdb-core (about 560 MB) unless usable already.
ensure_chdb_venv() {
    local venv
    venv="$(_sp_chdb_venv)"
    if [ -x "$venv/bin/python" ] && _sp_chdb_usable "$venv"; then
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        _sp_apt_install python3 python3-venv || return 1
    fi
    sp_log "creating $venv with chdb-core==$SP_CHDB_VERSION (about 560 MB)"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")" || return 1
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian ships venv/ensurepip separately.
        rm -rf "$venv"
        _sp_apt_install python3-venv || return 1
        python3 -m venv "$venv" || { _sp_err "python3 -m venv $venv failed"; return 1; }
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "chdb-core==$SP_CHDB_VERSION" >&2 || {
        _sp_err "pip install chdb-core==$SP_CHDB_VERSION failed"
        rm -rf "$venv"
        return 1
    }
    _sp_chdb_usable "$venv" || { _sp_err "chdb-core installed but not importable in $venv"; return 1; }
}

# Is $1 a live (not zombie) process?
_sp_alive() {
    local state
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 0
    [ "$state" != "Z" ]
}

# Is $1 a live process running our launcher?
_sp_is_launcher() {
    local pid="$1"
    _sp_alive "$pid" && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'clickhouse-server\.py'
}

# ensure_clickhouse: make CLICKHOUSE_URL point at a ClickHouse that answers /ping.
#   - CLICKHOUSE_URL (default http://127.0.0.1:8123) answering: used as is.
#   - otherwise, for a loopback URL: starts scripts/clickhouse-server.py in the background
#     (data in ${CLICKHOUSE_DATA_DIR:-$STATUSPAGE_DATA/clickhouse}, pid and log files there)
#     and waits up to 60 s for /ping.
# Exports CLICKHOUSE_URL; sets SP_STARTED_CLICKHOUSE=<pid> if it started the server.
ensure_clickhouse() {
    local url="${CLICKHOUSE_URL:-$SP_DEFAULT_CLICKHOUSE_URL}"
    url="${url%/}"
    if _sp_http_ping "$url/ping"; then
        sp_log "ClickHouse: using $url (answers /ping)"
        export CLICKHOUSE_URL="$url"
        return 0
    fi
    local re='^http://(127\.0\.0\.1|localhost)(:([0-9]+))?$'
    if ! [[ "$url" =~ $re ]]; then
        _sp_err "CLICKHOUSE_URL does not answer /ping and is not a local http://127.0.0.1:PORT address: $url"
        return 1
    fi
    local port="${BASH_REMATCH[3]:-8123}"
    local data_dir="${CLICKHOUSE_DATA_DIR:-$STATUSPAGE_DATA/clickhouse}"
    local pid_file="$data_dir/clickhouse-server.pid"
    local log_file="$data_dir/clickhouse-server.log"
    local pid venv

    mkdir -p "$data_dir" || { _sp_err "cannot create $data_dir"; return 1; }

    # A launcher from an earlier run on this data dir?
    if [ -f "$pid_file" ]; then
        pid="$(tr -dc '0-9' <"$pid_file")"
        if _sp_is_launcher "$pid"; then
            sp_log "ClickHouse: launcher $pid already runs on $data_dir; waiting for it on $url"
            for _ in $(seq 1 60); do
                if _sp_http_ping "$url/ping"; then
                    export CLICKHOUSE_URL="$url"
                    return 0
                fi
                _sp_is_launcher "$pid" || break
                sleep 1
            done
            if _sp_is_launcher "$pid"; then
                _sp_err "launcher $pid holds $data_dir but does not answer on $url (another port?); stop it: kill $pid"
                return 1
            fi
        fi
        sp_log "ClickHouse: removing stale pid file $pid_file"
        rm -f "$pid_file"
    fi

    ensure_chdb_venv || return 1
    venv="$(_sp_chdb_venv)"

    sp_log "ClickHouse: starting local server on 127.0.0.1:$port (data $data_dir, log $log_file)"
    printf '\n==== %s start (port %s) ====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$port" >>"$log_file"
    nohup "$venv/bin/python" "$SP_REPO_ROOT/scripts/clickhouse-server.py" \
        --data-dir "$data_dir" --port "$port" --pid-file "$pid_file" \
        </dev/null >>"$log_file" 2>&1 &
    pid=$!
    SP_STARTED_CLICKHOUSE="$pid"

    local start=$SECONDS
    while ! _sp_http_ping "$url/ping"; do
        if ! _sp_alive "$pid"; then
            wait "$pid" 2>/dev/null || true
            SP_STARTED_CLICKHOUSE=""
            _sp_err "ClickHouse launcher exited during start; last lines of $log_file:"
            tail -n 20 "$log_file" >&2
            return 1
        fi
        if [ $((SECONDS - start)) -ge 60 ]; then
            _sp_err "ClickHouse did not answer $url/ping within 60 s; last lines of $log_file:"
            tail -n 20 "$log_file" >&2
            _sp_stop_clickhouse
            return 1
        fi
        if [ $((SECONDS - start)) -gt 0 ] && [ $(((SECONDS - start) % 5)) -eq 0 ]; then
            sp_log "ClickHouse: waiting for $url/ping ($((SECONDS - start)) s)"
            sleep 1
        else
            sleep 0.2
        fi
    done
    sp_log "ClickHouse: ready at $url after $((SECONDS - start)) s (pid $pid)"
    export CLICKHOUSE_URL="$url"
}

_sp_stop_clickhouse() {
    local pid="${SP_STARTED_CLICKHOUSE:-}"
    [ -n "$pid" ] || return 0
    if _sp_is_launcher "$pid"; then
        sp_log "ClickHouse: stopping pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            _sp_is_launcher "$pid" || break
            sleep 0.2
        done
        if _sp_is_launcher "$pid"; then
            sp_log "ClickHouse: pid $pid still running after 20 s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    wait "$pid" 2>/dev/null || true
    if _sp_is_launcher "$pid"; then
        _sp_err "could not stop ClickHouse launcher pid $pid"
        return 1
    fi
    local pid_file="${CLICKHOUSE_DATA_DIR:-$STATUSPAGE_DATA/clickhouse}/clickhouse-server.pid"
    if [ -f "$pid_file" ] && [ "$(tr -dc '0-9' <"$pid_file")" = "$pid" ]; then
        rm -f "$pid_file"
    fi
    SP_STARTED_CLICKHOUSE=""
}

# stop_started_services: stop what this shell started (and nothing else).
# Meant for `trap stop_started_services EXIT`.
stop_started_services() {
    local rc=0
    _sp_stop_clickhouse || rc=1
    if [ "${SP_STARTED_POSTGRES:-}" = "1" ] && [ -n "${SP_PG_CLUSTER:-}" ]; then
        sp_log "PostgreSQL: stopping cluster ${SP_PG_CLUSTER/ //}"
        # shellcheck disable=SC2086  # "<ver> <name>" splits into two arguments
        if _sp_root pg_ctlcluster --skip-systemctl-redirect $SP_PG_CLUSTER stop -m fast >&2; then
            SP_STARTED_POSTGRES=""
            SP_PG_CLUSTER=""
        else
            _sp_err "pg_ctlcluster $SP_PG_CLUSTER stop failed"
            rc=1
        fi
    fi
    return "$rc"
}

# ---------------------------------------------------------------------------
# build and browser tools

# ensure_wasm_bindgen: wasm-bindgen CLI at exactly the version in Cargo.lock,
# installed into $STATUSPAGE_CACHE/tools; prepends its bin folder to PATH.
ensure_wasm_bindgen() {
    local lock="$SP_REPO_ROOT/Cargo.lock" want have root="$STATUSPAGE_CACHE/tools"
    [ -f "$lock" ] || { _sp_err "$lock not found"; return 1; }
    want="$(awk '
        $0 == "[[package]]" { name = "" }
        $1 == "name" && $3 == "\"wasm-bindgen\"" { name = "wasm-bindgen" }
        name == "wasm-bindgen" && $1 == "version" { gsub(/"/, "", $3); print $3; exit }
    ' "$lock")"
    if [ -z "$want" ]; then
        _sp_err "Cargo.lock does not list wasm-bindgen yet; build the web crate once (cargo build -p <web crate>) so it resolves"
        return 1
    fi
    have="$("$root/bin/wasm-bindgen" --version 2>/dev/null | awk '{ print $2 }')" || have=""
    if [ "$have" != "$want" ]; then
        command -v cargo >/dev/null 2>&1 || { _sp_err "cargo not found (needed to install wasm-bindgen-cli)"; return 1; }
        sp_log "installing wasm-bindgen-cli $want into $root (about 2 min)${have:+, replacing $have}"
        cargo install wasm-bindgen-cli --version "$want" --root "$root" --force >&2 || {
            _sp_err "cargo install wasm-bindgen-cli --version $want failed"
            return 1
        }
        have="$("$root/bin/wasm-bindgen" --version 2>/dev/null | awk '{ print $2 }')" || have=""
        [ "$have" = "$want" ] || { _sp_err "wasm-bindgen --version reports '$have', expected $want"; return 1; }
    fi
    case ":$PATH:" in
        *":$root/bin:"*) ;;
        *) export PATH="$root/bin:$PATH" ;;
    esac
}

# ensure_wasm_target: the wasm32 standard library for the browser bundle. rust-toolchain.toml lists
# it, but rustup only adds a toolchain file's targets when it installs the toolchain itself, so a
# machine whose 1.95.0 came from elsewhere lacks it.
ensure_wasm_target() {
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        command -v rustup >/dev/null 2>&1 || { _sp_err "rustup not found (needed to add the wasm32-unknown-unknown target)"; return 1; }
        sp_log "adding the Rust target wasm32-unknown-unknown (rustup)"
        rustup target add wasm32-unknown-unknown >&2 || { _sp_err "rustup target add wasm32-unknown-unknown failed"; return 1; }
    fi
}

# ensure_chromium: /usr/bin/chromium for browser tests.
ensure_chromium() {
    if [ -x /usr/bin/chromium ]; then
        return 0
    fi
    _sp_apt_install chromium || return 1
    [ -x /usr/bin/chromium ] || { _sp_err "chromium installed but /usr/bin/chromium is missing"; return 1; }
}

# ensure_playwright: node + playwright-core (driving Debian's Chromium; it never downloads a browser),
# installed once into $STATUSPAGE_CACHE/node; exports STATUSPAGE_NODE_MODULES.
ensure_playwright() {
    local dir="$STATUSPAGE_CACHE/node"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        _sp_apt_install nodejs npm || return 1
    fi
    # axe-core: the accessibility checker the browser tests inject into the pages.
    if [ ! -f "$dir/node_modules/playwright-core/package.json" ] || [ ! -f "$dir/node_modules/axe-core/axe.min.js" ]; then
        sp_log "installing playwright-core and axe-core into $dir"
        mkdir -p "$dir"
        [ -f "$dir/package.json" ] || printf '{"private":true}\n' > "$dir/package.json"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error playwright-core@1 axe-core@4 >&2) || {
            _sp_err "npm install playwright-core axe-core failed"
            return 1
        }
    fi
    export STATUSPAGE_NODE_MODULES="$dir/node_modules"
}

# ensure_nginx: Debian's nginx binary (the page benchmark runs its own instance with its own
# config on a loopback port; the system service is not used).
ensure_nginx() {
    if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
        return 0
    fi
    # nginx-light would do too; plain `nginx` is the package every Debian release has.
    _sp_apt_install nginx || return 1
    [ -x /usr/sbin/nginx ] || { _sp_err "nginx installed but /usr/sbin/nginx is missing"; return 1; }
}

# ensure_prometheus: Debian's Prometheus server (the metrics test starts its own instance with its
# own config and storage on a loopback port; the system service is not used); exports
# PROMETHEUS_BIN.
ensure_prometheus() {
    if [ ! -x /usr/bin/prometheus ]; then
        # Without the recommended node exporter: only the server is needed.
        _sp_apt_install --no-install-recommends prometheus || return 1
        [ -x /usr/bin/prometheus ] || { _sp_err "prometheus installed but /usr/bin/prometheus is missing"; return 1; }
    fi
    export PROMETHEUS_BIN="${PROMETHEUS_BIN:-/usr/bin/prometheus}"
}

# ensure_wrk: Debian's wrk (closed-loop HTTP load: throughput at saturation).
ensure_wrk() {
    if command -v wrk >/dev/null 2>&1; then
        return 0
    fi
    _sp_apt_install wrk || return 1
    command -v wrk >/dev/null 2>&1 || { _sp_err "wrk installed but not on PATH"; return 1; }
}

# ensure_oha: the oha load generator (open loop at a fixed rate with `-q`), from crates.io into
# $STATUSPAGE_CACHE/tools (a release build: several minutes the first time); prepends its bin
# folder to PATH.
ensure_oha() {
    local root="$STATUSPAGE_CACHE/tools"
    if [ ! -x "$root/bin/oha" ]; then
        command -v cargo >/dev/null 2>&1 || { _sp_err "cargo not found (needed to install oha)"; return 1; }
        sp_log "installing oha into $root (cargo install --locked: several minutes)"
        cargo install oha --locked --root "$root" >&2 || {
            _sp_err "cargo install oha --locked failed"
            return 1
        }
    fi
    case ":$PATH:" in
        *":$root/bin:"*) ;;
        *) export PATH="$root/bin:$PATH" ;;
    esac
}
