"""PersistentVolumeClaim, PersistentVolume, StorageClass and VolumeAttachment family tables,
table-driven as KSM's ``*_test.go``: an API object in, the exact series out (headers aside,
sorted), no cluster needed."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from helpers_cluster_exporter import SeriesCase, epoch, series_cases, table_series

from kubepulse.exporters.cluster import (
    persistentvolumeclaims,
    persistentvolumes,
    storageclasses,
    volumeattachments,
)
from kubepulse.exporters.cluster.exporter import Options, kind_families

Obj = dict[str, Any]


CREATED = "2026-03-01T10:00:00Z"
DELETED = "2026-03-04T08:30:00Z"
GI = 1024**3

# --- PersistentVolumeClaim ---------------------------------------------------------------------

PVC_HEAD = 'namespace="db",persistentvolumeclaim="data-postgres-0"'
BOUND_PVC: Obj = {
    "metadata": {
        "name": "data-postgres-0",
        "namespace": "db",
        "uid": "pvc1",
        "creationTimestamp": CREATED,
        "labels": {"app.kubernetes.io/name": "postgres", "team": "data"},
        "annotations": {"pv.kubernetes.io/bind-completed": "yes"},
    },
    "spec": {
        "accessModes": ["ReadWriteOnce", "ReadWriteOncePod"],
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "fast-ssd",
        "volumeMode": "Filesystem",
        "volumeName": "pvc-0d6f0e3a",
    },
    "status": {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "20Gi"},
        "conditions": [
            {"type": "FileSystemResizePending", "status": "True"},
            {"type": "Resizing", "status": "False"},
        ],
    },
}


PVC_SCRATCH = 'namespace="ci",persistentvolumeclaim="scratch"'
PVC_BARE = 'namespace="ci",persistentvolumeclaim="bare"'
PVC_CASES: list[SeriesCase] = [
    (
        "bound claim with conditions",
        persistentvolumeclaims,
        BOUND_PVC,
        ("app.kubernetes.io/name", "absent"),
        [
            f'kube_persistentvolumeclaim_labels{{{PVC_HEAD},label_app_kubernetes_io_name="postgres"}} 1',  # noqa: E501
            f'kube_persistentvolumeclaim_info{{{PVC_HEAD},storageclass="fast-ssd",volumename="pvc-0d6f0e3a",volumemode="Filesystem"}} 1',  # noqa: E501
            f'kube_persistentvolumeclaim_status_phase{{{PVC_HEAD},phase="Lost"}} 0',
            f'kube_persistentvolumeclaim_status_phase{{{PVC_HEAD},phase="Bound"}} 1',
            f'kube_persistentvolumeclaim_status_phase{{{PVC_HEAD},phase="Pending"}} 0',
            f"kube_persistentvolumeclaim_resource_requests_storage_bytes{{{PVC_HEAD}}} {20 * GI}",
            f'kube_persistentvolumeclaim_access_mode{{{PVC_HEAD},access_mode="ReadWriteOnce"}} 1',
            f'kube_persistentvolumeclaim_access_mode{{{PVC_HEAD},access_mode="ReadWriteOncePod"}} 1',  # noqa: E501
            f'kube_persistentvolumeclaim_status_condition{{{PVC_HEAD},condition="FileSystemResizePending",status="true"}} 1',  # noqa: E501
            f'kube_persistentvolumeclaim_status_condition{{{PVC_HEAD},condition="FileSystemResizePending",status="false"}} 0',  # noqa: E501
            f'kube_persistentvolumeclaim_status_condition{{{PVC_HEAD},condition="FileSystemResizePending",status="unknown"}} 0',  # noqa: E501
            f'kube_persistentvolumeclaim_status_condition{{{PVC_HEAD},condition="Resizing",status="true"}} 0',  # noqa: E501
            f'kube_persistentvolumeclaim_status_condition{{{PVC_HEAD},condition="Resizing",status="false"}} 1',  # noqa: E501
            f'kube_persistentvolumeclaim_status_condition{{{PVC_HEAD},condition="Resizing",status="unknown"}} 0',  # noqa: E501
            f"kube_persistentvolumeclaim_created{{{PVC_HEAD}}} {epoch(CREATED)}",
        ],
    ),
    (
        # No labels allowlist: no kube_persistentvolumeclaim_labels series (KSM since 2.10).
        "pending claim being deleted, with the beta class annotation",
        persistentvolumeclaims,
        {
            "metadata": {
                "name": "scratch",
                "namespace": "ci",
                "uid": "pvc2",
                "creationTimestamp": CREATED,
                "deletionTimestamp": DELETED,
                # The beta annotation wins over spec.storageClassName, as in KSM.
                "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"},
                "labels": {"a": "b"},
            },
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "1500M"}, "limits": {"storage": "2G"}},
                "storageClassName": "fast-ssd",
                "volumeMode": "Block",
            },
            "status": {"phase": "Pending"},
        },
        None,
        [
            f'kube_persistentvolumeclaim_info{{{PVC_SCRATCH},storageclass="legacy",volumename="",volumemode="Block"}} 1',  # noqa: E501
            f'kube_persistentvolumeclaim_status_phase{{{PVC_SCRATCH},phase="Lost"}} 0',
            f'kube_persistentvolumeclaim_status_phase{{{PVC_SCRATCH},phase="Bound"}} 0',
            f'kube_persistentvolumeclaim_status_phase{{{PVC_SCRATCH},phase="Pending"}} 1',
            f"kube_persistentvolumeclaim_resource_requests_storage_bytes{{{PVC_SCRATCH}}} 1500000000",  # noqa: E501
            f'kube_persistentvolumeclaim_access_mode{{{PVC_SCRATCH},access_mode="ReadWriteMany"}} 1',  # noqa: E501
            f"kube_persistentvolumeclaim_created{{{PVC_SCRATCH}}} {epoch(CREATED)}",
            f"kube_persistentvolumeclaim_deletion_timestamp{{{PVC_SCRATCH}}} {epoch(DELETED)}",
        ],
    ),
    (
        # No phase, no requests, no access modes, no conditions, no creation time: none of those
        # families has a series; info has empty storageclass/volumename/volumemode.
        "bare claim has only info and wildcard labels",
        persistentvolumeclaims,
        {
            "metadata": {"name": "bare", "namespace": "ci", "uid": "pvc3", "labels": {"tier": "x"}},
            "spec": {"resources": {"requests": {"cpu": "1"}}},
        },
        ("*",),
        [
            f'kube_persistentvolumeclaim_info{{{PVC_BARE},storageclass="",volumename="",volumemode=""}} 1',  # noqa: E501
            f'kube_persistentvolumeclaim_labels{{{PVC_BARE},label_tier="x"}} 1',
        ],
    ),
]


def test_claim_with_a_fractional_request_rounds_up() -> None:
    pvc: Obj = {
        "metadata": {"name": "odd", "namespace": "ci", "uid": "pvc4"},
        "spec": {"resources": {"requests": {"storage": "1.5"}}},
    }
    out = table_series(persistentvolumeclaims, pvc)
    assert (
        'kube_persistentvolumeclaim_resource_requests_storage_bytes{namespace="ci",persistentvolumeclaim="odd"} 2'  # noqa: E501
        in out
    )


# --- PersistentVolume --------------------------------------------------------------------------

INFO_EMPTY = {
    "gce_persistent_disk_name": "",
    "ebs_volume_id": "",
    "azure_disk_name": "",
    "fc_wwids": "",
    "fc_lun": "",
    "fc_target_wwns": "",
    "iscsi_target_portal": "",
    "iscsi_iqn": "",
    "iscsi_lun": "",
    "iscsi_initiator_name": "",
    "nfs_server": "",
    "nfs_path": "",
    "csi_driver": "",
    "csi_volume_handle": "",
    "local_path": "",
    "local_fs": "",
    "host_path": "",
    "host_path_type": "",
}


def pv_info(name: str, storageclass: str, reclaim: str, **sources: str) -> str:
    """KSM's kube_persistentvolume_info line: storageclass, the source labels, reclaim_policy."""
    assert set(sources) <= set(INFO_EMPTY)
    pairs = [("persistentvolume", name), ("storageclass", storageclass)]
    pairs += [(k, sources.get(k, v)) for k, v in INFO_EMPTY.items()]
    pairs.append(("reclaim_policy", reclaim))
    body = ",".join(f'{k}="{v}"' for k, v in pairs)
    return f"kube_persistentvolume_info{{{body}}} 1"


