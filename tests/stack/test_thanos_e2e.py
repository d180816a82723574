"""Thanos Query gives one view over two clusters' Prometheus replicas: replicas deduplicated, no
gap when a replica dies, history older than any Prometheus holds read from the bucket.

The lab is ``kubepulse.lab.thanos.start_thanos_lab``, all real, on 127.0.0.1: per cluster
(``a``, ``b``) a kubepulse system exporter and two Prometheus replicas (``0``, ``1``) scraping it
every second, each with a Thanos sidecar shipping to a FILESYSTEM bucket; a Store Gateway on the
bucket; Query over the four sidecars and the store with ``--query.replica-label=replica``. The
releases are the pinned ones (Thanos is built on request: ``make test`` builds it before pytest,
with progress lines, and the fixture here when pytest runs alone; 6 to 12 minutes cold on two
cores).

One test, in four steps on the same lab, because the last one kills a replica:

1. dedup: ``up`` of the system job is one series per cluster through Query (four without dedup);
2. shipping: replica ``b/1`` starts with a block in its data dir (the lab lives about 30 s, far
   less than the 2 h block Prometheus cuts); its sidecar ships it with ``b/1``'s labels, the
   store loads it, and Query answers its values once;
3. history: a block older than anything the replicas hold (promtool's OpenMetrics backfill,
   uploaded with ``a/0``'s labels by ``thanos tools bucket upload-blocks``) comes back through
   Query with its values, while every Prometheus and a second Query over the sidecars alone
   have none of it; Query lists the store as the only endpoint whose time range covers it;
4. kill: Prometheus ``a/0`` is SIGKILLed; a range query across the kill, with a lookback of 5 s
   at a 1 s step, has a value at every step (the survivor's samples).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubepulse.lab.processes import ProcessGroup
from kubepulse.lab.releases import binary
from kubepulse.lab.servers import api_get, wait_until
from kubepulse.lab.thanos import (
    SYSTEM_JOB,
    ThanosLab,
    create_blocks,
    start_query,
    start_thanos_lab,
    upload_blocks,
)

# The first run builds Thanos inside this test (about 12 min cold); the lab itself takes < 2 min.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

HISTORY = "kubepulse_lab_history"
HISTORY_STEP = 60  # seconds between the backfilled samples
HISTORY_SAMPLES = 30
BLOCK_MS = 2 * 3600 * 1000
# Steps of the range query across the kill, and the lookback that lets a gap show: Prometheus's
# default 5 min would fill any gap shorter than that. Query's dedup switches replicas after at
# most 2 scrape intervals of penalty, so the survivor's samples leave no 5 s hole.
KILL_WINDOW = 10
LOOKBACK = "5s"
COMPATIBILITY_LABELS = {"@thanos_compatibility_store_type": "store"}


@pytest.fixture(scope="module")
def thanos_built() -> Path:
    """The pinned Thanos, built by the stack builder if missing (on request only: ``make deps``
    leaves it out)."""
    return binary("thanos")


def _series(url: str, expr: str, **params: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = api_get(url, "/api/v1/query", {"query": expr, **params})[
        "result"
    ]
    return result


def _range(url: str, expr: str, start: float, end: float, step: float, **params: str) -> Any:
    args = {"query": expr, "start": str(start), "end": str(end), "step": str(step), **params}
    return api_get(url, "/api/v1/query_range", args)["result"]


def _stores(query_url: str) -> dict[str, list[dict[str, Any]]]:
    """Query's ``/api/v1/stores``: component type -> endpoints with their labels and range."""
    data: dict[str, list[dict[str, Any]]] = api_get(query_url, "/api/v1/stores") or {}
    return data


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    values = [float(m) for m in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)]
    return sum(values)


def _check_dedup(lab: ThanosLab) -> None:
    def all_four() -> list[dict[str, Any]]:
        got = _series(lab.query.http_url, f'up{{job="{SYSTEM_JOB}"}} == 1', dedup="false")
        return got if len(got) == 4 else []

    raw = wait_until(all_four, 90, what="Query sees the system job of all four replicas")
    assert sorted((s["metric"]["cluster"], s["metric"]["replica"]) for s in raw) == [
        ("a", "0"),
        ("a", "1"),
        ("b", "0"),
        ("b", "1"),
    ]
    deduped = _series(lab.query.http_url, f'up{{job="{SYSTEM_JOB}"}}')
    deduped.sort(key=lambda s: str(s["metric"].get("cluster")))
    assert [s["metric"] for s in deduped] == [
        {"__name__": "up", "cluster": c, "instance": lab.exporters[c], "job": SYSTEM_JOB}
        for c in ("a", "b")
    ]
    sidecars = _stores(lab.query.http_url)["sidecar"]
    assert sorted(tuple(sorted(s["labelSets"][0].items())) for s in sidecars) == [
        (("cluster", c), ("replica", r)) for c in ("a", "b") for r in ("0", "1")
    ]


