"""Moved to kubepulse.lab.cluster.binaries (the build core to kubepulse.lab.builder)."""

from kubepulse.lab.builder import OUT, BuildError
from kubepulse.lab.builder import Builder as _Builder
from kubepulse.lab.builder import go as _go
from kubepulse.lab.cluster.binaries import *  # noqa: F403
from kubepulse.lab.cluster.binaries import (
    CORE,
    ETCD_VERSION,
    KSM_VERSION,
    KUBE_COMPONENTS,
    KUBE_VERSION,
    KWOK_VERSION,
    METRICS_SERVER_VERSION,
    Binaries,
    cache_dir,
    ensure_binaries,
    ensure_kube_state_metrics,
    kube_wrapper_gomod,
    metrics_server_manifests,
)

__all__ = [
    "CORE",
    "ETCD_VERSION",
    "KSM_VERSION",
    "KUBE_COMPONENTS",
    "KUBE_VERSION",
    "KWOK_VERSION",
    "METRICS_SERVER_VERSION",
    "OUT",
    "Binaries",
    "BuildError",
    "_Builder",
    "_go",
    "cache_dir",
    "ensure_binaries",
    "ensure_kube_state_metrics",
    "kube_wrapper_gomod",
    "metrics_server_manifests",
]
