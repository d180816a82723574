"""Helpers shared by the deploy tests: find and run helm, render the chart."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubepulse.lab.releases import ON_REQUEST

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "kubepulse"
HELM_CACHE = ON_REQUEST["helm"].bin_dir / "helm"


def find_helm() -> str:
    """The helm binary `make helm` provides: $KUBEPULSE_HELM, else helm on PATH, else the cache."""
    for candidate in (os.environ.get("KUBEPULSE_HELM"), shutil.which("helm"), str(HELM_CACHE)):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("no helm binary: run `make helm` (builds it from its Go module into ~/.cache)")


def run_helm(*args: str, kubeconfig: Path | None = None, check: bool = True) -> str:
    """Run helm, returning stdout; failures raise with helm's stderr in the message."""
    env = dict(os.environ)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    proc = subprocess.run(
        [find_helm(), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    stderr = "\n".join(
        line for line in proc.stderr.splitlines() if "found symbolic link" not in line
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{stderr}")
    return proc.stdout


def render(*args: str) -> list[dict[str, Any]]:
    """The chart's objects from `helm template` with extra helm args (e.g. --set k=v)."""
    out = run_helm("template", "kp", str(CHART), "--namespace", "monitoring", *args)
    return [doc for doc in yaml.safe_load_all(out) if doc]
