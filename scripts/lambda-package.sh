# shellcheck shell=bash
# The checker's AWS Lambda package (runtime provided.al2023, handler `bootstrap`), built
# reproducibly for arm64 and x86_64, and the tools that build and test it.
#
#   source scripts/services.sh        # sp_log, _sp_apt_install, STATUSPAGE_CACHE
#   source scripts/lambda-package.sh
#   lambda_package --arch all --profile release   # -> target/lambda/{arm64,x86_64}/bootstrap.zip
#
# The binary `checker-lambda` is built with cargo-zigbuild, zig as the C compiler and linker,
# against glibc 2.34 (Amazon Linux 2023's), with every local path remapped and the symbols
# stripped; bootstrap.zip holds that binary alone as `bootstrap` (mode 0755, dated 1980-01-01,
# deflate level 9), so the same binary always gives the same zip bytes.
#
# Tools, installed once and reused (each install is logged):
#   zig            PyPI ziglang==$SP_ZIGLANG_VERSION in $STATUSPAGE_CACHE/zig-venv
#   cargo-zigbuild crates.io $SP_CARGO_ZIGBUILD_VERSION in $STATUSPAGE_CACHE/cargo-zigbuild
#   Rust targets   aarch64-unknown-linux-gnu, x86_64-unknown-linux-gnu (rustup)
#   qemu           Debian qemu-user-static and libc6-arm64-cross (only to run the arm64 binary)
#
# Environment:
#   LAMBDA_TARGET_DIR  cargo target dir of these builds (default target/lambda-build: its own,
#                      so the RUSTFLAGS here never invalidate the host build in target/)
#   LAMBDA_OUT_DIR     where <arch>/bootstrap.zip goes (default target/lambda)
#   SOURCE_DATE_EPOCH  default 315532800 (1980-01-01): fixed, so a new commit alone never
#                      reruns the build scripts that read it (ring's does)
#   SP_LAMBDA_REMAP_REPO  1 (default) remaps the repository path; 0 leaves it, so the flags, and
#                      with them the dependency builds, are the same from any clone (the tests'
#                      builds, kept in $STATUSPAGE_CACHE/lambda-test-build between clones)
#
# Like services.sh: sourcing only defines functions; they return non-zero with a message on
# failure and never `exit`.

SP_ZIGLANG_VERSION="0.17.1"
SP_CARGO_ZIGBUILD_VERSION="0.24.1"
# Amazon Linux 2023's glibc: the binary must not need a newer symbol version.
SP_LAMBDA_GLIBC="2.34"
# Fixed zip entry date (the earliest a zip can hold).
SP_LAMBDA_ZIP_DATE="1980-01-01"

# arm64 -> aarch64-unknown-linux-gnu, x86_64 -> x86_64-unknown-linux-gnu
_sp_lambda_triple() {
    case "$1" in
        arm64) printf '%s\n' aarch64-unknown-linux-gnu ;;
        x86_64) printf '%s\n' x86_64-unknown-linux-gnu ;;
        *) _sp_err "unknown Lambda architecture '$1' (arm64 or x86_64)"; return 1 ;;
    esac
}

# What `file` and the ELF header call the architecture.
_sp_lambda_machine() {
    case "$1" in
        arm64) printf '%s\n' 'ARM aarch64' ;;
        x86_64) printf '%s\n' 'x86-64' ;;
    esac
}

# ensure_rust_target TRIPLE: the standard library for TRIPLE in the toolchain rust-toolchain.toml
# names (rustup adds a toolchain file's targets only when it installs the toolchain itself).
ensure_rust_target() {
    local triple="$1"
    if ! (cd "$SP_REPO_ROOT" && rustup target list --installed 2>/dev/null) | grep -qx "$triple"; then
        command -v rustup >/dev/null 2>&1 || { _sp_err "rustup not found (needed to add the Rust target $triple)"; return 1; }
        sp_log "adding the Rust target $triple (rustup)"
        (cd "$SP_REPO_ROOT" && rustup target add "$triple") >&2 || { _sp_err "rustup target add $triple failed"; return 1; }
    fi
}

_sp_zig_venv() {
    printf '%s\n' "$STATUSPAGE_CACHE/zig-venv"
}

