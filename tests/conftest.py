"""Shared fixtures.

``cluster`` (session) is a real local Kubernetes cluster (kubepulse.lab.cluster): etcd,
kube-apiserver, controller manager and scheduler built from Go modules, and kwok nodes. Mark tests
that use it ``@pytest.mark.cluster``. ``namespace`` (per test) is a fresh namespace in it, deleted
afterwards (``other_namespace``: a second one). ``metrics_cluster`` (session) is a second,
one-node cluster that also serves metrics.k8s.io; ``metrics_namespace`` and
``other_metrics_namespace`` are fresh namespaces there. Tests rely on the kwok
behaviour of kubepulse.lab.cluster.stages, so they always run on this cluster, never on one from
``KUBECONFIG``.
Under pytest-xdist each worker starts its own clusters.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from kubepulse.lab.cluster import Cluster, start_cluster

CLUSTER_NODES = 3


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A ready cluster with ``CLUSTER_NODES`` kwok nodes, removed at the end of the session."""
    with start_cluster(
        f"pytest-{os.getpid()}", nodes=CLUSTER_NODES, owner_pid=os.getpid()
    ) as running:
        yield running


@pytest.fixture(scope="session")
def metrics_cluster() -> Iterator[Cluster]:
    """A one-node cluster serving metrics.k8s.io (metrics-server over kwok's simulated usage),
    shared by the session's metrics API tests so metrics-server starts once. Separate from
    ``cluster`` because an aggregated API that goes away (apiserver restarts) slows namespace
    deletion there."""
    with start_cluster(
        f"pytest-metrics-{os.getpid()}", nodes=1, metrics_server=True, owner_pid=os.getpid()
    ) as running:
        yield running


def _new_namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A new namespace for this test; deleted (without waiting) when the test ends."""
    yield from _new_namespace(cluster)


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    """A second fresh namespace in ``cluster``, for tests that need two."""
    yield from _new_namespace(cluster)


@pytest.fixture
def metrics_namespace(metrics_cluster: Cluster) -> Iterator[str]:
    """A new namespace in ``metrics_cluster``, as ``namespace`` is in ``cluster``."""
    yield from _new_namespace(metrics_cluster)


@pytest.fixture
def other_metrics_namespace(metrics_cluster: Cluster) -> Iterator[str]:
    """A second fresh namespace in ``metrics_cluster``, as ``other_namespace`` is in ``cluster``."""
    yield from _new_namespace(metrics_cluster)
