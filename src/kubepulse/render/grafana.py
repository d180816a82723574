"""Grafana's semantics the renderer needs: durations and times, the built-in variables of a time
range, template variables as a viewer sees them on first load, and their substitution in PromQL."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubepulse.render.prometheus import Prometheus

__all__ = [
    "TimeRange",
    "format_duration",
    "parse_duration",
    "parse_time",
    "resolve_variables",
    "substitute",
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus/Grafana duration such as ``90s``, ``5m`` or ``1h30m``."""
    text = text.strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"bad duration {text!r}: use e.g. 30s, 5m, 1h")
    return total


def format_duration(seconds: float) -> str:
    """The shortest whole-unit Prometheus duration for ``seconds`` (at least ``1s``)."""
    seconds = max(1, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds for ``now``, ``now-15m``, a Unix timestamp or an ISO 8601 date-time."""
    now = time.time() if now is None else now
    text = text.strip()
    if text == "now":
        return now
    match = re.fullmatch(r"now\s*-\s*(\S+)", text)
    if match:
        return now - parse_duration(match.group(1))
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r}: use now, now-1h, a Unix time or ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True)
class TimeRange:
    """The window rendered and the step between points."""

    start: float
    end: float
    step: float
    scrape_interval: float = 15.0

    def builtins(self) -> dict[str, str]:
        """Grafana's built-in variables for this range."""
        span = self.end - self.start
        rate = max(self.step + self.scrape_interval, 4 * self.scrape_interval)
        return {
            "__interval": format_duration(self.step),
            "__interval_ms": str(int(self.step * 1000)),
            "__rate_interval": format_duration(rate),
            "__range": format_duration(span),
            "__range_s": str(int(span)),
            "__range_ms": str(int(span * 1000)),
        }


def _current(variable: Mapping[str, Any]) -> list[str] | None:
    current = variable.get("current") or {}
    value = current.get("value") if isinstance(current, Mapping) else None
    if value in (None, "", []):
        return None
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values]


def _join(values: Sequence[str]) -> str:
    """Several values of a multi-value variable as Grafana puts them in PromQL: a regex group."""
    if len(values) == 1:
        return values[0]
    return "(" + "|".join(re.escape(v) for v in values) + ")"


def resolve_variables(
    dashboard: Mapping[str, Any],
    overrides: Mapping[str, str],
    prometheus: Prometheus | None,
    window: TimeRange,
) -> dict[str, str]:
    """Every template variable's value as it goes into a query (see the module docstring).

    ``label_values(SELECTOR, LABEL)`` is asked of ``prometheus``; a variable whose query finds
    nothing becomes ``.*`` so its panels still render what there is.
    """
    values = window.builtins()
    templating = dashboard.get("templating") or {}
    for variable in templating.get("list") or []:
        name = str(variable.get("name", ""))
        kind = variable.get("type")
        if not name or kind == "datasource":
            continue
        if name in overrides:
            values[name] = overrides[name]
            continue
        current = _current(variable)
        if variable.get("includeAll") and (current is None or "$__all" in current):
            values[name] = str(variable.get("allValue") or ".*")
            continue
        if current is not None and "$__all" not in current:
            values[name] = _join(current)
            continue
        options = [str(o.get("value")) for o in variable.get("options") or [] if "value" in o]
        if not options and kind == "custom":
            options = [v.strip() for v in str(variable.get("query", "")).split(",") if v.strip()]
        if not options and kind in ("constant", "textbox"):
            options = [str(variable.get("query", ""))]
        if not options and kind == "query" and prometheus is not None:
            query = variable.get("query")
            if isinstance(query, Mapping):
                query = query.get("query", "")
            match = re.fullmatch(r"\s*label_values\(\s*(?:(.+),\s*)?(\w+)\s*\)\s*", str(query))
            if match:
                selector = substitute(match.group(1), values) if match.group(1) else None
                options = prometheus.label_values(
                    match.group(2), selector, window.start, window.end
                )
        values[name] = options[0] if options else ".*"
    values.update({k: v for k, v in overrides.items() if k not in values})
    return values


# ``$1`` is label_replace's capture group, never a variable (Grafana leaves it alone too).
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$([A-Za-z_]\w*)")


def substitute(expr: str, values: Mapping[str, str], *, strict: bool = False) -> str:
    """``expr`` with ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]`` replaced; unknown ones
    kept, or with ``strict`` a ``KeyError`` naming the first."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in values:
            return values[name]
        if strict:
            raise KeyError(f"no value for dashboard variable ${name} in {expr!r}")
        return match.group(0)

    return _VARIABLE.sub(repl, expr)
