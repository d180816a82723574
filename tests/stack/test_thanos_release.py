"""Thanos is pinned and buildable through the stack builder, but only on request: the default build
(``make prometheus-upstream``) leaves it out, because it takes about 12 minutes cold here."""

from __future__ import annotations

import os
from pathlib import Path

from kubepulse import versions
from kubepulse.stack.binaries import ON_REQUEST, RELEASES, ensure_releases


def test_thanos_is_pinned_on_request_only() -> None:
    thanos = ON_REQUEST["thanos"]
    assert (thanos.version, thanos.module_version) == (versions.THANOS, "v0.40.1")
    assert thanos.module == "github.com/thanos-io/thanos"
    assert thanos.commands == {"thanos": "./cmd/thanos"}
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    assert thanos.bin_dir == root / "kubepulse" / "thanos-v0.40.1" / "bin"
    assert "thanos" not in RELEASES


def test_the_default_build_leaves_thanos_out() -> None:
    assert sorted(ensure_releases(build=False)) == [
        "alertmanager",
        "amtool",
        "blackbox_exporter",
        "node_exporter",
        "prometheus",
        "promtool",
    ]
