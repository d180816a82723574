"""A real node_exporter (Debian's) reads what ``kubepulse textfile`` writes, also while it is
being rewritten: the acceptance tests of seed 001."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from textfile_helpers import NodeExporter, StoreWriter

from kubepulse.processes import ProcessGroup
from kubepulse.textfile.cli import output_names, run_once
from kubepulse.textfile.store import DEFAULT_MAPPING

SCRAPES = 1_000
TYPES = 100  # a ~14 KB .prom file: large enough that a non-atomic write would be seen half-done


def test_node_exporter_serves_the_values(
    node_exporter: NodeExporter, write_store: StoreWriter, promtool: Callable[[str], None]
) -> None:
    store = write_store(
        '<row type="order"/>',
        '<row type="order"/>',
        '<row type="with &quot;quotes&quot; and \\ and &#10;newline"/>',
        "<customer/>",
        name="seed.xml",
    )
    errors = run_once(
        output_names([store], None), node_exporter.directory, DEFAULT_MAPPING, None, "keep"
    )
    assert errors == []
    promtool((node_exporter.directory / "seed.prom").read_text())

    got = node_exporter.scrape()
    p = ("path", str(store))
    assert got["node_textfile_scrape_error"] == {(): 0}
    assert got["store_total_rows"] == {(p,): 4}
    assert got["store_rows"] == {
        (p, ("type", "order")): 2,
        (p, ("type", 'with "quotes" and \\ and \nnewline')): 1,
        (p, ("type", "customer")): 1,
    }
    assert got["store_parse_success"] == {(p,): 1}
    assert got["store_file_size_bytes"] == {(p,): store.stat().st_size}
    mtimes = {dict(k)["file"]: v for k, v in got["node_textfile_mtime_seconds"].items()}
    assert any(f.endswith("seed.prom") for f in mtimes), mtimes
    (node_exporter.directory / "seed.prom").unlink()


def _store_rows(generation: int) -> list[str]:
    """``TYPES`` types with ``generation % 7 + 1`` rows each."""
    return [f'<row type="type-{t:03d}"/>' for t in range(TYPES) for _ in range(generation % 7 + 1)]


WRITER = """
import os, signal, sys
from pathlib import Path
from kubepulse.textfile.cli import output_names, run_once
from kubepulse.textfile.store import DEFAULT_MAPPING

store, out, *generations = map(Path, sys.argv[1:])
outputs = output_names([store], None)
writes = 0
signal.signal(signal.SIGTERM, lambda *_: sys.exit(print(f"writes={writes}", flush=True)))
while True:
    # The application replaces its store, then the writer parses it and rewrites the .prom.
    os.link(generations[writes % len(generations)], f"{store}.new")
    os.replace(f"{store}.new", store)
    assert run_once(outputs, out, DEFAULT_MAPPING, None, "keep") == []
    writes += 1
"""


def test_rewrites_during_1000_scrapes_never_show_a_partial_file(
    node_exporter: NodeExporter, write_store: StoreWriter, tmp_path: Path
) -> None:
    """The writer is a separate process, as in production (cron, timer or sidecar)."""
    store = tmp_path / "busy.xml"
    generations = [write_store(*_store_rows(g), name=f"gen{g}.xml") for g in range(7)]
    prom = node_exporter.directory / "busy.prom"
    seen: set[float] = set()
    with ProcessGroup(tmp_path / "logs") as group:
        writer = group.start(
            "writer",
            [sys.executable, "-c", WRITER, str(store), str(node_exporter.directory)]
            + [str(g) for g in generations],
        )
        deadline = time.monotonic() + 10
        while not prom.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        for i in range(SCRAPES):
            # A line scan, not prometheus_client's parser (~40 ms for this page), keeps 1,000
            # scrapes within seconds; a torn file would show as a scrape error or bad counts.
            lines = node_exporter.scrape_text().splitlines()
            assert "node_textfile_scrape_error 0" in lines, f"scrape {i}"
            rows = {float(ln.rsplit(" ", 1)[1]) for ln in lines if ln.startswith("store_rows{")}
            count = sum(ln.startswith("store_rows{") for ln in lines)
            assert count == TYPES and len(rows) == 1, f"scrape {i}: {count} samples, {rows}"
            (total,) = (float(ln.rsplit(" ", 1)[1]) for ln in lines if ln.startswith("store_total"))
            assert total == TYPES * rows.pop(), f"scrape {i}: partial file"
            assert (
                sum(ln.startswith("store_parse_success{") and ln.endswith(" 1") for ln in lines)
                == 1
            )
            seen.add(total)
        elapsed = time.monotonic() - started
        assert writer.alive(), writer.log_tail()
        writer.stop()
    writes = int(writer.log_tail(1).removeprefix("writes="))
    # The file really changed under the scrapes, many times.
    assert writes >= 50 and len(seen) == 7, (writes, seen)
    print(f"{SCRAPES} scrapes, {writes} rewrites in {elapsed:.1f} s")
    prom.unlink()
