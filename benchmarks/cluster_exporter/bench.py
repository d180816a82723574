"""Cluster exporter benchmark: kubepulse vs kube-state-metrics vs a naive prometheus_client one.

A kwok test cluster gets N nodes, D Deployments (replicas 0: the objects, not their pods) and P
bare pods bound round-robin to the nodes (kwok marks them Running). Each exporter runs as its own
process against it, one after the other, and is measured for:

- initial sync: process start until /metrics holds every bench pod and Deployment (KSM and
  the naive exporter answer /metrics before they have listed everything);
- /metrics latency p50/p99, plain and gzip (keep-alive client, body fully read);
- peak RSS (VmHWM) at sync and after each phase (plain scrapes, gzip scrapes, delete loop);
- event-to-metric delay: a pod is deleted; time until its kube_pod_info series is gone;
- with ``--churn N``: N pods flip readiness every second (status patches; kwok is held off them
  by its ready-after annotation): events/s, CPU seconds per 1,000 events over a window without
  scrapes, and flip-to-series delay p50/p99 while the churn goes on.

Each run also writes ``results/cluster_exporter_<pods>.json``, which ``plot.py`` draws.

kube-state-metrics is built from its Go module into ``~/.cache/kubepulse/ksm-TAG/bin``, through a
wrapper module (``go build k8s.io/kube-state-metrics/v2``): ``go install ...@TAG`` fails here
because the proxy answers 403 to the module's version list, which ``go install`` reads for
deprecation notices. The zips come from the official module proxy, but the checksum database has
no entry (404) for KSM TAG nor for its dependency k8s.io/sample-controller, so those two are
exempted from it with GONOSUMDB (every other module is still verified). When the build fails, the
table says so and the other two are still compared.

Run: .venv/bin/python benchmarks/cluster_exporter/bench.py [--pods 10000 --nodes 100 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import RESULTS, table, write_results
from kubepulse.exporters.cluster.exporter import DEFAULT_RESOURCES
from kubepulse.kube.client import KubeClient, connect
from kubepulse.lab.cluster import Cluster, start_cluster
from kubepulse.lab.cluster.binaries import KSM_VERSION, BuildError, ensure_kube_state_metrics
from kubepulse.lab.processes import ProcessGroup, free_port
from kubepulse.lab.servers import cluster_exporter_argv

KSM_TAG = f"v{KSM_VERSION}"
SUMDB_EXEMPT = "k8s.io/kube-state-metrics,k8s.io/sample-controller"  # as the builder sets
NS = "bench"
HERE = Path(__file__).resolve().parent


def ensure_ksm() -> tuple[Path | None, str]:
    """The KSM binary (built by kubepulse.lab.cluster.binaries), or None and the reason."""
    try:
        return ensure_kube_state_metrics(), ""
    except BuildError as exc:
        return None, str(exc).splitlines()[-1][:300]


def populate(
    client: KubeClient, nodes: list[str], pods: int, deployments: int, extras: int
) -> None:
    client.send_json("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})

    def deployment(i: int) -> None:
        name = f"d{i:05d}"
        client.send_json(
            "POST",
            f"/apis/apps/v1/namespaces/{NS}/deployments",
            {
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "c", "image": "x"}]},
                    },
                },
            },
        )

    def pod(i: int) -> None:
        client.send_json(
            "POST",
            f"/api/v1/namespaces/{NS}/pods",
            {
                "metadata": {"name": f"p{i:06d}", "labels": {"app": f"a{i % 100}"}},
                "spec": {
                    "nodeName": nodes[i % len(nodes)],
                    "containers": [
                        {
                            "name": "c",
                            "image": "example.invalid/x:1",
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                        }
                    ],
                },
            },
        )

    def extra(i: int) -> None:
        """One object of each other common kind (suspended Jobs: no pods), so every kind's
        informer and families carry load too."""
        name = f"x{i:05d}"
        labels = {"app": f"a{i % 100}"}
        container = [{"name": "c", "image": "x"}]
        job = {"template": {"spec": {"restartPolicy": "Never", "containers": container}}}
        for path, body in (
            ("/apis/batch/v1", ("jobs", {"suspend": True, **job})),
            (
                "/apis/batch/v1",
                (
                    "cronjobs",
                    {"schedule": "0 3 * * *", "suspend": True, "jobTemplate": {"spec": job}},
                ),
            ),
            ("/api/v1", ("services", {"ports": [{"port": 80}]})),
            (
                "/api/v1",
                (
                    "persistentvolumeclaims",
                    {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": "none",
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                ),
            ),
        ):
            kind, spec = body
            client.send_json(
                "POST",
                f"{path}/namespaces/{NS}/{kind}",
                {"metadata": {"name": name, "labels": labels}, "spec": spec},
            )
        client.send_json(
            "POST",
            f"/api/v1/namespaces/{NS}/configmaps",
            {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}},
        )
        client.send_json(
            "POST",
            f"/api/v1/namespaces/{NS}/secrets",
            {"metadata": {"name": name, "labels": labels}, "stringData": {"k": "v"}},
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(deployment, range(deployments)))
        list(pool.map(pod, range(pods)))
        list(pool.map(extra, range(extras)))


def running(client: KubeClient) -> int:
    items = client.get_json(f"/api/v1/namespaces/{NS}/pods")["items"]
    return sum(1 for p in items if p.get("status", {}).get("phase") == "Running")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def scrape_latencies(url: str, count: int, gzip: bool) -> tuple[list[float], int]:
    http = urllib3.PoolManager(maxsize=1)
    headers = {"Accept-Encoding": "gzip"} if gzip else {"Accept-Encoding": "identity"}
    out, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        response = http.request("GET", url, headers=headers, decode_content=False, timeout=120)
        size = len(response.data)
        out.append(time.perf_counter() - started)
        assert response.status == 200, response.status
    return out, size


def wait_complete(url: str, pods: int, deployments: int, timeout: float = 900) -> None:
    """Until /metrics has a kube_pod_info series for each of ``pods`` bench pods and a
    kube_deployment_spec_replicas one for each Deployment. KSM (and the naive exporter) answer
    /metrics while still listing, so answering is not being synced."""
    http = urllib3.PoolManager(maxsize=1)
    ns = f'namespace="{NS}"'.encode()
    deadline = time.monotonic() + timeout
    while True:
        left = max(1.0, deadline - time.monotonic())
        body = http.request("GET", url, timeout=min(300.0, left), retries=False).data
        lines = body.splitlines()
        got_pods = sum(1 for ln in lines if ln.startswith(b"kube_pod_info{") and ns in ln)
        got_deps = sum(
            1 for ln in lines if ln.startswith(b"kube_deployment_spec_replicas{") and ns in ln
        )
        if got_pods >= pods and got_deps >= deployments:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: {got_pods}/{pods} pods, {got_deps}/{deployments} deps")
        time.sleep(0.05)


def delete_delay(client: KubeClient, url: str, names: list[str]) -> list[float]:
    http = urllib3.PoolManager(maxsize=1)
    delays = []
    for name in names:
        needle = f'pod="{name}"'.encode()
        client.send_json(
            "DELETE", f"/api/v1/namespaces/{NS}/pods/{name}", {"gracePeriodSeconds": 0}
        )
        deleted = time.perf_counter()
        while True:
            body = http.request("GET", url, timeout=120).data
            if needle not in body:
                break
        delays.append(time.perf_counter() - deleted)
    return delays


def set_ready(client: KubeClient, name: str, ready: bool) -> None:
    """The pod's Ready condition, through the status subresource (one watch event)."""
    client.send_json(
        "PATCH",
        f"/api/v1/namespaces/{NS}/pods/{name}/status",
        {"status": {"conditions": [{"type": "Ready", "status": str(ready)}]}},
        "application/strategic-merge-patch+json",
    )


