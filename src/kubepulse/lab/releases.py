"""The Prometheus, Alertmanager and exporter releases the Helm chart deploys, built locally.

Tests, the demo and the stack runners run the same releases the chart's images hold (the versions
in ``kubepulse.versions``), not Debian's older packages: Prometheus 3 changed regex matching,
histogram ``le`` labels and scrape-protocol negotiation, so rules and dashboards are proven on the
version that ships. Each release is compiled once from its Go module into
``~/.cache/kubepulse/NAME-vVERSION/bin`` and reused:

- ``prometheus`` and ``promtool`` from ``github.com/prometheus/prometheus`` (3.x is published on
  the module proxy as ``v0.3MM.P``: 3.5.0 is ``v0.305.0``). The web UI's assets are not built in
  (they need a Node.js build); the HTTP API, which is all kubepulse uses, is complete without them.
- ``alertmanager`` and ``amtool`` from ``github.com/prometheus/alertmanager``;
- ``node_exporter`` from ``github.com/prometheus/node_exporter``;
- ``blackbox_exporter`` from ``github.com/prometheus/blackbox_exporter``;
- on request only (``ensure_releases(["thanos"])`` or ``binary("thanos")``, never by the default
  build, which a cold CI run pays for): ``thanos`` from ``github.com/thanos-io/thanos`` (its
  go.mod has ``replace`` directives too; built the same way with upstream's tags ``netgo`` and
  ``slicelabels``, 6 to 12 minutes cold here). ``bin/.tags`` records the tags a release was
  built with; other tags than its ``Release.tags`` count as not built;
- on request (``make helm``, the deploy tests): ``helm`` from ``helm.sh/helm/v3``, with helm's own
  release ldflags (its version, and the Kubernetes version its lint and template default to).

Prometheus's go.mod has ``replace`` directives, so ``go install mod@version`` refuses it: every
release is built as the main module from a copy of its source in the module cache, with its own
go.sum, i.e. exactly upstream's dependency versions, upstream's build tags and version stamp.
Builds go through the lab's one builder (``kubepulse.lab.builder``: temporary name then rename,
progress lines on stderr, a lock per cache directory), two releases at a time.
``python -m kubepulse.lab.releases`` builds whatever is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kubepulse import versions
from kubepulse.atomic import write_atomic
from kubepulse.lab.builder import (
    Builder,
    BuildError,
    build_lock,
    build_missing,
    go,
    log,
    log_all_built,
    mod_download,
    versioned_root,
)

__all__ = [
    "ON_REQUEST",
    "PROMETHEUS_VERSION",
    "RELEASES",
    "Release",
    "binary",
    "ensure_prometheus",
    "ensure_releases",
    "prometheus_bin_dir",
    "record_build_times",
]

PROMETHEUS_VERSION = versions.PROMETHEUS


@dataclass(frozen=True)
class Release:
    """One upstream release: its Go module and the commands (``./cmd/x`` or ``.``) it builds."""

    name: str
    version: str
    module: str
    commands: dict[str, str]
    tags: str = "netgo"
    # Replaces the Prometheus-style version stamp (``_ldflags``) for releases that stamp otherwise.
    ldflags: str = ""

    @property
    def module_version(self) -> str:
        """The tag on the module proxy: Prometheus 2.x and 3.x are ``v0.<major*100+minor>.P``
        (2.x only ``v0.MINOR.P``); other releases are tagged ``vVERSION``."""
        if self.module != "github.com/prometheus/prometheus":
            return f"v{self.version}"
        major, minor, patch = (int(p) for p in self.version.split("."))
        return f"v0.{minor if major == 2 else major * 100 + minor}.{patch}"

    @property
    def root(self) -> Path:
        """``~/.cache/kubepulse/NAME-vVERSION`` (``$XDG_CACHE_HOME`` if set)."""
        return versioned_root(self.name, self.version)

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def missing(self) -> list[str]:
        """The commands not built yet, all of them if built with other tags than ``tags``."""
        if self.built_tags() != self.tags:
            return list(self.commands)
        return [c for c in self.commands if not os.access(self.bin_dir / c, os.X_OK)]

    def built_tags(self) -> str:
        """The build tags the cached commands were built with (``bin/.tags``; builds from before
        that file was written all used ``netgo``)."""
        stamp = self.bin_dir / ".tags"
        return stamp.read_text().strip() if stamp.is_file() else "netgo"


RELEASES: dict[str, Release] = {
    "prometheus": Release(
        "prometheus",
        versions.PROMETHEUS,
        "github.com/prometheus/prometheus",
        {"prometheus": "./cmd/prometheus", "promtool": "./cmd/promtool"},
    ),
    "alertmanager": Release(
        "alertmanager",
        versions.ALERTMANAGER,
        "github.com/prometheus/alertmanager",
        {"alertmanager": "./cmd/alertmanager", "amtool": "./cmd/amtool"},
    ),
    "node_exporter": Release(
        "node_exporter",
        versions.NODE_EXPORTER,
        "github.com/prometheus/node_exporter",
        {"node_exporter": "."},
    ),
    "blackbox_exporter": Release(
        "blackbox_exporter",
        versions.BLACKBOX_EXPORTER,
        "github.com/prometheus/blackbox_exporter",
        {"blackbox_exporter": "."},
    ),
}
ON_REQUEST: dict[str, Release] = {
    "thanos": Release(
        "thanos",
        versions.THANOS,
        "github.com/thanos-io/thanos",
        {"thanos": "./cmd/thanos"},
        # Upstream's tags (.promu.yml): without slicelabels its StoreAPI servers panic
        # marshalling label sets (they cast Prometheus's labels to their own slice type).
        tags="netgo,slicelabels",
    ),
    "helm": Release(
        "helm",
        versions.HELM,
        "helm.sh/helm/v3",
        {"helm": "./cmd/helm"},
        tags="",  # upstream's Makefile builds with no tags (and CGO off, as all builds here)
        ldflags=" ".join(
            [
                "-s -w",
                f"-X helm.sh/helm/v3/internal/version.version=v{versions.HELM}",
                # The client-go helm 3.22 is built with is Kubernetes 1.37's; upstream's release
                # flags stamp that as the default for `helm lint` and `helm template`.
                *(
                    f"-X helm.sh/helm/v3/pkg/{pkg}.k8sVersion{part}={value}"
                    for pkg in ("lint/rules", "chartutil")
                    for part, value in (("Major", 1), ("Minor", 37))
                ),
            ]
        ),
    ),
}
_ALL = {**RELEASES, **ON_REQUEST}
_RELEASE_OF = {command: r for r in _ALL.values() for command in r.commands}
# Two cores here: a third concurrent build only adds contention.
BUILD_WORKERS = 2


def _source(release: Release, go_bin: str) -> Path:
    """A writable copy of the release's module source under its cache root."""
    ref = f"{release.module}@{release.module_version}"
    log(f"{release.name} v{release.version}: go mod download {ref}")
    info = mod_download(ref, go_bin)
    src = release.root / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(info["Dir"], src)
    (src / ".published").write_text(json.loads(Path(info["Info"]).read_text())["Time"])
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return src


