"""Where the cluster exporter's memory goes while it is scraped, measured in process.

A ``ClusterExporter`` (never started: its stores are filled directly, so no API server is
needed) holds 10,000 pods shaped as the benchmark's kwok pods (``store_memory.pod``), and its
``/metrics`` is served by the real ``ExporterServer`` on 127.0.0.1. A client then scrapes it in
rounds: plain, gzip, OpenMetrics, OpenMetrics gzip, and between rounds some pods change status
(their ready families change, as in the benchmark's delete loop). After each round: RSS, its
high-water mark (VmHWM) and what ``tracemalloc`` sees allocated by Python; the top allocation
sites of the growth after the last round are listed by line.

Run: .venv/bin/python benchmarks/cluster_exporter/scrape_memory.py [--pods 10000] [--write]
(``--write`` stores the table in results/cluster_scrape_memory.md.)
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from store_memory import PAGE, pod

from common import table, write_results
from kubepulse.exporters.cluster.exporter import ClusterExporter, Options
from kubepulse.exposition.server import ExporterServer
from kubepulse.kube.client import KubeClient

MIB = 2**20
OPENMETRICS = "Accept: application/openmetrics-text"
ENCODINGS = (
    ("plain", ["Accept-Encoding: identity"]),
    ("gzip", ["Accept-Encoding: gzip"]),
    ("openmetrics", [OPENMETRICS, "Accept-Encoding: identity"]),
    ("openmetrics gzip", [OPENMETRICS, "Accept-Encoding: gzip"]),
)


def scrape(url: str, headers: list[str]) -> tuple[int, float]:
    """Bytes and seconds of one scrape by curl, a separate process (a client in this one
    would add the body it reads to the RSS measured here)."""
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]
    for header in headers:
        args += ["-H", header]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    code, size, seconds = out.split()
    assert code == "200", code
    return int(size), float(seconds)


def status_mib() -> tuple[float, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def filled_exporter(n: int) -> ClusterExporter:
    """An exporter whose every store is synced, the pod store holding ``n`` pods."""
    exporter = ClusterExporter(KubeClient(offline_configuration()), Options(usage_labels=()))
    pods = exporter.stores["pods"]
    for start in range(0, n, PAGE):
        page = orjson.dumps({"items": [pod(i) for i in range(start, min(n, start + PAGE))]})
        pods.apply([pods.transform(o) for o in orjson.loads(page)["items"]], (), False)
    for store in exporter.stores.values():
        store.apply((), (), True)
    return exporter


def offline_configuration() -> Any:
    """A client configuration for 127.0.0.1 (nothing connects to it: the exporter never starts)."""
    from kubernetes import client as k8s

    config = k8s.Configuration()
    config.host = "http://127.0.0.1:9"
    return config


def churn(exporter: ClusterExporter, round_no: int, count: int) -> None:
    """``count`` pods flip readiness (their ready, condition and reason families change)."""
    store = exporter.stores["pods"]
    objs = []
    for i in range(count):
        obj = pod((round_no * count + i) % len(store))
        ready = "False" if round_no % 2 else "True"
        for cond in obj["status"]["conditions"]:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond["status"] = ready
        obj["status"]["containerStatuses"][0]["ready"] = ready == "True"
        objs.append(store.transform(obj))
    store.apply(objs, (), True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--churn", type=int, default=200, help="pods changed between rounds")
    parser.add_argument("--trace", action="store_true", help="tracemalloc (slows scrapes)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    base_rss, _ = status_mib()
    exporter = filled_exporter(args.pods)
    gc.collect()
    rows = []
    rss, hwm = status_mib()
    rows.append(["store filled", "-", "-", f"{rss:.0f}", f"{hwm:.0f}", "-"])
    if args.trace:
        tracemalloc.start(8)
    server = ExporterServer({"/metrics": exporter.metrics}).start()
    url = f"{server.url}/metrics"
    sizes: dict[str, int] = {}
    first: tracemalloc.Snapshot | None = None
    try:
        for r in range(args.rounds):
            if r:
                churn(exporter, r, args.churn)
            times = []
            for name, headers in ENCODINGS:
                sizes[name], seconds = scrape(url, headers)
                times.append(f"{seconds * 1000:.0f}")
            gc.collect()
            rss, hwm = status_mib()
            traced = f"{tracemalloc.get_traced_memory()[0] / MIB:.1f}" if args.trace else "-"
            rows.append(
                [
                    f"round {r + 1}",
                    str(args.churn if r else 0),
                    " / ".join(times),
                    f"{rss:.0f}",
                    f"{hwm:.0f}",
                    traced,
                ]
            )
            if args.trace and r == 0:
                first = tracemalloc.take_snapshot()
        if args.trace and first is not None:
            last = tracemalloc.take_snapshot()
            print("growth from round 1 to the last, by line:")
            for stat in last.compare_to(first, "lineno")[:12]:
                print(" ", stat)
            print("held after the last round, by line:")
            for stat in last.statistics("lineno")[:12]:
                print(" ", stat)
    finally:
        server.shutdown()
    lines = [
        f"{args.pods} pods in the pod store (every other kind empty), served by ExporterServer"
        f" on 127.0.0.1; interpreter and imports {base_rss:.0f} MiB before filling. Each round"
        f" scrapes plain, gzip, OpenMetrics and OpenMetrics gzip once; {args.churn} pods flip"
        " readiness before each round after the first. Bodies: "
        + ", ".join(f"{k} {v / MIB:.1f} MiB" for k, v in sizes.items())
        + ".",
        "",
        table(
            [
                "after",
                "pods changed",
                "scrape ms (4 encodings)",
                "RSS MiB",
                "VmHWM MiB",
                "tracemalloc MiB",
            ],
            rows,
        ),
    ]
    if args.write:
        write_results(
            "cluster_scrape_memory", "Cluster exporter: memory while scraped", "\n".join(lines)
        )
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
