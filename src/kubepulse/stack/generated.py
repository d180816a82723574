"""Committed files that code generates (dashboards, Grafana alerting): write them, or check them.

Each generator's ``main`` is this one command line: without flags it writes every file and
prints its path; with ``--check`` it writes nothing and exits 1, naming each file that is
missing or differs from what the code generates.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["generated_main"]


def generated_main(
    argv: list[str] | None,
    *,
    module: str,
    directory: Path,
    texts: Callable[[], Mapping[str, str]],
) -> int:
    """Write ``texts()`` (file name -> text) into ``directory``, or check it (``--check``)."""
    parser = argparse.ArgumentParser(
        description=f"Generate {directory.parent.name}/{directory.name}/ from code.",
        epilog=f"Example: python -m {module} --check",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed files are stale"
    )
    args = parser.parse_args(argv)
    wanted = texts()
    if args.check:
        stale = [
            name
            for name, text in wanted.items()
            if not (directory / name).is_file() or (directory / name).read_text() != text
        ]
        for name in stale:
            print(f"{directory / name}: stale; run python -m {module}", file=sys.stderr)
        return 1 if stale else 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in wanted.items():
        (directory / name).write_text(text, encoding="utf-8")
        print(directory / name)
    return 0