def hold_kwok_off(client: KubeClient, names: list[str]) -> None:
    """kwok's ready stage turns an unready pod Ready again at once, unless the pod says to wait
    (``kubepulse.dev/ready-after``): an hour here, so only the churn flips these pods."""
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda name: client.send_json(
                    "PATCH",
                    f"/api/v1/namespaces/{NS}/pods/{name}",
                    {"metadata": {"annotations": {"kubepulse.dev/ready-after": "1h"}}},
                    "application/merge-patch+json",
                ),
                names,
            )
        )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Churn:
    """``rate`` of ``names`` flip readiness every second (each flip one MODIFIED event), in a
    background thread, until ``stop()``; the flips' count and their lateness are kept."""

    def __init__(self, client: KubeClient, names: list[str], rate: int) -> None:
        self.client, self.names, self.rate = client, names, rate
        self.ready = dict.fromkeys(names, True)
        self.flips = 0
        self.behind = 0.0  # seconds the flipping fell behind its schedule, at most
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def start(self) -> Churn:
        self._thread.start()
        return self

    def flip(self, name: str) -> bool:
        with self._lock:
            ready = self.ready[name] = not self.ready[name]
        set_ready(self.client, name, ready)
        with self._lock:
            self.flips += 1
        return ready

    def _run(self) -> None:
        i = 0
        tick = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            while not self._stop.is_set():
                batch = [self.names[(i + k) % len(self.names)] for k in range(self.rate)]
                i += self.rate
                list(pool.map(self.flip, batch))
                tick += 1.0
                self.behind = max(self.behind, time.monotonic() - tick)
                self._stop.wait(max(0.0, tick - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        with ThreadPoolExecutor(8) as pool:  # every pod Ready again, for the next exporter
            list(pool.map(lambda n: set_ready(self.client, n, True), self.names))
            self.ready = dict.fromkeys(self.names, True)


def churn_phase(
    client: KubeClient, url: str, pid: int, names: list[str], rate: int, seconds: float
) -> dict[str, Any]:
    """Events/s and CPU per 1,000 events over ``seconds`` of churn without scrapes, then
    event-to-metric delays: during the same churn, one more pod (``names[0]``, kept out of the
    background flips) is flipped and /metrics scraped in a loop until its Ready series shows it."""
    probe, rest = names[0], names[1:]
    uid = client.get_json(f"/api/v1/namespaces/{NS}/pods/{probe}")["metadata"]["uid"]
    churn = Churn(client, rest, rate)
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    churn.start()
    time.sleep(seconds)
    flips = churn.flips
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu_before
    http = urllib3.PoolManager(maxsize=1)
    delays = []
    ready = True
    deadline = time.monotonic() + seconds * 2
    while len(delays) < 3 or (len(delays) < 40 and time.monotonic() < deadline):
        ready = not ready
        needle = (
            f'kube_pod_status_ready{{namespace="{NS}",pod="{probe}",uid="{uid}",'
            f'condition="{str(ready).lower()}"}} 1\n'
        ).encode()
        set_ready(client, probe, ready)
        flipped = time.perf_counter()
        while needle not in http.request("GET", url, timeout=120).data:
            pass
        delays.append(time.perf_counter() - flipped)
    churn.stop()
    if not ready:
        set_ready(client, probe, True)
    return {
        "rate": flips / elapsed,
        "cpu_per_k": cpu / max(flips, 1) * 1000,
        "cpu_share": cpu / elapsed,
        "behind": churn.behind,
        "delay_p50": statistics.median(delays),
        "delay_p99": percentile(delays, 0.99),
        "delays": len(delays),
    }


def vm_hwm(pid: int, field: str = "VmHWM") -> float:
    """MiB of the process's peak RSS (``VmRSS``: its RSS now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(
    name: str,
    start: Callable[[ProcessGroup, int], Any],
    client: KubeClient,
    victims: list[str],
    scrapes: int,
    logs: Path,
    budget: float = 900.0,
    churn: tuple[list[str], int, float] | None = None,
) -> dict[str, Any]:
    """One exporter's row. If it has no complete /metrics within ``budget`` seconds of its
    start, the row says so (``timed_out``) with the RSS it had reached."""
    port = free_port()
    with ProcessGroup(logs) as group:
        url = f"http://127.0.0.1:{port}/metrics"
        pods = len(client.get_json(f"/api/v1/namespaces/{NS}/pods")["items"])
        deployments = len(client.get_json(f"/apis/apps/v1/namespaces/{NS}/deployments")["items"])
        started = time.perf_counter()
        proc = None
        try:
            proc = start(group, port)
            wait_complete(url, pods, deployments, budget - (time.perf_counter() - started))
        except (RuntimeError, TimeoutError, urllib3.exceptions.HTTPError):
            rss = float("nan") if proc is None else vm_hwm(proc.pid)
            return {"name": name, "timed_out": budget, "rss": rss}
        sync = time.perf_counter() - started
        rss_synced = vm_hwm(proc.pid)
        plain, plain_size = scrape_latencies(url, scrapes, gzip=False)
        rss_plain = vm_hwm(proc.pid)
        gz, gz_size = scrape_latencies(url, scrapes, gzip=True)
        rss_gzip = vm_hwm(proc.pid)
        delays = delete_delay(client, url, victims)
        rss = vm_hwm(proc.pid)
        rss_now = vm_hwm(proc.pid, "VmRSS")
        churned = churn_phase(client, url, proc.pid, *churn) if churn else {}
    return {
        "name": name,
        "sync": sync,
        "p50": statistics.median(plain),
        "p99": percentile(plain, 0.99),
        "gz_p50": statistics.median(gz),
        "gz_p99": percentile(gz, 0.99),
        # The first gzip scrape after the plain ones: kubepulse compresses each family once,
        # when a gzip scrape first asks for it, so this one pays for the whole body.
        "gz_first": gz[0],
        "gz_p99_rest": percentile(gz[1:], 0.99),
        "rss": rss,
        "rss_synced": rss_synced,
        "rss_plain": rss_plain,
        "rss_gzip": rss_gzip,
        "rss_now": rss_now,
        "churn": churned,
        "delay": statistics.median(delays),
        "size": plain_size,
        "gz_size": gz_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument(
        "--extras",
        type=int,
        default=200,
        help="objects of each other kind (Jobs, CronJobs, Services, PVCs, ConfigMaps, Secrets)",
    )
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument(
        "--naive-scrapes", type=int, default=5, help="0 skips the naive exporter (large runs)"
    )
    parser.add_argument(
        "--naive-budget",
        type=float,
        default=300.0,
        help="seconds the naive exporter gets to serve a complete /metrics before its row "
        "says it did not (it cannot at 10,000 pods)",
    )
    parser.add_argument(
        "--churn",
        type=int,
        default=0,
        help="pods that flip readiness every second in the churn phase (0: no churn phase)",
    )
    parser.add_argument("--churn-seconds", type=float, default=30.0)
    args = parser.parse_args()

    load_start = Path("/proc/loadavg").read_text().split()[:3]
    ksm, ksm_error = ensure_ksm()
    logs = Path(tempfile.mkdtemp(prefix="bench-cluster-exporter-"))
    t0 = time.perf_counter()
    cluster: Cluster = start_cluster("bench-cluster-exporter", nodes=args.nodes, timeout=300)
    try:
        client = connect(cluster.kubeconfig)
        nodes = [n["metadata"]["name"] for n in client.get_json("/api/v1/nodes")["items"]]
        populate(client, nodes, args.pods, args.deployments, args.extras)
        deadline = time.monotonic() + 600
        while running(client) < args.pods * 0.99 and time.monotonic() < deadline:
            time.sleep(5)
        churn_names = [f"p{i:06d}" for i in range(100, 100 + args.churn + 1)]
        if args.churn:
            hold_kwok_off(client, churn_names)
        churn = (churn_names, args.churn, args.churn_seconds) if args.churn else None
        setup = time.perf_counter() - t0
        kubeconfig = str(cluster.kubeconfig)
        python = sys.executable

        def ours(group: ProcessGroup, port: int) -> Any:
            return group.start(
                "kubepulse",
                cluster_exporter_argv(
                    kubeconfig,
                    port,
                    free_port(),
                    ("--log-level", "warning"),
                    command=(python, "-m", "kubepulse"),
                ),
                ready_url=f"http://127.0.0.1:{port}/readyz",
                timeout=600,
            )

        def naive(group: ProcessGroup, port: int) -> Any:
            # It listens once synced; its /metrics may then not answer within the budget.
            return group.start(
                "naive",
                [python, str(HERE / "naive.py"), kubeconfig, str(port)],
                ready_port=port,
                timeout=args.naive_budget,
            )

        def kube_state_metrics(group: ProcessGroup, port: int) -> Any:
            assert ksm is not None
            return group.start(
                "ksm",
                [
                    str(ksm),
                    f"--kubeconfig={kubeconfig}",
                    "--host=127.0.0.1",
                    f"--port={port}",
                    "--telemetry-host=127.0.0.1",
                    f"--telemetry-port={free_port()}",
                    # Every kind kubepulse serves, each with KSM's default families: the two
                    # serve the same series (tests/exporters/cluster/test_ksm_parity.py).
                    "--resources=" + ",".join(DEFAULT_RESOURCES),
                    # Off by default in KSM; Prometheus asks for gzip, so compare with it on.
                    "--enable-gzip-encoding",
                ],
                ready_url=f"http://127.0.0.1:{port}/metrics",
                timeout=600,
            )

        results = [
            measure(
                "kubepulse",
                ours,
                client,
                ["p000000", "p000001", "p000002"],
                args.scrapes,
                logs,
                churn=churn,
            )
        ]
        if ksm is not None:
            results.append(
                measure(
                    "kube-state-metrics " + KSM_TAG,
                    kube_state_metrics,
                    client,
                    ["p000003", "p000004", "p000005"],
                    args.scrapes,
                    logs,
                    churn=churn,
                )
            )
        if args.naive_scrapes:
            results.append(
                measure(
                    "naive prometheus_client",
                    naive,
                    client,
                    ["p000006", "p000007", "p000008"],
                    args.naive_scrapes,
                    logs,
                    args.naive_budget,
                )
            )
    finally:
        cluster.down()

    rows = [
        [
            r["name"],
            f"> {r['timed_out']:.0f}",
            *([f"> {r['timed_out'] * 1000:.0f}"] * 6),
            "n/a",
            f"{r['rss']:.0f}",
            "n/a",
            "n/a",
        ]
        if "timed_out" in r
        else [
            r["name"],
            f"{r['sync']:.2f}",
            f"{r['p50'] * 1000:.1f}",
            f"{r['p99'] * 1000:.1f}",
            f"{r['gz_p50'] * 1000:.1f}",
            f"{r['gz_p99'] * 1000:.1f}",
            f"{r['gz_first'] * 1000:.1f}",
            f"{r['gz_p99_rest'] * 1000:.1f}",
            f"{r['rss_synced']:.0f}",
            f"{r['rss']:.0f}",
            f"{r['delay'] * 1000:.0f}",
            f"{r['size'] / 2**20:.1f} / {r['gz_size'] / 2**20:.1f}",
        ]
        for r in results
    ]
    ours_r = results[0]
    phases = [
        [
            r["name"],
            *(f"{r[k]:.0f}" for k in ("rss_synced", "rss_plain", "rss_gzip", "rss", "rss_now")),
        ]
        for r in results
        if "timed_out" not in r
    ]
    lines = [
        f"Cluster: {args.nodes} kwok nodes, {args.deployments} Deployments (replicas 0), "
        f"{args.pods} bare Running pods, {args.extras} each of Jobs (suspended), CronJobs, "
        f"Services, PVCs, ConfigMaps and Secrets; both exporters serve KSM's "
        f"{len(DEFAULT_RESOURCES)} default kinds with its default families; "
        f"setup took {setup:.0f} s. "
        f"Scrapes: {args.scrapes} "
        f"(naive: {args.naive_scrapes}) per encoding, one keep-alive client. "
        f"Load average (1, 5, 15 min) at the start: {', '.join(load_start)}; at the end: "
        f"{', '.join(Path('/proc/loadavg').read_text().split()[:3])} (2 cores).",
        "",
        table(
            [
                "exporter",
                "initial sync s",
                "p50 ms",
                "p99 ms",
                "gzip p50 ms",
                "gzip p99 ms",
                "gzip 1st ms",
                "gzip p99 after 1st ms",
                "peak RSS at sync MiB",
                "peak RSS MiB",
                "delete→gone ms",
                "body MiB plain / gzip",
            ],
            rows,
        ),
        "",
        f"Peak RSS (VmHWM, MiB) after each phase, and the RSS at the end ({args.scrapes} "
        "scrapes per encoding, then the delete loop, which scrapes plain until each deleted "
        "pod is gone):",
        "",
        table(
            [
                "exporter",
                "at sync",
                "after plain scrapes",
                "after gzip scrapes",
                "after the delete loop",
                "RSS at the end",
            ],
            phases,
        ),
        "",
    ]
    churned = [r for r in results if r.get("churn")]
    if churned:
        lines += [
            f"Churn: {args.churn} pods flip readiness (their Ready condition, through the status "
            f"subresource) every second for {args.churn_seconds:.0f} s with no scrapes, for CPU "
            "per event; then, with the churn going on, one more pod is flipped and /metrics "
            "scraped in a loop until its `kube_pod_status_ready` series shows it (the delay "
            "therefore includes one scrape, as delete→gone does). kwok is held off those pods "
            "(`kubepulse.dev/ready-after: 1h`), so only the churn flips them.",
            "",
            table(
                [
                    "exporter",
                    "events/s",
                    "flipping behind s",
                    "CPU s per 1,000 events",
                    "CPU share of a core",
                    "event→metric p50 ms",
                    "event→metric p99 ms",
                    "delay samples",
                ],
                [
                    [
                        r["name"],
                        f"{c['rate']:.0f}",
                        f"{c['behind']:.1f}",
                        f"{c['cpu_per_k']:.2f}",
                        f"{c['cpu_share']:.2f}",
                        f"{c['delay_p50'] * 1000:.0f}",
                        f"{c['delay_p99'] * 1000:.0f}",
                        str(c["delays"]),
                    ]
                    for r in churned
                    for c in [r["churn"]]
                ],
            ),
            "",
        ]
    if args.naive_scrapes and "timed_out" in results[-1]:
        budget = results[-1]["timed_out"]
        lines.append(
            f"- kubepulse vs naive: the naive exporter served no complete /metrics within "
            f"{budget:.0f} s of its start, so it is more than {budget / ours_r['p50']:.0f}x "
            f"slower plain and {budget / ours_r['gz_p50']:.0f}x gzip (target >= 50x; a lower "
            "bound: its own scrape time is not known)."
        )
    elif args.naive_scrapes:
        naive_r = results[-1]
        lines.append(
            f"- kubepulse vs naive: scrape p50 {naive_r['p50'] / ours_r['p50']:.0f}x faster plain, "
            f"{naive_r['gz_p50'] / ours_r['gz_p50']:.0f}x gzip (target >= 50x)."
        )
    if ksm is not None:
        k = results[1]
        lines.append(
            f"- kubepulse / KSM: scrape p50 ratio {ours_r['p50'] / k['p50']:.2f} plain, "
            f"{ours_r['gz_p50'] / k['gz_p50']:.3f} gzip (target <= 0.2); RSS ratio "
            f"{ours_r['rss'] / k['rss']:.2f} (target <= 1.0); sync ratio "
            f"{ours_r['sync'] / k['sync']:.2f} (target <= 1.2)."
        )
        lines.insert(
            0,
            f"Summary: RSS ratio {ours_r['rss'] / k['rss']:.2f}; sync ratio "
            f"{ours_r['sync'] / k['sync']:.2f}; RSS-at-sync ratio "
            f"{ours_r['rss_synced'] / k['rss_synced']:.2f}; scrape p50 ratio "
            f"{ours_r['p50'] / k['p50']:.2f} plain, {ours_r['gz_p50'] / k['gz_p50']:.3f} gzip.\n",
        )
        lines.append(
            f"- kube-state-metrics {KSM_TAG} was built from its Go module (wrapper module, "
            "`go build k8s.io/kube-state-metrics/v2`). Its zip and every dependency's come from "
            "the official module proxy; the checksum database has no entry (404) for "
            f"{SUMDB_EXEMPT.replace(',', ' and ')}, so only those two were exempted from it "
            "(GONOSUMDB); every other module was verified against the checksum database."
        )
    else:
        lines.append(
            f"- kube-state-metrics {KSM_TAG} NOT measured: building it failed here: "
            f"`{ksm_error}`. The KSM ratios are therefore not known."
        )
    lines.append(
        "- Delete→gone is measured by scraping in a loop, so it includes one scrape time "
        "(large for the naive exporter)."
    )
    write_results(
        "cluster_exporter", "Cluster exporter: kubepulse vs KSM vs naive", "\n".join(lines)
    )
    # The figures plot.py draws, one file per pod count.
    point = {
        "pods": args.pods,
        "deployments": args.deployments,
        "nodes": args.nodes,
        "extras": args.extras,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": [load_start, Path("/proc/loadavg").read_text().split()[:3]],
        "results": results,
    }
    (RESULTS / f"cluster_exporter_{args.pods}.json").write_text(
        json.dumps(point, indent=1, default=str) + "\n"
    )


if __name__ == "__main__":
    main()
