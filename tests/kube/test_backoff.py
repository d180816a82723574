"""Informer backoff: capped exponential with jitter, reset after success."""

from __future__ import annotations

from kubepulse.kube.informer import Backoff, Resource


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(base=0.2, cap=4.0)
    delays = [backoff.next() for _ in range(12)]
    for attempt, delay in enumerate(delays):
        ceiling = min(4.0, 0.2 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 4.0
    assert len({round(d, 6) for d in delays[6:]}) > 1  # capped delays still differ: jitter
    backoff.reset()
    assert backoff.next() <= 0.2


def test_resource_paths() -> None:
    pods = Resource("pods", "/api/v1")
    assert pods.path() == "/api/v1/pods"
    assert pods.path("a b") == "/api/v1/namespaces/a%20b/pods"
    nodes = Resource("nodes", "/api/v1", namespaced=False)
    assert nodes.path("ignored") == "/api/v1/nodes"