@dataclass(frozen=True)
class Backfill:
    """A block of ``HISTORY`` samples and what Query should answer for it."""

    start: int  # first sample, seconds
    end: int  # last sample
    expected: list[list[Any]]  # [time, value] pairs
    block: Path


def _backfill(tmp_path: Path, name: str, now_ms: int, blocks_back: int, base: int) -> Backfill:
    """``HISTORY_SAMPLES`` samples of ``HISTORY`` (values ``base``, ``base + 1``, ...) inside the
    2 h block ``blocks_back`` blocks before the one ``now_ms`` is in, written by promtool."""
    start = (now_ms // BLOCK_MS - blocks_back) * BLOCK_MS // 1000 + 600
    lines = [f"# HELP {HISTORY} Backfilled history.", f"# TYPE {HISTORY} gauge"]
    expected = []
    for i in range(HISTORY_SAMPLES):
        t = start + i * HISTORY_STEP
        lines.append(f'{HISTORY}{{job="{SYSTEM_JOB}"}} {base + i} {t}')
        expected.append([t, str(base + i)])
    text = "\n".join([*lines, "# EOF", ""])
    (block,) = create_blocks(text, tmp_path / name, tmp_path / f"{name}-src")
    return Backfill(start, start + (HISTORY_SAMPLES - 1) * HISTORY_STEP, expected, block)


def _check_sidecar_upload(lab: ThanosLab, shipped: Backfill) -> None:
    """Replica b/1 started with a block in its data dir: its sidecar ships it, with its external
    labels, and Query answers it once (from the sidecar and from the store, deduplicated)."""
    meta_file = lab.bucket / shipped.block.name / "meta.json"  # uploaded last
    wait_until(meta_file.is_file, 60, what="b/1's sidecar ships its block")
    meta = json.loads(meta_file.read_text())
    assert (meta["thanos"]["labels"], meta["thanos"]["source"]) == (
        {"cluster": "b", "replica": "1"},
        "sidecar",
    )
    uploads = {
        f"{c}/{r}": _metric(replica.sidecar.http_url, "thanos_shipper_uploads_total")
        for c, replicas in lab.replicas.items()
        for r, replica in replicas.items()
    }
    assert uploads == {"a/0": 0, "a/1": 0, "b/0": 0, "b/1": 1}
    wait_until(
        lambda: _metric(lab.store.http_url, "thanos_bucket_store_blocks_loaded") == 1,
        30,
        what="the store loads the shipped block",
    )
    window = (shipped.start, shipped.end, HISTORY_STEP)
    assert _range(lab.query.http_url, f'{HISTORY}{{cluster="b"}}', *window) == [
        {
            "metric": {"__name__": HISTORY, "cluster": "b", "job": SYSTEM_JOB},
            "values": shipped.expected,
        }
    ]
    # Prometheus b/1 serves it too (its own API adds no external labels); b/0 never had it.
    assert _range(lab.replicas["b"]["1"].prometheus_url, HISTORY, *window) == [
        {"metric": {"__name__": HISTORY, "job": SYSTEM_JOB}, "values": shipped.expected}
    ]
    assert _range(lab.replicas["b"]["0"].prometheus_url, HISTORY, *window) == []


def _check_history(lab: ThanosLab, group: ProcessGroup, history: Backfill) -> None:
    """A block older than anything the replicas hold, uploaded with a/0's labels, comes back
    through Query from the store alone."""
    start, end, expected, block = history.start, history.end, history.expected, history.block
    upload_blocks(block.parent, lab.bucket_config, {"cluster": "a", "replica": "0"})
    meta = json.loads((lab.bucket / block.name / "meta.json").read_text())
    assert meta["thanos"]["labels"] == {"cluster": "a", "replica": "0"}
    assert (meta["minTime"], meta["maxTime"] - 1) == (start * 1000, end * 1000)

    # Through Query the history comes back whole once the store has synced the bucket.
    wait_until(
        lambda: _range(lab.query.http_url, HISTORY, start, end, HISTORY_STEP),
        60,
        what="the backfilled history through Query",
    )
    served = "thanos_bucket_store_series_result_series_sum"
    served_before = _metric(lab.store.http_url, served)
    got = _range(lab.query.http_url, HISTORY, start, end, HISTORY_STEP)
    assert got == [
        {"metric": {"__name__": HISTORY, "cluster": "a", "job": SYSTEM_JOB}, "values": expected}
    ]
    # The store sent Query that one series; it holds the two blocks.
    assert _metric(lab.store.http_url, served) == served_before + 1
    assert _metric(lab.store.http_url, "thanos_bucket_store_blocks_loaded") == 2

    # Query's view of its endpoints: only the store's range reaches back to the history (each
    # sidecar announces its Prometheus's lowest timestamp, from the lab's start on).
    def ranges() -> dict[str, list[tuple[int, Any]]] | None:
        stores = _stores(lab.query.http_url)
        store = [(s["minTime"], s["labelSets"]) for s in stores.get("store", [])]
        sidecars = [(s["minTime"], s["labelSets"]) for s in stores["sidecar"]]
        if all(end * 1000 < mint for mint, _ in sidecars):
            return {"store": store, "sidecar": sidecars}
        return None

    seen = wait_until(ranges, 30, what="every sidecar announces a range after the history")
    # Besides its blocks' labels the store announces one it adds for older Queries.
    ((store_mint, label_sets),) = seen["store"]
    assert store_mint == start * 1000
    assert sorted(label_sets, key=json.dumps) == sorted(
        [{"cluster": "a", "replica": "0"}, {"cluster": "b", "replica": "1"}, COMPATIBILITY_LABELS],
        key=json.dumps,
    )

    # Nobody else has it: not a Prometheus replica, not a Query over the sidecars alone.
    for replicas in lab.replicas.values():
        for replica in replicas.values():
            assert _range(replica.prometheus_url, HISTORY, start, end, HISTORY_STEP) == []
    sidecars_only = start_query(
        group,
        endpoints=[r.sidecar.grpc_address for c in lab.replicas.values() for r in c.values()],
        name="thanos-query-sidecars",
    )
    wait_until(
        lambda: len(_stores(sidecars_only.http_url).get("sidecar", [])) == 4,
        60,
        what="the second Query sees the four sidecars",
    )
    assert _series(sidecars_only.http_url, f'count(up{{job="{SYSTEM_JOB}"}})')[0]["value"][1] == "2"
    assert _range(sidecars_only.http_url, HISTORY, start, end, HISTORY_STEP) == []


def _check_kill(lab: ThanosLab, group: ProcessGroup) -> None:
    victim = lab.replicas["a"]["0"]
    expr = f'up{{job="{SYSTEM_JOB}", cluster="a"}}'

    def steps(replica: str | None = None) -> int:
        """How many of the last ``KILL_WINDOW`` seconds have a value, deduplicated or from
        ``replica`` alone."""
        now = round(time.time())
        selector = expr if replica is None else expr[:-1] + f', replica="{replica}"}}'
        args = {"lookback_delta": LOOKBACK, "dedup": "true" if replica is None else "false"}
        got = _range(lab.query.http_url, selector, now - KILL_WINDOW, now, 1, **args)
        return len(got[0]["values"]) if len(got) == 1 else 0

    # Before the kill both replicas, and so the deduplicated series, cover the whole window.
    wait_until(
        lambda: steps() == steps("0") == steps("1") == KILL_WINDOW + 1,
        60,
        what=f"cluster a's series through Query for {KILL_WINDOW} s",
    )
    (prometheus,) = [p for p in group.processes if p.name == victim.process]
    os.killpg(prometheus.pid, signal.SIGKILL)
    killed = time.time()
    prometheus.stop()
    assert not prometheus.alive()

    # Keep querying while Query finds out: every answer has cluster a's series. (Values are not
    # compared: ``up`` is written at every scrape, 0 if a loaded machine made one time out; its
    # samples are the replicas' scrapes, which is what a gap would be missing.)
    while time.time() < killed + KILL_WINDOW + 2:
        now = _series(lab.query.http_url, expr, lookback_delta=LOOKBACK)
        assert len(now) == 1, now
        time.sleep(0.5)
    wait_until(
        lambda: any(
            s["lastError"]
            for s in _stores(lab.query.http_url)["sidecar"]
            if s["name"] == victim.sidecar.grpc_address
        ),
        30,
        what="Query reports the dead replica's sidecar failing",
    )

    # The killed replica's part is gone from Query: the values below are the survivor's.
    assert steps(victim.replica) == 0
    start, end = round(killed) - KILL_WINDOW, round(killed) + KILL_WINDOW
    (series,) = _range(lab.query.http_url, expr, start, end, 1, lookback_delta=LOOKBACK)
    assert series["metric"] == {
        "__name__": "up",
        "cluster": "a",
        "instance": lab.exporters["a"],
        "job": SYSTEM_JOB,
    }
    assert [t for t, _ in series["values"]] == list(range(start, end + 1))


def test_thanos_query_dedups_replicas_survives_a_kill_and_reads_history_from_the_bucket(
    tmp_path: Path, thanos_built: Path
) -> None:
    # Both windows from one clock reading: a's history in the 2 h block 3 before the current
    # one, b/1's shipped block in the next, both before anything the lab scrapes.
    now_ms = int(time.time() * 1000)
    history = _backfill(tmp_path, "history", now_ms, 3, 0)
    shipped = _backfill(tmp_path, "shipped", now_ms, 2, 100)
    with ProcessGroup(tmp_path / "logs") as group:
        lab = start_thanos_lab(group, tmp_path, blocks={("b", "1"): [shipped.block]})
        _check_dedup(lab)
        _check_sidecar_upload(lab, shipped)
        _check_history(lab, group, history)
        _check_kill(lab, group)
