"""The chart's Prometheus, Alertmanager, node_exporter and blackbox_exporter containers pass only
flags their pinned release has.

The local cluster's kwok nodes never run the chart's images, so the flags in the rendered
manifests are checked against the same releases built locally (``kubepulse.lab.releases``):
every flag a container passes must be one its binary lists in ``--help``.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from kubepulse.lab.releases import binary

COMMANDS = {
    "quay.io/prometheus/prometheus": "prometheus",
    "quay.io/prometheus/alertmanager": "alertmanager",
    "quay.io/prometheus/node-exporter": "node_exporter",
    "quay.io/prometheus/blackbox-exporter": "blackbox_exporter",
}


def flags_of(command: str) -> set[str]:
    """The long flags ``command --help`` lists (kingpin prints one per line, indented; a boolean
    as ``--[no-]name``, which stands for ``--name`` and ``--no-name``)."""
    out = subprocess.run(
        [str(binary(command)), "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    names = [
        line.split()[0].split("=")[0]
        for line in (out.stdout + out.stderr).splitlines()
        if line.lstrip().startswith("--")
    ]
    flags = {n for n in names if not n.startswith("--[no-]")}
    for name in names:
        if name.startswith("--[no-]"):
            flags |= {"--" + name[7:], "--no-" + name[7:]}
    return flags


def chart_flags(rendered: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each pinned image's command, with the flags its containers are given in the chart."""
    found: dict[str, set[str]] = {}
    for obj in rendered:
        if obj["kind"] not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            command = COMMANDS.get(container["image"].rsplit(":", 1)[0])
            if command:
                args = container.get("args", [])
                found.setdefault(command, set()).update(
                    a.split("=")[0] for a in args if a.startswith("--")
                )
    return found


def test_every_flag_the_chart_passes_exists_in_its_release(rendered: list[dict[str, Any]]) -> None:
    passed = chart_flags(rendered)
    assert sorted(passed) == ["alertmanager", "blackbox_exporter", "node_exporter", "prometheus"]
    assert "--storage.tsdb.retention.time" in passed["prometheus"]
    assert "--collector.textfile.directory" in passed["node_exporter"]
    unknown = {c: sorted(flags - flags_of(c)) for c, flags in passed.items()}
    assert unknown == {c: [] for c in passed}


@pytest.mark.parametrize(
    ("command", "removed"),
    [
        # Gone in Prometheus 3.0: the check above would name them.
        ("prometheus", "--storage.tsdb.retention"),
        ("prometheus", "--alertmanager.timeout"),
        ("prometheus", "--storage.tsdb.allow-overlapping-blocks"),
    ],
)
def test_the_flag_check_sees_flags_a_release_dropped(command: str, removed: str) -> None:
    flags = flags_of(command)
    assert len(flags) > 30 and "--config.file" in flags
    assert removed not in flags
