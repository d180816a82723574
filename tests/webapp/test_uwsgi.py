"""examples/flask_app.py under the real uWSGI from PyPI (pyuwsgi), run by its dispatcher command.

``uwsgi --http 127.0.0.1:PORT --wsgi-file examples/flask_app.py --callable app_dispatch
--processes 4``, in prometheus_client's multiprocess mode: uWSGI forks the workers from the
process that imported the app, with no master and no Python hook for a worker's death.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import time
from pathlib import Path

import psutil
from webapp_helpers import (
    BIN,
    ITEMS,
    ROOT,
    fetch,
    scrape,
    settled_scrape,
    stale_multiproc_dir,
    wait_until,
)

from kubepulse.lab.processes import ProcessGroup, free_port


def _uwsgi_workers(log: Path) -> dict[int, int]:
    """Worker number → pid, from uWSGI's ``spawned uWSGI worker N (pid: P, ...)`` log lines."""
    found = re.findall(r"spawned uWSGI worker (\d+) \(pid: (\d+)", log.read_text())
    return {int(n): int(pid) for n, pid in found}


def test_dispatcher_command_four_processes_aggregate_and_dead_workers_are_marked(
    tmp_path: Path,
) -> None:
    mp_dir = stale_multiproc_dir(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "HELLO_MAX_LATENCY_SECONDS": "0.05"}
    argv = [str(BIN / "uwsgi"), "--http", f"127.0.0.1:{port}"]
    argv += ["--wsgi-file", str(ROOT / "examples/flask_app.py"), "--callable", "app_dispatch"]
    argv += ["--processes", "4"]
    with ProcessGroup(tmp_path / "logs") as group:
        first = group.start("uwsgi", argv, env=env, ready_port=port)
        workers_up = lambda: len(_uwsgi_workers(first.log_path)) == 4  # noqa: E731
        wait_until(workers_up, 30, "uWSGI did not start 4 workers")
        assert not (mp_dir / "counter_999999.db").exists()  # emptied before the fork

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: fetch(base + "/"), range(16)))
            bodies = list(pool.map(lambda i: fetch(f"{base}/items/{i}")[1], range(80)))
        served = {json.loads(b)["pid"] for b in bodies}
        workers = set(_uwsgi_workers(first.log_path).values())
        assert served <= workers and len(workers) == 4
        assert len(served) >= 2, served  # several workers served, so aggregation is exercised
        # A request is recorded just after its response is sent: wait until the last one is in,
        # then whichever worker answers /metrics reports every worker's requests.
        settled_scrape(base, ITEMS, 80)
        for _ in range(8):
            m = scrape(base)
            assert m[ITEMS] == 80
            assert m['http_requests_total{method="GET",route="/",status="200"}'] == 16
            assert m['http_requests_in_progress{method="GET"}'] == 0
            assert 0 < m["app_uptime_seconds_total"] < 120

        victim = max(served - {_uwsgi_workers(first.log_path)[1]})  # not the app-loading one
        assert (mp_dir / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while psutil.pid_exists(victim) and psutil.Process(victim).status() != "zombie":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # No hook runs when a uWSGI worker dies: the next scrape notices the pid is gone and
        # drops its live gauge file; its counts stay in the totals.
        deadline = time.monotonic() + 20
        while (mp_dir / f"gauge_livesum_{victim}.db").exists():
            assert time.monotonic() < deadline, "the dead worker's live gauge was not dropped"
            scrape(base)
            time.sleep(0.2)
        assert scrape(base)[ITEMS] == 80
