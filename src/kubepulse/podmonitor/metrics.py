"""A ``PodsStatus`` as Prometheus metrics, for a node_exporter textfile or a Pushgateway.

Both outputs render the same ``CollectorRegistry`` with ``prometheus_client``, so the two never
disagree. The textfile is replaced atomically (``kubepulse.atomic``: fsync, rename, directory
fsync), so node_exporter never reads half a file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, push_to_gateway
from prometheus_client.exposition import generate_latest

from kubepulse.atomic import write_atomic
from kubepulse.podmonitor.models import PodsStatus

__all__ = ["BUCKETS", "TEXTFILE_NAME", "build_registry", "push", "render", "write_textfile"]

BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
TEXTFILE_NAME = "kubepulse_pod_monitor.prom"
PUSH_JOB = "kubepulse_pod_monitor"


def build_registry(status: PodsStatus, finished_at: float | None = None) -> CollectorRegistry:
    """A fresh registry holding this run's metrics (counters count this run only)."""
    registry = CollectorRegistry(auto_describe=True)
    seconds = Histogram(
        "kubepulse_pod_recovery_seconds",
        "Time for a killed pod to come back, per phase: rescheduling (kill to replacement "
        "created), readiness (created to Ready) and total.",
        ["namespace", "phase"],
        buckets=BUCKETS,
        registry=registry,
    )
    recovered = Counter(
        "kubepulse_pods_recovered",
        "Killed pods replaced and Ready within the monitor's timeout.",
        ["namespace"],
        registry=registry,
    )
    unrecovered = Counter(
        "kubepulse_pods_unrecovered",
        "Killed pods replaced but not Ready within the monitor's timeout.",
        ["namespace"],
        registry=registry,
    )
    errors = Counter(
        "kubepulse_pod_monitor_errors",
        "Monitor errors: pods never replaced, API failures.",
        registry=registry,
    )
    last_run = Gauge(
        "kubepulse_pod_monitor_last_run_timestamp_seconds",
        "When this pod monitor run finished, as a Unix time.",
        registry=registry,
    )
    for pod in status.recovered + status.unrecovered:
        # Both series exist for every namespace seen, so rate() and ratios have a zero to use.
        recovered.labels(pod.namespace)
        unrecovered.labels(pod.namespace)
    for pod in status.recovered:
        recovered.labels(pod.namespace).inc()
        for phase, value in (
            ("rescheduling", pod.pod_rescheduling_time),
            ("readiness", pod.pod_readiness_time),
            ("total", pod.total_recovery_time),
        ):
            if value is not None:
                seconds.labels(pod.namespace, phase).observe(value)
    for pod in status.unrecovered:
        unrecovered.labels(pod.namespace).inc()
    errors.inc(len(status.errors))
    last_run.set(time.time() if finished_at is None else finished_at)
    return registry


def render(registry: CollectorRegistry) -> str:
    """The registry as exposition text (what the textfile holds and what is pushed)."""
    return generate_latest(registry).decode()


def write_textfile(directory: str | os.PathLike[str], registry: CollectorRegistry) -> Path:
    """Atomically replace ``DIRECTORY/kubepulse_pod_monitor.prom``; return its path."""
    path = Path(directory)
    if not path.is_dir():
        raise ValueError(f"--textfile: {str(path)!r} is not a directory")
    target = path / TEXTFILE_NAME
    write_atomic(target, generate_latest(registry))
    return target


def push(gateway: str, registry: CollectorRegistry, job: str = PUSH_JOB) -> None:
    """Replace this job's group on the Pushgateway at ``gateway`` with the registry."""
    push_to_gateway(gateway, job=job, registry=registry, timeout=10)
