"""Thanos Query gives one view over two clusters' Prometheus replicas: replicas deduplicated, no
gap when a replica dies, history older than any Prometheus holds read from the bucket.

The lab is ``kubepulse.stack.thanos.start_thanos_lab``, all real, on 127.0.0.1: per cluster
(``a``, ``b``) a kubepulse system exporter and two Prometheus replicas (``0``, ``1``) scraping it
every second, each with a Thanos sidecar shipping to a FILESYSTEM bucket; a Store Gateway on the
bucket; Query over the four sidecars and the store with ``--query.replica-label=replica``. The
releases are the pinned ones (Thanos is built on request: ``make test`` builds it before pytest,
with progress lines, and the fixture here when pytest runs alone; 6 to 12 minutes cold on two
cores). The lab lives about 30 s, far less than the 2 h block Prometheus cuts, so no sidecar
ships a block of its own here; the bucket's block comes from the uploader Thanos has for that
(the sidecar's shipper, run once).

One test, in three steps on the same lab, because the last one kills a replica:

1. dedup: ``up`` of the system job is one series per cluster through Query (four without dedup);
2. history: a block older than anything the replicas hold (promtool's OpenMetrics backfill,
   uploaded with cluster ``a``'s labels by Thanos' shipper) comes back through Query with its
   values, while every Prometheus and a second Query over the sidecars alone have none of it;
   Query lists the store as the only endpoint whose time range covers it;
3. kill: Prometheus ``a/0`` is SIGKILLed; a range query across the kill, with a lookback of 5 s
   at a 1 s step, has a value at every step (the survivor's samples).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kubepulse.processes import ProcessGroup
from kubepulse.stack.binaries import binary
from kubepulse.stack.local import api_get, wait_until
from kubepulse.stack.thanos import (
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
    assert [(s["metric"], s["value"][1]) for s in deduped] == [
        ({"__name__": "up", "cluster": c, "instance": lab.exporters[c], "job": SYSTEM_JOB}, "1")
        for c in ("a", "b")
    ]
    sidecars = _stores(lab.query.http_url)["sidecar"]
    assert sorted(tuple(sorted(s["labelSets"][0].items())) for s in sidecars) == [
        (("cluster", c), ("replica", r)) for c in ("a", "b") for r in ("0", "1")
    ]


def _history(start_s: int) -> tuple[str, list[list[Any]]]:
    """OpenMetrics text of ``HISTORY`` from ``start_s`` on, and the values Query should return."""
    lines = [f"# HELP {HISTORY} Backfilled history.", f"# TYPE {HISTORY} gauge"]
    expected = []
    for i in range(HISTORY_SAMPLES):
        t = start_s + i * HISTORY_STEP
        lines.append(f'{HISTORY}{{job="{SYSTEM_JOB}"}} {i} {t}')
        expected.append([t, str(i)])
    return "\n".join([*lines, "# EOF", ""]), expected


def _check_history(lab: ThanosLab, group: ProcessGroup, tmp_path: Path) -> None:
    # Inside one 2 h block, ending at least 4 h before now: older than anything the replicas hold.
    block_start = (int(time.time() * 1000) // BLOCK_MS - 3) * BLOCK_MS
    start = block_start // 1000 + 600
    end = start + (HISTORY_SAMPLES - 1) * HISTORY_STEP
    text, expected = _history(start)
    (block,) = create_blocks(text, tmp_path / "history", tmp_path / "history-src")
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
    # The store sent Query that one series, from the one block it holds.
    assert _metric(lab.store.http_url, served) == served_before + 1
    assert _metric(lab.store.http_url, "thanos_bucket_store_blocks_loaded") == 1

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
    assert seen["store"] == [
        (start * 1000, [{"cluster": "a", "replica": "0"}, COMPATIBILITY_LABELS]),
    ]

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

    # Keep querying while Query finds out: every answer has cluster a's exporter up.
    while time.time() < killed + KILL_WINDOW + 2:
        now = _series(lab.query.http_url, expr, lookback_delta=LOOKBACK)
        assert [s["value"][1] for s in now] == ["1"], now
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
    assert {v for _, v in series["values"]} == {"1"}


def test_thanos_query_dedups_replicas_survives_a_kill_and_reads_history_from_the_bucket(
    tmp_path: Path, thanos_built: Path
) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        lab = start_thanos_lab(group, tmp_path)
        _check_dedup(lab)
        _check_history(lab, group, tmp_path)
        _check_kill(lab, group)
