# shellcheck shell=bash
# A real SMTP server for the email tests: aiosmtpd (PyPI) in a venv under the tool cache, run by
# the tests themselves with scripts/smtp-sink.py on a free loopback port.
#
#   source scripts/services.sh scripts/smtp.sh
#   ensure_aiosmtpd      # install once (cached) and export AIOSMTPD_PYTHON
#
# Variables read: STATUSPAGE_CACHE (venv in $STATUSPAGE_CACHE/aiosmtpd-venv), AIOSMTPD_PIP_SPEC.
# Exported: AIOSMTPD_PYTHON (the venv's python, which imports aiosmtpd).

_SP_SMTP_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

_smtp_venv() { printf '%s/aiosmtpd-venv\n' "${STATUSPAGE_CACHE:-$HOME/.cache/statuspage}"; }

ensure_aiosmtpd() {
    local venv spec
    venv="$(_smtp_venv)"
    spec="${AIOSMTPD_PIP_SPEC:-aiosmtpd==1.4.6}"
    if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; }; then
        sp_log "installing $spec into $venv"
        rm -rf "$venv"
        "${PYTHON:-python3}" -m venv "$venv" || { _sp_err "python venv creation failed"; return 1; }
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$spec" || {
            _sp_err "pip install $spec failed"
            rm -rf "$venv"
            return 1
        }
    fi
    export AIOSMTPD_PYTHON="$venv/bin/python"
}

# The demo's mail sink: aiosmtpd on 127.0.0.1:$port writing each mail as JSON into $dir (the
# demo inbox page reads them). Its standard input is a pipe from `sleep infinity`, so it lives
# until stop_demo_mail_sink (or this shell's EXIT trap) ends both.
#
#   start_demo_mail_sink DIR PORT   # exports STATUSPAGE_SMTP_URL and DEMO_MAIL_DIR
#   stop_demo_mail_sink
start_demo_mail_sink() {
    local dir="$1" port="$2" log
    ensure_aiosmtpd || return 1
    mkdir -p "$dir"
    log="$dir/../smtp-sink.log"
    sleep infinity | "$AIOSMTPD_PYTHON" "$_SP_SMTP_SCRIPTS/smtp-sink.py" --port "$port" "$dir" >"$log" 2>&1 &
    SP_MAIL_SINK_PID=$!
    local i
    for i in $(seq 1 50); do
        if grep -q '^ready' "$log" 2>/dev/null; then
            export STATUSPAGE_SMTP_URL="${STATUSPAGE_SMTP_URL:-smtp://127.0.0.1:$port}"
            export DEMO_MAIL_DIR="$dir"
            sp_log "demo mail sink on 127.0.0.1:$port (mail kept in $dir)"
            return 0
        fi
        if ! kill -0 "$SP_MAIL_SINK_PID" 2>/dev/null; then break; fi
        sleep 0.2
    done
    _sp_err "the demo mail sink did not start on 127.0.0.1:$port (DEMO_SMTP_PORT); see $log"
    stop_demo_mail_sink
    return 1
}

stop_demo_mail_sink() {
    if [ -n "${SP_MAIL_SINK_PID:-}" ]; then
        # The pipeline's last process is python; the sleep before it goes with its job.
        pkill -TERM -P "$$" -f 'sleep infinity' 2>/dev/null || true
        kill -TERM "$SP_MAIL_SINK_PID" 2>/dev/null || true
        SP_MAIL_SINK_PID=""
    fi
}
