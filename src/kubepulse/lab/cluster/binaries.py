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

A build writes to a temporary name and renames, so an interrupted build never leaves a binary that
looks finished. Progress (step, elapsed time, a heartbeat during long steps) goes to stderr.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

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
HEARTBEAT_SECONDS = 30.0


class BuildError(RuntimeError):
    """A binary could not be found or built; the message says which and why."""


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
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubepulse" / f"k8s-v{KUBE_VERSION}"


def _log(message: str) -> None:
    print(f"[kubepulse cluster build] {message}", file=sys.stderr, flush=True)


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
    go = shutil.which("go")
    if go is None:
        raise BuildError(
            "go: not found on PATH; it is needed to build the test cluster's binaries. Install Go "
            f"1.24 or newer, or set KUBEPULSE_K8S_BIN to a directory holding {', '.join(CORE)}"
        )
    return go


def _run(argv: list[str], *, cwd: Path, env: Mapping[str, str], label: str) -> None:
    """Run one build command, passing its output through and printing a heartbeat while it runs."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL)
    while True:
        try:
            proc.wait(HEARTBEAT_SECONDS)
            break
        except subprocess.TimeoutExpired:
            _log(f"  still {label} ({time.monotonic() - started:.0f} s)")
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0:
        raise BuildError(f"{label} failed (exit {proc.returncode}): {' '.join(argv)}")


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


# Static binaries like upstream's; -mod=mod lets the wrapper modules fill in go.sum themselves.
_GO_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
OUT = "{out}"


class _Builder:
    """Builds missing binaries into ``bin_dir``, numbering the steps for the progress lines."""

    def __init__(self, go: str, root: Path, bin_dir: Path, total: int) -> None:
        self.go, self.root, self.bin_dir = go, root, bin_dir
        self.total, self.done = total, 0
        self.seconds: dict[str, float] = {}

    def kube(self, names: Iterable[str]) -> None:
        src = self.root / "src" / "k8s"
        src.mkdir(parents=True, exist_ok=True)
        gomod = src / "go.mod"
        if not gomod.exists():
            _log(f"resolving k8s.io/kubernetes v{KUBE_VERSION} (go mod download)")
            out = subprocess.run(
                [self.go, "mod", "download", "-json", f"k8s.io/kubernetes@v{KUBE_VERSION}"],
                capture_output=True,
                text=True,
                cwd=src,
                env={**os.environ, "GOFLAGS": ""},
            )
            if out.returncode != 0:
                detail = (out.stderr or out.stdout).strip()
                raise BuildError(f"go mod download k8s.io/kubernetes@v{KUBE_VERSION}: {detail}")
            upstream = Path(json.loads(out.stdout)["GoMod"]).read_text()
            tmp = gomod.with_suffix(".tmp")
            tmp.write_text(kube_wrapper_gomod(upstream, KUBE_VERSION))
            tmp.replace(gomod)
        ldflags = _ldflags_version(KUBE_VERSION)
        for name in names:
            self.step(
                name,
                [
                    "build",
                    "-tags",
                    "selinux,notest",
                    "-trimpath",
                    "-ldflags",
                    ldflags,
                    "-o",
                    OUT,
                    f"k8s.io/kubernetes/cmd/{name}",
                ],
                cwd=src,
            )

    def etcd(self) -> None:
        src = self.root / "src" / "etcd"
        src.mkdir(parents=True, exist_ok=True)
        gomod = src / "go.mod"
        if not gomod.exists():
            gomod.write_text(
                "module kubepulse.local/etcdbuild\n\ngo 1.24\n\n"
                f"require go.etcd.io/etcd/server/v3 v{ETCD_VERSION}\n"
            )
        self.step(
            "etcd",
            ["build", "-trimpath", "-ldflags", "-s -w", "-o", OUT, "go.etcd.io/etcd/server/v3"],
            cwd=src,
        )

    def install(self, name: str, package: str) -> None:
        with tempfile.TemporaryDirectory(dir=self.bin_dir, prefix=f".{name}-") as gobin:
            self.step(
                name,
                ["install", "-trimpath", "-ldflags", "-s -w", package],
                cwd=self.root,
                env={"GOFLAGS": "", "GOBIN": gobin},
                installed=Path(gobin) / name,
            )

    def step(
        self,
        name: str,
        args: list[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        installed: Path | None = None,
    ) -> None:
        """Build ``name`` into ``bin_dir`` atomically: to a temporary file first, then rename."""
        self.done += 1
        tag = f"[{self.done}/{self.total}]"
        tmp_out = self.bin_dir / f".{name}.building"
        argv = [self.go, *(tmp_out.as_posix() if a == OUT else a for a in args)]
        started = time.monotonic()
        _log(f"{tag} building {name} ...")
        try:
            _run(argv, cwd=cwd, env={**_GO_ENV, **(env or {})}, label=f"building {name}")
            (installed or tmp_out).replace(self.bin_dir / name)
        finally:
            tmp_out.unlink(missing_ok=True)
        self.seconds[name] = round(time.monotonic() - started, 1)
        _log(f"{tag} built {name} in {self.seconds[name]:.0f} s")


def metrics_server_manifests() -> Path:
    """metrics-server's kustomize base (RBAC, Service, APIService) from its Go module, which
    kwokctl renders with ``kubectl kustomize`` instead of downloading it from GitHub."""
    out = subprocess.run(
        [
            _go(),
            "mod",
            "download",
            "-json",
            f"sigs.k8s.io/metrics-server@v{METRICS_SERVER_VERSION}",
        ],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        env={**os.environ, "GOFLAGS": ""},
    )
    if out.returncode != 0:
        raise BuildError(f"go mod download sigs.k8s.io/metrics-server: {out.stdout or out.stderr}")
    return Path(json.loads(out.stdout)["Dir"]) / "manifests" / "base"


def ensure_binaries(*, metrics_server: bool = False, build: bool = True) -> Binaries:
    """Paths of every binary the cluster needs, building the missing ones (see module docstring).

    Idempotent: binaries already present are reused, so a second call costs a few ``stat`` calls.
    With ``build=False`` a missing binary raises ``BuildError`` instead of starting a build.
    """
    root = cache_dir()
    bin_dir = root / "bin"
    names = [*CORE, *(["metrics-server"] if metrics_server else [])]
    found = {name: _find(name, bin_dir) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        if not build:
            raise BuildError(
                f"missing binaries: {', '.join(missing)}; `kubepulse cluster build` builds them"
            )
        bin_dir.mkdir(parents=True, exist_ok=True)
        builder = _Builder(_go(), root, bin_dir, total=len(missing))
        started = time.monotonic()
        _log(f"building {', '.join(missing)} into {bin_dir} (a cold build takes 10-20 min)")
        kube = [name for name in KUBE_COMPONENTS if name in missing]
        if kube:
            builder.kube(kube)
        if "etcd" in missing:
            builder.etcd()
        for name in ("kwok", "kwokctl"):
            if name in missing:
                builder.install(name, f"sigs.k8s.io/kwok/cmd/{name}@v{KWOK_VERSION}")
        if "metrics-server" in missing:
            builder.install(
                "metrics-server",
                f"sigs.k8s.io/metrics-server/cmd/metrics-server@v{METRICS_SERVER_VERSION}",
            )
        total = time.monotonic() - started
        _log(f"all built in {total:.0f} s")
        # Kept for benchmarks/cluster, which reports how long a build took.
        record = {"seconds": builder.seconds, "total_seconds": round(total, 1)}
        (root / "build-times.json").write_text(json.dumps(record, indent=1) + "\n")
    paths = {name: path or bin_dir / name for name, path in found.items()}
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


def ensure_kube_state_metrics(*, build: bool = True) -> Path:
    """kube-state-metrics v``KSM_VERSION``, built once from its Go module into
    ``~/.cache/kubepulse/ksm-v<version>/bin`` (its go.mod has no replaces, so a wrapper module
    that requires it resolves the same versions)."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kubepulse"
    root = root / f"ksm-v{KSM_VERSION}"
    bin_dir = root / "bin"
    path = bin_dir / "kube-state-metrics"
    if path.is_file():
        return path
    if not build:
        raise BuildError(f"kube-state-metrics v{KSM_VERSION} is not built: `make bins` builds it")
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(
        "module kubepulse.local/ksmbuild\n\ngo 1.24.0\n\n"
        f"require k8s.io/kube-state-metrics/v2 v{KSM_VERSION}\n"
    )
    builder = _Builder(_go(), root, bin_dir, total=1)
    builder.step(
        "kube-state-metrics",
        ["build", "-trimpath", "-ldflags", "-s -w", "-o", OUT, "k8s.io/kube-state-metrics/v2"],
        cwd=src,
        env={"GONOSUMDB": _SUMDB_EXEMPT},
    )
    return path
