"""The store's page-time rendering (the informer's ``transform``) and its bounded text caches."""

from __future__ import annotations

import copy

from test_cluster_exporter_store import CRASHLOOP_POD

from kubepulse.exporters.cluster import pods, store
from kubepulse.exporters.cluster.store import FamilySpec, KindStore


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
    assert b'kube_pod_container_status_restarts_total{namespace="shop"' in b"".join(raw.chunks())
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
