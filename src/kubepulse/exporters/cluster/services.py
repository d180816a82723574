"""Service families: kube-state-metrics v2.16 ``internal/store/service.go``.

All of KSM's default service families (``kube_service_annotations`` is added by the exporter).
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels, Sample
from kubepulse.kube.informer import Resource

RESOURCE = Resource("services", "/api/v1")


def prefix(svc: dict[str, Any]) -> Labels:
    meta = svc["metadata"]
    return (
        ("namespace", meta.get("namespace", "")),
        ("service", meta["name"]),
        ("uid", meta["uid"]),
    )


def info(svc: dict[str, Any]) -> list[Sample]:
    spec = svc.get("spec") or {}
    return [
        (
            (
                ("cluster_ip", spec.get("clusterIP", "")),
                ("external_name", spec.get("externalName", "")),
                ("load_balancer_ip", spec.get("loadBalancerIP", "")),
                ("external_traffic_policy", spec.get("externalTrafficPolicy", "")),
            ),
            1.0,
        )
    ]


def spec_type(svc: dict[str, Any]) -> list[Sample]:
    return [((("type", (svc.get("spec") or {}).get("type", "")),), 1.0)]


def external_ips(svc: dict[str, Any]) -> list[Sample]:
    return [
        ((("external_ip", ip),), 1.0) for ip in (svc.get("spec") or {}).get("externalIPs") or ()
    ]


def load_balancer_ingress(svc: dict[str, Any]) -> list[Sample]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
    return [((("ip", i.get("ip", "")), ("hostname", i.get("hostname", ""))), 1.0) for i in ingress]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_service_info", "Information about service.", info),
        metadata.created_family("service"),
        FamilySpec("kube_service_spec_type", "Type about service.", spec_type),
        metadata.labels_family("service", allowed_labels),
        FamilySpec(
            "kube_service_spec_external_ip",
            "Service external ips. One series for each ip",
            external_ips,
        ),
        FamilySpec(
            "kube_service_status_load_balancer_ingress",
            "Service load balancer ingress status",
            load_balancer_ingress,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
