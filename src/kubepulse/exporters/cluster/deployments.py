"""Deployment families: kube-state-metrics ``internal/store/deployment.go``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kubepulse.exporters.cluster.common import status_conditions
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import common_families, namespaced_prefix, number
from kubepulse.kube.informer import Resource

RESOURCE = Resource("deployments", "/apis/apps/v1")
prefix = namespaced_prefix("deployment")


def paused(obj: dict[str, Any]) -> list[Sample]:
    return [((), 1.0 if (obj.get("spec") or {}).get("paused") else 0.0)]


def _rolling(key: str, round_up: bool) -> Callable[[dict[str, Any]], list[Sample]]:
    def generate(obj: dict[str, Any]) -> list[Sample]:
        spec = obj.get("spec") or {}
        rolling = (spec.get("strategy") or {}).get("rollingUpdate")
        if not rolling or rolling.get(key) is None:
            return []
        raw, replicas = rolling[key], int(spec.get("replicas") or 0)
        if isinstance(raw, str) and raw.endswith("%"):
            scaled = int(raw[:-1]) * replicas / 100
            value = math.ceil(scaled) if round_up else math.floor(scaled)
        else:
            value = int(raw)
        return [((), float(value))]

    return generate


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        *common_families("deployment", allowed_labels),
        FamilySpec(
            "kube_deployment_spec_replicas",
            "Number of desired pods for a deployment.",
            number("spec", "replicas", optional=True),
        ),
        FamilySpec(
            "kube_deployment_spec_paused",
            "Whether the deployment is paused and will not be processed by the deployment controller.",  # noqa: E501 (KSM's help text)
            paused,
        ),
        FamilySpec(
            "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
            "Maximum number of unavailable replicas during a rolling update of a deployment.",
            _rolling("maxUnavailable", False),
        ),
        FamilySpec(
            "kube_deployment_spec_strategy_rollingupdate_max_surge",
            "Maximum number of replicas that can be scheduled above the desired number of replicas during a rolling update of a deployment.",  # noqa: E501 (KSM's help text)
            _rolling("maxSurge", True),
        ),
        FamilySpec(
            "kube_deployment_status_replicas",
            "The number of replicas per deployment.",
            number("status", "replicas"),
        ),
        FamilySpec(
            "kube_deployment_status_replicas_ready",
            "The number of ready replicas per deployment.",
            number("status", "readyReplicas"),
        ),
        FamilySpec(
            "kube_deployment_status_replicas_available",
            "The number of available replicas per deployment.",
            number("status", "availableReplicas"),
        ),
        FamilySpec(
            "kube_deployment_status_replicas_unavailable",
            "The number of unavailable replicas per deployment.",
            number("status", "unavailableReplicas"),
        ),
        FamilySpec(
            "kube_deployment_status_replicas_updated",
            "The number of updated replicas per deployment.",
            number("status", "updatedReplicas"),
        ),
        FamilySpec(
            "kube_deployment_status_observed_generation",
            "The generation observed by the deployment controller.",
            number("status", "observedGeneration"),
        ),
        FamilySpec(
            "kube_deployment_status_condition",
            "The current status conditions of a deployment.",
            status_conditions,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
