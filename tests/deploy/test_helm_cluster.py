"""The Helm chart against the real test cluster (kube-apiserver + controllers, kwok nodes).

Covers server-side dry-run of the rendered objects, a real `helm install` whose pods all become
Ready, the exporter's RBAC proven by SubjectAccessReview, an upgrade that rolls out, and an
uninstall that leaves nothing behind. kwok runs no containers, so images are never pulled.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from deploy_helpers import CHART, run_helm

from kubepulse.testing.cluster import Cluster

pytestmark = pytest.mark.cluster

# kwok has no storage provisioner, so the PVC would stay Pending; the chart's PVC path is covered
# by the offline tests and by the dry-run below.
TEST_VALUES = ("--set", "prometheus.persistence.enabled=false")


def grafana_secret(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl(
        "-n", namespace, "create", "secret", "generic", "kubepulse-grafana-admin",
        "--from-literal=admin-user=admin", "--from-literal=admin-password=test-only",
    )  # fmt: skip


def pods(cluster: Cluster, namespace: str, release: str) -> list[dict[str, Any]]:
    out = cluster.kubectl(
        "-n", namespace, "get", "pods", "-l", f"app.kubernetes.io/instance={release}", "-o", "json"
    )
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return pod["status"].get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in conditions
    )


def test_rendered_chart_passes_server_side_dry_run(cluster: Cluster, namespace: str) -> None:
    """Every object, with all options on (PVCs, shards, sidecar), is accepted by the API server."""
    manifest = run_helm(
        "template", f"dry-{namespace}", str(CHART), "--namespace", namespace,
        "--set", "clusterExporter.sharding.enabled=true",
        "--set", "nodeExporter.textfile.enabled=true",
        "--set", "alertmanager.persistence.enabled=true",
    )  # fmt: skip
    out = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=manifest)
    applied = [line for line in out.splitlines() if line.strip()]
    assert len(applied) == manifest.count("\nkind: ") and all(
        "serverside-applied (server dry run)" in line for line in applied
    ), out


def test_helm_install_rbac_upgrade_and_uninstall(cluster: Cluster, namespace: str) -> None:
    from kubernetes import client

    release = f"kp-{namespace}"
    kubeconfig = cluster.kubeconfig
    grafana_secret(cluster, namespace)
    run_helm(
        "install", release, str(CHART), "--namespace", namespace, *TEST_VALUES,
        "--wait", "--timeout", "120s", kubeconfig=kubeconfig,
    )  # fmt: skip
    installed = pods(cluster, namespace, release)
    components = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in installed}
    assert components == {
        "cluster-exporter",
        "node-exporter",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    node_exporters = [p for p in installed if "node-exporter" in p["metadata"]["name"]]
    assert len(node_exporters) == len(nodes), "one node_exporter per node"
    assert all(ready(p) for p in installed), [
        p["metadata"]["name"] for p in installed if not ready(p)
    ]

    # RBAC, decided by the real API server's authorizer.
    sa = f"{release}-kubepulse-cluster-exporter"
    api = client.AuthorizationV1Api(cluster.api_client())

    def allowed(verb: str, resource: str, group: str = "") -> bool:
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=f"system:serviceaccount:{namespace}:{sa}",
                groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, group=group, namespace="default"
                ),
            )
        )
        result: bool = api.create_subject_access_review(review).status.allowed
        return result

    assert allowed("list", "pods") and allowed("watch", "nodes")
    assert allowed("list", "deployments", "apps")
    assert not allowed("get", "secrets") and not allowed("list", "secrets")
    assert not allowed("create", "pods")
    for resource, group in (
        ("pods", ""),
        ("nodes", ""),
        ("deployments", "apps"),
        ("namespaces", ""),
    ):
        assert not allowed("delete", resource, group), resource
        assert not allowed("deletecollection", resource, group), resource

    # An upgrade with a changed value rolls Prometheus out with it.
    run_helm(
        "upgrade", release, str(CHART), "--namespace", namespace, *TEST_VALUES,
        "--set", "prometheus.retention=7d", "--wait", "--timeout", "120s", kubeconfig=kubeconfig,
    )  # fmt: skip
    sts_name = f"{release}-kubepulse-prometheus"
    deadline = time.monotonic() + 60
    while True:
        sts = json.loads(
            cluster.kubectl("-n", namespace, "get", "statefulset", sts_name, "-o", "json")
        )
        status = sts["status"]
        prom = [
            p for p in pods(cluster, namespace, release) if p["metadata"]["name"] == f"{sts_name}-0"
        ]
        rolled = (
            status.get("updateRevision") == status.get("currentRevision")
            and status.get("updatedReplicas") == 1
            and prom
            and prom[0]["metadata"]["labels"]["controller-revision-hash"]
            == status["updateRevision"]
            and ready(prom[0])
        )
        if rolled:
            break
        assert time.monotonic() < deadline, f"not rolled out: {status}"
        time.sleep(0.5)
    assert "--storage.tsdb.retention.time=7d" in prom[0]["spec"]["containers"][0]["args"]
    assert sts["metadata"]["generation"] == 2

    # Uninstall leaves nothing of the release, namespaced or cluster-wide.
    run_helm("uninstall", release, "--namespace", namespace, "--wait", kubeconfig=kubeconfig)
    kinds = cluster.kubectl("api-resources", "--verbs=list", "-o", "name").split()
    selector = f"app.kubernetes.io/instance={release}"
    leftovers = cluster.kubectl(
        "get", ",".join(k for k in kinds if not k.startswith("events")), "-A", "-l", selector,
        "-o", "name",
    )  # fmt: skip
    assert leftovers.strip() == ""
    assert run_helm("list", "-n", namespace, "-q", kubeconfig=kubeconfig).strip() == ""


def run_k8s_role(cluster: Cluster, namespace: str, tmp_path: Path, **extra: Any) -> dict[str, int]:
    """Run site.yml's kubepulse_k8s role into ``namespace``; the recap's counts."""
    from test_ansible_hosts import ansible, recap

    variables = {
        "kubepulse_k8s_kubeconfig": str(cluster.kubeconfig),
        "kubepulse_k8s_namespace": namespace,
        "kubepulse_k8s_wait_timeout": 120,
        "vault_grafana_admin_password": "test-only",
        **extra,
    }
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    args = ("-i", "inventory/hosts.yml", "site.yml", "--tags", "k8s")
    return recap(ansible("ansible-playbook", *args, "-e", f"@{tmp_path / 'vars.json'}"))


def test_kubepulse_k8s_role_twice(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """The Ansible role installs the chart (kubernetes.core.helm); a second run changes nothing."""
    from deploy_helpers import find_helm

    release = f"ak-{namespace}"
    extra = {
        "kubepulse_k8s_release": release,
        "kubepulse_k8s_helm_binary": find_helm(),
        "kubepulse_k8s_values": {"prometheus": {"persistence": {"enabled": False}}},
    }
    try:
        first = run_k8s_role(cluster, namespace, tmp_path, **extra)
        assert first["failed"] == 0 and first["changed"] >= 2  # the Secret and the release
        assert all(ready(p) for p in pods(cluster, namespace, release))
        second = run_k8s_role(cluster, namespace, tmp_path, **extra)
        assert second["changed"] == 0 and second["failed"] == 0
    finally:
        run_helm("uninstall", release, "-n", namespace, kubeconfig=cluster.kubeconfig, check=False)


def test_kubepulse_k8s_role_applies_the_manifests_twice(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """The role's other method: server-side apply of rendered manifests (kubernetes.core.k8s),
    waiting until every workload is Ready; a second run changes nothing. The manifests are
    rendered for this namespace, as deploy/kubernetes/render.sh renders them for `monitoring`."""
    release = f"am-{namespace}"
    manifests = tmp_path / "kubepulse.yaml"
    manifests.write_text(
        run_helm("template", release, str(CHART), "--namespace", namespace, *TEST_VALUES)
    )
    extra = {"kubepulse_k8s_method": "manifests", "kubepulse_k8s_manifests": str(manifests)}
    try:
        first = run_k8s_role(cluster, namespace, tmp_path, **extra)
        assert first["failed"] == 0 and first["changed"] >= 2  # the Secret and the objects
        running = pods(cluster, namespace, release)
        assert running and all(ready(p) for p in running)
        second = run_k8s_role(cluster, namespace, tmp_path, **extra)
        assert second["changed"] == 0 and second["failed"] == 0
    finally:
        cluster.kubectl("delete", "-f", str(manifests), "--wait=false", "--ignore-not-found")
