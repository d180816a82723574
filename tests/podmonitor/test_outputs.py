"""PodsStatus JSON, merge, metrics (read back by a real node_exporter and Pushgateway), report."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from podmonitor_helpers import scrape, start_node_exporter, start_pushgateway

from kubepulse.lab.processes import ProcessGroup
from kubepulse.podmonitor import metrics
from kubepulse.podmonitor.cli import exit_code
from kubepulse.podmonitor.models import AffectedPod, PodsStatus
from kubepulse.podmonitor.report import write_report


def sample_status() -> PodsStatus:
    return PodsStatus(
        recovered=[
            AffectedPod(
                "web-c",
                "shop",
                2.5,
                2.0,
                0.5,
                killed_pod_name="web-a",
                replacement_name="web-c",
                killed_at=1e9,
                deletion_timestamp="2001-09-09T01:46:40Z",
                ready_transition_timestamp="2001-09-09T01:46:43Z",
            ),
            AffectedPod(
                "db-0",
                "db",
                7.0,
                6.75,
                0.25,
                killed_pod_name="db-0",
                replacement_name="db-0",
                killed_at=1e9 + 1,
            ),
        ],
        unrecovered=[
            AffectedPod(
                'api-"<x>"',
                "shop",
                None,
                None,
                0.3,
                killed_pod_name="api-1",
                replacement_name='api-"<x>"',
            ),
        ],
        error="pod shop/bare was deleted and has no controller, so nothing replaces it",
    )


def test_json_round_trip_and_merge_keeps_everything() -> None:
    status = sample_status()
    assert PodsStatus.from_json(status.to_json()) == status
    other = PodsStatus(unrecovered=[AffectedPod("x", "y")], error="second\nthird")
    merged = PodsStatus().merge(status).merge(other).merge(PodsStatus())
    assert len(merged.recovered) == 2 and len(merged.unrecovered) == 2
    assert merged.errors == [status.error, "second", "third"]
    assert PodsStatus.from_json(merged.to_json(indent=False)) == merged


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "expected a JSON object"),
        ('{"recovered": 1}', "'recovered' must be a list"),
        ('{"recovered": [{"pod_name": "a", "namespace": "b", "extra": 1}]}', "unknown field"),
        ('{"error": 3}', "'error' must be a string"),
        ("{", "not valid JSON"),
    ],
)
def test_from_json_rejects_malformed_documents(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PodsStatus.from_json(text)


def test_exit_codes() -> None:
    ok = PodsStatus(recovered=[AffectedPod("a", "n", 3.0, 2.0, 1.0)])
    assert exit_code(ok, None) == 0
    assert exit_code(ok, 3.0) == 0
    assert exit_code(ok, 2.9) == 1
    assert exit_code(PodsStatus(unrecovered=[AffectedPod("a", "n")]), None) == 1
    assert exit_code(sample_status(), None) == 2


def test_textfile_is_read_by_a_real_node_exporter(tmp_path: Path) -> None:
    textdir = tmp_path / "textfile"
    textdir.mkdir()
    path = metrics.write_textfile(textdir, metrics.build_registry(sample_status(), 1234.0))
    assert path.name == "kubepulse_pod_monitor.prom"
    assert [p.name for p in textdir.iterdir()] == [path.name]  # no temporary file left
    with ProcessGroup(tmp_path / "logs") as group:
        got = scrape(start_node_exporter(group, textdir))
    assert got[("kubepulse_pods_recovered_total", (("namespace", "shop"),))] == 1
    assert got[("kubepulse_pods_recovered_total", (("namespace", "db"),))] == 1
    assert got[("kubepulse_pods_unrecovered_total", (("namespace", "shop"),))] == 1
    assert got[("kubepulse_pods_unrecovered_total", (("namespace", "db"),))] == 0
    assert got[("kubepulse_pod_monitor_errors_total", ())] == 1
    assert got[("kubepulse_pod_monitor_last_run_timestamp_seconds", ())] == 1234.0
    key = (
        "kubepulse_pod_recovery_seconds_bucket",
        (("le", "5"), ("namespace", "db"), ("phase", "total")),
    )
    assert got[key] == 0
    key = (
        "kubepulse_pod_recovery_seconds_bucket",
        (("le", "10"), ("namespace", "db"), ("phase", "total")),
    )
    assert got[key] == 1
    assert (
        got[("kubepulse_pod_recovery_seconds_sum", (("namespace", "shop"), ("phase", "readiness")))]
        == 2.0
    )
    # node_exporter saw the file without errors.
    assert got[("node_textfile_scrape_error", ())] == 0


def test_push_is_served_by_a_real_pushgateway(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        url = start_pushgateway(group)
        metrics.push(url, metrics.build_registry(sample_status()))
        got = scrape(f"{url}/metrics")
        # A second run replaces the group: counters are per run, not summed across pushes.
        metrics.push(url, metrics.build_registry(PodsStatus()))
        again = scrape(f"{url}/metrics")
    job = ("instance", ""), ("job", "kubepulse_pod_monitor")
    assert got[("kubepulse_pods_recovered_total", (*job, ("namespace", "shop")))] == 1
    assert got[("kubepulse_pod_monitor_errors_total", job)] == 1
    assert ("push_time_seconds", job) in got
    assert ("kubepulse_pods_recovered_total", (*job, ("namespace", "shop"))) not in again
    assert again[("kubepulse_pod_monitor_errors_total", job)] == 0


def test_report_is_self_contained_with_a_timeline_per_pod(tmp_path: Path) -> None:
    """The file's content is checked against values written out from ``sample_status()``."""
    before = datetime.now(UTC).replace(microsecond=0)
    path = write_report(tmp_path / "r.html", sample_status())
    after = datetime.now(UTC)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left
    html = path.read_text()
    generated = re.search(r"<p>Generated (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\. ", html)
    assert generated, html[:600]
    stamp = datetime.strptime(generated.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert before <= stamp <= after
    assert "Recovered: <b>2</b>, unrecovered: <b>1</b>, errors: <b>1</b>.</p>" in html
    assert re.findall(r'<li class="error">(.*?)</li>', html) == [
        "pod shop/bare was deleted and has no controller, so nothing replaces it"
    ]
    # Nothing fetched at view time: no URLs, no external scripts, styles or images.
    assert not re.search(r"https?://|src=|href=|@import|url\(", html)
    # Ordered by kill time (api-1 has none: first); every cluster string escaped.
    assert re.findall(r'<div class="pod (\w+)"><div class="label">(.*?)</div>', html) == [
        ("unrecovered", "shop/api-1 → api-&quot;&lt;x&gt;&quot;"),
        ("recovered", "shop/web-a → web-c"),
        ("recovered", "db/db-0 → db-0"),
    ]
    assert html.count("<svg ") == 3 and "<x>" not in html
    # The scale ends at the longest recovery (7 s) plus 10 %; x(t) = 10 + 730 * t / 7.7 px.
    assert "scale: 0 to 7.70 s" in html
    assert re.findall(r"<text [^>]*>(.*?)</text>", html) == [
        "deleted, unrecovered",
        "deleted, recovered, 2.500 s",
        "deleted, recovered, 7.000 s",
    ]
    titles = re.findall(r"<title>(.*?)</title>", html)[1:]  # [0] is the page title
    assert titles == [
        "rescheduling 0.300 s",
        "replacement not Ready",
        "killed at +0.000 s",
        "replacement created at +0.300 s",
        "rescheduling 0.500 s",
        "readiness 2.000 s",
        "killed at +0.000 s",
        "replacement created at +0.500 s",
        "Ready at +2.500 s",
        "rescheduling 0.250 s",
        "readiness 6.750 s",
        "killed at +0.000 s",
        "replacement created at +0.250 s",
        "Ready at +7.000 s",
    ]
    # db-0: rescheduling bar 730 * 0.25 / 7.7 = 23.7 px wide, Ready marker at 673.6 px.
    assert '<rect x="10.0" y="17" width="23.7" height="10" fill="#f0ad4e">' in html
    assert '<circle cx="673.6" cy="22" r="5" fill="#1a7f37"><title>Ready at +7.000 s' in html
    rows = [
        re.findall(r"<td[^>]*>(.*?)</td>", row)
        for row in re.findall(r"<tr><td>.*?</tr>", html.split("<tbody>")[1])
    ]
    unrecovered = ["shop", "api-1", "api-&quot;&lt;x&gt;&quot;", "deleted", "unrecovered"]
    web_a = ["shop", "web-a", "web-c", "deleted", "recovered", "0.500", "2.000", "2.500"]
    assert rows == [
        [*unrecovered, "0.300", "–", "–", "–", "–"],
        [*web_a, "2001-09-09T01:46:40Z", "2001-09-09T01:46:43Z"],
        ["db", "db-0", "db-0", "deleted", "recovered", "0.250", "6.750", "7.000", "–", "–"],
    ]
