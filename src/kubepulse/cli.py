"""The ``kubepulse`` command line: one thin sub-command per capability.

Sub-commands are imported only when run, so ``kubepulse --help`` stays fast and a capability's
heavy dependencies (the Kubernetes client, matplotlib) load only for the command that needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from kubepulse import __version__

# name -> ("module:attribute", one-line help). Every entry must import: a missing module is a bug,
# and tests/test_cli.py runs each command's --help to prove it.
COMMANDS: dict[str, tuple[str, str]] = {
    "cluster": ("kubepulse.lab.cluster.cli:cluster", "Local Kubernetes test cluster."),
    "exporter": ("kubepulse.exporters.cli:exporter", "Run a Prometheus exporter."),
    "monitor": ("kubepulse.podmonitor.cli:monitor", "Measure how pods recover after a kill."),
    "textfile": ("kubepulse.textfile.cli:textfile", "Turn an XML store into a .prom file."),
    "demo": ("kubepulse.demo:demo", "Bring the whole stack up locally."),
    "render-dashboard": (
        "kubepulse.render.cli:render_dashboard",
        "Render a Grafana dashboard's panels to PNG.",
    ),
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported from a table on first use.

    Capabilities with sub-commands of their own (``kubepulse exporter ...``) reuse it:
    ``@click.group(cls=LazyGroup, commands={...})``.
    """

    def __init__(self, *args: Any, commands: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.lazy_commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands:
            return None
        target, _short_help = self.lazy_commands[cmd_name]
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        command: click.Command = getattr(module, attr)
        return command


@click.group(
    cls=LazyGroup,
    commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: kubepulse textfile /var/lib/app/store.xml --output-dir /var/lib/node_exporter",
)
@click.version_option(__version__, prog_name="kubepulse")
def main() -> None:
    """kubepulse: monitor Kubernetes with Prometheus and Grafana.

    Run `kubepulse COMMAND --help` for each command's options and an example.
    """
