"""Exposition text: escaping and number formatting agree with prometheus_client's parser."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_fd_to_metric_families, text_string_to_metric_families

from kubepulse.exposition.text import Family, format_value, render_labels, sample
from kubepulse.lab.releases import binary


def parse_one(text: str):
    families = list(text_string_to_metric_families(text))
    assert len(families) == 1
    return families[0]


def _line_breaks(value: str) -> str:
    """What a value reads back as: CRLF and a lone CR are written as one escaped newline."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


@given(st.text())
def test_any_label_value_round_trips_through_the_parser(value):
    family = Family("demo_rows", "Rows.\nSecond line \\ too")
    text = family.header + sample("demo_rows", {"type": value, "path": "/tmp/x"}, 3)
    # The rendered text has no CR at all, so a reader that opens it in text mode (universal
    # newlines) sees the same lines as one that does not.
    assert "\r" not in text
    parsed = parse_one(text)
    assert parsed.documentation == "Rows.\nSecond line \\ too"
    [s] = parsed.samples
    assert s.labels == {"type": _line_breaks(value), "path": "/tmp/x"}
    assert s.value == 3


def test_a_carriage_return_is_read_back_by_prometheus_client_and_promtool(tmp_path: Path):
    """A raw CR passes promtool but splits the line for prometheus_client reading the file in
    text mode; rendered as an escaped newline, both read it (control case: the raw CR)."""
    family = Family("demo_rows", "Rows.\r\nWindows line")
    body = family.header + sample("demo_rows", {"note": "a\r\nb\rc"}, 1)
    assert body.splitlines()[2] == 'demo_rows{note="a\\nb\\nc"} 1'
    path = tmp_path / "rows.prom"
    path.write_text(body, newline="")
    with path.open() as fh:
        [parsed] = list(text_fd_to_metric_families(fh))
    assert parsed.documentation == "Rows.\nWindows line"
    assert [s.labels for s in parsed.samples] == [{"note": "a\nb\nc"}]
    lint = subprocess.run(
        [binary("promtool"), "check", "metrics"], input=body.encode(), capture_output=True
    )
    assert lint.returncode == 0, lint.stderr
    raw = tmp_path / "raw.prom"
    raw.write_text(family.header.replace("\\n", " ") + 'demo_rows{note="a\rb"} 1\n', newline="")
    with raw.open() as fh, pytest.raises(ValueError):
        list(text_fd_to_metric_families(fh))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (1.0, "1"),
        (0.25, "0.25"),
        (True, "1"),
        (-3, "-3"),
        (1e20, "1e+20"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (1700000000.5, "1700000000.5"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


def test_labels_keep_their_order_and_empty_labels_render_nothing():
    assert render_labels([("b", "1"), ("a", 'x"y')]) == '{b="1",a="x\\"y"}'
    assert render_labels({}) == ""
    assert sample("up", {}, 1) == "up 1\n"


def test_bad_family_names_and_types_are_refused():
    with pytest.raises(ValueError, match="metric name"):
        Family("9lives", "x")
    with pytest.raises(ValueError, match="metric type"):
        Family("ok_name", "x", "gaugee")
