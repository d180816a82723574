"""ConfigMap families: kube-state-metrics ``internal/store/configmap.go``.

Families, in KSM's order: labels, info, created, metadata_resource_version. KSM's
``kube_configmap_annotations`` (first in its list) is not in this table: the exporter adds it
from ``--metric-annotations-allowlist``, just before the labels family (KSM's place).
"""

from __future__ import annotations

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("configmaps", "/api/v1")
prefix = namespaced_prefix("configmap")


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return metadata.families(
        "configmap", allowed_labels, "Information about configmap.", "the configmap"
    )


KIND = Kind(RESOURCE, prefix, families)
