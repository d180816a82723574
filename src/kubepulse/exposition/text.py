"""The one place that renders Prometheus text exposition (format 0.0.4) and escapes it.

Exporters that pre-render samples (the cluster exporter's store, textfile writers) build lines
with these functions, so escaping and number formatting are the same everywhere and match what
``prometheus_client`` emits.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "CONTENT_TYPE",
    "Family",
    "escape_help",
    "escape_label_value",
    "format_value",
    "gzip_member",
    "label_pairs",
    "render_labels",
    "sample",
    "valid_label_name",
    "valid_metric_name",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# The format has one line-break escape, ``\n``; ``\r`` is not one (Prometheus refuses it), and a raw
# CR passes Prometheus but splits the line for any reader that opens the file in text mode
# (Python's universal newlines, prometheus_client's parser). So CR is written as a line break:
# CRLF as one ``\n``, a lone CR as ``\n``.
_LABEL_ESCAPES = str.maketrans({"\\": r"\\", '"': r"\"", "\n": r"\n", "\r": r"\n"})
_HELP_ESCAPES = str.maketrans({"\\": r"\\", "\n": r"\n", "\r": r"\n"})

Labels = Mapping[str, str] | Iterable[tuple[str, str]]


def valid_metric_name(name: str) -> bool:
    return bool(_METRIC_NAME.match(name))


def valid_label_name(name: str) -> bool:
    return bool(_LABEL_NAME.match(name)) and not name.startswith("__")


def escape_label_value(value: str) -> str:
    """Escape backslash, double quote and newline, as the text format requires; a CR (or CRLF)
    becomes an escaped newline, so every parser reads the value back on one line."""
    if "\r" in value:
        value = value.replace("\r\n", "\n")
    return value.translate(_LABEL_ESCAPES)


def escape_help(text: str) -> str:
    """Escape backslash and newline in HELP text (CR and CRLF as a newline)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return text.translate(_HELP_ESCAPES)


def label_pairs(labels: Labels) -> str:
    """``a="x",b="y"`` in the given order (values escaped), without braces."""
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    return ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)


def render_labels(labels: Labels) -> str:
    """``{a="x",b="y"}`` in the given order, or ``""`` for no labels."""
    body = label_pairs(labels)
    return f"{{{body}}}" if body else ""


def gzip_member(data: bytes | Iterable[bytes]) -> bytes:
    """One complete gzip member of ``data`` (bytes, or chunks compressed in order, never
    joined first), at level 1: the speed Prometheus-side decompression never notices."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunks = (data,) if isinstance(data, bytes) else data
    parts = [compressor.compress(chunk) for chunk in chunks]
    parts.append(compressor.flush())
    return b"".join(parts)


def format_value(value: float) -> str:
    """Integers without a decimal point, NaN and infinities as Prometheus spells them."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def sample(name: str, labels: Labels, value: float) -> str:
    """One sample line, newline included."""
    return f"{name}{render_labels(labels)} {format_value(value)}\n"


@dataclass(frozen=True)
class Family:
    """A metric family's identity: what its ``# HELP`` and ``# TYPE`` lines say."""

    name: str
    help: str
    type: str = "gauge"

    def __post_init__(self) -> None:
        if not valid_metric_name(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.type not in {
            "counter",
            "gauge",
            "histogram",
            "summary",
            "untyped",
            "info",
            "stateset",
        }:
            raise ValueError(f"invalid metric type {self.type!r} for {self.name}")

    @property
    def header(self) -> str:
        """The ``# HELP`` and ``# TYPE`` lines, newline included."""
        return f"# HELP {self.name} {escape_help(self.help)}\n# TYPE {self.name} {self.type}\n"
