"""Scrape latency under a 500-socket slowloris: kubepulse's server beside the previous one,
uvicorn and node_exporter, in the same run.

Each target serves host metrics on 127.0.0.1 in its own process:

- kubepulse exporter system (the event-loop server, default limits);
- the previous thread-per-connection server (``http.server``, as of commit a945bd5) serving the
  same handler;
- uvicorn (h11, default settings) serving the same handler from an ASGI app: the server library
  considered instead of our own;
- node_exporter (Go net/http), the peer.

For each, in turn: 200 scrapes over one kept-alive connection (as Prometheus scrapes) and 50 on
new connections, quiet; then 500 sockets that each send one byte of a request head every
second, and the same scrapes while they trickle (during the first 8 s, before kubepulse's 10 s
header deadline); then the target's threads and RSS, and how many of the 500 sockets the target
had closed 15 s after they connected. No gzip, so the servers are compared, not compressors.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(ROOT / "tests" / "exposition"))

import uvicorn  # noqa: E402
from helpers_abuse import Slowloris, proc_status  # noqa: E402

from common import table, write_results  # noqa: E402
from kubepulse.lab.processes import ProcessGroup, free_port  # noqa: E402

OLD_COMMIT = "a945bd5"
SOCKETS = 500
KEEPALIVE_SCRAPES = 200
NEW_CONN_SCRAPES = 50

_OLD_SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
import old_server
from kubepulse.exporters.system import metrics_handler
old_server.ExporterServer({"/metrics": metrics_handler()}, sys.argv[2]).serve_forever()
"""

# The cluster exporter's shape: a large body of pre-rendered chunks (20 MB in 5,000 chunks).
_LARGE = """
import sys
sys.path.insert(0, sys.argv[1])
import importlib
from kubepulse.exposition.server import Response
module = importlib.import_module(sys.argv[3])
chunks = [(b"kube_pod_info{namespace=\\"ns\\",pod=\\"p%d\\"} 1\\n" % i) * 100
          for i in range(5000)]
module.ExporterServer({"/metrics": lambda _: Response(body=chunks)}, sys.argv[2]).serve_forever()
"""
LARGE_SCRAPES = 30

_UVICORN = """
import sys
import uvicorn
from kubepulse.exporters.system import metrics_handler
from kubepulse.exposition.server import Request

handler = metrics_handler()


async def app(scope, receive, send):
    assert scope["type"] == "http"
    resp = handler(Request(scope["method"], scope["path"], {}, {}))
    body = resp.body if isinstance(resp.body, bytes) else b"".join(resp.body)
    headers = [(b"content-type", resp.content_type.encode())]
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="h11", lifespan="off",
            log_level="warning")
"""


def _scrapes(port: int) -> tuple[list[float], list[float]]:
    kept: list[float] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(KEEPALIVE_SCRAPES):
        start = time.perf_counter()
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        resp.read()
        kept.append(time.perf_counter() - start)
        if resp.status != 200:
            raise RuntimeError(f"port {port}: HTTP {resp.status}")
    conn.close()
    fresh: list[float] = []
    for _ in range(NEW_CONN_SCRAPES):
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/metrics")
        conn.getresponse().read()
        conn.close()
        fresh.append(time.perf_counter() - start)
    return kept, fresh


def _ms(values: list[float], q: int) -> str:
    return f"{statistics.quantiles(values, n=100, method='inclusive')[q - 1] * 1000:.2f}"


def _measure(name: str, pid: int, port: int) -> list[object]:
    quiet_kept, quiet_fresh = _scrapes(port)
    before = proc_status(pid)
    with Slowloris(port, count=SOCKETS, interval=1.0, duration=15) as attack:
        time.sleep(1.0)
        kept, fresh = _scrapes(port)
        during = proc_status(pid)
        attack.wait()
    opened = attack.opened
    return [
        name,
        f"{_ms(quiet_kept, 50)} / {_ms(quiet_kept, 99)}",
        f"{_ms(kept, 50)} / {_ms(kept, 99)}",
        f"{_ms(quiet_fresh, 50)} → {_ms(fresh, 50)}",
        f"{before['threads']} → {during['threads']}",
        f"{before['rss'] / 2**20:.0f} → {during['rss'] / 2**20:.0f}",
        f"{len(attack.closed_after)} of {opened}",
    ]


