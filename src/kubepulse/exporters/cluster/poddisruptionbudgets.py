"""PodDisruptionBudget families: kube-state-metrics ``internal/store/poddisruptionbudget.go``.

Families, in KSM's order: labels, created, status_current_healthy, status_desired_healthy,
status_pod_disruptions_allowed, status_expected_pods, status_observed_generation.
``kube_poddisruptionbudget_annotations`` (KSM's first) is not in this table: the exporter adds it
from ``--metric-annotations-allowlist``, just before the labels family (KSM's place). KSM has no
opt-in family here.
"""

from __future__ import annotations

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.store import FamilySpec, Kind
from kubepulse.exporters.cluster.workload import namespaced_prefix, number
from kubepulse.kube.informer import Resource

RESOURCE = Resource("poddisruptionbudgets", "/apis/policy/v1")
prefix = namespaced_prefix("poddisruptionbudget")


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        metadata.labels_family("poddisruptionbudget", allowed_labels),
        metadata.created_family("poddisruptionbudget"),
        FamilySpec(
            "kube_poddisruptionbudget_status_current_healthy",
            "Current number of healthy pods",
            number("status", "currentHealthy"),
        ),
        FamilySpec(
            "kube_poddisruptionbudget_status_desired_healthy",
            "Minimum desired number of healthy pods",
            number("status", "desiredHealthy"),
        ),
        FamilySpec(
            "kube_poddisruptionbudget_status_pod_disruptions_allowed",
            "Number of pod disruptions that are currently allowed",
            number("status", "disruptionsAllowed"),
        ),
        FamilySpec(
            "kube_poddisruptionbudget_status_expected_pods",
            "Total number of pods counted by this disruption budget",
            number("status", "expectedPods"),
        ),
        FamilySpec(
            "kube_poddisruptionbudget_status_observed_generation",
            "Most recent generation observed when updating this PDB status",
            number("status", "observedGeneration"),
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
