"""The store's page-time rendering (the informer's ``transform``) and its bounded text caches."""

from __future__ import annotations

import copy
from typing import Any

from kubepulse.exporters.cluster import pods, store
from kubepulse.exporters.cluster.store import FamilySpec, KindStore

# A restarting pod with labels, requests in two containers and managed fields.
CRASHLOOP_POD: dict[str, Any] = {
    "metadata": {
        "name": "api-1",
        "namespace": "shop",
        "uid": "u-1",
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "labels": {"app": "api", "team": 'pay"ments'},
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {
        "nodeName": "node-1",
        "containers": [
            {"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}},
            {"name": "sidecar", "resources": {"requests": {"cpu": "50m"}}},
        ],
    },
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {"name": "app", "ready": False, "restartCount": 7, "state": {"waiting": {}}},
            {"name": "sidecar", "ready": True, "restartCount": 0, "state": {"running": {}}},
        ],
    },
}


def test_a_transformed_object_holds_only_its_uid_and_text_and_renders_the_same() -> None:
    raw = KindStore("pods", pods.families(("team",)), pods.prefix)
    raw.apply([CRASHLOOP_POD], (), True)
    digested = KindStore("pods", pods.families(("team",)), pods.prefix)
    digest = digested.transform(copy.deepcopy(CRASHLOOP_POD))
    assert digest["metadata"] == {"uid": CRASHLOOP_POD["metadata"]["uid"]}
    assert set(digest) == {"metadata", "kubepulse.rendered"}
    assert all(isinstance(t, bytes) for t in digest["kubepulse.rendered"])
    digested.apply([digest], (), True)
    assert b"".join(digested.chunks()) == b"".join(raw.chunks())
    assert (
        b"kube_pod_container_status_restarts_total"
        b'{namespace="shop",pod="api-1",uid="u-1",container="app"} 7\n' in b"".join(raw.chunks())
    )
    # An update whose text is unchanged leaves the cached family alone.
    before = list(digested._generation)
    digested.apply([digested.transform(CRASHLOOP_POD)], (), False)
    assert digested._generation == before


def test_label_and_value_text_caches_stay_bounded() -> None:
    spec = FamilySpec("x", "h", lambda o: [((("k", o["v"]),), float(o["n"]))])
    kinds = KindStore("x", [spec], lambda o: (("uid", o["metadata"]["uid"]),))
    count = store._CACHE_LIMIT * 2 + 5
    kinds.apply(
        [{"metadata": {"uid": f"u{i}"}, "v": f'v"{i}', "n": i + 0.5} for i in range(count)],
        (),
        True,
    )
    assert len(store._pairs_text) <= store._CACHE_LIMIT + 1
    assert len(store._value_text) <= store._CACHE_LIMIT + 1
    body = kinds.samples("x")
    assert body.count(b"\n") == count
    assert b'x{uid="u7",k="v\\"7"} 7.5\n' in body
    assert b'x{uid="u%d",k="v\\"%d"} %d.5\n' % (count - 1, count - 1, count - 1) in body


def test_the_requests_by_label_digest_sums_what_the_whole_pod_sums() -> None:
    """With --usage-labels the pods' digest also carries what requests-by-label reads."""
    from kubepulse.exporters.cluster.exporter import _with_requests
    from kubepulse.exporters.cluster.usage_by_label import RequestsByLabel

    pod = copy.deepcopy(CRASHLOOP_POD)
    second = copy.deepcopy(CRASHLOOP_POD)
    second["metadata"].update(name="api-2", uid="u-2")
    raw_store, raw_requests = (
        KindStore("pods", pods.families(None), pods.prefix),
        RequestsByLabel(("app", "team")),
    )
    store, requests = (
        KindStore("pods", pods.families(None), pods.prefix),
        RequestsByLabel(("app", "team")),
    )
    digest = _with_requests(store)
    for target, objs in (
        ((raw_store, raw_requests), [pod, second]),
        ((store, requests), [digest(pod), digest(second)]),
    ):
        for h in target:
            h.apply(objs, (), True)
    assert b"".join(requests.chunks()) == b"".join(raw_requests.chunks())
    assert b'label_value="api"' in b"".join(requests.chunks())
    assert b"".join(store.chunks()) == b"".join(raw_store.chunks())
    assert "managedFields" not in digest(pod)["metadata"]
