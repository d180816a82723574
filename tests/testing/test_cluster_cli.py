"""`kubepulse cluster up|status|down` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

KUBEPULSE = str(Path(sys.executable).parent / "kubepulse")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBEPULSE, "cluster", *args], capture_output=True, text=True, env=env, timeout=180
    )


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
    finally:
        down = run("down", "--name", name, env=env)
    assert down.returncode == 0, down.stderr
    assert not (tmp_path / name).exists()
    gone = run("status", "--name", name, env=env)
    assert gone.returncode == 1
    assert "not found" in gone.stderr


def test_commands_have_examples() -> None:
    for command in ("up", "down", "status", "build"):
        out = run(command, "--help", env=dict(os.environ))
        assert out.returncode == 0
        assert "Example: kubepulse cluster" in out.stdout or "Example: export" in out.stdout
