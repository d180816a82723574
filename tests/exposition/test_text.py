"""Exposition text: escaping and number formatting agree with prometheus_client's parser."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from kubepulse.exposition.text import Family, format_value, render_labels, sample


def parse_one(text: str):
    families = list(text_string_to_metric_families(text))
    assert len(families) == 1
    return families[0]


@given(st.text())
def test_any_label_value_round_trips_through_the_parser(value):
    family = Family("demo_rows", "Rows.\nSecond line \\ too")
    text = family.header + sample("demo_rows", {"type": value, "path": "/tmp/x"}, 3)
    parsed = parse_one(text)
    assert parsed.documentation == "Rows.\nSecond line \\ too"
    [s] = parsed.samples
    assert s.labels == {"type": value, "path": "/tmp/x"}
    assert s.value == 3


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
