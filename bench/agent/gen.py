#!/usr/bin/env python3
"""Recordings as a recorder leaves them: a valid 16-bit PCM mono WAV and its XML in muara's
default profile (callId, startTime, endTime, duration, agent id/name, extension, caller,
callee, direction, queue), spread over day folders.

    gen.py DIR COUNT SECONDS [--days N] [--prefix P]

SECONDS is the audio length (8 kHz, 16 bit: 16,000 bytes a second, so 62.5 s is about 1 MB;
0.02 s is a 364-byte file). Lengths vary by up to ±5 % around it (never below 10 ms); the XML's
duration and endTime match the audio exactly. Deterministic for given arguments.
"""
import argparse
import math
import os
import random
import struct
from datetime import datetime, timedelta, timezone

RATE = 8000
AGENTS = [("A-101", "Siti Rahma"), ("A-102", "Budi Santoso"), ("A-103", "Dewi Lestari"),
          ("A-104", "Agus Pratama"), ("A-105", "Rina Wijaya")]
QUEUES = ["billing", "sales", "support", "retention"]
WIB = timezone(timedelta(hours=7))


def tone_block(freq):
    """One second of a 16-bit tone; longer audio repeats it (it is the bytes that count)."""
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / RATE)))
                    for i in range(RATE))


def wav(samples, block):
    data_len = samples * 2
    head = b"RIFF" + struct.pack("<I", 36 + data_len) + b"WAVE"
    head += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16)
    head += b"data" + struct.pack("<I", data_len)
    reps, rest = divmod(data_len, len(block))
    return head + block * reps + block[:rest]


def xml(call_id, start, ms, n):
    agent = AGENTS[n % len(AGENTS)]
    inbound = n % 3 != 0
    customer = "+62812%07d" % (1_000_000 + n * 7919 % 9_000_000)
    line = "+62215550100"
    caller, callee = (customer, line) if inbound else (line, customer)
    end = start + timedelta(milliseconds=ms)
    fmt = lambda t: t.isoformat(timespec="milliseconds")  # noqa: E731
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<recording>\n'
        f"  <callId>{call_id}</callId>\n  <startTime>{fmt(start)}</startTime>\n"
        f"  <endTime>{fmt(end)}</endTime>\n  <duration>{ms / 1000:.3f}</duration>\n"
        f'  <agent id="{agent[0]}">{agent[1]}</agent>\n  <extension>2{100 + n % 50:03d}</extension>\n'
        f"  <caller>{caller}</caller>\n  <callee>{callee}</callee>\n"
        f"  <direction>{'inbound' if inbound else 'outbound'}</direction>\n"
        f"  <queue>{QUEUES[n % len(QUEUES)]}</queue>\n</recording>\n"
    ).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("count", type=int)
    ap.add_argument("seconds", type=float)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--prefix", default="C")
    a = ap.parse_args()
    rng = random.Random(a.count)
    blocks = [tone_block(f) for f in (350, 440, 620, 810)]
    first = datetime(2026, 11, 16, 8, 0, tzinfo=WIB)
    per_day = -(-a.count // a.days)
    step = max(1, 50_000 // per_day)  # calls spread over 08:00 to about 22:00
    total = 0
    for n in range(a.count):
        day, k = divmod(n, per_day)
        day_start = first + timedelta(days=day)
        start = day_start + timedelta(seconds=k * step + rng.randrange(step))
        folder = os.path.join(a.dir, day_start.strftime("%Y-%m-%d"))
        if k == 0:
            os.makedirs(folder, exist_ok=True)
        ms = max(10, round(a.seconds * 1000 * rng.uniform(0.95, 1.05)))
        samples = RATE * ms // 1000
        ms = samples * 1000 // RATE
        call_id = f"{a.prefix}-{start:%Y%m%d}-{n:06d}"
        body = wav(samples, blocks[n % len(blocks)])
        with open(os.path.join(folder, call_id + ".wav"), "wb") as f:
            f.write(body)
        with open(os.path.join(folder, call_id + ".xml"), "wb") as f:
            f.write(xml(call_id, start, ms, n))
        total += len(body)
    print(f"{a.count} recordings, {total} bytes of audio in {a.dir}")


if __name__ == "__main__":
    main()
