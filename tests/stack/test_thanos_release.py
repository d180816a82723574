"""Thanos is pinned and buildable through the stack builder, but only on request: the default build
(``make prometheus-upstream``) leaves it out, because it takes about 12 minutes cold here
(``tests/test_versions.py::test_a_second_call_builds_nothing`` lists the default build's
commands, without ``thanos``)."""

from __future__ import annotations

import os
from pathlib import Path

from kubepulse import versions
from kubepulse.stack.binaries import ON_REQUEST, RELEASES


def test_thanos_is_pinned_on_request_only() -> None:
    thanos = ON_REQUEST["thanos"]
    assert (thanos.version, thanos.module_version) == (versions.THANOS, "v0.40.1")
    assert thanos.module == "github.com/thanos-io/thanos"
    assert thanos.commands == {"thanos": "./cmd/thanos"}
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    assert thanos.bin_dir == root / "kubepulse" / "thanos-v0.40.1" / "bin"
    assert "thanos" not in RELEASES
