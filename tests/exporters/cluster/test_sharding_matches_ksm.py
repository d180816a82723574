"""``--shard``/``--total-shards`` pick the same objects as kube-state-metrics.

KSM (pkg/sharding/listwatch.go, ``sharding.keep``) hashes the object's UID string with Go's
``hash/fnv`` ``New64a`` (FNV-1a, 64 bit, over the UID's bytes) and keeps the object when
``jump.Hash(h.Sum64(), totalShards) == shard``, with ``github.com/dgryski/go-jump`` (Lamping &
Veach's jump consistent hash). The first tests pin both halves to published known answers; the
last runs the real KSM (built from its Go module, ``kubepulse.lab.cluster.binaries``) and
kubepulse's exporter side by side with the same flags on the test cluster and compares the pods
each shard exports.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from helpers_cluster_exporter import apply, scrape, select, start_on_loopback, wait_until

from kubepulse.exporters.cluster.exporter import _fnv64a, _jump_hash, shard_of
from kubepulse.kube.client import connect
from kubepulse.lab.cluster import Cluster
from kubepulse.lab.cluster.binaries import ensure_kube_state_metrics
from kubepulse.lab.processes import ProcessGroup, free_port

# github.com/dgryski/go-jump jump_test.go, "Generated from the reference C++ code": for each key,
# Hash(key, n) for n = 1, 2, ...
GO_JUMP_VECTORS = {
    0: [0] * 20,
    1: [0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17],
    0xDEADBEEF: [0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16],
    0x0DDC0FFEEBADF00D: [0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15],
}

# FNV-1a 64 (the FNV reference test vectors; Go's hash/fnv New64a gives the same). FNV-1 differs
# from FNV-1a on every non-empty input ("a" -> 0xaf63bd4c8601b7be under FNV-1).
FNV64A_VECTORS = {
    b"": 0xCBF29CE484222325,
    b"a": 0xAF63DC4C8601EC8C,
    b"foobar": 0x85944171F73967E8,
    b"test_uid": 0x0EC242443E038614,
}


@pytest.mark.parametrize("key", sorted(GO_JUMP_VECTORS))
def test_jump_hash_matches_go_jump_vectors(key: int) -> None:
    want = GO_JUMP_VECTORS[key]
    assert [_jump_hash(key, n) for n in range(1, len(want) + 1)] == want


def test_fnv64a_matches_known_answers() -> None:
    assert {data: _fnv64a(data) for data in FNV64A_VECTORS} == FNV64A_VECTORS


def test_shard_of_hashes_the_uid_string_as_ksm_does() -> None:
    """KSM's own TestSharding: UID "test_uid" belongs to shard 0 of 2; and the composition."""
    assert shard_of("test_uid", 2) == 0
    # jump(fnv64a(the UID's bytes)), the pinned FNV answer for "test_uid" fed to the jump hash.
    assert [shard_of("test_uid", n) for n in range(1, 9)] == [
        _jump_hash(0x0EC242443E038614, n) for n in range(1, 9)
    ]


PODS = 16


def _pod(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "shard"}},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/app:1"}]},
    }


@pytest.mark.cluster
def test_each_shard_exports_the_same_pods_as_kube_state_metrics(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """KSM and kubepulse, each run as --shard 0 and --shard 1 of --total-shards 2 on the same
    cluster, export kube_pod_info for the same pods per shard; together the shards hold every
    pod exactly once (the union check also waits for KSM, which serves /metrics before its
    first list has finished)."""
    names = [f"p-{uuid.uuid4().hex[:8]}" for _ in range(PODS)]
    apply(cluster, namespace, *(_pod(n) for n in names))
    client = connect(cluster.kubeconfig)
    try:
        items = client.get_json(f"/api/v1/namespaces/{namespace}/pods")["items"]
    finally:
        client.close()
    uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in items}
    assert sorted(uids) == sorted(names)
    ksm = ensure_kube_state_metrics()
    common = [f"--kubeconfig={cluster.kubeconfig}", "--resources=pods", f"--namespaces={namespace}"]
    urls: dict[tuple[str, int], str] = {}
    with ProcessGroup(tmp_path / "logs") as group:
        for shard in (0, 1):
            shard_flags = [f"--shard={shard}", "--total-shards=2"]
            for side, argv, ready_path in (
                ("ksm", [str(ksm)], "/metrics"),
                (
                    "kubepulse",
                    [sys.executable, "-m", "kubepulse", "exporter", "cluster"],
                    "/readyz",
                ),
            ):
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                start_on_loopback(
                    group,
                    f"{side}-{shard}",
                    [*argv, *common, *shard_flags],
                    port,
                    free_port(),
                    url + ready_path,
                )
                urls[side, shard] = url

        def pods_of(url: str) -> set[str]:
            info = select(scrape(url), "kube_pod_info", namespace=namespace)
            return {dict(labels)["pod"] for labels in info}

        def complete(exporter: str) -> tuple[set[str], set[str]]:
            zero, one = pods_of(urls[exporter, 0]), pods_of(urls[exporter, 1])
            assert not zero & one, (exporter, zero & one)
            assert zero | one == set(names), (exporter, sorted(set(names) - (zero | one)))
            return zero, one

        ksm_shards = wait_until(lambda: complete("ksm"), timeout=30, interval=0.5)
        ours = wait_until(lambda: complete("kubepulse"), timeout=30, interval=0.5)
    assert ours == ksm_shards
    # Pod by pod, kubepulse's shard_of(UID) names the shard KSM put it in.
    expected = tuple({n for n in names if shard_of(uids[n], 2) == s} for s in (0, 1))
    assert ksm_shards == expected
