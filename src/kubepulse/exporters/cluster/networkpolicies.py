"""NetworkPolicy families: kube-state-metrics ``internal/store/networkpolicy.go``.

Families, in KSM's order: created, labels, spec_ingress_rules, spec_egress_rules. KSM's
``kube_networkpolicy_annotations`` (between created and labels) is not in this table: the exporter
adds it from ``--metric-annotations-allowlist``, just before the labels family (KSM's place).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import go_timestamp
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import namespaced_prefix
from kubepulse.kube.informer import Resource

RESOURCE = Resource("networkpolicies", "/apis/networking.k8s.io/v1")
prefix = namespaced_prefix("networkpolicy")

Obj = dict[str, Any]


def _created(obj: Obj) -> list[Sample]:
    """Always one series: KSM does not check for a zero creation time here (Go's zero time)."""
    return [((), go_timestamp(obj["metadata"].get("creationTimestamp")))]


def _rules(key: str) -> Callable[[Obj], list[Sample]]:
    def generate(obj: Obj) -> list[Sample]:
        return [((), float(len((obj.get("spec") or {}).get(key) or ())))]

    return generate


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec(
            "kube_networkpolicy_created", "Unix creation timestamp of network policy", _created
        ),
        metadata.labels_family("networkpolicy", allowed_labels),
        FamilySpec(
            "kube_networkpolicy_spec_ingress_rules",
            "Number of ingress rules on the networkpolicy",
            _rules("ingress"),
        ),
        FamilySpec(
            "kube_networkpolicy_spec_egress_rules",
            "Number of egress rules on the networkpolicy",
            _rules("egress"),
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
