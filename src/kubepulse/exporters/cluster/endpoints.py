"""Endpoints families: kube-state-metrics v2.16 ``internal/store/endpoint.go``.

Families, in KSM's order: info, created, labels (``kube_endpoint_annotations`` is added by the
exporter), address, ports (deprecated in KSM since v2.14.0, still served by it). Series start
with ``namespace`` and ``endpoint``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("endpoints", "/api/v1")
prefix = namespaced_prefix("endpoint")

Obj = dict[str, Any]


def _subset_ports(obj: Obj) -> Iterator[tuple[Obj, str, str, str]]:
    """Each port of each subset: (the subset, protocol, number, name)."""
    for subset in obj.get("subsets") or ():
        for port in subset.get("ports") or ():
            number = str(int(port.get("port") or 0))
            yield subset, port.get("protocol", ""), number, port.get("name", "")


def addresses(obj: Obj) -> list[Sample]:
    """One series per port and address, ``ready`` telling ready from not-ready addresses."""
    out: list[Sample] = []
    for subset, protocol, number, name in _subset_ports(obj):
        head = (("port_protocol", protocol), ("port_number", number), ("port_name", name))
        for key, ready in (("addresses", "true"), ("notReadyAddresses", "false")):
            for address in subset.get(key) or ():
                out.append(((*head, ("ip", address.get("ip", "")), ("ready", ready)), 1.0))
    return out


def ports(obj: Obj) -> list[Sample]:
    return [
        ((("port_name", name), ("port_protocol", protocol), ("port_number", number)), 1.0)
        for _subset, protocol, number, name in _subset_ports(obj)
    ]


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
