#!/usr/bin/env bash
# Conversion benchmark: muara-convert against DuckDB and pandas -> pyarrow, converting the same
# >= 1 GiB CSV to Parquet (all columns as text, snappy). Prints wall time, throughput and peak
# RSS (from /usr/bin/time -v) per tool. See docs/benchmarks.md for results.
#
#   bench/convert/run.sh
#
# Environment:
#   BENCH_DIR        data and outputs (default /tmp/muara-bench-convert; keep it out of git)
#   BENCH_SIZE_MB    size of the generated CSV (default 1100, i.e. > 1 GiB); generated once,
#                    reused while it is at least that big
#   BENCH_TOOLS      tools to run, in order (default "muara duckdb pandas")
#   MUARA_BENCH_VENV venv holding duckdb/pandas/pyarrow (default bench/convert/.venv,
#                    gitignored; kept apart from the project's tool venv .venv)
#   CARGO_TARGET_DIR honoured for the release build of muara-convert-bench
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${BENCH_DIR:-/tmp/muara-bench-convert}
size_mb=${BENCH_SIZE_MB:-1100}
tools=${BENCH_TOOLS:-muara duckdb pandas}
venv=${MUARA_BENCH_VENV:-$here/.venv}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

# 1. /usr/bin/time (GNU time, for the peak RSS)
if [[ ! -x /usr/bin/time ]]; then
    say "installing GNU time"
    if [[ $(id -u) == 0 ]]; then
        apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
    else
        sudo apt-get install -y -qq time >/dev/null
    fi
fi

# 2. Python venv with the compared tools (skipped when the requirements did not change)
python=${MUARA_PYTHON:-$(command -v python3.11 || command -v python3)}
[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [[ $(cat "$venv/.bench.stamp" 2>/dev/null) != "$want" ]]; then
    say "installing $(grep -v '^#' "$here/requirements.txt" | xargs) into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    printf '%s\n' "$want" >"$venv/.bench.stamp"
fi
py=$venv/bin/python

# 3. the input CSV
mkdir -p "$data"
csv=$data/orders.csv
if [[ ! -f $csv ]] || (($(stat -c %s "$csv") < size_mb * 1024 * 1024)); then
    say "generating a ${size_mb} MiB CSV at $csv (a few minutes)"
    rows=$("$py" "$here/gen_csv.py" "$csv.tmp" "$size_mb")
    mv "$csv.tmp" "$csv"
    say "generated $rows rows"
fi

# 4. muara's converter, release build (the workspace's release profile, as deployed)
say "building muara-convert (release)"
(cd "$root" && cargo build --quiet --release -p muara-convert --bin muara-convert-bench)
bin=${CARGO_TARGET_DIR:-$root/target}/release/muara-convert-bench
[[ -x $bin ]] || die "no binary at $bin"

# 5. measure; the CSV is read once first so every tool starts with it in the page cache
cat "$csv" >/dev/null
for tool in $tools; do
    out=$data/out.$tool.parquet
    rm -f "$out"
    case $tool in
        muara) cmd=("$bin" "$csv" "$out" csv) ;;
        duckdb | pandas) cmd=("$py" "$here/bench.py" "$tool" "$csv" "$out") ;;
        *) die "unknown tool $tool (muara, duckdb, pandas)" ;;
    esac
    say "running $tool"
    /usr/bin/time -v -o "$data/time.$tool.txt" "${cmd[@]}" >"$data/stdout.$tool.txt" 2>"$data/stderr.$tool.txt" ||
        say "$tool failed; see $data/stderr.$tool.txt"
done

# 6. the table (markdown)
printf '\nmachine: %s cores, %s RAM, %s\n' "$(nproc)" "$(free -h | awk '/^Mem:/{print $2}')" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
"$py" "$here/bench.py" report "$data" "$csv" $tools
