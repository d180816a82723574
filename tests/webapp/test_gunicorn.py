"""examples/flask_app.py under real gunicorn, 2 workers, prometheus_client multiprocess mode."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import sys
import time
from pathlib import Path

import psutil
from webapp_helpers import (
    ITEMS,
    ROOT,
    fetch,
    scrape,
    settled_scrape,
    stale_multiproc_dir,
    wait_until,
)

from kubepulse.lab.processes import ProcessGroup, free_port

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def _fetch(url: str) -> bytes:
    status, body = fetch(url)
    assert status == 200, body
    return body


_metrics = scrape


def _workers(master_pid: int) -> set[int]:
    return {p.pid for p in psutil.Process(master_pid).children()}


def test_two_gunicorn_workers_aggregate_and_dead_workers_are_marked(tmp_path: Path) -> None:
    mp_dir = stale_multiproc_dir(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(mp_dir),
        "HELLO_MAX_LATENCY_SECONDS": "0.05",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
    }
    argv = [GUNICORN, "-c", str(ROOT / "examples/gunicorn.conf.py")]
    argv += ["--pythonpath", str(ROOT / "examples"), "flask_app:app"]
    with ProcessGroup(tmp_path / "logs") as group:
        # Ready on the port, not on a request: an HTTP probe retried under load would add an
        # unknown number of requests to the counts checked below.
        master = group.start("gunicorn", argv, env=env, ready_port=port)
        wait_until(lambda: len(_workers(master.pid)) == 2, 20, "gunicorn did not start 2 workers")
        assert not (mp_dir / "counter_999999.db").exists()  # on_starting emptied the folder

        # Concurrent slow requests keep both sync workers busy, so both serve traffic.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: _fetch(base + "/"), range(16)))
            pids = set(pool.map(lambda i: _fetch(f"{base}/items/{i}"), range(40)))
        served = {int(p.decode().split('"pid":')[1].strip(" }\n")) for p in pids}
        workers = _workers(master.pid)
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
            m = _metrics(base)
            assert m[ITEMS] == 40
            assert m['http_requests_total{method="GET",route="/",status="200"}'] == 16
            assert (
                m['http_request_duration_seconds_count{method="GET",route="/",status="200"}'] == 16
            )
            assert m['http_requests_in_progress{method="GET"}'] == 0
            assert 0 < m["app_uptime_seconds_total"] < 60

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (mp_dir / f"gauge_livesum_{victim}.db").exists() or len(_workers(master.pid)) < 2:
            assert time.monotonic() < deadline, "child_exit did not mark the dead worker"
            time.sleep(0.1)
        # The replacement worker answers too, and the dead worker's counts are kept.
        for _ in range(4):
            assert _metrics(base)[ITEMS] == 40
        assert _fetch(base + "/") == b"Hello World!"
