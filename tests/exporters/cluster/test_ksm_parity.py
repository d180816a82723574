"""The cluster exporter against the real kube-state-metrics, series for series.

kube-state-metrics (the release ``KSM_VERSION`` pins, built from its Go module) and kubepulse's
cluster exporter run side by side against the same local cluster with the same flags, over a
namespace holding at least one object of every kind kubepulse serves, in varied states. Their
``/metrics`` must agree on every series: the same names, the same label sets, the same values.

What is compared: every series whose ``namespace`` label is the fixture's, every series of a
cluster-scoped object the fixture made (its name starts with the namespace), and every node series.
Labels with an empty value are dropped on both sides, as Prometheus stores them (absent).
Nothing is compared with a tolerance: the two scrapes are repeated until both exporters have
caught up with the same watch events, and a family whose value moves between the scrapes (a
resource version, a renewing lease) converges like any other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from helpers_cluster_exporter import Series, assert_same_series, scrape, start_side_by_side

from kubepulse.exporters.cluster.exporter import KINDS
from kubepulse.lab.cluster import Cluster
from kubepulse.lab.cluster.binaries import KSM_VERSION
from kubepulse.lab.processes import ProcessGroup

pytestmark = pytest.mark.cluster

CLUSTER_SCOPED = {name for name, kind in KINDS.items() if not kind.resource.namespaced}
# The flags both exporters get (beside their addresses and kubeconfig).
FLAGS = [
    "--resources",
    ",".join(KINDS),
    "--metric-labels-allowlist",
    "pods=[app,team],deployments=[*],nodes=[kubernetes.io/hostname],persistentvolumeclaims=[*]",
    "--metric-annotations-allowlist",
    "pods=[kubepulse.dev/ready-after],configmaps=[*],jobs=[owner]",
    "--metric-opt-in-list",
    "kube_pod_nodeselectors",
]


def _csr_pem(ns: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{ns}-user")]))
        .sign(key, hashes.SHA256())
    )
    import base64

    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def _run_once(container: str) -> dict[str, object]:
    """A pod template whose one container (image ``<container>:1``) runs once: a Job's."""
    return {
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": container, "image": f"{container}:1"}],
        }
    }


def fixture_objects(ns: str) -> list[dict[str, object]]:
    """One or more objects of every kind, in varied states (see each comment)."""
    pod_labels = {"app": "web", "team": "shop"}
    template = {
        "metadata": {"labels": pod_labels, "annotations": {"kubepulse.dev/ready-after": "1s"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "web:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ],
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
        },
    }
    objects: list[dict[str, object]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": pod_labels},
                "template": template,
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 1,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "db:1"}]},
                },
                # The claim stays Pending: no provisioner serves this class.
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": f"{ns}-none",
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "agent", "image": "agent:1"}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {"name": "legacy"},
            "spec": {
                "replicas": 1,
                "selector": {"app": "legacy"},
                "template": {
                    "metadata": {"labels": {"app": "legacy"}},
                    "spec": {"containers": [{"name": "legacy", "image": "legacy:1"}]},
                },
            },
        },
        # A bare pod with init containers, and a crash-looping one.
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "init", "labels": {"app": "init"}},
            "spec": {
                "initContainers": [{"name": "setup", "image": "setup:1"}],
                "containers": [{"name": "main", "image": "main:1"}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "crashy",
                "labels": {"app": "crashy", "kubepulse.dev/crashloop": "true"},
            },
            "spec": {"containers": [{"name": "main", "image": "main:1"}]},
        },
        # A Job that completes and one that fails its deadline (its pod never gets Ready).
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "done", "annotations": {"owner": "batch-team"}},
            "spec": {"template": _run_once("job")},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "late"},
            "spec": {
                "activeDeadlineSeconds": 2,
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": {"kubepulse.dev/never-ready": "true"}},
                    **_run_once("job"),
                },
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "30 2 * * *",
                "suspend": True,
                "jobTemplate": {"spec": {"template": _run_once("c")}},
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "hourly"},
            "spec": {
                "schedule": "0 * * * *",
                "timeZone": "Europe/Paris",
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {"spec": {"template": _run_once("c")}},
            },
        },
        # A bound claim (a static volume of its own class) and a pending one.
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{ns}-pv", "labels": {"disk": "ssd"}},
            "spec": {
                "capacity": {"storage": "2Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": f"{ns}-static",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": "/tmp/kubepulse-never-used"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "bound", "labels": {"app": "web"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": f"{ns}-static",
                "volumeName": f"{ns}-pv",
                "resources": {"requests": {"storage": "2Gi"}},
            },
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": f"{ns}-static"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Retain",
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "VolumeAttachment",
            "metadata": {"name": f"{ns}-va"},
            "spec": {
                "attacher": "csi.kubepulse.dev",
                "nodeName": "node-000000",
                "source": {"persistentVolumeName": f"{ns}-pv"},
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "quota"},
            "spec": {"hard": {"pods": "20", "requests.cpu": "4", "requests.memory": "8Gi"}},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "limits"},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": "500m", "memory": "256Mi"},
                        "defaultRequest": {"cpu": "50m"},
                        "max": {"cpu": "2"},
                    }
                ]
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "annotations": {"checksum": "abc"}},
            "data": {"a": "1"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "token", "labels": {"app": "web"}},
            "type": "Opaque",
            "stringData": {"token": "s3cr3t"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web"},
            "spec": {
                "rules": [
                    {
                        "host": "shop.example",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ],
                "tls": [{"hosts": ["shop.example"], "secretName": "token"}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "db"}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
            },
        },
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "leader"},
            "spec": {
                "holderIdentity": "web-0",
                "leaseDurationSeconds": 15,
                "renewTime": "2026-03-01T10:00:00.000000Z",
            },
        },
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": f"{ns}-csr"},
            "spec": {
                "request": _csr_pem(ns),
                "signerName": "example.com/kubepulse",
                "usages": ["client auth"],
            },
        },
    ]
    # RBAC objects, a ServiceAccount and an IngressClass (KSM's opt-in kinds).
    rule = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
    objects += [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader", "labels": {"app": "web"}},
            "rules": [rule],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": ns}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"{ns}-reader"},
            "rules": [rule],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{ns}-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"{ns}-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": ns}],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": f"{ns}-class"},
            "spec": {"controller": "example.com/ingress-controller"},
        },
    ]
    # Webhooks that can never be called: they match a group no API serves.
    never = {
        "apiGroups": ["never.kubepulse.dev"],
        "apiVersions": ["v1"],
        "operations": ["CREATE"],
        "resources": ["nothings"],
    }
    for kind in ("Mutating", "Validating"):
        objects.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": f"{kind}WebhookConfiguration",
                "metadata": {"name": f"{ns}-{kind.lower()}"},
                "webhooks": [
                    {
                        "name": f"{kind.lower()}.kubepulse.dev",
                        "rules": [never],
                        "failurePolicy": "Ignore",
                        "sideEffects": "None",
                        "admissionReviewVersions": ["v1"],
                        "clientConfig": {"service": {"namespace": ns, "name": "web"}},
                    }
                ],
            }
        )
    return objects


