"""EndpointSlice families: kube-state-metrics ``internal/store/endpointslice.go``.

Families, in KSM's order: info, created, endpoints_hints, endpoints, ports, labels. KSM's
``kube_endpointslice_annotations`` (between ports and labels) is not in this table: the exporter
adds it from ``--metric-annotations-allowlist``, just before the labels family (KSM's place).

The identifying labels are ``endpointslice`` then ``namespace`` (KSM's order for this kind).
``kube_endpointslice_endpoints`` reproduces two KSM v2.16 quirks: ``conditions.terminating``, when
set, overwrites the ``serving`` value, and the label values are shifted against their keys, so
``hostname`` is always empty and ``terminating`` carries the endpoint's hostname.
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Labels, Sample
from kubepulse.kube.informer import Resource

RESOURCE = Resource("endpointslices", "/apis/discovery.k8s.io/v1")

Obj = dict[str, Any]


def prefix(obj: Obj) -> Labels:
    meta = obj["metadata"]
    return (("endpointslice", meta["name"]), ("namespace", meta.get("namespace", "")))


def _bool(value: object) -> str:
    return "" if value is None else ("true" if value else "false")


def _info(obj: Obj) -> list[Sample]:
    return [((("addresstype", obj.get("addressType") or ""),), 1.0)]


def _hints(obj: Obj) -> list[Sample]:
    """One series per zone hint, labelled with the endpoint's first address (an endpoint without
    addresses, where KSM would panic, gives none)."""
    out: list[Sample] = []
    for ep in obj.get("endpoints") or ():
        zones = (ep.get("hints") or {}).get("forZones") or ()
        addresses = ep.get("addresses") or ()
        if not zones or not addresses:
            continue
        for zone in zones:
            out.append(((("address", addresses[0]), ("for_zone", zone.get("name", ""))), 1.0))
    return out


def _endpoints(obj: Obj) -> list[Sample]:
    out: list[Sample] = []
    for ep in obj.get("endpoints") or ():
        cond = ep.get("conditions") or {}
        serving = _bool(cond.get("serving"))
        if cond.get("terminating") is not None:
            serving = _bool(cond.get("terminating"))  # KSM's overwrite
        ref = ep.get("targetRef") or {}
        head: Labels = (
            ("ready", _bool(cond.get("ready"))),
            ("serving", serving),
            ("hostname", ""),  # KSM puts the (never set) terminating value here
            ("terminating", ep.get("hostname") or ""),  # ... and the hostname here
            ("targetref_kind", ref.get("kind", "")),
            ("targetref_name", ref.get("name", "")),
            ("targetref_namespace", ref.get("namespace", "")),
            ("endpoint_nodename", ep.get("nodeName") or ""),
            ("endpoint_zone", ep.get("zone") or ""),
        )
        for address in ep.get("addresses") or ():
            out.append(((*head, ("address", address)), 1.0))
    return out


def _ports(obj: Obj) -> list[Sample]:
    """``port_name``/``port_protocol``/``port_number``; a port left unset (all ports), where KSM
    would panic, gives none; a missing name is ``""`` and protocol ``TCP`` (the API defaults)."""
    return [
        (
            (
                ("port_name", p.get("name") or ""),
                ("port_protocol", p.get("protocol") or "TCP"),
                ("port_number", str(p["port"])),
            ),
            1.0,
        )
        for p in obj.get("ports") or ()
        if p.get("port") is not None
    ]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec("kube_endpointslice_info", "Information about endpointslice.", _info),
        metadata.created_family("endpointslice"),
        FamilySpec(
            "kube_endpointslice_endpoints_hints",
            "Topology routing hints attached to endpoints",
            _hints,
        ),
        FamilySpec(
            "kube_endpointslice_endpoints", "Endpoints attached to the endpointslice.", _endpoints
        ),
        FamilySpec("kube_endpointslice_ports", "Ports attached to the endpointslice.", _ports),
        metadata.labels_family("endpointslice", allowed_labels),
    ]


KIND = Kind(RESOURCE, prefix, families)
