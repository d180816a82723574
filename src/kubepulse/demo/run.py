"""The demo's orchestration: cluster, workloads, the stack on loopback, a pod-kill run, a summary.

Every server goes through one ``ProcessGroup`` (127.0.0.1 only, logs in ``OUTPUT/logs/``) and is
stopped in ``finally``, whatever ends the run: ``--duration``, Ctrl-C, SIGTERM or an error. The
local cluster is removed the same way. Prometheus runs the stack's production config turned into
the loopback overlay (``kubepulse.stack.prometheus``): it discovers the cluster through the API
server, and every target it finds is rewritten to the loopback process standing in for it, so
nothing ever contacts a pod IP.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import psutil
import yaml

from kubepulse.demo import workloads
from kubepulse.demo.components import (
    EXPORTERS,
    Component,
    Context,
    DemoError,
    console_script,
)
from kubepulse.demo.summary import MemorySampler, empty_panels, summary_lines
from kubepulse.lab.blackbox import start_blackbox_exporter
from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port
from kubepulse.lab.receiver import WebhookReceiver

if TYPE_CHECKING:
    from kubepulse.lab.cluster import Cluster

__all__ = ["EXPECTED_ALERTS", "DemoError", "DemoOptions", "run_demo"]

# The alerts the sample workloads are built to raise, with the `for:` the demo gives them so
# they fire in seconds rather than the production 15 minutes.
EXPECTED_ALERTS = (
    "KubeDeploymentReplicasMismatch",
    "KubePodCrashLooping",
    "KubeJobFailed",
    "KubeHpaMaxedOut",
    "KubePersistentVolumeClaimPending",
    "ProbeFailed",
)
FOR_OVERRIDES = {
    **{name: "6s" for name in EXPECTED_ALERTS},
    "KubeStatefulSetReplicasMismatch": "6s",
}
PREFERRED_PROMETHEUS_PORT = 9090
RENDER_WORKERS = 2
KILL_PODS = 2
STORE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<store>
  <item type="book" price="12"/>
  <item type="book" price="8"/>
  <item type="disc" price="15"/>
  <item type="game" price="40"/>
  <item type="book" price="5"/>
  <item type="disc" price="9"/>
</store>
"""
DASHBOARDS = (
    "cluster-overview",
    "workloads",
    "pod-recovery",
    "golden-signals",
    "nodes",
    "store-textfile",
)


@dataclass
class DemoOptions:
    """What ``kubepulse demo`` was asked to do."""

    output: Path
    duration: float | None = 120.0  # None: until Ctrl-C
    kubeconfig: Path | None = None  # None: start the local kwok cluster
    nodes: int = 3
    cluster_name: str = "kubepulse-demo"
    scrape_interval: str = "2s"
    render: bool = True


@dataclass
class Step:
    name: str
    seconds: float
    detail: str


