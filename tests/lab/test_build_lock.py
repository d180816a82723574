"""Concurrent builders of one cache directory take turns (``make deps`` beside a test, or
pytest-xdist workers, once raced on the same temporary file and one failed)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from kubepulse.lab.builder import build_lock

HOLDER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from kubepulse.lab.builder import build_lock\n"
    "with build_lock(Path(sys.argv[1])):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(1.5)\n"
)


def test_a_second_builder_waits_for_the_first(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        with build_lock(tmp_path):
            waited = time.monotonic() - started
    finally:
        holder.wait(10)
    assert 1.0 < waited < 10, waited
    assert (tmp_path / ".build.lock").is_file()


def test_the_lock_is_free_again_afterwards(tmp_path: Path) -> None:
    with build_lock(tmp_path / "new"):
        pass
    started = time.monotonic()
    with build_lock(tmp_path / "new"):
        assert time.monotonic() - started < 0.5
