#!/usr/bin/env bash
# Pipeline D (the message funnel) throughput and latency on one machine and one PostgreSQL:
#   1. webhook: N generic-JSON messages POSTed to /webhook/{channel}, one per request, C in
#      flight (shared/demo/examples/funnel_load.rs): requests/s and per-request latency;
#   2. worker, end to end: from the first POST until every message is in funnel.message
#      (classified, funnel.message + funnel.lead upserted), with the worker running alongside;
#   3. worker, queue drain: the same load again with the worker held (a transaction keeps an
#      EXCLUSIVE lock on funnel.message, so both worker loops wait at their first INSERT), then
#      from the lock's release until every message is stored;
#   4. the raw limit of that PostgreSQL for the same rows: pgbench running the worker's two
#      statements (store::apply: INSERT INTO funnel.message … ON CONFLICT DO NOTHING, then the
#      funnel.lead upsert) in one transaction per message, 2 clients (as the 2 worker loops)
#      and 8; and the worker's whole transaction (with its two funnel.counter bumps), 2 clients.
# muara up runs with MUARA_WEBHOOK_SECRET unset (unsigned bodies accepted, no HMAC check).
# Every muara run is checked: stored messages = distinct messages sent, the funnel.counter
# deltas (processed, classified_*, unclassified) = the generator's, GET /funnel-report's total
# for the run's day = the generator's leads/bookings/transactions/revenue and = the sum of its
# days, nothing rejected or dead-lettered.
#
#   bench/funnel/run.sh [MESSAGES] [CONCURRENCY]     defaults 20,000 and 16
#   FUNNEL_PHONES (3000), PGBENCH_SECONDS (15), FUNNEL_SETTLE_SECONDS (600: how long each run
#   waits for the worker before it is reported as failed, with the rate of what was stored)
# The raw PostgreSQL runs go first; their rows are printed last.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/lib.sh"
messages=${1:-20000}
concurrency=${2:-16}
phones=${FUNNEL_PHONES:-3000}
pgbench_seconds=${PGBENCH_SECONDS:-15}
settle=${FUNNEL_SETTLE_SECONDS:-600}
target=${CARGO_TARGET_DIR:-$root/target}
bench_workdir funnel
log() { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }

echo "building muara and the funnel load generator (release)" >&2
cargo build --release -q -p muara
cargo build --release -q -p muara-demo --example funnel_load
muara=$target/release/muara
load=$target/release/examples/funnel_load

pg_port=$(free_port); api_port=$(free_port)
api="http://127.0.0.1:$api_port"
log "muara up on $api, PostgreSQL on $pg_port, MUARA_WEBHOOK_SECRET unset (unsigned webhooks)"
env -u MUARA_WEBHOOK_SECRET -u DATABASE_URL MUARA_LISTEN=127.0.0.1:$api_port "$muara" up \
    --data-dir "$work/muara" --pg-port "$pg_port" --statemachines-dir "$root/statemachines" \
    >"$work/muara.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do curl -fs "$api/health" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fs "$api/health" >/dev/null || die "muara up did not become healthy (log: $work/muara.log)"
db="postgres://muara:$(cat "$work/muara/postgres/password")@127.0.0.1:$pg_port/muara"
token=$(env -u DATABASE_URL "$muara" token create --role admin --name bench --pg-port "$pg_port" --data-dir "$work/muara" | head -1)
auth="Authorization: Bearer $token"
sql() { psql -X -Atq "$db" -c "$1"; }

# The demo's keyword set (muara_funnel::demo::keywords()).
"$load" --keywords >"$work/keywords.json"
curl -fsS -X PUT -H "$auth" -H 'Content-Type: application/json' --data-binary @"$work/keywords.json" "$api/keywords" >&2
echo >&2

