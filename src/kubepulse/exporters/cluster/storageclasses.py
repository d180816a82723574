"""StorageClass families: kube-state-metrics v2.16 ``internal/store/storageclass.go``; series
start with ``storageclass`` (cluster-scoped).

Families, in KSM's order: info, created, labels: all of KSM's default families.
``kube_storageclass_annotations`` (KSM's third) is not in this table: the exporter adds it beside
the labels family from ``--metric-annotations-allowlist`` (before it, which is KSM's place).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("storageclasses", "/apis/storage.k8s.io/v1", namespaced=False)
prefix = name_prefix("storageclass")

Obj = dict[str, Any]
# What KSM reports when the fields are unset (the API server's defaults).
DEFAULT_RECLAIM_POLICY = "Delete"
DEFAULT_VOLUME_BINDING_MODE = "Immediate"


def _info(obj: Obj) -> list[Sample]:
    reclaim = obj.get("reclaimPolicy")
    binding = obj.get("volumeBindingMode")
    return [
        (
            (
                ("provisioner", obj.get("provisioner") or ""),
                ("reclaim_policy", DEFAULT_RECLAIM_POLICY if reclaim is None else str(reclaim)),
                (
                    "volume_binding_mode",
                    DEFAULT_VOLUME_BINDING_MODE if binding is None else str(binding),
                ),
            ),
            1.0,
        )
    ]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_storageclass_info", "Information about storageclass.", _info),
        metadata.created_family("storageclass"),
        metadata.labels_family("storageclass", allowed_labels),
    ]


KIND = Kind(RESOURCE, prefix, families)
