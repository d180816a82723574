"""StatefulSet families: kube-state-metrics ``internal/store/statefulset.go``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import common_families, namespaced_prefix, number
from kubepulse.kube.informer import Resource

RESOURCE = Resource("statefulsets", "/apis/apps/v1")
prefix = namespaced_prefix("statefulset")


def _revision(key: str) -> Callable[[dict[str, Any]], list[Sample]]:
    def generate(obj: dict[str, Any]) -> list[Sample]:
        return [((("revision", (obj.get("status") or {}).get(key, "")),), 1.0)]

    return generate


def _ordinals_start(obj: dict[str, Any]) -> list[Sample]:
    ordinals = (obj.get("spec") or {}).get("ordinals")
    return [] if ordinals is None else [((), float(ordinals.get("start") or 0))]


def _retention_policy(obj: dict[str, Any]) -> list[Sample]:
    policy = (obj.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    deleted, scaled = policy.get("whenDeleted", ""), policy.get("whenScaled", "")
    if not (deleted or scaled):
        return []
    return [((("when_deleted", deleted), ("when_scaled", scaled)), 1.0)]


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        *common_families("statefulset", allowed_labels),
        FamilySpec(
            "kube_statefulset_replicas",
            "Number of desired pods for a StatefulSet.",
            number("spec", "replicas", optional=True),
        ),
        FamilySpec(
            "kube_statefulset_status_replicas",
            "The number of replicas per StatefulSet.",
            number("status", "replicas"),
        ),
        FamilySpec(
            "kube_statefulset_status_replicas_available",
            "The number of available replicas per StatefulSet.",
            number("status", "availableReplicas"),
        ),
        FamilySpec(
            "kube_statefulset_status_replicas_current",
            "The number of current replicas per StatefulSet.",
            number("status", "currentReplicas"),
        ),
        FamilySpec(
            "kube_statefulset_status_replicas_ready",
            "The number of ready replicas per StatefulSet.",
            number("status", "readyReplicas"),
        ),
        FamilySpec(
            "kube_statefulset_status_replicas_updated",
            "The number of updated replicas per StatefulSet.",
            number("status", "updatedReplicas"),
        ),
        FamilySpec(
            "kube_statefulset_status_observed_generation",
            "The generation observed by the StatefulSet controller.",
            number("status", "observedGeneration"),
        ),
        FamilySpec(
            "kube_statefulset_status_current_revision",
            "Indicates the version of the StatefulSet used to generate Pods in the sequence [0,currentReplicas).",  # noqa: E501 (KSM's help text)
            _revision("currentRevision"),
        ),
        FamilySpec(
            "kube_statefulset_status_update_revision",
            "Indicates the version of the StatefulSet used to generate Pods in the sequence [replicas-updatedReplicas,replicas)",  # noqa: E501 (KSM's help text)
            _revision("updateRevision"),
        ),
        FamilySpec(
            "kube_statefulset_ordinals_start", "Start ordinal of the StatefulSet.", _ordinals_start
        ),
        FamilySpec(
            "kube_statefulset_persistentvolumeclaim_retention_policy",
            "Count of retention policy for StatefulSet template PVCs",
            _retention_policy,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
