"""The CLI: version, and every command importable with --help and an example."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from kubepulse import __version__
from kubepulse.cli import COMMANDS, main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"kubepulse, version {__version__}"


def test_help_lists_every_command_and_an_example():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output
    assert "Example:" in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_help_with_an_example(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_unknown_command_fails():
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "kubepulse", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in out.stdout
