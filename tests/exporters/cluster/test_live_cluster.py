"""The cluster exporter against the real test cluster (kube-apiserver + kwok).

The exporter runs in-process (its HTTP server on 127.0.0.1) so the tests can reach its informers;
the CLI tests start the real command through ProcessGroup.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from helpers_cluster_exporter import apply, fetch, parse, scrape, select, value, wait_until
from kubernetes import client as k8s
from kubernetes.utils import parse_quantity

from kubepulse.exporters.cluster import pods as pod_families
from kubepulse.exporters.cluster.exporter import ClusterExporter, Options, ksm_type_name
from kubepulse.exporters.cluster.pods import RESOURCE as PODS
from kubepulse.exporters.cluster.store import KindStore
from kubepulse.exposition.server import ExporterServer
from kubepulse.kube.client import KubeClient, connect, load_configuration
from kubepulse.kube.informer import Backoff, Informer
from kubepulse.lab.cluster import Cluster, ClusterError
from kubepulse.lab.processes import free_port
from kubepulse.lab.releases import binary

pytestmark = pytest.mark.cluster


@contextmanager
def running_exporter(
    cluster: Cluster, namespaces: list[str]
) -> Iterator[tuple[ClusterExporter, str]]:
    """A synced exporter watching ``namespaces`` (cluster-scoped kinds: all), and its URL."""
    client = connect(cluster.kubeconfig)
    exp = ClusterExporter(
        client,
        Options(
            namespaces=namespaces,
            usage_labels=("app",),
            labels_allowlist={"pods": ("app",)},
            backoff_cap=1.0,
        ),
    ).start()
    server = ExporterServer({"/metrics": exp.metrics, "/readyz": exp.readyz}).start()
    try:
        assert exp.wait_synced(30), f"not synced: {exp.unsynced()}"
        yield exp, server.url
    finally:
        server.shutdown()
        exp.stop()
        client.close()


@pytest.fixture
def exporter(cluster: Cluster, namespace: str) -> Iterator[tuple[ClusterExporter, str]]:
    with running_exporter(cluster, [namespace]) as running:
        yield running


def telemetry(exp: ClusterExporter, family: str, resource: str, result: str) -> float:
    """A ``kube_state_metrics_{list,watch}_total`` sample from the exporter's own registry;
    ``resource`` is the kind's name (``pods``), labelled with KSM's Go type (``*v1.Pod``)."""
    labels = {"resource": ksm_type_name(resource), "result": result}
    sample = exp.telemetry.registry.get_sample_value(f"kube_state_metrics_{family}_total", labels)
    return sample or 0.0


def pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web", **(labels or {})}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "example.invalid/app:1",
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "64Mi"},
                        "limits": {"cpu": "1", "memory": "128Mi"},
                    },
                }
            ],
            **spec,
        },
    }


def workload(kind: str, name: str, replicas: int | None = None) -> dict[str, Any]:
    """A Deployment, StatefulSet or DaemonSet (no ``replicas``) of ``pod``-like pods."""
    template = pod("x", {"app": name})
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            **({"replicas": replicas} if replicas is not None else {}),
            "selector": {"matchLabels": {"app": name}},
            **({"serviceName": name} if kind == "StatefulSet" else {}),
            "template": {"metadata": {"labels": {"app": name}}, "spec": template["spec"]},
        },
    }


NODE = "kp-test-tainted"


@pytest.fixture
def tainted_node(cluster: Cluster) -> Iterator[str]:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"kubepulse.dev/node-not-ready": "true", "type": "kwok"},
        },
        "spec": {
            "unschedulable": True,
            "taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(node))
    try:
        yield NODE
    finally:
        cluster.kubectl("delete", "node", NODE, "--wait=false", "--ignore-not-found")


HOLD = "kubepulse.dev/test-hold"
PHASES = {"Pending", "Running", "Succeeded", "Failed", "Unknown"}
# KSM's unit for each node resource kwok sets; any other resource fails the node checks loudly.
# The values the objects of test_every_family_matches_the_objects must give, one row a series:
# family, which namespace ("ns" the first, "other" the second, "terminating" the held one, None
# for cluster-scoped families), the other labels, the value (None: no such series).
MIB = 2**20
FAMILY_VALUES: list[tuple[str, str | None, dict[str, str], float | None]] = [
    # Ready: condition true/false/unknown; never scheduled; no ready or start time.
    ("kube_pod_status_ready", "ns", {"pod": "never-ready", "condition": "false"}, 1),
    ("kube_pod_status_ready", "ns", {"pod": "never-ready", "condition": "true"}, 0),
    ("kube_pod_status_ready", "ns", {"pod": "never-ready", "condition": "unknown"}, 0),
    ("kube_pod_status_scheduled", "ns", {"pod": "pending", "condition": "false"}, 1),
    ("kube_pod_status_ready_time", "ns", {"pod": "never-ready"}, None),
    ("kube_pod_start_time", "ns", {"pod": "pending"}, None),
    # Crash loop.
    (
        "kube_pod_container_status_waiting_reason",
        "ns",
        {"pod": "crashloop", "container": "main", "reason": "CrashLoopBackOff"},
        1,
    ),
    ("kube_pod_container_status_ready", "ns", {"pod": "crashloop", "container": "main"}, 0),
    # The failed and succeeded pods, status set through the API.
    (
        "kube_pod_container_status_terminated_reason",
        "ns",
        {"pod": "failed", "container": "main", "reason": "Error"},
        1,
    ),
    (
        "kube_pod_container_status_terminated_reason",
        "ns",
        {"pod": "succeeded", "container": "main", "reason": "Completed"},
        1,
    ),
    (
        "kube_pod_container_status_last_terminated_reason",
        "ns",
        {"pod": "failed", "container": "main", "reason": "OOMKilled"},
        1,
    ),
    ("kube_pod_container_status_restarts_total", "ns", {"pod": "failed"}, 3),
    ("kube_pod_container_status_restarts_total", "ns", {"pod": "succeeded"}, 0),
    # Requests and limits in base units.
    (
        "kube_pod_container_resource_requests",
        "ns",
        {"pod": "ready", "resource": "cpu", "unit": "core"},
        0.25,
    ),
    (
        "kube_pod_container_resource_requests",
        "ns",
        {"pod": "ready", "resource": "memory", "unit": "byte"},
        64 * MIB,
    ),
    ("kube_pod_container_resource_limits", "ns", {"pod": "ready", "resource": "cpu"}, 1),
    # Owner and labels of the unowned pod.
    ("kube_pod_owner", "ns", {"pod": "ready", "owner_kind": "", "owner_name": ""}, 1),
    ("kube_pod_labels", "ns", {"pod": "ready", "label_app": "web"}, 1),
    # Workloads.
    ("kube_deployment_spec_replicas", "ns", {"deployment": "deploy"}, 2),
    ("kube_deployment_status_replicas", "ns", {"deployment": "deploy"}, 2),
    ("kube_deployment_status_replicas_updated", "ns", {"deployment": "deploy"}, 2),
    ("kube_deployment_status_replicas_ready", "ns", {"deployment": "deploy"}, 2),
    ("kube_deployment_metadata_generation", "ns", {"deployment": "deploy"}, 1),
    ("kube_deployment_status_observed_generation", "ns", {"deployment": "deploy"}, 1),
    (
        "kube_deployment_status_condition",
        "ns",
        {"deployment": "deploy", "condition": "Available", "status": "true"},
        1,
    ),
    ("kube_statefulset_replicas", "ns", {"statefulset": "sts"}, 2),
    ("kube_statefulset_status_replicas", "ns", {"statefulset": "sts"}, 2),
    # Service.
    ("kube_service_info", "ns", {"service": "svc", "cluster_ip": "None"}, 1),
    ("kube_service_spec_type", "ns", {"service": "svc", "type": "ClusterIP"}, 1),
    # Namespaces: both watched ones Active, the held one Terminating.
    ("kube_namespace_status_phase", "ns", {"phase": "Active"}, 1),
    ("kube_namespace_status_phase", "ns", {"phase": "Terminating"}, 0),
    ("kube_namespace_status_phase", "other", {"phase": "Active"}, 1),
    ("kube_namespace_status_phase", "other", {"phase": "Terminating"}, 0),
    ("kube_namespace_status_phase", "terminating", {"phase": "Active"}, 0),
    ("kube_namespace_status_phase", "terminating", {"phase": "Terminating"}, 1),
    # The second namespace's objects, named like the first's.
    ("kube_deployment_spec_replicas", "other", {"deployment": "deploy"}, 1),
    ("kube_pod_status_ready", "other", {"pod": "ready", "condition": "true"}, 1),
    # The tainted, cordoned, unready node.
    (
        "kube_node_spec_taint",
        None,
        {"node": NODE, "key": "dedicated", "value": "infra", "effect": "NoSchedule"},
        1,
    ),
    ("kube_node_spec_unschedulable", None, {"node": NODE}, 1),
    ("kube_node_status_condition", None, {"node": NODE, "condition": "Ready", "status": "true"}, 0),
    (
        "kube_node_status_condition",
        None,
        {"node": NODE, "condition": "Ready", "status": "false"},
        1,
    ),
    # Requests by label: 2 deploy pods x 250m; 4 app=web pods x 64 MiB (unfinished pods only).
    (
        "kubepulse_pod_resource_requests_by_label",
        "ns",
        {"label_name": "app", "label_value": "deploy", "resource": "cpu", "unit": "core"},
        0.5,
    ),
    (
        "kubepulse_pod_resource_requests_by_label",
        "ns",
        {"label_name": "app", "label_value": "web", "resource": "memory", "unit": "byte"},
        4 * 64 * MIB,
    ),
]


UNITS = {"cpu": "core", "memory": "byte", "ephemeral-storage": "byte", "pods": "integer"}
DAEMONSET_STATUS = {
    "kube_daemonset_status_current_number_scheduled": "currentNumberScheduled",
    "kube_daemonset_status_desired_number_scheduled": "desiredNumberScheduled",
    "kube_daemonset_status_number_available": "numberAvailable",
    "kube_daemonset_status_number_misscheduled": "numberMisscheduled",
    "kube_daemonset_status_number_ready": "numberReady",
    "kube_daemonset_status_number_unavailable": "numberUnavailable",
    "kube_daemonset_status_updated_number_scheduled": "updatedNumberScheduled",
    "kube_daemonset_status_observed_generation": "observedGeneration",
}


def unix(rfc3339: str) -> float:
    """An API timestamp in Unix seconds, as KSM exports it (whole seconds)."""
    return float(int(datetime.fromisoformat(rfc3339).timestamp()))


def ready_after(p: dict[str, Any], delay: str) -> dict[str, Any]:
    """``p``, made Ready by kwok ``delay`` (a Go duration) after it starts."""
    p["metadata"]["annotations"] = {"kubepulse.dev/ready-after": delay}
    return p


def held(p: dict[str, Any]) -> dict[str, Any]:
    """``p`` with a finalizer that keeps it in the API after a delete until ``release``."""
    p["metadata"]["finalizers"] = [HOLD]
    return p


def release(cluster: Cluster, kind: str, name: str, namespace: str) -> None:
    """Drop the test's finalizer so the object (and its namespace) can go; gone already is fine."""
    try:
        cluster.kubectl(
            "patch",
            kind,
            name,
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps({"metadata": {"finalizers": None}}),
        )
    except ClusterError as exc:
        if "NotFound" not in str(exc) and "not found" not in str(exc):
            raise


