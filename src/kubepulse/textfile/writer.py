"""Write a ``.prom`` file so that node_exporter never sees a partial one, and clean up after
writers that were killed mid-write.

``write_atomic`` is ``kubepulse.atomic.write_atomic``: a temporary ``.NAME.prom.XXXXXXXX.tmp``
beside the target (the textfile collector skips it), fsynced, renamed over the target, then the
directory fsynced. SIGKILL cannot be caught: ``remove_stale_temps`` removes what killed writers
left, by name and age.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

from kubepulse.atomic import write_atomic

__all__ = ["STALE_AFTER_SECONDS", "remove_stale_temps", "write_atomic"]

# The temporary file is ``.NAME.prom.XXXXXXXX.tmp``: mkstemp's 8 random characters (a-z, 0-9, _).
_TEMP_NAME = re.compile(r"\.[^/]+\.prom\.[a-z0-9_]{8}\.tmp")

# A younger temporary file may be a concurrent run's write in progress; a write (of a file of
# row counts, fsync included) takes well under this.
STALE_AFTER_SECONDS = 60.0


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
