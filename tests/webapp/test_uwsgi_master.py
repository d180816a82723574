"""examples/flask_app.py under the real uWSGI (pyuwsgi) with ``--master``, and with ``--lazy-apps``.

With ``--master`` the master loads the app, empties the multiprocess folder and forks the workers;
a worker it respawns is forked again, with the app already loaded. With ``--lazy-apps`` every
worker loads the app itself after the fork, so a recycled worker's replacement loads it while
the other workers' counts are on disk: it must neither empty the folder nor restart the uptime.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import time
from pathlib import Path

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

LIVE = 'http_requests_in_progress{method="GET"}'


def _uwsgi(group: ProcessGroup, mp_dir: Path, *options: str) -> tuple[str, Path]:
    port = free_port()
    argv = [str(BIN / "uwsgi"), "--http", f"127.0.0.1:{port}"]
    argv += ["--wsgi-file", str(ROOT / "examples/flask_app.py"), "--callable", "app_dispatch"]
    argv += ["--master", "--processes", "2", "--die-on-term", *options]
    env = {"PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "HELLO_MAX_LATENCY_SECONDS": "0.05"}
    proc = group.start("uwsgi", argv, env=env, ready_port=port)
    return f"http://127.0.0.1:{port}", proc.log_path


def _item_pids(base: str, pool: concurrent.futures.Executor, first: int, count: int) -> set[int]:
    """GET /items/first.../items/first+count-1 concurrently; the pids that answered."""
    bodies = pool.map(lambda i: fetch(f"{base}/items/{i}"), range(first, first + count))
    answers = list(bodies)
    assert [status for status, _ in answers] == [200] * count
    return {json.loads(body)["pid"] for _, body in answers}


def _workers(log: Path) -> dict[int, int]:
    """Worker number → its current pid, from uWSGI's spawn and respawn log lines."""
    text = log.read_text()
    found = re.findall(
        r"(?:spawned uWSGI worker (\d+) \(pid: |uWSGI worker (\d+) \(new pid: )(\d+)", text
    )
    return {int(a or b): int(pid) for a, b, pid in found}


def test_master_loads_the_app_once_and_a_respawned_worker_keeps_the_totals(
    tmp_path: Path,
) -> None:
    mp_dir = stale_multiproc_dir(tmp_path)
    with ProcessGroup(tmp_path / "logs") as group, concurrent.futures.ThreadPoolExecutor(6) as pool:
        base, log = _uwsgi(group, mp_dir)
        wait_until(lambda: len(_workers(log)) == 2, 30, "uWSGI did not start 2 workers")
        assert "WSGI app 0 (mountpoint='') ready" in log.read_text()
        assert not (mp_dir / "counter_999999.db").exists()  # the master emptied it, once
        served: set[int] = set()
        made = 0
        while len(served) < 2:
            assert made < 120, f"one worker answered every request: {served}"
            served |= _item_pids(base, pool, made, 12)
            made += 12
        assert served == set(_workers(log).values())
        m = settled_scrape(base, ITEMS, made)
        assert m[LIVE] == 0

        victim = min(served)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in _workers(log).values(), 30, "no worker was respawned")
        respawned = set(_workers(log).values()) - served
        assert len(respawned) == 1
        # The respawned worker is forked from the master: no second app load, nothing emptied.
        assert log.read_text().count("WSGI app 0 (mountpoint='') ready") == 1
        more = 0
        while not respawned <= served:
            assert more < 120, "the respawned worker answered no request"
            served |= _item_pids(base, pool, 1000 + more, 12)
            more += 12
        # Every scrape, whichever worker answers it: the dead worker's counts stay in the
        # totals and its live gauge file is dropped.
        settled_scrape(base, ITEMS, made + more)
        for _ in range(4):
            m = scrape(base)
            assert (m[ITEMS], m[LIVE]) == (made + more, 0)
        assert not (mp_dir / f"gauge_livesum_{victim}.db").exists()
        assert (mp_dir / f"counter_{victim}.db").exists()


def test_lazy_apps_recycled_workers_reload_the_app_without_losing_counts(tmp_path: Path) -> None:
    mp_dir = tmp_path / "mp"
    mp_dir.mkdir()  # --lazy-apps: nothing empties the folder, so it starts empty
    recycle = ["--lazy-apps", "--max-requests", "4", "--min-worker-lifetime", "0"]
    recycle += ["--forkbomb-delay", "0"]
    with ProcessGroup(tmp_path / "logs") as group, concurrent.futures.ThreadPoolExecutor(2) as pool:
        base, log = _uwsgi(group, mp_dir, *recycle)
        wait_until(lambda: len(_workers(log)) == 2, 30, "uWSGI did not start 2 workers")
        first = set(_workers(log).values())
        served = _item_pids(base, pool, 0, 2)
        first_answered = time.time()
        made = 2
        # Until two replacement workers (which loaded the app after the others had counted
        # requests) have answered requests too: each worker is replaced after 4.
        while len(served - first) < 2:
            assert made < 60, f"no two replacement workers answered: {served}, first {first}"
            served |= _item_pids(base, pool, made, 2)
            made += 2
        text = log.read_text()
        assert text.count("Respawned uWSGI worker") >= 2
        assert text.count("WSGI app 0 (mountpoint='') ready") >= 4  # each worker loaded it
        before_scrape = time.time()
        m = settled_scrape(base, ITEMS, made)
    assert m[LIVE] == 0
    # The start time is the first worker's: no reload started the uptime again.
    assert m["app_uptime_seconds_total"] >= before_scrape - first_answered
