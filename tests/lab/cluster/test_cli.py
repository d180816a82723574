"""`kubepulse cluster up|status|down` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

KUBEPULSE = str(Path(sys.executable).parent / "kubepulse")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBEPULSE, "cluster", *args], capture_output=True, text=True, env=env, timeout=180
    )


def component_pids(kwok_dir: Path) -> list[int]:
    """The pids kwokctl recorded, each checked to run a binary from the cluster's directory."""
    pids = [int(f.read_text()) for f in (kwok_dir / "pids").glob("*.pid")]
    for pid in pids:
        assert psutil.Process(pid).cmdline()[0].startswith(f"{kwok_dir}/"), pid
    return pids


def alive(pid: int, workdir: Path) -> bool:
    """Whether ``pid`` still runs a binary of the cluster at ``workdir``; a zombie is dead, and
    so is a pid recycled by another program."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.cmdline()[0].startswith(
            f"{workdir}/"
        )
    except (psutil.NoSuchProcess, IndexError):
        return False


@pytest.mark.cluster
def test_up_status_down(tmp_path: Path) -> None:
    env = {**os.environ, "KUBEPULSE_CLUSTERS_DIR": str(tmp_path)}
    name = f"cli-{os.getpid()}"
    up = run("up", "--name", name, "--nodes", "2", env=env)
    try:
        assert up.returncode == 0, up.stderr
        kubeconfig = Path(up.stdout.splitlines()[-1])
        assert kubeconfig.is_file() and kubeconfig.is_relative_to(tmp_path / name)
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        assert server.startswith("https://127.0.0.1:")

        status = run("status", "--name", name, env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "kube-apiserver: running" in status.stdout
        assert "nodes: 2/2 Ready" in status.stdout

        again = run("up", "--name", name, env=env)
        assert again.returncode == 1
        assert again.stderr.strip().splitlines()[-1].startswith("Error: cluster")
        assert "already running" in again.stderr
        pids = component_pids(tmp_path / name / "clusters" / name)
        assert len(pids) == 5, pids
    finally:
        down = run("down", "--name", name, env=env)
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / name).exists()
    survivors = [pid for pid in pids if alive(pid, tmp_path / name)]
    assert not survivors, f"still running after down: {survivors}"
    gone = run("status", "--name", name, env=env)
    assert gone.returncode == 1
    assert "not found" in gone.stderr


@pytest.mark.parametrize("command", ["up", "down", "status"])
def test_bad_names_refused_and_nothing_touched(command: str, tmp_path: Path) -> None:
    """``/etc`` (stood for by an absolute tmp path, so a broken check could only harm tmp_path),
    ``..``, ``''`` and ``a/b`` are refused with one line naming --name and exit 2; canaries that
    an unchecked name would find as a "cluster" and remove are all still there."""
    clusters = tmp_path / "clusters"
    outside = tmp_path / "outside"
    canaries = [
        outside / "clusters" / "keep.txt",
        clusters / "a" / "b" / "clusters" / "a" / "b" / "keep.txt",
        clusters / "clusters" / "keep.txt",
        clusters / "other" / "clusters" / "other" / "keep.txt",
    ]
    for canary in canaries:
        canary.parent.mkdir(parents=True)
        canary.write_text("canary")
    env = {**os.environ, "KUBEPULSE_CLUSTERS_DIR": str(clusters)}
    for name in (str(outside), "..", "", "a/b"):
        out = run(command, "--name", name, env=env)
        assert out.returncode == 2, (name, out.stdout, out.stderr)
        assert out.stdout == ""
        lines = out.stderr.splitlines()
        assert len(lines) == 1, out.stderr
        assert lines[0].startswith(f"kubepulse cluster {command}: --name: {name!r} is not a DNS")
    assert [c.read_text() for c in canaries] == ["canary"] * len(canaries)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusters", "outside"]


def test_commands_have_examples() -> None:
    for command in ("up", "down", "status", "build"):
        out = run(command, "--help", env=dict(os.environ))
        assert out.returncode == 0
        assert "Example: kubepulse cluster" in out.stdout or "Example: export" in out.stdout