# Appends "epoch count" lines to $2 every 0.1 s until funnel.message holds $1 rows (or $3 s pass).
poll_until() {
    local want=$1 out=$2 deadline=$((SECONDS + $3)) ts c
    while ((SECONDS < deadline)); do
        ts=$(date +%s.%N)
        c=$(sql 'SELECT count(*) FROM funnel.message')
        printf '%s %s\n' "$ts" "$c" >>"$out"
        ((c >= want)) && return 0
        sleep 0.1
    done
    return 1
}
counters() { sql "SELECT coalesce(json_object_agg(name, v), '{}') FROM (SELECT name, sum(value) v FROM funnel.counter GROUP BY name) c"; }

# Checks a run: check_run <run> <load json> <counters before> -> "ok" or "FAILED: …".
check_run() {
    local run=$1 day next report
    day=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["day"])' "$2")
    next=$(date -d "$day + 1 day" +%F)
    report=$(curl -fsS -H "$auth" "$api/funnel-report?from=$day&to=$next")
    # Handled messages leave the queue just after their transaction commits.
    for _ in $(seq 1 100); do
        [[ $(sql "SELECT count(*) FROM muara_local.messages WHERE queue IN ('funnel', 'funnel-dlq')") == 0 ]] && break
        sleep 0.1
    done
    python3 - "$2" "$3" "$(counters)" "$report" \
        "$(sql "SELECT count(*) FROM funnel.message WHERE message_id LIKE '$run-%'")" \
        "$(sql "SELECT count(*) FROM funnel.rejected WHERE message_id LIKE '$run-%'")" \
        "$(sql "SELECT count(*) FROM muara_local.messages WHERE queue IN ('funnel', 'funnel-dlq')")" <<'PY'
import json, sys
r, before, after, rep = (json.loads(a) for a in sys.argv[1:5])
stored, rejected, queued = (int(a) for a in sys.argv[5:8])
problems = list(r["problems"])
n = r["messages"]
if stored != n:
    problems.append(f"stored {stored} of {n}")
d = lambda k: after.get(k, 0) - before.get(k, 0)
kinds = r["expected"]["kinds"]
if d("processed") != n:
    problems.append(f"processed counter +{d('processed')}, expected {n}")
for k, v in kinds.items():
    name = k if k == "unclassified" else "classified_" + k
    if d(name) != v:
        problems.append(f"{name} +{d(name)}, expected {v}")
if rejected:
    problems.append(f"{rejected} rejected")
if queued:
    problems.append(f"{queued} still queued or dead-lettered")
t, want = rep["total"], r["expected"]["report"]
got = {k: t[k] for k in want}
if got != want:
    problems.append(f"report total {got} != expected {want}")
days = {k: sum(l[k] for l in rep["days"]) for k in want}
if days != got:
    problems.append(f"report days sum {days} != total {got}")
print("ok: stored {0}/{0}, processed +{0}, report leads/bookings/transactions/revenue {1}".format(
          n, "/".join(str(want[k]) for k in ("leads", "bookings", "transactions", "revenue")))
      if not problems else "FAILED: " + "; ".join(problems))
PY
}
# "<epoch> <rows>" when the poll log $1 first reached $2 rows, else its last sample.
settled() { awk -v want="$2" '$2 >= want { print $1, $2; found = 1; exit } { last = $1 " " $2 } END { if (!found) print last }' "$1"; }
count_at() { awk -v t="$2" '$1 <= t { c = $2 } END { print c + 0 }' "$1"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
rate() { python3 -c "import sys; s = float(sys.argv[2]); print(f'{float(sys.argv[1]) / s:.0f}' if s > 0 else '-')" "$1" "$2"; }
field() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); [v := v[k] for k in sys.argv[2].split('.')]; print(v)" "$1" "$2"; }

rows=()
row() { rows+=("$(printf '%s\t' "$@" | sed 's/\t$//')"); }

