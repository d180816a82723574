"""Helpers for the textfile tests: promtool's check, sample parsing, a node_exporter handle.

(A uniquely named module, not conftest: test directories share one ``conftest`` module name.)
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from kubepulse.lab.releases import binary

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def promtool_check(text: str) -> None:
    """Fail the test unless ``promtool check metrics`` accepts ``text`` without a complaint."""
    result = subprocess.run(
        [binary("promtool"), "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0 and not result.stdout.strip(), (
        f"promtool check metrics failed: {result.stdout.decode()} {result.stderr.decode()}\n{text}"
    )


@contextlib.contextmanager
def textfile_process(*args: str | Path) -> Iterator[subprocess.Popen[bytes]]:
    """``kubepulse textfile ARGS`` as a process of its own, stderr piped, stdout discarded;
    killed on the way out if it is still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubepulse", "textfile", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def parse_samples(text: str) -> Samples:
    """Every sample in ``text``: name -> sorted label pairs -> value."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


@dataclass
class NodeExporter:
    """A running node_exporter whose only collector is the textfile one, on ``directory``."""

    url: str
    directory: Path

    def scrape_text(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as resp:
            body: bytes = resp.read()
        return body.decode()

    def scrape(self) -> Samples:
        return parse_samples(self.scrape_text())


StoreWriter = Callable[..., Path]
