"""The Kubernetes dashboards against the real stack: every panel returns data, or says why not.

Real processes only, on loopback: the kwok test cluster (whose nodes serve kubelet and cAdvisor
endpoints through kwok's Metric resources, kubepulse.lab.cluster.kubelet_metrics), the kubepulse
cluster exporter, and the node_exporter, Alertmanager and Prometheus releases the Helm chart
deploys (built from their Go modules), Prometheus scraping them all,
the API server included (over TLS with the cluster's admin certificate). The cluster runs a
Deployment with requests, limits, CPU throttling and network traffic, a StatefulSet, a Job, a
CronJob, an HPA at its maximum and a pod on a bound PersistentVolumeClaim, so every view has
something to show (``k8s_stack``, shared with the two-cluster Thanos test). The only stand-in is
the webhook receiver (a pager).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_stack import (
    CPU_PER_WEB_CONTAINER,
    assert_all_have_data,
    k8s_stack,
    panel_queries_of,
    variable_queries_of,
)

from kubepulse.lab.cluster import Cluster
from kubepulse.lab.processes import LOOPBACK, ProcessGroup
from kubepulse.lab.receiver import WebhookReceiver
from kubepulse.lab.servers import STAND_INS, api_get, query, wait_until
from kubepulse.stack import deploy_dir
from kubepulse.stack.dashboards import build_dashboards, panel_queries, substitute
from kubepulse.stack.dashboards_kubernetes import KUBERNETES_DASHBOARDS

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

KUBEPULSE = str(Path(sys.executable).parent / "kubepulse")
# Panels that cannot have data on the local stack, with the reason. None today: kwok serves the
# kubelet and cAdvisor series, and the workloads below give every view its objects.
NO_DATA_LOCALLY: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def stack(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("dashboards-e2e")
    receiver = WebhookReceiver()
    try:
        with (
            ProcessGroup(work / "logs") as group,
            k8s_stack(group, cluster, work, receiver.url) as running,
        ):
            yield {
                "prometheus": running.url,
                "namespace": running.namespace,
                "work": work,
                "cluster": cluster,
            }
    finally:
        receiver.close()


def test_kubelet_and_cadvisor_targets_are_up_on_loopback(stack: dict[str, Any]) -> None:
    """One kubelet and one cAdvisor target per node, each at the node's loopback kubelet port
    and on the path kwok serves that node on; the annotated CPU reaches Prometheus exactly."""
    prom, cluster = stack["prometheus"], stack["cluster"]
    nodes = sorted(cluster.kubectl("get", "nodes", "-o", "name").replace("node/", "").split())
    assert len(nodes) == 3

    def up(job: str) -> list[str] | None:
        result = query(prom, f'up{{job="{job}"}} == 1')
        found = sorted(s["metric"]["node"] for s in result)
        return found if found == nodes else None

    for job in ("kubernetes-nodes", "kubernetes-cadvisor"):
        wait_until(lambda job=job: up(job), timeout=60, what=f"{job} up on every node")
    suffix = {"kubernetes-nodes": "/metrics", "kubernetes-cadvisor": "/metrics/cadvisor"}
    targets = api_get(prom, "/api/v1/targets")["activeTargets"]
    kubelets = [t for t in targets if t["scrapePool"] in suffix]
    assert len(kubelets) == 2 * len(nodes)
    for target in kubelets:
        node = target["labels"]["node"]
        path = f"/metrics/nodes/{node}{suffix[target['scrapePool']]}"
        assert target["scrapeUrl"] == f"http://{LOOPBACK}:{cluster.kubelet_port}{path}"
        assert target["discoveredLabels"]["__meta_kubernetes_node_address_InternalIP"] == LOOPBACK
    # Each web container uses the annotated 200m: cAdvisor's counter grows at 0.2 cores.
    web = f'namespace="{stack["namespace"]}", pod=~"web-.*", container="web"'
    full_window(prom, f"container_cpu_usage_seconds_total{{{web}}}", 2)
    raw = api_get(
        prom, "/api/v1/query", {"query": f"container_cpu_usage_seconds_total{{{web}}}[20s]"}
    )["result"]
    assert len(raw) == 2
    for series in raw:
        (t0, v0), (t1, v1) = series["values"][0], series["values"][-1]
        # The counter's slope between the scraped samples themselves (no extrapolation).
        assert (float(v1) - float(v0)) / (t1 - t0) == pytest.approx(CPU_PER_WEB_CONTAINER, rel=0.05)


def full_window(prom: str, selector: str, series: int) -> None:
    """Wait until each of ``series`` series of ``selector`` has 20 s of samples (1 s scrapes),
    so a rate over 20 s is not cut short by a young series."""
    expr = f"count_over_time({selector}[20s]) >= 18"
    wait_until(lambda: len(query(prom, expr)) == series, timeout=90, what=expr)


def has_values(prom: str, expr: str) -> bool:
    """Whether ``expr`` gives at least one finite value (NaN draws nothing in Grafana)."""
    return any(math.isfinite(float(s["value"][1])) for s in query(prom, expr))


def test_every_kubernetes_dashboard_panel_returns_data(stack: dict[str, Any]) -> None:
    prom = stack["prometheus"]
    boards = {
        name: board for name, board in build_dashboards().items() if name in KUBERNETES_DASHBOARDS
    }
    assert len(boards) == len(KUBERNETES_DASHBOARDS) == 13
    pending = {p for p in panel_queries_of(boards) if p[:2] not in NO_DATA_LOCALLY}
    assert len(pending) == 150
    variables = variable_queries_of(boards)
    assert len(variables) == 28
    # Rates need two scrapes; the Job must complete and the alert be notified: allow a minute.
    assert_all_have_data(pending, lambda e: has_values(prom, e), timeout=90, interval=2)
    empty = sorted((n, v) for n, v, selector in variables if not query(prom, f"count({selector})"))
    assert not empty, empty


def test_the_workload_view_maps_pods_to_their_deployment_and_statefulset(
    stack: dict[str, Any],
) -> None:
    """CPU by workload sums each workload's containers: web's two pods give 0.4 cores, the
    StatefulSet's one 0.2; Deployments show by name, never as their ReplicaSets."""
    board = build_dashboards()["k8s-compute-workload.json"]
    (expr, _) = [e for t, e in panel_queries(board) if t == "CPU by workload"]
    values = {"namespace": stack["namespace"]}
    usage = substitute(expr, values).replace("[5m]", "[20s]")

    def by_workload() -> dict[tuple[str, str], float] | None:
        got = {
            (s["metric"]["workload_type"], s["metric"]["workload"]): float(s["value"][1])
            for s in query(stack["prometheus"], usage)
        }
        return got if len(got) == 4 + len(STAND_INS) else None

    mine = f'namespace="{stack["namespace"]}", pod=~"(web|db|cache)-.*", container!=""'
    selector = f"container_cpu_usage_seconds_total{{{mine}}}"
    full_window(stack["prometheus"], selector, 4)
    got = wait_until(by_workload, timeout=60, what="every workload of the namespace")
    assert set(got) == {
        ("Deployment", "web"),
        ("Deployment", "db"),
        ("StatefulSet", "cache"),
        ("Job", "report"),
        *(("Deployment", name) for _, name, _ in STAND_INS),
    }
    # rate() over 20 s of 1 s scrapes: kwok drops a sample when a node's two paths are scraped
    # at the same instant, and a missing edge sample cuts the extrapolation by up to 15%. A
    # wrong mapping gives 0, double, or no series at all.
    assert got[("Deployment", "web")] == pytest.approx(2 * CPU_PER_WEB_CONTAINER, rel=0.2)
    assert got[("StatefulSet", "cache")] == pytest.approx(CPU_PER_WEB_CONTAINER, rel=0.2)


def test_a_kubernetes_dashboard_renders_to_png_with_data(stack: dict[str, Any]) -> None:
    """``kubepulse render-dashboard`` draws the kubelet and workload views from this Prometheus:
    every panel a PNG with at least one series."""
    out, report = stack["work"] / "png", stack["work"] / "panels.json"
    names = ("k8s-kubelet", "k8s-compute-workload")
    proc = subprocess.run(
        [
            KUBEPULSE,
            "render-dashboard",
            *(str(deploy_dir() / "grafana" / "dashboards" / f"{n}.json") for n in names),
            *("--prometheus", stack["prometheus"], "--out", str(out)),
            *("--from", "now-2m", "--scrape-interval", "1s", "--json", str(report)),
            *("--var", f"namespace={stack['namespace']}"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    panels = json.loads(report.read_text())
    for name in names:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        drawn = panels[name]
        expected = sum(
            1 for p in build_dashboards()[f"{name}.json"]["panels"] if p["type"] != "row"
        )
        assert len(drawn) == expected
        empty = [p["title"] for p in drawn if p["series"] == 0 or p["errors"]]
        assert not empty, (name, empty)
        for panel in drawn:
            assert Path(panel["png"]).read_bytes()[:4] == b"\x89PNG"