CSI_PV: Obj = {
    "metadata": {
        "name": "pvc-0d6f0e3a",
        "uid": "pv1",
        "creationTimestamp": CREATED,
        "labels": {"topology.kubernetes.io/zone": "eu-west-1a"},
    },
    "spec": {
        "capacity": {"storage": "20Gi"},
        "accessModes": ["ReadWriteOnce"],
        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "db", "name": "data-postgres-0"},
        "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": "fast-ssd",
        "volumeMode": "Block",
        "csi": {
            "driver": "rbd.csi.ceph.com",
            "volumeHandle": "0001-0009-rook-ceph",
            "volumeAttributes": {"mounter": "rbd-nbd", "mapOptions": "krbd:rxbounce", "x": "y"},
        },
    },
    "status": {"phase": "Bound"},
}


PV_CSI = 'persistentvolume="pvc-0d6f0e3a"'
PV_LOCAL = 'persistentvolume="local-1"'
PV_BARE = 'persistentvolume="bare"'
PV_CASES: list[SeriesCase] = [
    (
        "bound csi volume",
        persistentvolumes,
        CSI_PV,
        ("topology.kubernetes.io/zone",),
        [
            f'kube_persistentvolume_claim_ref{{{PV_CSI},name="data-postgres-0",claim_namespace="db"}} 1',  # noqa: E501
            f'kube_persistentvolume_labels{{{PV_CSI},label_topology_kubernetes_io_zone="eu-west-1a"}} 1',  # noqa: E501
            f'kube_persistentvolume_status_phase{{{PV_CSI},phase="Pending"}} 0',
            f'kube_persistentvolume_status_phase{{{PV_CSI},phase="Available"}} 0',
            f'kube_persistentvolume_status_phase{{{PV_CSI},phase="Bound"}} 1',
            f'kube_persistentvolume_status_phase{{{PV_CSI},phase="Released"}} 0',
            f'kube_persistentvolume_status_phase{{{PV_CSI},phase="Failed"}} 0',
            pv_info(
                "pvc-0d6f0e3a",
                "fast-ssd",
                "Delete",
                csi_driver="rbd.csi.ceph.com",
                csi_volume_handle="0001-0009-rook-ceph",
            ),
            f"kube_persistentvolume_capacity_bytes{{{PV_CSI}}} {20 * GI}",
            f"kube_persistentvolume_created{{{PV_CSI}}} {epoch(CREATED)}",
            # The opt-in family (served only under --metric-opt-in-list; see below).
            f'kube_persistentvolume_csi_attributes{{{PV_CSI},csi_mounter="rbd-nbd",csi_map_options="krbd:rxbounce"}} 1',  # noqa: E501
            f'kube_persistentvolume_volume_mode{{{PV_CSI},volumemode="Block"}} 1',
        ],
    ),
    (
        # No creation time, no labels allowlist, no CSI source, no volumeMode (Filesystem).
        "released host path volume being deleted",
        persistentvolumes,
        {
            "metadata": {"name": "local-1", "uid": "pv2", "deletionTimestamp": DELETED},
            "spec": {
                "capacity": {"storage": "500Mi"},
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": "/mnt/disks/1", "type": "DirectoryOrCreate"},
                "claimRef": {"name": "gone"},
            },
            "status": {"phase": "Released"},
        },
        None,
        [
            f'kube_persistentvolume_claim_ref{{{PV_LOCAL},name="gone",claim_namespace=""}} 1',
            f'kube_persistentvolume_status_phase{{{PV_LOCAL},phase="Pending"}} 0',
            f'kube_persistentvolume_status_phase{{{PV_LOCAL},phase="Available"}} 0',
            f'kube_persistentvolume_status_phase{{{PV_LOCAL},phase="Bound"}} 0',
            f'kube_persistentvolume_status_phase{{{PV_LOCAL},phase="Released"}} 1',
            f'kube_persistentvolume_status_phase{{{PV_LOCAL},phase="Failed"}} 0',
            pv_info(
                "local-1",
                "",
                "Retain",
                host_path="/mnt/disks/1",
                host_path_type="DirectoryOrCreate",
            ),
            f"kube_persistentvolume_capacity_bytes{{{PV_LOCAL}}} {500 * 1024**2}",
            f"kube_persistentvolume_deletion_timestamp{{{PV_LOCAL}}} {epoch(DELETED)}",
            f'kube_persistentvolume_volume_mode{{{PV_LOCAL},volumemode="Filesystem"}} 1',
        ],
    ),
    (
        # No phase: no status_phase series; no claimRef: no claim_ref; capacity is Go's zero, 0.
        "bare volume without phase, claim or capacity",
        persistentvolumes,
        {"metadata": {"name": "bare", "uid": "pv3"}, "spec": {}},
        None,
        [
            pv_info("bare", "", ""),
            f"kube_persistentvolume_capacity_bytes{{{PV_BARE}}} 0",
            f'kube_persistentvolume_volume_mode{{{PV_BARE},volumemode="Filesystem"}} 1',
        ],
    ),
]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"gcePersistentDisk": {"pdName": "disk-1", "fsType": "ext4"}},
            {"gce_persistent_disk_name": "disk-1"},
        ),
        (
            {"awsElasticBlockStore": {"volumeID": "aws://eu-west-1c/vol-0a1b"}},
            {"ebs_volume_id": "aws://eu-west-1c/vol-0a1b"},
        ),
        ({"azureDisk": {"diskName": "az-1", "diskURI": "u"}}, {"azure_disk_name": "az-1"}),
        (
            {"fc": {"lun": 7, "targetWWNs": ["0123", "4567"], "wwids": ["w1", "w2", "w3"]}},
            {"fc_lun": "7", "fc_target_wwns": "0123,4567", "fc_wwids": "w1,w2,w3"},
        ),
        # No lun: fc_lun stays empty; no wwids: empty.
        ({"fc": {"targetWWNs": ["89ab"]}}, {"fc_target_wwns": "89ab"}),
        (
            {
                "iscsi": {
                    "targetPortal": "192.0.2.5:3260",
                    "iqn": "iqn.2026-01.org.example:store",
                    "lun": 3,
                    "initiatorName": "iqn.2026-01.org.example:node1",
                }
            },
            {
                "iscsi_target_portal": "192.0.2.5:3260",
                "iscsi_iqn": "iqn.2026-01.org.example:store",
                "iscsi_lun": "3",
                "iscsi_initiator_name": "iqn.2026-01.org.example:node1",
            },
        ),
        # lun is a plain int32 in Go: absent is "0"; no initiator name: empty.
        (
            {"iscsi": {"targetPortal": "p", "iqn": "q"}},
            {"iscsi_target_portal": "p", "iscsi_iqn": "q", "iscsi_lun": "0"},
        ),
        (
            {"nfs": {"server": "nas.local", "path": "/export/a"}},
            {"nfs_server": "nas.local", "nfs_path": "/export/a"},
        ),
        (
            {"local": {"path": "/mnt/ssd0", "fsType": "xfs"}},
            {"local_path": "/mnt/ssd0", "local_fs": "xfs"},
        ),
        ({"local": {"path": "/mnt/ssd1"}}, {"local_path": "/mnt/ssd1"}),
        ({"hostPath": {"path": "/srv"}}, {"host_path": "/srv"}),
        # KSM's switch: the first source present wins (gce before nfs).
        (
            {"nfs": {"server": "s", "path": "/p"}, "gcePersistentDisk": {"pdName": "g"}},
            {"gce_persistent_disk_name": "g"},
        ),
        # A source KSM does not name (cephfs): every source label empty.
        ({"cephfs": {"monitors": ["m"]}}, {}),
    ],
)
def test_volume_info_per_source(source: Obj, expected: dict[str, str]) -> None:
    pv: Obj = {
        "metadata": {"name": "v", "uid": "pv4"},
        "spec": {"storageClassName": "standard", "persistentVolumeReclaimPolicy": "Recycle"},
    }
    pv["spec"].update(source)
    info = [
        s for s in table_series(persistentvolumes, pv) if s.startswith("kube_persistentvolume_info")
    ]
    assert info == [pv_info("v", "standard", "Recycle", **expected)]


