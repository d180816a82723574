"""The demo's sample workloads: what a small shop's cluster looks like on a bad day.

On the kwok test cluster pod behaviour comes from kwok labels (``kubepulse.testing.stages``):
a Deployment whose pods never become Ready (it never reaches its replicas), a crash-looping pod,
a StatefulSet pinned to a tainted node, and a scraped web Deployment the pod-kill scenario
disrupts. On a real cluster (``real=True``) the same objects use the tiny ``pause`` image, a
readiness probe that always fails and a container that exits at once, and no node is tainted.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BATCH_NAMESPACE",
    "DATA_NAMESPACE",
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
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": selector},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": annotations or {}},
                "spec": {"containers": [container]},
            },
        },
    }


def manifests(*, real: bool, tainted_node: str | None) -> list[dict[str, Any]]:
    """Namespaces and workloads, in apply order. ``tainted_node`` hosts the StatefulSet."""
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
    db_pod_spec: dict[str, Any] = {"containers": [_container("db", real)]}
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
    db = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": DATA_NAMESPACE, "labels": db_labels},
        "spec": {
            "serviceName": "db",
            "replicas": 2,
            "selector": {"matchLabels": db_labels},
            "template": {"metadata": {"labels": db_labels}, "spec": db_pod_spec},
        },
    }
    return [*namespaces, web, payments, cache, db_service, db, crasher]
