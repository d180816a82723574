"""LimitRange families: kube-state-metrics ``internal/store/limitrange.go``.

Families, in KSM's order: ``kube_limitrange`` (``resource``, ``type``, ``constraint`` = min, max,
default, defaultRequest, maxLimitRequestRatio), created. KSM has no labels or annotations family
for LimitRanges (so ``allowed_labels`` is unused) and no opt-in family.
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.resourcequotas import quantity_value
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("limitranges", "/api/v1")
prefix = namespaced_prefix("limitrange")

Obj = dict[str, Any]
CONSTRAINTS = ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio")


def _limits(obj: Obj) -> list[Sample]:
    samples: list[Sample] = []
    for item in (obj.get("spec") or {}).get("limits") or ():
        kind = item.get("type") or ""
        for constraint in CONSTRAINTS:
            for resource, raw in (item.get(constraint) or {}).items():
                value = quantity_value(raw)
                if value is not None:
                    labels = (("resource", resource), ("type", kind), ("constraint", constraint))
                    samples.append((labels, value))
    return samples


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    del allowed_labels  # KSM's LimitRange table takes no allowlist
    return [
        FamilySpec("kube_limitrange", "Information about limit range.", _limits),
        metadata.created_family("limitrange"),
    ]


KIND = Kind(RESOURCE, prefix, families)
