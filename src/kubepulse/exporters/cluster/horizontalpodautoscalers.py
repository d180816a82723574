"""HorizontalPodAutoscaler families (autoscaling/v2): kube-state-metrics
``internal/store/horizontalpodautoscaler.go``.

Families, in KSM's order: info, metadata_generation, spec_max_replicas, spec_min_replicas,
spec_target_metric, status_target_metric, status_current_replicas, status_desired_replicas,
labels, status_condition. ``kube_horizontalpodautoscaler_annotations`` (between desired_replicas
and labels in KSM) is not in this table: the exporter adds it from
``--metric-annotations-allowlist``, just before the labels family. KSM has no opt-in family here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubepulse.exporters.cluster import metadata
from kubepulse.exporters.cluster.common import status_conditions
from kubepulse.exporters.cluster.resourcequotas import quantity_value
from kubepulse.exporters.cluster.store import FamilySpec, Kind, Sample
from kubepulse.exporters.cluster.workload import generation, namespaced_prefix, number
from kubepulse.kube.informer import Resource

RESOURCE = Resource("horizontalpodautoscalers", "/apis/autoscaling/v2")
prefix = namespaced_prefix("horizontalpodautoscaler")

Obj = dict[str, Any]
# MetricSourceType -> the field holding that source (KSM skips any other type).
SOURCES = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "External": "external",
}


def _info(obj: Obj) -> list[Sample]:
    ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
    labels: tuple[tuple[str, str], ...] = (
        ("scaletargetref_kind", ref.get("kind", "")),
        ("scaletargetref_name", ref.get("name", "")),
    )
    if ref.get("apiVersion"):
        labels = (("scaletargetref_api_version", ref["apiVersion"]), *labels)
    return [(labels, 1.0)]


def _min_replicas(obj: Obj) -> list[Sample]:
    # The API server defaults minReplicas to 1 (KSM dereferences it unconditionally).
    value = (obj.get("spec") or {}).get("minReplicas")
    return [((), float(1 if value is None else value))]


def _metrics(section: str, key: str, field: str) -> Callable[[Obj], list[Sample]]:
    """spec.metrics[].<source>.target or status.currentMetrics[].<source>.current: a series per
    value, averageUtilization and averageValue that is set."""

    def generate(obj: Obj) -> list[Sample]:
        samples: list[Sample] = []
        for entry in (obj.get(section) or {}).get(key) or ():
            source_field = SOURCES.get(entry.get("type", ""))
            if source_field is None:
                continue
            source = entry.get(source_field) or {}
            if source_field in ("resource", "containerResource"):
                name = source.get("name", "")
            else:
                name = (source.get("metric") or {}).get("name", "")
            target = source.get(field) or {}
            found: list[tuple[str, float | None]] = []
            if target.get("value") is not None:
                found.append(("value", quantity_value(target["value"])))
            if target.get("averageUtilization") is not None:
                found.append(("utilization", float(target["averageUtilization"])))
            if target.get("averageValue") is not None:
                found.append(("average", quantity_value(target["averageValue"])))
            for kind, value in found:
                if value is not None:
                    samples.append(((("metric_name", name), ("metric_target_type", kind)), value))
        return samples

    return generate


def families(allowed_labels: tuple[str, ...] | None) -> list[FamilySpec]:
    return [
        FamilySpec(
            "kube_horizontalpodautoscaler_info", "Information about this autoscaler.", _info
        ),
        FamilySpec(
            "kube_horizontalpodautoscaler_metadata_generation",
            "The generation observed by the HorizontalPodAutoscaler controller.",
            generation,
        ),
        FamilySpec(
            "kube_horizontalpodautoscaler_spec_max_replicas",
            "Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas.",  # noqa: E501 (KSM's help text)
            number("spec", "maxReplicas"),
        ),
        FamilySpec(
            "kube_horizontalpodautoscaler_spec_min_replicas",
            "Lower limit for the number of pods that can be set by the autoscaler, default 1.",
            _min_replicas,
        ),
        FamilySpec(
            "kube_horizontalpodautoscaler_spec_target_metric",
            "The metric specifications used by this autoscaler when calculating the desired replica count.",  # noqa: E501 (KSM's help text)
            _metrics("spec", "metrics", "target"),
        ),
        FamilySpec(
            "kube_horizontalpodautoscaler_status_target_metric",
            "The current metric status used by this autoscaler when calculating the desired replica count.",  # noqa: E501 (KSM's help text)
            _metrics("status", "currentMetrics", "current"),
        ),
        FamilySpec(
            "kube_horizontalpodautoscaler_status_current_replicas",
            "Current number of replicas of pods managed by this autoscaler.",
            number("status", "currentReplicas"),
        ),
        FamilySpec(
            "kube_horizontalpodautoscaler_status_desired_replicas",
            "Desired number of replicas of pods managed by this autoscaler.",
            number("status", "desiredReplicas"),
        ),
        metadata.labels_family("horizontalpodautoscaler", allowed_labels),
        FamilySpec(
            "kube_horizontalpodautoscaler_status_condition",
            "The condition of this autoscaler.",
            status_conditions,
        ),
    ]


KIND = Kind(RESOURCE, prefix, families)
