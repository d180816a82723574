"""Pod recovery monitor: how fast killed pods come back, per pod, from the watch API."""

from kubepulse.podmonitor.models import AffectedPod, PodsStatus
from kubepulse.podmonitor.pool import PodsMonitorPool

__all__ = ["AffectedPod", "PodsMonitorPool", "PodsStatus"]
