"""``kubepulse demo --clusters N``: the global view over several clusters, through Thanos Query.

It starts one local Kubernetes cluster per name (kwok nodes over a real control plane,
``kubepulse.lab.cluster``; cluster ``i`` gets ``nodes - i`` nodes, at least one, and a Deployment
of two pods per node, so the clusters differ), and ``kubepulse.lab.thanos``'s lab over them on
127.0.0.1: per cluster a kubepulse cluster exporter on it, a system exporter and two Prometheus
replicas with Thanos sidecars, the stack's rules loaded; a Store Gateway on a shared filesystem
bucket; Query over all of them deduplicating on ``replica``. It prints what the global view
sees: targets per cluster, each cluster's nodes and running pods against what its API server
lists, firing alerts per cluster, and the replicas' series with and without deduplication.
Everything is stopped at the end, whatever ends the run.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kubepulse.lab.manifests import deployment
from kubepulse.lab.processes import ProcessGroup
from kubepulse.lab.servers import api_get

if TYPE_CHECKING:
    from kubepulse.lab.cluster import Cluster

__all__ = ["GlobalOptions", "run_global_view"]

INTERVAL = "2s"
NAMESPACE = "demo-global"


@dataclass
class GlobalOptions:
    """What ``kubepulse demo --clusters N`` was asked to do."""

    output: Path
    clusters: int = 2
    duration: float | None = 60.0  # None: until Ctrl-C, counted once everything is up
    nodes: int = 3  # of the first cluster; one fewer per next cluster, at least 1
    cluster_name: str = "kubepulse-demo"  # clusters are CLUSTER_NAME-a, CLUSTER_NAME-b, ...


def _query(url: str, expr: str, dedup: bool = True) -> list[dict[str, Any]]:
    params = {"query": expr, "dedup": "true" if dedup else "false"}
    result: list[dict[str, Any]] = api_get(url, "/api/v1/query", params)["result"]
    return result


def _by_cluster(url: str, expr: str, dedup: bool = True) -> dict[str, float]:
    return {
        s["metric"].get("cluster", ""): float(s["value"][1])
        for s in _query(url, f"sum by (cluster) ({expr})", dedup)
    }


def _api_counts(kube: Cluster) -> dict[str, int]:
    """What the cluster's API server lists: nodes, and pods Running in every namespace."""
    nodes = kube.kubectl("get", "nodes", "-o", "name").split()
    running = kube.kubectl(
        "get", "pods", "-A", "--field-selector=status.phase=Running", "-o", "name"
    ).split()
    return {"nodes": len(nodes), "pods_running": len(running)}


def observe(
    query_url: str, clusters: list[str], kube: Mapping[str, Cluster] | None = None
) -> dict[str, Any]:
    """What Thanos Query answers now: per cluster its targets (up/total, deduplicated) and
    firing alerts, the series of the target every replica scrapes (the cluster's exporter)
    with and without deduplication on ``replica``, and with ``kube`` (name -> its local
    cluster) its nodes and running pods through Query and as its API server lists them."""
    from kubepulse.lab.thanos import SYSTEM_JOB

    up = _query(query_url, "up")
    shared = _query(query_url, f'up{{job="{SYSTEM_JOB}"}}')
    raw = _query(query_url, f'up{{job="{SYSTEM_JOB}"}}', dedup=False)
    firing = _query(query_url, 'ALERTS{alertstate="firing"}')
    nodes = _by_cluster(query_url, "kube_node_info")
    nodes_raw = _by_cluster(query_url, "kube_node_info", dedup=False)
    running = _by_cluster(query_url, 'kube_pod_status_phase{phase="Running"}')

    def of(series: list[dict[str, Any]], cluster: str) -> list[dict[str, str]]:
        return [s["metric"] for s in series if s["metric"].get("cluster") == cluster]

    per_cluster: dict[str, Any] = {}
    for cluster in clusters:
        mine = [s for s in up if s["metric"].get("cluster") == cluster]
        per_cluster[cluster] = {
            "targets": len(mine),
            "targets_up": sum(s["value"][1] == "1" for s in mine),
            "exporter_series": len(of(shared, cluster)),
            "exporter_series_without_dedup": len(of(raw, cluster)),
            "replicas": sorted({m.get("replica", "") for m in of(raw, cluster)}),
            "alerts_firing": sorted({m.get("alertname", "?") for m in of(firing, cluster)}),
        }
        if kube and cluster in kube:
            per_cluster[cluster].update(
                nodes=int(nodes.get(cluster, 0)),
                nodes_without_dedup=int(nodes_raw.get(cluster, 0)),
                pods_running=int(running.get(cluster, 0)),
                api=_api_counts(kube[cluster]),
            )
    return {
        "clusters": per_cluster,
        "up_series": len(up),
        "replica_label_left": any("replica" in s["metric"] for s in up),
    }


def checks(seen: dict[str, Any], replicas: int) -> dict[str, bool]:
    """What a healthy global view shows: every name is a promise of the README."""
    clusters = seen["clusters"].values()
    return {
        "every cluster in the global view": bool(clusters) and all(c["targets"] for c in clusters),
        "every target up": all(c["targets_up"] == c["targets"] for c in clusters),
        f"{replicas} replicas per cluster deduplicated into one series": not seen[
            "replica_label_left"
        ]
        and all(
            (c["exporter_series"], c["exporter_series_without_dedup"], len(c["replicas"]))
            == (1, replicas, replicas)
            for c in clusters
        ),
        "Watchdog firing in every cluster": all("Watchdog" in c["alerts_firing"] for c in clusters),
        "nodes and running pods of every cluster counted once, as its API server lists them": all(
            "api" in c
            and (c["nodes"], c["pods_running"]) == (c["api"]["nodes"], c["api"]["pods_running"])
            and c["nodes_without_dedup"] == replicas * c["api"]["nodes"]
            for c in clusters
        ),
    }


