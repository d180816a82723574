"""CPU by label against a real metrics API: metrics-server (built from its Go module) scraping
kwok's simulated kubelet resource metrics, which report each container's CPU usage from the
pod's ``kwok.x-k8s.io/usage-cpu`` annotation."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_cluster_exporter import apply, scrape, select, value, wait_until

from kubepulse.exporters.cluster.exporter import ClusterExporter, Options
from kubepulse.exposition.server import ExporterServer
from kubepulse.kube.client import connect
from kubepulse.lab.cluster import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

FAMILY = "kubepulse_pod_cpu_usage_cores_by_label"
# kwok integrates the annotated rate into each container's cumulative CPU counter and
# metrics-server divides the counter's increase by the time between two kubelet samples (15 s),
# so the rate equals the annotation up to the jitter between a sample's timestamp and the moment
# its counter was read: measured here 249,994,904n for 250m (0.002 %). 2 % allows 300 ms of
# jitter on a loaded 2-core machine and still tells every wrong sum apart: the smallest mistake
# the test can catch (a missing 2 x 100m pod, or web-1 counted twice) is >= 20 % of its group.
REL_TOLERANCE = 0.02


def _pod(name: str, labels: dict[str, str], cpu: str, containers: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/usage-cpu": cpu},
        },
        "spec": {
            "containers": [
                {"name": f"c{i}", "image": "example.invalid/app:1"} for i in range(containers)
            ]
        },
    }


# kwok applies the annotation to every container of the pod: web-2 uses 2 x 100m.
PODS = [
    _pod("web-1", {"app": "web", "team": "a"}, "250m"),
    _pod("web-2", {"app": "web", "team": "b"}, "100m", containers=2),
    _pod("db-1", {"app": "db", "team": "a"}, "500m"),
    _pod("batch-1", {"other": "x"}, "300m"),  # neither label: counted nowhere
]
EXPECTED = {
    ("app", "web"): 0.450,
    ("app", "db"): 0.500,
    ("team", "a"): 0.750,
    ("team", "b"): 0.200,
}


def test_cpu_by_label_sums_pod_metrics(
    metrics_cluster: Cluster, metrics_namespace: str, other_metrics_namespace: str
) -> None:
    """Per-label sums of metrics.k8s.io usage equal the annotated totals; a denylisted namespace
    and a second shard add nothing (first metrics need about a minute: two kwok samples at
    metrics-server's 15 s resolution). The denylisted exporter's control: a pod in a namespace
    it does watch is summed by it, so its usage loop ran when the test's namespace is absent."""
    ns = metrics_namespace
    control_namespace = other_metrics_namespace  # for the denylist's control pod
    apply(metrics_cluster, ns, *PODS)
    apply(metrics_cluster, control_namespace, _pod("ctl-1", {"app": "ctl"}, "400m"))
    client = connect(metrics_cluster.kubeconfig)

    def pods_exporter(**options: Any) -> ClusterExporter:
        """Pods only, CPU by app and team sampled every second, and ``options``."""
        usage = {"resources": ("pods",), "usage_labels": ("app", "team"), "usage_interval": 1.0}
        return ClusterExporter(client, Options(**usage, **options))

    exporters = {
        "main": pods_exporter(namespaces=[ns]),
        # Every namespace but the test's: the test's pods must not show up.
        "denied": pods_exporter(namespaces_denylist=[ns]),
    }
    shards = [pods_exporter(namespaces=[ns], shard=i, total_shards=2) for i in range(2)]
    everything = [*exporters.values(), *shards]
    servers = []
    try:
        for exp in everything:
            exp.start()
            servers.append(ExporterServer({"/metrics": exp.metrics, "/readyz": exp.readyz}).start())
        urls = [s.url for s in servers]
        for exp in everything:
            assert exp.wait_synced(30), f"not synced: {exp.unsynced()}"

        def sums(url: str) -> dict[tuple[str, str], float]:
            found = select(scrape(url), FAMILY, namespace=ns)
            return {
                (dict(lbl)["label_name"], dict(lbl)["label_value"]): v for lbl, v in found.items()
            }

        def settled() -> dict[tuple[str, str], float]:
            got = sums(urls[0])
            assert set(got) == set(EXPECTED), got
            for key, want in EXPECTED.items():
                assert abs(got[key] - want) <= REL_TOLERANCE * want, (key, got[key], want)
            return got

        got = wait_until(settled, timeout=150, interval=1.0)
        series = scrape(urls[0])
        # The rest of the exporter is served alongside.
        assert value(series, "kube_pod_info", namespace=ns, pod="web-1") == 1
        # Sharded: each pod is counted by exactly one shard, so shards sum to the whole.
        combined: dict[tuple[str, str], float] = {}

        def shards_complete() -> bool:
            combined.clear()
            for url in urls[2:]:
                for key, v in sums(url).items():
                    combined[key] = combined.get(key, 0.0) + v
            assert set(combined) == set(EXPECTED), combined
            for key, want in EXPECTED.items():
                assert abs(combined[key] - want) <= REL_TOLERANCE * want, (key, combined, want)
            return True

        wait_until(shards_complete, timeout=30, interval=1.0)

        def control_counted() -> bool:
            found = select(scrape(urls[1]), FAMILY, namespace=control_namespace)
            assert set(found) == {
                frozenset(
                    {
                        ("label_name", "app"),
                        ("label_value", "ctl"),
                        ("namespace", control_namespace),
                    }
                )
            }, found
            (cores,) = found.values()
            assert abs(cores - 0.400) <= REL_TOLERANCE * 0.400, cores
            return True

        # The denylisted exporter polls and sums (the control pod at 400m), yet not the test's.
        wait_until(control_counted, timeout=60, interval=1.0)
        assert not sums(urls[1]), "denylisted namespace counted"
        # The namespace-restricted exporter does not count the control pod either.
        assert not select(scrape(urls[0]), FAMILY, namespace=control_namespace)
        assert got
    finally:
        for server in servers:
            server.shutdown()
        for exp in everything:
            exp.stop()
        client.close()
