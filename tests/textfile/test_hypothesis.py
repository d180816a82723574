"""Generated stores with arbitrary type names always give valid, correctly escaped exposition."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from hypothesis import given, settings
from hypothesis import strategies as st
from textfile_helpers import parse_samples

from kubepulse.textfile.metrics import Outcome, render
from kubepulse.textfile.store import DEFAULT_MAPPING, Mapping, Source, read_store

# Every character XML 1.0 can carry (so none of the C0 controls but tab, newline and return);
# the rest of Unicode is fair game, quotes, backslashes and astral planes included.
XML_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
    + ["\ufffe", "\uffff"],
)
TYPE_NAMES = st.one_of(
    st.text(XML_CHARS, max_size=30),
    st.sampled_from(['"', "\\", "\n", '\\"', "\\n", 'a"b\\c\nd', "é✓🙂", '{x="y"}', " ", "\r\n"]),
)
BY_CHILD = Mapping(type_source=Source("child", "kind"))


def _expected_type(name: str, by_child: bool) -> str:
    """What the type should be: child text is stripped; an empty type falls back to the tag; a
    CR (CRLF as one) is a newline, the one line break the exposition format can carry."""
    value = name.strip() if by_child else name
    return (value or "row").replace("\r\n", "\n").replace("\r", "\n")


@given(
    names=st.lists(st.tuples(TYPE_NAMES, st.integers(1, 3)), min_size=1, max_size=8),
    by_child=st.booleans(),
)
@settings(max_examples=150, deadline=None)
def _check(
    tmp_path: Path, collected: list[Outcome], names: list[tuple[str, int]], by_child: bool
) -> None:
    rows = []
    for name, count in names:
        if by_child:
            # Escaping \r too: XML parsers turn a literal CR into LF.
            row = f"<row><kind>{escape(name, {chr(13): '&#13;'})}</kind></row>"
        else:
            row = f"<row type={quoteattr(name)}/>"
        rows += [row] * count
    store = tmp_path / f"store-{len(collected)}.xml"
    store.write_text(f"<store>{''.join(rows)}</store>", encoding="utf-8")
    mapping = BY_CHILD if by_child else DEFAULT_MAPPING
    summary = read_store(store, mapping)
    outcome = Outcome(summary.path, 1.0, summary=summary)
    collected.append(outcome)

    got = parse_samples(render([outcome], mapping))
    expected: Counter[str] = Counter()
    for name, count in names:
        expected[_expected_type(name, by_child)] += count
    p = ("path", str(store))
    assert {dict(k)["type"]: v for k, v in got["store_rows"].items()} == expected
    assert got["store_total_rows"] == {(p,): sum(expected.values())}


def test_generated_type_names_round_trip_and_pass_promtool(
    tmp_path: Path, promtool: Callable[[str], None]
) -> None:
    collected: list[Outcome] = []
    _check(tmp_path, collected)
    # One promtool run covers every example: each store is its own path label in one page
    # (neither mapping has fields, so the families are the same).
    page = render(collected, DEFAULT_MAPPING)
    promtool(page)
    assert len(parse_samples(page)["store_total_rows"]) == len(collected) >= 100
