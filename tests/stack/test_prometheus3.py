"""What Prometheus 3 changed, shown on the release the chart deploys (3.5.0), and how the stack's
config, rules and dashboards account for it.

- A target that sends no ``Content-Type`` is no longer scraped unless its job names a
  ``fallback_scrape_protocol``: the jobs that scrape whatever pods and Services opt in name one.
- Classic histogram ``le`` (and summary ``quantile``) labels are normalised to floats on scrape,
  so ``le="1"`` becomes ``le="1.0"``: no rule or dashboard selects a bucket by an integer ``le``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubepulse.lab.processes import LOOPBACK, ProcessGroup
from kubepulse.lab.servers import api_get, query, start_prometheus, wait_until
from kubepulse.stack import deploy_dir
from kubepulse.stack.prometheus import load_prometheus_config

# A classic histogram with integer bounds, as many client libraries write them.
EXPOSITION = b"""# TYPE kp_probe_value gauge
kp_probe_value 42
# TYPE kp_wait_seconds histogram
kp_wait_seconds_bucket{le="1"} 3
kp_wait_seconds_bucket{le="10"} 5
kp_wait_seconds_bucket{le="+Inf"} 6
kp_wait_seconds_sum 21
kp_wait_seconds_count 6
"""
OPT_IN_JOBS = ("kubernetes-pods", "kubernetes-service-endpoints")


@pytest.fixture
def bare_target() -> Iterator[str]:
    """A loopback exporter that answers with exposition text and no Content-Type header."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(EXPOSITION)))
            self.end_headers()
            self.wfile.write(EXPOSITION)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _static(job: dict[str, Any], name: str, address: str) -> dict[str, Any]:
    """The production job's scrape settings (protocols, limits), scraping ``address`` only."""
    job = copy.deepcopy(job)
    for key in ("kubernetes_sd_configs", "relabel_configs", "scheme", "tls_config"):
        job.pop(key, None)
    job.update(job_name=name, static_configs=[{"targets": [address]}])
    return job


def test_opt_in_jobs_scrape_a_target_that_sends_no_content_type(
    tmp_path: Path, bare_target: str
) -> None:
    jobs = {j["job_name"]: j for j in load_prometheus_config()["scrape_configs"]}
    assert {n: jobs[n].get("fallback_scrape_protocol") for n in OPT_IN_JOBS} == {
        n: "PrometheusText0.0.4" for n in OPT_IN_JOBS
    }
    production = _static(jobs["kubernetes-pods"], "production", bare_target)
    control = _static(jobs["kubernetes-pods"], "control", bare_target)
    del control["fallback_scrape_protocol"]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [production, control],
    }
    with ProcessGroup(tmp_path / "logs") as group:
        prom = start_prometheus(group, tmp_path / "prom", yaml.safe_dump(config))

        def scraped() -> dict[str, dict[str, Any]] | None:
            targets = api_get(prom, "/api/v1/targets")["activeTargets"]
            by_job = {t["labels"]["job"]: t for t in targets if t["health"] != "unknown"}
            return by_job if len(by_job) == 2 else None

        targets = wait_until(scraped, timeout=30, what="both jobs scraped once")
        value = query(prom, 'kp_probe_value{job="production"}')
        missing = query(prom, 'kp_probe_value{job="control"}')
    assert targets["production"]["health"] == "up", targets["production"]["lastError"]
    assert [s["value"][1] for s in value] == ["42"]
    # The control case: without the fallback, Prometheus 3 refuses the same answer.
    assert targets["control"]["health"] == "down"
    assert "Content-Type" in targets["control"]["lastError"], targets["control"]["lastError"]
    assert missing == []


def test_scraped_le_labels_are_floats_and_nothing_selects_an_integer_le(
    tmp_path: Path, bare_target: str
) -> None:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "h",
                "fallback_scrape_protocol": "PrometheusText0.0.4",
                "static_configs": [{"targets": [bare_target]}],
            }
        ],
    }
    with ProcessGroup(tmp_path / "logs") as group:
        prom = start_prometheus(group, tmp_path / "prom", yaml.safe_dump(config))
        buckets = wait_until(
            lambda: query(prom, "kp_wait_seconds_bucket"), timeout=30, what="buckets scraped"
        )
        integer = query(prom, 'kp_wait_seconds_bucket{le="1"}')
    assert sorted(s["metric"]["le"] for s in buckets) == ["+Inf", "1.0", "10.0"]
    assert integer == []  # what a rule written for Prometheus 2 would select: nothing
    # So no rule expression or dashboard query selects a bucket (or quantile) by an integer.
    exprs = [
        rule["expr"]
        for path in sorted((deploy_dir() / "prometheus" / "rules").rglob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    assert len(exprs) > 50
    dashboards = sorted((deploy_dir() / "grafana" / "dashboards").glob("*.json"))
    assert len(dashboards) >= 6
    texts = exprs + [p.read_text() for p in dashboards]
    integer_le = re.compile(r"""\b(le|quantile)\s*=~?\s*\\?["']\d+\\?["']""")
    assert [t for t in texts if integer_le.search(t)] == []
    # The pattern does find the Prometheus 2 form (so the empty result above means something).
    assert integer_le.search('rate(x_bucket{le="1"}[5m])')
    assert integer_le.search(json.dumps({"expr": 'x_bucket{le="10"}'}))
