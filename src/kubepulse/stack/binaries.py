"""An upstream Prometheus build, for the parts Debian's build leaves out.

Debian's ``prometheus`` and ``promtool`` (2.42) are built without Kubernetes service discovery,
so they reject ``kubernetes_sd_configs``: the production config and the end-to-end test need the
upstream build. It is compiled once from its Go module into
``~/.cache/kubepulse/prometheus-vVERSION/bin`` and reused. Everything else (rules, unit tests,
query checks) runs on Debian's binaries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["PROMETHEUS_VERSION", "ensure_prometheus", "prometheus_bin_dir"]

PROMETHEUS_VERSION = "2.54.1"
# Prometheus 2.x is published on the module proxy as v0.<minor>.<patch>.
_MODULE = "github.com/prometheus/prometheus"
_MODULE_VERSION = "v0." + PROMETHEUS_VERSION.split(".", 1)[1]


def prometheus_bin_dir() -> Path:
    """Where the upstream ``prometheus`` and ``promtool`` live (they may not be built yet)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "kubepulse" / f"prometheus-v{PROMETHEUS_VERSION}" / "bin"


def ensure_prometheus() -> Path:
    """Return the bin dir holding upstream ``prometheus`` and ``promtool``, building them if absent.

    The module's go.mod has ``replace`` directives, so ``go install mod@version`` refuses it; it
    is built as the main module from a copy of its source in the module cache instead.
    """
    bin_dir = prometheus_bin_dir()
    if all((bin_dir / name).is_file() for name in ("prometheus", "promtool")):
        return bin_dir
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("go not found on PATH: needed once to build Prometheus (Kubernetes SD)")
    info = subprocess.run(
        [go, "mod", "download", "-json", f"{_MODULE}@{_MODULE_VERSION}"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),  # outside any go.mod, so no module context interferes
    )
    src = bin_dir.parent / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(json.loads(info.stdout)["Dir"], src)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    bin_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go, "build", "-o", str(bin_dir) + "/", "./cmd/prometheus", "./cmd/promtool"],
        check=True,
        cwd=src,
    )
    return bin_dir


if __name__ == "__main__":
    print(ensure_prometheus())
    sys.exit(0)
