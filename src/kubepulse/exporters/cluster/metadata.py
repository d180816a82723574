"""The families every kind derives from its ObjectMeta, each defined once.

``kube_<kind>_labels``, ``_created``, ``_deletion_timestamp``, ``_metadata_resource_version``,
``_owner`` and a label-less ``_info``: a kind's table names them with these builders (called once,
when the exporter starts, so they cost nothing per object), passing KSM's exact help text where
a kind words it differently.
"""

from __future__ import annotations

from collections.abc import Callable

from kubepulse.exporters.cluster.common import labels_sample, owner_samples, timestamp
from kubepulse.exporters.cluster.store import FamilySpec, Object, Sample

__all__ = [
    "created",
    "created_family",
    "deletion_timestamp",
    "deletion_timestamp_family",
    "families",
    "info_sample",
    "labels_family",
    "owner_family",
    "parse_go_float",
    "resource_version",
    "resource_version_family",
]


def parse_go_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat(text, 64)`` for a resource version: None where Go errs.

    Python's ``float`` also takes surrounding whitespace and digit underscores, which Go refuses.
    """
    if not text or text != text.strip() or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def created(obj: Object) -> list[Sample]:
    """``metadata.creationTimestamp`` in Unix seconds; no series when it is unset."""
    value = obj["metadata"].get("creationTimestamp")
    return [((), timestamp(value))] if value else []


def deletion_timestamp(obj: Object) -> list[Sample]:
    """``metadata.deletionTimestamp`` in Unix seconds; no series when it is unset."""
    value = obj["metadata"].get("deletionTimestamp")
    return [((), timestamp(value))] if value else []


def resource_version(obj: Object) -> list[Sample]:
    """KSM's ``resourceVersionMetric``: the version as a number, no series if it is not one."""
    value = parse_go_float(obj["metadata"].get("resourceVersion") or "")
    return [] if value is None else [((), value)]


def info_sample(_obj: Object) -> list[Sample]:
    """An ``_info`` family with no labels of its own: one series, 1."""
    return [((), 1.0)]


def labels_family(kind: str, allowed_labels: tuple[str, ...] | None) -> FamilySpec:
    """``kube_<kind>_labels``: the allow-listed labels (no series without an allowlist)."""
    return FamilySpec(
        f"kube_{kind}_labels",
        "Kubernetes labels converted to Prometheus labels.",
        lambda o: labels_sample(o["metadata"].get("labels"), allowed_labels),
    )


def created_family(kind: str, help: str = "Unix creation timestamp") -> FamilySpec:
    """``kube_<kind>_created`` (``help``: KSM's words, which a few kinds vary)."""
    return FamilySpec(f"kube_{kind}_created", help, created)


def deletion_timestamp_family(kind: str) -> FamilySpec:
    """``kube_<kind>_deletion_timestamp``: set once the object is being deleted."""
    return FamilySpec(
        f"kube_{kind}_deletion_timestamp", "Unix deletion timestamp", deletion_timestamp
    )


def resource_version_family(kind: str, what: str) -> FamilySpec:
    """``kube_<kind>_metadata_resource_version``; ``what`` ends KSM's help text (``the role``)."""
    return FamilySpec(
        f"kube_{kind}_metadata_resource_version",
        f"Resource version representing a specific version of {what}.",
        resource_version,
    )


def owner_family(kind: str, title: str | None = None) -> FamilySpec:
    """``kube_<kind>_owner``; ``title`` is the kind as KSM's help text spells it (``Pod``)."""
    return FamilySpec(
        f"kube_{kind}_owner",
        f"Information about the {title or kind}'s owner.",
        lambda o: owner_samples(o["metadata"]),
    )


def families(
    kind: str,
    allowed_labels: tuple[str, ...] | None,
    info_help: str,
    what: str,
    info: Callable[[Object], list[Sample]] = info_sample,
) -> list[FamilySpec]:
    """The whole table of a kind KSM describes by its metadata alone (ConfigMap, Role,
    RoleBinding and their cluster-wide twins): labels, info, created, metadata_resource_version.
    ``info_help`` is the info family's help text, ``what`` as for ``resource_version_family``."""
    return [
        labels_family(kind, allowed_labels),
        FamilySpec(f"kube_{kind}_info", info_help, info),
        created_family(kind),
        resource_version_family(kind, what),
    ]
