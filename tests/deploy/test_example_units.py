"""The example systemd unit in examples/textfile/ keeps the Ansible role's limits and stop handling.

Users who install the example by hand get what the role installs: the same open-files, memory,
task and CPU limits, the same start timeout, and exit 143 (the textfile command's clean answer to
systemd's SIGTERM) counted as success.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "textfile" / "kubepulse-textfile.service"
DEFAULTS = ROOT / "deploy" / "ansible" / "roles" / "kubepulse_exporters" / "defaults" / "main.yml"

# unit directive -> the role default that fills it in the role's template
DIRECTIVES = {
    "TimeoutStartSec": "kubepulse_exporters_textfile_timeout",
    "LimitNOFILE": "kubepulse_exporters_textfile_limit_nofile",
    "MemoryMax": "kubepulse_exporters_textfile_memory_max",
    "TasksMax": "kubepulse_exporters_textfile_tasks_max",
    "CPUQuota": "kubepulse_exporters_textfile_cpu_quota",
}


def _service(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return dict(parser["Service"])


def test_the_example_textfile_unit_has_the_roles_limits() -> None:
    service = _service(EXAMPLE)
    defaults = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))
    assert len(DIRECTIVES) == 5
    for directive, variable in DIRECTIVES.items():
        assert service.get(directive) == str(defaults[variable]), directive
    assert service["SuccessExitStatus"] == "143"
    assert service["Type"] == "oneshot"
