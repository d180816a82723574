"""The one Go builder, with the real ``go`` on a module of this test's own (no network needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kubepulse.lab.builder import OUT, Builder, BuildError, cache_root, go, versioned_root

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs go on PATH")

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from the lab") }\n'


def module(tmp_path: Path, main: str = MAIN) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "go.mod").write_text("module kubepulse.local/hello\n\ngo 1.24\n")
    (src / "main.go").write_text(main)
    return src


def test_a_step_builds_the_binary_under_its_name_with_numbered_progress(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    src = module(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    builder = Builder(go(), tmp_path, bin_dir, total=2)
    builder.step("hello", ["build", "-o", OUT, "."], cwd=src)

    out = subprocess.run([bin_dir / "hello"], capture_output=True, text=True, check=True)
    assert out.stdout == "hello from the lab\n"
    assert sorted(p.name for p in bin_dir.iterdir()) == ["hello"]  # no temporary left
    assert builder.done == 1 and builder.seconds["hello"] >= 0
    err = capfd.readouterr().err.splitlines()
    assert err[0] == "[kubepulse build] [1/2] building hello ..."
    assert re.fullmatch(r"\[kubepulse build\] \[1/2\] built hello in \d+ s", err[-1]), err


def test_a_failed_step_is_a_build_error_and_leaves_nothing(tmp_path: Path) -> None:
    src = module(tmp_path, main="package main\n\nfunc main() { undefined() }\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / ".broken.building").write_text("left by a killed build")
    builder = Builder(go(), tmp_path, bin_dir, total=1)
    with pytest.raises(BuildError, match=r"^building broken failed \(exit 1\): .* build -o "):
        builder.step("broken", ["build", "-o", OUT, "."], cwd=src)
    assert list(bin_dir.iterdir()) == []
    assert "broken" not in builder.seconds


def test_missing_go_is_a_build_error_with_the_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BuildError, match=r"^go: not found on PATH; .*Go 1\.24 or newer, or else$"):
        go("or else")


def test_cache_dirs_are_keyed_by_name_and_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert versioned_root("etcd", "3.6.16") == tmp_path / "kubepulse" / "etcd-v3.6.16"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert cache_root() == Path.home() / ".cache" / "kubepulse"