def relevant(series: Series, ns: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The fixture's series, with empty-valued labels dropped (Prometheus stores none)."""
    out = {}
    for (name, labels), value in series.items():
        values = dict(labels)
        mine = values.get("namespace") == ns or name.startswith("kube_node_")
        mine = mine or any(v.startswith(f"{ns}-") for k, v in labels if k != "namespace")
        if mine:
            out[(name, frozenset((k, v) for k, v in labels if v != ""))] = value
    return out


@pytest.fixture
def objects(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[str]:
    manifest = tmp_path / "objects.yaml"
    docs = fixture_objects(namespace)
    manifest.write_text(yaml.safe_dump_all(docs))
    cluster.kubectl("apply", "-n", namespace, "-f", str(manifest))
    yield namespace
    cluster.kubectl(
        "delete", "-n", namespace, "--wait=false", "--ignore-not-found", "-f", str(manifest)
    )


def test_every_series_matches_kube_state_metrics(
    cluster: Cluster, objects: str, tmp_path: Path
) -> None:
    ns = objects
    common = ["--kubeconfig", str(cluster.kubeconfig), *FLAGS]
    with ProcessGroup(tmp_path) as group:
        ports = start_side_by_side(group, common)
        # Let the fixture settle (the late Job fails its 2 s deadline, Deployments go Ready),
        # then compare until both exporters show the same state.
        deadline = time.monotonic() + 90
        settled_at = time.monotonic() + 10
        while True:
            theirs = relevant(scrape(f"http://127.0.0.1:{ports['ksm']}"), ns)
            ours = relevant(scrape(f"http://127.0.0.1:{ports['kp']}"), ns)
            equal = sum(1 for k, v in theirs.items() if ours.get(k) == v)
            if (equal == len(theirs) == len(ours) and time.monotonic() > settled_at) or (
                time.monotonic() > deadline
            ):
                break
            time.sleep(1)
    assert_same_series(theirs, ours, f"parity with kube-state-metrics v{KSM_VERSION}")
    families = {name for name, _ in theirs}
    # The fixture really covers every kind: each served kind has series from both.
    assert len(theirs) > 300
    assert families >= {"kube_job_failed", "kube_pod_init_container_info", "kube_node_info"}
