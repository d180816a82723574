"""Multiprocess mode: one ``/metrics`` for every worker of gunicorn, uWSGI or uvicorn.

Set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable folder before the server starts. Each
worker then writes its values to files there and every scrape aggregates them through
``prometheus_client``'s ``MultiProcessCollector``, whichever worker answers.

Workers that died (a crash, a SIGKILL, a ``max-requests`` recycle) are found at scrape time: their
pid no longer exists, so their live gauges (``http_requests_in_progress``) are dropped by
``mark_process_dead``; their counters are kept. This needs no hook in the server, so it works the
same under every server; ``kubepulse.webapp.gunicorn.child_exit`` does it sooner under gunicorn.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

import psutil
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

__all__ = ["START_FILE", "clear", "exposed_registry", "mark_dead_workers", "multiprocess_dir"]

START_FILE = "kubepulse_app_start_time"
_LIVE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db")


def multiprocess_dir() -> Path | None:
    """The folder named by ``PROMETHEUS_MULTIPROC_DIR`` (multiprocess mode), or ``None``."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def clear(directory: Path | None = None) -> None:
    """Empty the multiprocess folder of value files and the start time (call before workers start).

    Files left by a previous run would add old counts to new ones and keep an old start time.
    """
    directory = directory or multiprocess_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.iterdir():
        if path.suffix == ".db" or path.name == START_FILE:
            path.unlink(missing_ok=True)


_cleared_by: set[int] = set()


def clear_before_uwsgi_forks(directory: Path) -> None:
    """Under uWSGI, empty ``directory`` while the app loads in the first process, before forking.

    uWSGI has no start hook for Python; by default it imports the app once and forks the other
    workers from that process (``uwsgi.worker_id()`` is 0 then). With ``--lazy-apps`` every worker
    imports the app itself, and nothing is cleared: empty the folder before starting uWSGI.
    """
    try:
        import uwsgi  # type: ignore[import-not-found]
    except ImportError:
        return
    if uwsgi.worker_id() == 0 and os.getpid() not in _cleared_by:
        _cleared_by.add(os.getpid())
        clear(directory)


def _running(pid: int) -> bool:
    # A killed worker whose parent never reaps it (uWSGI without --master) stays a zombie.
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def mark_dead_workers(directory: Path) -> list[int]:
    """``mark_process_dead`` for every pid with live-gauge files that no longer runs; their pids."""
    from prometheus_client import multiprocess

    dead = sorted(
        {
            int(m.group(1))
            for m in map(_LIVE_FILE.fullmatch, os.listdir(directory))
            if m is not None and not _running(int(m.group(1)))
        }
    )
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return dead


def shared_start_time(directory: Path) -> float:
    """The first worker's start time: written once (O_EXCL) into the multiprocess folder."""
    path = directory / START_FILE
    now = time.time()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError, ValueError):
            return float(path.read_text())
        return now
    with os.fdopen(fd, "w") as fh:
        fh.write(repr(now))
    return now


def _written_files(directory: Path) -> list[str]:
    """The value files in ``directory`` that hold data: prometheus_client creates a worker's
    ``*.db`` file and sizes it just after, so one can be 0 bytes for a moment (for good, if the
    worker is killed in that moment), and reading it raises ``struct.error``, failing the whole
    scrape with every other worker's values (upstream, still so in 0.26). Such a file holds no
    value yet: it is left out. So is one removed since it was listed."""
    files = []
    for path in glob.glob(os.path.join(directory, "*.db")):
        with contextlib.suppress(FileNotFoundError):
            if os.path.getsize(path) > 0:
                files.append(path)
    return files


def exposed_registry(directory: Path) -> CollectorRegistry:
    """A registry that aggregates every worker's files in ``directory`` when collected
    (``prometheus_client``'s merge, over the files that hold data: see ``_written_files``)."""
    from prometheus_client import multiprocess

    class Collector(multiprocess.MultiProcessCollector):
        def collect(self) -> Iterable[Metric]:
            merged: Iterable[Metric] = self.merge(_written_files(directory), accumulate=True)  # type: ignore[no-untyped-call]
            return merged

    exposed = CollectorRegistry()
    Collector(exposed, path=str(directory))  # type: ignore[no-untyped-call]
    return exposed
