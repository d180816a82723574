"""Pod recovery monitoring: kubepulse's watch-based pool against a krkn-lib-like poller.

1,000 pods (20 namespaces x 50, kwok makes each Ready a configured delay after scheduling: 1.0,
1.5, 2.0 or 2.5 s by namespace), 20 monitors in one pool (one per namespace), 10% of the pods
killed at once. Each contender runs in its own process (benchmarks/pod_monitor/runner.py) so its
HTTP requests (counted at the urllib3 pool: every request, of any kind) and CPU seconds are its
own. Timing error two ways: against an independent watch's receipt of each Ready event, and
|pod_readiness_time - configured delay| (which also holds the cluster's own latency).
Targets: requests independent of pod count and duration (O(monitors)), timing error p95 <= 250 ms,
at least 10x fewer requests than polling.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import table, write_results
from kubepulse.kube.client import connect
from kubepulse.kube.informer import Informer
from kubepulse.lab.cluster import start_cluster
from kubepulse.podmonitor._kube import PODS, KubeApi
from kubepulse.podmonitor.monitor import DEFAULT_SETTLE_SECONDS, is_ready

HERE = Path(__file__).resolve().parent
NAMESPACES = [f"bench-{i:02d}" for i in range(20)]
REPLICAS = 50
KILL_FRACTION = 0.10
DELAYS = (1.0, 1.5, 2.0, 2.5)
TIMEOUT = 60.0
SETTLE = DEFAULT_SETTLE_SECONDS


def delay_of(namespace: str) -> float:
    return DELAYS[NAMESPACES.index(namespace) % len(DELAYS)]


def manifests(replicas: int) -> str:
    docs = []
    for ns in NAMESPACES:
        docs.append(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
        docs.append(
            f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: bench, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: bench}}}}
  template:
    metadata:
      labels: {{app: bench}}
      annotations: {{kubepulse.dev/ready-after: "{delay_of(ns)}s"}}
    spec:
      tolerations: [{{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}}]
      containers: [{{name: app, image: bench}}]
"""
        )
    return "---\n".join(docs)


def wait_ready(api: KubeApi, total: int, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        pods, _ = api.list_pods(None, "app=bench")
        ready = sum(1 for p in pods if is_ready(p) and "deletionTimestamp" not in p["metadata"])
        if ready == total and len(pods) == total:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{ready}/{total} bench pods Ready after {timeout} s")
        print(f"  {ready}/{total} bench pods Ready", file=sys.stderr, flush=True)
        time.sleep(2)


class ReferenceWatch:
    """An independent watch of every bench pod: when each pod was first seen, first Running
    (kwok's ready-after delay starts there) and first Ready (wall-clock receipt times), the
    yardsticks for when a monitor noticed Ready."""

    def __init__(self, kubeconfig: Path) -> None:
        self.added: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.informer = Informer(
            connect(kubeconfig), PODS, self, label_selector="app=bench", clock=time.time
        ).start()
        self.informer.synced.wait()

    def listed(self, objects: Sequence[dict[str, Any]], gone: object, received: float) -> None:
        pass

    def changed(self, kind: str, pod: dict[str, Any], received: float) -> None:
        name = pod["metadata"]["name"]
        self.added.setdefault(name, received)
        if (pod.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(name, received)
        if is_ready(pod):
            self.ready.setdefault(name, received)

    def stop(self) -> None:
        self.informer.stop()


def run(
    mode: str, kubeconfig: Path, api: KubeApi, kill: int, timeout: float, settle: float
) -> dict[str, Any]:
    reference = ReferenceWatch(kubeconfig) if kill else None
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "runner.py"),
            mode,
            str(kubeconfig),
            str(timeout),
            str(settle),
            *NAMESPACES,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "WATCHING":
        raise RuntimeError(f"{mode} runner did not start: {line!r}")
    if kill:
        pods, _ = api.list_pods(None, "app=bench")
        victims = random.Random(kill).sample(
            [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods], kill
        )
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda v: api.delete_pod(*v), victims))
    out: dict[str, Any] = json.loads(proc.stdout.read())
    proc.wait()
    if reference is not None:
        reference.stop()
        out["reference_ready"] = reference.ready
        out["reference_running"] = reference.running
    return out


