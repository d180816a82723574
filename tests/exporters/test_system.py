"""`kubepulse exporter system`: values match the host, read at scrape time, pass promtool."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubepulse.exporters.system import make_registry, metrics_handler
from kubepulse.exposition.server import ExporterServer, prometheus_client_handler
from kubepulse.lab.processes import ProcessGroup, free_port
from kubepulse.lab.releases import binary


def _scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_values_match_the_host_and_are_fresh() -> None:
    with ExporterServer({"/metrics": metrics_handler()}) as server:
        first = _scrape(server.url)
        end = time.time() + 0.3
        while time.time() < end:  # burn some CPU so the counters must move
            pass
        before = time.perf_counter()
        second = _scrape(server.url)
        round_trip = time.perf_counter() - before

    assert first["system_memory_total_bytes"][()] == psutil.virtual_memory().total
    assert first["system_swap_total_bytes"][()] == psutil.swap_memory().total
    assert first["system_cpus"][()] == psutil.cpu_count()
    cpus = {dict(k)["cpu"] for k in first["system_cpu_seconds_total"]}
    assert cpus == {str(i) for i in range(psutil.cpu_count())}
    assert {dict(k)["mode"] for k in first["system_cpu_seconds_total"]} >= {"user", "idle"}
    st = os.statvfs("/")
    root = next(k for k in first["system_filesystem_size_bytes"] if dict(k)["mountpoint"] == "/")
    assert first["system_filesystem_size_bytes"][root] == st.f_blocks * st.f_frsize
    assert abs(first["system_load1"][()] - os.getloadavg()[0]) < 1.0
    assert first["system_boot_time_seconds"][()] == pytest.approx(psutil.boot_time(), abs=1)

    # Read at scrape time: CPU seconds and loopback traffic (our own scrape) moved in between.
    user = sum(
        v for k, v in second["system_cpu_seconds_total"].items() if dict(k)["mode"] == "user"
    )
    user0 = sum(
        v for k, v in first["system_cpu_seconds_total"].items() if dict(k)["mode"] == "user"
    )
    assert user > user0
    lo = (("device", "lo"),)
    assert (
        second["system_network_receive_bytes_total"][lo]
        > first["system_network_receive_bytes_total"][lo]
    )
    assert 0.0 < second["system_cpu_usage_ratio"][()] <= 1.0
    for value in second["system_cpu_core_usage_ratio"].values():
        assert 0.0 <= value <= 1.0
    # The exporter times its own reading of the host (its speed is benchmarks/system_exporter's
    # business): a real measurement is above zero and inside the scrape's round trip, timed here
    # on the same clock (the server runs in this process).
    assert 0.0 < second["kubepulse_system_collect_duration_seconds"][()] < round_trip


def test_both_outputs_pass_promtool_and_agree() -> None:
    """The fast text path (the exporter) and the prometheus_client collector path."""
    routes = {
        "/fast": metrics_handler(process_metrics=False),
        "/collector": prometheus_client_handler(make_registry(process_metrics=False)),
    }
    bodies = {}
    with ExporterServer(routes) as server:
        for path in routes:
            with urllib.request.urlopen(server.url + path, timeout=10) as resp:
                bodies[path] = resp.read()
    for path, body in bodies.items():
        result = subprocess.run(
            [binary("promtool"), "check", "metrics"], input=body, capture_output=True, timeout=30
        )
        assert result.returncode == 0, path + result.stderr.decode() + result.stdout.decode()

    def series(body: bytes) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {
            (s.name, tuple(sorted(s.labels.items())))
            for fam in text_string_to_metric_families(body.decode())
            for s in fam.samples
        }

    assert series(bodies["/fast"]) == series(bodies["/collector"])


def test_cli_serves_and_rejects_bad_input(tmp_path: Path) -> None:
    port = free_port()
    cli = [sys.executable, "-m", "kubepulse", "exporter", "system"]
    with ProcessGroup(tmp_path / "logs") as group:
        exporter = group.start(
            "system-exporter",
            [*cli, "--web.listen-address", f"127.0.0.1:{port}"],
            ready_url=f"http://127.0.0.1:{port}/healthz",
        )
        assert "system_load1" in _scrape(f"http://127.0.0.1:{port}")
        # The port is taken now: a second exporter fails with one line, exit 1.
        busy = subprocess.run(
            [*cli, "--web.listen-address", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert busy.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr
        assert "Traceback" not in busy.stderr
        assert exporter.stop() == 0  # SIGTERM: a clean exit
    bad = tmp_path / "web.yml"
    bad.write_text("tls_server_config: {cert_file: missing.crt, key_file: missing.key}\n")
    result = subprocess.run(
        [*cli, "--web.config.file", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert f"exporter system: --web.config.file: {bad}: tls_server_config.cert_file: " in line


def test_exporter_group_help_lists_exporters_with_examples() -> None:
    from click.testing import CliRunner

    from kubepulse.cli import main

    runner = CliRunner()
    group = runner.invoke(main, ["exporter", "--help"])
    assert group.exit_code == 0
    assert "system" in group.output and "cluster" in group.output
    assert "Example:" in group.output
    system = runner.invoke(main, ["exporter", "system", "--help"])
    assert system.exit_code == 0
    assert "Example:" in system.output and "--web.config.file" in system.output
    assert "[default: :9999]" in system.output
