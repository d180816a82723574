"""The cluster exporter against the real test cluster (kube-apiserver + kwok).

The exporter runs in-process (its HTTP server on 127.0.0.1) so the tests can reach its informers;
the CLI tests start the real command through ProcessGroup.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers_cluster_exporter import apply, fetch, parse, scrape, select, value, wait_until
from kubernetes import client as k8s

from kubepulse.exporters.cluster import pods as pod_families
from kubepulse.exporters.cluster.exporter import ClusterExporter, Options
from kubepulse.exporters.cluster.pods import RESOURCE as PODS
from kubepulse.exporters.cluster.store import KindStore
from kubepulse.exposition.server import ExporterServer
from kubepulse.kube.client import KubeClient, connect
from kubepulse.kube.informer import Backoff, Informer
from kubepulse.testing.cluster import Cluster

pytestmark = pytest.mark.cluster


@pytest.fixture
def exporter(cluster: Cluster, namespace: str) -> Iterator[tuple[ClusterExporter, str]]:
    client = connect(cluster.kubeconfig)
    exp = ClusterExporter(
        client,
        Options(
            namespaces=[namespace],
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


def workload(kind: str, name: str, replicas: int) -> dict[str, Any]:
    template = pod("x", {"app": name})
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
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


def test_every_family_matches_the_objects(
    cluster: Cluster,
    namespace: str,
    exporter: tuple[ClusterExporter, str],
    tainted_node: str,
    tmp_path: Path,
) -> None:
    """Pods in each phase, a crash loop, workloads, a tainted unready node, namespaces."""
    _, url = exporter
    apply(
        cluster,
        namespace,
        pod("ready"),
        pod("never-ready", {"kubepulse.dev/never-ready": "true"}),
        pod("crashloop", {"kubepulse.dev/crashloop": "true"}),
        # No node matches: stays Pending, PodScheduled False.
        pod("pending", nodeSelector={"kubepulse.dev/no-such": "node"}),
        # Bound to a node nobody runs: its status is ours to set through the API.
        pod("failed", nodeName="kp-nobody"),
        workload("Deployment", "deploy", 2),
        workload("StatefulSet", "sts", 2),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], "clusterIP": "None"},
        },
    )
    cluster.kubectl(
        "patch",
        "pod",
        "failed",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(
            {
                "status": {
                    "phase": "Failed",
                    "containerStatuses": [
                        {
                            "name": "main",
                            "image": "example.invalid/app:1",
                            "imageID": "",
                            "ready": False,
                            "restartCount": 3,
                            "state": {"terminated": {"exitCode": 1, "reason": "Error"}},
                            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
                        }
                    ],
                }
            }
        ),
    )

    def converged() -> dict[Any, float]:
        s = scrape(url)
        ns = {"namespace": namespace}
        assert value(s, "kube_deployment_status_replicas_available", deployment="deploy", **ns) == 2
        assert value(s, "kube_statefulset_status_replicas_ready", statefulset="sts", **ns) == 2
        assert value(s, "kube_pod_container_status_restarts_total", pod="crashloop", **ns) >= 1
        assert value(s, "kube_pod_status_ready", pod="ready", condition="true", **ns) == 1
        assert (
            value(s, "kube_node_status_condition", node=NODE, condition="Ready", status="false")
            == 1
        )
        assert value(s, "kube_pod_status_phase", pod="failed", phase="Failed", **ns) == 1
        return s

    s = wait_until(converged, timeout=30, interval=0.3)
    ns = {"namespace": namespace}
    # Phase: one series per phase, 1 for the current one.
    for name, phase in [
        ("ready", "Running"),
        ("never-ready", "Running"),
        ("crashloop", "Running"),
        ("pending", "Pending"),
        ("failed", "Failed"),
    ]:
        phases = select(s, "kube_pod_status_phase", pod=name, **ns)
        assert len(phases) == 5
        assert {dict(k)["phase"]: v for k, v in phases.items() if v == 1} == {phase: 1}
    # Ready: condition true/false/unknown.
    assert value(s, "kube_pod_status_ready", pod="never-ready", condition="false", **ns) == 1
    assert value(s, "kube_pod_status_ready", pod="never-ready", condition="true", **ns) == 0
    assert value(s, "kube_pod_status_ready", pod="never-ready", condition="unknown", **ns) == 0
    assert value(s, "kube_pod_status_scheduled", pod="pending", condition="false", **ns) == 1
    assert value(s, "kube_pod_status_ready_time", pod="ready", **ns) > 1.7e9
    assert value(s, "kube_pod_status_ready_time", pod="never-ready", **ns) is None
    assert value(s, "kube_pod_status_container_ready_time", pod="ready", **ns) > 1.7e9
    assert value(s, "kube_pod_start_time", pod="ready", **ns) > 1.7e9
    assert value(s, "kube_pod_start_time", pod="pending", **ns) is None
    # Crash loop.
    assert (
        value(
            s,
            "kube_pod_container_status_waiting_reason",
            pod="crashloop",
            container="main",
            reason="CrashLoopBackOff",
            **ns,
        )
        == 1
    )
    assert value(s, "kube_pod_container_status_ready", pod="crashloop", container="main", **ns) == 0
    # The failed pod, status set through the API.
    assert (
        value(
            s,
            "kube_pod_container_status_terminated_reason",
            pod="failed",
            container="main",
            reason="Error",
            **ns,
        )
        == 1
    )
    assert (
        value(
            s,
            "kube_pod_container_status_last_terminated_reason",
            pod="failed",
            container="main",
            reason="OOMKilled",
            **ns,
        )
        == 1
    )
    assert value(s, "kube_pod_container_status_restarts_total", pod="failed", **ns) == 3
    # Requests and limits in base units.
    assert (
        value(
            s,
            "kube_pod_container_resource_requests",
            pod="ready",
            resource="cpu",
            unit="core",
            **ns,
        )
        == 0.25
    )
    assert (
        value(
            s,
            "kube_pod_container_resource_requests",
            pod="ready",
            resource="memory",
            unit="byte",
            **ns,
        )
        == 64 * 2**20
    )
    assert value(s, "kube_pod_container_resource_limits", pod="ready", resource="cpu", **ns) == 1
    # Info and owner.
    info = select(s, "kube_pod_info", pod="ready", **ns)
    (labels,) = info
    assert dict(labels)["created_by_kind"] == "<none>" and dict(labels)["node"].startswith("node-")
    deploy_pods = [dict(k) for k in select(s, "kube_pod_owner", owner_kind="ReplicaSet", **ns)]
    assert len(deploy_pods) == 2 and all(p["owner_is_controller"] == "true" for p in deploy_pods)
    assert value(s, "kube_pod_owner", pod="ready", owner_kind="<none>", **ns) == 1
    sts_info = select(
        s, "kube_pod_info", created_by_kind="StatefulSet", created_by_name="sts", **ns
    )
    assert len(sts_info) == 2
    containers = select(s, "kube_pod_container_info", pod="ready", container="main", **ns)
    assert [dict(k)["image_spec"] for k in containers] == ["example.invalid/app:1"]
    assert value(s, "kube_pod_labels", pod="ready", label_app="web", **ns) == 1
    # Workloads.
    assert value(s, "kube_deployment_spec_replicas", deployment="deploy", **ns) == 2
    assert value(s, "kube_deployment_status_replicas", deployment="deploy", **ns) == 2
    assert value(s, "kube_deployment_status_replicas_updated", deployment="deploy", **ns) == 2
    assert value(s, "kube_deployment_status_replicas_ready", deployment="deploy", **ns) == 2
    assert value(s, "kube_deployment_metadata_generation", deployment="deploy", **ns) == 1
    assert value(s, "kube_deployment_status_observed_generation", deployment="deploy", **ns) == 1
    assert (
        value(
            s,
            "kube_deployment_status_condition",
            deployment="deploy",
            condition="Available",
            status="true",
            **ns,
        )
        == 1
    )
    rs = [
        dict(k)
        for k in select(
            s, "kube_replicaset_owner", owner_kind="Deployment", owner_name="deploy", **ns
        )
    ]
    assert len(rs) == 1
    assert value(s, "kube_replicaset_spec_replicas", replicaset=rs[0]["replicaset"], **ns) == 2
    assert value(s, "kube_statefulset_replicas", statefulset="sts", **ns) == 2
    assert value(s, "kube_statefulset_status_replicas", statefulset="sts", **ns) == 2
    # Service, namespace, node.
    assert value(s, "kube_service_info", service="svc", cluster_ip="None", **ns) == 1
    assert value(s, "kube_service_spec_type", service="svc", type="ClusterIP", **ns) == 1
    assert value(s, "kube_namespace_status_phase", namespace=namespace, phase="Active") == 1
    assert value(s, "kube_namespace_status_phase", namespace=namespace, phase="Terminating") == 0
    assert (
        value(
            s,
            "kube_node_spec_taint",
            node=NODE,
            key="dedicated",
            value="infra",
            effect="NoSchedule",
        )
        == 1
    )
    assert value(s, "kube_node_spec_unschedulable", node=NODE) == 1
    assert value(s, "kube_node_status_condition", node=NODE, condition="Ready", status="true") == 0
    ready_nodes = select(s, "kube_node_status_condition", condition="Ready", status="true")
    assert sum(ready_nodes.values()) >= 3
    assert (
        value(
            s, "kube_node_status_allocatable", node="node-000000", resource="pods", unit="integer"
        )
        > 0
    )
    # Seed 004 requests by label: 2 deploy pods x 250m, etc. (unfinished pods only).
    assert (
        value(
            s,
            "kubepulse_pod_resource_requests_by_label",
            label_name="app",
            label_value="deploy",
            resource="cpu",
            unit="core",
            **ns,
        )
        == 0.5
    )
    assert (
        value(
            s,
            "kubepulse_pod_resource_requests_by_label",
            label_name="app",
            label_value="web",
            resource="memory",
            unit="byte",
            **ns,
        )
        == 4 * 64 * 2**20
    )
    # The metrics API is absent in this cluster: that family is omitted, the rest is served.
    assert not select(s, "kubepulse_pod_cpu_usage_cores_by_label")
    # promtool agrees the output is valid exposition text.
    _, body, _ = fetch(url + "/metrics")
    target = tmp_path / "metrics.prom"
    target.write_bytes(body)
    check = subprocess.run(
        ["promtool", "check", "metrics"],
        stdin=target.open("rb"),
        capture_output=True,
        text=True,
        check=False,
    )
    # promtool's lint warns about KSM's own naming (e.g. *_created gauges); errors are fatal.
    assert "error" not in (check.stdout + check.stderr).lower(), check.stdout + check.stderr


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


def test_stale_resource_version_relists_without_duplicates(
    cluster: Cluster, namespace: str
) -> None:
    """A watch from a compacted resourceVersion gets a real 410; the re-list converges."""
    client = connect(cluster.kubeconfig)
    store = KindStore("pods", pod_families.families(None), pod_families.prefix)
    informer = Informer(client, PODS, store, namespace=namespace, backoff=Backoff(0.05, 0.2))
    apply(cluster, namespace, pod("keep"), pod("gone"))
    informer.start()
    try:
        assert informer.synced.wait(10)
        wait_until(lambda: store.samples("kube_pod_info").count(b"\n") == 2, timeout=10)
        informer.stop()
        cluster.kubectl("delete", "pod", "gone", "-n", namespace, "--wait=true")
        apply(cluster, namespace, pod("new"))
        # Resume from a resourceVersion long compacted out of the watch cache.
        informer.resource_version = "1"
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


@pytest.mark.slow
def test_apiserver_restart_while_scaling(
    cluster: Cluster, namespace: str, exporter: tuple[ClusterExporter, str]
) -> None:
    """Resilience: API server down ~10 s mid-scale; /metrics equals the truth within 10 s after."""
    exp, url = exporter
    apply(cluster, namespace, workload("Deployment", "scaler", 2))
    wait_until(lambda: len(_seen(url, namespace)[0]) == 2, timeout=20, interval=0.2)
    lists_before = exp.telemetry.lists.labels("pods", "success")._value.get()
    cluster.kubectl("scale", "deployment", "scaler", "-n", namespace, "--replicas=6")
    cluster.stop_apiserver()
    down = time.monotonic()
    # While the API is down the last known state keeps being served.
    status, body, _ = fetch(url + "/metrics")
    assert status == 200 and b"kube_pod_info" in body
    time.sleep(max(0.0, 10 - (time.monotonic() - down)))
    cluster.start_apiserver()
    back = time.monotonic()
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
    lists_after = exp.telemetry.lists.labels("pods", "success")._value.get()
    assert lists_after >= lists_before  # a re-list happens if the old resourceVersion expired
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
