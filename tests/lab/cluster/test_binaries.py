"""Finding and building the cluster's binaries: lookup order, errors, the wrapper go.mod."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kubepulse.lab.cluster.binaries import (
    CORE,
    BuildError,
    cache_dir,
    ensure_binaries,
    kube_wrapper_gomod,
)

UPSTREAM = """\
module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
\tgithub.com/spf13/cobra v1.9.1
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/cri-api => ./staging/src/k8s.io/cri-api
)
"""


def test_wrapper_gomod_pins_every_staging_module() -> None:
    text = kube_wrapper_gomod(UPSTREAM, "1.34.4")
    assert "require k8s.io/kubernetes v1.34.4" in text
    assert "godebug default=go1.24" in text
    assert "\ngo 1.24.0\n" in text
    for module in ("k8s.io/api", "k8s.io/client-go", "k8s.io/cri-api"):
        assert f"\t{module} => {module} v0.34.4\n" in text
    assert "./staging" not in text


def test_wrapper_gomod_refuses_a_gomod_without_staging() -> None:
    with pytest.raises(BuildError, match="no staging replaces"):
        kube_wrapper_gomod("module k8s.io/kubernetes\n\ngo 1.24.0\n", "1.34.4")


@pytest.fixture
def empty_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No binaries anywhere: empty PATH, empty cache, empty KUBEPULSE_K8S_BIN."""
    (tmp_path / "path").mkdir()
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KUBEPULSE_K8S_BIN", str(tmp_path / "bin"))
    return tmp_path


def test_missing_go_is_one_clear_error(empty_env: Path) -> None:
    with pytest.raises(BuildError, match=r"^go: not found on PATH.*KUBEPULSE_K8S_BIN"):
        ensure_binaries()
    assert not (cache_dir() / "bin").exists() or not any((cache_dir() / "bin").iterdir())


def test_no_build_names_what_is_missing(empty_env: Path) -> None:
    with pytest.raises(BuildError, match=r"missing binaries: kube-apiserver, .*kwokctl"):
        ensure_binaries(build=False)


def test_kubepulse_k8s_bin_comes_first(empty_env: Path) -> None:
    own = empty_env / "bin"
    for name in CORE:
        exe = own / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    found = ensure_binaries(build=False)
    assert found.kube_apiserver == own / "kube-apiserver"
    assert found.kwokctl == own / "kwokctl"
    assert found.metrics_server is None
    assert found.path_dirs() == [str(own)]
