"""ClusterRoleBinding families: kube-state-metrics v2.16 ``internal/store/clusterrolebinding.go``
(opt-in kind ``clusterrolebindings``; cluster-scoped).

Families, in KSM's order: labels, info (with ``roleref_kind``, ``roleref_name``), created,
metadata_resource_version. KSM's ``kube_clusterrolebinding_annotations`` (first in its list) is
not in this table: the exporter adds it beside the labels family from
``--metric-annotations-allowlist`` (before it, which is KSM's place). The identifying label is
``clusterrolebinding`` alone (KSM's default labels for this kind have no ``namespace``).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster.common import labels_sample
from kubepulse.exporters.cluster.configmaps import resource_version
from kubepulse.exporters.cluster.rolebindings import roleref_info
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels
from kubepulse.exporters.cluster.workload import created
from kubepulse.kube.informer import Resource

RESOURCE = Resource("clusterrolebindings", "/apis/rbac.authorization.k8s.io/v1", namespaced=False)

Obj = dict[str, Any]


def prefix(obj: Obj) -> Labels:
    return (("clusterrolebinding", obj["metadata"]["name"]),)


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec(
            "kube_clusterrolebinding_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda o: labels_sample(o["metadata"].get("labels"), allowed_labels),
        ),
        FamilySpec(
            "kube_clusterrolebinding_info", "Information about clusterrolebinding.", roleref_info
        ),
        FamilySpec("kube_clusterrolebinding_created", "Unix creation timestamp", created),
        FamilySpec(
            "kube_clusterrolebinding_metadata_resource_version",
            "Resource version representing a specific version of the clusterrolebinding.",
            resource_version,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
