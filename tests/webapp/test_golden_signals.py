"""The golden-signal recording rules still hold when apps add their own labels.

``AppMetrics(labels=...)`` adds labels (a tenant, a region) to the request metrics. promtool runs
the rule file's own unit tests with every ``http_*`` input series split in two, by a new
``tenant`` label, each half carrying half the rate: the recorded signals must not change, so the
expectations are the file's, untouched.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from webapp_helpers import ROOT

from kubepulse.lab.releases import binary

TESTS = ROOT / "deploy/prometheus/tests/golden_signals_test.yml"


def _half(values: str) -> str:
    """``0+54x20`` → ``0+27x20``, ``3x20`` → ``1.5x20`` (promtool's expanding notation)."""
    growing = re.fullmatch(r"(\d+)\+(\d+)x(\d+)", values)
    if growing:
        start, step, n = growing.groups()
        return f"{int(start) / 2:g}+{int(step) / 2:g}x{n}"
    flat = re.fullmatch(r"(\d+)x(\d+)", values)
    assert flat, values
    return f"{int(flat.group(1)) / 2:g}x{flat.group(2)}"


def _split_by_tenant(spec: dict) -> int:
    split = 0
    for test in spec["tests"]:
        series = []
        for item in test["input_series"]:
            if not item["series"].startswith("http_"):
                series.append(item)
                continue
            for tenant in ("a", "b"):
                labelled = item["series"].replace("{", f'{{tenant="{tenant}", ', 1)
                series.append({"series": labelled, "values": _half(item["values"])})
            split += 1
        test["input_series"] = series
    return split


def _promtool(spec: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "golden_signals_by_tenant_test.yml"
    spec["rule_files"] = [str(ROOT / "deploy/prometheus/rules/golden-signals.yml")]
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    argv = [str(binary("promtool")), "test", "rules", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_rules_sum_away_extra_app_labels(tmp_path: Path) -> None:
    spec = yaml.safe_load(TESTS.read_text())
    assert _split_by_tenant(spec) >= 10  # every http_* input series was split
    proc = _promtool(spec, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_split_check_catches_a_changed_rate(tmp_path: Path) -> None:
    """Control: split without halving, so each signal's rate doubles; promtool must fail."""
    spec = yaml.safe_load(TESTS.read_text())
    for test in spec["tests"]:
        extra = [
            {"series": s["series"].replace("{", '{tenant="c", ', 1), "values": s["values"]}
            for s in test["input_series"]
            if s["series"].startswith("http_requests_total")
        ]
        test["input_series"] += extra
    assert extra
    proc = _promtool(spec, tmp_path)
    assert proc.returncode != 0 and "job_route:http_requests:rate5m" in proc.stdout + proc.stderr
