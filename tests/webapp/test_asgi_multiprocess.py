"""Multiprocess mode under ``uvicorn --workers 2``: every scrape sums both workers exactly.

The app is ``apps/asgi_features.py``. uvicorn has no start hook, so the folder is emptied before
it starts (as the README says). Checked across the two workers: request counters, histogram and
summary counts and buckets, the endpoint decorators' counters, the in-progress gauges (live sums
of requests held open in both workers at once), the info gauge (one series, not one per worker),
and what a SIGKILLed worker leaves: its counts stay, its held requests leave the live gauges.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import signal
import urllib.error
from pathlib import Path

import psutil
from webapp_helpers import APPS, BIN, fetch, scrape, settled_scrape, wait_until

from kubepulse.lab.processes import ProcessGroup, free_port

HELD = 8
ITEMS = 'shop_http_requests_total{method="GET",route="/items/{item_id}",status="200"}'
SLOW = 'shop_http_request_duration_seconds_count{method="GET",route="/slow",status="200"}'
HELD_DONE = 'shop_http_requests_total{method="GET",route="/held",status="200"}'


def _held(base: str, gate: str) -> int | str:
    """GET /held?gate=...: the pid of the worker that answered, or "lost" if it died."""
    try:
        status, body = fetch(f"{base}/held?gate={gate}", {"X-Tenant": "acme"})
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError):
        return "lost"
    assert status == 200, body
    return int(json.loads(body)["pid"])


def _open_connections(pid: int, port: int) -> int:
    """Client connections to ``port`` that worker ``pid`` holds open (accepted, not answered)."""
    return sum(
        1
        for c in psutil.Process(pid).net_connections("tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
    )


def _accepted(workers: set[int], port: int) -> int:
    return sum(_open_connections(pid, port) for pid in workers)


def test_uvicorn_two_workers_sum_exactly_and_drop_a_dead_workers_live_gauges(
    tmp_path: Path,
) -> None:
    mp_dir, gates = tmp_path / "mp", tmp_path / "gates"
    mp_dir.mkdir()
    gates.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [str(BIN / "uvicorn"), "--app-dir", str(APPS), "asgi_features:app", "--workers", "2"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    env = {"PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "KP_GATES": str(gates)}
    with (
        ProcessGroup(tmp_path / "logs") as group,
        concurrent.futures.ThreadPoolExecutor(16) as pool,
    ):
        group.start("uvicorn", argv, env=env, ready_port=port)
        try:
            # Concurrent batches until both workers have answered (each body names its pid).
            served: set[int] = set()
            items = slow = 0
            while len(served) < 2:
                assert items < 200, f"one worker answered every request: {served}"
                bodies = list(pool.map(lambda i: fetch(f"{base}/items/{i}")[1], range(100, 112)))
                served |= {int(b) for b in bodies}
                slows = list(pool.map(lambda _: fetch(f"{base}/slow"), range(4)))
                assert [s for s, _ in slows] == [200] * 4
                items, slow = items + 12, slow + 4
            assert len(served) == 2

            m = settled_scrape(base, ITEMS, items)
            assert m[ITEMS] == items
            assert m['shop_item_views_total{code="200",kind="plain"}'] == items
            assert m[SLOW] == slow
            assert m["shop_slow_seconds_count"] == slow
            assert m['shop_slow_seconds_bucket{le="0.02"}'] == 0  # each sleeps 30 ms
            assert m['shop_slow_seconds_bucket{le="+Inf"}'] == slow
            assert m["shop_slow_summary_seconds_count"] == slow
            assert m["shop_slow_summary_seconds_sum"] >= 0.03 * slow
            assert {k: v for k, v in m.items() if k.startswith("shop_build_info")} == {
                'shop_build_info{version="1.2.3"}': 1
            }

            # Hold requests open until both workers hold some.
            http_live = 'shop_http_requests_in_progress{method="GET"}'
            view_live = 'shop_held_in_progress{tenant="acme",view="held"}'
            answered: list[int | str] = []
            for attempt in range(5):
                gate = f"round{attempt}"
                # One at a time, each accepted before the next is sent: a burst would be taken
                # whole by the worker that woke first.
                pending = []
                for n in range(1, HELD + 1):
                    pending.append(pool.submit(_held, base, gate))
                    wait_until(lambda: _accepted(served, port) == n, 20, f"{n} not accepted")  # noqa: B023
                wait_until(
                    lambda: scrape(base).get(http_live) == HELD, 20, "held requests not live"
                )
                holding = {pid: _open_connections(pid, port) for pid in served}
                if all(holding.values()):
                    break
                (gates / gate).touch()
                answered += [f.result(30) for f in pending]
            assert all(holding.values()), f"one worker held every request five times: {holding}"
            assert sum(holding.values()) == HELD
            m = scrape(base)
            assert (m[http_live], m[view_live]) == (HELD, HELD)  # both workers' live values, summed

            victim = max(holding, key=lambda pid: holding[pid])
            os.kill(victim, signal.SIGKILL)
            # Its held requests end at once (connection lost); the other worker's are still held.
            done = lambda: [f for f in pending if f.done()]  # noqa: E731
            wait_until(
                lambda: len(done()) >= holding[victim], 20, "the killed requests did not end"
            )
            lost = done()
            assert [f.result() for f in lost] == ["lost"] * holding[victim]
            survivors = HELD - holding[victim]
            # The next scrape finds the dead pid and drops its live gauge files.
            wait_until(
                lambda: scrape(base).get(http_live) == survivors,
                20,
                "the dead worker still counted",
            )
            assert scrape(base)[view_live] == survivors
            (gates / gate).touch()
            last = [f.result(30) for f in pending if f not in lost]
            assert set(last) == served - {victim}  # answered by the worker that lived
            answered += last
            m = settled_scrape(base, HELD_DONE, len(answered))
        finally:  # let any request still held go, so a failure does not wait for them
            for attempt_gate in range(5):
                (gates / f"round{attempt_gate}").touch()

    assert m[http_live] == 0 and m[view_live] == 0
    # The dead worker's counts stay: every items and slow request ever answered is there.
    assert m[ITEMS] == items
    assert m[SLOW] == slow
    assert m["shop_slow_seconds_count"] == slow
    # Held requests: all answered ones, from every round; the killed ones were never counted.
    assert len(answered) == HELD * (attempt + 1) - holding[victim]
    assert m[HELD_DONE] == len(answered)
