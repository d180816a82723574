"""ClusterRole families: kube-state-metrics v2.16 ``internal/store/clusterrole.go`` (opt-in kind
``clusterroles``; cluster-scoped).

Families, in KSM's order: labels, info, created, metadata_resource_version. KSM's
``kube_clusterrole_annotations`` (first in its list) is not in this table: the exporter adds it
beside the labels family from ``--metric-annotations-allowlist`` (before it, which is KSM's
place). The identifying label is ``clusterrole`` alone (KSM's default labels for this kind have
no ``namespace``).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster.common import labels_sample
from kubepulse.exporters.cluster.configmaps import info, resource_version
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels
from kubepulse.exporters.cluster.workload import created
from kubepulse.kube.informer import Resource

RESOURCE = Resource("clusterroles", "/apis/rbac.authorization.k8s.io/v1", namespaced=False)

Obj = dict[str, Any]


def prefix(obj: Obj) -> Labels:
    return (("clusterrole", obj["metadata"]["name"]),)


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec(
            "kube_clusterrole_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda o: labels_sample(o["metadata"].get("labels"), allowed_labels),
        ),
        FamilySpec("kube_clusterrole_info", "Information about cluster role.", info),
        FamilySpec("kube_clusterrole_created", "Unix creation timestamp", created),
        FamilySpec(
            "kube_clusterrole_metadata_resource_version",
            "Resource version representing a specific version of the cluster role.",
            resource_version,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
