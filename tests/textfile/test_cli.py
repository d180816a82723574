"""``kubepulse textfile``: the seed's case, mapping configs, filters, multiple stores, bad input.

Every ``.prom`` file produced here also passes ``promtool check metrics``.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from textfile_helpers import StoreWriter, parse_samples, textfile_process

from kubepulse.cli import main
from kubepulse.textfile.writer import write_atomic

SEED_ROWS = (
    '<row type="order"/>',
    '<row type="order"/>',
    '<row type="refund"/>',
    "<customer/>",
    "<customer><name>x</name></customer>",
    '<row type="order" />',
)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["textfile", *map(str, args)])


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_seed_case_without_config(
    write_store: StoreWriter, out: Path, promtool: Callable[[str], None]
) -> None:
    store = write_store(*SEED_ROWS)
    before = time.time()
    result = run(store, "--output-dir", out)
    after = time.time()
    assert result.exit_code == 0, result.output
    assert os.listdir(out) == ["store.prom"]
    text = (out / "store.prom").read_text()
    label = f'path="{store}"'
    assert text.startswith(
        "# HELP store_total_rows Total rows in store\n"
        "# TYPE store_total_rows gauge\n"
        f"store_total_rows{{{label}}} 6\n"
    )
    promtool(text)
    got = parse_samples(text)
    p = ("path", str(store))
    assert got["store_rows"] == {
        (p, ("type", "order")): 3,
        (p, ("type", "refund")): 1,
        (p, ("type", "customer")): 2,
    }
    st = store.stat()
    assert got["store_file_size_bytes"] == {(p,): st.st_size}
    assert got["store_file_mtime_seconds"] == {(p,): pytest.approx(st.st_mtime, abs=1e-6)}
    assert got["store_parse_success"] == {(p,): 1}
    assert before <= got["store_last_parse_timestamp_seconds"][(p,)] <= after
    assert oct((out / "store.prom").stat().st_mode & 0o777) == "0o644"


def test_mapping_config_rows_types_and_fields(
    write_store: StoreWriter, tmp_path: Path, out: Path, promtool: Callable[[str], None]
) -> None:
    store = write_store(
        '<orders><order id="1"><kind>book</kind><amount>12.5</amount><qty>2</qty></order>',
        '<order id="2"><kind> book </kind><amount>7</amount><qty>5</qty></order>',
        '<order id="3"><kind>dvd</kind><amount>-3</amount></order>',
        '<order id="4"><amount>1e3</amount><meta><kind>ignored: not a direct child</kind></meta>'
        "</order></orders>",
        '<summary kind="not-a-row"><order-count>4</order-count></summary>',
    )
    config = tmp_path / "mapping.yml"
    config.write_text(
        "row: order\n"
        "type: {child: kind, default: unknown}\n"
        "fields:\n"
        "  - {name: amount, child: amount}\n"
        "  - {name: qty, child: qty, aggregate: max}\n"
        "  - {name: amount_low, child: amount, aggregate: min}\n"
        "  - {name: id, attribute: id, aggregate: last, help: Id of the last row}\n"
    )
    result = run(store, "--output-dir", out, "--config", config)
    assert result.exit_code == 0, result.output
    text = (out / "store.prom").read_text()
    promtool(text)
    got = parse_samples(text)
    p = ("path", str(store))

    def by_type(name: str) -> dict[str, float]:
        return {dict(k)["type"]: v for k, v in got[name].items()}

    assert got["store_total_rows"] == {(p,): 4}
    assert by_type("store_rows") == {"book": 2, "dvd": 1, "unknown": 1}
    assert by_type("store_amount") == {"book": 19.5, "dvd": -3, "unknown": 1000}
    assert by_type("store_qty_max") == {"book": 5}
    assert by_type("store_amount_low_min") == {"book": 7, "dvd": -3, "unknown": 1000}
    assert by_type("store_id_last") == {"book": 2, "dvd": 3, "unknown": 4}
    assert "# HELP store_id_last Id of the last row\n# TYPE store_id_last gauge\n" in text


def test_type_filter_counts_only_those_types_and_reports_absent_ones_as_zero(
    write_store: StoreWriter, out: Path, promtool: Callable[[str], None]
) -> None:
    store = write_store(*SEED_ROWS)
    result = run(store, "--output-dir", out, "--type", "order", "--type", "gone")
    assert result.exit_code == 0, result.output
    text = (out / "store.prom").read_text()
    promtool(text)
    got = parse_samples(text)
    p = ("path", str(store))
    assert got["store_total_rows"] == {(p,): 3}
    assert got["store_rows"] == {(p, ("type", "order")): 3, (p, ("type", "gone")): 0}


def test_one_file_per_store_or_one_combined_with_name(
    write_store: StoreWriter, out: Path, promtool: Callable[[str], None]
) -> None:
    a = write_store('<r type="x"/>', name="a.xml")
    b = write_store('<r type="x"/>', '<r type="y"/>', name="b.xml")
    assert run(a, b, "--output-dir", out).exit_code == 0
    assert sorted(os.listdir(out)) == ["a.prom", "b.prom"]
    assert parse_samples((out / "b.prom").read_text())["store_total_rows"] == {
        (("path", str(b)),): 2
    }

    assert run(a, b, "--output-dir", out, "--name", "app").exit_code == 0
    text = (out / "app.prom").read_text()
    promtool(text)
    assert parse_samples(text)["store_total_rows"] == {
        (("path", str(a)),): 1,
        (("path", str(b)),): 2,
    }
    assert text.count("# TYPE store_rows gauge") == 1

    other = a.parent / "sub"
    other.mkdir()
    clash = other / "a.xml"
    clash.write_bytes(a.read_bytes())
    result = run(a, clash, "--output-dir", out)
    assert result.exit_code == 2
    assert "would both write a.prom" in result.stderr


def _error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
]>
<store><row type="&lol2;"/></store>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE store [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<store><row type="a">&secret;</row></store>
"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE store SYSTEM "http://127.0.0.1:1/evil.dtd">
<store><row type="a"/></store>
"""

