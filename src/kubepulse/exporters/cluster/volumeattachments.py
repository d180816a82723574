"""VolumeAttachment families: kube-state-metrics v2.16 ``internal/store/volumeattachment.go``;
series start with ``volumeattachment`` (cluster-scoped).

Families, in KSM's order: labels, info, created, spec_source_persistentvolume, status_attached,
status_attachment_metadata: all of KSM's families for the kind. KSM has no
``kube_volumeattachment_annotations`` (the exporter knows: ``_NO_ANNOTATIONS``), and its labels
family ignores ``--metric-labels-allowlist``: it always has one series carrying every label.
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import map_to_labels
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("volumeattachments", "/apis/storage.k8s.io/v1", namespaced=False)
prefix = name_prefix("volumeattachment")

Obj = dict[str, Any]


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def _labels(obj: Obj) -> list[Sample]:
    return [(map_to_labels("label", obj["metadata"].get("labels") or {}), 1.0)]


def _info(obj: Obj) -> list[Sample]:
    spec = _spec(obj)
    return [((("attacher", spec.get("attacher") or ""), ("node", spec.get("nodeName") or "")), 1.0)]


def _source_persistentvolume(obj: Obj) -> list[Sample]:
    name = (_spec(obj).get("source") or {}).get("persistentVolumeName")
    return [] if name is None else [((("volumename", str(name)),), 1.0)]


def _attached(obj: Obj) -> list[Sample]:
    return [((), 1.0 if _status(obj).get("attached") else 0.0)]


def _attachment_metadata(obj: Obj) -> list[Sample]:
    return [(map_to_labels("metadata", _status(obj).get("attachmentMetadata") or {}), 1.0)]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    del allowed_labels  # KSM's volumeattachment labels family takes no allowlist
    return [
        FamilySpec(
            "kube_volumeattachment_labels",
            "Kubernetes labels converted to Prometheus labels.",
            _labels,
        ),
        FamilySpec("kube_volumeattachment_info", "Information about volumeattachment.", _info),
        metadata.created_family("volumeattachment"),
        FamilySpec(
            "kube_volumeattachment_spec_source_persistentvolume",
            "PersistentVolume source reference.",
            _source_persistentvolume,
        ),
        FamilySpec(
            "kube_volumeattachment_status_attached",
            "Information about volumeattachment.",
            _attached,
        ),
        FamilySpec(
            "kube_volumeattachment_status_attachment_metadata",
            "volumeattachment metadata.",
            _attachment_metadata,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
