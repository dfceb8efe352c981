# shellcheck shell=bash
# A real SMTP server for the email tests: aiosmtpd (PyPI) in a venv under the tool cache, run by
# the tests themselves with scripts/smtp-sink.py on a free loopback port.
#
#   source scripts/services.sh scripts/smtp.sh
#   ensure_aiosmtpd      # install once (cached) and export AIOSMTPD_PYTHON
#
# Variables read: STATUSPAGE_CACHE (venv in $STATUSPAGE_CACHE/aiosmtpd-venv), AIOSMTPD_PIP_SPEC.
# Exported: AIOSMTPD_PYTHON (the venv's python, which imports aiosmtpd).

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
