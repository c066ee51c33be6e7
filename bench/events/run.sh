#!/usr/bin/env bash
# Event aggregator throughput and latency, three ways, on one machine and one PostgreSQL:
#   1. muara up: POST /publish → idempotency records → queue → worker → PostgreSQL;
#   2. the raw limit of that PostgreSQL: INSERT … ON CONFLICT DO NOTHING, 100 rows a
#      statement, 8 clients (pgbench);
#   3. a baseline in the style of the services muara replaces: FastAPI + asyncpg writing
#      straight to PostgreSQL (bench/events/baseline.py, one uvicorn process).
# 1 and 3 are driven by the same `muara publish-sim` load: single events and batches of 100,
# 30 % repeats; publish-sim checks every run's /stats against what it sent.
#
#   bench/events/run.sh [EVENTS]     default 100,000 events for the batched runs
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/lib.sh"
events=${1:-100000}
singles=$(( events / 20 ))
target=${CARGO_TARGET_DIR:-$root/target}
bench_workdir events

"$root/scripts/tools.sh" >&2
venv=${MUARA_VENV:-$root/.venv}
"$venv/bin/pip" install -q -r "$root/bench/events/requirements.txt" >&2

echo "building muara (release)" >&2
cargo build --release -q -p muara
muara=$target/release/muara

pg_port=$(free_port); api_port=$(free_port); base_port=$(free_port)
MUARA_EVENT_WORKERS=4 MUARA_LISTEN=127.0.0.1:$api_port "$muara" up --data-dir "$work/muara" --pg-port "$pg_port" \
    --statemachines-dir "$root/statemachines" >"$work/muara.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do curl -fs "http://127.0.0.1:$api_port/health" >/dev/null 2>&1 && break; sleep 0.5; done
db="postgres://muara:$(cat "$work/muara/postgres/password")@127.0.0.1:$pg_port/muara"
# POST /publish needs an operator token; the baseline ignores it.
MUARA_TOKEN=$(env -u DATABASE_URL "$muara" token create --role operator --name bench --pg-port "$pg_port" --data-dir "$work/muara" | head -1)
export MUARA_TOKEN

sim() { # url events batch concurrency
    "$muara" publish-sim --url "$1" --events "$2" --batch-size "$3" --concurrency "$4" --duplicates 0.3 --json
}
row() { # tool mode json
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
tool, mode, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ok = "ok" if not r["problems"] else "FAILED: " + "; ".join(r["problems"])
print(f"{tool}\t{mode}\t{r['events']}\t{r['events_per_second']:.0f}\t{r['latency_ms']['p50']}\t{r['latency_ms']['p99']}\t{r['settle_seconds']}\t{ok}")
PY
}

printf 'tool\tmode\tevents\tevents/s\tp50 ms\tp99 ms\tsettle s\tstats check\n'
row "muara" "single, 16 in flight" "$(sim "http://127.0.0.1:$api_port" "$singles" 1 16)"
row "muara" "batches of 100, 8 in flight" "$(sim "http://127.0.0.1:$api_port" "$events" 100 8)"

# The raw limit: the same PostgreSQL, 100-row INSERT … ON CONFLICT DO NOTHING statements.
psql -q "$db" -c "CREATE SCHEMA IF NOT EXISTS bench_raw; CREATE TABLE IF NOT EXISTS bench_raw.event (topic text, event_id text, ts timestamptz, source text, payload jsonb, PRIMARY KEY (topic, event_id))"
cat >"$work/raw.sql" <<'SQL'
INSERT INTO bench_raw.event SELECT 'topic-' || (k % 10), 'e' || k, now(), 'pgbench', jsonb_build_object('k', k)
FROM (SELECT (random() * 1e9)::bigint AS k FROM generate_series(1, 100)) g ON CONFLICT DO NOTHING;
SQL
tps=$(pgbench -n -c 8 -j 2 -T 15 -f "$work/raw.sql" "$db" 2>/dev/null | awk '/^tps/ {print $3}')
printf 'postgresql raw\tINSERT … ON CONFLICT, 100 rows, 8 clients\t-\t%.0f\t-\t-\t-\t-\n' "$(python3 -c "print(float('$tps') * 100)")"

# The baseline, against the same database.
(cd "$root/bench/events" && BASELINE_DATABASE_URL=$db exec "$venv/bin/uvicorn" baseline:app --port "$base_port" \
    --log-level warning >"$work/baseline.log" 2>&1) &
pids+=($!)
for _ in $(seq 1 60); do curl -fs "http://127.0.0.1:$base_port/stats" >/dev/null 2>&1 && break; sleep 0.5; done
row "fastapi+asyncpg" "single, 16 in flight" "$(sim "http://127.0.0.1:$base_port" "$singles" 1 16)"
row "fastapi+asyncpg" "batches of 100, 8 in flight" "$(sim "http://127.0.0.1:$base_port" "$events" 100 8)"
