"""A local Kubernetes cluster: real etcd, API server, controller manager and scheduler; kwok nodes.

``start_cluster(name, nodes)`` runs ``kwokctl create cluster --runtime binary`` with the binaries
from ``ensure_binaries()``, every component bound to 127.0.0.1 on ports picked here, and the pod and
node behaviour of ``kubepulse.lab.cluster.stages``. It returns once the API answers and every node
is Ready. Each cluster lives in its own directory (``clusters_dir()/NAME``, kwokctl's
``KWOK_WORKDIR``), so clusters never share state and the user's ``~/.kwok`` and ``~/.kube/config``
are never touched; the kubeconfig is ``Cluster.kubeconfig`` in there.
NAME must be a DNS label (``cluster_workdir``) whose directory resolves inside ``clusters_dir()``:
that directory is removed whole, so a name like ``..`` or ``/etc`` is refused with ``ValueError``.

kwokctl starts the components as daemons and records their pids. ``with start_cluster(...) as
cluster:`` or ``Cluster.down()`` kills them by those pids (also remembered here, in case the files
are gone) and removes the directory. A cluster started with ``owner_pid`` (the pytest fixture does
this) is also removed by the next ``start_cluster`` call if its owner died without cleaning up.

kwok's pod IPs are fake and not loopback: nothing here, and nothing using this, may connect to them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kubepulse.lab.cluster.binaries import (
    KUBE_VERSION,
    Binaries,
    BuildError,
    ensure_binaries,
    metrics_server_manifests,
)
from kubepulse.lab.cluster.kubelet_metrics import RESOURCE_USAGE, kubelet_metrics_yaml
from kubepulse.lab.cluster.stages import NODE_RESOURCE_YAML, STAGES_YAML
from kubepulse.lab.processes import LOOPBACK, ClosedOnExit, free_port, require_loopback

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "Cluster",
    "ClusterError",
    "cluster_workdir",
    "clusters_dir",
    "ensure_binaries",
    "find_cluster",
    "start_cluster",
]

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
)
# kwok-controller is left alone: restarted after an outage, it stopped driving pods at all.
CONTROLLERS = ("kube-controller-manager", "kube-scheduler")
DEFAULT_NAME = "kubepulse"
# A DNS label: the name becomes a directory that down() removes, so it may never be ``..``, empty,
# absolute or contain a separator.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class ClusterError(RuntimeError):
    """The cluster could not be started, reached or stopped; the message says what failed."""


def clusters_dir() -> Path:
    """Where clusters live: ``$KUBEPULSE_CLUSTERS_DIR``, else ``$TMPDIR/kubepulse-UID/clusters``."""
    env = os.environ.get("KUBEPULSE_CLUSTERS_DIR")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"kubepulse-{os.getuid()}" / "clusters"


def cluster_workdir(name: str) -> Path:
    """The directory of cluster ``name``: ``clusters_dir()/name``.

    Raises ``ValueError`` naming ``name`` unless it is a DNS label (lower-case letters, digits and
    ``-``, at most 63 characters, alphanumeric at both ends) and the directory resolves strictly
    inside ``clusters_dir()`` (a symlink there could point anywhere, and the directory is removed
    with everything in it).
    """
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"name: {name!r} is not a DNS label (a-z, 0-9 and '-', at most 63 characters, "
            "starting and ending with a letter or digit)"
        )
    workdir = clusters_dir() / name
    root, resolved = clusters_dir().resolve(), workdir.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise ValueError(f"name: {name!r}: its directory {resolved} is not inside {root}")
    return workdir


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is gone for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _kill_and_wait(pids: Iterable[int], grace: float) -> None:
    """SIGTERM every pid, SIGKILL those left after ``grace`` seconds, return once all are gone."""
    pids = [pid for pid in pids if _pid_alive(pid)]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = [pid for pid in pids if _pid_alive(pid)]
        if not pids:
            return
    raise ClusterError(f"processes {pids} survived SIGKILL")


class Cluster(ClosedOnExit):
    """A running local cluster; ``down()`` (or leaving its ``with`` block) removes all of it."""

    def __init__(self, name: str, workdir: Path, binaries: Binaries) -> None:
        self.name = name
        self.workdir = workdir
        self.binaries = binaries
        self.kwok_dir = workdir / "clusters" / name
        self.kubeconfig = self.kwok_dir / "kubeconfig.yaml"
        self._pids: dict[str, int] = {}

    @property
    def kubelet_port(self) -> int:
        """The port every node's kubelet endpoints are served on, at the node's address
        127.0.0.1 (kwok's controller; paths in ``kubepulse.lab.cluster.kubelet_metrics``)."""
        config = next(yaml.safe_load_all((self.workdir / "kwokctl.yaml").read_text()))
        port: int = config["options"]["kwokControllerPort"]
        return port

    @property
    def server(self) -> str:
        """The API server URL from the kubeconfig: ``https://127.0.0.1:PORT``."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        server: str = config["clusters"][0]["cluster"]["server"]
        return require_loopback(server)

    def env(self) -> dict[str, str]:
        """Environment for kwokctl and kubectl: this workdir, our kubectl first on PATH."""
        path = os.pathsep.join([*self.binaries.path_dirs(), os.environ.get("PATH", "")])
        return {**os.environ, "PATH": path, "KWOK_WORKDIR": str(self.workdir)}

    def kwokctl(self, *args: str, timeout: float = 120) -> str:
        """Run ``kwokctl --name NAME ARGS``; ``ClusterError`` with its output if it fails."""
        argv = [str(self.binaries.kwokctl), "--name", self.name, *args]
        try:
            out = subprocess.run(
                argv, capture_output=True, text=True, env=self.env(), timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"kwokctl {' '.join(args)}: no answer after {timeout} s") from exc
        if out.returncode != 0:
            raise ClusterError(
                f"kwokctl {' '.join(args)} failed (exit {out.returncode}): "
                f"{(out.stderr or out.stdout).strip()[-2000:]}"
            )
        return out.stdout

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        """Run kubectl against this cluster, return its stdout; ``ClusterError`` if it fails."""
        argv = [str(self.binaries.kubectl), "--kubeconfig", str(self.kubeconfig), *args]
        try:
            out = subprocess.run(
                argv, capture_output=True, text=True, input=input, timeout=timeout, env=self.env()
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"kubectl {' '.join(args)}: no answer after {timeout} s") from exc
        if out.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def api_client(self) -> ApiClient:
        """A new ``kubernetes.client.ApiClient`` for this cluster (the caller closes it)."""
        from kubernetes import config

        client: ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return client

    def pids(self) -> dict[str, int]:
        """Component name to pid, from kwokctl's pid files (only components that have one)."""
        pids = {}
        for component in (*COMPONENTS, "metrics-server"):
            with contextlib.suppress(OSError, ValueError):
                pids[component] = int((self.kwok_dir / "pids" / f"{component}.pid").read_text())
        return pids

    def _owns(self, pid: int) -> bool:
        """Whether ``pid`` still runs one of this cluster's binaries (kwokctl starts them from
        links in the cluster's directory), so that a recycled pid is never killed."""
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
        except OSError:
            return False
        return argv0.startswith(f"{self.kwok_dir}{os.sep}")

    def running(self) -> dict[str, bool]:
        """Component name to whether its process is alive."""
        return {name: _pid_alive(pid) and self._owns(pid) for name, pid in self.pids().items()}

    def ready(self) -> bool:
        """Whether the API server answers ``/readyz`` with ok."""
        try:
            return self.kubectl("get", "--raw", "/readyz", timeout=10).strip() == "ok"
        except ClusterError:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        """Block until ``/readyz`` is ok; ``ClusterError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster {self.name}: API not ready after {timeout} s")
            time.sleep(0.2)

    def stop_apiserver(self, grace: float = 2.0) -> None:
        """Stop kube-apiserver only (the rest keeps running), as a crash or restart would.

        SIGTERM, then SIGKILL after ``grace`` seconds: a graceful apiserver shutdown waits up to a
        minute for open watches to end, longer than a reliability test wants to wait.
        """
        pid = self.pids().get("kube-apiserver")
        if pid is None or not (_pid_alive(pid) and self._owns(pid)):
            raise ClusterError(f"cluster {self.name}: kube-apiserver is not running")
        _kill_and_wait([pid], grace)
        # kwokctl treats a pid that still answers signal 0 as running, and an unreaped zombie does.
        (self.kwok_dir / "pids" / "kube-apiserver.pid").unlink(missing_ok=True)

    def start_apiserver(self, timeout: float = 60, restart_controllers: bool = True) -> None:
        """Start kube-apiserver again on the same port and wait until it is ready.

        ``kwokctl start cluster`` starts only the components that are not running. With
        ``restart_controllers`` the controller manager and scheduler are restarted too: they
        reconnect by themselves, but after a second outage in one session their client-go
        backoff left replacement pods uncreated for over 90 s, and the tests using this measure
        kubepulse's recovery, not theirs.
        """
        if restart_controllers:
            pids = self.pids()
            names = [n for n in CONTROLLERS if n in pids and self._owns(pids[n])]
            _kill_and_wait([pids[n] for n in names], 2.0)
            for name in names:
                (self.kwok_dir / "pids" / f"{name}.pid").unlink(missing_ok=True)
        self.kwokctl("start", "cluster", timeout=timeout + 30)
        self.wait_ready(timeout)
        self._pids.update(self.pids())
        if restart_controllers:
            self.wait_controllers(timeout)

    def wait_controllers(self, timeout: float = 60) -> None:
        """Block until the controller manager works again: a new namespace gets its ``default``
        ServiceAccount (until then the API refuses pods in new namespaces)."""
        probe = f"kubepulse-probe-{time.monotonic_ns()}"
        self.kubectl("create", "namespace", probe)
        try:
            deadline = time.monotonic() + timeout
            while not self.kubectl(
                "-n", probe, "get", "serviceaccount", "default", "--ignore-not-found", "-o", "name"
            ).strip():
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"cluster {self.name}: controllers not back after {timeout} s"
                    )
                time.sleep(0.2)
        finally:
            self.kubectl("delete", "namespace", probe, "--wait=false")

    def scale_nodes(self, count: int, timeout: float = 60) -> list[str]:
        """Make it ``count`` kwok nodes, wait until all are Ready, return their names."""
        resource = self.workdir / "node-resource.yaml"
        if not resource.exists():
            resource.write_text(NODE_RESOURCE_YAML)
        self.kwokctl("--config", str(resource), "scale", "node", "--replicas", str(count))
        return self.wait_nodes_ready(count, timeout)

    def wait_nodes_ready(self, count: int, timeout: float = 60) -> list[str]:
        """Block until ``count`` nodes exist and are Ready; return their names."""
        deadline = time.monotonic() + timeout
        jsonpath = (
            '{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}'
            '{"\\n"}{end}'
        )
        while True:
            lines = self.kubectl("get", "nodes", "-o", f"jsonpath={jsonpath}").split()
            ready = [line.split("=")[0] for line in lines if line.endswith("=True")]
            if len(lines) == count and len(ready) == count:
                return sorted(ready)
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"cluster {self.name}: {len(ready)}/{count} nodes Ready after {timeout} s"
                )
            time.sleep(0.2)

    def logs(self, component: str, lines: int = 30) -> str:
        """The last ``lines`` lines of a component's log, for error messages."""
        try:
            text = (self.kwok_dir / "logs" / f"{component}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def down(self) -> None:
        """Stop every component and remove the cluster's directory. Safe to call twice.

        The cluster's data goes away with it, so there is no graceful shutdown to wait for:
        components get one second after SIGTERM.
        """
        pids = {*self._pids.values(), *self.pids().values()}
        _kill_and_wait([pid for pid in pids if self._owns(pid)], grace=1.0)
        shutil.rmtree(self.workdir, ignore_errors=True)

    close = down  # what leaving its ``with`` block calls

    def __repr__(self) -> str:
        return f"Cluster(name={self.name!r}, kubeconfig={str(self.kubeconfig)!r})"


def _config_yaml(
    binaries: Binaries, metrics_server: bool, stages: str, kubelet_metrics: Path
) -> str:
    """kwokctl's configuration: binary runtime, our binaries, loopback, fixed ports, our stages,
    and the kwok controller reading ``kubelet_metrics`` (kubelet and cAdvisor Metric resources)
    besides the configuration kwokctl writes for it."""
    options: dict[str, Any] = {
        "runtime": "binary",
        "bindAddress": LOOPBACK,
        "kubeVersion": f"v{KUBE_VERSION}",
        "kubeApiserverBinary": str(binaries.kube_apiserver),
        "kubeControllerManagerBinary": str(binaries.kube_controller_manager),
        "kubeSchedulerBinary": str(binaries.kube_scheduler),
        "kwokControllerBinary": str(binaries.kwok),
        "etcdBinary": str(binaries.etcd),
        # The client QPS defaults (20 for the controller manager) make 1,000 pods take minutes.
        "disableQPSLimits": True,
        # kwokctl counts ports down from 32767, so two clusters starting at once would collide.
        "kubeApiserverPort": free_port(),
        "etcdPort": free_port(),
        "etcdPeerPort": free_port(),
        "kubeControllerManagerPort": free_port(),
        "kubeSchedulerPort": free_port(),
        "kwokControllerPort": free_port(),
    }
    if metrics_server:
        if binaries.metrics_server is None:
            raise ClusterError("metrics_server=True needs a metrics-server binary")
        options["enable"] = ["metrics-server"]
        options["metricsServerBinary"] = str(binaries.metrics_server)
        options["metricsServerPort"] = free_port()
        options["metricsServerManifests"] = [str(metrics_server_manifests())]
        # kwokctl hands this to the kwok controller in place of its own default usage.
        stages = f"{stages}---\n{yaml.safe_dump(RESOURCE_USAGE, sort_keys=False)}"
    config = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": options,
        # With leader election on, the controller manager and scheduler exit when the API server
        # is gone for longer than the lease renewal deadline (10 s), and nothing here restarts
        # them as a kubelet would; there is only one of each, so there is nothing to elect.
        "componentsPatches": [
            *(
                {"name": name, "extraArgs": [{"key": "leader-elect", "value": "false"}]}
                for name in ("kube-controller-manager", "kube-scheduler")
            ),
            # kwokctl gives the controller Metric resources only along with metrics-server.
            {
                "name": "kwok-controller",
                "extraArgs": [{"key": "config", "value": str(kubelet_metrics)}],
            },
        ],
    }
    text = yaml.safe_dump(config, sort_keys=False)
    return f"{text}---\n{stages}" if stages else text


def find_cluster(name: str = DEFAULT_NAME, binaries: Binaries | None = None) -> Cluster | None:
    """The cluster ``name`` if its directory exists (running or not), else ``None``.

    Raises ``ValueError`` if ``name`` is not a valid cluster name (see ``cluster_workdir``).
    """
    workdir = cluster_workdir(name)
    if not (workdir / "clusters" / name).exists():
        return None
    return Cluster(name, workdir, binaries or ensure_binaries(build=False))


def _sweep_orphans(binaries: Binaries) -> None:
    """Remove clusters whose owning process (a test session) died without tearing them down."""
    root = clusters_dir()
    if not root.exists():
        return
    for entry in root.iterdir():
        try:
            workdir = cluster_workdir(entry.name)
            pid = int((workdir / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if not _pid_alive(pid):
            Cluster(entry.name, workdir, binaries).down()


def start_cluster(
    name: str = DEFAULT_NAME,
    nodes: int = 1,
    *,
    metrics_server: bool = False,
    stages: str = STAGES_YAML,
    owner_pid: int | None = None,
    timeout: float = 120,
) -> Cluster:
    """Start cluster ``name`` with ``nodes`` Ready kwok nodes and return it.

    ``stages``: kwok Stage documents (YAML) for pod and node behaviour; ``""`` means kwok's own
    defaults, without the ``kubepulse.dev/*`` behaviour. ``owner_pid``: the cluster belongs to
    that process; once it is dead, any later ``start_cluster`` removes the cluster (for test
    sessions killed before their teardown).
    Raises ``ValueError`` if ``name`` is not a valid cluster name (see ``cluster_workdir``),
    ``ClusterError`` if a cluster of that name is already running, or if it fails to come up
    (after removing what it started), and ``BuildError`` if binaries are missing and cannot be
    built.
    """
    workdir = cluster_workdir(name)
    if nodes < 0:
        raise ValueError(f"nodes: must be >= 0, got {nodes}")
    binaries = ensure_binaries(metrics_server=metrics_server)
    _sweep_orphans(binaries)
    existing = Cluster(name, workdir, binaries)
    if any(existing.running().values()):
        raise ClusterError(
            f"cluster {name!r} is already running (kubeconfig {existing.kubeconfig}); "
            f"stop it first: kubepulse cluster down --name {name}"
        )
    existing.down()
    workdir.mkdir(parents=True)
    if owner_pid is not None:
        (workdir / "owner.pid").write_text(str(owner_pid))
    config = workdir / "kwokctl.yaml"
    kubelet_metrics = workdir / "kubelet-metrics.yaml"
    kubelet_metrics.write_text(kubelet_metrics_yaml(resource_usage=not metrics_server))
    config.write_text(_config_yaml(binaries, metrics_server, stages, kubelet_metrics))
    cluster = Cluster(name, workdir, binaries)
    try:
        cluster.kwokctl(
            "create",
            "cluster",
            "--config",
            str(config),
            "--kubeconfig=",
            "--wait",
            f"{int(timeout)}s",
            timeout=timeout + 30,
        )
        cluster._pids.update(cluster.pids())
        cluster.wait_ready(timeout)
        if nodes:
            cluster.scale_nodes(nodes, timeout)
    except (ClusterError, BuildError) as exc:
        detail = cluster.logs("kube-apiserver", 15)
        cluster.down()
        raise ClusterError(f"cluster {name!r} did not start: {exc}\n{detail}") from exc
    except BaseException:
        cluster.down()
        raise
    return cluster
