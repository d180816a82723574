"""Write a ``.prom`` file so that node_exporter never sees a partial one.

The text goes to a temporary file in the same directory (same filesystem, so the rename is
atomic) whose name ends in ``.tmp``, not ``.prom``, so the textfile collector skips it. It is
fsynced, renamed over the target, and the directory is fsynced so the rename survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]

# node_exporter usually runs as another user (Debian: prometheus); mkstemp's 0600 would hide
# the file from it.
FILE_MODE = 0o644


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new one.

    On any error, or an interrupt, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
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
