"""The builder's shared steps: ``Builder.build`` (``go build`` with tags and ldflags, as every
wrapper module and release is built) and ``build_missing`` (the lock and the re-check)."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import pytest

from kubepulse.lab.builder import Builder, build_missing, go, log_all_built

MAIN = """package main

import "fmt"

var version = "unstamped"
var tagged = false

func main() { fmt.Println(version, tagged) }
"""
TAGGED = "//go:build kp\n\npackage main\n\nfunc init() { tagged = true }\n"


@pytest.mark.skipif(shutil.which("go") is None, reason="needs go on PATH")
def test_build_passes_tags_and_ldflags_and_names_the_binary(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "go.mod").write_text("module kubepulse.local/stamped\n\ngo 1.24\n")
    (src / "main.go").write_text(MAIN)
    (src / "tagged.go").write_text(TAGGED)
    builder = Builder(go(), tmp_path, tmp_path / "bin", total=2)  # bin/ is made by the builder

    builder.build("plain", ".", cwd=src)
    builder.build("stamped", ".", cwd=src, tags="kp", ldflags="-s -w -X main.version=1.2.3")

    def run(name: str) -> str:
        return subprocess.run(
            [tmp_path / "bin" / name], capture_output=True, text=True, check=True
        ).stdout

    assert run("plain") == "unstamped false\n"
    assert run("stamped") == "1.2.3 true\n"
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["plain", "stamped"]
    assert builder.done == 2 and set(builder.seconds) == {"plain", "stamped"}


def test_build_missing_builds_what_is_missing_under_the_lock(tmp_path: Path) -> None:
    def build(names: list[str]) -> list[str]:
        # Another builder's attempt to take the lock fails while this one builds.
        with open(tmp_path / ".build.lock") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return names

    assert build_missing(tmp_path, lambda: ["etcd", "kwok"], build) == ["etcd", "kwok"]


def test_build_missing_builds_nothing_when_nothing_is_missing(tmp_path: Path) -> None:
    def build(names: list[str]) -> None:
        raise AssertionError(f"built {names}")

    assert build_missing(tmp_path, list, build) is None


def test_the_closing_line_gives_the_seconds(capfd: pytest.CaptureFixture[str]) -> None:
    seconds = log_all_built(0.0)
    assert seconds > 0
    assert capfd.readouterr().err == f"[kubepulse build] all built in {seconds:.0f} s\n"
