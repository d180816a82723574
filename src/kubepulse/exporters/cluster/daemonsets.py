"""DaemonSet families: kube-state-metrics ``internal/store/daemonset.go``."""

from __future__ import annotations

from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import common_families, namespaced_prefix, number
from kubepulse.kube.informer import Resource

RESOURCE = Resource("daemonsets", "/apis/apps/v1")
prefix = namespaced_prefix("daemonset")

_STATUS = (
    (
        "current_number_scheduled",
        "currentNumberScheduled",
        "The number of nodes running at least one daemon pod and are supposed to.",
    ),
    (
        "desired_number_scheduled",
        "desiredNumberScheduled",
        "The number of nodes that should be running the daemon pod.",
    ),
    (
        "number_available",
        "numberAvailable",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available",  # noqa: E501 (KSM's help text)
    ),
    (
        "number_misscheduled",
        "numberMisscheduled",
        "The number of nodes running a daemon pod but are not supposed to.",
    ),
    (
        "number_ready",
        "numberReady",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",  # noqa: E501 (KSM's help text)
    ),
    (
        "number_unavailable",
        "numberUnavailable",
        "The number of nodes that should be running the daemon pod and have none of the daemon pod running and available",  # noqa: E501 (KSM's help text)
    ),
    (
        "updated_number_scheduled",
        "updatedNumberScheduled",
        "The total number of nodes that are running updated daemon pod",
    ),
    (
        "observed_generation",
        "observedGeneration",
        "The most recent generation observed by the daemon set controller.",
    ),
)


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        *common_families("daemonset", allowed_labels),
        *(
            FamilySpec(f"kube_daemonset_status_{name}", text, number("status", key))
            for name, key, text in _STATUS
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
