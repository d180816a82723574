"""`kubepulse textfile` on a 1,000,000-row store against a naive ElementTree + prometheus_client
version, for time and peak RSS.

Each contender runs in its own process (peak RSS from ``os.wait4``, so one contender's memory
never counts against another), does the same work (rows per type and the sum of a numeric
attribute per type, written to a ``.prom`` file) and must produce the same values.
Contenders:
- kubepulse: the real command, ``kubepulse textfile STORE --config mapping.yml --output-dir D``
  (the standard library's expat in one pass with defusedxml's refusals of entities and external
  references, nothing kept but the current row);
- naive (baseline): ``ElementTree.parse`` of the whole file, a loop, prometheus_client gauges and
  ``write_to_textfile``, as a hand-written textfile script does it;
- defusedxml iterparse: ``defusedxml.ElementTree.iterparse`` with element clearing, the usual
  "streaming" advice, for scale.
Targets: kubepulse peak RSS <= 32 MB and at least 3x faster than naive (wall and CPU time both
shown; on a loaded machine CPU time is the steadier of the two).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROWS = 1_000_000
ROUNDS = 2
TYPES = ("order", "invoice", "customer", "product", "refund")
RSS_TARGET_MB = 32
SPEEDUP_TARGET = 3.0
MAPPING = "fields:\n  - {name: amount, attribute: amount}\n"


def make_store(path: Path) -> None:
    """A flat store: ``<store>`` with ``ROWS`` ``<row id type amount/>`` children (~50 MB)."""
    with path.open("w") as out:
        out.write('<?xml version="1.0"?>\n<store>\n')
        for i in range(ROWS):
            out.write(f'  <row id="{i}" type="{TYPES[i % 5]}" amount="{i % 1000 / 10}"/>\n')
        out.write("</store>\n")


def _write_counts(store: str, out_dir: str, rows: Iterable[Any]) -> None:
    """What a hand-written textfile script does with the rows: rows and the sum of ``amount``
    per type in prometheus_client gauges, written with ``write_to_textfile``."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    total = Gauge("store_total_rows", "Total rows in store", ["path"], registry=registry)
    by_type = Gauge("store_rows", "Rows in store, by type", ["path", "type"], registry=registry)
    amount = Gauge("store_amount", "Sum of amount, by type", ["path", "type"], registry=registry)
    counts: Counter[str] = Counter()
    sums: dict[str, float] = defaultdict(float)
    for row in rows:
        kind = row.get("type") or row.tag
        counts[kind] += 1
        value = row.get("amount")
        if value:
            sums[kind] += float(value)
    path = os.path.abspath(store)
    total.labels(path).set(sum(counts.values()))
    for kind, n in counts.items():
        by_type.labels(path, kind).set(n)
        amount.labels(path, kind).set(sums[kind])
    write_to_textfile(os.path.join(out_dir, "store.prom"), registry)


def naive(store: str, out_dir: str) -> None:
    import xml.etree.ElementTree as ET

    _write_counts(store, out_dir, ET.parse(store).getroot())


def _streamed_rows(store: str) -> Iterator[Any]:
    """The store's rows from ``defusedxml.ElementTree.iterparse``, each cleared once handled."""
    from defusedxml.ElementTree import iterparse as defused_iterparse

    depth = 0
    root = None
    for event, elem in defused_iterparse(store, events=("start", "end")):
        if event == "start":
            depth += 1
            root = elem if root is None else root
            continue
        depth -= 1
        if depth == 1:
            yield elem
            root.clear()  # type: ignore[union-attr]


def iterparse(store: str, out_dir: str) -> None:
    _write_counts(store, out_dir, _streamed_rows(store))


IN_PROCESS = {"naive": naive, "iterparse": iterparse}


def measure(argv: list[str]) -> tuple[float, float, float]:
    """Run ``argv`` to completion: wall s, CPU s and peak RSS MiB of that child alone."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{argv} failed with exit code {proc.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def values(prom: Path) -> dict[tuple[str, str], float]:
    """store_rows and store_amount by type, to check that the contenders agree."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(prom.read_text()):
        for s in family.samples:
            if s.name in ("store_rows", "store_amount"):
                out[(s.name, s.labels["type"])] = round(s.value, 6)
    return out


