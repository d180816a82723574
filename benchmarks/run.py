"""Run every benchmark (`make bench`), or those named: `python benchmarks/run.py threader`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    available = sorted(p.parent.name for p in HERE.glob("*/bench.py"))
    unknown = set(names) - set(available)
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; have {available}", file=sys.stderr
        )
        return 2
    failed = []
    for name in names or available:
        print(f"== {name}", flush=True)
        if subprocess.run(
            [sys.executable, str(HERE / name / "bench.py")], cwd=HERE.parent
        ).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
