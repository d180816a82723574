"""``kubepulse textfile``: parse XML stores and write node_exporter ``.prom`` files.

Each store gets its own file, named after it (``store.xml`` -> ``store.prom``), so one store's
bad parse never hides another's metrics. ``--name N`` instead combines all the stores into
``N.prom``, each sample labelled with its store's ``path``.

SIGTERM (what systemd and Kubernetes send on stop or timeout) aborts a write in progress and
removes its temporary file: a one-shot run then exits 143, a ``--interval`` loop exits 0. SIGKILL
cannot be caught, so every run starts by removing the temporary files that killed runs left in
the output directory (``writer.remove_stale_temps``).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import click

from kubepulse.exposition.text import escape_label_value, format_value
from kubepulse.textfile.metrics import Outcome, render
from kubepulse.textfile.store import (
    DEFAULT_MAPPING,
    MAX_DEPTH,
    Mapping,
    OnError,
    Row,
    StoreError,
    load_mapping,
    read_store,
)
from kubepulse.textfile.writer import remove_stale_temps, write_atomic

__all__ = ["output_names", "parse_store", "run_once", "textfile"]


def output_names(stores: Sequence[Path], name: str | None) -> dict[str, list[Path]]:
    """Which stores go into which ``.prom`` file (name without the suffix).

    Raises ``click.UsageError`` if two stores would write the same file.
    """
    if name is not None:
        return {name: list(stores)}
    out: dict[str, list[Path]] = {}
    for store in stores:
        stem = store.stem
        if stem in out:
            raise click.UsageError(
                f"{out[stem][0]} and {store} would both write {stem}.prom: "
                "rename one, or combine them with --name"
            )
        out[stem] = [store]
    return out


def parse_store(store: Path, mapping: Mapping, types: frozenset[str] | None) -> Outcome:
    """Parse one store; a failure becomes an ``Outcome`` with its error, never an exception."""
    parsed_at = time.time()
    try:
        summary = read_store(store, mapping, types)
    except StoreError as exc:
        outcome = Outcome(os.path.abspath(store), parsed_at, error=exc)
        try:
            st = store.stat()
            outcome.size_bytes, outcome.mtime_seconds = st.st_size, st.st_mtime
        except OSError:
            pass
        return outcome
    return Outcome(summary.path, parsed_at, summary=summary)


def run_once(
    outputs: dict[str, list[Path]],
    output_dir: Path,
    mapping: Mapping,
    types: frozenset[str] | None,
    on_error: OnError,
) -> list[StoreError]:
    """Parse every store and write each output file; return the errors met.

    An output whose stores all parsed is written. One with a failed store is left as it was
    (``keep``) or written with ``store_parse_success 0`` for that store (``report``).
    """
    errors: list[StoreError] = []
    for name, stores in outputs.items():
        outcomes = [parse_store(store, mapping, types) for store in stores]
        failed = [o.error for o in outcomes if o.error is not None]
        errors += failed
        if failed and on_error == "keep":
            continue
        try:
            write_atomic(output_dir / f"{name}.prom", render(outcomes, mapping))
        except OSError as exc:
            errors.append(
                StoreError(output_dir / f"{name}.prom", f"cannot write: {exc.strerror or exc}")
            )
    return errors


def _show(
    stores: Sequence[Path], mapping: Mapping, types: frozenset[str] | None
) -> list[StoreError]:
    """Print each store's rows, then a per-type summary; write nothing."""
    names = [spec.name for spec in mapping.fields]
    errors: list[StoreError] = []

    def print_row(row: Row) -> None:
        values = "  ".join(f"{n}={format_value(row.values[n])}" for n in names if n in row.values)
        click.echo(
            f"{row.line:>8}:{row.column:<4} {row.tag:<16} "
            f"{escape_label_value(row.type):<24} {values}"
        )

    for store in stores:
        click.echo(f"== {os.path.abspath(store)}")
        click.echo(f"{'LINE:COL':>13} {'TAG':<16} {'TYPE':<24} FIELDS")
        try:
            summary = read_store(store, mapping, types, on_row=print_row)
        except StoreError as exc:
            errors.append(exc)
            continue
        click.echo()
        header = f"{'TYPE':<24} {'ROWS':>10}" + "".join(
            f" {spec.metric:>24}" for spec in mapping.fields
        )
        click.echo(header)
        for t in sorted(summary.rows_by_type):
            cells = [summary.fields.get(n, {}).get(t) for n in names]
            click.echo(
                f"{escape_label_value(t):<24} {summary.rows_by_type[t]:>10}"
                + "".join(f" {'-' if v is None else format_value(v):>24}" for v in cells)
            )
        click.echo(f"{'(total)':<24} {summary.total_rows:>10}")
        click.echo(
            f"size {summary.size_bytes} bytes, modified {time.ctime(summary.mtime_seconds)}\n"
        )
    return errors