# --- 4, run first: the raw PostgreSQL limit for the same rows -------------------------------
# store::apply's statements with its parameters computed in SQL: random message ids (prefix
# per run, so the rows can be counted), ~3,000 phones, the same kind mix as the load.
pgb_script() { # prefix with_counters
    cat <<SQL
\\set k random(1, 9000000000000000000)
\\set p random(1, $phones)
\\set r random(0, 99)
\\set s random(0, 46799)
\\set a random(1, 30)
\\set shard random(0, 15)
BEGIN;
INSERT INTO funnel.message (message_id, channel, phone, sent_at, kind, keyword, amount, campaign, raw_key)
     VALUES ('$1-' || :k, 'ads', '+62813' || (20000000 + :p::int), '2026-01-01 08:00+07'::timestamptz + :s::int * interval '1 second',
             CASE WHEN :r::int < 45 THEN 'opening' WHEN :r::int < 65 THEN 'booking' WHEN :r::int < 75 THEN 'transaction' END,
             CASE WHEN :r::int < 45 THEN 'halo' WHEN :r::int < 65 THEN 'booking' WHEN :r::int < 75 THEN 'transfer' END,
             CASE WHEN :r::int >= 65 AND :r::int < 75 THEN :a::bigint * 100000 END,
             'ads-bench', 'raw-messages/2026/01/01/$1-' || :k || '.json')
     ON CONFLICT (channel, source, message_id) DO NOTHING;
INSERT INTO funnel.lead AS l (phone, leads_date, channel, first_message_id, last_opening_at,
     last_channel, last_message_id, booking_date, transaction_date, last_transaction_date,
     transaction_value, transaction_count, messages)
 VALUES ('+62813' || (20000000 + :p::int),
     CASE WHEN :r::int < 45 THEN '2026-01-01 08:00+07'::timestamptz + :s::int * interval '1 second' END,
     CASE WHEN :r::int < 45 THEN 'ads' END, CASE WHEN :r::int < 45 THEN '$1-' || :k END,
     CASE WHEN :r::int < 45 THEN '2026-01-01 08:00+07'::timestamptz + :s::int * interval '1 second' END,
     CASE WHEN :r::int < 45 THEN 'ads' END, CASE WHEN :r::int < 45 THEN '$1-' || :k END,
     CASE WHEN :r::int >= 45 AND :r::int < 65 THEN '2026-01-01 08:00+07'::timestamptz + :s::int * interval '1 second' END,
     CASE WHEN :r::int >= 65 AND :r::int < 75 THEN '2026-01-01 08:00+07'::timestamptz + :s::int * interval '1 second' END,
     CASE WHEN :r::int >= 65 AND :r::int < 75 THEN '2026-01-01 08:00+07'::timestamptz + :s::int * interval '1 second' END,
     CASE WHEN :r::int >= 65 AND :r::int < 75 THEN :a::bigint * 100000 ELSE 0 END,
     CASE WHEN :r::int >= 65 AND :r::int < 75 THEN 1 ELSE 0 END, 1)
 ON CONFLICT (phone) DO UPDATE SET
     channel = CASE WHEN excluded.leads_date IS NOT NULL AND (l.leads_date IS NULL
             OR (excluded.leads_date, excluded.first_message_id) < (l.leads_date, l.first_message_id))
         THEN excluded.channel ELSE l.channel END,
     first_message_id = CASE WHEN excluded.leads_date IS NOT NULL AND (l.leads_date IS NULL
             OR (excluded.leads_date, excluded.first_message_id) < (l.leads_date, l.first_message_id))
         THEN excluded.first_message_id ELSE l.first_message_id END,
     leads_date = LEAST(l.leads_date, excluded.leads_date),
     last_channel = CASE WHEN excluded.last_opening_at IS NOT NULL AND (l.last_opening_at IS NULL
             OR (excluded.last_opening_at, excluded.last_message_id) > (l.last_opening_at, l.last_message_id))
         THEN excluded.last_channel ELSE l.last_channel END,
     last_message_id = CASE WHEN excluded.last_opening_at IS NOT NULL AND (l.last_opening_at IS NULL
             OR (excluded.last_opening_at, excluded.last_message_id) > (l.last_opening_at, l.last_message_id))
         THEN excluded.last_message_id ELSE l.last_message_id END,
     last_opening_at = GREATEST(l.last_opening_at, excluded.last_opening_at),
     booking_date = LEAST(l.booking_date, excluded.booking_date),
     transaction_date = LEAST(l.transaction_date, excluded.transaction_date),
     last_transaction_date = GREATEST(l.last_transaction_date, excluded.last_transaction_date),
     transaction_value = l.transaction_value + excluded.transaction_value,
     transaction_count = l.transaction_count + excluded.transaction_count,
     messages = l.messages + 1,
     updated_at = now();
SQL
    if [[ $2 == yes ]]; then
        cat <<'SQL'
INSERT INTO funnel.counter (name, shard, value)
     VALUES (CASE WHEN :r::int < 45 THEN 'classified_opening' WHEN :r::int < 65 THEN 'classified_booking'
                  WHEN :r::int < 75 THEN 'classified_transaction' ELSE 'unclassified' END, :shard::smallint, 1)
     ON CONFLICT (name, shard) DO UPDATE SET value = funnel.counter.value + excluded.value;
INSERT INTO funnel.counter (name, shard, value) VALUES ('processed', :shard::smallint, 1)
     ON CONFLICT (name, shard) DO UPDATE SET value = funnel.counter.value + excluded.value;
SQL
    fi
    echo 'END;'
}
raw() { # clients with_counters label
    local prefix="pgb$1$2" out tx failed lat stored
    pgb_script "$prefix" "$2" >"$work/$prefix-script.sql"
    log "pgbench: $3, $1 clients, $pgbench_seconds s"
    out=$(cd "$work" && pgbench -n -M prepared -c "$1" -j "$(($1 < 2 ? 1 : 2))" -T "$pgbench_seconds" \
        -l --log-prefix="$prefix" -f "$work/$prefix-script.sql" "$db" 2>&1) || { log "$out"; return 1; }
    tx=$(awk '/number of transactions actually processed/ { split($NF, a, "/"); print a[1] }' <<<"$out")
    failed=$(awk '/number of failed transactions/ { print $5 }' <<<"$out")
    lat=$(cat "$work/$prefix".* | python3 -c '
import sys
l = sorted(int(x.split()[2]) for x in sys.stdin if x.strip())
p = lambda q: l[min(len(l) - 1, round((len(l) - 1) * q))] / 1000
print(f"{p(0.5):.2f}\t{p(0.99):.2f}")')
    stored=$(sql "SELECT count(*) FROM funnel.message WHERE message_id LIKE '$prefix-%'")
    local check="ok: $stored rows stored for $tx transactions"
    [[ $stored == "$tx" && ${failed:-0} == 0 ]] || check="FAILED: $stored rows stored for $tx transactions, ${failed:-?} failed"
    raw_rows+=("$(printf '%s\t' "postgresql raw: $3, $1 clients" "pgbench -M prepared" "$tx" "$pgbench_seconds" \
        "$(rate "$tx" "$pgbench_seconds")" "$lat" "$check" | sed 's/\t$//')")
}
raw_rows=()
raw 2 no "worker's 2 statements/tx"
raw 8 no "worker's 2 statements/tx"
raw 2 yes "2 statements + 2 counter bumps/tx (worker's whole tx)"

# --- 1 and 2: webhook and worker together ---------------------------------------------------
day1=$(TZ=Asia/Jakarta date -d yesterday +%F)
base=$(sql 'SELECT count(*) FROM funnel.message')
c_before=$(counters)
log "run 1: $messages messages, $concurrency in flight, ~$phones phones, worker running (day $day1)"
poll_until $((base + messages)) "$work/poll1" "$settle" & poller=$!
pids+=($poller)
live=$("$load" --url "$api" --messages "$messages" --phones "$phones" --concurrency "$concurrency" \
    --run live --day "$day1" --phone-base 0 --seed 1)
log "posted in $(field "$live" seconds) s; waiting for the worker"
wait "$poller" || log "run 1: the worker did not store everything within $settle s"
read -r done1 stored1 < <(settled "$work/poll1" $((base + messages)))
stored1=$((stored1 - base))
first1=$(field "$live" first_post_epoch); last1=$(field "$live" last_answer_epoch)
backlog=$((base + messages - $(count_at "$work/poll1" "$last1")))
s1=$(elapsed "$first1" "$done1")
log "run 1: $stored1 stored $s1 s after the first POST; backlog when posting ended: ~$backlog"
check1=$(check_run live "$live" "$c_before")
row "webhook POST, 1 msg/request, $concurrency in flight (worker running)" funnel_load "$messages" \
    "$(field "$live" seconds)" "$(field "$live" requests_per_second)" "$(field "$live" latency_ms.p50)" \
    "$(field "$live" latency_ms.p99)" "$check1"
row "worker end to end: first POST -> last stored" "muara up + psql poll" "$stored1" "$s1" \
    "$(rate "$stored1" "$s1")" - - "$check1; backlog at end of posting ~$backlog"

# --- 3: the queue filled first, then drained ------------------------------------------------
day2=$(TZ=Asia/Jakarta date -d '2 days ago' +%F)
base=$(sql 'SELECT count(*) FROM funnel.message')
c_before=$(counters)
log "run 2: the worker held by a lock on funnel.message while $messages messages are queued (day $day2)"
PGAPPNAME=funnel-bench-hold psql -X -q "$db" \
    -c "BEGIN; LOCK TABLE funnel.message IN EXCLUSIVE MODE; SELECT pg_sleep(3600);" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    [[ $(sql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
              WHERE c.relname = 'message' AND l.mode = 'ExclusiveLock' AND l.granted") == 1 ]] && break
    sleep 0.1
done
held=$("$load" --url "$api" --messages "$messages" --phones "$phones" --concurrency "$concurrency" \
    --run held --day "$day2" --phone-base 1000000 --seed 2)
queued=$(sql "SELECT count(*) FROM muara_local.messages WHERE queue = 'funnel'")
log "posted in $(field "$held" seconds) s; $queued queued; releasing the worker"
[[ $(sql 'SELECT count(*) FROM funnel.message') == "$base" ]] || log "run 2: rows were stored while the worker was held"
released=$(date +%s.%N)
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'funnel-bench-hold'" >/dev/null
poll_until $((base + messages)) "$work/poll2" "$settle" || log "run 2: the worker did not store everything within $settle s"
read -r done2 stored2 < <(settled "$work/poll2" $((base + messages)))
stored2=$((stored2 - base))
s2=$(elapsed "$released" "$done2")
log "run 2: $stored2 stored in $s2 s"
check2=$(check_run held "$held" "$c_before")
row "webhook POST, 1 msg/request, $concurrency in flight (worker held)" funnel_load "$messages" \
    "$(field "$held" seconds)" "$(field "$held" requests_per_second)" "$(field "$held" latency_ms.p50)" \
    "$(field "$held" latency_ms.p99)" "$check2"
row "worker drain of a full queue: lock released -> last stored" "muara up + psql poll" "$stored2" "$s2" \
    "$(rate "$stored2" "$s2")" - - "$check2; $queued queued at release"

failures=$(grep -c 'funnel message failed\|worker round failed\|webhook not accepted' "$work/muara.log" || true)
((failures == 0)) || log "muara logged $failures funnel failures (see $work/muara.log)"
printf 'what\ttool\tmessages\tseconds\tper second\tp50 ms\tp99 ms\tcheck\n'
printf '%s\n' "${rows[@]}" "${raw_rows[@]}"
