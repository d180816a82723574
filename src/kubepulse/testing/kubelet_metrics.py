"""Moved to kubepulse.lab.cluster.kubelet_metrics."""

from kubepulse.lab.cluster.kubelet_metrics import *  # noqa: F403
