"""ClusterRoleBinding families: kube-state-metrics v2.16 ``internal/store/clusterrolebinding.go``
(opt-in kind ``clusterrolebindings``; cluster-scoped).

Families, in KSM's order: labels, info (with ``roleref_kind``, ``roleref_name``), created,
metadata_resource_version. KSM's ``kube_clusterrolebinding_annotations`` (first in its list) is
not in this table: the exporter adds it beside the labels family from
``--metric-annotations-allowlist`` (before it, which is KSM's place). The identifying label is
``clusterrolebinding`` alone (KSM's default labels for this kind have no ``namespace``).
"""

from __future__ import annotations

from kubepulse.exporters.cluster.rolebindings import binding_families
from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("clusterrolebindings", "/apis/rbac.authorization.k8s.io/v1", namespaced=False)
prefix = name_prefix("clusterrolebinding")


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return binding_families("clusterrolebinding", allowed_labels)


KIND = Kind(RESOURCE, prefix, families)
