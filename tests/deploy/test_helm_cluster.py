"""The Helm chart against the real test cluster (kube-apiserver + controllers, kwok nodes).

Covers server-side dry-run of the rendered objects, a real `helm install` whose pods all become
Ready, the exporter's and Prometheus' RBAC proven by SubjectAccessReview, an upgrade that rolls
out, an uninstall that leaves nothing behind, and Prometheus' PVC bound to a static volume and
kept or deleted on uninstall as configured. kwok runs no containers, so images are never pulled.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import CHART, run_helm

from kubepulse.exporters.cluster.exporter import DEFAULT_RESOURCES, KINDS
from kubepulse.lab.cluster import Cluster

pytestmark = pytest.mark.cluster

# kwok has no storage provisioner, so the default StorageClass-less PVC would stay Pending; the
# chart's PVC path has its own test with a static volume.
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


COMPONENTS = {
    "cluster-exporter",
    "node-exporter",
    "prometheus",
    "alertmanager",
    "grafana",
    "blackbox-exporter",
}


def assert_release_ready(cluster: Cluster, namespace: str, release: str, manifest: str) -> None:
    """The release runs exactly the pods its rendered manifest asks for, every one Ready: per
    component, each Deployment's and StatefulSet's replicas and one DaemonSet pod per node."""
    nodes = len(json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"])
    expected: Counter[str] = Counter()
    for obj in yaml.safe_load_all(manifest):
        if obj and obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            component = obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            count = nodes if obj["kind"] == "DaemonSet" else obj["spec"].get("replicas", 1)
            expected[component] += count
    assert set(expected) == COMPONENTS and nodes > 0, expected
    running = pods(cluster, namespace, release)
    got = Counter(p["metadata"]["labels"]["app.kubernetes.io/component"] for p in running)
    assert got == expected, f"pods {dict(got)}, the chart asks for {dict(expected)}"
    assert all(ready(p) for p in running), [p["metadata"]["name"] for p in running if not ready(p)]


# What each ServiceAccount reads (verbs get/list/watch), as (resource, subresource, API group).
# The exporter reads every kind it serves by default (KSM's default kinds) and the metrics API.
EXPORTER_READS = (
    *(
        (
            name,
            "",
            ""
            if KINDS[name].resource.group_version.startswith("/api/")
            else KINDS[name].resource.group_version.split("/")[2],
        )
        for name in DEFAULT_RESOURCES
    ),
    ("pods", "", "metrics.k8s.io"),
)
PROMETHEUS_READS = (
    ("nodes", "", ""),
    ("nodes", "metrics", ""),
    ("nodes", "proxy", ""),
    ("services", "", ""),
    ("endpoints", "", ""),
    ("pods", "", ""),
    ("endpointslices", "", "discovery.k8s.io"),
)
READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def assert_rbac(cluster: Cluster, namespace: str, release: str) -> None:
    """Both ServiceAccounts may read exactly what they need, in one namespace and cluster-wide
    (namespace ""), and may neither write what they read nor touch Secrets or kinds not granted."""
    from kubernetes import client

    api = client.AuthorizationV1Api(cluster.api_client())

    def review(sa: str, **attributes: Any) -> bool:
        spec = client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:{sa}",
            # The groups a real token of this account carries.
            groups=[
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
            **attributes,
        )
        status = api.create_subject_access_review(client.V1SubjectAccessReview(spec=spec)).status
        result: bool = status.allowed
        return result

    def allowed(sa: str, verb: str, resource: str, sub: str, group: str, scope: str) -> bool:
        attributes = client.V1ResourceAttributes(
            verb=verb, resource=resource, subresource=sub, group=group, namespace=scope
        )
        return review(sa, resource_attributes=attributes)

    exporter = f"{release}-kubepulse-cluster-exporter"
    prometheus = f"{release}-kubepulse-prometheus"
    # Granted to neither; reads of these would be a least-privilege leak.
    # The exporter reads Secrets' metadata as KSM does; Prometheus may not.
    not_granted = (("serviceaccounts", "", ""), ("roles", "", "rbac.authorization.k8s.io"))
    cases = (
        (exporter, EXPORTER_READS, (*not_granted, ("nodes", "proxy", ""))),
        (
            prometheus,
            PROMETHEUS_READS,
            (
                *not_granted,
                ("secrets", "", ""),
                ("configmaps", "", ""),
                ("deployments", "", "apps"),
            ),
        ),
    )
    for sa, reads, others in cases:
        for scope in ("default", ""):
            for resource, sub, group in reads:
                where = (sa, resource, sub, group, scope)
                for verb in READ_VERBS:
                    assert allowed(sa, verb, resource, sub, group, scope), (verb, *where)
                for verb in WRITE_VERBS:
                    assert not allowed(sa, verb, resource, sub, group, scope), (verb, *where)
            for resource, sub, group in others:
                for verb in READ_VERBS + WRITE_VERBS:
                    where = (sa, resource, sub, group, scope)
                    assert not allowed(sa, verb, resource, sub, group, scope), (verb, *where)
            # Reading pods must not extend to running commands in them.
            assert not allowed(sa, "create", "pods", "exec", "", scope), (sa, scope)
    # Prometheus scrapes the API server's own /metrics; the exporter has no business there.
    metrics = client.V1NonResourceAttributes(verb="get", path="/metrics")
    assert review(prometheus, non_resource_attributes=metrics)
    assert not review(exporter, non_resource_attributes=metrics)


def test_rendered_chart_passes_server_side_dry_run(cluster: Cluster, namespace: str) -> None:
    """Every object, with all options on (PVCs, shards, sidecars, Prometheus replicas with the
    Thanos sidecar, an Alertmanager cluster and its headless Service), is accepted by the API
    server."""
    manifest = run_helm(
        "template", f"dry-{namespace}", str(CHART), "--namespace", namespace,
        "--set", "clusterExporter.sharding.enabled=true",
        "--set", "nodeExporter.textfile.enabled=true",
        "--set", "alertmanager.persistence.enabled=true",
        "--set", "prometheus.replicas=2",
        "--set", "prometheus.thanos.sidecar.enabled=true",
        "--set", "prometheus.thanos.sidecar.objstoreSecret=thanos-objstore",
        "--set", "alertmanager.replicas=2",
    )  # fmt: skip
    assert f"name: dry-{namespace}-kubepulse-alertmanager-cluster" in manifest
    out = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=manifest)
    applied = [line for line in out.splitlines() if line.strip()]
    assert len(applied) == manifest.count("\nkind: ") and all(
        "serverside-applied (server dry run)" in line for line in applied
    ), out


def test_helm_install_rbac_upgrade_and_uninstall(cluster: Cluster, namespace: str) -> None:
    release = f"kp-{namespace}"
    kubeconfig = cluster.kubeconfig
    grafana_secret(cluster, namespace)
    run_helm(
        "install", release, str(CHART), "--namespace", namespace, *TEST_VALUES,
        "--wait", "--timeout", "120s", kubeconfig=kubeconfig,
    )  # fmt: skip
    installed = pods(cluster, namespace, release)
    components = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in installed}
    assert components == COMPONENTS
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    node_exporters = [p for p in installed if "node-exporter" in p["metadata"]["name"]]
    assert len(node_exporters) == len(nodes), "one node_exporter per node"
    assert all(ready(p) for p in installed), [
        p["metadata"]["name"] for p in installed if not ready(p)
    ]

    # RBAC, decided by the real API server's authorizer.
    assert_rbac(cluster, namespace, release)

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


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll ``probe`` until it returns something truthy, which is returned."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.5)
    return found


@pytest.mark.parametrize("retain", [False, True], ids=["delete-on-uninstall", "retain"])
def test_prometheus_pvc_binds_a_static_volume_and_follows_the_retention_policy(
    cluster: Cluster, namespace: str, retain: bool
) -> None:
    """The chart's PVC path on the real cluster. kwok has no storage provisioner, so the test
    brings a StorageClass without one (kubernetes.io/no-provisioner) and a matching hostPath
    PersistentVolume; kube-controller-manager's PV controller binds the StatefulSet's claim to it.
    kwok mounts nothing, so the host path under /tmp is never written. After `helm uninstall` the
    claim is deleted with the StatefulSet, or kept with `prometheus.persistence.retainOnUninstall`,
    as the StatefulSet's persistentVolumeClaimRetentionPolicy says."""
    release = f"pv-{namespace}"
    storage_class = pv_name = f"kubepulse-{namespace}"
    size = "3Gi"
    # Reclaim Retain: the PV controller has no deleter for hostPath volumes; a Released volume
    # shows that the claim on it went away.
    objects = f"""
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {{name: {storage_class}}}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv_name}}}
spec:
  storageClassName: {storage_class}
  capacity: {{storage: {size}}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {{path: /tmp/kubepulse-pv-{namespace}, type: DirectoryOrCreate}}
"""
    cluster.kubectl("apply", "-f", "-", input=objects)
    try:
        run_helm(
            "install", release, str(CHART), "--namespace", namespace,
            "--set", "clusterExporter.enabled=false", "--set", "nodeExporter.enabled=false",
            "--set", "alertmanager.enabled=false", "--set", "grafana.enabled=false",
            "--set", "blackboxExporter.enabled=false",
            "--set", f"prometheus.persistence.storageClassName={storage_class}",
            "--set", f"prometheus.persistence.size={size}",
            "--set", f"prometheus.persistence.retainOnUninstall={str(retain).lower()}",
            "--wait", "--timeout", "120s", kubeconfig=cluster.kubeconfig,
        )  # fmt: skip
        sts_name = f"{release}-kubepulse-prometheus"
        sts = json.loads(
            cluster.kubectl("-n", namespace, "get", "statefulset", sts_name, "-o", "json")
        )
        assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Retain" if retain else "Delete",
            "whenScaled": "Retain",
        }
        pvc_name = f"data-{sts_name}-0"

        def pvc() -> dict[str, Any]:
            out = cluster.kubectl(
                "-n", namespace, "get", "pvc", pvc_name, "-o", "json", "--ignore-not-found"
            )
            return json.loads(out) if out.strip() else {}

        def bound() -> dict[str, Any] | None:
            claim = pvc()
            return claim if claim.get("status", {}).get("phase") == "Bound" else None

        claim = wait_for(f"{pvc_name} Bound", bound)
        assert claim["spec"]["volumeName"] == pv_name
        assert claim["spec"]["storageClassName"] == storage_class
        assert claim["status"]["capacity"] == {"storage": size}
        volume = json.loads(cluster.kubectl("get", "pv", pv_name, "-o", "json"))
        assert volume["status"]["phase"] == "Bound"
        assert volume["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
        # whenDeleted: Delete works through the garbage collector: the StatefulSet controller
        # makes the StatefulSet the claim's owner; Retain leaves the claim unowned.
        owners = [(o["kind"], o["uid"]) for o in claim["metadata"].get("ownerReferences", [])]
        assert owners == ([] if retain else [("StatefulSet", sts["metadata"]["uid"])])

        prom = wait_for(
            "Prometheus Ready",
            lambda: [p for p in pods(cluster, namespace, release) if ready(p)],
        )
        assert [p["metadata"]["name"] for p in prom] == [f"{sts_name}-0"]
        (data,) = [v for v in prom[0]["spec"]["volumes"] if v["name"] == "data"]
        assert data["persistentVolumeClaim"]["claimName"] == pvc_name

        run_helm(
            "uninstall", release, "--namespace", namespace, "--wait", kubeconfig=cluster.kubeconfig
        )
        wait_for("Prometheus' pod gone", lambda: not pods(cluster, namespace, release))
        if retain:
            # The history outlives the release: the claim stays bound to the same volume.
            kept = pvc()
            assert kept["metadata"]["uid"] == claim["metadata"]["uid"]
            assert kept["status"]["phase"] == "Bound" and not kept["metadata"].get(
                "deletionTimestamp"
            )
            assert not kept["metadata"].get("ownerReferences")
        else:
            # The garbage collector removes the claim the StatefulSet owned; its volume is released.
            wait_for(f"{pvc_name} deleted", lambda: not pvc())

            def released() -> bool:
                pv = json.loads(cluster.kubectl("get", "pv", pv_name, "-o", "json"))
                return bool(pv["status"]["phase"] == "Released")

            wait_for(f"{pv_name} Released", released)
    finally:
        run_helm("uninstall", release, "-n", namespace, kubeconfig=cluster.kubeconfig, check=False)
        cluster.kubectl("-n", namespace, "delete", "pvc", "--all", "--wait=false")
        cluster.kubectl(
            "delete", f"pv/{pv_name}", f"storageclass/{storage_class}", "--wait=false",
            "--ignore-not-found",
        )  # fmt: skip


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
        # The same values as the role's: persistence off, the Grafana Secret it created.
        manifest = run_helm("template", release, str(CHART), "--namespace", namespace, *TEST_VALUES)
        assert_release_ready(cluster, namespace, release, manifest)
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
        assert_release_ready(cluster, namespace, release, manifests.read_text())
        second = run_k8s_role(cluster, namespace, tmp_path, **extra)
        assert second["changed"] == 0 and second["failed"] == 0
    finally:
        cluster.kubectl("delete", "-f", str(manifests), "--wait=false", "--ignore-not-found")
