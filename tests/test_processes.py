"""The process helper: loopback only, logs captured, everything stopped."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from kubepulse.processes import ProcessGroup, free_port, require_loopback


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


def test_a_process_that_never_gets_ready_is_stopped_and_its_log_reported(tmp_path):
    with ProcessGroup(tmp_path) as group, pytest.raises(RuntimeError, match="boom"):
        group.start(
            "bad",
            [sys.executable, "-c", "print('boom'); import sys; sys.exit(1)"],
            ready_url=f"http://127.0.0.1:{free_port()}/",
            timeout=5,
        )
    assert group.processes == []
