"""examples/flask_app.py under real gunicorn, 2 workers, prometheus_client multiprocess mode."""

from __future__ import annotations

import concurrent.futures
import os
import signal
from pathlib import Path

from webapp_helpers import (
    ITEMS,
    ROOT,
    fetch,
    gunicorn_workers,
    item_pids,
    scrape,
    settled_scrape,
    stale_multiproc_dir,
    start_gunicorn,
    wait_replaced,
)

from kubepulse.lab.processes import ProcessGroup


def test_two_gunicorn_workers_aggregate_and_dead_workers_are_marked(tmp_path: Path) -> None:
    mp_dir = stale_multiproc_dir(tmp_path)
    app = ["--pythonpath", str(ROOT / "examples"), "flask_app:app"]
    env = {"HELLO_MAX_LATENCY_SECONDS": "0.05"}
    with ProcessGroup(tmp_path / "logs") as group:
        base, master = start_gunicorn(group, mp_dir, 2, app, env)
        assert not (mp_dir / "counter_999999.db").exists()  # on_starting emptied the folder

        # Concurrent slow requests keep both sync workers busy, so both serve traffic.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            hellos = list(pool.map(lambda _: fetch(base + "/"), range(16)))
            served = item_pids(base, pool, 0, 40)
        assert hellos == [(200, b"Hello World!")] * 16
        workers = gunicorn_workers(master)
        assert served <= workers and len(workers) == 2
        # A worker's value files appear with its first request: both workers served traffic.
        for worker in workers:
            assert (mp_dir / f"counter_{worker}.db").exists()
            assert (mp_dir / f"gauge_livesum_{worker}.db").exists()

        # A request is counted just after its last byte, then leaves the in-progress gauge:
        # once that reads 0 every answered request is counted, in every worker's files.
        settled_scrape(base, 'http_requests_in_progress{method="GET"}', 0)
        # Whichever worker answers /metrics, it reports all workers' requests: 40 on
        # /items/<int:item_id> and 16 on "/", never one worker's share.
        for _ in range(6):
            m = scrape(base)
            assert m[ITEMS] == 40
            assert m['http_requests_total{method="GET",route="/",status="200"}'] == 16
            assert (
                m['http_request_duration_seconds_count{method="GET",route="/",status="200"}'] == 16
            )
            assert m['http_requests_in_progress{method="GET"}'] == 0
            assert 0 < m["app_uptime_seconds_total"] < 60

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        wait_replaced(mp_dir, master, victim, 2, 20)  # child_exit marked it
        # The replacement worker answers too, and the dead worker's counts are kept.
        for _ in range(4):
            assert scrape(base)[ITEMS] == 40
        assert fetch(base + "/") == (200, b"Hello World!")
