"""CPU per request of a Flask and a FastAPI app: bare, kubepulse, and each one's usual exporter.

Real HTTP requests over loopback on one keep-alive connection: Flask under werkzeug's
single-threaded WSGI server, FastAPI under uvicorn (one process). One server per framework holds
three copies of the app (``servers.py``): bare, instrumented by kubepulse, and by the peer,
prometheus_flask_exporter (``PrometheusMetrics(app, group_by="url_rule")``: route templates, as
kubepulse) or prometheus-fastapi-instrumentator (``Instrumentator().instrument(app).expose(app)``,
its defaults). Requests go to the three in turn, so background load hits them alike, and the
server adds up its thread's CPU time around each copy's call (the HTTP parsing, the same for all,
stays out). Overhead is a copy's CPU per request minus the bare copy's. Each round is a fresh
server; the median round is reported. Target: kubepulse's overhead at most half of each peer's.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubepulse.lab.processes import ProcessGroup, free_port

REQUESTS = int(os.environ.get("WEBAPP_BENCH_REQUESTS", "3000"))  # per copy and round
WARMUP = 200
ROUNDS = int(os.environ.get("WEBAPP_BENCH_ROUNDS", "5"))
SERVERS = Path(__file__).with_name("servers.py")
COPIES = ("plain", "kubepulse", "peer")
PEERS = {"flask": "prometheus_flask_exporter", "fastapi": "prometheus-fastapi-instrumentator"}


def _get(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200, (path, resp.status, body[:200])
    return body


def one_round(framework: str, logs: Path) -> dict[str, float]:
    """CPU seconds per request of each copy, in a fresh server."""
    port = free_port()
    with ProcessGroup(logs) as group:
        argv = [sys.executable, str(SERVERS), framework, str(port)]
        group.start(framework, argv, ready_port=port, timeout=60)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(WARMUP):  # imports, first-request setup, label children
            for copy in COPIES:
                assert _get(conn, f"/{copy}/items/{i % 50}") == b"ok"
        before = json.loads(_get(conn, "/cpu"))
        for i in range(REQUESTS):
            for copy in COPIES:
                _get(conn, f"/{copy}/items/{i % 50}")
        after = json.loads(_get(conn, "/cpu"))
        for copy in ("kubepulse", "peer"):  # both instrumented copies counted every request
            text = _get(conn, f"/{copy}/metrics").decode()
            assert f" {float(REQUESTS + WARMUP)}" in text, text[:800]
        conn.close()
    out = {}
    for copy in COPIES:
        n = after["calls"][copy] - before["calls"][copy]
        assert n == REQUESTS, (copy, n)
        out[copy] = (after["seconds"][copy] - before["seconds"][copy]) / n
    return out


def _ratio(result: dict[str, float]) -> float:
    peer = result["peer"] - result["plain"]
    return (result["kubepulse"] - result["plain"]) / peer if peer > 0 else float("inf")


def main() -> int:
    from common import table, write_results

    load_before = os.getloadavg()[0]
    rounds: dict[str, list[dict[str, float]]] = {"flask": [], "fastapi": []}
    with tempfile.TemporaryDirectory() as logs:
        for _ in range(ROUNDS):
            for framework in rounds:
                rounds[framework].append(one_round(framework, Path(logs)))
    load_after = os.getloadavg()[0]
    rows = []
    verdicts = []
    for framework, results in rounds.items():
        cpu = {c: statistics.median(r[c] for r in results) for c in COPIES}
        over = {c: statistics.median(r[c] - r["plain"] for r in results) for c in COPIES}
        names = {"plain": "bare", "kubepulse": "kubepulse", "peer": PEERS[framework]}
        for copy in COPIES:
            rows.append(
                (framework, names[copy], f"{cpu[copy] * 1e6:.1f}", f"{over[copy] * 1e6:+.1f}")
            )
        ours, peer = over["kubepulse"], over["peer"]
        ratio = ours / peer if peer > 0 else float("inf")
        each = ", ".join(f"{_ratio(r):.2f}" for r in results)
        verdicts.append(
            f"- {framework}: kubepulse's overhead is {ratio:.2f}x {PEERS[framework]}'s "
            f"({ours * 1e6:.1f} vs {peer * 1e6:.1f} us per request); target at most 0.5x: "
            f"{'met' if ratio <= 0.5 else 'NOT met'}. Each round's ratio: {each}."
        )
    body = (
        f"{REQUESTS:,} real HTTP requests over loopback to `/items/<id>` (a templated route) per "
        f"copy and round, interleaved, after {WARMUP} warm-up requests each; the server's CPU "
        f"time in each copy per request, median of {ROUNDS} rounds, a fresh server each. Load "
        f"average {load_before:.1f} before and {load_after:.1f} after the run, on "
        f"{os.cpu_count()} cores shared with other jobs.\n\n"
        + table(["framework", "case", "CPU us per request", "overhead us"], rows)
        + "\n\n"
        + "\n".join(verdicts)
        + "\n"
    )
    print(body)
    write_results(
        "webapp", "App instrumentation overhead: kubepulse beside the usual exporters", body
    )
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(code)