def _ldflags(release: Release, src: Path) -> str:
    """Upstream's version stamp (promu's ``-X`` flags), so ``--version`` says which release;
    the build date is the module's publication time, not the time of the build. A release with
    its own ``ldflags`` (helm) gets those."""
    if release.ldflags:
        return release.ldflags
    pkg = "github.com/prometheus/common/version"
    return (
        f"-s -w -X {pkg}.Version={release.version} -X {pkg}.Revision={release.module_version}"
        f" -X {pkg}.Branch=HEAD -X {pkg}.BuildUser=kubepulse"
        f" -X {pkg}.BuildDate={(src / '.published').read_text()}"
    )


def _build(release: Release, go_bin: str) -> dict[str, float]:
    """Build the release's missing commands; return seconds per command.

    A lock file serialises concurrent callers (pytest-xdist workers): the second one finds the
    commands built when it gets the lock.
    """
    seconds = build_missing(
        release.root, release.missing, lambda missing: _build_locked(release, go_bin, missing)
    )
    return seconds or {}


def _build_locked(release: Release, go_bin: str, missing: list[str]) -> dict[str, float]:
    src = _source(release, go_bin)
    builder = Builder(go_bin, release.root, release.bin_dir, total=len(missing))
    for command in missing:
        builder.build(
            command,
            release.commands[command],
            cwd=src,
            tags=release.tags,
            ldflags=_ldflags(release, src),
        )
    (release.bin_dir / ".tags").write_text(release.tags + "\n")
    shutil.rmtree(src, ignore_errors=True)
    return builder.seconds