def summary_lines(data: dict[str, Any]) -> list[str]:
    lines = ["", "kubepulse demo --clusters: the global view through Thanos Query", ""]
    head = (
        f"  {'cluster':8} {'targets up':>10}  {'nodes':>5} {'pods':>5}  {'exporter up series':18}"
    )
    lines.append(f"{head}  alerts firing")
    for name, c in data["seen"]["clusters"].items():
        dedup = f"{c['exporter_series']} ({c['exporter_series_without_dedup']} raw)"
        alerts = ", ".join(c["alerts_firing"]) or "-"
        kube = f"{c.get('nodes', '-'):>5} {c.get('pods_running', '-'):>5}"
        targets = f"{c['targets_up']:>5}/{c['targets']:<4}"
        lines.append(f"  {name:8} {targets}  {kube}  {dedup:18}  {alerts}")
    lines.append("")
    lines.append("URLs:")
    for name, url in data["urls"].items():
        lines.append(f"  {name:22} {url}")
    lines.append("")
    for name, ok in data["checks"].items():
        lines.append(f"  [{'ok' if ok else 'FAILED'}] {name}")
    return lines


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _workload(replicas: int) -> str:
    """A Deployment of ``replicas`` pods for a cluster's view to count."""
    container = {"name": "web", "image": "kubepulse/web:stand-in"}
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        deployment("web", NAMESPACE, [container], selector={"app": "web"}, replicas=replicas),
    ]
    return yaml.safe_dump_all(objects)


def _start_clusters(
    options: GlobalOptions, names: list[str], stack: ExitStack, say: Callable[[str], None]
) -> dict[str, Cluster]:
    """Start one local cluster per name (removed when ``stack`` closes), each with its
    Deployment rolled out."""
    from kubepulse.lab.cluster import start_cluster

    kube: dict[str, Cluster] = {}
    for i, name in enumerate(names):
        nodes = max(1, options.nodes - i)
        full = f"{options.cluster_name}-{name}"
        say(f"starting cluster {name} ({full}: {nodes} kwok nodes over a real control plane) ...")
        kube[name] = stack.enter_context(start_cluster(full, nodes=nodes))
        kube[name].kubectl("apply", "-f", "-", input=_workload(2 * nodes))
    for cluster in kube.values():
        cluster.kubectl("-n", NAMESPACE, "rollout", "status", "deploy/web", "--timeout=120s")
    return kube


def run_global_view(options: GlobalOptions, echo: Callable[[str], None]) -> int:
    """Run the global-view demo; SIGTERM ends it like Ctrl-C. Returns the exit code: 0 when
    every check passed, 1 when one failed or a step did, 130 when interrupted before it was up."""
    from kubepulse.lab.thanos import REPLICAS, start_thanos_lab

    t0 = time.monotonic()

    def say(text: str) -> None:
        echo(f"[{time.monotonic() - t0:6.1f} s] {text}")

    previous = signal.signal(signal.SIGTERM, _interrupt)
    out = options.output
    out.mkdir(parents=True, exist_ok=True)
    # A previous run's TSDBs and bucket would show its series (other ports) in this one's view.
    shutil.rmtree(out / "lab", ignore_errors=True)
    names = [chr(ord("a") + i) for i in range(options.clusters)]
    code = 0
    try:
        with ExitStack() as clusters, ProcessGroup(out / "logs") as group:
            try:
                kube = _start_clusters(options, names, clusters, say)
                say(
                    f"starting, per cluster, its exporters and {len(REPLICAS)} Prometheus "
                    "replicas with Thanos sidecars; a Store Gateway and Query; on 127.0.0.1 ..."
                )
                lab = start_thanos_lab(
                    group,
                    out / "lab",
                    clusters=names,
                    interval=INTERVAL,
                    rules=True,
                    kubeconfigs={name: k.kubeconfig for name, k in kube.items()},
                )
            except KeyboardInterrupt:
                say("interrupted")
                return 130
            query = lab.query.http_url
            say(f"Thanos Query at {query}")
            up_at = time.monotonic()
            deadline = None if options.duration is None else up_at + options.duration
            seen: dict[str, Any] = {}
            ok: dict[str, bool] = {}
            try:
                last = 0.0
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(1)
                    if time.monotonic() - last >= 10:
                        last = time.monotonic()
                        seen = observe(query, names, kube)
                        ok = checks(seen, len(REPLICAS))
                        say(
                            f"status: {sum(ok.values())}/{len(ok)} checks pass, "
                            f"{seen['up_series']} up series through Query"
                        )
            except KeyboardInterrupt:
                say("interrupted: summarising, then tearing down")
            seen = observe(query, names, kube)
            ok = checks(seen, len(REPLICAS))
            urls = {"Thanos Query": query, "Thanos Store": lab.store.http_url}
            for name, local in kube.items():
                urls[f"Kubernetes API {name}"] = local.server
            for cluster, replicas in lab.replicas.items():
                for replica, rep in replicas.items():
                    urls[f"Prometheus {cluster}/{replica}"] = rep.prometheus_url
            data = {"seen": seen, "checks": ok, "urls": urls, "bucket": str(lab.bucket)}
            (out / "summary.json").write_text(json.dumps(data, indent=2) + "\n")
            for line in summary_lines(data):
                echo(line)
            code = 0 if all(ok.values()) else 1
            say("tearing down ...")
    except (RuntimeError, OSError, TimeoutError) as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    say("torn down")
    return code