# The zig executable the ziglang wheel ships (site-packages/ziglang/zig), empty if none.
_sp_zig_path() {
    local venv
    venv="$(_sp_zig_venv)"
    [ -x "$venv/bin/python" ] || return 0
    "$venv/bin/python" - 2>/dev/null <<'PY'
import os, ziglang
path = os.path.join(os.path.dirname(ziglang.__file__), "zig")
if os.access(path, os.X_OK):
    print(path)
PY
}

# ensure_zig: zig $SP_ZIGLANG_VERSION from PyPI (the ziglang wheel, about 50 MB) in
# $STATUSPAGE_CACHE/zig-venv; exports SP_ZIG and CARGO_ZIGBUILD_ZIG_PATH (what cargo-zigbuild runs).
ensure_zig() {
    local venv zig have
    venv="$(_sp_zig_venv)"
    zig="$(_sp_zig_path)"
    have="$([ -n "$zig" ] && "$zig" version 2>/dev/null)" || have=""
    if [ "$have" != "$SP_ZIGLANG_VERSION" ]; then
        command -v python3 >/dev/null 2>&1 || _sp_apt_install python3 python3-venv || return 1
        sp_log "installing zig (PyPI ziglang==$SP_ZIGLANG_VERSION) into $venv${have:+, replacing $have}"
        rm -rf "$venv"
        mkdir -p "$(dirname "$venv")" || return 1
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            rm -rf "$venv"
            _sp_apt_install python3-venv || return 1
            python3 -m venv "$venv" || { _sp_err "python3 -m venv $venv failed"; return 1; }
        fi
        "$venv/bin/pip" install -q --disable-pip-version-check "ziglang==$SP_ZIGLANG_VERSION" >&2 || {
            _sp_err "pip install ziglang==$SP_ZIGLANG_VERSION failed"
            rm -rf "$venv"
            return 1
        }
        zig="$(_sp_zig_path)"
        have="$([ -n "$zig" ] && "$zig" version 2>/dev/null)" || have=""
        [ "$have" = "$SP_ZIGLANG_VERSION" ] || { _sp_err "zig in $venv reports '$have', expected $SP_ZIGLANG_VERSION"; return 1; }
    fi
    export SP_ZIG="$zig" CARGO_ZIGBUILD_ZIG_PATH="$zig"
}

# ensure_cargo_zigbuild: cargo-zigbuild $SP_CARGO_ZIGBUILD_VERSION from crates.io (cargo install
# --locked, about 2 min) in $STATUSPAGE_CACHE/cargo-zigbuild; exports SP_CARGO_ZIGBUILD.
ensure_cargo_zigbuild() {
    local root="$STATUSPAGE_CACHE/cargo-zigbuild" have
    have="$("$root/bin/cargo-zigbuild" --version 2>/dev/null | awk '{ print $2 }')" || have=""
    if [ "$have" != "$SP_CARGO_ZIGBUILD_VERSION" ]; then
        command -v cargo >/dev/null 2>&1 || { _sp_err "cargo not found (needed to install cargo-zigbuild)"; return 1; }
        sp_log "installing cargo-zigbuild $SP_CARGO_ZIGBUILD_VERSION into $root (cargo install --locked, about 2 min)${have:+, replacing $have}"
        cargo install --locked cargo-zigbuild --version "$SP_CARGO_ZIGBUILD_VERSION" --root "$root" --force >&2 || {
            _sp_err "cargo install --locked cargo-zigbuild --version $SP_CARGO_ZIGBUILD_VERSION failed"
            return 1
        }
        have="$("$root/bin/cargo-zigbuild" --version 2>/dev/null | awk '{ print $2 }')" || have=""
        [ "$have" = "$SP_CARGO_ZIGBUILD_VERSION" ] || { _sp_err "cargo-zigbuild --version reports '$have', expected $SP_CARGO_ZIGBUILD_VERSION"; return 1; }
    fi
    export SP_CARGO_ZIGBUILD="$root/bin/cargo-zigbuild"
}

