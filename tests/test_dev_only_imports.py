"""The shipped package imports without the dev-only dependencies (pyproject's ``dev`` extra).

A fresh interpreter is started with an import hook that refuses every top-level module the dev
extra provides (that hook is the one stand-in here: uninstalling packages from the shared venv
is not an option). Every ``kubepulse`` module must import under it, except the dashboard
generators, which run only in a checkout (``python -m kubepulse.stack.dashboards``).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run from a checkout only, never imported by the package: they write deploy/grafana/.
GENERATORS = {
    "kubepulse.stack.dashboards",
    "kubepulse.stack.dashboards_kubernetes",
    "kubepulse.stack.grafana_alerting",
}

CHILD = """
import importlib, importlib.abc, json, pkgutil, sys
blocked = set(json.loads(sys.argv[1]))
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (dev-only, refused)", name=name)
        return None
sys.meta_path.insert(0, Refuse())
import kubepulse
failed = {}
for info in pkgutil.walk_packages(kubepulse.__path__, "kubepulse."):
    if info.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(info.name)
    except ImportError as exc:
        failed[info.name] = str(exc)
from kubepulse.lab.pki import make_loopback_pki
try:
    make_loopback_pki(__import__("pathlib").Path(sys.argv[2]))
    pki = "no error"
except ImportError as exc:
    pki = str(exc)
print(json.dumps({"failed": failed, "pki": pki}))
"""


def dev_only_modules() -> set[str]:
    """Top-level import names of the dev extra's distributions, without the other extras'."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev = [d for d in extras["optional-dependencies"]["dev"] if not d.startswith("kubepulse[")]
    names = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in dev}
    by_dist: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(dist.lower(), set()).add(module)
    modules = set()
    for name in names:
        modules |= by_dist.get(name, {name.replace("-", "_")})
    return {m for m in modules if not m.endswith("-stubs")}


def test_the_package_imports_without_dev_only_dependencies(tmp_path: Path) -> None:
    blocked = dev_only_modules()
    assert {"cryptography", "pytest", "hypothesis", "grafana_foundation_sdk"} <= blocked
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(sorted(blocked)), str(tmp_path / "pki")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    result = json.loads(out.stdout.splitlines()[-1])
    assert set(result["failed"]) == GENERATORS, result["failed"]
    assert "needs cryptography, a dev dependency" in result["pki"]
    assert not (tmp_path / "pki").exists()
