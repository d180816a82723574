"""The Dockerfile's install path, run for real in a clean venv (no container engine exists here).

The image is `python:3.11-slim` plus a venv with only the built wheel; this test builds the same
wheel, installs it the same way into a fresh venv (dependencies from the package index) and runs
the entry point the chart's containers use.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from deploy_helpers import REPO


def test_dockerfile_is_slim_pinned_non_root_and_installs_only_the_wheel() -> None:
    text = (REPO / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, re.M)
    assert base and re.fullmatch(r"python:3\.11-slim-\w+", base.group(1))
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and re.fullmatch(r"[1-9]\d*:[1-9]\d*", user[-1]), "a numeric non-root USER"
    assert "pip install /tmp/wheels/kubepulse-*.whl" in text
    assert re.search(r'^ENTRYPOINT \["kubepulse"\]', text, re.M)


def test_wheel_installs_in_a_clean_venv_and_the_cli_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = dist.glob("kubepulse-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin/pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    out = subprocess.run(
        [str(venv / "bin/kubepulse"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "exporter" in out and "textfile" in out
    version = subprocess.run(
        [str(venv / "bin/kubepulse"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert wheel.name.split("-")[1] in version
    # Only the wheel's code is installed: nothing resolves back into the source tree.
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import kubepulse; print(kubepulse.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv))
