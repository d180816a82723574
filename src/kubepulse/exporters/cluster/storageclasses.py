"""StorageClass families: kube-state-metrics v2.16 ``internal/store/storageclass.go``; series
start with ``storageclass`` (cluster-scoped).

Families, in KSM's order: info, created, labels: all of KSM's default families.
``kube_storageclass_annotations`` (KSM's third) is not in this table: the exporter adds it beside
the labels family from ``--metric-annotations-allowlist`` (before it, which is KSM's place).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster.common import labels_sample
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels, Sample
from kubepulse.exporters.cluster.workload import created
from kubepulse.kube.informer import Resource

RESOURCE = Resource("storageclasses", "/apis/storage.k8s.io/v1", namespaced=False)

Obj = dict[str, Any]
# What KSM reports when the fields are unset (the API server's defaults).
DEFAULT_RECLAIM_POLICY = "Delete"
DEFAULT_VOLUME_BINDING_MODE = "Immediate"


def prefix(obj: Obj) -> Labels:
    return (("storageclass", obj["metadata"]["name"]),)


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
        FamilySpec("kube_storageclass_created", "Unix creation timestamp", created),
        FamilySpec(
            "kube_storageclass_labels",
            "Kubernetes labels converted to Prometheus labels.",
            lambda o: labels_sample(o["metadata"].get("labels"), allowed_labels),
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
