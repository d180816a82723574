"""Building blocks for the workload tables (Deployments, ReplicaSets, StatefulSets, DaemonSets)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubepulse.exporters.cluster.common import labels_sample, owner_samples, timestamp
from kubepulse.exporters.cluster.store import FamilySpec, Labels, Sample

Obj = dict[str, Any]


def namespaced_prefix(label: str) -> Callable[[Obj], Labels]:
    """``namespace`` and the object's name under ``label`` (``deployment``, ...)."""

    def prefix(obj: Obj) -> Labels:
        meta = obj["metadata"]
        return (("namespace", meta.get("namespace", "")), (label, meta["name"]))

    return prefix


def number(section: str, key: str, *, optional: bool = False) -> Callable[[Obj], list[Sample]]:
    """``obj[section][key]`` as one sample; absent counts as 0 (Go's zero value) unless optional."""

    def generate(obj: Obj) -> list[Sample]:
        value = (obj.get(section) or {}).get(key)
        if value is None and optional:
            return []
        return [((), float(value or 0))]

    return generate


def created(obj: Obj) -> list[Sample]:
    value = obj["metadata"].get("creationTimestamp")
    return [((), timestamp(value))] if value else []


def generation(obj: Obj) -> list[Sample]:
    return [((), float(obj["metadata"].get("generation") or 0))]


def common_families(kind: str, allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    """``kube_<kind>_created``, ``_metadata_generation`` and ``_labels``."""
    return [
        FamilySpec(f"kube_{kind}_created", "Unix creation timestamp", created),
        FamilySpec(
            f"kube_{kind}_metadata_generation",
            f"Sequence number representing a specific generation of the desired state for the {kind}.",  # noqa: E501 (KSM's help text)
            generation,
        ),
        FamilySpec(
            f"kube_{kind}_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda o: labels_sample(o["metadata"].get("labels"), allowed_labels),
        ),
    ]


def owner_family(kind: str) -> FamilySpec:
    return FamilySpec(
        f"kube_{kind}_owner",
        f"Information about the {kind}'s owner.",
        lambda o: owner_samples(o["metadata"]),
    )
