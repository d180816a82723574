"""PersistentVolume families: kube-state-metrics v2.16 ``internal/store/persistentvolume.go``;
series start with ``persistentvolume`` (cluster-scoped).

Families, in KSM's order: claim_ref, labels, status_phase, info, capacity_bytes, created,
deletion_timestamp, csi_attributes, volume_mode. ``kube_persistentvolume_csi_attributes`` is
KSM's opt-in family (``NewOptInFamilyGenerator``): it is here with ``opt_in=True``, served only
when ``--metric-opt-in-list`` names it, as in KSM. ``kube_persistentvolume_annotations`` is not in
this table: the exporter adds it beside the labels family from ``--metric-annotations-allowlist``
(before it, which is KSM's place for it here).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import quantity
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels, Sample
from kubepulse.kube.informer import Resource

RESOURCE = Resource("persistentvolumes", "/api/v1", namespaced=False)

Obj = dict[str, Any]
# KSM's order of the phase series (v1.VolumePending, Available, Bound, Released, Failed).
PHASES = ("Pending", "Available", "Bound", "Released", "Failed")
# kube_persistentvolume_info's source labels, in KSM's order (storageclass before, reclaim_policy
# after).
INFO_KEYS = (
    "gce_persistent_disk_name",
    "ebs_volume_id",
    "azure_disk_name",
    "fc_wwids",
    "fc_lun",
    "fc_target_wwns",
    "iscsi_target_portal",
    "iscsi_iqn",
    "iscsi_lun",
    "iscsi_initiator_name",
    "nfs_server",
    "nfs_path",
    "csi_driver",
    "csi_volume_handle",
    "local_path",
    "local_fs",
    "host_path",
    "host_path_type",
)


def prefix(obj: Obj) -> Labels:
    return (("persistentvolume", obj["metadata"]["name"]),)


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _claim_ref(obj: Obj) -> list[Sample]:
    ref = _spec(obj).get("claimRef")
    if ref is None:
        return []
    return [((("name", ref.get("name", "")), ("claim_namespace", ref.get("namespace", ""))), 1.0)]


def _phase(obj: Obj) -> list[Sample]:
    current = (obj.get("status") or {}).get("phase")
    if not current:
        return []
    return [((("phase", p),), 1.0 if p == current else 0.0) for p in PHASES]


def source_labels(spec: Obj) -> dict[str, str]:
    """The volume source's info labels: KSM's switch, first source present wins."""
    out: dict[str, str] = {}
    if spec.get("gcePersistentDisk") is not None:
        out["gce_persistent_disk_name"] = spec["gcePersistentDisk"].get("pdName", "")
    elif spec.get("awsElasticBlockStore") is not None:
        out["ebs_volume_id"] = spec["awsElasticBlockStore"].get("volumeID", "")
    elif spec.get("azureDisk") is not None:
        out["azure_disk_name"] = spec["azureDisk"].get("diskName", "")
    elif spec.get("fc") is not None:
        fc = spec["fc"]
        if fc.get("lun") is not None:
            out["fc_lun"] = str(int(fc["lun"]))
        out["fc_target_wwns"] = ",".join(fc.get("targetWWNs") or ())
        out["fc_wwids"] = ",".join(fc.get("wwids") or ())
    elif spec.get("iscsi") is not None:
        iscsi = spec["iscsi"]
        out["iscsi_target_portal"] = iscsi.get("targetPortal", "")
        out["iscsi_iqn"] = iscsi.get("iqn", "")
        out["iscsi_lun"] = str(int(iscsi.get("lun") or 0))
        out["iscsi_initiator_name"] = iscsi.get("initiatorName") or ""
    elif spec.get("nfs") is not None:
        out["nfs_server"] = spec["nfs"].get("server", "")
        out["nfs_path"] = spec["nfs"].get("path", "")
    elif spec.get("csi") is not None:
        out["csi_driver"] = spec["csi"].get("driver", "")
        out["csi_volume_handle"] = spec["csi"].get("volumeHandle", "")
    elif spec.get("local") is not None:
        out["local_path"] = spec["local"].get("path", "")
        out["local_fs"] = spec["local"].get("fsType") or ""
    elif spec.get("hostPath") is not None:
        out["host_path"] = spec["hostPath"].get("path", "")
        out["host_path_type"] = spec["hostPath"].get("type") or ""
    return out


def _info(obj: Obj) -> list[Sample]:
    spec = _spec(obj)
    sources = source_labels(spec)
    return [
        (
            (
                ("storageclass", spec.get("storageClassName") or ""),
                *((key, sources.get(key, "")) for key in INFO_KEYS),
                ("reclaim_policy", spec.get("persistentVolumeReclaimPolicy") or ""),
            ),
            1.0,
        )
    ]


def _capacity(obj: Obj) -> list[Sample]:
    """Always one series: a missing storage capacity is Go's zero quantity, 0."""
    raw = (_spec(obj).get("capacity") or {}).get("storage")
    converted = None if raw is None else quantity("storage", str(raw))
    return [((), 0.0 if converted is None else converted[2])]


def _csi_attributes(obj: Obj) -> list[Sample]:
    csi = _spec(obj).get("csi")
    if csi is None:
        return []
    attributes = csi.get("volumeAttributes") or {}
    return [
        (
            (
                ("csi_mounter", attributes.get("mounter", "")),
                ("csi_map_options", attributes.get("mapOptions", "")),
            ),
            1.0,
        )
    ]


def _volume_mode(obj: Obj) -> list[Sample]:
    # Filesystem is the API's default when volumeMode is omitted (KSM's rule).
    return [((("volumemode", _spec(obj).get("volumeMode") or "Filesystem"),), 1.0)]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec(
            "kube_persistentvolume_claim_ref",
            "Information about the Persistent Volume Claim Reference.",
            _claim_ref,
        ),
        metadata.labels_family("persistentvolume", allowed_labels),
        FamilySpec(
            "kube_persistentvolume_status_phase",
            "The phase indicates if a volume is available, bound to a claim, or released by a claim.",  # noqa: E501 (KSM's help text)
            _phase,
        ),
        FamilySpec("kube_persistentvolume_info", "Information about persistentvolume.", _info),
        FamilySpec(
            "kube_persistentvolume_capacity_bytes",
            "Persistentvolume capacity in bytes.",
            _capacity,
        ),
        metadata.created_family("persistentvolume"),
        metadata.deletion_timestamp_family("persistentvolume"),
        FamilySpec(
            "kube_persistentvolume_csi_attributes",
            "CSI attributes of the Persistent Volume.",
            _csi_attributes,
            opt_in=True,
        ),
        FamilySpec(
            "kube_persistentvolume_volume_mode",
            "Volume Mode information for the PersistentVolume.",
            _volume_mode,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
