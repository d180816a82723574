"""Start local servers for tests, benchmarks and the demo, and always clean them up.

Every process started here gets its own session (so its children die with it), writes stdout and
stderr to one log file, and is stopped (SIGTERM, then SIGKILL) when its ``ProcessGroup`` closes,
even if the code using it raised. Readiness checks and URLs handed out here are loopback only:
``require_loopback`` refuses anything else, because this project must never connect elsewhere.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

__all__ = [
    "ClosedOnExit",
    "ManagedProcess",
    "ProcessGroup",
    "free_port",
    "require_loopback",
    "wait_for_http",
    "wait_for_port",
]

LOOPBACK = "127.0.0.1"


class ClosedOnExit:
    """A context manager that is its own ``with`` target and calls ``close()`` on leaving the
    block, whether or not it raised."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def require_loopback(url_or_host: str) -> str:
    """Return ``url_or_host`` unchanged if it names a loopback host; raise ``ValueError`` if not."""
    host = urlsplit(url_or_host).hostname if "://" in url_or_host else url_or_host
    host = (host or "").strip("[]")
    if host == "localhost":
        return url_or_host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return url_or_host
    except ValueError:
        pass
    raise ValueError(f"refusing non-loopback address {url_or_host!r}: only 127.0.0.0/8 is allowed")


# Below Linux's default ephemeral range (32768-60999): between free_port() and the server's
# bind, an outgoing connection could take an ephemeral port, but never one of these.
PORT_BAND = range(20000, 32768)
_handed_out: set[int] = set()


def _ephemeral_range() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def _band() -> range:
    """This process's share of ``PORT_BAND``: under pytest-xdist each worker (and whatever it
    starts, which inherits its environment) picks from its own slice, so workers never race
    for a port."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = len(PORT_BAND) // max(count, 1)
    start = PORT_BAND.start + (index % max(count, 1)) * size
    return range(start, start + size)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and that this process has not handed
    out before, outside the kernel's ephemeral range where it can; see ``PORT_BAND``."""
    band = _band()
    ephemeral = _ephemeral_range()
    candidates = [p for p in band if p not in _handed_out and p not in ephemeral]
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        chosen: int = sock.getsockname()[1]
    _handed_out.add(chosen)
    return chosen


def wait_for_port(port: int, timeout: float = 30.0, host: str = LOOPBACK) -> None:
    """Block until something accepts TCP connections on ``host:port``; ``TimeoutError`` if not."""
    require_loopback(host)
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s")
        time.sleep(0.05)


def wait_for_http(
    url: str,
    timeout: float = 30.0,
    ok: Callable[[int], bool] = lambda status: status < 400,
    alive: Callable[[], bool] = lambda: True,
) -> None:
    """Block until GET ``url`` answers with a status ``ok`` accepts; ``TimeoutError`` if not.

    ``alive`` lets the caller stop waiting early, e.g. when the server process has exited.
    """
    require_loopback(url)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if ok(resp.status):
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            if ok(exc.code):
                return
            last = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            last = str(exc)
        if not alive():
            raise RuntimeError(f"process exited while waiting for {url} ({last})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not ready after {timeout} s: {last}")
        time.sleep(0.1)


@dataclass
class ManagedProcess:
    """One started process and where its output goes."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process's whole session, SIGKILL it after ``timeout``; return exit code.

        Returns only once no process of the session is left running: the leader's exit does not
        mean its children have acted on the signal yet, and one that ignores it is killed.
        """
        deadline = time.monotonic() + timeout
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
            if _wait_group_gone(self.popen.pid, deadline):
                return self.popen.returncode
        # The leader is gone but children it left in its session may not be.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        _wait_group_gone(self.popen.pid, time.monotonic() + 2.0)
        return self.popen.returncode

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _group_members(pgid: int) -> list[int]:
    """PIDs in process group ``pgid`` that are still running (zombies left out: PID 1 in a
    container may never reap them)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def _wait_group_gone(pgid: int, deadline: float) -> bool:
    """Whether process group ``pgid`` has no running member by ``deadline`` (polled)."""
    while _group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


class ProcessGroup(ClosedOnExit):
    """Processes started together and stopped together, in reverse order, on ``close()``."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: list[ManagedProcess] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        ready_url: str | None = None,
        ready_port: int | None = None,
        timeout: float = 30.0,
    ) -> ManagedProcess:
        """Start ``argv`` with output to ``LOG_DIR/NAME.log``; wait for readiness if asked.

        If the process does not become ready, it is stopped and the error includes its log tail.
        """
        log_path = self.log_dir / f"{name}.log"
        full_env = {**os.environ, **(env or {})}
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        proc = ManagedProcess(name, list(argv), log_path, popen)
        self.processes.append(proc)
        try:
            if ready_port is not None:
                wait_for_port(ready_port, timeout)
            if ready_url is not None:
                wait_for_http(ready_url, timeout, alive=proc.alive)
        except (TimeoutError, RuntimeError) as exc:
            proc.stop()
            raise RuntimeError(f"{name} did not start: {exc}\n{proc.log_tail()}") from exc
        return proc

    def close(self) -> None:
        """Stop every process, last started first."""
        while self.processes:
            self.processes.pop().stop()
