"""The process helper: loopback only, logs captured, everything stopped."""

from __future__ import annotations

import itertools
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from kubepulse.lab.processes import ProcessGroup, free_port, require_loopback


@pytest.mark.parametrize(
    "addr", ["127.0.0.1", "http://127.0.0.5:9090/x", "localhost", "http://[::1]:80/"]
)
def test_loopback_addresses_pass(addr):
    assert require_loopback(addr) == addr


@pytest.mark.parametrize(
    "addr", ["10.244.0.5", "http://10.0.0.1:8080/metrics", "http://example.com/", "0.0.0.0"]
)
def test_other_addresses_are_refused(addr):
    with pytest.raises(ValueError, match="non-loopback"):
        require_loopback(addr)


def live_members(pgid: int) -> list[int]:
    """PIDs in process group ``pgid`` that are not zombies (PID 1 here may not reap orphans)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_group_starts_waits_logs_and_stops_children(tmp_path):
    port = free_port()
    script = (
        "import http.server, subprocess, sys;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print('serving', flush=True);"
        f"http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)"
        ".serve_forever()"
    )
    with ProcessGroup(tmp_path) as group:
        proc = group.start(
            "web",
            [sys.executable, "-c", script],
            ready_url=f"http://127.0.0.1:{port}/",
            cwd=tmp_path,
        )
        pgid = os.getpgid(proc.pid)
        assert len(live_members(pgid)) == 2
    assert not proc.alive()
    assert "serving" in (tmp_path / "web.log").read_text()
    assert live_members(pgid) == []


def test_stop_returns_only_once_children_are_gone_even_one_that_ignores_sigterm(tmp_path):
    """The leader exits on SIGTERM at once; one child ignores SIGTERM, one sleeps. ``stop()``
    returns with neither running (the first is SIGKILLed after the timeout), not merely once the
    leader has exited, so the next test never meets a leftover."""
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    script = (
        "import subprocess, sys, time;"
        f"subprocess.Popen([sys.executable, '-c', {ignore!r}]);"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print('started', flush=True);"
        "time.sleep(60)"
    )
    with ProcessGroup(tmp_path) as group:
        proc = group.start("tree", [sys.executable, "-c", script])
        pgid = os.getpgid(proc.pid)
        deadline = time.monotonic() + 10
        while len(live_members(pgid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(live_members(pgid)) == 3
        # SIGTERM's handler in the first child is installed before it sleeps; give it the time.
        time.sleep(0.5)
        started = time.monotonic()
        proc.stop(timeout=2.0)
        took = time.monotonic() - started
        assert live_members(pgid) == []
    # The SIGTERM-ignoring child held stop() to about its timeout, not to its 60 s sleep.
    assert 1.5 <= took < 10


def test_a_process_that_never_gets_ready_is_stopped_and_its_log_reported(tmp_path):
    with ProcessGroup(tmp_path) as group, pytest.raises(RuntimeError, match="boom"):
        group.start(
            "bad",
            [sys.executable, "-c", "print('boom'); import sys; sys.exit(1)"],
            ready_url=f"http://127.0.0.1:{free_port()}/",
            timeout=5,
        )
    assert group.processes == []


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert not [p for p in ports if low <= p <= high]
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_xdist_workers_pick_from_disjoint_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    bands = []
    for worker in ("gw0", "gw1", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        picked = {free_port() for _ in range(20)}
        bands.append((min(picked), max(picked)))
    bands.sort()
    assert all(a[1] < b[0] for a, b in itertools.pairwise(bands))
