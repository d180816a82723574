"""The build-time record the release builder keeps beside its caches."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from pathlib import Path

from kubepulse import versions
from kubepulse.lab.releases import ON_REQUEST, binary, record_build_times


def test_a_torn_record_is_started_afresh(tmp_path: Path) -> None:
    """Two writers without a lock once left two JSON texts overlapping in one file, which made
    every later build fail to read it; such a record is now replaced, not a reason to fail."""
    path = tmp_path / "stack-build-times.json"
    path.write_text('{"prometheus": 415.6, "promtool": 8.6}\nblackbox_exporter": 52.9}\n')
    record_build_times(path, {"thanos": 340.0})
    assert json.loads(path.read_text()) == {"thanos": 340.0}
    record_build_times(path, {"promtool": 9.0})
    assert json.loads(path.read_text()) == {"promtool": 9.0, "thanos": 340.0}
    assert [p.name for p in tmp_path.iterdir() if p.name != ".build.lock"] == [path.name]


def _record(path: Path, i: int) -> None:
    for j in range(20):
        record_build_times(path, {f"command-{i}-{j}": float(j)})


def test_concurrent_builders_lose_no_entry(tmp_path: Path) -> None:
    """Four processes each record 20 commands at once: the record holds all 80 and parses."""
    path = tmp_path / "stack-build-times.json"
    workers = [multiprocessing.Process(target=_record, args=(path, i)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    record = json.loads(path.read_text())
    assert len(record) == 80
    assert record["command-3-19"] == 19.0


def test_helm_is_built_by_the_builder_with_its_release_stamp(tmp_path: Path) -> None:
    """helm comes from the one builder (``binary("helm")``, what `make helm` runs) into its
    versioned cache directory, and carries helm's release ldflags: its version, and Kubernetes
    1.37 as the version `helm template` renders for (``.Capabilities.KubeVersion``)."""
    helm = binary("helm")
    assert helm == ON_REQUEST["helm"].bin_dir / "helm"
    assert helm.parent.parent.name == f"helm-v{versions.HELM}"
    assert (helm.parent / ".tags").read_text() == "\n"  # upstream's (no) build tags
    out = subprocess.run(
        [str(helm), "version", "--template", "{{.Version}}"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert out == f"v{versions.HELM}"
    (tmp_path / "templates").mkdir()
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (tmp_path / "templates" / "v.yaml").write_text(
        "kube: {{ .Capabilities.KubeVersion.Version }}\n"
    )
    rendered = subprocess.run(
        [str(helm), "template", str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert "kube: v1.37.0" in rendered
