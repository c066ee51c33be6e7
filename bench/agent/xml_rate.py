#!/usr/bin/env python3
"""Python baseline for shared/recordings/examples/xml_rate.rs: the same files, read into memory
first, then parsed with xml.etree.ElementTree.fromstring and mapped to the same fields (callId,
startTime, endTime/duration, agent id and name, extension, caller, callee, direction, queue),
times parsed with datetime.fromisoformat and the duration in ms derived; one untimed warm-up
pass, then ROUNDS timed passes. Prints one JSON line in the example's shape.

    xml_rate.py DIR [LIMIT [ROUNDS]]

What it does not do that muara's parser does: encoding checks (BOM, declared vs actual bytes),
namespace- and case-insensitive paths, candidate paths from a profile, the end/duration
consistency check and call id checks. So it is a lower bound on what Python would cost.
"""
import json
import os
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime

DIRECTIONS = {"inbound": "inbound", "in": "inbound", "i": "inbound", "incoming": "inbound",
              "outbound": "outbound", "out": "outbound", "o": "outbound", "outgoing": "outbound",
              "internal": "internal", "local": "internal"}


def text(root, path):
    e = root.find(path)
    if e is None or e.text is None:
        return None
    return e.text.strip() or None


def parse(doc):
    root = ET.fromstring(doc)
    call_id = text(root, "callId")
    start = text(root, "startTime")
    if not call_id or not start:
        raise ValueError("missing callId or startTime")
    started = datetime.fromisoformat(start)
    end = text(root, "endTime")
    dur = text(root, "duration")
    if end:
        duration_ms = round((datetime.fromisoformat(end) - started).total_seconds() * 1000)
    elif dur:
        duration_ms = round(float(dur) * 1000)
    else:
        raise ValueError("missing endTime or duration")
    agent = root.find("agent")
    direction = text(root, "direction")
    return {
        "call_id": call_id,
        "started_at": started,
        "duration_ms": duration_ms,
        "agent_id": agent.get("id") if agent is not None else text(root, "agentId"),
        "agent_name": (agent.text or "").strip() if agent is not None else text(root, "agentName"),
        "extension": text(root, "extension"),
        "caller": text(root, "caller"),
        "callee": text(root, "callee"),
        "direction": DIRECTIONS.get(direction.lower()) if direction else None,
        "queue": text(root, "queue"),
    }


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: xml_rate.py DIR [LIMIT [ROUNDS]]")
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    rounds = max(1, int(sys.argv[3]) if len(sys.argv) > 3 else 5)
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1])
                   for f in fs if f.lower().endswith(".xml"))[:limit]
    docs = []
    for p in paths:
        with open(p, "rb") as f:
            docs.append(f.read())
    errors = 0
    for d in docs:  # warm-up, and the check that every document maps
        try:
            parse(d)
        except Exception:  # noqa: BLE001
            errors += 1
    passes = []
    for _ in range(rounds):
        t = time.perf_counter()
        for d in docs:
            try:
                parse(d)
            except Exception:  # noqa: BLE001
                pass
        passes.append(time.perf_counter() - t)
    best, mean = min(passes), sum(passes) / len(passes)
    print(json.dumps({
        "parser": f"xml.etree.ElementTree.fromstring (Python {sys.version.split()[0]})",
        "files": len(docs), "bytes": sum(map(len, docs)), "errors": errors, "rounds": rounds,
        "best_pass_seconds": best, "files_per_second": len(docs) / best,
        "mean_files_per_second": len(docs) / mean, "mb_per_second": sum(map(len, docs)) / best / 1e6,
    }))


if __name__ == "__main__":
    main()
