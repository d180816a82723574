"""ClusterRole families: kube-state-metrics v2.16 ``internal/store/clusterrole.go`` (opt-in kind
``clusterroles``; cluster-scoped).

Families, in KSM's order: labels, info, created, metadata_resource_version. KSM's
``kube_clusterrole_annotations`` (first in its list) is not in this table: the exporter adds it
beside the labels family from ``--metric-annotations-allowlist`` (before it, which is KSM's
place). The identifying label is ``clusterrole`` alone (KSM's default labels for this kind have
no ``namespace``).
"""

from __future__ import annotations

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("clusterroles", "/apis/rbac.authorization.k8s.io/v1", namespaced=False)
prefix = name_prefix("clusterrole")


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return metadata.families(
        "clusterrole", allowed_labels, "Information about cluster role.", "the cluster role"
    )


KIND = Kind(RESOURCE, prefix, families)