def _large_body(group: ProcessGroup, tmp: Path) -> list[list[object]]:
    rows: list[list[object]] = []
    for name, module in (
        ("kubepulse server (event loop)", "kubepulse.exposition.server"),
        (f"previous kubepulse server ({OLD_COMMIT})", "old_server"),
    ):
        port = free_port()
        group.start(
            module,
            [sys.executable, "-c", _LARGE, str(tmp), f"127.0.0.1:{port}", module],
            ready_port=port,
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        times, size = [], 0
        for _ in range(LARGE_SCRAPES + 2):
            start = time.perf_counter()
            conn.request("GET", "/metrics")
            size = len(conn.getresponse().read())
            times.append(time.perf_counter() - start)
        conn.close()
        times = times[2:]  # warm-up
        rows.append([name, f"{size / 1e6:.1f}", _ms(times, 50), _ms(times, 90)])
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_s, ProcessGroup(Path(tmp_s) / "logs") as group:
        tmp = Path(tmp_s)
        old = subprocess.run(
            ["git", "show", f"{OLD_COMMIT}:src/kubepulse/exposition/server.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
        (tmp / "old_server.py").write_bytes(old)
        ports = {name: free_port() for name in ("kubepulse", "old", "uvicorn", "node")}
        procs = {
            "kubepulse": group.start(
                "kubepulse",
                [
                    sys.executable,
                    "-m",
                    "kubepulse",
                    "exporter",
                    "system",
                    f"--web.listen-address=127.0.0.1:{ports['kubepulse']}",
                ],
                ready_url=f"http://127.0.0.1:{ports['kubepulse']}/metrics",
            ),
            "old": group.start(
                "old",
                [sys.executable, "-c", _OLD_SERVER, str(tmp), f"127.0.0.1:{ports['old']}"],
                ready_url=f"http://127.0.0.1:{ports['old']}/metrics",
            ),
            "uvicorn": group.start(
                "uvicorn",
                [sys.executable, "-c", _UVICORN, str(ports["uvicorn"])],
                ready_url=f"http://127.0.0.1:{ports['uvicorn']}/metrics",
            ),
            "node": group.start(
                "node_exporter",
                ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ports['node']}"],
                ready_url=f"http://127.0.0.1:{ports['node']}/metrics",
            ),
        }
        names = {
            "kubepulse": "kubepulse exporter system (event loop)",
            "old": f"previous kubepulse server (thread per connection, {OLD_COMMIT})",
            "uvicorn": f"uvicorn {uvicorn.__version__} (h11), same handler",
            "node": "node_exporter (Go net/http, peer)",
        }
        with open("/proc/loadavg") as fh:
            load = fh.read().split()[:3]
        rows = [_measure(names[key], procs[key].pid, ports[key]) for key in names]
        group.close()
        large = _large_body(group, tmp)
        with open("/proc/loadavg") as fh:
            load_after = fh.read().split()[:3]
    body = (
        f"Load average (1, 5, 15 min) before: {', '.join(load)}; after: {', '.join(load_after)} "
        "(the host is shared).\n\n"
        f"{KEEPALIVE_SCRAPES} scrapes over one kept-alive connection and {NEW_CONN_SCRAPES} on "
        f"new connections, quiet and then under {SOCKETS} slowloris sockets (one byte a second "
        "each); threads and RSS of the target process before and during the attack; sockets the "
        "target closed within 15 s.\n\n"
        + table(
            [
                "target",
                "kept-alive p50 / p99 ms, quiet",
                "kept-alive p50 / p99 ms, slowloris",
                "new-connection p50 ms, quiet → slowloris",
                "threads",
                "RSS MiB",
                "slowloris sockets closed",
            ],
            rows,
        )
        + f"\n\nThe cluster exporter's shape, quiet: {LARGE_SCRAPES} scrapes of a body of 5,000 "
        "pre-rendered chunks over one kept-alive connection, no gzip (scatter-gather sendmsg on "
        "both).\n\n" + table(["server", "body MB", "p50 ms", "p90 ms"], large)
    )
    write_results("slowloris", "Scrape latency under a 500-socket slowloris", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
