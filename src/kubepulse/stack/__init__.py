"""The monitoring stack's content in ``deploy/``: locate it, render its knobs and local overlays.

``deploy/`` holds plain files (Prometheus config and rules, Alertmanager config, Grafana JSON).
This package renders them with parameters (cluster name, intervals, receivers) and builds the
loopback-only overlay that tests and ``kubepulse demo`` run against the test cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["blackbox_config_path", "deploy_dir"]


def deploy_dir() -> Path:
    """The ``deploy/`` directory: ``$KUBEPULSE_DEPLOY_DIR`` or the one in this source tree."""
    env = os.environ.get("KUBEPULSE_DEPLOY_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "deploy"
    if not (path / "prometheus" / "prometheus.yml").is_file():
        raise FileNotFoundError(
            f"{path}: no prometheus/prometheus.yml here; "
            "set KUBEPULSE_DEPLOY_DIR to kubepulse's deploy/"
        )
    return path


def blackbox_config_path() -> Path:
    """``deploy/blackbox/blackbox.yml``: the modules the chart and the Ansible role install."""
    return deploy_dir() / "blackbox" / "blackbox.yml"
