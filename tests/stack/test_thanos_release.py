"""Thanos is pinned and buildable through the stack builder, but only on request: the default build
(``make prometheus-upstream``) leaves it out, because it takes about 12 minutes cold here
(``tests/test_versions.py::test_a_second_call_builds_nothing`` lists the default build's
commands, without ``thanos``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubepulse import versions
from kubepulse.lab.releases import ON_REQUEST, RELEASES


def test_thanos_is_pinned_on_request_only() -> None:
    thanos = ON_REQUEST["thanos"]
    assert (thanos.version, thanos.module_version) == (versions.THANOS, "v0.40.1")
    assert thanos.module == "github.com/thanos-io/thanos"
    assert thanos.commands == {"thanos": "./cmd/thanos"}
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    assert thanos.bin_dir == root / "kubepulse" / "thanos-v0.40.1" / "bin"
    assert "thanos" not in RELEASES


def test_a_thanos_built_without_upstreams_tags_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upstream builds with ``slicelabels`` (without it the StoreAPI servers panic marshalling
    label sets); a cached binary from before the builder passed it, which has no ``.tags``
    stamp, counts as missing, and one stamped with the release's tags does not."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    thanos = ON_REQUEST["thanos"]
    assert thanos.tags == "netgo,slicelabels"
    thanos.bin_dir.mkdir(parents=True)
    command = thanos.bin_dir / "thanos"
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    assert thanos.missing() == ["thanos"]
    (thanos.bin_dir / ".tags").write_text("netgo,slicelabels\n")
    assert thanos.missing() == []
    # The default build's releases keep their plain netgo builds without a stamp.
    prometheus = RELEASES["prometheus"]
    prometheus.bin_dir.mkdir(parents=True)
    for name in prometheus.commands:
        (prometheus.bin_dir / name).write_text("#!/bin/sh\n")
        (prometheus.bin_dir / name).chmod(0o755)
    assert prometheus.missing() == []
