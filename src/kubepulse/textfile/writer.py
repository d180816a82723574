"""Write a ``.prom`` file so that node_exporter never sees a partial one.

The text goes to a temporary file in the same directory (same filesystem, so the rename is
atomic) whose name ends in ``.tmp``, not ``.prom``, so the textfile collector skips it. It is
fsynced, renamed over the target, and the directory is fsynced so the rename survives a crash.

An exception or a signal turned into one (Ctrl-C, SIGTERM) removes the temporary file. SIGKILL
cannot be caught: ``remove_stale_temps`` removes what killed writers left, by name and age.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import tempfile
import time
from pathlib import Path

__all__ = ["STALE_AFTER_SECONDS", "remove_stale_temps", "write_atomic"]

# node_exporter usually runs as another user (Debian: prometheus); mkstemp's 0600 would hide
# the file from it.
FILE_MODE = 0o644

# The temporary file is ``.NAME.prom.XXXXXXXX.tmp``: mkstemp's 8 random characters (a-z, 0-9, _).
_TEMP_NAME = re.compile(r"\.[^/]+\.prom\.[a-z0-9_]{8}\.tmp")

# A younger temporary file may be a concurrent run's write in progress; a write (of a file of
# row counts, fsync included) takes well under this.
STALE_AFTER_SECONDS = 60.0

# Held off while the temporary file is created, so no interrupt lands between its creation and
# the handler that removes it.
_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new one.

    On any error, or an interrupt, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending interrupt is raised here
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8"))
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


def remove_stale_temps(
    directory: str | os.PathLike[str], older_than: float = STALE_AFTER_SECONDS
) -> tuple[list[Path], list[tuple[Path, OSError]]]:
    """Remove the temporary files killed writers left in ``directory``.

    Only regular files named as ``write_atomic`` names them (``.NAME.prom.XXXXXXXX.tmp``) and
    last modified more than ``older_than`` seconds ago; every other file is left alone. Returns
    the files removed and those that could not be, with the error.
    """
    removed: list[Path] = []
    failed: list[tuple[Path, OSError]] = []
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        return removed, [(Path(directory), exc)]
    for entry in entries:
        if not _TEMP_NAME.fullmatch(entry.name):
            continue
        path = Path(directory, entry.name)
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_mtime >= cutoff:
                continue
            os.unlink(path)
        except FileNotFoundError:  # another run removed it first
            continue
        except OSError as exc:
            failed.append((path, exc))
            continue
        removed.append(path)
    return removed, failed
