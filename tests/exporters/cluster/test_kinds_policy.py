"""HorizontalPodAutoscaler, PodDisruptionBudget, ResourceQuota and LimitRange family tables,
table-driven: an API object in, the exact series out (headers aside, sorted), no cluster needed."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from helpers_cluster_exporter import SeriesCase, epoch, series_cases, table_series

from kubepulse.exporters.cluster import (
    horizontalpodautoscalers,
    limitranges,
    poddisruptionbudgets,
    resourcequotas,
)
from kubepulse.exporters.cluster.resourcequotas import quantity_value


def names(module: Any) -> list[str]:
    return [spec.name for spec in module.families(None)]


CREATED = "2026-03-01T10:00:00Z"
T = epoch(CREATED)


def test_resources_and_family_order() -> None:
    assert horizontalpodautoscalers.RESOURCE.group_version == "/apis/autoscaling/v2"
    assert poddisruptionbudgets.RESOURCE.group_version == "/apis/policy/v1"
    assert resourcequotas.RESOURCE.group_version == "/api/v1"
    assert limitranges.RESOURCE.group_version == "/api/v1"
    for module in (horizontalpodautoscalers, poddisruptionbudgets, resourcequotas, limitranges):
        assert module.RESOURCE.namespaced
    h = "kube_horizontalpodautoscaler_"
    assert names(horizontalpodautoscalers) == [
        f"{h}{n}"
        for n in (
            "info",
            "metadata_generation",
            "spec_max_replicas",
            "spec_min_replicas",
            "spec_target_metric",
            "status_target_metric",
            "status_current_replicas",
            "status_desired_replicas",
            "labels",
            "status_condition",
        )
    ]
    p = "kube_poddisruptionbudget_"
    assert names(poddisruptionbudgets) == [
        f"{p}{n}"
        for n in (
            "labels",
            "created",
            "status_current_healthy",
            "status_desired_healthy",
            "status_pod_disruptions_allowed",
            "status_expected_pods",
            "status_observed_generation",
        )
    ]
    assert names(resourcequotas) == [
        "kube_resourcequota_created",
        "kube_resourcequota",
        "kube_resourcequota_labels",
    ]
    assert names(limitranges) == ["kube_limitrange", "kube_limitrange_created"]


HPA: dict[str, Any] = {
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "h1",
        "generation": 3,
        "creationTimestamp": CREATED,
        "labels": {"app": "web", "team": "a"},
    },
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 75},
                },
            },
            {
                "type": "ContainerResource",
                "containerResource": {
                    "name": "memory",
                    "container": "app",
                    "target": {"type": "AverageValue", "averageValue": "512Mi"},
                },
            },
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "requests_per_second"},
                    "target": {"type": "AverageValue", "averageValue": "1500m"},
                },
            },
            {
                "type": "Object",
                "object": {
                    "metric": {"name": "queue_depth"},
                    "describedObject": {"kind": "Service", "name": "q", "apiVersion": "v1"},
                    "target": {"type": "Value", "value": "30", "averageValue": "3"},
                },
            },
            {
                "type": "External",
                "external": {
                    "metric": {"name": "sqs_messages", "selector": {"matchLabels": {"q": "x"}}},
                    "target": {"type": "Value", "value": "100k"},
                },
            },
            {"type": "Unknown", "unknown": {"name": "skipped"}},
        ],
    },
    "status": {
        "currentReplicas": 4,
        "desiredReplicas": 5,
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageUtilization": 81, "averageValue": "245m"},
                },
            },
            {
                "type": "External",
                "external": {"metric": {"name": "sqs_messages"}, "current": {"value": "-2500m"}},
            },
        ],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
            {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric"},
            {"type": "ScalingLimited", "status": "Unknown"},
        ],
    },
}


PDB: dict[str, Any] = {
    "metadata": {
        "name": "web-pdb",
        "namespace": "shop",
        "uid": "p1",
        "generation": 2,
        "creationTimestamp": CREATED,
        "labels": {"app": "web"},
    },
    "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    "status": {
        "currentHealthy": 3,
        "desiredHealthy": 2,
        "disruptionsAllowed": 1,
        "expectedPods": 3,
        "observedGeneration": 2,
    },
}


QUOTA: dict[str, Any] = {
    "metadata": {
        "name": "compute",
        "namespace": "team-a",
        "uid": "q1",
        "creationTimestamp": CREATED,
        "labels": {"tier": "gold"},
    },
    "spec": {"hard": {"requests.cpu": "4", "limits.memory": "8Gi", "pods": "20"}},
    "status": {
        "hard": {
            "requests.cpu": "4",
            "limits.memory": "8Gi",
            "pods": "20",
            "count/deployments.apps": "10",
        },
        "used": {
            "requests.cpu": "1250m",
            "limits.memory": "3Gi",
            "pods": "7",
            "count/deployments.apps": "0",
        },
    },
}


LIMITS: dict[str, Any] = {
    "metadata": {
        "name": "defaults",
        "namespace": "team-a",
        "uid": "l1",
        "creationTimestamp": CREATED,
        "labels": {"app": "x"},
    },
    "spec": {
        "limits": [
            {
                "type": "Container",
                "min": {"cpu": "100m"},
                "max": {"cpu": "2", "memory": "1Gi"},
                "default": {"memory": "256Mi"},
                "defaultRequest": {"cpu": "250m"},
                "maxLimitRequestRatio": {"cpu": "4"},
            },
            {"type": "Pod", "max": {"cpu": "4"}},
            {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}},
        ]
    },
}


# Family-name prefixes and each object's identifying labels.
KH, KP, KQ, KL = (
    "kube_horizontalpodautoscaler",
    "kube_poddisruptionbudget",
    "kube_resourcequota",
    "kube_limitrange",
)
HPA_WEB = 'namespace="shop",horizontalpodautoscaler="web"'
HPA_API = 'namespace="shop",horizontalpodautoscaler="api"'
PDB_WEB = 'namespace="shop",poddisruptionbudget="web-pdb"'
PDB_NEW = 'namespace="shop",poddisruptionbudget="new"'
QUOTA_COMPUTE = 'namespace="team-a",resourcequota="compute"'
LR = 'namespace="team-a",limitrange="defaults"'

CASES: list[SeriesCase] = [
    (
        "hpa",
        horizontalpodautoscalers,
        HPA,
        ("app",),
        [
            f'{KH}_info{{{HPA_WEB},scaletargetref_api_version="apps/v1",scaletargetref_kind="Deployment",scaletargetref_name="web"}} 1',  # noqa: E501
            f"{KH}_metadata_generation{{{HPA_WEB}}} 3",
            f"{KH}_spec_max_replicas{{{HPA_WEB}}} 10",
            f"{KH}_spec_min_replicas{{{HPA_WEB}}} 2",
            f'{KH}_spec_target_metric{{{HPA_WEB},metric_name="cpu",metric_target_type="utilization"}} 75',  # noqa: E501
            f'{KH}_spec_target_metric{{{HPA_WEB},metric_name="memory",metric_target_type="average"}} 536870912',  # noqa: E501
            f'{KH}_spec_target_metric{{{HPA_WEB},metric_name="requests_per_second",metric_target_type="average"}} 1.5',  # noqa: E501
            f'{KH}_spec_target_metric{{{HPA_WEB},metric_name="queue_depth",metric_target_type="value"}} 30',  # noqa: E501
            f'{KH}_spec_target_metric{{{HPA_WEB},metric_name="queue_depth",metric_target_type="average"}} 3',  # noqa: E501
            f'{KH}_spec_target_metric{{{HPA_WEB},metric_name="sqs_messages",metric_target_type="value"}} 100000',  # noqa: E501
            f'{KH}_status_target_metric{{{HPA_WEB},metric_name="cpu",metric_target_type="utilization"}} 81',  # noqa: E501
            f'{KH}_status_target_metric{{{HPA_WEB},metric_name="cpu",metric_target_type="average"}} 0.245',  # noqa: E501
            f'{KH}_status_target_metric{{{HPA_WEB},metric_name="sqs_messages",metric_target_type="value"}} -2.5',  # noqa: E501
            f"{KH}_status_current_replicas{{{HPA_WEB}}} 4",
            f"{KH}_status_desired_replicas{{{HPA_WEB}}} 5",
            f'{KH}_labels{{{HPA_WEB},label_app="web"}} 1',
            f'{KH}_status_condition{{{HPA_WEB},condition="AbleToScale",status="true"}} 1',
            f'{KH}_status_condition{{{HPA_WEB},condition="AbleToScale",status="false"}} 0',
            f'{KH}_status_condition{{{HPA_WEB},condition="AbleToScale",status="unknown"}} 0',
            f'{KH}_status_condition{{{HPA_WEB},condition="ScalingActive",status="true"}} 0',
            f'{KH}_status_condition{{{HPA_WEB},condition="ScalingActive",status="false"}} 1',
            f'{KH}_status_condition{{{HPA_WEB},condition="ScalingActive",status="unknown"}} 0',
            f'{KH}_status_condition{{{HPA_WEB},condition="ScalingLimited",status="true"}} 0',
            f'{KH}_status_condition{{{HPA_WEB},condition="ScalingLimited",status="false"}} 0',
            f'{KH}_status_condition{{{HPA_WEB},condition="ScalingLimited",status="unknown"}} 1',
        ],
    ),
    (
        # No apiVersion on the target: no scaletargetref_api_version label; minReplicas unset: the
        # API server's default 1; no metrics, conditions or allowlist: those families are empty.
        "fresh hpa without status, metrics or allowlist",
        horizontalpodautoscalers,
        {
            "metadata": {"name": "api", "namespace": "shop", "uid": "h2", "labels": {"a": "b"}},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "maxReplicas": 3},
            "status": {},
        },
        None,
        [
            f'{KH}_info{{{HPA_API},scaletargetref_kind="Deployment",scaletargetref_name="api"}} 1',
            f"{KH}_metadata_generation{{{HPA_API}}} 0",
            f"{KH}_spec_max_replicas{{{HPA_API}}} 3",
            f"{KH}_spec_min_replicas{{{HPA_API}}} 1",
            f"{KH}_status_current_replicas{{{HPA_API}}} 0",
            f"{KH}_status_desired_replicas{{{HPA_API}}} 0",
        ],
    ),
    (
        "pdb",
        poddisruptionbudgets,
        PDB,
        ("*",),
        [
            f'{KP}_labels{{{PDB_WEB},label_app="web"}} 1',
            f"{KP}_created{{{PDB_WEB}}} {T}",
            f"{KP}_status_current_healthy{{{PDB_WEB}}} 3",
            f"{KP}_status_desired_healthy{{{PDB_WEB}}} 2",
            f"{KP}_status_pod_disruptions_allowed{{{PDB_WEB}}} 1",
            f"{KP}_status_expected_pods{{{PDB_WEB}}} 3",
            f"{KP}_status_observed_generation{{{PDB_WEB}}} 2",
        ],
    ),
    (
        # No status: every count is Go's zero value; no creationTimestamp: no created series.
        "pdb before the controller saw it",
        poddisruptionbudgets,
        {"metadata": {"name": "new", "namespace": "shop", "uid": "p2"}, "spec": {}},
        None,
        [
            f"{KP}_status_current_healthy{{{PDB_NEW}}} 0",
            f"{KP}_status_desired_healthy{{{PDB_NEW}}} 0",
            f"{KP}_status_pod_disruptions_allowed{{{PDB_NEW}}} 0",
            f"{KP}_status_expected_pods{{{PDB_NEW}}} 0",
            f"{KP}_status_observed_generation{{{PDB_NEW}}} 0",
        ],
    ),
    (
        # The resource label is the quota's own key, unsanitized (requests.cpu, count/...).
        "resourcequota",
        resourcequotas,
        QUOTA,
        ("tier",),
        [
            f"{KQ}_created{{{QUOTA_COMPUTE}}} {T}",
            f'{KQ}{{{QUOTA_COMPUTE},resource="requests.cpu",type="hard"}} 4',
            f'{KQ}{{{QUOTA_COMPUTE},resource="limits.memory",type="hard"}} 8589934592',
            f'{KQ}{{{QUOTA_COMPUTE},resource="pods",type="hard"}} 20',
            f'{KQ}{{{QUOTA_COMPUTE},resource="count/deployments.apps",type="hard"}} 10',
            f'{KQ}{{{QUOTA_COMPUTE},resource="requests.cpu",type="used"}} 1.25',
            f'{KQ}{{{QUOTA_COMPUTE},resource="limits.memory",type="used"}} 3221225472',
            f'{KQ}{{{QUOTA_COMPUTE},resource="pods",type="used"}} 7',
            f'{KQ}{{{QUOTA_COMPUTE},resource="count/deployments.apps",type="used"}} 0',
            f'{KQ}_labels{{{QUOTA_COMPUTE},label_tier="gold"}} 1',
        ],
    ),
    (
        # Spec alone gives no kube_resourcequota series (KSM reads status only); no allowlist.
        "resourcequota without status",
        resourcequotas,
        {
            "metadata": {"name": "fresh", "namespace": "team-a", "uid": "q2", "labels": {"x": "y"}},
            "spec": {"hard": {"pods": "5"}},
        },
        None,
        [],
    ),
    (
        # No labels family at all for LimitRanges, whatever the allowlist.
        "limitrange",
        limitranges,
        LIMITS,
        ("*",),
        [
            f'{KL}{{{LR},resource="cpu",type="Container",constraint="min"}} 0.1',
            f'{KL}{{{LR},resource="cpu",type="Container",constraint="max"}} 2',
            f'{KL}{{{LR},resource="memory",type="Container",constraint="max"}} 1073741824',
            f'{KL}{{{LR},resource="memory",type="Container",constraint="default"}} 268435456',
            f'{KL}{{{LR},resource="cpu",type="Container",constraint="defaultRequest"}} 0.25',
            f'{KL}{{{LR},resource="cpu",type="Container",constraint="maxLimitRequestRatio"}} 4',
            f'{KL}{{{LR},resource="cpu",type="Pod",constraint="max"}} 4',
            f'{KL}{{{LR},resource="storage",type="PersistentVolumeClaim",constraint="min"}} 1073741824',  # noqa: E501
            f"{KL}_created{{{LR}}} {T}",
        ],
    ),
    (
        "empty limitrange",
        limitranges,
        {"metadata": {"name": "none", "namespace": "team-a", "uid": "l2"}, "spec": {}},
        None,
        [],
    ),
]


@series_cases(CASES)
def test_series(
    module: ModuleType, obj: dict[str, Any], labels: tuple[str, ...] | None, expected: list[str]
) -> None:
    assert table_series(module, obj, labels) == sorted(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1.0),
        ("1500m", 1.5),
        ("1Ki", 1024.0),
        ("100k", 100000.0),
        ("1e3", 1000.0),
        # Milli precision, rounded up away from zero (Go's Quantity.MilliValue).
        ("100u", 0.001),
        ("1n", 0.001),
        ("-1n", -0.001),
        ("-2500m", -2.5),
        # Past MaxMilliValue (MaxInt64/1000): the rounded-up whole value.
        ("9223372036854776", 9223372036854776.0),
        # At it: the milli value as a float64, divided by 1000 (as Go does).
        ("9223372036854775", float(9223372036854775000) / 1000),
        ("1Ei", float(2**60)),
        ("not-a-quantity", None),
        ("NaN", None),
    ],
)
def test_quantity_value(raw: str, expected: float | None) -> None:
    assert quantity_value(raw) == expected
