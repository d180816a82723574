"""The demo's sample workloads: what a small shop's cluster looks like on a bad day.

On the kwok test cluster pod behaviour comes from kwok labels (``kubepulse.lab.cluster.stages``):
a Deployment whose pods never become Ready (it never reaches its replicas), a crash-looping pod,
a StatefulSet pinned to a tainted node, and a scraped web Deployment the pod-kill scenario
disrupts. Also a Job that fails (its pod never finishes within the Job's deadline), a
Deployment whose HPA holds it at its maximum (it starts above it), a claim on a storage class
that does not exist (it stays Pending) and a Service probed over HTTP at a loopback port where
nothing listens (the probe fails). On a real cluster (``real=True``) the same objects use the
tiny ``pause`` image, a readiness probe that always fails and containers that exit at once, and
no node is tainted.
"""

from __future__ import annotations

from typing import Any

from kubepulse.lab.blackbox import probed_service
from kubepulse.lab.manifests import cpu_hpa, deployment

__all__ = [
    "BATCH_NAMESPACE",
    "DATA_NAMESPACE",
    "FAILING_PROBE",
    "NAMESPACES",
    "SHOP_NAMESPACE",
    "STACK_NAMESPACE",
    "TAINT",
    "WEB_SELECTOR",
    "manifests",
]

SHOP_NAMESPACE = "demo-shop"
DATA_NAMESPACE = "demo-data"
BATCH_NAMESPACE = "demo-batch"
# Where the stand-ins for kubepulse's own components live (what Prometheus discovers). Not
# "kubepulse": on a real cluster that may be the real install, and the demo deletes its namespaces.
STACK_NAMESPACE = "kubepulse-demo"
NAMESPACES = (SHOP_NAMESPACE, DATA_NAMESPACE, BATCH_NAMESPACE, STACK_NAMESPACE)
WEB_SELECTOR = "app.kubernetes.io/name=web"
TAINT = "dedicated=data:NoSchedule"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
WEB_PORT = 8000  # never contacted: Prometheus's target is rewritten to the loopback app
# The probed Service (namespace, name): Prometheus probes it at 127.0.0.1 on its port.
FAILING_PROBE = (SHOP_NAMESPACE, "storefront")


def _container(name: str, real: bool, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": PAUSE_IMAGE if real else f"kubepulse/{name}:demo",
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
        **extra,
    }


def _deployment(
    namespace: str,
    name: str,
    replicas: int,
    *,
    real: bool,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    never_ready: bool = False,
    ports: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": name}
    pod_labels = {**selector, **(labels or {})}
    container = _container(name, real, ports=ports or [])
    if never_ready:
        if real:
            # Nothing listens on port 1 in a pause container: the probe never succeeds.
            container["readinessProbe"] = {"tcpSocket": {"port": 1}, "periodSeconds": 5}
        else:
            pod_labels["kubepulse.dev/never-ready"] = "true"
    return deployment(
        name,
        namespace,
        [container],
        selector=selector,
        replicas=replicas,
        pod_labels=pod_labels,
        annotations=annotations or {},
        labelled=True,
    )


def _failing_job(real: bool) -> dict[str, Any]:
    """A Job that fails: on kwok its pod never becomes Ready, so never completes, and the Job
    passes its deadline; on a real cluster its container exits 1 and no retry is allowed."""
    labels = {"app.kubernetes.io/name": "nightly-export"}
    container = _container("nightly-export", real)
    if real:
        container |= {"image": "busybox:1.36", "command": ["sh", "-c", "exit 1"]}
    else:
        labels["kubepulse.dev/never-ready"] = "true"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "nightly-export", "namespace": BATCH_NAMESPACE},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 5,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }


def _maxed_out_hpa() -> dict[str, Any]:
    """An HPA allowing 1-2 replicas of checkout, which starts with 3: it is scaled to its
    maximum at once and stays there (with or without CPU metrics)."""
    return cpu_hpa(SHOP_NAMESPACE, "checkout", min_replicas=1, max_replicas=2, utilization=50)


def _pending_claim() -> dict[str, Any]:
    """A claim on a storage class no cluster has: nothing can bind it, it stays Pending."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "uploads", "namespace": DATA_NAMESPACE},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "kubepulse-demo-missing",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


def manifests(*, real: bool, tainted_node: str | None, probe_port: int) -> list[dict[str, Any]]:
    """Namespaces and workloads, in apply order. ``tainted_node`` hosts the StatefulSet;
    ``probe_port`` is the loopback port the probed Service names (nothing may listen there)."""
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in NAMESPACES
    ]
    web = _deployment(
        SHOP_NAMESPACE,
        "web",
        3,
        real=real,
        labels={"team": "shop"},
        annotations={
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(WEB_PORT),
            # Replacements take a moment to become Ready, like a real app warming up.
            "kubepulse.dev/ready-after": "2s",
        },
        ports=[{"name": "http", "containerPort": WEB_PORT}],
    )
    payments = _deployment(
        SHOP_NAMESPACE, "payments", 2, real=real, labels={"team": "shop"}, never_ready=True
    )
    cache = _deployment(DATA_NAMESPACE, "cache", 2, real=real, labels={"team": "data"})
    crasher = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "report-generator",
            "namespace": BATCH_NAMESPACE,
            "labels": {"app.kubernetes.io/name": "report-generator"}
            | ({} if real else {"kubepulse.dev/crashloop": "true"}),
        },
        "spec": {
            "restartPolicy": "Always",
            "containers": [
                _container("report-generator", real)
                | ({"image": "busybox:1.36", "command": ["sh", "-c", "exit 1"]} if real else {})
            ],
        },
    }
    db_labels = {"app.kubernetes.io/name": "db"}
    db_pod_spec: dict[str, Any] = {}
    if tainted_node is not None:
        key, _, rest = TAINT.partition("=")
        value, _, effect = rest.partition(":")
        db_pod_spec["nodeSelector"] = {"kubernetes.io/hostname": tainted_node}
        db_pod_spec["tolerations"] = [
            {"key": key, "operator": "Equal", "value": value, "effect": effect}
        ]
    db_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db", "namespace": DATA_NAMESPACE, "labels": db_labels},
        "spec": {"clusterIP": "None", "selector": db_labels, "ports": [{"port": 5432}]},
    }
    db = deployment(
        "db",
        DATA_NAMESPACE,
        [_container("db", real)],
        selector=db_labels,
        replicas=2,
        labelled=True,
        pod_spec=db_pod_spec,
        kind="StatefulSet",
        serviceName="db",
    )
    checkout = _deployment(SHOP_NAMESPACE, "checkout", 3, real=real, labels={"team": "shop"})
    return [
        *namespaces,
        web,
        payments,
        cache,
        db_service,
        db,
        crasher,
        checkout,
        _maxed_out_hpa(),
        _failing_job(real),
        _pending_claim(),
        probed_service(*FAILING_PROBE, probe_port, **{"prometheus.io/probe-path": "/"}),
    ]