# ensure_qemu_aarch64: a user-mode qemu for aarch64 and the arm64 glibc it loads the binary with
# (Debian's qemu-user-static and libc6-arm64-cross). Exports SP_QEMU_AARCH64 (the program) and
# SP_AARCH64_SYSROOT (for `qemu -L`): "$SP_QEMU_AARCH64" -L "$SP_AARCH64_SYSROOT" ./bootstrap
ensure_qemu_aarch64() {
    local qemu="" sysroot=/usr/aarch64-linux-gnu
    _sp_find_qemu_aarch64() {
        local c
        for c in /usr/bin/qemu-aarch64-static /usr/bin/qemu-aarch64; do
            [ -x "$c" ] && { printf '%s\n' "$c"; return 0; }
        done
        command -v qemu-aarch64-static 2>/dev/null || command -v qemu-aarch64 2>/dev/null || true
    }
    qemu="$(_sp_find_qemu_aarch64)"
    if [ -z "$qemu" ]; then
        _sp_apt_install qemu-user-static || return 1
        qemu="$(_sp_find_qemu_aarch64)"
        [ -n "$qemu" ] || { _sp_err "qemu-user-static installed but no qemu-aarch64-static found"; return 1; }
    fi
    if [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || [ ! -e "$sysroot/lib/libc.so.6" ]; then
        _sp_apt_install libc6-arm64-cross || return 1
        [ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || { _sp_err "libc6-arm64-cross installed but $sysroot/lib/ld-linux-aarch64.so.1 is missing"; return 1; }
    fi
    export SP_QEMU_AARCH64="$qemu" SP_AARCH64_SYSROOT="$sysroot"
}

# _sp_lambda_zip BINARY ZIP: ZIP holds BINARY alone as `bootstrap`, byte-identical for the same
# binary (fixed date, mode 0755 from a Unix host, no extra fields, deflate level 9).
_sp_lambda_zip() {
    python3 - "$1" "$2" "$SP_LAMBDA_ZIP_DATE" <<'PY'
import os, sys, zipfile
src, out, date = sys.argv[1], sys.argv[2], sys.argv[3]
info = zipfile.ZipInfo("bootstrap", date_time=tuple(map(int, date.split("-"))) + (0, 0, 0))
info.create_system = 3  # Unix: the mode in external_attr counts
info.external_attr = (0o100755 & 0xFFFF) << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f:
    data = f.read()
tmp = f"{out}.{os.getpid()}.tmp"  # two runs at once never share it
with zipfile.ZipFile(tmp, "w") as z:
    z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
os.replace(tmp, out)
PY
}

# _sp_lambda_check_zip ZIP: one entry, `bootstrap`, a regular file of mode 0755.
_sp_lambda_check_zip() {
    python3 - "$1" <<'PY'
import stat, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = z.namelist()
    assert names == ["bootstrap"], f"{sys.argv[1]}: entries {names}, expected ['bootstrap']"
    mode = z.getinfo("bootstrap").external_attr >> 16
    assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o755, f"bootstrap mode {oct(mode)}"
    assert z.testzip() is None
PY
}

# _sp_lambda_check_binary ARCH FILE: the right ELF machine, and no glibc symbol version newer
# than $SP_LAMBDA_GLIBC.
_sp_lambda_check_binary() {
    local arch="$1" file="$2" desc newest
    desc="$(file -b "$file")" || { _sp_err "file $file failed"; return 1; }
    case "$desc" in
        *"ELF 64-bit"*"$(_sp_lambda_machine "$arch")"*) ;;
        *) _sp_err "$file is not a 64-bit $(_sp_lambda_machine "$arch") ELF: $desc"; return 1 ;;
    esac
    newest="$(readelf -W --version-info "$file" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)"
    if [ -z "$newest" ] || [ "$(printf '%s\n%s\n' "$newest" "$SP_LAMBDA_GLIBC" | sort -V | tail -n 1)" != "$SP_LAMBDA_GLIBC" ]; then
        _sp_err "$file needs glibc ${newest:-?}, more than Amazon Linux 2023's $SP_LAMBDA_GLIBC"
        return 1
    fi
}

