"""The Dockerfile's install path, run for real in a clean venv (no container engine exists here).

The image is `python:3.11-slim` plus a venv with only the built wheel; this test builds the same
wheel, installs it the same way into a fresh venv (dependencies from the package index) and runs
the entry point the chart's containers use.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from deploy_helpers import REPO

from kubepulse.lab.processes import ProcessGroup, free_port


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
    # Sub-commands import their runtime dependencies (kubernetes, psutil, ...) only when they
    # run, so the top-level help alone would not notice one missing from the wheel's metadata.
    for command, expected in (
        (("exporter", "cluster"), "--kubeconfig"),
        (("exporter", "system"), "--web.listen-address"),
        (("textfile",), "--output-dir"),
        (("monitor", "pods"), "--label"),
    ):
        sub = subprocess.run(
            [str(venv / "bin/kubepulse"), *command, "--help"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert sub.returncode == 0 and expected in sub.stdout, (command, sub.stderr)
    # bcrypt loads only when a basic-auth request arrives: serve one from the clean venv.
    web_config = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"test-only", bcrypt.gensalt(4)).decode()
    web_config.write_text(f"basic_auth_users: {{prom: '{hashed}'}}\n")
    port = free_port()
    with ProcessGroup(tmp_path / "logs") as group:
        exporter = group.start(
            "system-exporter",
            [str(venv / "bin/kubepulse"), "exporter", "system",
             "--web.listen-address", f"127.0.0.1:{port}", "--web.config.file", str(web_config)],
            ready_port=port,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/metrics"
        request = urllib.request.Request(url)
        request.add_header("Authorization", "Basic " + base64.b64encode(b"prom:test-only").decode())
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 200
            assert b"system_memory" in resp.read(), exporter.log_tail()
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url, timeout=30)
        assert denied.value.code == 401
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
