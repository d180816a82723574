"""The Kubernetes dashboards for two real clusters through Thanos Query, and the blocks Prometheus
cuts itself shipped by the sidecars and read back from the bucket.

All real, on 127.0.0.1: two kwok clusters over real control planes, the session's ``cluster``
(3 nodes) as ``a`` and one started here (2 nodes) as ``b``. Each runs ``k8s_stack`` (its
workloads, the kubepulse cluster exporter, node_exporter, Alertmanager) with two Prometheus
replicas (``replica`` 0 and 1, external label ``cluster``), each with a Thanos sidecar shipping to
one FILESYSTEM bucket; a Store Gateway serves the bucket; Query fans out to the four sidecars and
the store, deduplicating on ``replica``. Grafana is the one part not run: the dashboards' queries
are sent to Query's API as Grafana sends them, with the ``cluster`` variable set, and
``kubepulse render-dashboard`` draws one board per cluster.

Prometheus cuts 1 min blocks here, not the chart's 2 h (no test waits 2 h): min and max block
duration are equal, so local compaction is off, as the sidecar requires before it uploads
(it logs that only 2 h is recommended). The cut, the upload and the store's read are the same
code paths as with 2 h blocks.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from k8s_stack import K8sStack, k8s_stack

from kubepulse.lab.cluster import Cluster, start_cluster
from kubepulse.lab.processes import ProcessGroup
from kubepulse.lab.receiver import WebhookReceiver
from kubepulse.lab.releases import binary
from kubepulse.lab.servers import api_get, wait_until
from kubepulse.lab.thanos import (
    REPLICA_LABEL,
    ThanosEndpoint,
    bucket_config,
    start_query,
    start_sidecar,
    start_store,
)
from kubepulse.stack import deploy_dir
from kubepulse.stack.dashboards import build_dashboards, panel_queries, substitute, variable_queries
from kubepulse.stack.dashboards_kubernetes import KUBERNETES_DASHBOARDS

# A cold Thanos build happens in the fixture when pytest runs alone (make test builds it first).
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(2400)]

KUBEPULSE = str(Path(sys.executable).parent / "kubepulse")
NODES = {"a": 3, "b": 2}  # a is the session's cluster (tests/conftest.py's CLUSTER_NODES)
REPLICAS = ("0", "1")
BLOCK = "1m"
# Four replicas scrape two API servers (a few MB each, over TLS): at 1 s, a loaded 2-core host
# misses the 1 s scrape timeout for some of them.
INTERVAL = "2s"
BLOCK_ARGS = (
    f"--storage.tsdb.min-block-duration={BLOCK}",
    f"--storage.tsdb.max-block-duration={BLOCK}",
)


@dataclass(frozen=True)
class Global:
    """The running two-cluster view: each cluster's stack, the bucket, the store and Query."""

    stacks: dict[str, K8sStack]
    bucket: Path
    store: ThanosEndpoint
    query: ThanosEndpoint
    work: Path
    group: ProcessGroup


@pytest.fixture(scope="module")
def second_cluster() -> Iterator[Cluster]:
    with start_cluster(
        f"pytest-thanos-{os.getpid()}", nodes=NODES["b"], owner_pid=os.getpid()
    ) as running:
        yield running


@pytest.fixture(scope="module")
def world(
    cluster: Cluster, second_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Global]:
    binary("thanos")
    assert len(cluster.kubectl("get", "nodes", "-o", "name").split()) == NODES["a"]
    work = tmp_path_factory.mktemp("thanos-kubernetes")
    bucket = work / "bucket"
    bucket.mkdir()
    bucket_file = work / "bucket.yml"
    bucket_file.write_text(bucket_config(bucket), encoding="utf-8")
    receiver = WebhookReceiver()
    try:
        with ProcessGroup(work / "logs") as group, ExitStack() as stacks:
            running = {
                label: stacks.enter_context(
                    k8s_stack(
                        group,
                        kube,
                        work,
                        receiver.url,
                        label=label,
                        replicas=REPLICAS,
                        prometheus_args=BLOCK_ARGS,
                        interval=INTERVAL,
                    )
                )
                for label, kube in (("a", cluster), ("b", second_cluster))
            }
            sidecars = [
                start_sidecar(
                    group,
                    name=f"sidecar-{label}-{replica}",
                    prometheus_url=url,
                    tsdb_path=stack.data_dirs[replica],
                    bucket_config_file=bucket_file,
                ).grpc_address
                for label, stack in running.items()
                for replica, url in stack.prometheus.items()
            ]
            store = start_store(group, work / "store", bucket_config_file=bucket_file)
            query = start_query(group, endpoints=[*sidecars, store.grpc_address])
            yield Global(running, bucket, store, query, work, group)
    finally:
        receiver.close()