def _report(errors: Sequence[StoreError]) -> None:
    for exc in errors:
        click.echo(f"kubepulse textfile: error: {exc}", err=True)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like ``KeyboardInterrupt`` for Ctrl-C, so that a write
    in progress unwinds and removes its temporary file."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _clean_output_dir(output_dir: Path) -> None:
    """Remove what killed runs left behind, saying so; a file that cannot go is a warning."""
    removed, failed = remove_stale_temps(output_dir)
    for path in removed:
        click.echo(
            f"kubepulse textfile: removed {path}, a temporary file left by an interrupted run",
            err=True,
        )
    for path, exc in failed:
        click.echo(
            f"kubepulse textfile: warning: stale temporary files: {path}: {exc.strerror or exc}",
            err=True,
        )


@click.command(
    epilog="""\b
Example:
  kubepulse textfile /var/lib/app/store.xml --output-dir /var/lib/prometheus/node-exporter
  kubepulse textfile store.xml --type order --type refund --show
  kubepulse textfile a.xml b.xml --name app --config mapping.yml --output-dir DIR --interval 30
""",
)
@click.argument("stores", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output-dir",
    type=click.Path(exists=True, file_okay=False, writable=True, path_type=Path),
    help="node_exporter's --collector.textfile.directory.",
)
@click.option(
    "--name",
    help="Write all stores into one NAME.prom, instead of one file per store named after it.",
)
@click.option("--type", "types", multiple=True, help="Only count rows of this type (repeatable).")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Mapping config (YAML): row element, type source, numeric fields, on_error.",
)
@click.option(
    "--on-error",
    type=click.Choice(["keep", "report"]),
    help="On a failed parse: keep the previous .prom (default), or report store_parse_success 0.",
)
@click.option(
    "--max-depth",
    type=click.IntRange(min=1),
    metavar="N",
    help=f"Refuse a store whose elements nest deeper than N levels, the root being level 1 "
    f"(default {MAX_DEPTH}, or max_depth in the config): an error at the offending element, "
    "so that memory stays bounded by the size of a row.",
)
@click.option("--show", is_flag=True, help="Print the parsed rows and a summary; write nothing.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Run again every SECONDS until stopped (sidecar mode); errors are logged, not fatal.",
)
def textfile(
    stores: tuple[Path, ...],
    output_dir: Path | None,
    name: str | None,
    types: tuple[str, ...],
    config: Path | None,
    on_error: OnError | None,
    max_depth: int | None,
    show: bool,
    interval: float | None,
) -> None:
    """Turn XML stores into node_exporter textfile metrics (.prom files).

    Each STORE's rows are counted per type (store_rows, store_total_rows) and, if the mapping
    config says so, numeric fields are aggregated per type. The file's size and mtime, whether
    the parse succeeded and when it ran are exported too. Files are replaced atomically.
    Without --config, every child of the root element is a row, typed by its `type`
    attribute, else its tag name.
    """
    if name is not None and (not name.removesuffix(".prom") or "/" in name or name.startswith(".")):
        raise click.BadParameter("must be a plain file name, e.g. 'app'", param_hint="--name")
    name = name.removesuffix(".prom") if name is not None else None
    if show and interval is not None:
        raise click.UsageError("--show and --interval cannot be combined")
    if not show and output_dir is None:
        raise click.UsageError("--output-dir is required (or --show to print without writing)")
    try:
        mapping = load_mapping(config) if config is not None else DEFAULT_MAPPING
    except StoreError as exc:
        _report([exc])
        sys.exit(1)
    if max_depth is not None:
        mapping = dataclasses.replace(mapping, max_depth=max_depth)
    wanted = frozenset(types) if types else None
    if show:
        errors = _show(stores, mapping, wanted)
        _report(errors)
        sys.exit(1 if errors else 0)
    assert output_dir is not None
    outputs = output_names(stores, name)
    policy: OnError = on_error or mapping.on_error

    def run() -> list[StoreError]:
        return run_once(outputs, output_dir, mapping, wanted, policy)

    # Before any write: an interrupted write removes its temporary file instead of leaving it.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if interval is None:
            _run_once(output_dir, run)
        else:
            _run_every(interval, output_dir, run)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_once(output_dir: Path, run: Callable[[], list[StoreError]]) -> None:
    """One run; exit 1 if a store failed, 143 if terminated (nothing half-written is left)."""
    try:
        _clean_output_dir(output_dir)
        errors = run()
    except Terminated:
        click.echo("kubepulse textfile: terminated", err=True)
        sys.exit(128 + signal.SIGTERM)
    _report(errors)
    sys.exit(1 if errors else 0)


def _run_every(interval: float, output_dir: Path, run: Callable[[], list[StoreError]]) -> None:
    """Sidecar mode: run every ``interval`` seconds until SIGTERM or Ctrl-C, then exit 0."""
    wake = threading.Event()
    try:
        _clean_output_dir(output_dir)
        next_run = time.monotonic()
        while True:
            _report(run())
            next_run += interval
            # Behind schedule (a parse longer than the interval): start again now, don't pile up.
            next_run = max(next_run, time.monotonic())
            wake.wait(next_run - time.monotonic())
    except (KeyboardInterrupt, Terminated):
        click.echo("kubepulse textfile: stopped", err=True)
