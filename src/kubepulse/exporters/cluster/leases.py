"""Lease families: kube-state-metrics v2.16 ``internal/store/lease.go``.

Families, in KSM's order: owner, renew_time. That is all of them: KSM v2.16 has no ``_labels``,
``_annotations`` or opt-in family for Leases.

KSM watches Leases in every namespace (its ``buildLeasesStores`` goes through the generic
``buildStoresFunc``: all namespaces, or those given by ``--namespaces``), not only
``kube-node-lease``; so does this module (``namespaced=True``, listed like any namespaced kind).

KSM's only default label for Leases is ``lease`` (the name): ``namespace`` is not part of the
prefix but a label of each family, after the family's own (``owner_kind``, ``owner_name``,
``namespace``, ``lease_holder`` for owner; ``namespace`` for renew_time), in KSM's order.
"""

from __future__ import annotations

from typing import Any

from kubepulse.exporters.cluster.common import timestamp
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import name_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("leases", "/apis/coordination.k8s.io/v1")
prefix = name_prefix("lease")

Obj = dict[str, Any]


def _owner(lease: Obj) -> list[Sample]:
    """One series per owner reference (no ``owner_is_controller``), or one with empty owner."""
    meta = lease["metadata"]
    namespace = meta.get("namespace", "")
    holder = (lease.get("spec") or {}).get("holderIdentity") or ""
    owners: list[Obj] = meta.get("ownerReferences") or [{}]
    return [
        (
            (
                ("owner_kind", o.get("kind", "")),
                ("owner_name", o.get("name", "")),
                ("namespace", namespace),
                ("lease_holder", holder),
            ),
            1.0,
        )
        for o in owners
    ]


def _renew_time(lease: Obj) -> list[Sample]:
    value = (lease.get("spec") or {}).get("renewTime")
    if not value:
        return []
    return [((("namespace", lease["metadata"].get("namespace", "")),), timestamp(value))]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    del allowed_labels  # KSM has no kube_lease_labels
    return [
        FamilySpec("kube_lease_owner", "Information about the Lease's owner.", _owner),
        FamilySpec("kube_lease_renew_time", "Kube lease renew time.", _renew_time),
    ]


KIND = Kind(RESOURCE, prefix, families)
