"""Replace a file in one step, so that a reader sees the old file or the new one, never part.

Every file kubepulse writes (textfile ``.prom`` outputs, the pod monitor's JSON, textfile and HTML
report) goes through ``write_atomic``. The text goes to a temporary file in the same directory
(same filesystem, so the rename is atomic) named ``.NAME.XXXXXXXX.tmp``, which node_exporter's
textfile collector skips since it does not end in ``.prom``. The file is fsynced, renamed over the
target, and the directory is fsynced so the rename survives a crash.

An exception or a signal turned into one (Ctrl-C, SIGTERM) removes the temporary file. SIGKILL
cannot be caught: ``kubepulse.textfile.writer.remove_stale_temps`` removes what killed writers left
in a textfile directory, by name and age.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from pathlib import Path

__all__ = ["FILE_MODE", "write_atomic"]

# node_exporter usually runs as another user (Debian: prometheus); mkstemp's 0600 would hide
# the file from it.
FILE_MODE = 0o644

# Held off while the temporary file is created, so no interrupt lands between its creation and
# the handler that removes it.
_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one step.

    On any error, or an interrupt, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending interrupt is raised here
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
