"""Per-request cost of kubepulse.webapp.instrument against the same Flask app uninstrumented.

Requests go through werkzeug's in-process test client (no sockets), so the difference is the
instrumentation itself: route lookup, counter, histogram, in-progress gauge. The measure is the
process's CPU time, which other processes' load disturbs far less than wall time. Single-process and
multiprocess (mmap files, as under gunicorn) modes; best of interleaved rounds.
No target in the issue; reported so a regression shows up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REQUESTS = 2_000
ROUNDS = 5

CHILD = r"""
import os, sys, time
from flask import Flask
from prometheus_client import CollectorRegistry
from kubepulse.webapp import instrument

app = Flask("bench")

@app.route("/items/<int:item_id>")
def item(item_id):
    return "ok"

if sys.argv[1] == "instrumented":
    instrument(app, registry=CollectorRegistry())
client = app.test_client()
n = int(sys.argv[2])
for i in range(200):  # warm-up: first-request setup, label children, mmap files
    with client.get(f"/items/{i % 50}") as resp:
        resp.get_data()
start = time.process_time()
for i in range(n):
    with client.get(f"/items/{i % 50}") as resp:
        resp.get_data()
print((time.process_time() - start) / n)
"""


def run(mode: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(REQUESTS)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> int:
    from common import table, write_results

    with tempfile.TemporaryDirectory() as mp:
        cases = {
            "Flask, uninstrumented (baseline)": ("plain", {}),
            "instrument(app), single process": ("instrumented", {}),
            "instrument(app), multiprocess mode": (
                "instrumented",
                {"PROMETHEUS_MULTIPROC_DIR": mp},
            ),
        }
        # Rounds interleave the cases (one fresh process each) so background load hits them
        # alike; the best round of each case is kept.
        results = {name: float("inf") for name in cases}
        for _ in range(ROUNDS):
            for name, (mode, env) in cases.items():
                results[name] = min(results[name], run(mode, env))
    base = results["Flask, uninstrumented (baseline)"]
    rows = [
        (name, f"{secs * 1e6:.1f}", f"{(secs - base) * 1e6:+.1f}", f"{secs / base:.2f}x")
        for name, secs in results.items()
    ]
    body = (
        f"{REQUESTS:,} requests to a templated route through werkzeug's test client, "
        f"best of {ROUNDS} interleaved rounds, each in a fresh process; load average during "
        f"the run {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.\n\n"
        + table(["case", "CPU us per request", "overhead us", "vs baseline"], rows)
    )
    write_results("webapp", "WSGI instrumentation overhead", body)
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(code)