BAD_STORES = {
    "malformed": ("<store>\n  <row type='a'>\n</store>\n", r":3:3: malformed XML: mismatched tag$"),
    "truncated": ("<store>\n  <row type='a'/>\n  <ro", r":3:3: malformed XML: unclosed token$"),
    "empty": ("", r":1:1: malformed XML: no element found$"),
    "billion-laughs": (BILLION_LAUGHS, r":3:15: entity declaration 'lol' refused: entities are"),
    "xxe": (XXE, r":2:62: entity declaration 'secret' refused"),
    "external-dtd": (
        EXTERNAL_DTD,
        r":2:\d+: external reference 'http://127.0.0.1:1/evil.dtd' refused",
    ),
}


@pytest.mark.parametrize("case", BAD_STORES)
def test_bad_store_fails_with_position_and_keeps_previous_file(
    case: str, tmp_path: Path, write_store: StoreWriter, out: Path
) -> None:
    store = write_store('<row type="a"/>')
    assert run(store, "--output-dir", out).exit_code == 0
    previous = (out / "store.prom").read_bytes()
    content, expected = BAD_STORES[case]
    store.write_text(content)
    result = run(store, "--output-dir", out)
    assert result.exit_code == 1
    line = _error_line(result)
    assert line.startswith(f"kubepulse textfile: error: {store}:")
    assert re.search(expected, line), line
    assert (out / "store.prom").read_bytes() == previous
    assert os.listdir(out) == ["store.prom"]


def test_missing_store_and_non_numeric_field(
    write_store: StoreWriter, tmp_path: Path, out: Path
) -> None:
    missing = tmp_path / "nope.xml"
    result = run(missing, "--output-dir", out)
    assert result.exit_code == 1
    assert _error_line(result) == f"kubepulse textfile: error: {missing}: No such file or directory"

    store = write_store('<r type="a" n="1"/>', '<r type="a" n="2"/>', '<r type="b"\n     n="x1"/>')
    config = tmp_path / "m.yml"
    config.write_text("fields: [{name: n, attribute: n}]\n")
    result = run(store, "--output-dir", out, "--config", config)
    assert result.exit_code == 1
    assert _error_line(result) == (
        f"kubepulse textfile: error: {store}:5:3: field 'n' (attribute 'n') is not a number: 'x1'"
    )
    assert os.listdir(out) == []