def _result(url: str, expr: str, **params: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = api_get(url, "/api/v1/query", {"query": expr, **params})[
        "result"
    ]
    return result


def _has_values(url: str, expr: str) -> bool:
    """Whether ``expr`` gives at least one finite value (NaN draws nothing in Grafana)."""
    return any(math.isfinite(float(s["value"][1])) for s in _result(url, expr))


def _boards() -> dict[str, Any]:
    boards = {n: b for n, b in build_dashboards().items() if n in KUBERNETES_DASHBOARDS}
    assert len(boards) == 13
    return boards


def test_each_cluster_is_counted_once_through_query(world: Global) -> None:
    """Nodes per cluster through Query: 3 and 2, deduplicated; twice that without dedup (one
    series per replica). The dashboards' ``cluster`` variable lists exactly the two clusters."""
    url = world.query.http_url
    expr = "count by (cluster) (kube_node_info)"

    def counts(**params: str) -> dict[str, float]:
        return {s["metric"]["cluster"]: float(s["value"][1]) for s in _result(url, expr, **params)}

    wait_until(lambda: counts() == NODES, timeout=60, what=f"{expr} == {NODES}")
    # Every replica's series, once each replica has scraped its cluster's exporter (CI once read
    # this while one of b's replicas had not: b 2 instead of 4).
    raw = {c: 2 * n for c, n in NODES.items()}
    wait_until(lambda: counts(dedup="false") == raw, timeout=60, what=f"{expr} == {raw} raw")
    for name, board in _boards().items():
        for var, selector in variable_queries(board):
            if var != "cluster":
                continue
            values = api_get(url, "/api/v1/series", {"match[]": substitute(selector)})
            assert {s["cluster"] for s in values} == set(NODES), name


def test_every_kubernetes_dashboard_panel_has_data_for_each_cluster(world: Global) -> None:
    """Each of the 13 Kubernetes dashboards' 150 panel queries, with ``$cluster`` set to ``a``
    and then ``b`` (the other variables "All"), gives a finite value through Query; every
    variable of each board has values for each cluster."""
    url = world.query.http_url
    boards = _boards()
    pending = {
        (cluster, name, title, substitute(expr, {"cluster": cluster}))
        for cluster in NODES
        for name, board in boards.items()
        for title, expr in panel_queries(board)
    }
    assert len(pending) == 2 * 150
    # Rates need two scrapes, the Job must complete and the probe alert be notified.
    deadline = time.monotonic() + 180
    while pending and time.monotonic() < deadline:
        pending = {(c, n, t, e) for c, n, t, e in pending if not _has_values(url, e)}
        if pending:
            time.sleep(2)
    assert not pending, "panels with no data:\n" + "\n".join(
        f"{c}: {n} / {t}: {e}" for c, n, t, e in sorted(pending)
    )
    for cluster in NODES:
        for name, board in boards.items():
            for var, selector in variable_queries(board):
                expr = f"count({substitute(selector, {'cluster': cluster})})"
                assert _result(url, expr), (cluster, name, var)


def test_a_kubernetes_dashboard_is_drawn_for_each_cluster(world: Global) -> None:
    """``kubepulse render-dashboard`` draws the cluster compute view through Query once per
    cluster: every panel a PNG with data; its "Nodes"-like single stats differ as the clusters
    do (the drawing follows the variable)."""
    board = deploy_dir() / "grafana" / "dashboards" / "k8s-compute-cluster.json"
    expected = sum(1 for p in json.loads(board.read_text())["panels"] if p["type"] != "row")
    for cluster in NODES:
        out, report = world.work / f"png-{cluster}", world.work / f"panels-{cluster}.json"
        proc = subprocess.run(
            [
                *(KUBEPULSE, "render-dashboard", str(board)),
                *("--prometheus", world.query.http_url, "--out", str(out)),
                *("--from", "now-1m", "--scrape-interval", INTERVAL, "--json", str(report)),
                *("--var", f"cluster={cluster}"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        drawn = json.loads(report.read_text())["k8s-compute-cluster"]
        assert len(drawn) == expected
        empty = [p["title"] for p in drawn if p["series"] == 0 or p["errors"]]
        assert not empty, (cluster, empty)
        assert (out / "k8s-compute-cluster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _shipped(bucket: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The blocks in the bucket that a sidecar uploaded, by (cluster, replica)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for meta_file in bucket.glob("*/meta.json"):
        meta = json.loads(meta_file.read_text())
        if meta["thanos"].get("source") == "sidecar":
            labels = meta["thanos"]["labels"]
            found.setdefault((labels["cluster"], labels[REPLICA_LABEL]), []).append(meta)
    return found


def _common_windows(bucket: Path, cluster: str) -> list[tuple[int, int]]:
    """The block windows (ms) that both replicas of ``cluster`` shipped, each clipped to where
    both hold samples, in time order."""
    shipped = _shipped(bucket)
    metas = [shipped.get((cluster, replica), []) for replica in REPLICAS]
    ends = sorted(set.intersection(*(set(m["maxTime"] for m in found) for found in metas)))
    return [
        (max(m["minTime"] for found in metas for m in found if m["maxTime"] == end), end)
        for end in ends
    ]


def _range(url: str, expr: str, args: dict[str, str], **params: str) -> list[list[Any]]:
    """``expr``'s one series over ``args``' range as [time, value] pairs ([] if none)."""
    data = api_get(url, "/api/v1/query_range", {"query": expr, **args, **params})["result"]
    assert len(data) <= 1, data
    return [[t, float(v)] for t, v in data[0]["values"]] if data else []


def test_blocks_prometheus_cuts_are_shipped_and_read_from_the_bucket(world: Global) -> None:
    """Every replica cuts blocks and its sidecar uploads them with the replica's labels; a Query
    over the Store Gateway alone (no sidecar, no Prometheus) then answers a block's range with
    exactly what each replica's own Prometheus answers (each cluster's node count, step by
    step), and with dedup one series per cluster holding that count throughout."""

    def window(cluster: str) -> tuple[dict[str, str], dict[str, list[list[Any]]]] | None:
        """The latest window both replicas shipped in which each replica's own Prometheus has
        at least 10 steps of the cluster's node count (the first block of a replica may start
        before its first scrape of the cluster exporter), with those answers."""
        for start_ms, end_ms in reversed(_common_windows(world.bucket, cluster)):
            # Clear of the window's edges (a block's maxTime is exclusive).
            start, end = (start_ms + 1_000) / 1000, (end_ms - 2_000) / 1000
            args = {"start": str(start), "end": str(end), "step": "1"}
            own = {
                replica: _range(url, "count(kube_node_info)", args)
                for replica, url in world.stacks[cluster].prometheus.items()
            }
            if all(len(values) >= 10 for values in own.values()):
                return args, own
        return None

    # The first cut comes at about 1.5 block lengths of head data, then the shipper's 30 s sync.
    windows = {
        cluster: wait_until(
            functools.partial(window, cluster),
            timeout=300,
            what=f"a block window shipped by both replicas of cluster {cluster}",
        )
        for cluster in NODES
    }
    store_only = start_query(
        world.group, endpoints=[world.store.grpc_address], name="thanos-query-store-only"
    )
    for cluster, (args, own) in windows.items():
        for replica, values in own.items():
            assert {v for _, v in values} == {NODES[cluster]}, (cluster, replica, values)
            expr = f'count(kube_node_info{{cluster="{cluster}", replica="{replica}"}})'
            # The store looks for new blocks every 2 s.
            wait_until(
                lambda expr=expr, values=values, args=args: (
                    _range(store_only.http_url, expr, args, dedup="false") == values
                ),
                timeout=60,
                what=f"{expr} from the store equal to Prometheus {cluster}/{replica}'s {values}",
            )
        merged = _range(store_only.http_url, f'count(kube_node_info{{cluster="{cluster}"}})', args)
        assert {v for _, v in merged} == {NODES[cluster]}, (cluster, merged)
        assert len(merged) >= max(len(v) for v in own.values()), (cluster, merged, own)
