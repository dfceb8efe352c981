# shellcheck shell=bash
# Local AWS API emulator (moto server) for the infra tests and the demo.
#
# Source this file, then call the functions:
#
#   source scripts/moto.sh
#   ensure_moto          # install (once, cached) + start (unless already up) + export AWS_* vars
#   cargo test -p infra
#   stop_moto            # stops the server only if ensure_moto started it
#
# Variables read:
#   STATUSPAGE_CACHE  cache root (default: $HOME/.cache/statuspage); the venv lives in
#                     $STATUSPAGE_CACHE/moto-venv and the server log in $STATUSPAGE_CACHE/moto.log
#   MOTO_PORT         port on 127.0.0.1 (default: 5000)
#   MOTO_PIP_SPEC     what pip installs (default: moto[server])
#   PYTHON            python interpreter used to create the venv (default: python3)
#
# Variables exported by ensure_moto:
#   AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT, AWS_ACCESS_KEY_ID=test,
#   AWS_SECRET_ACCESS_KEY=test, AWS_DEFAULT_REGION=us-east-1 (and AWS_REGION if unset),
#   SP_STARTED_MOTO=<pid> when this shell started the server (empty otherwise).
#
# Nothing here calls `exit` or enables `set -e`: the functions return non-zero on failure,
# so sourcing the file never ends the caller's shell.

_moto_cache_dir() { printf '%s\n' "${STATUSPAGE_CACHE:-$HOME/.cache/statuspage}"; }
_moto_port() { printf '%s\n' "${MOTO_PORT:-5000}"; }
_moto_url() { printf 'http://127.0.0.1:%s\n' "$(_moto_port)"; }

# True when a moto server answers on the port. Probes GET /moto-api/config: /moto-api/data.json
# answers 500 once a Lambda function exists and Docker is absent.
_moto_answers() {
    curl -fsS -o /dev/null --max-time 2 "$(_moto_url)/moto-api/config" 2>/dev/null
}

# Install moto[server] into the cached venv unless it is already there.
install_moto() {
    local venv
    venv="$(_moto_cache_dir)/moto-venv"
    if [ -x "$venv/bin/moto_server" ]; then
        return 0
    fi
    echo "moto.sh: installing ${MOTO_PIP_SPEC:-moto[server]} into $venv" >&2
    mkdir -p "$(_moto_cache_dir)" || return 1
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv" || { echo "moto.sh: python venv creation failed" >&2; return 1; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${MOTO_PIP_SPEC:-moto[server]}" || {
        echo "moto.sh: pip install ${MOTO_PIP_SPEC:-moto[server]} failed" >&2
        rm -rf "$venv"
        return 1
    }
}

ensure_moto() {
    local venv port url log
    venv="$(_moto_cache_dir)/moto-venv"
    port="$(_moto_port)"
    url="$(_moto_url)"
    log="$(_moto_cache_dir)/moto.log"

    if ! command -v curl >/dev/null 2>&1; then
        echo "moto.sh: curl is required" >&2
        return 1
    fi

    if _moto_answers; then
        echo "moto.sh: reusing the moto server already answering at $url" >&2
        # Not ours (even if an inherited SP_STARTED_MOTO says otherwise): never stop it.
        SP_STARTED_MOTO=
    else
        install_moto || return 1
        echo "moto.sh: starting moto_server on 127.0.0.1:$port (log: $log)" >&2
        "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
        SP_STARTED_MOTO=$!
        export SP_STARTED_MOTO
        for _ in $(seq 1 150); do
            if _moto_answers; then
                break
            fi
            if ! kill -0 "$SP_STARTED_MOTO" 2>/dev/null; then
                echo "moto.sh: moto_server exited early; last log lines:" >&2
                tail -n 20 "$log" >&2
                SP_STARTED_MOTO=
                return 1
            fi
            sleep 0.2
        done
        if ! _moto_answers; then
            echo "moto.sh: moto_server did not answer at $url within 30 s" >&2
            stop_moto
            return 1
        fi
    fi

    # Lambda without Docker: CreateFunction stores the function, Invoke only echoes.
    if ! curl -fsS -o /dev/null --max-time 10 -X POST -H 'Content-Type: application/json' \
        -d '{"lambda":{"use_docker":false}}' "$url/moto-api/config"; then
        echo "moto.sh: could not configure moto at $url/moto-api/config" >&2
        return 1
    fi

    export AWS_ENDPOINT_URL="$url"
    export AWS_ACCESS_KEY_ID=test
    export AWS_SECRET_ACCESS_KEY=test
    export AWS_DEFAULT_REGION=us-east-1
    export AWS_REGION="${AWS_REGION:-us-east-1}"
    export SP_STARTED_MOTO="${SP_STARTED_MOTO:-}"
    return 0
}

# Stop the moto server, but only if ensure_moto in this shell started it (and the pid is still
# a moto_server process).
stop_moto() {
    local pid="${SP_STARTED_MOTO:-}"
    SP_STARTED_MOTO=
    export SP_STARTED_MOTO
    if [ -z "$pid" ]; then
        return 0
    fi
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto_server; then
        return 0
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