def test_csi_attributes_without_ceph_keys_and_without_csi() -> None:
    pv: Obj = {"metadata": {"name": "c", "uid": "pv5"}, "spec": {"csi": {"driver": "d"}}}
    out = [s for s in table_series(persistentvolumes, pv) if "csi_attributes" in s]
    assert out == [
        'kube_persistentvolume_csi_attributes{persistentvolume="c",csi_mounter="",csi_map_options=""} 1'  # noqa: E501
    ]
    assert not [
        s for s in table_series(persistentvolumes, CSI_PV | {"spec": {}}) if "csi_attr" in s
    ]


def test_csi_attributes_is_opt_in_and_annotations_come_from_the_exporter() -> None:
    def names(module: ModuleType, name: str, opts: Options) -> list[str]:
        return [s.name for s in kind_families(name, module.KIND, opts)]

    default = names(persistentvolumes, "persistentvolumes", Options())
    assert "kube_persistentvolume_csi_attributes" not in default
    assert default[:3] == [
        "kube_persistentvolume_claim_ref",
        "kube_persistentvolume_annotations",
        "kube_persistentvolume_labels",
    ]
    opted = Options(metric_opt_in=("kube_persistentvolume_csi_attributes",))
    assert "kube_persistentvolume_csi_attributes" in names(
        persistentvolumes, "persistentvolumes", opted
    )
    assert "kube_storageclass_annotations" in names(storageclasses, "storageclasses", Options())
    assert "kube_persistentvolumeclaim_annotations" in names(
        persistentvolumeclaims, "persistentvolumeclaims", Options()
    )
    # KSM has no volumeattachment annotations family.
    assert not [
        n
        for n in names(volumeattachments, "volumeattachments", Options())
        if n.endswith("_annotations")
    ]


