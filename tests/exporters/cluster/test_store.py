"""Family tables and the UID-keyed store, fed realistic API object JSON (inputs, not mocks)."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from helpers_cluster_exporter import CRASHLOOP_POD, parse, select, value
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

from kubepulse.exporters.cluster import deployments, nodes, pods
from kubepulse.exporters.cluster.common import parse_labels_allowlist, quantity
from kubepulse.exporters.cluster.exporter import shard_of
from kubepulse.exporters.cluster.store import KindStore, openmetrics_header


def _render(module: Any, obj: dict[str, Any], labels: tuple[str, ...] | None = None) -> str:
    store = KindStore("x", module.families(labels), module.prefix)
    store.apply([obj], (), True)
    return b"".join(store.chunks()).decode()


def test_pod_families_follow_ksm_semantics() -> None:
    s = parse(_render(pods, CRASHLOOP_POD, ("team",)))
    me = {"namespace": "shop", "pod": "api-7d9f-x2k", "uid": CRASHLOOP_POD["metadata"]["uid"]}
    phases = select(s, "kube_pod_status_phase", **me)
    assert {dict(k)["phase"]: v for k, v in phases.items()} == {
        "Pending": 0,
        "Succeeded": 0,
        "Failed": 0,
        "Unknown": 0,
        "Running": 1,
    }
    assert value(s, "kube_pod_status_ready", condition="false", **me) == 1
    assert value(s, "kube_pod_status_ready", condition="true", **me) == 0
    assert value(s, "kube_pod_status_ready_time", **me) is None  # not Ready
    assert value(s, "kube_pod_start_time", **me) == 1767323046
    assert value(s, "kube_pod_container_status_restarts_total", container="app", **me) == 7
    assert (
        value(
            s,
            "kube_pod_container_status_waiting_reason",
            container="app",
            reason="CrashLoopBackOff",
            **me,
        )
        == 1
    )
    assert value(s, "kube_pod_container_status_last_terminated_reason", reason="Error", **me) == 1
    assert not select(s, "kube_pod_container_status_terminated_reason")
    assert (
        value(
            s,
            "kube_pod_info",
            created_by_kind="ReplicaSet",
            created_by_name="api-7d9f",
            host_ip="10.0.0.5",
            pod_ip="10.1.2.3",
            node="node-1",
            host_network="false",
            priority_class="",
            **me,
        )
        == 1
    )
    assert (
        value(s, "kube_pod_owner", owner_kind="ReplicaSet", owner_is_controller="true", **me) == 1
    )
    # Label values are escaped by the one shared escaper and survive the round trip.
    assert value(s, "kube_pod_labels", label_team='pay"ments\\', **me) == 1
    req = {k: v for k, v in select(s, "kube_pod_container_resource_requests", **me).items()}
    assert {(dict(k)["resource"], dict(k)["unit"]): v for k, v in req.items()} == {
        ("cpu", "core"): 0.1,
        ("memory", "byte"): 2**30,
        ("nvidia_com_gpu", "integer"): 1,
    }
    assert (
        value(
            s, "kube_pod_container_resource_limits", resource="ephemeral_storage", unit="byte", **me
        )
        == 2e9
    )
    assert value(s, "kube_pod_deletion_timestamp", **me) is None


def test_node_and_deployment_families() -> None:
    node = {
        "metadata": {"name": "n1", "uid": "u-n1", "labels": {"zone": "a"}},
        "spec": {
            "unschedulable": True,
            "taints": [{"key": "k", "value": "v", "effect": "NoExecute"}],
        },
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "3500m", "memory": "7Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "Unknown"}],
            "nodeInfo": {"kubeletVersion": "v1.34.4"},
        },
    }
    s = parse(_render(nodes, node, ("*",)))
    assert (
        value(s, "kube_node_status_condition", node="n1", condition="Ready", status="unknown") == 1
    )
    assert value(s, "kube_node_spec_taint", node="n1", key="k", value="v", effect="NoExecute") == 1
    assert value(s, "kube_node_status_allocatable", node="n1", resource="cpu", unit="core") == 3.5
    assert value(s, "kube_node_status_capacity", node="n1", resource="pods", unit="integer") == 110
    assert value(s, "kube_node_labels", node="n1", label_zone="a") == 1
    deploy = {
        "metadata": {"name": "d", "namespace": "ns", "uid": "u-d", "generation": 4},
        "spec": {
            "replicas": 10,
            "strategy": {"rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        },
        "status": {
            "replicas": 10,
            "availableReplicas": 8,
            "observedGeneration": 3,
            "conditions": [{"type": "Progressing", "status": "True"}],
        },
    }
    s = parse(_render(deployments, deploy))
    assert value(s, "kube_deployment_spec_replicas", deployment="d", namespace="ns") == 10
    assert value(s, "kube_deployment_status_replicas_ready", deployment="d") == 0  # absent → 0
    assert value(s, "kube_deployment_status_observed_generation", deployment="d") == 3
    assert value(s, "kube_deployment_metadata_generation", deployment="d") == 4
    assert (
        value(s, "kube_deployment_spec_strategy_rollingupdate_max_unavailable", deployment="d") == 2
    )  # 25% of 10 rounded down
    assert value(s, "kube_deployment_spec_strategy_rollingupdate_max_surge", deployment="d") == 3
    assert (
        value(
            s,
            "kube_deployment_status_condition",
            deployment="d",
            condition="Progressing",
            status="true",
        )
        == 1
    )


def test_store_update_delete_and_unchanged_family_cache() -> None:
    store = KindStore("pods", pods.families(None), pods.prefix)
    store.apply([CRASHLOOP_POD], (), True)
    info_before = store.samples("kube_pod_info")
    gz_before = store.gzip_chunks()
    changed = {
        **CRASHLOOP_POD,
        "status": {
            **CRASHLOOP_POD["status"],
            "containerStatuses": [
                {**CRASHLOOP_POD["status"]["containerStatuses"][0], "restartCount": 8}
            ],
        },
    }
    store.apply([changed], (), False)
    assert b"} 8\n" in store.samples("kube_pod_container_status_restarts_total")
    # kube_pod_info's text did not change, so its cached gzip member is reused as is.
    gz_after = store.gzip_chunks()
    assert store.samples("kube_pod_info") == info_before
    # (members: [0] kube_pod_info's header, [1] its body, ...)
    assert gz_after[1] is gz_before[1]
    assert gz_after != gz_before
    # Multi-member gzip decodes to exactly the plain text, in both formats.
    assert gzip.decompress(b"".join(gz_after)) == b"".join(store.chunks())
    assert gzip.decompress(b"".join(store.gzip_chunks(openmetrics=True))) == b"".join(
        store.chunks(openmetrics=True)
    )
    store.apply((), [CRASHLOOP_POD["metadata"]["uid"]], False)
    assert len(store) == 0
    assert b"api-7d9f-x2k" not in b"".join(store.chunks())
    # Headers stay, like KSM, so every family is still declared.
    assert b"# TYPE kube_pod_info gauge\n" in b"".join(store.chunks())


def test_openmetrics_rendering_parses() -> None:
    store = KindStore("pods", pods.families(None), pods.prefix)
    store.apply([CRASHLOOP_POD], (), True)
    text = b"".join(store.chunks(openmetrics=True)).decode() + "# EOF\n"
    families = {f.name: f for f in om_parse(text)}
    restarts = families["kube_pod_container_status_restarts"]
    assert restarts.type == "counter" and restarts.samples[0].value == 7
    spec = next(f for f in pods.families(None) if f.name.endswith("_restarts_total"))
    header = openmetrics_header(spec.family)
    assert header.startswith("# HELP kube_pod_container_status_restarts ")


def test_shards_partition_and_move_minimally() -> None:
    """Jump hash: every object has exactly one shard; growing 3 → 4 only moves objects to 3."""
    uids = [f"0000-{i:08d}" for i in range(2000)]
    three = [shard_of(u, 3) for u in uids]
    four = [shard_of(u, 4) for u in uids]
    assert set(three) == {0, 1, 2}
    counts = [three.count(i) for i in range(3)]
    assert min(counts) > 550  # roughly even
    assert all(a == b or b == 3 for a, b in zip(three, four, strict=True))
    assert all(shard_of(u, 1) == 0 for u in uids[:50])


def test_allowlist_and_quantities() -> None:
    assert parse_labels_allowlist("pods=[app,team],nodes=[*]") == {
        "pods": ("app", "team"),
        "nodes": ("*",),
    }
    assert parse_labels_allowlist("") == {}
    with pytest.raises(ValueError, match="--metric-labels-allowlist"):
        parse_labels_allowlist("pods=app")
    assert quantity("cpu", "1234567n") == ("cpu", "core", 0.002)  # KSM rounds up to millicores
    assert quantity("memory", "1.5Ki") == ("memory", "byte", 1536)
    assert quantity("hugepages-2Mi", "4Mi") == ("hugepages_2Mi", "byte", 4 * 2**20)
    assert quantity("kubernetes.io/unknown", "1") is None
