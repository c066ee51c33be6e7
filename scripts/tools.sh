#!/usr/bin/env bash
# Bootstrap muara's local tools: a project venv with pinned moto[server], cfn-lint, aws-sam-cli,
# cargo-lambda and ziglang, plus the Rust target the Lambda build cross-compiles to.
#
#   scripts/tools.sh            install or check; prints one line per step
#   . scripts/tools.sh          the same, then puts the venv's bin/ first on PATH
#
# Callers that run it (rather than source it) add "$MUARA_VENV/bin" (default .venv/bin) to PATH.
# Idempotent and fast when nothing changed: the venv carries a stamp holding the hash of the
# requirement files and the Python version; a matching stamp skips pip entirely.
# Non-interactive (CI=true, no stdin). Environment:
#   MUARA_VENV           venv directory (default: <repo>/.venv)
#   MUARA_PYTHON         interpreter that creates the venv (default: python3.11, else python3)
#   MUARA_LAMBDA_TARGET  Rust target of the Lambda build (default: from template.yaml's Architectures)
#   MUARA_TOOLS_FORCE=1  reinstall the Python tools even when the stamp matches

_muara_tools_main() (
    set -euo pipefail

    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    venv=${MUARA_VENV:-$root/.venv}
    req=$root/infra/tools-requirements.txt
    lock=$root/infra/tools-constraints.txt
    stamp=$venv/.muara-tools.stamp

    say() { printf 'tools: %s\n' "$*"; }
    die() { printf 'tools: ERROR: %s\n' "$*" >&2; exit 1; }

    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

    # 1. interpreter
    python=${MUARA_PYTHON:-}
    if [[ -z $python ]]; then
        python=$(command -v python3.11 || command -v python3 || true)
    fi
    [[ -n $python ]] || die "no python3 on PATH (set MUARA_PYTHON)"
    pyver=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])') ||
        die "cannot run $python"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
        die "$python is $pyver; aws-sam-cli needs Python >= 3.9 (3.11 is what the pins were verified on)"
    say "python $python ($pyver)"

    # 2. venv (one bootstrap at a time: the test script and the lint script may race)
    mkdir -p "$venv"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$venv/.muara-tools.lock"
        flock 9
    fi
    if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        say "venv $venv (exists)"
    else
        "$python" -m venv --clear "$venv" || die "python -m venv $venv failed"
        rm -f "$stamp"
        say "venv $venv (created)"
    fi

    # 3. Python tools, skipped when the stamp matches the pins
    want=$(cat "$req" "$lock" | "$venv/bin/python" -c \
        'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read() + sys.version.encode()).hexdigest())')
    have=$(cat "$stamp" 2>/dev/null || true)
    missing=""
    for exe in moto_server cfn-lint sam cargo-lambda; do
        [[ -x $venv/bin/$exe ]] || missing="$missing $exe"
    done
    if [[ $want == "$have" && -z $missing && ${MUARA_TOOLS_FORCE:-0} != 1 ]]; then
        say "python tools up to date (${want:0:12})"
    else
        log=$venv/pip-install.log
        started=$SECONDS
        if ! "$venv/bin/python" -m pip install --quiet --no-input -r "$req" -c "$lock" >"$log" 2>&1; then
            tail -n 40 "$log" >&2
            die "pip install failed (full log: $log)"
        fi
        printf '%s\n' "$want" >"$stamp"
        say "python tools installed in $((SECONDS - started))s (${want:0:12}; log: $log)"
    fi

    # 4. zig, as cargo-lambda finds it: `python3 -m ziglang` from the venv
    zigver=$("$venv/bin/python" -m ziglang version 2>/dev/null) || die "ziglang does not run ($venv/bin/python -m ziglang version)"
    say "zig $zigver"

    # 5. Rust target for the Lambda build
    target=${MUARA_LAMBDA_TARGET:-}
    if [[ -z $target ]]; then
        # The template's Globals decide; arm64 unless it says x86_64.
        if grep -Eq '^[[:space:]]*-[[:space:]]*x86_64[[:space:]]*$' "$root/template.yaml" 2>/dev/null; then
            target=x86_64-unknown-linux-gnu
        else
            target=aarch64-unknown-linux-gnu
        fi
    fi
    if ! command -v rustup >/dev/null 2>&1; then
        if [[ $(rustc -vV 2>/dev/null | sed -n 's/^host: //p') == "$target" ]]; then
            say "rust target $target (host, no rustup)"
        else
            say "WARNING: rust target $target needed by sam build, but rustup is not on PATH"
        fi
    elif (cd "$root" && rustup target list --installed 2>/dev/null) | grep -qx "$target"; then
        say "rust target $target (installed)"
    elif (cd "$root" && rustup target add "$target") >/dev/null 2>&1; then
        say "rust target $target (added)"
    else
        # Only `sam build` needs it; the emulator-backed tests do not, so this is not fatal.
        say "WARNING: 'rustup target add $target' failed; sam build will fail (see docs/deploy.md, Architecture)"
    fi
)

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
    # Sourced: run in a subshell (no set -e leaking into the caller), then extend PATH.
    if _muara_tools_main; then
        MUARA_VENV=${MUARA_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv}
        export MUARA_VENV
        case ":$PATH:" in
            *":$MUARA_VENV/bin:"*) ;;
            *) export PATH="$MUARA_VENV/bin:$PATH" ;;
        esac
        unset -f _muara_tools_main
    else
        unset -f _muara_tools_main
        return 1
    fi
else
    _muara_tools_main
fi
