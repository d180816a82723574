"""Find or build the binaries of the local test cluster: a real control plane plus kwok.

``ensure_binaries()`` returns a ``Binaries`` with a path for every program the cluster needs.
For each program it takes, in order: the directory named by ``KUBEPULSE_K8S_BIN``; the
version-keyed cache ``$XDG_CACHE_HOME/kubepulse/k8s-v<version>/bin`` (default ``~/.cache``);
``PATH``, where Kubernetes components and etcd are accepted only at the pinned minor version (a
skewed control plane would test the wrong thing). Whatever is still missing is built from Go
modules through the module proxy:

- kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from ``k8s.io/kubernetes``,
  through a wrapper module that replaces every ``k8s.io/*`` staging module with its ``v0.X.Y`` tag
  (the upstream go.mod points them at ``./staging``, so ``go install`` refuses it), with the version
  stamped in, because kwokctl reads ``--version`` to choose flags;
- etcd from ``go.etcd.io/etcd/server/v3`` through a wrapper module (it has relative replaces too);
- kwok and kwokctl (and, on request, metrics-server) with ``go install module/cmd@tag``.

Builds go through the lab's one builder (``kubepulse.lab.builder``): a temporary name then a
rename, so an interrupted build never leaves a binary that looks finished, and progress lines (step,
elapsed time, a heartbeat during long steps) on stderr.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kubepulse.atomic import write_atomic
from kubepulse.lab.builder import (
    Builder,
    BuildError,
    build_missing,
    go,
    log,
    log_all_built,
    mod_download,
    versioned_root,
)

__all__ = [
    "ETCD_VERSION",
    "KSM_VERSION",
    "KUBE_VERSION",
    "KWOK_VERSION",
    "METRICS_SERVER_VERSION",
    "Binaries",
    "BuildError",
    "cache_dir",
    "ensure_binaries",
    "ensure_kube_state_metrics",
]

KUBE_VERSION = "1.34.4"
ETCD_VERSION = "3.6.16"
KWOK_VERSION = "0.8.0"
METRICS_SERVER_VERSION = "0.9.0"
# The kube-state-metrics release the cluster exporter matches, built for the differential test.
KSM_VERSION = "2.16.0"
# Modules whose proxy zips have no checksum database entry here (404).
_SUMDB_EXEMPT = "k8s.io/kube-state-metrics,k8s.io/sample-controller"

KUBE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
CORE = (*KUBE_COMPONENTS, "etcd", "kwok", "kwokctl")


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the cluster's programs (``metrics_server`` only when asked for)."""

    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    kwok: Path
    kwokctl: Path
    metrics_server: Path | None = None

    def path_dirs(self) -> list[str]:
        """Directories to put first on ``PATH`` so kwokctl finds this kubectl, not another."""
        return list(dict.fromkeys(str(p.parent) for p in (self.kubectl, self.kwokctl)))


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/kubepulse/k8s-v<KUBE_VERSION>``."""
    return versioned_root("k8s", KUBE_VERSION)


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _version_ok(name: str, path: str) -> bool:
    """Whether a binary found on PATH runs at the pinned minor version (kwok's at any version)."""
    if name in ("kwok", "kwokctl", "metrics-server"):
        return True
    argv = [path, "version", "--client"] if name == "kubectl" else [path, "--version"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    want = _minor(ETCD_VERSION) if name == "etcd" else _minor(KUBE_VERSION)
    return re.search(rf"\bv?{re.escape(want)}\.\d+", out) is not None


def _find(name: str, bin_dir: Path) -> Path | None:
    env_dir = os.environ.get("KUBEPULSE_K8S_BIN")
    if env_dir and (Path(env_dir) / name).is_file() and os.access(Path(env_dir) / name, os.X_OK):
        return (Path(env_dir) / name).resolve()
    cached = bin_dir / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    on_path = shutil.which(name)
    if on_path and _version_ok(name, on_path):
        return Path(on_path).resolve()
    return None


def _go() -> str:
    return go(f"or set KUBEPULSE_K8S_BIN to a directory holding {', '.join(CORE)}")


def _ldflags_version(version: str) -> str:
    major, minor = version.split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion=v{version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def kube_wrapper_gomod(upstream_gomod: str, version: str) -> str:
    """The wrapper go.mod for building ``k8s.io/kubernetes`` ``v<version>`` outside its repo.

    Every ``k8s.io/<name> => ./staging/...`` replace of the upstream go.mod becomes
    ``k8s.io/<name> => k8s.io/<name> v0.<minor>.<patch>``; the ``go`` and ``godebug`` lines are
    copied so the binaries behave as upstream's do.
    """
    staging = sorted(
        set(re.findall(r"^\s*(k8s\.io/[\w.\-/]+)\s+=>\s+\./staging/", upstream_gomod, re.M))
    )
    if not staging:
        raise BuildError(f"k8s.io/kubernetes v{version}: no staging replaces found in its go.mod")
    go_line = re.search(r"^go\s+(\S+)", upstream_gomod, re.M)
    godebug = re.search(r"^godebug\s+.*$", upstream_gomod, re.M)
    tag = "v0." + ".".join(version.split(".")[1:])
    lines = [
        "module kubepulse.local/k8sbuild",
        "",
        f"go {go_line.group(1) if go_line else '1.24.0'}",
        "",
    ]
    if godebug:
        lines += [godebug.group(0), ""]
    lines += [f"require k8s.io/kubernetes v{version}", "", "replace ("]
    lines += [f"\t{mod} => {mod} {tag}" for mod in staging]
    lines += [")", ""]
    return "\n".join(lines)


def _wrapper_module(src: Path, gomod: Callable[[], str]) -> Path:
    """``src``, made if absent, holding the go.mod of a wrapper module: ``gomod()``, written
    atomically the first time (later builds reuse it, with what go has added to it)."""
    src.mkdir(parents=True, exist_ok=True)
    if not (src / "go.mod").exists():
        write_atomic(src / "go.mod", gomod())
    return src


def _kube_gomod(go_bin: str) -> str:
    log(f"resolving k8s.io/kubernetes v{KUBE_VERSION} (go mod download)")
    upstream = mod_download(f"k8s.io/kubernetes@v{KUBE_VERSION}", go_bin)["GoMod"]
    return kube_wrapper_gomod(Path(upstream).read_text(), KUBE_VERSION)


def _build_kube(builder: Builder, names: Iterable[str]) -> None:
    """The Kubernetes components from ``k8s.io/kubernetes`` through its wrapper module."""
    src = _wrapper_module(builder.root / "src" / "k8s", lambda: _kube_gomod(builder.go))
    ldflags = _ldflags_version(KUBE_VERSION)
    for name in names:
        builder.build(
            name, f"k8s.io/kubernetes/cmd/{name}", cwd=src, tags="selinux,notest", ldflags=ldflags
        )


def _build_etcd(builder: Builder) -> None:
    """etcd's server from ``go.etcd.io/etcd/server/v3`` through a wrapper module."""
    src = _wrapper_module(
        builder.root / "src" / "etcd",
        lambda: (
            "module kubepulse.local/etcdbuild\n\ngo 1.24\n\n"
            f"require go.etcd.io/etcd/server/v3 v{ETCD_VERSION}\n"
        ),
    )
    builder.build("etcd", "go.etcd.io/etcd/server/v3", cwd=src)


def metrics_server_manifests() -> Path:
    """metrics-server's kustomize base (RBAC, Service, APIService) from its Go module, which
    kwokctl renders with ``kubectl kustomize`` instead of downloading it from GitHub."""
    info = mod_download(f"sigs.k8s.io/metrics-server@v{METRICS_SERVER_VERSION}", _go())
    return Path(info["Dir"]) / "manifests" / "base"


def ensure_binaries(*, metrics_server: bool = False, build: bool = True) -> Binaries:
    """Paths of every binary the cluster needs, building the missing ones (see module docstring).

    Idempotent: binaries already present are reused, so a second call costs a few ``stat`` calls.
    With ``build=False`` a missing binary raises ``BuildError`` instead of starting a build.
    """
    root = cache_dir()
    bin_dir = root / "bin"
    names = [*CORE, *(["metrics-server"] if metrics_server else [])]
    found = {name: _find(name, bin_dir) for name in names}
    if any(path is None for path in found.values()):
        if not build:
            missing = [name for name, path in found.items() if path is None]
            raise BuildError(
                f"missing binaries: {', '.join(missing)}; `kubepulse cluster build` builds them"
            )
        build_missing(
            root,
            lambda: [name for name in names if _find(name, bin_dir) is None],
            lambda missing: _build_missing(root, bin_dir, missing),
        )
    paths = {name: _find(name, bin_dir) or bin_dir / name for name in names}
    return Binaries(
        kube_apiserver=paths["kube-apiserver"],
        kube_controller_manager=paths["kube-controller-manager"],
        kube_scheduler=paths["kube-scheduler"],
        kubectl=paths["kubectl"],
        etcd=paths["etcd"],
        kwok=paths["kwok"],
        kwokctl=paths["kwokctl"],
        metrics_server=paths.get("metrics-server"),
    )


def _build_missing(root: Path, bin_dir: Path, missing: list[str]) -> None:
    """Build ``missing`` (names of the cluster's binaries) into ``bin_dir``, under the lock."""
    builder = Builder(_go(), root, bin_dir, total=len(missing))
    started = time.monotonic()
    log(f"building {', '.join(missing)} into {bin_dir} (a cold build takes 10-20 min)")
    kube = [name for name in KUBE_COMPONENTS if name in missing]
    if kube:
        _build_kube(builder, kube)
    if "etcd" in missing:
        _build_etcd(builder)
    for name in ("kwok", "kwokctl"):
        if name in missing:
            builder.install(name, f"sigs.k8s.io/kwok/cmd/{name}@v{KWOK_VERSION}")
    if "metrics-server" in missing:
        builder.install(
            "metrics-server",
            f"sigs.k8s.io/metrics-server/cmd/metrics-server@v{METRICS_SERVER_VERSION}",
        )
    total = log_all_built(started)
    # Kept for benchmarks/cluster, which reports how long a build took.
    record = {"seconds": builder.seconds, "total_seconds": round(total, 1)}
    write_atomic(root / "build-times.json", json.dumps(record, indent=1) + "\n")


def ensure_kube_state_metrics(*, build: bool = True) -> Path:
    """kube-state-metrics v``KSM_VERSION``, built once from its Go module into
    ``~/.cache/kubepulse/ksm-v<version>/bin`` (its go.mod has no replaces, so a wrapper module
    that requires it resolves the same versions)."""
    root = versioned_root("ksm", KSM_VERSION)
    bin_dir = root / "bin"
    path = bin_dir / "kube-state-metrics"
    if path.is_file():
        return path
    if not build:
        raise BuildError(f"kube-state-metrics v{KSM_VERSION} is not built: `make bins` builds it")
    build_missing(
        root,
        lambda: [] if path.is_file() else [path.name],
        lambda _: _build_ksm(root, bin_dir),
    )
    return path


def _build_ksm(root: Path, bin_dir: Path) -> None:
    src = _wrapper_module(
        root / "src",
        lambda: (
            "module kubepulse.local/ksmbuild\n\ngo 1.24.0\n\n"
            f"require k8s.io/kube-state-metrics/v2 v{KSM_VERSION}\n"
        ),
    )
    builder = Builder(_go(), root, bin_dir, total=1)
    builder.build(
        "kube-state-metrics",
        "k8s.io/kube-state-metrics/v2",
        cwd=src,
        env={"GONOSUMDB": _SUMDB_EXEMPT},
    )
