"""Fixtures for the textfile tests: promtool, a real node_exporter, store files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textfile_helpers import NodeExporter, StoreWriter, promtool_check

from kubepulse.lab.processes import ProcessGroup, free_port
from kubepulse.lab.releases import binary


@pytest.fixture
def promtool() -> Callable[[str], None]:
    return promtool_check


@pytest.fixture(scope="module")
def node_exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeExporter]:
    directory = tmp_path_factory.mktemp("textfile-dir")
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with ProcessGroup(tmp_path_factory.mktemp("logs")) as group:
        group.start(
            "node_exporter",
            [
                str(binary("node_exporter")),
                f"--web.listen-address=127.0.0.1:{port}",
                "--collector.disable-defaults",
                "--collector.textfile",
                f"--collector.textfile.directory={directory}",
            ],
            ready_url=url,
        )
        yield NodeExporter(url, directory)


@pytest.fixture
def write_store(tmp_path: Path) -> StoreWriter:
    """Write an XML store from row strings: ``write_store('<a type="x"/>', ..., name='s.xml')``."""

    def write(*rows: str, name: str = "store.xml", root: str = "store") -> Path:
        path = tmp_path / name
        path.write_text(
            f'<?xml version="1.0"?>\n<{root}>\n'
            + "".join(f"  {r}\n" for r in rows)
            + f"</{root}>\n"
        )
        return path

    return write
