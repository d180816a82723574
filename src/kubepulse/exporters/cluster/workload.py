"""Building blocks for the workload tables (Deployments, ReplicaSets, StatefulSets, DaemonSets),
and the label prefixes and field readers the other kinds' tables share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import timestamp
from kubepulse.exporters.cluster.store import FamilySpec, Labels, Sample

Obj = dict[str, Any]


def namespaced_prefix(label: str) -> Callable[[Obj], Labels]:
    """``namespace`` and the object's name under ``label`` (``deployment``, ...)."""

    def prefix(obj: Obj) -> Labels:
        meta = obj["metadata"]
        return (("namespace", meta.get("namespace", "")), (label, meta["name"]))

    return prefix


def name_prefix(label: str) -> Callable[[Obj], Labels]:
    """The object's name under ``label`` alone (a cluster-scoped kind: ``node``, ...)."""

    def prefix(obj: Obj) -> Labels:
        return ((label, obj["metadata"]["name"]),)

    return prefix


def number(section: str, key: str, *, optional: bool = False) -> Callable[[Obj], list[Sample]]:
    """``obj[section][key]`` as one sample; absent counts as 0 (Go's zero value) unless optional."""

    def generate(obj: Obj) -> list[Sample]:
        value = (obj.get(section) or {}).get(key)
        if value is None and optional:
            return []
        return [((), float(value or 0))]

    return generate


def status_time(key: str) -> Callable[[Obj], list[Sample]]:
    """``obj.status[key]`` (RFC 3339) in Unix seconds; no series when it is unset."""

    def generate(obj: Obj) -> list[Sample]:
        value = (obj.get("status") or {}).get(key)
        return [((), timestamp(value))] if value else []

    return generate


def generation(obj: Obj) -> list[Sample]:
    return [((), float(obj["metadata"].get("generation") or 0))]


def common_families(kind: str, allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    """``kube_<kind>_created``, ``_metadata_generation`` and ``_labels``."""
    return [
        metadata.created_family(kind),
        FamilySpec(
            f"kube_{kind}_metadata_generation",
            f"Sequence number representing a specific generation of the desired state for the {kind}.",  # noqa: E501 (KSM's help text)
            generation,
        ),
        metadata.labels_family(kind, allowed_labels),
    ]
