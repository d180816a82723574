"""HTTP helpers for the webapp tests: fetch a URL, read /metrics into a dict of series.

(A uniquely named module, not conftest: test directories share one ``conftest`` module name.)
"""

from __future__ import annotations

import contextlib
import http.client
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
BIN = Path(sys.executable).parent


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
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def stale_multiproc_dir(tmp_path: Path) -> Path:
    """An empty-looking multiprocess folder holding one value file from an "earlier run"."""
    mp_dir = tmp_path / "mp"
    mp_dir.mkdir()
    (mp_dir / "counter_999999.db").write_bytes(b"stale file from an earlier run")
    return mp_dir


def _value_files(mp_dir: Path | None) -> dict[str, int]:
    """The multiprocess value files in ``mp_dir`` and their sizes (none without a folder)."""
    sizes: dict[str, int] = {}
    for path in mp_dir.glob("*.db") if mp_dir is not None else ():
        with contextlib.suppress(FileNotFoundError):  # a dead worker's live gauge file, removed
            sizes[path.name] = path.stat().st_size
    return sizes


def settled_scrape(
    base: str, key: str, expected: float, mp_dir: Path | None = None, timeout: float = 10
) -> dict[str, float]:
    """A scrape once ``key`` reads ``expected``; fail with the last value after ``timeout`` s.

    A request is recorded just after its last byte is sent, so in multiprocess mode a scrape
    answered by another worker right after the client got its response may not show it yet.
    A wrong count stays wrong and fails here; the caller asserts the rest on what it returns.

    With ``mp_dir``, a scrape that failed while a worker was creating a value file there (one
    was empty before it, or appeared during it) is tried again: the file is empty for a moment,
    and reading it fails the whole scrape (a known bug, ``test_webapp_multiprocess_files.py``);
    a worker creates its files with its first recorded request, just after that request's
    response. Any other failed scrape fails here.
    """
    deadline = time.monotonic() + timeout
    while True:
        before = _value_files(mp_dir)
        try:
            status, body = fetch(base + "/metrics")
        except (OSError, http.client.HTTPException) as exc:  # uWSGI drops the connection
            status, body = 0, repr(exc).encode()
        creating = 0 in before.values() or bool(_value_files(mp_dir).keys() - before.keys())
        if status != 200 and creating:
            assert time.monotonic() < deadline, f"scrapes kept failing: {body[-300:]!r}"
            continue
        assert status == 200, body[-300:]
        m = series(body.decode())
        if m.get(key) == expected:
            return m
        assert time.monotonic() < deadline, f"{key} = {m.get(key)}, not {expected}"
        time.sleep(0.05)
