"""Endpoints families: kube-state-metrics v2.16 ``internal/store/endpoint.go``.

Families, in KSM's order: info, created, labels (``kube_endpoint_annotations`` is added by the
exporter), address, ports (deprecated in KSM since v2.14.0, still served by it). Series start
with ``namespace`` and ``endpoint``.
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("endpoints", "/api/v1")
prefix = namespaced_prefix("endpoint")

Obj = dict[str, Any]


def _port_labels(port: Obj) -> tuple[str, str, str]:
    return port.get("protocol", ""), str(int(port.get("port") or 0)), port.get("name", "")


def addresses(obj: Obj) -> list[Sample]:
    """One series per port and address, ``ready`` telling ready from not-ready addresses."""
    out: list[Sample] = []
    for subset in obj.get("subsets") or ():
        for port in subset.get("ports") or ():
            protocol, number, name = _port_labels(port)
            head = (("port_protocol", protocol), ("port_number", number), ("port_name", name))
            for key, ready in (("addresses", "true"), ("notReadyAddresses", "false")):
                for address in subset.get(key) or ():
                    out.append(((*head, ("ip", address.get("ip", "")), ("ready", ready)), 1.0))
    return out


def ports(obj: Obj) -> list[Sample]:
    out: list[Sample] = []
    for subset in obj.get("subsets") or ():
        for port in subset.get("ports") or ():
            protocol, number, name = _port_labels(port)
            labels = (("port_name", name), ("port_protocol", protocol), ("port_number", number))
            out.append((labels, 1.0))
    return out


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_endpoint_info", "Information about endpoint.", metadata.info_sample),
        metadata.created_family("endpoint"),
        metadata.labels_family("endpoint", allowed_labels),
        FamilySpec(
            "kube_endpoint_address",
            "Information about Endpoint available and non available addresses.",
            addresses,
        ),
        FamilySpec("kube_endpoint_ports", "Information about the Endpoint ports.", ports),
    ]


KIND = Kind(RESOURCE, prefix, families)
