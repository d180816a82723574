"""The local test cluster: build time, warm start, and 1,000 pods reaching Ready.

- Warm ``cluster up`` (binaries cached) to API ready with 3 Ready nodes, against plain
  ``kwokctl create cluster`` with kwok's default stages and no node wait as the baseline.
  Target: < 30 s.
- A 1,000-replica Deployment on 20 kwok nodes, from create to 1,000 Ready pods (through the real
  controller manager and scheduler), with kubepulse's two-step stages (Running, then Ready) against
  kwok's default one-step stages as the baseline. Target: < 60 s.
- Cold build: ``--cold`` builds every binary through ``ensure_binaries`` with empty temporary
  ``XDG_CACHE_HOME``, ``GOCACHE`` and ``GOMODCACHE`` (modules come from the proxy) and stores the
  step times in ``cold-build.json`` next to this file; every run reports the stored times.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes import client

from common import table, write_results
from kubepulse.lab.cluster import Cluster, start_cluster

HERE = Path(__file__).resolve().parent
COLD_RECORD = HERE / "cold-build.json"
STARTS = 3
PODS = 1_000
NODES = 20


def cold_build() -> None:
    """Build everything from nothing and store how long each step took."""
    with tempfile.TemporaryDirectory(prefix="kubepulse-cold-") as tmp:
        env = {
            **os.environ,
            "XDG_CACHE_HOME": f"{tmp}/xdg",
            "GOCACHE": f"{tmp}/gocache",
            "GOMODCACHE": f"{tmp}/gomod",
            "KUBEPULSE_K8S_BIN": f"{tmp}/none",
            # Only our own build counts: nothing found on PATH may stand in for it.
            "PATH": os.pathsep.join(
                [
                    str(Path(sys.executable).parent),
                    str(Path(shutil.which("go") or "go").parent),
                    "/usr/bin",
                    "/bin",
                ]
            ),
        }
        started = time.monotonic()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "kubepulse"),
                "cluster",
                "build",
                "--metrics-server",
            ],
            env=env,
            check=True,
        )
        wall = time.monotonic() - started
        times = next(Path(f"{tmp}/xdg/kubepulse").glob("k8s-*/build-times.json"))
        record = json.loads(times.read_text())
        record["wall_seconds"] = round(wall, 1)
        record["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        record["source"] = "bench.py --cold: one `kubepulse cluster build --metrics-server`"
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
    COLD_RECORD.write_text(json.dumps(record, indent=1) + "\n")


def timed_start(name: str, **kwargs: object) -> tuple[float, Cluster]:
    started = time.monotonic()
    cluster = start_cluster(name, **kwargs)  # type: ignore[arg-type]
    return time.monotonic() - started, cluster


def warm_starts() -> tuple[list[float], list[float]]:
    ours, plain = [], []
    for i in range(STARTS):
        seconds, cluster = timed_start(f"bench-up-{i}", nodes=3)
        cluster.down()
        ours.append(seconds)
        seconds, cluster = timed_start(f"bench-plain-{i}", nodes=0, stages="")
        cluster.down()
        plain.append(seconds)
    return ours, plain


def pods_ready(stages: str | None) -> float:
    """Seconds from creating a 1,000-replica Deployment until all its pods are Ready."""
    kwargs = {} if stages is None else {"stages": stages}
    _, cluster = timed_start("bench-pods", nodes=NODES, **kwargs)
    try:
        manifest = json.dumps(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "many", "namespace": "default"},
                "spec": {
                    "replicas": PODS,
                    "selector": {"matchLabels": {"app": "many"}},
                    "template": {
                        "metadata": {"labels": {"app": "many"}},
                        "spec": {"containers": [{"name": "app", "image": "registry.invalid/a:1"}]},
                    },
                },
            }
        )
        api = cluster.api_client()
        apps = client.AppsV1Api(api)
        started = time.monotonic()
        cluster.kubectl("create", "-f", "-", input=manifest)
        while True:
            ready = apps.read_namespaced_deployment_status("many", "default").status.ready_replicas
            if ready == PODS:
                elapsed = time.monotonic() - started
                break
            if time.monotonic() - started > 300:
                raise TimeoutError(f"only {ready or 0}/{PODS} pods Ready after 300 s")
            time.sleep(0.25)
        api.close()
        # The Deployment's count comes from the ReplicaSet; check the pods themselves too.
        lines = cluster.kubectl("get", "pods", "--no-headers").splitlines()
        assert sum(1 for line in lines if line.split()[1] == "1/1") == PODS
        return elapsed
    finally:
        cluster.down()


def main() -> None:
    if "--cold" in sys.argv:
        cold_build()
    load_before = os.getloadavg()[0]
    ours, plain = warm_starts()
    pods_ours = pods_ready(None)
    try:
        pods_plain: float | None = pods_ready("")
    except TimeoutError:
        pods_plain = None

    rows = [
        [
            "warm `cluster up`, 3 Ready nodes (median of 3)",
            f"{statistics.median(ours):.1f} s",
            f"{statistics.median(plain):.1f} s",
            f"{statistics.median(ours) / statistics.median(plain):.2f}x",
            "< 30 s",
            "yes" if max(ours) < 30 else "NO",
        ],
        [
            f"{PODS:,} pods Ready on {NODES} nodes",
            f"{pods_ours:.1f} s",
            f"{pods_plain:.1f} s" if pods_plain else "not all Ready in 300 s",
            f"{pods_ours / pods_plain:.2f}x" if pods_plain else "-",
            "< 60 s",
            "yes" if pods_ours < 60 else "NO",
        ],
    ]
    body = [
        f"1-minute load average on the 2 cores: {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (other work shares this machine).",
        "",
        "Baselines, same run: plain `kwokctl create cluster` (kwok's default stages, no node"
        " wait) for the start; kwok's default one-step pod stages for the 1,000 pods.",
        "",
        table(["measure", "kubepulse", "baseline", "ratio", "target", "met"], rows),
        "",
        f"Warm starts, each: {', '.join(f'{s:.1f}' for s in ours)} s "
        f"(baseline {', '.join(f'{s:.1f}' for s in plain)} s).",
    ]
    if COLD_RECORD.exists():
        cold = json.loads(COLD_RECORD.read_text())
        steps = [[name, f"{sec:.0f} s"] for name, sec in cold["seconds"].items()]
        steps.append(["**total (wall)**", f"**{cold['wall_seconds'] / 60:.1f} min**"])
        body += [
            "",
            f"## Cold build (empty Go caches, modules from the proxy; measured {cold['measured']})",
            "",
            f"Source: {cold['source']}",
            "",
            table(["binary", "build time"], steps),
        ]
    write_results("cluster", "Local test cluster", "\n".join(body))


if __name__ == "__main__":
    main()
