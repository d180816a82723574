"""Values as Grafana shows them in a panel's unit (short, percent, bytes, s, reqps, ...)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["format_value"]


def _scaled(value: float, base: float, units: Sequence[str], digits: int = 3) -> str:
    index = 0
    magnitude = abs(value)
    while magnitude >= base and index < len(units) - 1:
        magnitude /= base
        value /= base
        index += 1
    return f"{_number(value, digits)}{units[index]}"


def _number(value: float, digits: int = 3) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{min(decimals, 6)}f}".rstrip("0").rstrip(".")


def format_value(value: float | None, unit: str | None) -> str:
    """``value`` as Grafana shows it in ``unit`` (short, percent, bytes, s, reqps, ...).

    An unknown unit is shown as a suffix, as Grafana does with custom units.
    """
    if value is None or math.isnan(value):
        return "No data"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    unit = unit or "short"
    if unit in ("short", ""):
        return _scaled(value, 1000, ("", " K", " Mil", " Bil", " Tri"))
    if unit == "none":
        return _number(value)
    if unit == "percent":
        return f"{_number(value)}%"
    if unit == "percentunit":
        return f"{_number(value * 100)}%"
    if unit in ("bytes", "decbytes"):
        base = 1024 if unit == "bytes" else 1000
        suffixes = (
            (" B", " KiB", " MiB", " GiB", " TiB")
            if base == 1024
            else (" B", " kB", " MB", " GB", " TB")
        )
        return _scaled(value, base, suffixes)
    if unit in ("Bps", "binBps"):
        return _scaled(value, 1024, (" B/s", " KiB/s", " MiB/s", " GiB/s"))
    if unit in ("s", "ms"):
        seconds = value / 1000 if unit == "ms" else value
        magnitude = abs(seconds)
        if magnitude == 0:
            return "0 s"
        if magnitude < 1:
            return f"{_number(seconds * 1000)} ms"
        if magnitude < 60:
            return f"{_number(seconds)} s"
        if magnitude < 3600:
            return f"{_number(seconds / 60)} min"
        if magnitude < 86400:
            return f"{_number(seconds / 3600)} hour"
        return f"{_number(seconds / 86400)} day"
    rates = {"reqps": " req/s", "ops": " ops/s", "rps": " rd/s", "wps": " wr/s", "cps": " c/s"}
    if unit in rates:
        return _scaled(value, 1000, ("", " K", " Mil")) + rates[unit]
    return f"{_number(value)} {unit}"
