"""ResourceQuota families: kube-state-metrics ``internal/store/resourcequota.go``.

Families, in KSM's order: created, ``kube_resourcequota`` (``resource``, ``type`` = hard/used),
labels. ``kube_resourcequota_annotations`` is not in this table: the exporter adds it from
``--metric-annotations-allowlist``, just before the labels family. KSM has no opt-in family here.

``quantity_value`` (KSM's ``convertValueToFloat64``) lives here and is shared by the
HorizontalPodAutoscaler and LimitRange tables.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource
from kubepulse.kube.quantity import parse_quantity

RESOURCE = Resource("resourcequotas", "/api/v1")
prefix = namespaced_prefix("resourcequota")

Obj = dict[str, Any]
# resource.MaxMilliValue: the largest value whose milli-units fit an int64.
MAX_MILLI_VALUE = (2**63 - 1) // 1000


def _round_away(value: Decimal) -> int:
    """Go's Quantity rounding: up, away from zero."""
    return math.ceil(value) if value >= 0 else math.floor(value)


def quantity_value(raw: object) -> float | None:
    """KSM's ``convertValueToFloat64``: milli precision (rounded up), or the rounded-up integer
    when the milli value would overflow. None for a string that is no quantity (the API server
    never sends one)."""
    try:
        value = parse_quantity(str(raw))
    except ValueError:
        return None
    if not value.is_finite():
        return None
    whole = _round_away(value)
    if whole > MAX_MILLI_VALUE:
        return float(whole)
    return float(_round_away(value * 1000)) / 1000


def _quota(obj: Obj) -> list[Sample]:
    status = obj.get("status") or {}
    samples: list[Sample] = []
    for kind in ("hard", "used"):
        for resource, raw in (status.get(kind) or {}).items():
            value = quantity_value(raw)
            if value is not None:
                samples.append(((("resource", resource), ("type", kind)), value))
    return samples


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        metadata.created_family("resourcequota"),
        FamilySpec("kube_resourcequota", "Information about resource quota.", _quota),
        metadata.labels_family("resourcequota", allowed_labels),
    ]


KIND = Kind(RESOURCE, prefix, families)
