"""Namespace families: kube-state-metrics ``internal/store/namespace.go``."""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster.common import labels_sample
from kubepulse.exporters.cluster.store import FamilySpec, Labels, Sample
from kubepulse.exporters.cluster.workload import created
from kubepulse.kube.informer import Resource

RESOURCE = Resource("namespaces", "/api/v1", namespaced=False)
PHASES = ("Active", "Terminating")


def prefix(ns: dict[str, Any]) -> Labels:
    return (("namespace", ns["metadata"]["name"]),)


def phase(ns: dict[str, Any]) -> list[Sample]:
    current = (ns.get("status") or {}).get("phase")
    return [((("phase", p),), 1.0 if p == current else 0.0) for p in PHASES]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_namespace_created", "Unix creation timestamp", created),
        FamilySpec(
            "kube_namespace_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda n: labels_sample(n["metadata"].get("labels"), allowed_labels),
        ),
        FamilySpec("kube_namespace_status_phase", "kubernetes namespace status phase.", phase),
    ]
