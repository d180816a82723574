"""Moved to kubepulse.lab.cluster."""

from kubepulse.lab.cluster import *  # noqa: F403
from kubepulse.lab.cluster import (
    COMPONENTS,
    CONTROLLERS,
    DEFAULT_NAME,
    Cluster,
    ClusterError,
    cluster_workdir,
    clusters_dir,
    ensure_binaries,
    find_cluster,
    start_cluster,
)

__all__ = [
    "COMPONENTS",
    "CONTROLLERS",
    "DEFAULT_NAME",
    "Cluster",
    "ClusterError",
    "cluster_workdir",
    "clusters_dir",
    "ensure_binaries",
    "find_cluster",
    "start_cluster",
]
