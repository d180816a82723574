"""The Kubernetes objects the lab's clusters run, one builder per kind.

Shared by the demo's workloads, the stand-ins for kubepulse's own components
(``kubepulse.lab.servers``) and the stack tests, so that a Deployment or an HPA is written in one
place. On the kwok cluster pods behave as their labels and annotations ask
(``kubepulse.lab.cluster.stages``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cpu_hpa", "deployment"]


def deployment(
    name: str,
    namespace: str,
    containers: list[dict[str, Any]],
    *,
    selector: Mapping[str, str],
    replicas: int = 1,
    pod_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    labelled: bool = False,
    pod_spec: Mapping[str, Any] | None = None,
    kind: str = "Deployment",
    **spec: Any,
) -> dict[str, Any]:
    """A Deployment (or a StatefulSet, with ``kind``) of ``replicas`` pods running ``containers``.

    Its pods carry the ``selector`` labels and ``pod_labels``, and ``annotations`` if given;
    ``labelled`` puts the ``selector`` labels on the object itself too. ``pod_spec`` adds to the
    pods' spec, ``spec`` to the object's (``serviceName`` for a StatefulSet)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labelled:
        metadata["labels"] = dict(selector)
    pod_metadata: dict[str, Any] = {"labels": {**selector, **(pod_labels or {})}}
    if annotations is not None:
        pod_metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            "template": {
                "metadata": pod_metadata,
                "spec": {"containers": containers, **(pod_spec or {})},
            },
            **spec,
        },
    }


def cpu_hpa(
    namespace: str, name: str, *, min_replicas: int, max_replicas: int, utilization: int
) -> dict[str, Any]:
    """An HPA named after the Deployment ``name`` it scales between ``min_replicas`` and
    ``max_replicas``, aiming at ``utilization`` percent of the pods' CPU requests."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": utilization},
                    },
                }
            ],
        },
    }