def test_resources() -> None:
    assert (
        persistentvolumeclaims.RESOURCE.path("db") == "/api/v1/namespaces/db/persistentvolumeclaims"
    )
    assert persistentvolumes.RESOURCE.path("db") == "/api/v1/persistentvolumes"
    assert storageclasses.RESOURCE.path() == "/apis/storage.k8s.io/v1/storageclasses"
    assert volumeattachments.RESOURCE.path() == "/apis/storage.k8s.io/v1/volumeattachments"
    assert not persistentvolumes.RESOURCE.namespaced
    assert not storageclasses.RESOURCE.namespaced
    assert not volumeattachments.RESOURCE.namespaced


# --- StorageClass ------------------------------------------------------------------------------


SC_FAST = 'storageclass="fast-ssd"'
SC_CASES: list[SeriesCase] = [
    (
        "storage class with explicit policies",
        storageclasses,
        {
            "metadata": {
                "name": "fast-ssd",
                "uid": "sc1",
                "creationTimestamp": CREATED,
                "labels": {"addonmanager.kubernetes.io/mode": "EnsureExists"},
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "ebs.csi.aws.com",
            "reclaimPolicy": "Retain",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": True,
            "parameters": {"type": "gp3"},
        },
        ("*",),
        [
            f'kube_storageclass_info{{{SC_FAST},provisioner="ebs.csi.aws.com",reclaim_policy="Retain",volume_binding_mode="WaitForFirstConsumer"}} 1',  # noqa: E501
            f"kube_storageclass_created{{{SC_FAST}}} {epoch(CREATED)}",
            f'kube_storageclass_labels{{{SC_FAST},label_addonmanager_kubernetes_io_mode="EnsureExists"}} 1',  # noqa: E501
        ],
    ),
    (
        # Unset reclaimPolicy/volumeBindingMode: KSM's defaults, Delete and Immediate; no creation
        # time, no allowlist: no created or labels series.
        "storage class defaults",
        storageclasses,
        {
            "metadata": {"name": "standard", "uid": "sc2"},
            "provisioner": "rancher.io/local-path",
        },
        (),
        [
            'kube_storageclass_info{storageclass="standard",provisioner="rancher.io/local-path",reclaim_policy="Delete",volume_binding_mode="Immediate"} 1',  # noqa: E501
        ],
    ),
]


# --- VolumeAttachment --------------------------------------------------------------------------


VA_CSI = 'volumeattachment="csi-8a1f"'
VA_INLINE = 'volumeattachment="csi-inline"'
VA_CASES: list[SeriesCase] = [
    (
        # The labels family takes no allowlist in KSM: every label, even with none allowed.
        "attached csi volume attachment",
        volumeattachments,
        {
            "metadata": {
                "name": "csi-8a1f",
                "uid": "va1",
                "creationTimestamp": CREATED,
                "labels": {"app": "db", "storage.example/tier": "gold"},
            },
            "spec": {
                "attacher": "ebs.csi.aws.com",
                "nodeName": "worker-2",
                "source": {"persistentVolumeName": "pvc-0d6f0e3a"},
            },
            "status": {
                "attached": True,
                "attachmentMetadata": {"DevicePath": "/dev/nvme1n1", "devicePath": "/dev/xvdb"},
            },
        },
        None,
        [
            f'kube_volumeattachment_labels{{{VA_CSI},label_app="db",label_storage_example_tier="gold"}} 1',  # noqa: E501
            f'kube_volumeattachment_info{{{VA_CSI},attacher="ebs.csi.aws.com",node="worker-2"}} 1',
            f"kube_volumeattachment_created{{{VA_CSI}}} {epoch(CREATED)}",
            f'kube_volumeattachment_spec_source_persistentvolume{{{VA_CSI},volumename="pvc-0d6f0e3a"}} 1',  # noqa: E501
            f"kube_volumeattachment_status_attached{{{VA_CSI}}} 1",
            # Both keys snake-case to device_path: KSM's _conflictN suffixes, sorted key order.
            f'kube_volumeattachment_status_attachment_metadata{{{VA_CSI},metadata_device_path_conflict1="/dev/nvme1n1",metadata_device_path_conflict2="/dev/xvdb"}} 1',  # noqa: E501
        ],
    ),
    (
        # No labels and no metadata: one series each with only the name; no persistentVolumeName:
        # no spec_source_persistentvolume series; no creation time: no created series.
        "detached inline volume attachment",
        volumeattachments,
        {
            "metadata": {"name": "csi-inline", "uid": "va2"},
            "spec": {
                "attacher": "pd.csi.storage.gke.io",
                "nodeName": "worker-1",
                "source": {"inlineVolumeSpec": {"csi": {"driver": "pd.csi.storage.gke.io"}}},
            },
            "status": {"attached": False},
        },
        ("*",),
        [
            f"kube_volumeattachment_labels{{{VA_INLINE}}} 1",
            f'kube_volumeattachment_info{{{VA_INLINE},attacher="pd.csi.storage.gke.io",node="worker-1"}} 1',  # noqa: E501
            f"kube_volumeattachment_status_attached{{{VA_INLINE}}} 0",
            f"kube_volumeattachment_status_attachment_metadata{{{VA_INLINE}}} 1",
        ],
    ),
]


def test_volume_attachment_without_status() -> None:
    va: Obj = {
        "metadata": {"name": "new", "uid": "va3"},
        "spec": {"attacher": "a", "nodeName": "n"},
    }
    assert 'kube_volumeattachment_status_attached{volumeattachment="new"} 0' in table_series(
        volumeattachments, va
    )


@series_cases(PVC_CASES + PV_CASES + SC_CASES + VA_CASES)
def test_series(
    module: ModuleType, obj: Obj, labels: tuple[str, ...] | None, expected: list[str]
) -> None:
    assert table_series(module, obj, labels) == sorted(expected)
