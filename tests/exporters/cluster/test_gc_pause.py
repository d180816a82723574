"""The cyclic garbage collector is off during the cluster exporter's first sync, and only then.

The exporter turns it off at ``start()`` (the first lists are millions of short-lived, acyclic
objects) and on again once every kind has synced, after ``gc_pause_max`` seconds at most, or at
``stop()``. The unreachable-API case is a loopback port with nothing listening; the synced case
is the real kwok test cluster.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client as k8s

from kubepulse.exporters.cluster.exporter import ClusterExporter, Options
from kubepulse.kube.client import KubeClient, connect
from kubepulse.lab.cluster import Cluster
from kubepulse.lab.processes import free_port


@pytest.fixture(autouse=True)
def gc_restored() -> Iterator[None]:
    """Whatever a test does, the worker's collector is on again after it."""
    yield
    gc.enable()


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition()`` holds; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition never held"
        time.sleep(0.01)
    return time.monotonic() - started


def unreachable_client() -> KubeClient:
    configuration = k8s.Configuration()
    configuration.host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    return KubeClient(configuration)


@pytest.mark.cluster
def test_off_until_every_kind_has_synced(cluster: Cluster, namespace: str) -> None:
    exporter = ClusterExporter(connect(cluster.kubeconfig), Options(namespaces=[namespace]))
    exporter.start()
    try:
        assert not gc.isenabled()
        assert exporter.unsynced()  # it was off before the first list completed
        assert exporter.wait_synced(60)
        wait_for(gc.isenabled, timeout=2)
    finally:
        exporter.stop()
    assert gc.isenabled()


def test_on_again_after_the_longest_pause_when_the_api_is_unreachable() -> None:
    exporter = ClusterExporter(unreachable_client(), Options(backoff_cap=0.5))
    exporter.gc_pause_max = 1.0
    exporter.start()
    try:
        assert not gc.isenabled()
        waited = wait_for(gc.isenabled, timeout=5)
        assert 0.8 <= waited <= 3
        assert exporter.unsynced()  # still not synced: the bound, not a sync, ended the pause
    finally:
        exporter.stop()
    assert gc.isenabled()


def test_stop_turns_it_on_and_a_collector_already_off_stays_off() -> None:
    exporter = ClusterExporter(unreachable_client(), Options(backoff_cap=0.5))
    exporter.start()
    assert not gc.isenabled()
    exporter.stop()
    assert gc.isenabled()

    gc.disable()  # an embedding program's choice: the exporter does not turn it on
    exporter = ClusterExporter(unreachable_client(), Options(backoff_cap=0.5))
    exporter.gc_pause_max = 0.3
    exporter.start()
    time.sleep(0.6)
    exporter.stop()
    assert not gc.isenabled()
