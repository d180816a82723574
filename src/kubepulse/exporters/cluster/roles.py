"""Role families: kube-state-metrics v2.16 ``internal/store/role.go`` (opt-in kind ``roles``).

Families, in KSM's order: labels, info, created, metadata_resource_version. KSM's
``kube_role_annotations`` (first in its list) is not in this table: the exporter adds it beside
the labels family from ``--metric-annotations-allowlist`` (before it, which is KSM's place).
The identifying labels are ``namespace`` and ``role``.
"""

from __future__ import annotations

from kubepulse.exporters.cluster.common import labels_sample
from kubepulse.exporters.cluster.configmaps import info, resource_version
from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import created, namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("roles", "/apis/rbac.authorization.k8s.io/v1")
prefix = namespaced_prefix("role")


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec(
            "kube_role_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda o: labels_sample(o["metadata"].get("labels"), allowed_labels),
        ),
        FamilySpec("kube_role_info", "Information about role.", info),
        FamilySpec("kube_role_created", "Unix creation timestamp", created),
        FamilySpec(
            "kube_role_metadata_resource_version",
            "Resource version representing a specific version of the role.",
            resource_version,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
