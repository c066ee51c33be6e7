#!/usr/bin/env python3
"""Helpers of bench/convert/run.sh (run with the bench venv's python).

    bench.py duckdb IN.csv OUT.parquet     DuckDB: all columns as text, default Parquet (snappy)
    bench.py pandas IN.csv OUT.parquet     pandas (dtype=str) -> pyarrow, snappy
    bench.py report DATA_DIR CSV TOOL...   the results table from DATA_DIR/time.TOOL.txt
"""
import os
import re
import sys


def duckdb_convert(inp, out):
    import duckdb
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * FROM read_csv(?, all_varchar=true)) TO '%s' (FORMAT parquet)"
        % out.replace("'", "''"),
        [inp],
    )


def pandas_convert(inp, out):
    import pandas as pd
    df = pd.read_csv(inp, dtype=str)
    df.to_parquet(out, engine="pyarrow", compression="snappy", index=False)


def parse_time(path):
    text = open(path, encoding="utf-8").read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", text).group(1)
    status = int(re.search(r"Exit status: (\d+)", text).group(1))
    return secs, rss_kib, cpu, status


def report(data, csv, tools):
    import pyarrow.parquet as pq
    size = os.path.getsize(csv)
    mib = size / 2**20
    print("input: %s, %.0f MiB (%d bytes)" % (csv, mib, size))
    print()
    print("| tool | wall time | throughput | CPU | peak RSS | Parquet size | rows |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for tool in tools:
        secs, rss_kib, cpu, status = parse_time(os.path.join(data, "time.%s.txt" % tool))
        out = os.path.join(data, "out.%s.parquet" % tool)
        if status != 0 or not os.path.exists(out):
            print("| %s | failed (exit %d) | | | %.0f MiB | | |" % (tool, status, rss_kib / 1024))
            continue
        meta = pq.read_metadata(out)
        print("| %s | %.1f s | %.0f MiB/s | %s%% | %.0f MiB | %.0f MiB | %d |" % (
            tool, secs, mib / secs, cpu, rss_kib / 1024,
            os.path.getsize(out) / 2**20, meta.num_rows))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "duckdb":
        duckdb_convert(*args)
    elif cmd == "pandas":
        pandas_convert(*args)
    elif cmd == "report":
        report(args[0], args[1], args[2:])
    else:
        sys.exit("unknown command %r" % cmd)


if __name__ == "__main__":
    main()
