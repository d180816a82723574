"""The ``.prom`` writer's durability steps (README: the temporary file is fsynced, renamed over the
old one, and the directory fsynced).

fsync has no effect a test can see: without a crash or power loss, the page cache serves the same
bytes whether or not they reached the disk, and nothing in the file, its directory or its
metadata records that an fsync happened. So the only way to observe it is a spy: ``os.fsync``
and ``os.replace``/``os.rename`` are wrapped by recorders that call the real functions (the files
are really written, synced and renamed); the spy only notes which file or directory each fsync
was given, and in what order relative to the rename.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubepulse.cli import main
from kubepulse.podmonitor import metrics
from kubepulse.podmonitor.models import AffectedPod, PodsStatus
from kubepulse.podmonitor.report import render_report, write_report
from kubepulse.textfile.writer import write_atomic

Event = tuple[str, os.stat_result | tuple[str, str]]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every fsync (with the fstat of its fd, taken before the real call) and every rename."""
    recorded: list[Event] = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd: int) -> None:
        recorded.append(("fsync", os.fstat(fd)))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        recorded.append(("rename", (os.fspath(src), os.fspath(dst))))
        real_replace(src, dst)

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        recorded.append(("rename", (os.fspath(src), os.fspath(dst))))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", rename)
    return recorded


def _check_sequence(events: list[Event], target: Path) -> None:
    """The new file's data is fsynced, then it is renamed over ``target``, then ``target``'s
    directory is fsynced: exactly these three steps, in this order."""
    assert [kind for kind, _ in events] == ["fsync", "rename", "fsync"], events
    (_, file_st), (_, names), (_, dir_st) = events
    assert isinstance(file_st, os.stat_result) and isinstance(dir_st, os.stat_result)
    assert isinstance(names, tuple)
    src, dst = names
    # The temporary file sits beside the target and ends in .tmp (node_exporter skips it).
    assert Path(dst) == target
    assert Path(src).parent == target.parent and src.endswith(".tmp")
    assert not Path(src).exists()
    # The first fsync was the file that became the target (same inode), not the directory.
    assert os.path.samestat(file_st, os.stat(target))
    # The second was the target's directory, after the rename.
    assert os.path.samestat(dir_st, os.stat(target.parent))
    assert not os.path.samestat(dir_st, os.stat(target))


def test_write_atomic_fsyncs_the_file_then_renames_then_fsyncs_the_directory(
    tmp_path: Path, events: list[Event]
) -> None:
    target = tmp_path / "app.prom"
    target.write_text("old 1\n")
    old_inode = target.stat().st_ino
    write_atomic(target, "new 2\n")
    assert target.read_text() == "new 2\n"
    assert target.stat().st_ino != old_inode  # replaced by the renamed file, not rewritten
    _check_sequence(events, target)


def test_the_textfile_command_writes_through_the_same_steps(
    tmp_path: Path, events: list[Event]
) -> None:
    store = tmp_path / "store.xml"
    store.write_text('<?xml version="1.0"?>\n<store>\n  <row type="order"/>\n</store>\n')
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(main, ["textfile", str(store), "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    target = out / "store.prom"
    assert 'store_rows{path="' + str(store) + '",type="order"} 1' in target.read_text()
    _check_sequence(events, target)


def test_the_pod_monitors_textfile_and_report_write_through_the_same_steps(
    tmp_path: Path, events: list[Event]
) -> None:
    """Every file output shares the writer: the pod monitor's textfile and HTML report too."""
    status = PodsStatus(unrecovered=[AffectedPod("api-1", "shop", killed_pod_name="api-1")])
    registry = metrics.build_registry(status, finished_at=1e9)
    target = metrics.write_textfile(tmp_path, registry)
    assert target == tmp_path / metrics.TEXTFILE_NAME
    assert target.read_text() == metrics.render(registry)
    assert oct(target.stat().st_mode & 0o777) == "0o644"  # readable by node_exporter's user
    _check_sequence(events, target)
    events.clear()
    report = write_report(tmp_path / "report.html", status)
    assert report.read_text() == render_report(status)
    _check_sequence(events, report)