def _port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` (closed connections don't count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do: connections in TIME_WAIT from a stopped server must not count as bound.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


class Demo:
    """One run of the demo; ``run()`` returns the exit code."""

    def __init__(self, options: DemoOptions, echo: Callable[[str], None]) -> None:
        self.options = options
        self.echo = echo
        self.out = options.output
        self.t0 = time.monotonic()
        self.started_at = time.time()
        self.steps: list[Step] = []
        self.components: dict[str, Component] = {}
        self.urls: dict[str, str] = {}
        self.cluster: Cluster | None = None
        self.kubeconfig: Path | None = options.kubeconfig
        self.nodes: list[str] = []
        self.created_namespaces: list[str] = []  # deleted at the end on a cluster we didn't start
        self.ports: list[int] = []
        self.group = ProcessGroup(self.out / "logs")
        self.memory = MemorySampler()
        self.receiver: WebhookReceiver | None = None
        self.stop_load = threading.Event()
        self.prometheus: str | None = None
        self.prometheus_started_at = time.time()
        self.recovery: dict[str, Any] | None = None
        self.pngs: list[str] = []
        # Per dashboard, render-dashboard's drawn panels: title, type, png, series, errors.
        self.panels: dict[str, list[dict[str, Any]]] = {}
        self.rendered = False
        self.textfile_dir = self.out / "textfile"
        self.lock = threading.Lock()

    # --- output -------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        with self.lock:
            self.echo(f"[{time.monotonic() - self.t0:6.1f} s] {text}")

    @contextlib.contextmanager
    def step(self, name: str, what: str) -> Iterator[list[str]]:
        """Time a step; the body appends a detail line to the yielded list."""
        self.say(f"{what} ...")
        started = time.monotonic()
        detail: list[str] = []
        yield detail
        seconds = time.monotonic() - started
        self.steps.append(Step(name, round(seconds, 2), "; ".join(detail)))
        self.say(f"  done in {seconds:.1f} s" + (f": {'; '.join(detail)}" if detail else ""))

    def _on_alert(self, path: str, receiver: str, alert: dict[str, Any]) -> None:
        """Print one alert Alertmanager delivered to the webhook receiver."""
        labels = alert.get("labels", {})
        namespace = labels.get("namespace", "")
        if "deployment" in labels:
            subject = f"{namespace}/{labels['deployment']}"
        elif "pod" in labels:
            subject = f"{namespace}/{labels['pod']}"
        else:
            subject = str(labels.get("instance", namespace))
        self.say(
            f"webhook <- {str(alert.get('status', '?')).upper():8} {labels.get('alertname')} "
            f"{subject} (receiver {receiver})"
        )

    # --- cluster and workloads ----------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None) -> str:
        if self.cluster is not None:
            return self.cluster.kubectl(*args, input=input)
        from kubepulse.lab.cluster.binaries import ensure_binaries

        kubectl = shutil.which("kubectl") or str(ensure_binaries().kubectl)
        proc = subprocess.run(
            [kubectl, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def start_cluster(self) -> None:
        if self.kubeconfig is not None:
            with self.step("cluster", f"using the cluster in {self.kubeconfig}") as detail:
                self.nodes = self.kubectl("get", "nodes", "-o", "name").split()
                detail.append(f"{len(self.nodes)} nodes")
            return
        from kubepulse.lab.cluster import start_cluster

        with self.step("cluster", f"starting the local cluster ({self.options.nodes} kwok nodes)"):
            self.cluster = start_cluster(self.options.cluster_name, nodes=self.options.nodes)
            self.kubeconfig = self.cluster.kubeconfig
            self.memory.extra_pids = lambda: (
                list(self.cluster.pids().values()) if self.cluster else []
            )
            self.nodes = sorted(
                n.split("/", 1)[1] for n in self.kubectl("get", "nodes", "-o", "name").split()
            )
            self.urls["Kubernetes API"] = self.cluster.server

    def deploy_workloads(self) -> None:
        from kubepulse.lab.servers import stand_in_manifests

        real = self.cluster is None
        with self.step("workloads", "deploying sample workloads") as detail:
            tainted = None
            if not real and self.nodes:
                tainted = self.nodes[-1]
                self.kubectl("taint", "nodes", tainted, workloads.TAINT, "--overwrite")
                detail.append(f"node {tainted} tainted {workloads.TAINT}")
            # The probed Service's port: free on loopback, and nothing of the demo's listens there.
            docs = workloads.manifests(real=real, tainted_node=tainted, probe_port=free_port())
            if real:
                existing = set(self.kubectl("get", "namespaces", "-o", "name").split())
                taken = [ns for ns in workloads.NAMESPACES if f"namespace/{ns}" in existing]
                if taken:
                    raise DemoError(
                        f"namespace(s) {', '.join(taken)} already exist in {self.kubeconfig}; "
                        "the demo creates and deletes its own: remove them or use another cluster"
                    )
            self.created_namespaces = list(workloads.NAMESPACES)
            self.kubectl(
                "apply", "-f", "-", input=yaml.safe_dump_all(docs[: len(workloads.NAMESPACES)])
            )
            stand_ins = stand_in_manifests(workloads.STACK_NAMESPACE)
            if real:
                for doc in stand_ins:
                    for container in (
                        doc["spec"].get("template", {}).get("spec", {}).get("containers", [])
                    ):
                        container["image"] = workloads.PAUSE_IMAGE
            self.kubectl(
                "apply",
                "-f",
                "-",
                input=yaml.safe_dump_all(docs[len(workloads.NAMESPACES) :] + stand_ins),
            )
            kinds: dict[str, int] = {}
            for doc in docs[len(workloads.NAMESPACES) :]:
                kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
            detail.append(
                f"{len(workloads.NAMESPACES)} namespaces, "
                + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            )

    # --- the stack ----------------------------------------------------------------------------

    def _port(self, preferred: int | None = None) -> int:
        port = preferred if preferred is not None and _port_free(preferred) else free_port()
        self.ports.append(port)
        return port

    def _start(self, name: str, argv: list[str], url: str, *, ready: str, **kwargs: Any) -> None:
        proc = self.group.start(name, argv, ready_url=ready, **kwargs)
        self.components[name] = Component(name, url, pid=proc.pid)

    def start_exporters(self) -> dict[str, str]:
        """Start the exporters, the app and the Pushgateway; return Prometheus job -> address."""
        targets: dict[str, str] = {}
        with self.step(
            "exporters", "starting exporters, the example app and the Pushgateway"
        ) as detail:
            assert self.kubeconfig is not None
            ctx = Context(self.kubeconfig, self.textfile_dir, self.out / "gunicorn-multiproc")
            shutil.rmtree(ctx.multiproc_dir, ignore_errors=True)
            ctx.multiproc_dir.mkdir(parents=True)
            self.textfile_dir.mkdir(parents=True, exist_ok=True)
            for spec in EXPORTERS:
                ports = [self._port() for _ in range(spec.ports)]
                self._start(
                    spec.name,
                    spec.argv(ctx, ports),
                    spec.url(ports),
                    ready=spec.ready(ports),
                    env=spec.env(ctx, ports),
                    cwd=spec.cwd() if spec.cwd else None,
                    timeout=spec.timeout,
                )
                targets.update({job: f"{LOOPBACK}:{ports[i]}" for job, i in spec.jobs.items()})
            threading.Thread(
                target=_load,
                args=(f"http://{targets['kubernetes-pods']}", self.stop_load),
                name="load",
                daemon=True,
            ).start()
            self.start_textfile()

            url = start_blackbox_exporter(self.group, port=self._port())
            self.components["blackbox_exporter"] = Component(
                "blackbox_exporter", url, pid=self.group.processes[-1].pid
            )
            targets["blackbox-services"] = urlsplit(url).netloc
            running = [c.name for c in self.components.values() if c.status == "running"]
            detail.append(", ".join(running))
        return targets

    def start_textfile(self) -> None:
        """``kubepulse textfile`` in sidecar mode on the sample store, feeding node_exporter."""
        store = self.out / "store.xml"
        store.write_text(STORE_XML, encoding="utf-8")
        argv = [
            console_script("kubepulse"),
            "textfile",
            str(store),
            "--output-dir",
            str(self.textfile_dir),
            "--interval",
            "15",
        ]
        proc = self.group.start("textfile", argv)
        prom = self.textfile_dir / "store.prom"
        deadline = time.monotonic() + 30
        while not prom.is_file():
            if not proc.alive() or time.monotonic() > deadline:
                raise DemoError(f"kubepulse textfile wrote no {prom}: {proc.log_tail()}")
            time.sleep(0.1)
        self.components["textfile"] = Component(
            "textfile", str(prom), detail="kubepulse textfile --interval 15", pid=proc.pid
        )

    def start_alerting(self, targets: dict[str, str]) -> None:
        from kubepulse.lab.servers import start_stack_alertmanager, start_stack_prometheus

        with self.step("alerting", "starting Alertmanager and Prometheus") as detail:
            self.receiver = WebhookReceiver(self._on_alert)
            self.urls["Webhook receiver"] = self.receiver.url
            am_url = start_stack_alertmanager(
                self.group, self.out / "alertmanager", self.receiver.url, port=self._port()
            )
            self.components["alertmanager"] = Component("alertmanager", am_url)
            targets["alertmanager"] = urlsplit(am_url).netloc
            prom_port = self._port(PREFERRED_PROMETHEUS_PORT)
            targets = {"prometheus": f"{LOOPBACK}:{prom_port}", **targets}
            self.prometheus = start_stack_prometheus(
                self.group,
                self.out / "prometheus",
                port=prom_port,
                targets=targets,
                alertmanager_url=am_url,
                cluster="kubepulse-demo",
                kubeconfig=self.kubeconfig,
                sd_namespaces=list(workloads.NAMESPACES),
                interval=self.options.scrape_interval,
                for_overrides=FOR_OVERRIDES,
            )
            self.prometheus_started_at = time.time()
            self.components["prometheus"] = Component("prometheus", self.prometheus)
            for proc in self.group.processes:
                if proc.name in self.components:
                    self.components[proc.name].pid = proc.pid
            detail.append(
                f"Prometheus {self.prometheus}, {len(targets)} scrape jobs, rules with short for:"
            )

    def start_grafana(self) -> None:
        server = shutil.which("grafana-server")
        if server is None:
            self.say(
                "grafana-server is not on PATH: no Grafana (the PNGs below show the dashboards)"
            )
            self.components["grafana"] = Component("grafana", status="absent", detail="not on PATH")
            return
        from kubepulse.stack import deploy_dir

        with self.step("grafana", "starting Grafana with deploy/grafana provisioning") as detail:
            port = self._port()
            root = self.out / "grafana"
            provisioning = root / "provisioning"
            for sub in ("datasources", "dashboards", "plugins", "alerting"):
                (provisioning / sub).mkdir(parents=True, exist_ok=True)
            source = deploy_dir() / "grafana" / "provisioning"
            datasources = yaml.safe_load((source / "datasources" / "prometheus.yml").read_text())
            for ds in datasources["datasources"]:
                ds["url"] = self.prometheus
                ds.setdefault("jsonData", {})["timeInterval"] = self.options.scrape_interval
            (provisioning / "datasources" / "prometheus.yml").write_text(
                yaml.safe_dump(datasources)
            )
            boards = yaml.safe_load((source / "dashboards" / "kubepulse.yml").read_text())
            for provider in boards["providers"]:
                provider["options"]["path"] = str(deploy_dir() / "grafana" / "dashboards")
            (provisioning / "dashboards" / "kubepulse.yml").write_text(yaml.safe_dump(boards))
            home = Path("/usr/share/grafana")
            url = f"http://{LOOPBACK}:{port}"
            self._start(
                "grafana",
                [server, f"--homepath={home}"] if home.is_dir() else [server],
                url,
                ready=f"{url}/api/health",
                timeout=90,
                env={
                    "GF_SERVER_HTTP_ADDR": LOOPBACK,
                    "GF_SERVER_HTTP_PORT": str(port),
                    "GF_PATHS_DATA": str(root / "data"),
                    "GF_PATHS_LOGS": str(root / "logs"),
                    "GF_PATHS_PROVISIONING": str(provisioning),
                    "GF_AUTH_ANONYMOUS_ENABLED": "true",
                    "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
                    # Loopback only: no update checks, usage reports or plugin downloads.
                    "GF_ANALYTICS_REPORTING_ENABLED": "false",
                    "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
                    "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
                    "GF_PLUGINS_PLUGIN_ADMIN_ENABLED": "false",
                    "GF_NEWS_NEWS_FEED_ENABLED": "false",
                },
            )
            detail.append(url)

    # --- the scenario -------------------------------------------------------------------------

    def pod_kill(self) -> None:
        json_path = self.out / "recovery.json"
        report = self.out / "recovery-report.html"
        pushgateway = self.components["pushgateway"].url or ""
        with self.step(
            "pod-kill", f"pod-kill scenario: killing {KILL_PODS} web pods, measuring recovery"
        ) as detail:
            self.kubectl(
                "-n", workloads.SHOP_NAMESPACE, "rollout", "status", "deploy/web", "--timeout=60s"
            )
            proc = self.group.start(
                "pod-monitor",
                [
                    console_script("kubepulse"),
                    "monitor",
                    "pods",
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--namespace-pattern",
                    f"^{workloads.SHOP_NAMESPACE}$",  # patterns match from the start
                    "--label",
                    workloads.WEB_SELECTOR,
                    "--kill",
                    str(KILL_PODS),
                    "--timeout",
                    "60",
                    "--settle",
                    "1",
                    "--seed",
                    str(random.randrange(1 << 30)),
                    "--json",
                    str(json_path),
                    "--report",
                    str(report),
                    "--pushgateway",
                    pushgateway,
                ],
            )
            try:
                code = proc.popen.wait(120)
            except subprocess.TimeoutExpired:
                proc.stop()
                raise DemoError(
                    f"kubepulse monitor pods did not finish: {proc.log_tail()}"
                ) from None
            if not json_path.is_file():
                raise DemoError(
                    f"kubepulse monitor pods wrote no JSON (exit {code}): {proc.log_tail()}"
                )
            self.recovery = json.loads(json_path.read_text())
            recovered = self.recovery["recovered"]
            detail.append(
                f"{len(recovered)} recovered, {len(self.recovery['unrecovered'])} unrecovered"
            )
            if recovered:
                mean = sum(p["total_recovery_time"] for p in recovered) / len(recovered)
                detail.append(f"mean recovery {mean:.2f} s")

    # --- watching and the summary -------------------------------------------------------------

    def targets(self) -> list[dict[str, Any]]:
        from kubepulse.lab.servers import api_get

        assert self.prometheus is not None
        active = api_get(self.prometheus, "/api/v1/targets", {"state": "active"})["activeTargets"]
        return [
            {
                "job": t["scrapePool"],
                "instance": t["labels"].get("instance", ""),
                "pod": t["labels"].get("pod"),
                "health": t["health"],
                "scrape_url": t["scrapeUrl"],
                "last_error": t.get("lastError", ""),
            }
            for t in sorted(active, key=lambda t: (t["scrapePool"], t["scrapeUrl"]))
        ]

    def firing(self) -> list[dict[str, str]]:
        from kubepulse.lab.servers import api_get

        assert self.prometheus is not None
        alerts = api_get(self.prometheus, "/api/v1/alerts")["alerts"]
        return sorted(
            (a["labels"] for a in alerts if a["state"] == "firing"),
            key=lambda labels: (labels.get("alertname", ""), sorted(labels.items())),
        )

    def checks(self) -> dict[str, bool]:
        """What a healthy demo shows: every name is a promise of the README."""
        targets = self.targets()
        received = (
            {a["labels"].get("alertname") for _, a in self.receiver.alerts(status="firing")}
            if self.receiver
            else set()
        )
        recovery = self.recovery or {"recovered": [], "unrecovered": [], "error": "not run"}
        result = {
            "every target up": bool(targets) and all(t["health"] == "up" for t in targets),
            **{f"{name} reached the webhook": name in received for name in EXPECTED_ALERTS},
            "killed pods recovered": len(recovery["recovered"]) == KILL_PODS
            and not recovery["unrecovered"]
            and recovery["error"] is None,
        }
        return result

    def watch(self) -> None:
        """Keep the stack up until the deadline (or Ctrl-C), with a status line now and then."""
        deadline = None if self.options.duration is None else self.t0 + self.options.duration
        if deadline is None:
            self.say("running until Ctrl-C")
        else:
            self.say(f"running until {self.options.duration:.0f} s (Ctrl-C ends it early)")
        last_status = 0.0
        while deadline is None or time.monotonic() < deadline:
            time.sleep(1)
            now = time.monotonic()
            if now - last_status >= 15:
                last_status = now
                targets = self.targets()
                up = sum(t["health"] == "up" for t in targets)
                self.say(
                    f"status: {up}/{len(targets)} targets up, {len(self.firing())} alerts firing, "
                    f"{len(self.receiver.alerts()) if self.receiver else 0} notifications"
                )
        # A short run may end before a slow start let every alert through: give it a little.
        grace = time.monotonic() + 30
        while time.monotonic() < grace:
            if all(self.checks().values()):
                break
            time.sleep(1)

    def render(self) -> None:
        """``kubepulse render-dashboard`` on the main dashboards, two processes side by side.

        Drawing is CPU-bound Python; two processes use both cores of a small machine. Each one's
        ``--json`` keeps every panel's series count: a PNG of a "No data" panel is not blank, so
        only the count tells an empty panel from a drawn one.
        """
        from kubepulse.stack import deploy_dir

        assert self.prometheus is not None
        out = self.out / "dashboards"
        boards = deploy_dir() / "grafana" / "dashboards"
        with self.step("render", "rendering the dashboards to PNG") as detail:
            # From Prometheus's first scrape: the time before it holds no data to show.
            start = self.prometheus_started_at
            end = time.time()
            workers = []
            reports = [self.out / "logs" / f"render-{i + 1}.json" for i in range(RENDER_WORKERS)]
            for index in range(RENDER_WORKERS):
                argv = [
                    console_script("kubepulse"),
                    "render-dashboard",
                    *(str(boards / f"{name}.json") for name in DASHBOARDS[index::RENDER_WORKERS]),
                    *("--prometheus", self.prometheus, "--out", str(out)),
                    *("--from", f"{start:.0f}", "--to", f"{end:.0f}"),
                    *("--scrape-interval", self.options.scrape_interval),
                    *("--json", str(reports[index])),
                ]
                workers.append(self.group.start(f"render-{index + 1}", argv))
            codes = []
            for worker in workers:
                try:
                    code = worker.popen.wait(300)
                except subprocess.TimeoutExpired:
                    worker.stop()
                    code = None
                codes.append(code)
                lines = worker.log_tail(200).splitlines()
                self.pngs += [line.rsplit("  [", 1)[0] for line in lines if line.endswith("]")]
                if code != 0:
                    problem = lines[-1] if lines else f"exit {code}"
                    self.say(f"  {worker.name}: {problem}")
                    detail.append(problem)
            for report in reports:
                if report.is_file():
                    self.panels.update(json.loads(report.read_text()))
            self.panels = {name: self.panels[name] for name in DASHBOARDS if name in self.panels}
            self.rendered = codes == [0] * RENDER_WORKERS and len(self.panels) == len(DASHBOARDS)
            empty = len(empty_panels(self.panels))
            drawn = sum(len(panels) for panels in self.panels.values())
            detail.insert(0, f"{len(self.pngs)} PNGs in {out}, {empty} of {drawn} panels empty")

    def summary(self, checks: dict[str, bool]) -> dict[str, Any]:
        self.memory.sample()
        targets = self.targets() if self.prometheus else []
        for name, component in self.components.items():
            if component.url and component.status == "running":
                self.urls.setdefault(name, component.url)
        return {
            "started_at": self.started_at,
            "seconds": round(time.monotonic() - self.t0, 1),
            "cluster": {
                "kind": "kwok" if self.cluster is not None else "kubeconfig",
                "kubeconfig": str(self.kubeconfig),
                "nodes": self.nodes,
            },
            "steps": [s.__dict__ for s in self.steps],
            "components": {n: c.__dict__ for n, c in self.components.items()},
            "targets": targets,
            "targets_up": sum(t["health"] == "up" for t in targets),
            "targets_down": sum(t["health"] != "up" for t in targets),
            "alerts_firing": self.firing() if self.prometheus else [],
            "notifications": self.receiver.records() if self.receiver else [],
            "recovery": self.recovery,
            "urls": self.urls,
            "pngs": self.pngs,
            "dashboards": self.panels,
            "peak_memory_bytes": self.memory.peak,
            "ports": self.ports,
            "pids": [p.pid for p in self.group.processes],
            "checks": checks,
        }

    def print_summary(self, data: dict[str, Any]) -> None:
        missing = [c for c in self.components.values() if c.status != "running"]
        for line in summary_lines(data, missing, self.out):
            self.echo(line)

    # --- the whole run ------------------------------------------------------------------------

    def teardown(self) -> dict[str, Any]:
        started = time.monotonic()
        self.stop_load.set()
        pids = [p.pid for p in self.group.processes]
        self.group.close()
        if self.receiver is not None:
            self.receiver.close()
        if self.cluster is not None:
            self.cluster.down()
        elif self.created_namespaces:
            with contextlib.suppress(DemoError, subprocess.TimeoutExpired):
                self.kubectl(
                    "delete",
                    "namespace",
                    *self.created_namespaces,
                    "--wait=false",
                    "--ignore-not-found",
                )
        left = [
            pid
            for pid in pids
            if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        ]
        bound = [port for port in self.ports if not _port_free(port)]
        return {
            "seconds": round(time.monotonic() - started, 2),
            "processes_left": left,
            "ports_still_bound": bound,
        }

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        self.memory.start()
        exit_code = 0
        summary: dict[str, Any] | None = None
        try:
            try:
                self.start_cluster()
                self.deploy_workloads()
                targets = self.start_exporters()
                self.start_alerting(targets)
                self.start_grafana()
                self.pod_kill()
                self.say("the stack is up: Prometheus at " + str(self.prometheus))
                self.watch()
            except KeyboardInterrupt:
                if self.prometheus is None:
                    raise
                self.say("interrupted: summarising, then tearing down (Ctrl-C again to skip)")
            checks = self.checks()
            if self.options.render:
                self.render()
                checks["dashboards rendered without query errors"] = self.rendered
            summary = self.summary(checks)
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            self.print_summary(summary)
            exit_code = 0 if all(checks.values()) else 1
        except KeyboardInterrupt:
            self.say("interrupted")
            exit_code = 130
        except (DemoError, RuntimeError, OSError, TimeoutError) as exc:
            self.say(f"error: {exc}")
            exit_code = 1
        finally:
            self.say("tearing down ...")
            # Another Ctrl-C must not cut the teardown short and leave servers behind.
            interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                result = self.teardown()
            finally:
                signal.signal(signal.SIGINT, interrupt)
            self.memory.stop()
            if summary is not None:
                summary["teardown"] = result
                summary["peak_memory_bytes"] = self.memory.peak
                (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            self.say(
                f"torn down in {result['seconds']} s: "
                f"{len(result['processes_left'])} processes left, "
                f"{len(result['ports_still_bound'])} ports still bound"
            )
        return exit_code


def _load(url: str, stop: threading.Event) -> None:
    """A small, bounded load: one request at a time, at most 10 per second, until ``stop``."""
    paths = ["/", "/", "/", "/items/1", "/items/42", "/fail", "/missing"]
    rng = random.Random(7)
    while not stop.wait(0.1):
        path = rng.choice(paths)
        with contextlib.suppress(OSError), urllib.request.urlopen(url + path, timeout=2) as resp:
            resp.read()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_demo(options: DemoOptions, echo: Callable[[str], None]) -> int:
    """Run the demo; SIGTERM ends it like Ctrl-C. Returns the exit code."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return Demo(options, echo).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
