"""examples/flask_app.py under the real uWSGI from PyPI (pyuwsgi), run by its dispatcher command.

``uwsgi --http 127.0.0.1:PORT --wsgi-file examples/flask_app.py --callable app_dispatch
--processes 4``, in prometheus_client's multiprocess mode: uWSGI forks the workers from the
process that imported the app, with no master and no Python hook for a worker's death.

With ``--master`` the master loads the app, empties the multiprocess folder and forks the workers;
a worker it respawns is forked again, with the app already loaded. With ``--lazy-apps`` every
worker loads the app itself after the fork, so a recycled worker's replacement loads it while
the other workers' counts are on disk: it must neither empty the folder nor restart the uptime.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from pathlib import Path

import psutil
from webapp_helpers import (
    ITEMS,
    fetch,
    item_pids,
    scrape,
    settled_scrape,
    stale_multiproc_dir,
    start_uwsgi,
    uwsgi_workers,
    wait_until,
)

from kubepulse.lab.processes import ProcessGroup

LIVE = 'http_requests_in_progress{method="GET"}'
MASTER = ("--master", "--processes", "2", "--die-on-term")


def test_dispatcher_command_four_processes_aggregate_and_dead_workers_are_marked(
    tmp_path: Path,
) -> None:
    mp_dir = stale_multiproc_dir(tmp_path)
    with ProcessGroup(tmp_path / "logs") as group:
        base, log = start_uwsgi(group, mp_dir, "--processes", "4")
        workers_up = lambda: len(uwsgi_workers(log)) == 4  # noqa: E731
        wait_until(workers_up, 30, "uWSGI did not start 4 workers")
        assert not (mp_dir / "counter_999999.db").exists()  # emptied before the fork

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: fetch(base + "/"), range(16)))
            served = item_pids(base, pool, 0, 80)
        workers = set(uwsgi_workers(log).values())
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

        victim = max(served - {uwsgi_workers(log)[1]})  # not the app-loading one
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


def test_master_loads_the_app_once_and_a_respawned_worker_keeps_the_totals(
    tmp_path: Path,
) -> None:
    mp_dir = stale_multiproc_dir(tmp_path)
    with ProcessGroup(tmp_path / "logs") as group, concurrent.futures.ThreadPoolExecutor(6) as pool:
        base, log = start_uwsgi(group, mp_dir, *MASTER)
        wait_until(lambda: len(uwsgi_workers(log)) == 2, 30, "uWSGI did not start 2 workers")
        assert "WSGI app 0 (mountpoint='') ready" in log.read_text()
        assert not (mp_dir / "counter_999999.db").exists()  # the master emptied it, once
        served: set[int] = set()
        made = 0
        while len(served) < 2:
            assert made < 120, f"one worker answered every request: {served}"
            served |= item_pids(base, pool, made, 12)
            made += 12
        assert served == set(uwsgi_workers(log).values())
        m = settled_scrape(base, ITEMS, made)
        assert m[LIVE] == 0

        victim = min(served)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in uwsgi_workers(log).values(), 30, "no worker was respawned")
        respawned = set(uwsgi_workers(log).values()) - served
        assert len(respawned) == 1
        # The respawned worker is forked from the master: no second app load, nothing emptied.
        assert log.read_text().count("WSGI app 0 (mountpoint='') ready") == 1
        more = 0
        while not respawned <= served:
            assert more < 120, "the respawned worker answered no request"
            served |= item_pids(base, pool, 1000 + more, 12)
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
        base, log = start_uwsgi(group, mp_dir, *MASTER, *recycle)
        wait_until(lambda: len(uwsgi_workers(log)) == 2, 30, "uWSGI did not start 2 workers")
        first = set(uwsgi_workers(log).values())
        served = item_pids(base, pool, 0, 2)
        first_answered = time.time()
        made = 2
        # Until two replacement workers (which loaded the app after the others had counted
        # requests) have answered requests too: each worker is replaced after 4.
        while len(served - first) < 2:
            assert made < 60, f"no two replacement workers answered: {served}, first {first}"
            served |= item_pids(base, pool, made, 2)
            made += 2
        text = log.read_text()
        assert text.count("Respawned uWSGI worker") >= 2
        assert text.count("WSGI app 0 (mountpoint='') ready") >= 4  # each worker loaded it
        before_scrape = time.time()
        m = settled_scrape(base, ITEMS, made)
    assert m[LIVE] == 0
    # The start time is the first worker's: no reload started the uptime again.
    assert m["app_uptime_seconds_total"] >= before_scrape - first_answered
