"""Node families: kube-state-metrics v2.16 ``internal/store/node.go``; series start with ``node``.

All of KSM's default node families (``kube_node_annotations`` is added by the exporter).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import quantity_samples, status_conditions
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("nodes", "/api/v1", namespaced=False)
prefix = name_prefix("node")

Node = dict[str, Any]


def info(node: Node) -> list[Sample]:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    ni = status.get("nodeInfo") or {}
    internal_ip = next(
        (
            a.get("address", "")
            for a in status.get("addresses") or ()
            if a.get("type") == "InternalIP"
        ),
        "",
    )
    return [
        (
            (
                ("kernel_version", ni.get("kernelVersion", "")),
                ("os_image", ni.get("osImage", "")),
                ("container_runtime_version", ni.get("containerRuntimeVersion", "")),
                ("kubelet_version", ni.get("kubeletVersion", "")),
                ("kubeproxy_version", "deprecated"),  # KSM's literal since kube-proxy left it
                ("provider_id", spec.get("providerID", "")),
                ("pod_cidr", spec.get("podCIDR", "")),
                ("system_uuid", ni.get("systemUUID", "")),
                ("internal_ip", internal_ip),
            ),
            1.0,
        )
    ]


def unschedulable(node: Node) -> list[Sample]:
    return [((), 1.0 if (node.get("spec") or {}).get("unschedulable") else 0.0)]


def taints(node: Node) -> list[Sample]:
    return [
        (
            (
                ("key", t.get("key", "")),
                ("value", t.get("value", "")),
                ("effect", t.get("effect", "")),
            ),
            1.0,
        )
        for t in (node.get("spec") or {}).get("taints") or ()
    ]


ROLE_PREFIX = "node-role.kubernetes.io/"


def roles(node: Node) -> list[Sample]:
    return [
        ((("role", key[len(ROLE_PREFIX) :]),), 1.0)
        for key in (node["metadata"].get("labels") or {})
        if key.startswith(ROLE_PREFIX)
    ]


def addresses(node: Node) -> list[Sample]:
    return [
        ((("type", a.get("type", "")), ("address", a.get("address", ""))), 1.0)
        for a in (node.get("status") or {}).get("addresses") or ()
    ]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        metadata.created_family("node"),
        metadata.deletion_timestamp_family("node"),
        FamilySpec("kube_node_info", "Information about a cluster node.", info),
        metadata.labels_family("node", allowed_labels),
        FamilySpec("kube_node_role", "The role of a cluster node.", roles),
        FamilySpec(
            "kube_node_spec_unschedulable", "Whether a node can schedule new pods.", unschedulable
        ),
        FamilySpec("kube_node_spec_taint", "The taint of a cluster node.", taints),
        FamilySpec(
            "kube_node_status_allocatable",
            "The allocatable for different resources of a node that are available for scheduling.",
            lambda n: quantity_samples((n.get("status") or {}).get("allocatable")),
        ),
        FamilySpec(
            "kube_node_status_capacity",
            "The capacity for different resources of a node.",
            lambda n: quantity_samples((n.get("status") or {}).get("capacity")),
        ),
        FamilySpec(
            "kube_node_status_condition", "The condition of a cluster node.", status_conditions
        ),
        FamilySpec("kube_node_status_addresses", "Node address information.", addresses),
    ]


KIND = Kind(RESOURCE, prefix, families)