BAD_CONFIGS = {
    "yaml-syntax": ("row: order\ntype: [attribute: kind\n", r":3:1: invalid YAML"),
    "unknown-key": ("row: order\ntypes: {attribute: kind}\n", r":2:1: unknown key 'types'"),
    "both-sources": ("type: {attribute: a, child: b}\n", r":1:7: type needs exactly one of"),
    "aggregate": ("fields:\n  - {name: n, attribute: n, aggregate: avg}\n", r":2:40: fields\[0\]"),
    "metric-name": ("fields:\n  - {name: 'bad name', attribute: n}\n", r":2:12: fields\[0\].name"),
    "builtin-clash": ("fields:\n  - {name: rows, child: n}\n", r":2:12: .*store_rows"),
    "reserved-suffix": ("fields:\n  - {name: n_total, child: n}\n", r":2:12: .*'store_n_total'"),
    "on-error": ("on_error: ignore\n", r":1:11: on_error must be 'keep' or 'report'"),
    "max-depth-zero": ("max_depth: 0\n", r":1:12: max_depth must be a whole number, at least 1$"),
    "max-depth-text": ("max_depth: '3'\n", r":1:12: max_depth must be a whole number"),
    "max-depth-list": ("max_depth: [3]\n", r":1:12: max_depth must be a whole number"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_fails_with_position(
    case: str, tmp_path: Path, write_store: StoreWriter, out: Path
) -> None:
    store = write_store('<row type="a"/>')
    config = tmp_path / "mapping.yml"
    content, expected = BAD_CONFIGS[case]
    config.write_text(content)
    result = run(store, "--output-dir", out, "--config", config)
    assert result.exit_code == 1
    line = _error_line(result)
    assert line.startswith(f"kubepulse textfile: error: {config}:")
    assert re.search(expected, line), line
    assert os.listdir(out) == []


def test_types_with_cr_lf_or_crlf_are_one_series(
    write_store: StoreWriter, out: Path, promtool: Callable[[str], None]
) -> None:
    """A line break is exported as the format's one escape, ``\\n``: types that differ only in
    CR, LF or CRLF are one label value, so they are counted as one type (else: duplicate series)."""
    store = write_store('<r type="a&#13;b"/>', '<r type="a&#10;b"/>', '<r type="a&#13;&#10;b"/>')
    assert run(store, "--output-dir", out).exit_code == 0
    text = (out / "store.prom").read_text()
    promtool(text)
    assert 'type="a\\nb"} 3\n' in text
    assert parse_samples(text)["store_rows"] == {(("path", str(store)), ("type", "a\nb")): 3}


def test_max_depth_from_the_flag_or_the_config_refuses_deeper_elements_only(
    write_store: StoreWriter, tmp_path: Path, out: Path
) -> None:
    # store (1) > row (2) > item (3) > x (4), the x on line 4 of the file, column 24.
    store = write_store('<row type="a"><item>\n                       <x/></item></row>')
    config = tmp_path / "m.yml"
    too_deep = (
        f"kubepulse textfile: error: {store}:4:24: element <x> is nested 4 levels deep, "
        "more than the limit of 3 (--max-depth, or max_depth in the config)"
    )
    for flags in (["--max-depth", "3"], ["--config", str(config)]):
        config.write_text("max_depth: 3\n")
        result = run(store, "--output-dir", out, *flags)
        assert result.exit_code == 1
        assert _error_line(result) == too_deep
        assert os.listdir(out) == []
    # Four levels are allowed at 4, and the flag wins over the config.
    result = run(store, "--output-dir", out, "--config", config, "--max-depth", "4")
    assert (result.exit_code, result.stderr) == (0, "")
    config.write_text("max_depth: 0x4\n")  # any YAML integer
    assert run(store, "--output-dir", out, "--config", config).exit_code == 0
    assert run(store, "--output-dir", out, "--max-depth", "0").exit_code == 2
    assert parse_samples((out / "store.prom").read_text())["store_rows"] == {
        (("path", str(store)), ("type", "a")): 1
    }


def test_report_mode_writes_parse_success_zero(
    write_store: StoreWriter, tmp_path: Path, out: Path, promtool: Callable[[str], None]
) -> None:
    store = write_store('<row type="a"/>')
    good = write_store('<row type="b"/>', name="good.xml")
    assert run(store, good, "--output-dir", out, "--name", "app").exit_code == 0
    store.write_text("<store><row></store>")
    config = tmp_path / "m.yml"
    config.write_text("on_error: report\n")
    for flags in (["--on-error", "report"], ["--config", str(config)]):
        result = run(store, good, "--output-dir", out, "--name", "app", *flags)
        assert result.exit_code == 1
        text = (out / "app.prom").read_text()
        promtool(text)
        got = parse_samples(text)
        bad, ok = ("path", str(store)), ("path", str(good))
        assert got["store_parse_success"] == {(bad,): 0, (ok,): 1}
        assert got["store_total_rows"] == {(ok,): 1}
        assert got["store_file_size_bytes"][(bad,)] == store.stat().st_size
        assert (bad,) in got["store_last_parse_timestamp_seconds"]


def test_atomic_write_failure_leaves_target_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "x.prom"
    target.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "new \udc80\n")  # a lone surrogate cannot be encoded
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["x.prom"]

    blocked = tmp_path / "dir.prom"
    blocked.mkdir()  # os.replace of a file over a directory fails after the temp file is written
    with pytest.raises(IsADirectoryError):
        write_atomic(blocked, "new\n")
    assert sorted(os.listdir(tmp_path)) == ["dir.prom", "x.prom"]


def test_show_prints_rows_and_summary_and_writes_nothing(
    write_store: StoreWriter, out: Path
) -> None:
    store = write_store(*SEED_ROWS, '<row type="quote&quot;s"/>')
    result = run(store, "--show", "--output-dir", out)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"== {store}"
    rows = [ln.split() for ln in lines[2:9]]
    assert [r[:3] for r in rows] == [
        ["3:3", "row", "order"],
        ["4:3", "row", "order"],
        ["5:3", "row", "refund"],
        ["6:3", "customer", "customer"],
        ["7:3", "customer", "customer"],
        ["8:3", "row", "order"],
        ["9:3", "row", 'quote\\"s'],
    ]
    summary = {ln.split()[0]: ln.split()[1] for ln in lines[11:16]}
    assert summary == {
        "customer": "2",
        "order": "3",
        'quote\\"s': "1",
        "refund": "1",
        "(total)": "7",
    }
    assert os.listdir(out) == []


def test_usage_errors(write_store: StoreWriter, tmp_path: Path) -> None:
    store = write_store('<row type="a"/>')
    assert run(store).exit_code == 2
    assert run(store, "--output-dir", tmp_path / "missing").exit_code == 2
    assert run(store, "--output-dir", tmp_path, "--name", "../x").exit_code == 2
    assert run(store, "--show", "--interval", "1").exit_code == 2
    assert "Example:" in run("--help").stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interval_keeps_rewriting_survives_bad_input_and_stops_cleanly(
    sig: signal.Signals, write_store: StoreWriter, out: Path
) -> None:
    store = write_store('<row type="a"/>')
    prom = out / "store.prom"
    with textfile_process(store, "--output-dir", out, "--interval", "0.1") as proc:

        def wait_for(total: int) -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if (
                    prom.exists()
                    and f'store_total_rows{{path="{store}"}} {total}\n' in prom.read_text()
                ):
                    return
                time.sleep(0.02)
            raise AssertionError(f"store.prom never showed {total} rows")

        wait_for(1)
        write_store('<row type="a"/>', '<row type="b"/>')
        wait_for(2)
        store.write_text("<store><row")
        time.sleep(0.5)  # several runs fail meanwhile; the good file stays
        assert "} 2\n" in prom.read_text()
        assert proc.poll() is None
        write_store('<row type="a"/>', '<row type="b"/>', '<row type="c"/>')
        wait_for(3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    stderr = err.decode()
    assert "Traceback" not in stderr
    assert f"kubepulse textfile: error: {store}:1:" in stderr
    assert stderr.rstrip().endswith("kubepulse textfile: stopped")
    assert os.listdir(out) == ["store.prom"]


def test_the_example_mapping_config_works(out: Path, promtool: Callable[[str], None]) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "textfile"
    store = examples / "store.xml"
    result = run(store, "--config", examples / "mapping.yml", "--output-dir", out)
    assert result.exit_code == 0, result.output
    text = (out / "store.prom").read_text()
    promtool(text)
    got = {
        (name, dict(labels).get("type")): value
        for name, samples in parse_samples(text).items()
        for labels, value in samples.items()
    }
    assert got[("store_total_rows", None)] == 4
    assert got[("store_rows", "paid")] == 2 and got[("store_rows", "unknown")] == 1
    assert got[("store_amount_euros", "paid")] == 19.5
    assert got[("store_items_max", "refunded")] == 9


def test_unwritable_output_is_a_one_line_error(write_store: StoreWriter, out: Path) -> None:
    store = write_store('<row type="a"/>')
    (out / "store.prom").mkdir()  # the rename over it fails after the temp file is written
    result = run(store, "--output-dir", out)
    assert result.exit_code == 1
    assert _error_line(result).startswith(
        f"kubepulse textfile: error: {out / 'store.prom'}: cannot write: Is a directory"
    )
    assert os.listdir(out) == ["store.prom"]
