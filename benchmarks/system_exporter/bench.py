"""Scrape latency of `kubepulse exporter system` against node_exporter, scraped in the same run.

Each target is scraped the way Prometheus does it: one kept-alive connection, Prometheus's own
Accept header and Accept-Encoding: gzip. Rounds interleave the targets so background load hits
them alike; latency percentiles are over all scrapes of a target. kubepulse is measured plain and
behind TLS + basic auth (bcrypt check cached after the first scrape).
Target: kubepulse p50 < 10 ms.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import table, write_results
from kubepulse.lab.pki import make_loopback_pki, write_web_config
from kubepulse.lab.processes import ProcessGroup, free_port

ROUNDS = 10
PER_ROUND = 50
ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
TARGET_P50_MS = 10.0


class Target:
    def __init__(self, name: str, port: int, ctx: ssl.SSLContext | None, auth: str | None):
        self.name = name
        self.headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip"}
        if auth:
            self.headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        self.conn: http.client.HTTPConnection = (
            http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
            if ctx
            else http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        )
        self.latencies: list[float] = []
        self.size = 0

    def scrape(self) -> None:
        start = time.perf_counter()
        self.conn.request("GET", "/metrics", headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read()
        self.latencies.append(time.perf_counter() - start)
        if resp.status != 200:
            raise RuntimeError(f"{self.name}: HTTP {resp.status}")
        self.size = len(body)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_s, ProcessGroup(Path(tmp_s) / "logs") as group:
        tmp = Path(tmp_s)
        pki = make_loopback_pki(tmp / "pki")
        web = write_web_config(tmp / "web.yml", pki, {"prom": "pw"}, rounds=12)
        ports = {name: free_port() for name in ("node", "plain", "tls")}
        group.start(
            "node_exporter",
            ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ports['node']}"],
            ready_url=f"http://127.0.0.1:{ports['node']}/metrics",
        )
        cli = [sys.executable, "-m", "kubepulse", "exporter", "system"]
        group.start(
            "kubepulse-plain",
            [*cli, f"--web.listen-address=127.0.0.1:{ports['plain']}"],
            ready_url=f"http://127.0.0.1:{ports['plain']}/healthz",
        )
        group.start(
            "kubepulse-tls",
            [*cli, f"--web.listen-address=127.0.0.1:{ports['tls']}", f"--web.config.file={web}"],
            ready_port=ports["tls"],
        )
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        targets = [
            Target("node_exporter (baseline, default collectors)", ports["node"], None, None),
            Target("kubepulse exporter system", ports["plain"], None, None),
            Target("kubepulse exporter system, TLS + basic auth", ports["tls"], ctx, "prom:pw"),
        ]
        for t in targets:  # warm up: connections, TLS session, the bcrypt cache, psutil imports
            for _ in range(5):
                t.scrape()
            t.latencies.clear()
        for _ in range(ROUNDS):
            for t in targets:
                for _ in range(PER_ROUND):
                    t.scrape()

    base = statistics.median(targets[0].latencies)
    rows = []
    for t in targets:
        p50 = pct(t.latencies, 50)
        rows.append(
            (
                t.name,
                f"{p50:.2f}",
                f"{pct(t.latencies, 90):.2f}",
                f"{pct(t.latencies, 99):.2f}",
                f"{max(t.latencies) * 1000:.2f}",
                f"{t.size:,}",
                f"{statistics.median(t.latencies) / base:.2f}x",
            )
        )
    kp = [pct(t.latencies, 50) for t in targets[1:]]
    ok = all(p < TARGET_P50_MS for p in kp)
    body = (
        f"{ROUNDS * PER_ROUND} scrapes per target over one kept-alive connection each, gzip and "
        "Prometheus's Accept header, rounds interleaved.\n\n"
        + table(
            [
                "target",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "gzip bytes",
                "p50 vs node_exporter",
            ],
            rows,
        )
        + f"\n\nTarget p50 < {TARGET_P50_MS:g} ms: {'met' if ok else 'MISSED'} "
        f"({', '.join(f'{p:.2f} ms' for p in kp)})."
    )
    write_results("system_exporter", "System exporter scrape latency", body)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
