"""Secret families: kube-state-metrics ``internal/store/secret.go``.

Families, in KSM's order: info, type, labels, created, metadata_resource_version, owner. KSM's
``kube_secret_annotations`` (between type and labels) is not in this table: the exporter adds it
from ``--metric-annotations-allowlist``, just before the labels family (KSM's place).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("secrets", "/api/v1")
prefix = namespaced_prefix("secret")

Obj = dict[str, Any]


def _type(obj: Obj) -> list[Sample]:
    return [((("type", obj.get("type") or ""),), 1.0)]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_secret_info", "Information about secret.", metadata.info_sample),
        FamilySpec("kube_secret_type", "Type about secret.", _type),
        metadata.labels_family("secret", allowed_labels),
        metadata.created_family("secret"),
        metadata.resource_version_family("secret", "secret"),
        metadata.owner_family("secret", "Secret"),
    ]


KIND = Kind(RESOURCE, prefix, families)
