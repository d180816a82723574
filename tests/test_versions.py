"""One pin per release: the chart deploys, and the tests, demo and stack runners run, the same
Prometheus, Alertmanager and node_exporter (``kubepulse.versions``).

The running servers are asked for their version over HTTP, so a runner that fell back to another
binary (Debian's prometheus 2.42, alertmanager 0.25, node_exporter 1.5) fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from kubepulse import versions
from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port
from kubepulse.lab.releases import RELEASES, Release, binary, ensure_releases
from kubepulse.lab.servers import api_get, start_alertmanager, start_prometheus
from kubepulse.stack import deploy_dir

VALUES = deploy_dir() / "helm" / "kubepulse" / "values.yaml"


def test_chart_images_are_the_pinned_releases() -> None:
    values = yaml.safe_load(VALUES.read_text())
    images = {
        "prometheus": values["prometheus"]["image"],
        "alertmanager": values["alertmanager"]["image"],
        "node_exporter": values["nodeExporter"]["image"],
        "blackbox_exporter": values["blackboxExporter"]["image"],
    }
    assert {name: (i["repository"], i["tag"]) for name, i in images.items()} == {
        "prometheus": ("quay.io/prometheus/prometheus", "v3.5.0"),
        "alertmanager": ("quay.io/prometheus/alertmanager", "v0.28.1"),
        "node_exporter": ("quay.io/prometheus/node-exporter", "v1.9.1"),
        "blackbox_exporter": ("quay.io/prometheus/blackbox-exporter", "v0.27.0"),
    }
    assert {n: i["tag"] for n, i in images.items()} == {
        n: f"v{v}" for n, v in versions.RELEASES.items()
    }
    assert {n: r.version for n, r in RELEASES.items()} == versions.RELEASES


def test_module_versions_follow_the_proxy_tags() -> None:
    """Prometheus 3.x is tagged v0.3MM.P on the module proxy, 2.x v0.MM.P; the others vX.Y.Z."""
    prom = "github.com/prometheus/prometheus"
    assert Release("p", "3.5.0", prom, {}).module_version == "v0.305.0"
    assert Release("p", "3.10.2", prom, {}).module_version == "v0.310.2"
    assert Release("p", "2.54.1", prom, {}).module_version == "v0.54.1"
    am = "github.com/prometheus/alertmanager"
    assert Release("a", "0.28.1", am, {}).module_version == "v0.28.1"


@pytest.mark.parametrize(
    ("command", "cache", "version"),
    [
        ("prometheus", "prometheus-v3.5.0", "3.5.0"),
        ("promtool", "prometheus-v3.5.0", "3.5.0"),
        ("alertmanager", "alertmanager-v0.28.1", "0.28.1"),
        ("amtool", "alertmanager-v0.28.1", "0.28.1"),
        ("node_exporter", "node_exporter-v1.9.1", "1.9.1"),
        ("blackbox_exporter", "blackbox_exporter-v0.27.0", "0.27.0"),
    ],
)
def test_built_binaries_report_the_pinned_version(command: str, cache: str, version: str) -> None:
    path = binary(command)
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    assert path == root / "kubepulse" / cache / "bin" / command
    out = subprocess.run(
        [str(path), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    # Prometheus-project binaries print "NAME, version X (branch: ..., revision: ...)".
    first = (out.stdout or out.stderr).splitlines()[0]
    assert first.startswith(f"{command}, version {version} "), first


def test_a_second_call_builds_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    paths = ensure_releases()
    assert sorted(paths) == [
        "alertmanager",
        "amtool",
        "blackbox_exporter",
        "node_exporter",
        "prometheus",
        "promtool",
    ]
    assert all(p.is_file() for p in paths.values())
    assert capfd.readouterr().err == ""  # no progress lines: nothing was built


def test_the_runners_start_the_pinned_servers_and_their_apis_answer(tmp_path: Path) -> None:
    """Prometheus without its web UI assets still serves the API; Alertmanager and node_exporter
    report their build over HTTP."""
    with ProcessGroup(tmp_path / "logs") as group:
        prom = start_prometheus(group, tmp_path / "prom", "scrape_configs: []\n")
        build = api_get(prom, "/api/v1/status/buildinfo")
        assert build["version"] == versions.PROMETHEUS
        assert api_get(prom, "/api/v1/query", {"query": "1+1"})["result"][1] == "2"

        am = start_alertmanager(
            group, tmp_path / "am", "route: {receiver: x}\nreceivers: [{name: x}]\n"
        )
        with urllib.request.urlopen(f"{am}/api/v2/status", timeout=5) as resp:
            assert json.load(resp)["versionInfo"]["version"] == versions.ALERTMANAGER

        address = f"{LOOPBACK}:{free_port()}"
        group.start(
            "node_exporter",
            [str(binary("node_exporter")), f"--web.listen-address={address}"],
            ready_url=f"http://{address}/metrics",
        )
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    build_info = [
        line for line in text.splitlines() if line.startswith("node_exporter_build_info{")
    ]
    assert len(build_info) == 1 and f'version="{versions.NODE_EXPORTER}"' in build_info[0]