def set_status(cluster: Cluster, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Write a pod's status through the API's status subresource, as a kubelet would."""
    cluster.kubectl(
        "patch",
        "pod",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def terminated(
    reason: str, exit_code: int, restarts: int, last: str | None = None
) -> list[dict[str, Any]]:
    """The one container's status, terminated with ``reason`` (last time with ``last``)."""
    status: dict[str, Any] = {
        "name": "main",
        "image": "example.invalid/app:1",
        "imageID": "",
        "ready": False,
        "restartCount": restarts,
        "state": {"terminated": {"exitCode": exit_code, "reason": reason}},
    }
    if last:
        status["lastState"] = {"terminated": {"exitCode": 137, "reason": last}}
    return [status]


def expected_quantities(node: str, resources: dict[str, str]) -> dict[Any, float]:
    """``kube_node_status_capacity``/``_allocatable`` samples computed from the node's status."""
    out: dict[Any, float] = {}
    for resource, raw in resources.items():
        assert resource in UNITS, f"node {node}: no expected unit for {resource}"
        labels = {"node": node, "resource": resource.replace("-", "_"), "unit": UNITS[resource]}
        out[frozenset(labels.items())] = float(parse_quantity(raw))
    return out


def expected_node_info(node: dict[str, Any]) -> frozenset[tuple[str, str]]:
    ni, spec = node["status"]["nodeInfo"], node.get("spec") or {}
    addresses = {a["type"]: a["address"] for a in node["status"].get("addresses") or ()}
    return frozenset(
        {
            "node": node["metadata"]["name"],
            "kernel_version": ni.get("kernelVersion", ""),
            "os_image": ni.get("osImage", ""),
            "container_runtime_version": ni.get("containerRuntimeVersion", ""),
            "kubelet_version": ni.get("kubeletVersion", ""),
            # KSM v2.16 exports this literal since nodeInfo.kubeProxyVersion was deprecated.
            "kubeproxy_version": "deprecated",
            "provider_id": spec.get("providerID", ""),
            "pod_cidr": spec.get("podCIDR", ""),
            "system_uuid": ni.get("systemUUID", ""),
            "internal_ip": addresses.get("InternalIP", ""),
        }.items()
    )


def check_pods_against_api(s: Any, client: KubeClient, namespaces: list[str]) -> set[str]:
    """Phase and deletion timestamp of every pod the API lists equal its samples; the phases."""
    seen: set[str] = set()
    for ns in namespaces:
        items = client.get_json(PODS.path(ns))["items"]
        assert len(select(s, "kube_pod_info", namespace=ns)) == len(items), ns
        for p in items:
            meta, phase = p["metadata"], p["status"]["phase"]
            key = {"namespace": ns, "pod": meta["name"], "uid": meta["uid"]}
            phases = {
                dict(k)["phase"]: v for k, v in select(s, "kube_pod_status_phase", **key).items()
            }
            assert phases == {ph: float(ph == phase) for ph in PHASES}, (meta["name"], phases)
            deletion = meta.get("deletionTimestamp")
            assert value(s, "kube_pod_deletion_timestamp", **key) == (
                unix(deletion) if deletion else None
            ), meta["name"]
            seen.add(phase)
    return seen


def test_every_family_matches_the_objects(
    cluster: Cluster,
    namespace: str,
    other_namespace: str,
    tainted_node: str,
    tmp_path: Path,
) -> None:
    """Pods in all five phases (Succeeded, Failed, Unknown set through the status subresource),
    one held by a finalizer while deleted, a crash loop, Deployments, a StatefulSet, a DaemonSet,
    a tainted unready node, two watched namespaces and a Terminating one."""
    ns = {"namespace": namespace}
    other = {"namespace": other_namespace}
    terminating = f"{namespace}-term"
    cluster.kubectl("create", "namespace", terminating)
    try:
        with running_exporter(cluster, [namespace, other_namespace]) as (exp, url):
            _check_every_family(cluster, exp.client, url, ns, other, terminating, tmp_path)
    finally:
        release(cluster, "pod", "deleting", namespace)
        release(cluster, "configmap", "held", terminating)
        cluster.kubectl("delete", "namespace", terminating, "--wait=false", "--ignore-not-found")


def _check_every_family(
    cluster: Cluster,
    client: KubeClient,
    url: str,
    ns: dict[str, str],
    other: dict[str, str],
    terminating: str,
    tmp_path: Path,
) -> None:
    namespace, other_namespace = ns["namespace"], other["namespace"]
    apply(
        cluster,
        namespace,
        ready_after(pod("ready"), "2s"),
        pod("never-ready", {"kubepulse.dev/never-ready": "true"}),
        pod("crashloop", {"kubepulse.dev/crashloop": "true"}),
        # No node matches: stays Pending, PodScheduled False.
        pod("pending", nodeSelector={"kubepulse.dev/no-such": "node"}),
        # Bound to a node nobody runs: their status is ours to set through the API. Their app
        # label keeps them out of the requests-by-label sums checked below.
        pod("failed", nodeName="kp-nobody"),
        pod("succeeded", {"app": "phases"}, nodeName="kp-nobody"),
        pod("unknown", {"app": "phases"}, nodeName="kp-nobody"),
        held(pod("deleting", {"app": "phases"}, nodeSelector={"kubepulse.dev/no-such": "node"})),
        workload("Deployment", "deploy", 2),
        workload("StatefulSet", "sts", 2),
        workload("DaemonSet", "ds"),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], "clusterIP": "None"},
        },
    )
    # Same names in a second watched namespace: the namespace label keeps them apart.
    apply(cluster, other_namespace, pod("ready"), workload("Deployment", "deploy", 1))
    apply(
        cluster,
        terminating,
        held({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held"}}),
    )
    # The held ConfigMap keeps the namespace Terminating until the test releases it.
    cluster.kubectl("delete", "namespace", terminating, "--wait=false")
    cluster.kubectl("delete", "pod", "deleting", "-n", namespace, "--wait=false")
    set_status(
        cluster,
        namespace,
        "failed",
        {"phase": "Failed", "containerStatuses": terminated("Error", 1, 3, last="OOMKilled")},
    )
    set_status(
        cluster,
        namespace,
        "succeeded",
        {"phase": "Succeeded", "containerStatuses": terminated("Completed", 0, 0)},
    )
    set_status(cluster, namespace, "unknown", {"phase": "Unknown"})

    def converged() -> tuple[dict[Any, float], dict[str, Any]]:
        s = scrape(url)
        assert value(s, "kube_deployment_status_replicas_available", deployment="deploy", **ns) == 2
        assert (
            value(s, "kube_deployment_status_replicas_available", deployment="deploy", **other) == 1
        )
        assert value(s, "kube_statefulset_status_replicas_ready", statefulset="sts", **ns) == 2
        assert value(s, "kube_pod_container_status_restarts_total", pod="crashloop", **ns) >= 1
        assert value(s, "kube_pod_status_ready", pod="ready", condition="true", **ns) == 1
        assert (
            value(s, "kube_node_status_condition", node=NODE, condition="Ready", status="false")
            == 1
        )
        assert value(s, "kube_namespace_status_phase", namespace=terminating, phase="Terminating")
        # Every pod of both namespaces: its phase and deletion timestamp as the API has them.
        assert check_pods_against_api(s, client, [namespace, other_namespace]) == PHASES
        # The DaemonSet, settled on every node it fits (not the tainted one), equals its object.
        ds = client.get_json(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/ds")
        status = ds["status"]
        assert status.get("observedGeneration") == ds["metadata"]["generation"]
        assert status["desiredNumberScheduled"] >= 3
        assert status.get("numberReady") == status["desiredNumberScheduled"]
        for family, key in DAEMONSET_STATUS.items():
            assert value(s, family, daemonset="ds", **ns) == float(status.get(key, 0)), family
        return s, ds

    s, ds = wait_until(converged, timeout=40, interval=0.3)
    # The DaemonSet's metadata families and the pods it owns.
    dsl = {"daemonset": "ds", **ns}
    assert value(s, "kube_daemonset_metadata_generation", **dsl) == ds["metadata"]["generation"]
    assert value(s, "kube_daemonset_created", **dsl) == unix(ds["metadata"]["creationTimestamp"])
    # Nothing allow-listed for daemonsets (only pods=app): no labels series at all, as KSM >= 2.10.
    assert select(s, "kube_daemonset_labels", **dsl) == {}
    ds_pods = select(s, "kube_pod_owner", owner_kind="DaemonSet", owner_name="ds", **ns)
    assert len(ds_pods) == ds["status"]["currentNumberScheduled"]
    ds_nodes = {dict(k)["node"] for k in select(s, "kube_pod_info", created_by_name="ds", **ns)}
    assert NODE not in ds_nodes and len(ds_nodes) == len(ds_pods)
    # Ready 2 s after it started (its ready-after), so the start, Initialized and Ready times
    # differ: each family must read its own field of the object.
    ready = client.get_json(PODS.path(namespace) + "/ready")
    since = {c["type"]: c["lastTransitionTime"] for c in ready["status"]["conditions"]}
    assert unix(since["Ready"]) >= unix(ready["status"]["startTime"]) + 2, since
    assert value(s, "kube_pod_status_ready_time", pod="ready", **ns) == unix(since["Ready"])
    assert value(s, "kube_pod_status_container_ready_time", pod="ready", **ns) == unix(
        since["ContainersReady"]
    )
    assert value(s, "kube_pod_start_time", pod="ready", **ns) == unix(ready["status"]["startTime"])
    # The held pod after its delete: deletionTimestamp (checked against the API above) is set.
    deleting = client.get_json(PODS.path(namespace) + "/deleting")["metadata"]
    assert value(s, "kube_pod_deletion_timestamp", pod="deleting", **ns) == unix(
        deleting["deletionTimestamp"]
    )
    # Info and owner.
    info = select(s, "kube_pod_info", pod="ready", **ns)
    (labels,) = info
    # Unowned: KSM v2.16's empty created_by labels (not the old "<none>").
    assert dict(labels)["created_by_kind"] == "" and dict(labels)["created_by_name"] == ""
    assert (
        dict(labels)["node"] == client.get_json(PODS.path(namespace) + "/ready")["spec"]["nodeName"]
    )
    deploy_pods = [dict(k) for k in select(s, "kube_pod_owner", owner_kind="ReplicaSet", **ns)]
    assert len(deploy_pods) == 2 and all(p["owner_is_controller"] == "true" for p in deploy_pods)
    sts_info = select(
        s, "kube_pod_info", created_by_kind="StatefulSet", created_by_name="sts", **ns
    )
    assert len(sts_info) == 2
    containers = select(s, "kube_pod_container_info", pod="ready", container="main", **ns)
    assert [dict(k)["image_spec"] for k in containers] == ["example.invalid/app:1"]
    rs = [
        dict(k)
        for k in select(
            s, "kube_replicaset_owner", owner_kind="Deployment", owner_name="deploy", **ns
        )
    ]
    assert len(rs) == 1
    assert value(s, "kube_replicaset_spec_replicas", replicaset=rs[0]["replicaset"], **ns) == 2
    # Nodes: info, capacity and allocatable equal the node objects.
    for name in ("node-000000", NODE):
        node = client.get_json(f"/api/v1/nodes/{name}")
        assert select(s, "kube_node_info", node=name) == {expected_node_info(node): 1.0}
        for family, key in [
            ("kube_node_status_capacity", "capacity"),
            ("kube_node_status_allocatable", "allocatable"),
        ]:
            want = expected_quantities(name, node["status"][key])
            assert select(s, family, node=name) == want, (family, name)
            assert want, (family, name)
    ready_nodes = select(s, "kube_node_status_condition", condition="Ready", status="true")
    assert sum(ready_nodes.values()) >= 3
    # Every row of the table of literal values: all wrong rows are reported together.
    where = {"ns": namespace, "other": other_namespace, "terminating": terminating}
    wrong = [
        (family, scope, labels, want, got)
        for family, scope, labels, want in FAMILY_VALUES
        if (got := value(s, family, **labels, **({"namespace": where[scope]} if scope else {})))
        != want
    ]
    assert len(FAMILY_VALUES) == 43
    assert wrong == []
    # The metrics API is absent in this cluster: that family is omitted, the rest is served.
    assert not select(s, "kubepulse_pod_cpu_usage_cores_by_label")
    # promtool agrees the output is valid exposition text.
    _, body, _ = fetch(url + "/metrics")
    target = tmp_path / "metrics.prom"
    target.write_bytes(body)
    check = subprocess.run(
        [binary("promtool"), "check", "metrics"],
        stdin=target.open("rb"),
        capture_output=True,
        text=True,
        check=False,
    )
    # promtool exits 1 when the text does not parse and 3 on lint findings (one per stderr line).
    assert check.returncode == 0, (check.returncode, check.stdout + check.stderr)


def _series_for(url: str, namespace: str, name: str) -> Any:
    return select(scrape(url), "kube_pod_info", namespace=namespace, pod=name)


def test_ready_and_delete_visible_within_a_second(
    cluster: Cluster, namespace: str, exporter: tuple[ClusterExporter, str]
) -> None:
    """Freshness: Ready and delete show at /metrics within 1 s of the API server's event."""
    exp, url = exporter
    client = exp.client
    seen: dict[str, float] = {}
    watch = client.stream(PODS.path(namespace), {"watch": "1", "resourceVersion": "0"})

    def observe() -> None:
        for line in watch.lines():
            obj = json.loads(line)["object"]
            conds = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
            if conds.get("Ready") == "True":
                seen.setdefault("ready", time.monotonic())

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()
    p = pod("fresh")
    p["metadata"]["annotations"] = {"kubepulse.dev/ready-after": "2s"}
    apply(cluster, namespace, p)
    shown = wait_until(
        lambda: (
            value(
                scrape(url),
                "kube_pod_status_ready",
                namespace=namespace,
                pod="fresh",
                condition="true",
            )
            == 1
            and time.monotonic()
        ),
        timeout=20,
        interval=0.02,
    )
    watch.close()
    assert "ready" in seen
    assert shown - seen["ready"] < 1.0, f"Ready visible {shown - seen['ready']:.3f} s after event"

    cluster.kubectl("delete", "pod", "fresh", "-n", namespace, "--wait=true", "--timeout=20s")
    deleted = time.monotonic()
    gone = wait_until(
        lambda: not _series_for(url, namespace, "fresh") and time.monotonic(),
        timeout=5,
        interval=0.02,
    )
    assert gone - deleted < 1.0, f"series gone {gone - deleted:.3f} s after delete returned"


def _truth(client: KubeClient, namespace: str) -> tuple[set[str], dict[str, float]]:
    pods = client.get_json(PODS.path(namespace))["items"]
    deploys = client.get_json(f"/apis/apps/v1/namespaces/{namespace}/deployments")["items"]
    return (
        {p["metadata"]["uid"] for p in pods},
        {d["metadata"]["name"]: float(d["spec"]["replicas"]) for d in deploys},
    )


def _seen(url: str, namespace: str) -> tuple[set[str], dict[str, float]]:
    s = scrape(url)
    return (
        {dict(k)["uid"] for k in select(s, "kube_pod_info", namespace=namespace)},
        {
            dict(k)["deployment"]: v
            for k, v in select(s, "kube_deployment_spec_replicas", namespace=namespace).items()
        },
    )


class ListWatchCounts:
    """The informer's list/watch results by outcome: the InformerStats the exporter's telemetry
    implements, kept in a Counter so the test can read them."""

    def __init__(self) -> None:
        self.lists: Counter[bool] = Counter()
        self.watches: Counter[bool] = Counter()

    def list_result(self, resource: str, ok: bool) -> None:
        self.lists[ok] += 1

    def watch_result(self, resource: str, ok: bool) -> None:
        self.watches[ok] += 1

    def event(self, resource: str, kind: str) -> None:
        pass


def test_stale_resource_version_relists_without_duplicates(
    cluster: Cluster, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A watch resumed from a resourceVersion the API no longer has gets a real 410; the re-list
    converges without duplicates.

    The API server is restarted while the informer is stopped: its new watch cache starts at the
    current revision, so the informer's last resourceVersion is too old (a watch from ``"1"``
    on a young cluster is still served from the cache, with no 410).
    """
    caplog.set_level(logging.INFO, logger="kubepulse.kube.informer")
    client = connect(cluster.kubeconfig)
    store = KindStore("pods", pod_families.families(None), pod_families.prefix)
    counts = ListWatchCounts()
    informer = Informer(
        client, PODS, store, namespace=namespace, stats=counts, backoff=Backoff(0.05, 0.2)
    )
    apply(cluster, namespace, pod("keep"), pod("gone"))
    informer.start()
    try:
        assert informer.synced.wait(10)
        wait_until(lambda: store.samples("kube_pod_info").count(b"\n") == 2, timeout=10)
        informer.stop()
        assert counts.lists == {True: 1}
        cluster.kubectl("delete", "pod", "gone", "-n", namespace, "--wait=true")
        apply(cluster, namespace, pod("new"))
        stale = informer.resource_version
        cluster.stop_apiserver()
        cluster.start_apiserver()
        informer.start()
        text = wait_until(
            lambda: (
                (t := store.samples("kube_pod_info").decode()).count("\n") == 2
                and 'pod="new"' in t
                and t
            ),
            timeout=10,
        )
        assert 'pod="gone"' not in text and 'pod="keep"' in text
        assert text.count('pod="keep"') == 1
        assert len(store) == 2
        # The resumed watch was refused with 410 and exactly one re-list followed: the informer
        # lists only when it has no resourceVersion, which only the 410 path takes away.
        messages = [r.getMessage() for r in caplog.records]
        assert sum(f"resourceVersion {stale} expired (410), re-listing" in m for m in messages) == 1
        assert counts.lists == {True: 2}
    finally:
        informer.stop()
        client.close()


def test_scrape_storm_200_concurrent(
    cluster: Cluster, namespace: str, exporter: tuple[ClusterExporter, str]
) -> None:
    """200 concurrent scrapes (half gzip) while pods change: no errors, no torn output."""
    _, url = exporter
    apply(cluster, namespace, *(pod(f"storm-{i}") for i in range(20)))
    wait_until(
        lambda: len(select(scrape(url), "kube_pod_info", namespace=namespace)) == 20,
        timeout=20,
        interval=0.2,
    )
    stop = threading.Event()
    core = k8s.CoreV1Api(cluster.api_client())

    def churn() -> None:
        i = 0
        while not stop.wait(0.1):
            body = {"metadata": {"labels": {"round": str(i)}}}
            core.patch_namespaced_pod(f"storm-{i % 20}", namespace, body)
            i += 1

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()

    def one(i: int) -> int:
        started = time.monotonic()
        status, body, _ = fetch(url + "/metrics", gzip_ok=bool(i % 2), timeout=30)
        took = time.monotonic() - started
        assert status == 200
        text = body.decode()
        assert text.endswith("\n")
        assert text.count("# TYPE kube_pod_info gauge\n") == 1
        assert text.count(f'kube_pod_info{{namespace="{namespace}",') == 20
        if i % 10 == 0:  # the full parser is slow in Python; every tenth response is parsed
            parse(text)
        return took

    try:
        with ThreadPoolExecutor(max_workers=200) as pool:
            latencies = list(pool.map(one, range(200)))
    finally:
        stop.set()
        churner.join(10)
    assert len(latencies) == 200
    print(f"storm: slowest response {max(latencies):.2f} s")


@contextmanager
def tcp_relay(port: int, target: str) -> Iterator[None]:
    """Listen on 127.0.0.1:``port`` and pass bytes unchanged to ``target`` (``host:port``, a
    loopback API server): TLS and credentials stay end to end between client and server."""
    host, _, target_port = target.rpartition(":")
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.1)
    stop = threading.Event()
    sockets: list[socket.socket] = [listener]

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def accept() -> None:
        while not stop.is_set():
            try:
                downstream, _ = listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection((host, int(target_port)))
            sockets.extend((downstream, upstream))
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield
    finally:
        stop.set()
        acceptor.join(5)
        for s in sockets:
            s.close()


def test_503_until_the_first_list(cluster: Cluster, namespace: str) -> None:
    """Before every kind's first list /metrics and /readyz answer 503, /healthz 200; then 200.

    The exporter's client points at a loopback port where nothing listens (the API server is
    unreachable, so no list can complete), then ``tcp_relay`` opens that port onto the real
    kube-apiserver: the same exporter syncs and serves the cluster's objects.
    """
    port = free_port()
    configuration = load_configuration(cluster.kubeconfig)
    configuration.host = f"https://127.0.0.1:{port}"
    client = KubeClient(configuration)
    exp = ClusterExporter(client, Options(namespaces=[namespace], backoff_cap=0.5)).start()
    server = ExporterServer({"/metrics": exp.metrics, "/readyz": exp.readyz}).start()
    try:
        # Every kind has tried its list and failed: the API is really unreachable.
        wait_until(
            lambda: all(telemetry(exp, "list", kind, "error") >= 1 for kind in exp.stores),
            timeout=10,
        )
        for path in ("/metrics", "/readyz"):
            status, body, _ = fetch(server.url + path)
            assert status == 503, (path, status)
            assert all(kind in body.decode() for kind in exp.stores), (path, body)
            assert b"kube_" not in body
        assert fetch(server.url + "/healthz")[:2] == (200, b"ok\n")
        assert not any(telemetry(exp, "list", kind, "success") for kind in exp.stores)

        with tcp_relay(port, urlsplit(cluster.server).netloc):
            wait_until(lambda: fetch(server.url + "/metrics")[0] == 200, timeout=20)
            assert fetch(server.url + "/readyz")[:2] == (200, b"ok\n")
            s = scrape(server.url)
            assert value(s, "kube_namespace_status_phase", namespace=namespace, phase="Active") == 1
            assert select(s, "kube_node_info", node="node-000000")
    finally:
        server.shutdown()
        exp.stop()
        client.close()


@pytest.mark.slow
def test_apiserver_restart_while_scaling(
    cluster: Cluster, namespace: str, exporter: tuple[ClusterExporter, str]
) -> None:
    """Resilience: API server down ~10 s mid-scale; /metrics equals the truth within 10 s after."""
    exp, url = exporter
    apply(cluster, namespace, workload("Deployment", "scaler", 2))
    wait_until(lambda: len(_seen(url, namespace)[0]) == 2, timeout=20, interval=0.2)
    watch_errors = telemetry(exp, "watch", "pods", "error")
    watches = telemetry(exp, "watch", "pods", "success")
    cluster.kubectl("scale", "deployment", "scaler", "-n", namespace, "--replicas=6")
    cluster.stop_apiserver()
    down = time.monotonic()
    # While the API is down the last known state keeps being served.
    status, body, _ = fetch(url + "/metrics")
    assert status == 200 and b"kube_pod_info" in body
    time.sleep(max(0.0, 10 - (time.monotonic() - down)))
    cluster.start_apiserver()
    back = time.monotonic()
    # The informer kept trying to re-open its watch while the API was down, and failed.
    assert telemetry(exp, "watch", "pods", "error") > watch_errors
    cluster.kubectl("scale", "deployment", "scaler", "-n", namespace, "--replicas=3")
    client = connect(cluster.kubeconfig)

    def equal() -> bool:
        truth = _truth(client, namespace)
        return _seen(url, namespace) == truth and truth[1] == {"scaler": 3.0}

    wait_until(equal, timeout=10 - (time.monotonic() - back), interval=0.2)
    converged = time.monotonic() - back
    assert converged < 10
    # Later changes (the controllers catching up on the scale made before the outage) keep
    # flowing: the exporter equals the truth again a little later.
    time.sleep(2)
    wait_until(equal, timeout=5, interval=0.2)
    # And its watch was opened again once the API was back, not just its last state served.
    assert telemetry(exp, "watch", "pods", "success") > watches
    # Leave the shared cluster usable for later tests: the controllers are back when a new
    # namespace gets its default ServiceAccount again.
    probe = f"{namespace}-probe"
    cluster.kubectl("create", "namespace", probe)
    try:
        wait_until(
            lambda: (
                "default" in cluster.kubectl("get", "serviceaccounts", "-n", probe, "-o", "name")
            ),
            timeout=60,
            interval=0.5,
        )
    finally:
        cluster.kubectl("delete", "namespace", probe, "--wait=false")
