#!/usr/bin/env bash
# Bronze load throughput: muara's load-bronze stage (Parquet → DELETE batch + COPY, one
# transaction) beside `psql \copy` of the same rows into the same kind of table.
#
#   bench/load/run.sh [ROWS]        default 2,000,000 rows (~240 MB of CSV)
#
# Uses DATABASE_URL when set; otherwise starts a throwaway PostgreSQL cluster from the system
# binaries (as the postgres user when run as root) and removes it afterwards. Prints one line
# per tool: rows, seconds, rows/s.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rows=${1:-2000000}
work=$(mktemp -d /tmp/muara-bench-load.XXXXXX)
cleanup() {
    if [[ -n ${pgdata:-} ]]; then $as_pg "$bindir/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ -z ${DATABASE_URL:-} ]]; then
    bindir=$(dirname "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -1)")
    as_pg=""
    [[ $(id -u) == 0 ]] && { as_pg="runuser -u postgres --"; chown postgres "$work"; }
    pgdata=$work/pg
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    $as_pg "$bindir/initdb" -D "$pgdata" -U muara --auth=trust >/dev/null
    $as_pg "$bindir/pg_ctl" -D "$pgdata" -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work" -l "$work/pg.log" -w start >/dev/null
    export DATABASE_URL="postgres://muara@127.0.0.1:$port/postgres"
fi

echo "generating $rows rows of CSV" >&2
python3 - "$work/orders.csv" "$rows" <<'PY'
import random, sys
path, n = sys.argv[1], int(sys.argv[2])
r = random.Random(7)
with open(path, "w") as f:
    f.write("order_id,customer_key,product_key,order_date,quantity,unit_price,status,note\n")
    for i in range(n):
        f.write(f"SO{43697+i},AW{11000+r.randrange(20000):08d},CO-RF-{r.randrange(300):03d},2025-{1+r.randrange(12):02d}-{1+r.randrange(28):02d},{1+r.randrange(9)},{r.randrange(100000)/100:.2f},{r.choice(['shipped','open','cancelled'])},\"note {i}, \"\"quoted\"\"\"\n")
PY
ls -l "$work/orders.csv" >&2

echo "building the muara load benchmark (release)" >&2
cargo build --release -q -p muara-batch --example load_bench
target=${CARGO_TARGET_DIR:-$root/target}

printf 'tool\trows\tseconds\trows/s\n'
"$target/release/examples/load_bench" "$DATABASE_URL" "$work/orders.csv"

psql -q "$DATABASE_URL" -c "DROP SCHEMA IF EXISTS bench_psql CASCADE; CREATE SCHEMA bench_psql;
  CREATE TABLE bench_psql.orders (order_id text, customer_key text, product_key text, order_date text, quantity text,
                                  unit_price text, status text, note text);"
start=$(date +%s.%N)
psql -q "$DATABASE_URL" -c "\\copy bench_psql.orders FROM '$work/orders.csv' WITH (FORMAT csv, HEADER true)"
end=$(date +%s.%N)
python3 -c "import sys; r=int(sys.argv[1]); s=float(sys.argv[3])-float(sys.argv[2]); print(f'psql \\\\copy\t{r}\t{s:.2f}\t{r/s:.0f}')" "$rows" "$start" "$end"
