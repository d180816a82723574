"""PersistentVolumeClaim families: kube-state-metrics v2.16
``internal/store/persistentvolumeclaim.go``.

Families, in KSM's order: labels, info, status_phase, resource_requests_storage_bytes,
access_mode, status_condition, created, deletion_timestamp: all of KSM's default families.
``kube_persistentvolumeclaim_annotations`` (KSM's second family) is not in this table: the
exporter adds it beside the labels family from ``--metric-annotations-allowlist``.
The identifying labels are ``namespace`` and ``persistentvolumeclaim``.
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import one_hot, quantity, status_conditions
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("persistentvolumeclaims", "/api/v1")
prefix = namespaced_prefix("persistentvolumeclaim")

Obj = dict[str, Any]
# KSM's order of the phase series (v1.ClaimLost, ClaimBound, ClaimPending).
PHASES = ("Lost", "Bound", "Pending")
BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"


def storage_class(obj: Obj) -> str:
    """KSM's ``getPersistentVolumeClaimClass``: the beta annotation first, then the spec."""
    annotations = obj["metadata"].get("annotations") or {}
    if BETA_STORAGE_CLASS in annotations:
        return str(annotations[BETA_STORAGE_CLASS])
    return str((obj.get("spec") or {}).get("storageClassName") or "")


def _info(obj: Obj) -> list[Sample]:
    spec = obj.get("spec") or {}
    return [
        (
            (
                ("storageclass", storage_class(obj)),
                ("volumename", spec.get("volumeName") or ""),
                ("volumemode", spec.get("volumeMode") or ""),
            ),
            1.0,
        )
    ]


def _phase(obj: Obj) -> list[Sample]:
    current = (obj.get("status") or {}).get("phase")
    return one_hot("phase", PHASES, current) if current else []


def _requested_storage(obj: Obj) -> list[Sample]:
    requests = ((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}
    if "storage" not in requests:
        return []
    converted = quantity("storage", str(requests["storage"]))
    return [] if converted is None else [((), converted[2])]


def _access_modes(obj: Obj) -> list[Sample]:
    return [
        ((("access_mode", str(mode)),), 1.0)
        for mode in (obj.get("spec") or {}).get("accessModes") or ()
    ]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        metadata.labels_family("persistentvolumeclaim", allowed_labels),
        FamilySpec(
            "kube_persistentvolumeclaim_info",
            "Information about persistent volume claim.",
            _info,
        ),
        FamilySpec(
            "kube_persistentvolumeclaim_status_phase",
            "The phase the persistent volume claim is currently in.",
            _phase,
        ),
        FamilySpec(
            "kube_persistentvolumeclaim_resource_requests_storage_bytes",
            "The capacity of storage requested by the persistent volume claim.",
            _requested_storage,
        ),
        FamilySpec(
            "kube_persistentvolumeclaim_access_mode",
            "The access mode(s) specified by the persistent volume claim.",
            _access_modes,
        ),
        FamilySpec(
            "kube_persistentvolumeclaim_status_condition",
            "Information about status of different conditions of persistent volume claim.",
            status_conditions,
        ),
        metadata.created_family("persistentvolumeclaim"),
        metadata.deletion_timestamp_family("persistentvolumeclaim"),
    ]


KIND = Kind(RESOURCE, prefix, families)