# lambda_package_build ARCHS PROFILE: ARCHS "arm64", "x86_64" or "arm64 x86_64"; PROFILE release
# or dev. One cargo invocation for all the architectures (the build scripts and proc macros build
# once), then one zip per architecture, then a summary on stdout.
lambda_package_build() {
    local archs="$1" profile="$2" arch triple targets=() profile_dir target_dir out_dir epoch
    case "$profile" in
        release) profile_dir=release ;;
        dev) profile_dir=debug ;;
        *) _sp_err "unknown profile '$profile' (release or dev)"; return 1 ;;
    esac
    target_dir="${LAMBDA_TARGET_DIR:-$SP_REPO_ROOT/target/lambda-build}"
    out_dir="${LAMBDA_OUT_DIR:-$SP_REPO_ROOT/target/lambda}"
    mkdir -p "$target_dir" "$out_dir" || return 1
    target_dir="$(cd "$target_dir" && pwd)"
    for arch in $archs; do
        triple="$(_sp_lambda_triple "$arch")" || return 1
        ensure_rust_target "$triple" || return 1
        targets+=(--target "$triple.$SP_LAMBDA_GLIBC")
    done
    command -v file >/dev/null 2>&1 || _sp_apt_install file || return 1
    command -v readelf >/dev/null 2>&1 || _sp_apt_install binutils || return 1
    ensure_zig || return 1
    ensure_cargo_zigbuild || return 1

    epoch="${SOURCE_DATE_EPOCH:-315532800}"
    local cargo_home="${CARGO_HOME:-${HOME:-/root}/.cargo}" rustup_home="${RUSTUP_HOME:-${HOME:-/root}/.rustup}"
    # Remaps: the last matching one wins, so the target dir (often inside the repo) comes last.
    local flags=()
    [ "${SP_LAMBDA_REMAP_REPO:-1}" = 0 ] || flags+=("--remap-path-prefix=$SP_REPO_ROOT=/build")
    flags+=(
        "--remap-path-prefix=$cargo_home=/cargo"
        "--remap-path-prefix=$rustup_home=/rustup"
        "--remap-path-prefix=$target_dir=/target"
    )
    local rustflags
    rustflags="$(printf '%s\x1f' "${flags[@]}")"
    rustflags="${rustflags%$'\x1f'}"
    local upper
    upper="$(printf '%s' "$profile" | tr '[:lower:]' '[:upper:]')"

    sp_log "building checker-lambda for ${archs// /, } (profile $profile, glibc $SP_LAMBDA_GLIBC, zig $SP_ZIGLANG_VERSION) into $target_dir"
    local start=$SECONDS
    (
        cd "$SP_REPO_ROOT" || exit 1
        # The wrappers cargo-zigbuild writes (zig cc per target) live with its install.
        export CARGO_ZIGBUILD_CACHE_DIR="$STATUSPAGE_CACHE/cargo-zigbuild/cache"
        export SOURCE_DATE_EPOCH="$epoch"
        # Incremental builds are not byte-stable; the symbols go (they hold crate hashes, not code).
        export CARGO_INCREMENTAL=0 "CARGO_PROFILE_${upper}_STRIP=symbols"
        # Encoded flags replace RUSTFLAGS and any build.rustflags; with --target they reach only
        # the target's crates, never the build scripts.
        unset RUSTFLAGS
        export CARGO_ENCODED_RUSTFLAGS="$rustflags"
        "$SP_CARGO_ZIGBUILD" zigbuild --locked -p checker-lambda --bin checker-lambda \
            --profile "$profile" --target-dir "$target_dir" "${targets[@]}" >&2
    ) || { _sp_err "cargo zigbuild of checker-lambda failed"; return 1; }
    sp_log "built in $((SECONDS - start)) s"

    local bin zip
    for arch in $archs; do
        triple="$(_sp_lambda_triple "$arch")"
        bin="$target_dir/$triple/$profile_dir/checker-lambda"
        zip="$out_dir/$arch/bootstrap.zip"
        [ -f "$bin" ] || { _sp_err "$bin was not built"; return 1; }
        _sp_lambda_check_binary "$arch" "$bin" || return 1
        mkdir -p "$out_dir/$arch" || return 1
        _sp_lambda_zip "$bin" "$zip" || { _sp_err "writing $zip failed"; return 1; }
        _sp_lambda_check_zip "$zip" || { _sp_err "$zip is not a one-file bootstrap package"; return 1; }
        python3 - "$arch" "$zip" "$bin" "${zip#"$SP_REPO_ROOT"/}" <<'PY'
import base64, hashlib, os, sys
arch, zip_path, bin_path, shown = sys.argv[1:]
digest = hashlib.sha256(open(zip_path, "rb").read()).digest()
mib = lambda n: f"{n} bytes ({n / 1048576:.2f} MiB)"
print(f"{arch}: {shown}")
print(f"  zip         {mib(os.path.getsize(zip_path))}")
print(f"  bootstrap   {mib(os.path.getsize(bin_path))}")
print(f"  sha256      {digest.hex()}")
print(f"  CodeSha256  {base64.b64encode(digest).decode()}")
PY
    done
}

