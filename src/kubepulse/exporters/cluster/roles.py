"""Role families: kube-state-metrics v2.16 ``internal/store/role.go`` (opt-in kind ``roles``).

Families, in KSM's order: labels, info, created, metadata_resource_version. KSM's
``kube_role_annotations`` (first in its list) is not in this table: the exporter adds it beside
the labels family from ``--metric-annotations-allowlist`` (before it, which is KSM's place).
The identifying labels are ``namespace`` and ``role``.
"""

from __future__ import annotations

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("roles", "/apis/rbac.authorization.k8s.io/v1")
prefix = namespaced_prefix("role")


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return metadata.families("role", allowed_labels, "Information about role.", "the role")


KIND = Kind(RESOURCE, prefix, families)
