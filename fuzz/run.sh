#!/usr/bin/env bash
# Builds and runs muara's cargo-fuzz targets.
#
#   fuzz/run.sh smoke            build every target, run each over its seed corpus once (CI)
#   fuzz/run.sh long [SECONDS]   fuzz each target in turn for SECONDS (default 600)
#   fuzz/run.sh build            build only
#
# Builds into MUARA_FUZZ_TARGET_DIR (default ~/.cache/muara/fuzz-target), never into the
# workspace's CARGO_TARGET_DIR: the instrumented builds of every dependency would otherwise
# replace the test builds there. Needs no nightly toolchain: the stable one
# is given RUSTC_BOOTSTRAP=1 for cargo-fuzz's -Z flags. TARGETS="a b" limits the targets.
# Every cargo and fuzz process runs under `nice -n 19`, one at a time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${MUARA_FUZZ_TARGET_DIR:-$HOME/.cache/muara/fuzz-target}"
# All targets are safe Rust over crates that forbid `unsafe`; without a sanitizer the
# targets run about twice as fast (panics, OOM and timeouts are still caught by libFuzzer).
SANITIZER="${SANITIZER:-none}"
ALL_TARGETS="convert_delimited convert_json convert_xlsx pgvalue recording_xml wav_header funnel_webhook publish_body asl_path"
TARGETS="${TARGETS:-$ALL_TARGETS}"
LIMITS=(-rss_limit_mb=1024 -timeout=10)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    nice -n 19 cargo install cargo-fuzz --locked
fi

target_dir() {
    local dir="$CARGO_TARGET_DIR"
    local triple
    triple="$(rustc -vV | sed -n 's/^host: //p')"
    echo "$dir/$triple/release"
}

build() {
    # shellcheck disable=SC2086
    for t in $TARGETS; do
        nice -n 19 cargo fuzz build --sanitizer "$SANITIZER" "$t"
    done
}

smoke() {
    build
    local bin
    bin="$(target_dir)"
    for t in $TARGETS; do
        echo "== $t: $(find "corpus/$t" -type f | wc -l) corpus inputs"
        # -runs=0 with a corpus directory: every input once, no mutation; a crash exits
        # non-zero and `set -e` fails the script.
        local log
        log="$(mktemp)"
        if ! nice -n 19 "$bin/$t" -runs=0 "${LIMITS[@]}" "corpus/$t" >"$log" 2>&1; then
            tail -n 40 "$log" >&2
            rm -f "$log"
            echo "FAILED: $t" >&2
            exit 1
        fi
        grep -E '^#[0-9]+.*(INITED|DONE)' "$log" | tail -n 1 || true
        rm -f "$log"
    done
    echo "smoke: all targets pass over their corpora"
}

long() {
    local secs="${1:-600}"
    build
    local bin
    bin="$(target_dir)"
    mkdir -p artifacts logs
    local failed=0
    for t in $TARGETS; do
        mkdir -p "artifacts/$t" "target/corpus-work/$t"
        echo "== $t: fuzzing for ${secs}s"
        # One process (no -jobs/-workers: with them libFuzzer forks a child per job). New
        # inputs go to a scratch corpus (not committed); crashes to artifacts/<target>/.
        nice -n 19 "$bin/$t" -max_total_time="$secs" \
            "${LIMITS[@]}" -print_final_stats=1 \
            -artifact_prefix="artifacts/$t/" \
            "target/corpus-work/$t" "corpus/$t" >"logs/$t.log" 2>&1 || status=$?
        tail -n 25 "logs/$t.log"
        if [ "${status:-0}" -ne 0 ]; then
            echo "FINDING in $t (exit ${status}): see artifacts/$t/ and logs/$t.log" >&2
            failed=1
        fi
        unset status
    done
    return "$failed"
}

case "${1:-}" in
    smoke) smoke ;;
    long) long "${2:-600}" ;;
    build) build ;;
    *)
        echo "usage: $0 smoke | long [SECONDS] | build" >&2
        exit 2
        ;;
esac
