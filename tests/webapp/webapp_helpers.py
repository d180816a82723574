"""Helpers for the webapp tests: fetch a URL, read /metrics into a dict of series, start the
examples' app under the real uWSGI and gunicorn.

(A uniquely named module, not conftest: test directories share one ``conftest`` module name.)
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from kubepulse.lab.processes import ProcessGroup, free_port
from kubepulse.lab.servers import wait_until as lab_wait_until

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
BIN = Path(sys.executable).parent
# The examples' Flask app (examples/flask_app.py): its /items/<id> counter as the exporter names it.
ITEMS = 'http_requests_total{method="GET",route="/items/<int:item_id>",status="200"}'


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``url`` (loopback only); the status and body, errors included."""
    assert url.startswith("http://127.0.0.1:"), url
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def series(text: str) -> dict[str, float]:
    """Exposition text → ``{'name{a="1",b="2"}': value}`` with the labels sorted."""
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def scrape(base: str, headers: dict[str, str] | None = None) -> dict[str, float]:
    status, body = fetch(base + "/metrics", headers)
    assert status == 200, body
    return series(body.decode())


def wait_until(check: Callable[[], bool], timeout: float, message: str) -> None:
    """Poll ``check`` every 0.1 s until it is true; fail with ``message`` after ``timeout`` s."""
    lab_wait_until(check, timeout, 0.1, what=message)


def stale_multiproc_dir(tmp_path: Path) -> Path:
    """An empty-looking multiprocess folder holding one value file from an "earlier run"."""
    mp_dir = tmp_path / "mp"
    mp_dir.mkdir()
    (mp_dir / "counter_999999.db").write_bytes(b"stale file from an earlier run")
    return mp_dir


def quiet_scrape(base: str, timeout: float = 10) -> dict[str, float]:
    """A scrape once no request is in progress (every ``*http_requests_in_progress`` series reads
    0): a request is counted just after its last byte and only then leaves that gauge, so a
    scrape right after the client got its last response may not show it yet, and one with
    nothing in progress shows every answered request."""
    deadline = time.monotonic() + timeout
    while True:
        m = scrape(base)
        gauges = {k: v for k, v in m.items() if k.split("{")[0].endswith("_in_progress")}
        busy = {k: v for k, v in gauges.items() if "http_requests" in k and v}
        if not busy:
            return m
        assert time.monotonic() < deadline, f"still in progress after {timeout} s: {busy}"
        time.sleep(0.05)


def settled_scrape(base: str, key: str, expected: float, timeout: float = 10) -> dict[str, float]:
    """A scrape once ``key`` reads ``expected``; fail with the last value after ``timeout`` s.

    A request is recorded just after its last byte is sent, so in multiprocess mode a scrape
    answered by another worker right after the client got its response may not show it yet.
    A wrong count stays wrong and fails here; the caller asserts the rest on what it returns.
    Every scrape must succeed (a worker's value file still empty while it is created, which
    failed whole scrapes, is left out of the merge: ``test_multiprocess_files.py``).
    """
    deadline = time.monotonic() + timeout
    while True:
        status, body = fetch(base + "/metrics")
        assert status == 200, body[-300:]
        m = series(body.decode())
        if m.get(key) == expected:
            return m
        assert time.monotonic() < deadline, f"{key} = {m.get(key)}, not {expected}"
        time.sleep(0.05)


def item_pids(base: str, pool: concurrent.futures.Executor, first: int, count: int) -> set[int]:
    """GET /items/first.../items/first+count-1 concurrently; the pids that answered."""
    bodies = pool.map(lambda i: fetch(f"{base}/items/{i}"), range(first, first + count))
    answers = list(bodies)
    assert [status for status, _ in answers] == [200] * count
    return {json.loads(body)["pid"] for _, body in answers}


def start_uwsgi(group: ProcessGroup, mp_dir: Path, *options: str) -> tuple[str, Path]:
    """examples/flask_app.py under the real uWSGI by its dispatcher command, with ``options``,
    in multiprocess mode in ``mp_dir``: its base URL and its log, once it listens."""
    port = free_port()
    argv = [str(BIN / "uwsgi"), "--http", f"127.0.0.1:{port}"]
    argv += ["--wsgi-file", str(ROOT / "examples/flask_app.py"), "--callable", "app_dispatch"]
    env = {"PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "HELLO_MAX_LATENCY_SECONDS": "0.05"}
    proc = group.start("uwsgi", [*argv, *options], env=env, ready_port=port)
    return f"http://127.0.0.1:{port}", proc.log_path


def uwsgi_workers(log: Path) -> dict[int, int]:
    """Worker number → its current pid, from uWSGI's spawn and respawn log lines."""
    found = re.findall(
        r"(?:spawned uWSGI worker (\d+) \(pid: |uWSGI worker (\d+) \(new pid: )(\d+)",
        log.read_text(),
    )
    return {int(a or b): int(pid) for a, b, pid in found}


def gunicorn_workers(master: int) -> set[int]:
    """The pids of a gunicorn master's workers."""
    return {p.pid for p in psutil.Process(master).children()}


def start_gunicorn(
    group: ProcessGroup,
    mp_dir: Path,
    workers: int,
    app: list[str],
    env: dict[str, str] | None = None,
) -> tuple[str, int]:
    """gunicorn with examples/gunicorn.conf.py (the README's command) serving ``app`` (its
    arguments) with ``workers`` workers in multiprocess mode in ``mp_dir``: its base URL and the
    master's pid, once every worker is up.

    Ready on the port, not on a request: an HTTP probe retried under load would add an unknown
    number of requests to the counts the tests check.
    """
    port = free_port()
    argv = [str(BIN / "gunicorn"), "-c", str(ROOT / "examples/gunicorn.conf.py"), *app]
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(mp_dir),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        **(env or {}),
    }
    master = group.start("gunicorn", argv, env=env, ready_port=port).pid
    up = lambda: len(gunicorn_workers(master)) == workers  # noqa: E731
    wait_until(up, 30, f"gunicorn did not start {workers} workers")
    return f"http://127.0.0.1:{port}", master


def wait_replaced(mp_dir: Path, master: int, victim: int, workers: int, timeout: float) -> None:
    """Once gunicorn's worker ``victim`` is killed: wait until child_exit has dropped its live
    gauge file and the master runs ``workers`` workers again."""

    def replaced() -> bool:
        marked = not (mp_dir / f"gauge_livesum_{victim}.db").exists()
        return marked and len(gunicorn_workers(master)) >= workers

    wait_until(replaced, timeout, f"the dead worker {victim} was not marked and replaced")
