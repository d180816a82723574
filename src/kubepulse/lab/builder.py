"""The one builder of the lab's pinned Go binaries (the cluster's, kube-state-metrics, the stack's).

Every program is compiled once from its Go module into a cache directory keyed by its version,
``versioned_root(name, version)`` = ``~/.cache/kubepulse/NAME-vVERSION`` (``$XDG_CACHE_HOME`` if
set), and reused. Modules whose go.mod has ``replace`` directives (``go install mod@tag`` refuses
them) are built as, or from, a main module of the caller's making: a wrapper go.mod, or a copy of
the module's source (``mod_download`` finds it in the module cache). ``Builder.step`` builds one
binary to a temporary name and renames it, so an interrupted build never leaves one that looks
finished; ``Builder.build`` is such a step of ``go build`` on a package of that main module, and
``Builder.install`` one of ``go install module/cmd@tag``. ``build_missing`` builds, under the
cache directory's lock, what is still missing once the lock is held.

Progress goes to stderr in one style, ``[kubepulse build] [2/5] building etcd ...``, with a line
every ``HEARTBEAT_SECONDS`` while a step runs and the seconds it took, and a closing
``all built in N s`` (``log_all_built``). Every failure is a ``BuildError`` whose message says
which binary and why.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "GO_ENV",
    "HEARTBEAT_SECONDS",
    "OUT",
    "BuildError",
    "Builder",
    "build_lock",
    "build_missing",
    "cache_root",
    "go",
    "log",
    "log_all_built",
    "mod_download",
    "versioned_root",
]

HEARTBEAT_SECONDS = 30.0
# Static binaries like upstream's; -mod=mod lets wrapper modules fill in go.sum themselves.
GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
# Stands, in a step's arguments, for the temporary output path.
OUT = "{out}"

_T = TypeVar("_T")


class BuildError(RuntimeError):
    """A binary could not be found or built; the message says which and why."""


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/kubepulse`` (``~/.cache/kubepulse`` when it is unset or empty)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kubepulse"


def versioned_root(name: str, version: str) -> Path:
    """Where ``name`` at ``version`` is built and kept: ``cache_root()/NAME-vVERSION``."""
    return cache_root() / f"{name}-v{version}"


@contextlib.contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold ``root/.build.lock`` exclusively: concurrent builders of one cache directory
    (pytest-xdist workers, ``make deps`` beside a test) take turns, and each re-checks what is
    missing once it holds the lock, so no two ever build, and rename over, the same binary."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_missing(
    root: Path, missing: Callable[[], list[str]], build: Callable[[list[str]], _T]
) -> _T | None:
    """``build(missing())`` under ``build_lock(root)``, or ``None`` when nothing is missing: what
    ``missing`` names is looked up once the lock is held, since another builder may have built it
    while this one waited."""
    with build_lock(root):
        names = missing()
        return build(names) if names else None


def log(message: str) -> None:
    """One progress line on stderr."""
    print(f"[kubepulse build] {message}", file=sys.stderr, flush=True)


def log_all_built(started: float) -> float:
    """The closing progress line, ``all built in N s``; return the seconds since ``started`` (a
    ``time.monotonic()``)."""
    seconds = time.monotonic() - started
    log(f"all built in {seconds:.0f} s")
    return seconds


def go(hint: str = "") -> str:
    """The ``go`` on ``PATH``; ``BuildError`` naming what to do (and ``hint``) if there is none."""
    found = shutil.which("go")
    if found is None:
        raise BuildError(
            "go: not found on PATH; it builds the pinned binaries. Install Go 1.24 or newer"
            + (f", {hint}" if hint else "")
        )
    return found


def mod_download(ref: str, go_bin: str | None = None) -> dict[str, Any]:
    """``go mod download -json REF`` run outside any module: the module's ``Dir`` (its source in
    the module cache), ``GoMod``, ``Info`` and the rest of what go reports."""
    out = subprocess.run(
        [go_bin or go(), "mod", "download", "-json", ref],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),  # outside any go.mod, so no module context interferes
        env={**os.environ, "GOFLAGS": ""},
    )
    if out.returncode != 0:
        raise BuildError(f"go mod download {ref}: {(out.stdout or out.stderr).strip()}")
    info: dict[str, Any] = json.loads(out.stdout)
    return info


def _run(argv: list[str], *, cwd: Path, env: Mapping[str, str], label: str) -> None:
    """Run one build command, passing its output through and logging a heartbeat while it runs."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL)
    while True:
        try:
            proc.wait(HEARTBEAT_SECONDS)
            break
        except subprocess.TimeoutExpired:
            log(f"  still {label} ({time.monotonic() - started:.0f} s)")
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0:
        raise BuildError(f"{label} failed (exit {proc.returncode}): {' '.join(argv)}")


class Builder:
    """Builds binaries into ``bin_dir`` (made if absent), numbering the steps (of ``total``) in the
    progress lines and keeping each one's seconds in ``seconds``."""

    def __init__(self, go: str, root: Path, bin_dir: Path, total: int) -> None:
        self.go, self.root, self.bin_dir = go, root, bin_dir
        self.total, self.done = total, 0
        self.seconds: dict[str, float] = {}
        bin_dir.mkdir(parents=True, exist_ok=True)

    def build(
        self,
        name: str,
        package: str,
        *,
        cwd: Path,
        tags: str = "",
        ldflags: str = "-s -w",
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``go build -trimpath [-tags TAGS] -ldflags LDFLAGS PACKAGE`` in ``cwd`` (a main module:
        a copy of upstream's, or a wrapper requiring it) as ``name``, one ``step``."""
        tag_args = ["-tags", tags] if tags else []
        self.step(
            name,
            ["build", "-trimpath", *tag_args, "-ldflags", ldflags, "-o", OUT, package],
            cwd=cwd,
            env=env,
        )

    def install(self, name: str, package: str) -> None:
        """``go install PACKAGE@TAG`` (a module without ``replace`` directives) as ``name``."""
        with tempfile.TemporaryDirectory(dir=self.bin_dir, prefix=f".{name}-") as gobin:
            self.step(
                name,
                ["install", "-trimpath", "-ldflags", "-s -w", package],
                cwd=self.root,
                env={"GOFLAGS": "", "GOBIN": gobin},
                installed=Path(gobin) / name,
            )

    def step(
        self,
        name: str,
        args: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        installed: Path | None = None,
    ) -> None:
        """Run ``go ARGS`` (``OUT`` in them is the temporary output) in ``cwd`` and move the result
        (or ``installed``, for ``go install``) to ``bin_dir/NAME`` by rename."""
        self.done += 1
        tag = f"[{self.done}/{self.total}]"
        tmp_out = self.bin_dir / f".{name}.building"
        argv = [self.go, *(tmp_out.as_posix() if a == OUT else a for a in args)]
        started = time.monotonic()
        log(f"{tag} building {name} ...")
        try:
            _run(argv, cwd=cwd, env={**GO_ENV, **(env or {})}, label=f"building {name}")
            (installed or tmp_out).replace(self.bin_dir / name)
        finally:
            tmp_out.unlink(missing_ok=True)
        self.seconds[name] = round(time.monotonic() - started, 1)
        log(f"{tag} built {name} in {self.seconds[name]:.0f} s")
