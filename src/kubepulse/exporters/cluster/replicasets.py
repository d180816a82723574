"""ReplicaSet families: kube-state-metrics ``internal/store/replicaset.go``."""

from __future__ import annotations

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import common_families, namespaced_prefix, number
from kubepulse.kube.informer import Resource

RESOURCE = Resource("replicasets", "/apis/apps/v1")
prefix = namespaced_prefix("replicaset")


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        *common_families("replicaset", allowed_labels),
        metadata.owner_family("replicaset"),
        FamilySpec(
            "kube_replicaset_spec_replicas",
            "Number of desired pods for a ReplicaSet.",
            number("spec", "replicas", optional=True),
        ),
        FamilySpec(
            "kube_replicaset_status_replicas",
            "The number of replicas per ReplicaSet.",
            number("status", "replicas"),
        ),
        FamilySpec(
            "kube_replicaset_status_fully_labeled_replicas",
            "The number of fully labeled replicas per ReplicaSet.",
            number("status", "fullyLabeledReplicas"),
        ),
        FamilySpec(
            "kube_replicaset_status_ready_replicas",
            "The number of ready replicas per ReplicaSet.",
            number("status", "readyReplicas"),
        ),
        FamilySpec(
            "kube_replicaset_status_observed_generation",
            "The generation observed by the ReplicaSet controller.",
            number("status", "observedGeneration"),
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
