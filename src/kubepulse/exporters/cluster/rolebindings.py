"""RoleBinding families: kube-state-metrics v2.16 ``internal/store/rolebinding.go`` (opt-in kind
``rolebindings``).

Families, in KSM's order: labels, info (with ``roleref_kind``, ``roleref_name``), created,
metadata_resource_version. KSM's ``kube_rolebinding_annotations`` (first in its list) is not in
this table: the exporter adds it beside the labels family from ``--metric-annotations-allowlist``
(before it, which is KSM's place). The identifying labels are ``namespace`` and ``rolebinding``.

``roleref_info`` is shared with ``clusterrolebindings``.
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("rolebindings", "/apis/rbac.authorization.k8s.io/v1")
prefix = namespaced_prefix("rolebinding")

Obj = dict[str, Any]


def roleref_info(obj: Obj) -> list[Sample]:
    """One series with the bound role's kind and name (``""`` where unset, Go's zero value)."""
    ref = obj.get("roleRef") or {}
    return [
        ((("roleref_kind", ref.get("kind") or ""), ("roleref_name", ref.get("name") or "")), 1.0)
    ]


def binding_families(kind: str, allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    """The table of ``kind`` = ``rolebinding`` or ``clusterrolebinding`` (KSM's are the same)."""
    return metadata.families(
        kind, allowed_labels, f"Information about {kind}.", f"the {kind}", info=roleref_info
    )


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return binding_families("rolebinding", allowed_labels)


KIND = Kind(RESOURCE, prefix, families)