def ensure_releases(names: Iterable[str] | None = None, *, build: bool = True) -> dict[str, Path]:
    """Paths of every command of the named releases (default all of ``RELEASES``; the
    ``ON_REQUEST`` ones only when named), building what is missing.

    Idempotent: a second call costs a few ``stat`` calls. With ``build=False`` a missing command
    raises ``BuildError`` instead of starting a build. Build times (seconds per command) are
    recorded in ``~/.cache/kubepulse/stack-build-times.json``.
    """
    wanted = [_ALL[n] for n in (names if names is not None else RELEASES)]
    todo = [r for r in wanted if r.missing()]
    if todo and not build:
        missing = [c for r in todo for c in r.missing()]
        raise BuildError(f"not built: {', '.join(missing)}; `make prometheus-upstream` builds them")
    if todo:
        go_bin = go()
        started = time.monotonic()
        names_text = ", ".join(f"{r.name} v{r.version}" for r in todo)
        log(f"building {names_text}, {BUILD_WORKERS} at a time")
        with ThreadPoolExecutor(max_workers=BUILD_WORKERS) as pool:
            results = list(pool.map(lambda r: _build(r, go_bin), todo))
        log_all_built(started)
        record_build_times(
            todo[0].root.parent / "stack-build-times.json",
            {c: s for result in results for c, s in result.items()},
        )
    return {c: r.bin_dir / c for r in wanted for c in r.commands}


def record_build_times(path: Path, seconds: dict[str, float]) -> None:
    """Merge ``seconds`` (per command) into the build-time record at ``path``, kept for the
    README's cold-build figures. Builders in several processes take turns under a lock and the
    file is replaced atomically; a record that does not parse (written by an older version
    without either) is started afresh, since it only informs."""
    with build_lock(path.parent):
        try:
            record = json.loads(path.read_text()) if path.is_file() else {}
        except (ValueError, OSError):
            record = {}
        if not isinstance(record, dict):
            record = {}
        record.update(seconds)
        write_atomic(path, json.dumps(record, sort_keys=True) + "\n")


def binary(command: str, *, build: bool = True) -> Path:
    """The path of ``prometheus``, ``promtool``, ``alertmanager``, ``amtool``, ``node_exporter``,
    ``blackbox_exporter``, ``thanos`` or ``helm`` at the pinned release, building its release if
    it is missing."""
    if command not in _RELEASE_OF:
        raise ValueError(f"unknown command {command!r}; known: {', '.join(_RELEASE_OF)}")
    return ensure_releases([_RELEASE_OF[command].name], build=build)[command]


def prometheus_bin_dir() -> Path:
    """Where ``prometheus`` and ``promtool`` live (they may not be built yet)."""
    return RELEASES["prometheus"].bin_dir


def ensure_prometheus() -> Path:
    """The bin dir holding ``prometheus`` and ``promtool``, building them if absent."""
    ensure_releases(["prometheus"])
    return prometheus_bin_dir()


if __name__ == "__main__":
    for path in ensure_releases().values():
        print(path)
    sys.exit(0)
