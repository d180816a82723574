"""A real node_exporter (Debian's) reads what ``kubepulse textfile`` writes, also while it is
being rewritten: the acceptance tests of seed 001."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textfile_helpers import NodeExporter, StoreWriter

from kubepulse.lab.processes import ProcessGroup
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
    # A known mtime in the past, so the exported one cannot be "now" by accident.
    os.utime(store, (1_600_000_000.25, 1_600_000_000.25))
    parse_started = time.time()
    errors = run_once(
        output_names([store], None), node_exporter.directory, DEFAULT_MAPPING, None, "keep"
    )
    assert errors == []
    promtool((node_exporter.directory / "seed.prom").read_text())

    got = node_exporter.scrape()
    scraped = time.time()
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
    assert got["store_file_mtime_seconds"] == {(p,): pytest.approx(store.stat().st_mtime, abs=1e-3)}
    assert store.stat().st_mtime == pytest.approx(1_600_000_000.25)
    [(labels, parsed_at)] = got["store_last_parse_timestamp_seconds"].items()
    assert labels == (p,)
    # Set by this run (not a stale or zero value): between the parse's start and the scrape.
    assert parse_started - 1 <= parsed_at <= scraped + 1, (parse_started, parsed_at, scraped)
    mtimes = {dict(k)["file"]: v for k, v in got["node_textfile_mtime_seconds"].items()}
    assert any(f.endswith("seed.prom") for f in mtimes), mtimes
    (node_exporter.directory / "seed.prom").unlink()


def _store_rows(generation: int) -> list[str]:
    """``TYPES`` types with ``generation % 7 + 1`` rows each."""
    return [f'<row type="type-{t:03d}"/>' for t in range(TYPES) for _ in range(generation % 7 + 1)]


WRITER = """
import os, signal, sys
from pathlib import Path
from kubepulse.textfile.cli import output_names, parse_store, run_once
from kubepulse.textfile.metrics import render
from kubepulse.textfile.store import DEFAULT_MAPPING

mode, store, out, *generations = sys.argv[1:]
outputs = output_names([Path(store)], None)
writes = 0
signal.signal(signal.SIGTERM, lambda *_: sys.exit(print(f"writes={writes}", flush=True)))
while True:
    # The application replaces its store, then the writer parses it and rewrites the .prom.
    os.link(generations[writes % len(generations)], f"{store}.new")
    os.replace(f"{store}.new", store)
    if mode == "atomic":
        assert run_once(outputs, Path(out), DEFAULT_MAPPING, None, "keep") == []
    else:  # what a hand-written script often does: truncate and write in place
        text = render([parse_store(Path(store), DEFAULT_MAPPING, None)], DEFAULT_MAPPING)
        Path(out, "busy.prom").write_text(text)
    writes += 1
"""


def _check(text: str) -> tuple[str | None, float]:
    """``(why this scrape shows a partial or failed file, or None; store_total_rows)``.

    A line scan, not prometheus_client's parser (~40 ms for this page), so 1,000 scrapes take
    seconds; a torn file shows as a scrape error, missing samples or counts that disagree.
    """
    lines = text.splitlines()
    rows = [float(ln.rsplit(" ", 1)[1]) for ln in lines if ln.startswith("store_rows{")]
    totals = [float(ln.rsplit(" ", 1)[1]) for ln in lines if ln.startswith("store_total_rows{")]
    total = totals[0] if totals else -1.0
    if "node_textfile_scrape_error 0" not in lines:
        return "scrape error", total
    if len(rows) != TYPES or len(set(rows)) != 1 or totals != [TYPES * rows[0]]:
        return f"{len(rows)} store_rows samples, values {set(rows)}, totals {totals}", total
    if sum(ln.startswith("store_parse_success{") and ln.endswith(" 1") for ln in lines) != 1:
        return "no store_parse_success 1", total
    return None, total


def _scrape_while_rewriting(
    mode: str, node_exporter: NodeExporter, write_store: StoreWriter, tmp_path: Path
) -> tuple[list[str], set[float], int]:
    """Scrape ``SCRAPES`` times while a separate process (as cron, a timer or a sidecar would
    be) rewrites the file; stop at the first torn scrape. Returns problems, totals, writes."""
    store = tmp_path / "busy.xml"
    generations = [write_store(*_store_rows(g), name=f"gen{g}.xml") for g in range(7)]
    prom = node_exporter.directory / "busy.prom"
    seen: set[float] = set()
    problems: list[str] = []
    with ProcessGroup(tmp_path / "logs") as group:
        writer = group.start(
            "writer",
            [sys.executable, "-c", WRITER, mode, str(store), str(node_exporter.directory)]
            + [str(g) for g in generations],
        )
        deadline = time.monotonic() + 10
        while not prom.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        for i in range(SCRAPES):
            problem, total = _check(node_exporter.scrape_text())
            if problem is not None:
                problems.append(f"scrape {i}: {problem}")
                break
            seen.add(total)
        elapsed = time.monotonic() - started
        assert writer.alive(), writer.log_tail()
        writer.stop()
    writes = int(writer.log_tail(1).removeprefix("writes="))
    print(f"{mode}: {i + 1} scrapes, {writes} rewrites in {elapsed:.1f} s")
    prom.unlink()
    return problems, seen, writes


def test_rewrites_during_1000_scrapes_never_show_a_partial_file(
    node_exporter: NodeExporter, write_store: StoreWriter, tmp_path: Path
) -> None:
    problems, seen, writes = _scrape_while_rewriting("atomic", node_exporter, write_store, tmp_path)
    assert problems == []
    # The file really changed under the scrapes, many times.
    assert writes >= 50 and len(seen) == 7, (writes, seen)


def test_the_race_check_catches_an_in_place_writer(
    node_exporter: NodeExporter, write_store: StoreWriter, tmp_path: Path
) -> None:
    """The control: the same check, with a writer that truncates and rewrites in place, sees a
    torn file (within a few scrapes in practice), so the test above can fail."""
    problems, _, _ = _scrape_while_rewriting("in-place", node_exporter, write_store, tmp_path)
    assert problems
