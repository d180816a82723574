"""Namespace families: kube-state-metrics v2.16 ``internal/store/namespace.go``.

All of KSM's default namespace families (``kube_namespace_annotations`` is added by the
exporter).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster.common import condition_samples, labels_sample
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels, Sample
from kubepulse.exporters.cluster.workload import created
from kubepulse.kube.informer import Resource

RESOURCE = Resource("namespaces", "/api/v1", namespaced=False)
PHASES = ("Active", "Terminating")


def prefix(ns: dict[str, Any]) -> Labels:
    return (("namespace", ns["metadata"]["name"]),)


def phase(ns: dict[str, Any]) -> list[Sample]:
    current = (ns.get("status") or {}).get("phase")
    return [((("phase", p),), 1.0 if p == current else 0.0) for p in PHASES]


def conditions(ns: dict[str, Any]) -> list[Sample]:
    out: list[Sample] = []
    for c in (ns.get("status") or {}).get("conditions") or ():
        out.extend(
            condition_samples(c.get("status"), "status", (("condition", c.get("type", "")),))
        )
    return out


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_namespace_created", "Unix creation timestamp", created),
        FamilySpec(
            "kube_namespace_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda n: labels_sample(n["metadata"].get("labels"), allowed_labels),
        ),
        FamilySpec("kube_namespace_status_phase", "kubernetes namespace status phase.", phase),
        FamilySpec("kube_namespace_status_condition", "The condition of a namespace.", conditions),
    ]


KIND = Kind(RESOURCE, prefix, families)
