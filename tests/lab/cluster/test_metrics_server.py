"""metrics.k8s.io from a real metrics-server scraping kwok's simulated kubelet endpoints."""

from __future__ import annotations

import json
import time

import pytest

from kubepulse.lab.cluster import Cluster, ClusterError


def cpu_millicores(quantity: str) -> float:
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity[-1] in units:
        return float(quantity[:-1]) * units[quantity[-1]]
    return float(quantity) * 1000


@pytest.mark.cluster
@pytest.mark.slow
def test_pod_cpu_usage_from_annotation(metrics_cluster: Cluster) -> None:
    """A pod annotated with 250m of CPU shows about 250m in metrics.k8s.io (first metrics take
    up to a minute: two kwok samples, 15 s metrics-server resolution)."""
    metrics_cluster.kubectl(
        "run",
        "busy",
        "--image=registry.invalid/busy:1",
        "--annotations=kwok.x-k8s.io/usage-cpu=250m",
        "--annotations=kwok.x-k8s.io/usage-memory=64Mi",
    )
    deadline = time.monotonic() + 150
    while True:
        try:
            raw = metrics_cluster.kubectl(
                "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"
            )
            items = json.loads(raw)["items"]
        except ClusterError:
            items = []
        if items:
            break
        assert time.monotonic() < deadline, "no pod metrics after 150 s"
        time.sleep(2)
    (pod,) = items
    assert pod["metadata"]["name"] == "busy"
    usage = pod["containers"][0]["usage"]
    assert 200 <= cpu_millicores(usage["cpu"]) <= 300, usage
    node = json.loads(metrics_cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"))
    assert [n["metadata"]["name"] for n in node["items"]] == ["node-000000"]
