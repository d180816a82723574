"""Render parse outcomes as textfile metrics, through ``kubepulse.exposition.text``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubepulse.exposition.text import Family, sample
from kubepulse.textfile.store import Mapping, StoreError, StoreSummary

__all__ = ["FAMILIES", "Outcome", "render"]

TOTAL_ROWS = Family("store_total_rows", "Total rows in store")
ROWS = Family("store_rows", "Rows in store, by type")
SIZE = Family("store_file_size_bytes", "Size of the store file in bytes")
MTIME = Family(
    "store_file_mtime_seconds", "Last modification time of the store file, seconds since the epoch"
)
SUCCESS = Family(
    "store_parse_success", "1 if the last parse of the store succeeded, 0 if it failed"
)
LAST_PARSE = Family(
    "store_last_parse_timestamp_seconds", "When the store was last parsed, seconds since the epoch"
)
FAMILIES = (TOTAL_ROWS, ROWS, SIZE, MTIME, SUCCESS, LAST_PARSE)


@dataclass
class Outcome:
    """One store's parse: its summary, or the error and whatever could be read about the file."""

    path: str
    parsed_at: float
    summary: StoreSummary | None = None
    error: StoreError | None = None
    size_bytes: int | None = None
    mtime_seconds: float | None = None


def render(outcomes: Sequence[Outcome], mapping: Mapping) -> str:
    """The ``.prom`` text for ``outcomes`` (one store each), families in a fixed order.

    A failed outcome contributes ``store_parse_success 0``, the parse time and, if the file could
    be stat'ed, its size and mtime; never row counts from a partial parse.
    """
    lines: dict[Family, list[str]] = {f: [] for f in FAMILIES}
    field_lines: dict[str, list[str]] = {spec.name: [] for spec in mapping.fields}
    for o in outcomes:
        path = (("path", o.path),)
        s = o.summary
        if s is not None:
            lines[TOTAL_ROWS].append(sample(TOTAL_ROWS.name, path, s.total_rows))
            for t in sorted(s.rows_by_type):
                lines[ROWS].append(sample(ROWS.name, (*path, ("type", t)), s.rows_by_type[t]))
            for spec in mapping.fields:
                per_type = s.fields.get(spec.name, {})
                field_lines[spec.name] += [
                    sample(spec.metric, (*path, ("type", t)), per_type[t]) for t in sorted(per_type)
                ]
        size = s.size_bytes if s is not None else o.size_bytes
        mtime = s.mtime_seconds if s is not None else o.mtime_seconds
        if size is not None and mtime is not None:
            lines[SIZE].append(sample(SIZE.name, path, size))
            lines[MTIME].append(sample(MTIME.name, path, mtime))
        lines[SUCCESS].append(sample(SUCCESS.name, path, 0 if s is None else 1))
        lines[LAST_PARSE].append(sample(LAST_PARSE.name, path, o.parsed_at))
    out: list[str] = []
    for family, samples in lines.items():
        if samples:
            out += [family.header, *samples]
    for spec in mapping.fields:
        if field_lines[spec.name]:
            out += [Family(spec.metric, spec.description).header, *field_lines[spec.name]]
    return "".join(out)