def p50_p95(values: list[float]) -> tuple[str, str]:
    if len(values) < 2:
        return "–", "–"
    return f"{statistics.median(values):.0f}", f"{statistics.quantiles(values, n=20)[18]:.0f}"


def timing_errors(out: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Per recovered pod, in ms: |monitor's Ready time - the reference watch's|, and |monitor's
    Ready time - (the reference watch's Running time + the kwok-configured delay)|."""
    recovered = out["status"]["recovered"]
    reference = out.get("reference_ready", {})
    running = out.get("reference_running", {})
    vs_reference = [
        abs(p["ready_at"] - reference[p["replacement_name"]]) * 1000
        for p in recovered
        if p["replacement_name"] in reference
    ]
    vs_delay = [
        abs(p["ready_at"] - running[p["replacement_name"]] - delay_of(p["namespace"])) * 1000
        for p in recovered
        if p["replacement_name"] in running
    ]
    return vs_reference, vs_delay


def summarize(label: str, mode: str, pods: int, out: dict[str, Any], kill: int) -> list[object]:
    status = out["status"]
    recovered = status["recovered"]
    vs_reference, vs_delay = timing_errors(out)
    return [
        label,
        mode,
        pods,
        kill,
        f"{out['wall_seconds']:.1f}",
        out["requests"],
        f"{out['cpu_seconds']:.2f}",
        len(recovered),
        len(status["unrecovered"]),
        0 if status["error"] is None else len(status["error"].split("\n")),
        *p50_p95(vs_reference),
        *p50_p95(vs_delay),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--replicas",
        type=int,
        default=REPLICAS,
        help=f"pods per namespace (default {REPLICAS}, the documented size; any other size "
        "prints its table without writing benchmarks/results/pod_monitor.md)",
    )
    replicas = parser.parse_args().replicas
    if replicas < 10:
        parser.error("--replicas: at least 10 (10% of each namespace is killed)")
    # kwok nodes take 110 pods each, like a default kubelet.
    cluster = start_cluster(name="kubepulse-bench-podmon", nodes=10)
    try:
        api = KubeApi(cluster.kubeconfig)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(manifests(replicas))
            f.flush()
            cluster.kubectl("apply", "-f", f.name, timeout=300)
        total = replicas * len(NAMESPACES)
        wait_ready(api, total)
        kill = int(total * KILL_FRACTION)
        rows = []
        watch = run("watch", cluster.kubeconfig, api, kill, TIMEOUT, SETTLE)
        rows.append(summarize("kill 10%", "watch (kubepulse)", total, watch, kill))
        wait_ready(api, total)
        watch_list = run("watch-list", cluster.kubeconfig, api, kill, TIMEOUT, SETTLE)
        label = "list + watch (kubepulse, 1.33)"
        rows.append(summarize("kill 10%", label, total, watch_list, kill))
        wait_ready(api, total)
        poll = run("poll-raw", cluster.kubeconfig, api, kill, TIMEOUT, SETTLE)
        rows.append(summarize("kill 10%", "poll 1 s, raw JSON", total, poll, kill))
        wait_ready(api, total)
        poll_models = run("poll", cluster.kubeconfig, api, kill, TIMEOUT, SETTLE)
        rows.append(summarize("kill 10%", "poll 1 s, models (krkn-lib)", total, poll_models, kill))
        wait_ready(api, total)
        for seconds in (10.0, 30.0):
            idle = run("watch", cluster.kubeconfig, api, 0, seconds, SETTLE)
            rows.append(summarize(f"idle {seconds:g} s", "watch (kubepulse)", total, idle, 0))
        for seconds in (10.0, 30.0):
            idle_poll = run("poll-raw", cluster.kubeconfig, api, 0, seconds, SETTLE)
            rows.append(summarize(f"idle {seconds:g} s", "poll 1 s, raw JSON", total, idle_poll, 0))
        small = 10
        for ns in NAMESPACES:
            cluster.kubectl(
                "-n", ns, "scale", "deployment/bench", f"--replicas={small}", timeout=120
            )
        wait_ready(api, small * len(NAMESPACES))
        idle_small = run("watch", cluster.kubeconfig, api, 0, 10.0, SETTLE)
        rows.append(
            summarize("idle 10 s", "watch (kubepulse)", small * len(NAMESPACES), idle_small, 0)
        )
    finally:
        cluster.down()
    ratio = poll["requests"] / max(1, watch["requests"])
    ratio_models = poll_models["requests"] / max(1, watch["requests"])
    ratio_list = poll["requests"] / max(1, watch_list["requests"])
    vs_reference, vs_delay = timing_errors(watch)
    p95_reference = statistics.quantiles(vs_reference, n=20)[18]
    p95_delay = statistics.quantiles(vs_delay, n=20)[18]

    def verdict(ok: bool) -> str:
        return "met" if ok else "missed"

    headers = [
        "scenario",
        "monitor",
        "pods",
        "killed",
        "wall s",
        "API requests",
        "CPU s",
        "recovered",
        "unrecovered",
        "errors",
        "Ready-time error p50 ms",
        "Ready-time error p95 ms",
        "Ready - (Running + kwok delay) p50 ms",
        "Ready - (Running + kwok delay) p95 ms",
    ]
    body = (
        f"20 monitors in one pool, one per namespace; kill 10% at once; timeout {TIMEOUT:g} s, "
        f"settle {SETTLE:g} s. Each contender runs alone, in its own process; requests are "
        "counted at its urllib3 pool (every HTTP request), CPU is its process's user+system "
        "time after imports.\n\n"
        "- *Ready-time error*: |when the monitor says the replacement turned Ready - when an "
        "independent watch of all bench pods, in the benchmark process, received that Ready "
        "event|: the monitor's own timing error.\n"
        "- *Ready - (Running + kwok delay)*: |when the monitor says the replacement turned "
        "Ready - (when the independent watch saw it Running, where kwok's ready-after delay "
        "starts, + that delay: 1.0/1.5/2.0/2.5 s)|. This also holds kwok's own latency in "
        "applying the Ready stage to 100 replacements at once. (`pod_readiness_time` itself "
        "runs from the replacement's creation, so it also holds scheduling.)\n\n"
        + table(headers, rows)
        + "\n\nLoad average at the end (1/5/15 min, 2 cores, other work running): "
        + "/".join(f"{x:.1f}" for x in os.getloadavg())
        + "\n\nTargets (watch pool, kill run):\n\n"
        f"- Timing error p95 <= 250 ms: {p95_reference:.0f} ms against the independent watch "
        f"({verdict(p95_reference <= 250)}); {p95_delay:.0f} ms against Running + the kwok "
        f"delay ({verdict(p95_delay <= 250)}).\n"
        f"- >= 10x fewer requests than 1 s polling: {ratio:.1f}x the poller that lists every "
        f"second ({verdict(ratio >= 10)}); {ratio_models:.1f}x the krkn-lib-like poller "
        f"({verdict(ratio_models >= 10)}), which cannot keep its 1 s schedule "
        f"({poll_models['requests']} lists in {poll_models['wall_seconds']:.1f} s for 20 "
        "monitors).\n"
        "- Requests independent of pod count and duration: see the idle rows."
        + f"\n\nRequests, kill run: polling made {ratio:.1f}x (raw JSON) and "
        f"{ratio_models:.1f}x (models) the watch pool's requests (target >= 10x); "
        f"{ratio_list:.1f}x those of the pool on a server without streamed lists. Each monitor "
        "makes one request: its snapshot is streamed at the start of its watch "
        "(sendInitialEvents, on by default in Kubernetes 1.34), and the settle period ends that "
        "watch rather than opening another. Without streamed lists (1.33) it is a list and a "
        "watch. A poller that kept its 1 s schedule would make 20 x duration requests; the "
        "model-based one falls far behind it because decoding into models saturates the CPU. "
        "The idle rows show the watch pool's request count flat as the duration triples and as "
        "the pod count drops five-fold, while polling grows with time."
    )
    if replicas != REPLICAS:
        print(body)
        print(f"\n(--replicas {replicas}: not the documented size, results file left alone)")
        return
    write_results("pod_monitor", "Pod recovery monitor: watch vs 1 s polling", body)


if __name__ == "__main__":
    main()