def main() -> int:
    from common import table, write_results

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-textfile-") as tmp:
        work = Path(tmp)
        store = work / "store.xml"
        make_store(store)
        config = work / "mapping.yml"
        config.write_text(MAPPING)
        contenders = {
            "naive ElementTree.parse + prometheus_client (baseline)": [
                sys.executable, __file__, "--contender", "naive", str(store)
            ],
            "defusedxml iterparse + clear + prometheus_client": [
                sys.executable, __file__, "--contender", "iterparse", str(store)
            ],
            "kubepulse textfile": [
                sys.executable, "-m", "kubepulse", "textfile", str(store), "--config", str(config)
            ],
        }  # fmt: skip
        best: dict[str, tuple[float, float, float]] = {}
        outputs: dict[str, dict[tuple[str, str], float]] = {}
        for _ in range(ROUNDS):  # interleaved, so background load hits every contender alike
            for name, argv in contenders.items():
                out_dir = work / name.split()[0]
                out_dir.mkdir(exist_ok=True)
                secs, cpu, rss = measure([*argv, "--output-dir", str(out_dir)])
                old = best.get(name, (float("inf"), float("inf"), 0.0))
                best[name] = (min(old[0], secs), min(old[1], cpu), max(old[2], rss))
                outputs[name] = values(out_dir / "store.prom")
        size_mb = store.stat().st_size / 2**20
    reference = outputs["kubepulse textfile"]
    assert len(reference) == 2 * len(TYPES), reference
    for name, got in outputs.items():
        assert got == reference, f"{name} disagrees: {got} != {reference}"

    base_secs, base_cpu, base_rss = best["naive ElementTree.parse + prometheus_client (baseline)"]
    rows = [
        (
            name,
            f"{secs:.2f}",
            f"{secs / base_secs:.2f}x",
            f"{cpu:.2f}",
            f"{cpu / base_cpu:.2f}x",
            f"{rss:.0f}",
            f"{rss / base_rss:.2f}x",
        )
        for name, (secs, cpu, rss) in best.items()
    ]
    secs, cpu, rss = best["kubepulse textfile"]
    wall_x, cpu_x = base_secs / secs, base_cpu / cpu
    rss_ok, speed_ok = rss <= RSS_TARGET_MB, min(wall_x, cpu_x) >= SPEEDUP_TARGET
    verdict = (
        f"Target peak RSS <= {RSS_TARGET_MB} MB: {'met' if rss_ok else 'MISSED'} ({rss:.0f} MB). "
        f"Target >= {SPEEDUP_TARGET:.0f}x faster than naive: {'met' if speed_ok else 'MISSED'} "
        f"(speedup {wall_x:.2f}x wall, {cpu_x:.2f}x CPU)."
    )
    body = (
        f"A {ROWS:,}-row store ({size_mb:.0f} MB, {len(TYPES)} types), rows per type plus the sum "
        f"of a numeric attribute per type, written to a .prom file; each contender in its own "
        f"process (CPU time and peak RSS of that process alone, from wait4); times include "
        f"interpreter start and imports; best of {ROUNDS} interleaved rounds. All contenders' "
        f"values agree. Load average (1, 5, 15 min) at the start: "
        f"{', '.join(f'{x:.1f}' for x in load_start)}; at the end: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores.\n\n"
        + table(
            ["contender", "wall s", "vs naive", "CPU s", "vs naive", "peak RSS MiB", "vs naive"],
            rows,
        )
        + f"\n\n{verdict}"
    )
    write_results("textfile", "kubepulse textfile: 1M-row store, time and peak RSS", body)
    return 0 if rss_ok and speed_ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--contender":
        _, _, which, store_arg, _, out_arg = sys.argv
        IN_PROCESS[which](store_arg, out_arg)
        sys.exit(0)
    sys.exit(main())
