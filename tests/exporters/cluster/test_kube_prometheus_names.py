"""Every ``kube_*`` metric kube-prometheus's alert rules read is served, on /metrics or on the
telemetry port.

The names below were read from kube-prometheus's rendered rules
(``manifests/*-prometheusRule.yaml``) and checked against kube-state-metrics' docs; only the
names are kept here, no rule text.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kubepulse.exporters.cluster.exporter import KINDS, Options, _Telemetry, kind_families

ALERT_METRICS = {
    # kubernetes-apps
    "kube_daemonset_status_current_number_scheduled",
    "kube_daemonset_status_desired_number_scheduled",
    "kube_daemonset_status_number_available",
    "kube_daemonset_status_number_misscheduled",
    "kube_daemonset_status_updated_number_scheduled",
    "kube_deployment_metadata_generation",
    "kube_deployment_spec_replicas",
    "kube_deployment_status_condition",
    "kube_deployment_status_observed_generation",
    "kube_deployment_status_replicas_available",
    "kube_deployment_status_replicas_updated",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_horizontalpodautoscaler_spec_min_replicas",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_status_desired_replicas",
    "kube_job_failed",
    "kube_job_status_active",
    "kube_job_status_start_time",
    "kube_pod_container_status_waiting_reason",
    "kube_pod_owner",
    "kube_pod_status_phase",
    "kube_pod_status_ready",
    "kube_pod_status_reason",
    "kube_poddisruptionbudget_status_current_healthy",
    "kube_poddisruptionbudget_status_desired_healthy",
    "kube_statefulset_metadata_generation",
    "kube_statefulset_replicas",
    "kube_statefulset_status_current_revision",
    "kube_statefulset_status_observed_generation",
    "kube_statefulset_status_replicas_ready",
    "kube_statefulset_status_replicas_updated",
    "kube_statefulset_status_update_revision",
    # kubernetes-resources
    "kube_node_role",
    "kube_node_status_allocatable",
    "kube_pod_container_resource_requests",
    "kube_resourcequota",
    # kubernetes-storage
    "kube_persistentvolume_status_phase",
    "kube_persistentvolumeclaim_access_mode",
    "kube_persistentvolumeclaim_labels",
    # kubernetes-system-kubelet and node alerts
    "kube_node_info",
    "kube_node_spec_taint",
    "kube_node_spec_unschedulable",
    "kube_node_status_capacity",
    "kube_node_status_condition",
    # kube-state-metrics (telemetry port)
    "kube_state_metrics_list_total",
    "kube_state_metrics_watch_total",
    "kube_state_metrics_shard_ordinal",
    "kube_state_metrics_total_shards",
}


def served_names() -> set[str]:
    opts = Options()
    names = {s.name for name, kind in KINDS.items() for s in kind_families(name, kind, opts)}
    exporter: Any = SimpleNamespace(options=opts, stores={})
    telemetry = _Telemetry(exporter)
    for family in telemetry.registry.collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def test_every_kube_prometheus_alert_metric_is_served() -> None:
    missing = sorted(ALERT_METRICS - served_names())
    assert not missing, missing


def test_the_check_sees_a_missing_family() -> None:
    """The control: a name no exporter serves is reported."""
    assert "kube_widget_status_phase" not in served_names()
