"""IngressClass families: kube-state-metrics v2.16 ``internal/store/ingressclass.go`` (opt-in
kind ``ingressclasses``); series start with ``ingressclass`` (cluster-scoped).

Families, in KSM's order: info, created, labels. KSM's ``kube_ingressclass_annotations`` (its
third) is not in this table: the exporter adds it beside the labels family from
``--metric-annotations-allowlist`` (before it, which is KSM's place).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("ingressclasses", "/apis/networking.k8s.io/v1", namespaced=False)
prefix = name_prefix("ingressclass")

Obj = dict[str, Any]


def _info(obj: Obj) -> list[Sample]:
    return [((("controller", (obj.get("spec") or {}).get("controller") or ""),), 1.0)]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_ingressclass_info", "Information about ingressclass.", _info),
        metadata.created_family("ingressclass"),
        metadata.labels_family("ingressclass", allowed_labels),
    ]


KIND = Kind(RESOURCE, prefix, families)
