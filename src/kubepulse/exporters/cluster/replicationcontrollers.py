"""ReplicationController families: kube-state-metrics v2.16
``internal/store/replicationcontroller.go``.

Families, in KSM's order: created, status_replicas, status_fully_labeled_replicas,
status_ready_replicas, status_available_replicas, status_observed_generation, spec_replicas,
metadata_generation, owner. That is all of them: KSM v2.16 has no ``_labels`` or
``_annotations`` family for ReplicationControllers (and no opt-in one).
The identifying labels are ``namespace`` and ``replicationcontroller``.
"""

from __future__ import annotations

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import generation, namespaced_prefix, number
from kubepulse.kube.informer import Resource

RESOURCE = Resource("replicationcontrollers", "/api/v1")
prefix = namespaced_prefix("replicationcontroller")


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    del allowed_labels  # KSM has no kube_replicationcontroller_labels
    return [
        metadata.created_family("replicationcontroller"),
        FamilySpec(
            "kube_replicationcontroller_status_replicas",
            "The number of replicas per ReplicationController.",
            number("status", "replicas"),
        ),
        FamilySpec(
            "kube_replicationcontroller_status_fully_labeled_replicas",
            "The number of fully labeled replicas per ReplicationController.",
            number("status", "fullyLabeledReplicas"),
        ),
        FamilySpec(
            "kube_replicationcontroller_status_ready_replicas",
            "The number of ready replicas per ReplicationController.",
            number("status", "readyReplicas"),
        ),
        FamilySpec(
            "kube_replicationcontroller_status_available_replicas",
            "The number of available replicas per ReplicationController.",
            number("status", "availableReplicas"),
        ),
        FamilySpec(
            "kube_replicationcontroller_status_observed_generation",
            "The generation observed by the ReplicationController controller.",
            number("status", "observedGeneration"),
        ),
        FamilySpec(
            "kube_replicationcontroller_spec_replicas",
            "Number of desired pods for a ReplicationController.",
            number("spec", "replicas", optional=True),
        ),
        FamilySpec(
            "kube_replicationcontroller_metadata_generation",
            "Sequence number representing a specific generation of the desired state.",
            generation,
        ),
        metadata.owner_family("replicationcontroller", "ReplicationController"),
    ]


KIND = Kind(RESOURCE, prefix, families)
