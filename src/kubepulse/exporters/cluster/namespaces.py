"""Namespace families: kube-state-metrics v2.16 ``internal/store/namespace.go``.

All of KSM's default namespace families (``kube_namespace_annotations`` is added by the
exporter).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import one_hot, status_conditions
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("namespaces", "/api/v1", namespaced=False)
PHASES = ("Active", "Terminating")
prefix = name_prefix("namespace")


def phase(ns: dict[str, Any]) -> list[Sample]:
    return one_hot("phase", PHASES, (ns.get("status") or {}).get("phase"))


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        metadata.created_family("namespace"),
        metadata.labels_family("namespace", allowed_labels),
        FamilySpec("kube_namespace_status_phase", "kubernetes namespace status phase.", phase),
        FamilySpec(
            "kube_namespace_status_condition", "The condition of a namespace.", status_conditions
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
