"""Moved to kubepulse.lab.cluster.kubelet_metrics."""

from kubepulse.lab.cluster.kubelet_metrics import *  # noqa: F403
from kubepulse.lab.cluster.kubelet_metrics import (
    CADVISOR_PATH,
    KUBELET_PATH,
    RESOURCE_USAGE,
    kubelet_metrics_yaml,
)

__all__ = [
    "CADVISOR_PATH",
    "KUBELET_PATH",
    "RESOURCE_USAGE",
    "kubelet_metrics_yaml",
]