# lambda_package [--arch arm64|x86_64|all] [--profile release|dev]: `./dev lambda-package`.
lambda_package() {
    local arch=all profile=release
    while [ $# -gt 0 ]; do
        case "$1" in
            --arch) arch="${2:-}"; shift 2 || { _sp_err "--arch needs a value"; return 2; } ;;
            --arch=*) arch="${1#--arch=}"; shift ;;
            --profile) profile="${2:-}"; shift 2 || { _sp_err "--profile needs a value"; return 2; } ;;
            --profile=*) profile="${1#--profile=}"; shift ;;
            *) _sp_err "lambda-package: unknown argument '$1' (--arch arm64|x86_64|all, --profile release|dev)"; return 2 ;;
        esac
    done
    case "$arch" in
        all) arch="arm64 x86_64" ;;
        arm64 | x86_64) ;;
        *) _sp_err "--arch must be arm64, x86_64 or all, not '$arch'"; return 2 ;;
    esac
    case "$profile" in
        release | dev) ;;
        *) _sp_err "--profile must be release or dev, not '$profile'"; return 2 ;;
    esac
    lambda_package_build "$arch" "$profile"
}

# lambda_package_tests: builds both packages (LAMBDA_TEST_PROFILE, default dev), then runs the
# real binary of each, extracted from its zip, through the Lambda Runtime API test
# (checker-lambda/tests/lambda_binary.rs): x86_64 natively, arm64 under qemu-user. A missing
# tool fails the step; nothing is skipped.
#
# The builds go to $STATUSPAGE_CACHE/lambda-test-build (LAMBDA_TARGET_DIR overrides), without the
# repository-path remap: every clone then passes the same flags, so a fresh clone rebuilds only
# the workspace's own crates for the two targets (the registry crates are kept). The folder is
# emptied when it outgrows LAMBDA_TEST_CACHE_MAX_MB (default 6000).
lambda_package_tests() {
    local profile="${LAMBDA_TEST_PROFILE:-dev}" out_dir="${LAMBDA_OUT_DIR:-$SP_REPO_ROOT/target/lambda}"
    local arch dir desc runner start=$SECONDS
    local build_dir="${LAMBDA_TARGET_DIR:-$STATUSPAGE_CACHE/lambda-test-build}" size_mb
    if [ -d "$build_dir" ]; then
        size_mb="$(du -sm "$build_dir" | cut -f1)"
        if [ "$size_mb" -gt "${LAMBDA_TEST_CACHE_MAX_MB:-6000}" ]; then
            sp_log "emptying $build_dir ($size_mb MB, more than ${LAMBDA_TEST_CACHE_MAX_MB:-6000} MB)"
            rm -rf "$build_dir"
        fi
    fi
    LAMBDA_TARGET_DIR="$build_dir" SP_LAMBDA_REMAP_REPO=0 \
        lambda_package_build "arm64 x86_64" "$profile" || return 1
    ensure_qemu_aarch64 || return 1
    for arch in x86_64 arm64; do
        dir="$(mktemp -d)" || return 1
        _sp_lambda_check_zip "$out_dir/$arch/bootstrap.zip" || { rm -rf "$dir"; return 1; }
        python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
            "$out_dir/$arch/bootstrap.zip" "$dir" || { rm -rf "$dir"; return 1; }
        # zipfile drops the mode; the zip's is checked above.
        chmod 0755 "$dir/bootstrap"
        desc="$(file -b "$dir/bootstrap")"
        case "$desc" in
            *"$(_sp_lambda_machine "$arch")"*) ;;
            *) _sp_err "the $arch package's bootstrap is: $desc"; rm -rf "$dir"; return 1 ;;
        esac
        runner=""
        if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
            runner="$SP_QEMU_AARCH64 -L $SP_AARCH64_SYSROOT"
        fi
        sp_log "Lambda package $arch: bootstrap ($desc)${runner:+ under $runner}: cargo test --workspace --test lambda_binary"
        # --workspace, not -p: the workspace's feature set, so the test binary built by
        # `cargo test --workspace --all-targets` is reused instead of rebuilt.
        CHECKER_LAMBDA_BOOTSTRAP="$dir/bootstrap" CHECKER_LAMBDA_RUNNER="$runner" \
            CHECKER_LAMBDA_ARCH="$arch" \
            cargo test --workspace --test lambda_binary || { rm -rf "$dir"; return 1; }
        rm -rf "$dir"
    done
    sp_log "Lambda package tests: $((SECONDS - start)) s"
}
