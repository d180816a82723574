"""The Ansible project: lint, syntax, and the Debian host roles run for real against localhost.

The host roles install (or find installed) Debian's prometheus, prometheus-alertmanager and
prometheus-node-exporter, template their configs from deploy/, validate them with promtool and
amtool, and start the real binaries. systemd is not PID 1 here, so the roles run with
`kubepulse_service_manager: direct` (start-stop-daemon), under a private prefix and on free
loopback ports, so they never touch the machine's own /etc/prometheus or other users' processes.

Grafana's role runs in --check mode only: its APT repository (apt.grafana.com) is not reachable
from here, so the package cannot be installed for real.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from deploy_helpers import REPO
from waiting import wait_until

from kubepulse.exposition.server import FD_RESERVE, ServerLimits
from kubepulse.lab.processes import ManagedProcess, ProcessGroup, free_port

ANSIBLE = REPO / "deploy" / "ansible"
BIN = Path(sys.executable).parent


def ansible(cmd: str, *args: str, check: bool = True) -> str:
    """Run an ansible tool from the venv in deploy/ansible; output, or an error with it."""
    env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    proc = subprocess.run(
        [str(BIN / cmd), *args],
        cwd=ANSIBLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} {' '.join(args)} failed ({proc.returncode}):\n{out[-6000:]}")
    return out


def recap(out: str) -> dict[str, int]:
    match = re.search(r"^localhost\s+:\s+(.*)$", out, re.M)
    assert match, out[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def test_ansible_lint_production_profile_and_syntax_check() -> None:
    out = ansible("ansible-lint", "--nocolor")  # profile and offline: deploy/ansible/.ansible-lint
    assert "Profile 'production' was required, and it passed" in out
    out = ansible("ansible-playbook", "--syntax-check", "-i", "inventory/hosts.yml", "site.yml")
    assert "playbook: site.yml" in out


@pytest.fixture
def host_stack() -> Iterator[dict[str, Any]]:
    """A private prefix, free loopback ports, a localhost inventory; stops what it started."""
    prefix = Path(tempfile.mkdtemp(prefix="kubepulse-ansible-", dir="/tmp"))
    prefix.chmod(0o755)  # the services run as the `prometheus` user and must reach their files
    ports = {
        name: free_port()
        for name in ("prometheus", "alertmanager", "node_exporter", "system", "blackbox")
    }
    store = prefix / "store.xml"
    store.write_text('<store><item type="a"/><item type="b"/><item type="a"/></store>\n')
    extra: dict[str, Any] = {
        "kubepulse_service_manager": "direct",
        "kubepulse_prefix": str(prefix),
        "kubepulse_listen_host": "127.0.0.1",
        "kubepulse_apt_update": False,
        "prometheus_port": ports["prometheus"],
        "prometheus_scrape_interval": "1s",
        "prometheus_scrape_timeout": "1s",
        "prometheus_evaluation_interval": "1s",
        "prometheus_cluster_name": "ansible-test",
        "alertmanager_port": ports["alertmanager"],
        "node_exporter_port": ports["node_exporter"],
        "blackbox_exporter_port": ports["blackbox"],
        "kubepulse_exporters_install": False,
        "kubepulse_exporters_venv": str(BIN.parent),
        # This venv's Python lives under /root (pyenv), which the prometheus user cannot reach.
        "kubepulse_exporters_user": "root",
        "kubepulse_exporters_system_exporter_port": ports["system"],
        "kubepulse_exporters_system_exporter_enabled": True,
        # `kubepulse textfile` (looping under the direct manager) feeds node_exporter this store.
        "kubepulse_exporters_textfile_stores": [str(store)],
        "kubepulse_exporters_textfile_interval": 1,
    }
    inventory = {
        "all": {
            "hosts": {
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                }
            },
            "children": {
                "monitoring": {"hosts": {"localhost": None}},
                "monitored": {"hosts": {"localhost": None}},
            },
        }
    }
    (prefix / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (prefix / "vars.json").write_text(json.dumps(extra))
    try:
        yield {"prefix": prefix, "ports": ports, "extra": extra}
    finally:
        for pidfile in sorted((prefix / "run/kubepulse").glob("*.pid")):
            stop = ["start-stop-daemon", "--stop", "--oknodo", "--retry", "TERM/10/KILL/5"]
            subprocess.run([*stop, "--pidfile", str(pidfile)], capture_output=True, check=False)
        shutil.rmtree(prefix, ignore_errors=True)


def run_site(stack: dict[str, Any], *args: str, check: bool = True) -> dict[str, Any]:
    """Run site.yml on the stack's inventory: the recap's counts, "output" (tasks, changes),
    "log" (all of it) and "failed_tasks" (the names of the tasks that failed)."""
    prefix = stack["prefix"]
    out = ansible(
        "ansible-playbook", "-i", str(prefix / "inventory.yml"), "site.yml",
        "-e", f"@{prefix / 'vars.json'}", *args, check=check,
    )  # fmt: skip
    failed_tasks = re.findall(
        r"^TASK \[([^\]]*)\].*\n(?:(?!TASK \[).*\n)*?(?:fatal|failed): \[", out, re.M
    )
    return {
        **recap(out),
        "output": "\n".join(re.findall(r"^changed: .*|^TASK .*", out, re.M)),
        "log": out,
        "failed_tasks": failed_tasks,
    }


@pytest.mark.slow
@pytest.mark.timeout(900)  # three playbook runs; ~2 min on an idle machine
def test_host_roles_deploy_the_stack_on_localhost_idempotently(host_stack: dict[str, Any]) -> None:
    ports = host_stack["ports"]
    prefix = host_stack["prefix"]
    first = run_site(host_stack, "--tags", "hosts", "--skip-tags", "grafana")
    assert first["failed"] == 0 and first["changed"] > 0

    prom = f"http://127.0.0.1:{ports['prometheus']}"
    config = yaml.safe_load(get_json(f"{prom}/api/v1/status/config")["data"]["yaml"])
    assert config["global"]["scrape_interval"] == "1s"
    assert config["global"]["external_labels"]["cluster"] == "ansible-test"
    # No prometheus_blackbox_targets: no blackbox-hosts job (test_blackbox_role_... sets them).
    assert [job["job_name"] for job in config["scrape_configs"]] == [
        "prometheus",
        "node-exporter",
        "kubepulse-system-exporter",
        "alertmanager",
    ]
    # Every rule group in deploy/prometheus/rules is loaded by the real Prometheus.
    expected_groups = {
        g["name"]
        for path in (REPO / "deploy/prometheus/rules").glob("*.yml")
        for g in yaml.safe_load(path.read_text())["groups"]
    }
    loaded = {g["name"] for g in get_json(f"{prom}/api/v1/rules")["data"]["groups"]}
    assert expected_groups and loaded == expected_groups
    # Prometheus scrapes node_exporter and itself, and found the Alertmanager.
    jobs = ["node-exporter", "prometheus", "alertmanager", "kubepulse-system-exporter"]
    deadline = time.monotonic() + 20
    while True:
        up = {
            r["metric"]["job"]: r["value"][1]
            for r in get_json(f"{prom}/api/v1/query?query=up")["data"]["result"]
        }
        ams = get_json(f"{prom}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
        jobs_up = all(up.get(job) == "1" for job in jobs)
        if jobs_up and ams:
            break
        assert time.monotonic() < deadline, f"targets not up: {up}"
        time.sleep(0.5)
    assert [a["url"] for a in ams] == [f"http://localhost:{ports['alertmanager']}/api/v2/alerts"]
    status = get_json(f"http://127.0.0.1:{ports['alertmanager']}/api/v2/status")
    assert "receiver: team" in status["config"]["original"]
    textfile_dir = prefix / "var/lib/prometheus/node-exporter"
    assert textfile_dir.is_dir()
    with urllib.request.urlopen(
        f"http://127.0.0.1:{ports['node_exporter']}/metrics", timeout=5
    ) as resp:
        metrics = resp.read().decode()
    assert "node_textfile_scrape_error 0" in metrics
    # `kubepulse textfile` (looping under the direct manager) feeds node_exporter the store.
    deadline = time.monotonic() + 30
    while 'store_rows{path="' not in metrics:
        assert time.monotonic() < deadline, "no store_* metrics from the textfile directory"
        time.sleep(0.5)
        with urllib.request.urlopen(
            f"http://127.0.0.1:{ports['node_exporter']}/metrics", timeout=5
        ) as resp:
            metrics = resp.read().decode()
    assert re.search(r'^store_total_rows\{path="[^"]*store\.xml"\} 3$', metrics, re.M), metrics[
        -2000:
    ]
    pid = (prefix / "run/kubepulse/prometheus.pid").read_text().strip()

    second = run_site(host_stack, "--tags", "hosts", "--skip-tags", "grafana")
    assert second["changed"] == 0 and second["failed"] == 0, second["output"]

    # A changed knob is applied through the reload handler: same process, new config. An
    # installed rule file edited by hand and one with another mode are put back as well (the
    # role skips only files whose checksum, owner and mode match).
    extra = {**host_stack["extra"], "prometheus_scrape_interval": "2s"}
    (prefix / "vars.json").write_text(json.dumps(extra))
    rules_dir = prefix / "etc/prometheus/rules"
    edited, chmodded = rules_dir / "node.yml", rules_dir / "targets.yml"
    edited.write_text(edited.read_text() + "# edited by hand\n")
    chmodded.chmod(0o600)
    third = run_site(host_stack, "--tags", "hosts", "--skip-tags", "grafana")
    assert third["changed"] > 0 and third["failed"] == 0
    assert edited.read_bytes() == (REPO / "deploy/prometheus/rules/node.yml").read_bytes()
    assert chmodded.stat().st_mode & 0o777 == 0o644
    restored = re.findall(r"^changed: .*\(item=.*/rules/([\w.-]+)\)", third["output"], re.M)
    assert sorted(restored) == ["node.yml", "targets.yml"], third["output"]
    deadline = time.monotonic() + 10
    while (
        yaml.safe_load(get_json(f"{prom}/api/v1/status/config")["data"]["yaml"])["global"][
            "scrape_interval"
        ]
        != "2s"
    ):
        assert time.monotonic() < deadline, "Prometheus did not reload its config"
        time.sleep(0.2)
    assert (prefix / "run/kubepulse/prometheus.pid").read_text().strip() == pid


@contextlib.contextmanager
def edited_yaml(path: Path) -> Iterator[Any]:
    """The YAML document in ``path``, to change in the block: written back when it ends."""
    doc = yaml.safe_load(path.read_text())
    yield doc
    path.write_text(yaml.safe_dump(doc))


def run_monitoring_play(stack: dict[str, Any], variables: dict[str, Any]) -> None:
    """A successful hosts run with ``variables`` of the monitoring play only (Alertmanager,
    blackbox_exporter, Prometheus): quicker."""
    prefix = stack["prefix"]
    (prefix / "vars.json").write_text(json.dumps(variables))
    with edited_yaml(prefix / "inventory.yml") as inventory:
        inventory["all"]["children"] = {"monitoring": {"hosts": {"localhost": None}}}
    result = run_site(stack, "--tags", "hosts", "--skip-tags", "grafana")
    assert result["failed"] == 0, result["log"][-4000:]


def answering_server(agents: list[str]) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 (started in a thread) that answers every GET with 200 and
    appends each request's User-Agent to ``agents``."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            agents.append(self.headers.get("User-Agent", ""))
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.slow
@pytest.mark.timeout(600)  # one playbook run, the monitoring play only
def test_blackbox_role_probes_the_host_targets_through_the_local_exporter(
    host_stack: dict[str, Any],
) -> None:
    """prometheus_blackbox_targets become the blackbox-hosts job, probed through Debian's
    blackbox_exporter with deploy/blackbox/blackbox.yml: a loopback HTTP server this test runs
    succeeds (http_2xx by URL, tcp_connect as {target, module}), a loopback port with nothing
    listening fails. The other servers listen on 127.0.0.2 here, so the exporter staying on
    127.0.0.1 shows its own loopback default, not kubepulse_listen_host."""
    prefix = host_stack["prefix"]
    ports = host_stack["ports"]
    agents: list[str] = []
    server = answering_server(agents)
    try:
        live = f"127.0.0.1:{server.server_address[1]}"
        dead = f"127.0.0.1:{free_port()}"  # nothing listens there
        targets = [f"http://{live}/", f"http://{dead}/", {"target": live, "module": "tcp_connect"}]
        extra = {
            **host_stack["extra"],
            "kubepulse_listen_host": "127.0.0.2",
            "prometheus_blackbox_targets": targets,
        }
        run_monitoring_play(host_stack, extra)

        installed = prefix / "etc/prometheus/blackbox.yml"
        assert installed.read_bytes() == (REPO / "deploy/blackbox/blackbox.yml").read_bytes()
        pid = (prefix / "run/kubepulse/prometheus-blackbox-exporter.pid").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert argv[0] == b"/usr/bin/prometheus-blackbox-exporter"
        assert f"--web.listen-address=127.0.0.1:{ports['blackbox']}".encode() in argv

        prom = f"http://127.0.0.2:{ports['prometheus']}"
        job = next(
            j
            for j in yaml.safe_load(get_json(f"{prom}/api/v1/status/config")["data"]["yaml"])[
                "scrape_configs"
            ]
            if j["job_name"] == "blackbox-hosts"
        )
        assert job["metrics_path"] == "/probe"
        expected = {
            (f"http://{live}/", "http_2xx"): "1",
            (f"http://{dead}/", "http_2xx"): "0",
            (live, "tcp_connect"): "1",
        }

        def probes_as_expected() -> bool:
            results = get_json(f"{prom}/api/v1/query?query=probe_success")["data"]["result"]
            probes = {
                (r["metric"]["instance"], r["metric"]["module"]): r["value"][1]
                for r in results
                if r["metric"]["job"] == "blackbox-hosts"
            }
            assert probes == expected, f"probe_success: {probes}"
            return True

        wait_until(probes_as_expected, timeout=30, interval=0.5)
        # Prometheus probes through the exporter on 127.0.0.1 (Debian's Prometheus 2.42 answers
        # /api/v1/targets with no targets, so the config and the exporter's history say it).
        exporter = f"127.0.0.1:{ports['blackbox']}"
        assert [
            r["replacement"] for r in job["relabel_configs"] if r["target_label"] == "__address__"
        ] == [exporter]
        up = get_json(f'{prom}/api/v1/query?query=up{{job="blackbox-hosts"}}')["data"]["result"]
        assert sorted(r["value"][1] for r in up) == ["1", "1", "1"], up
        with urllib.request.urlopen(f"http://{exporter}/", timeout=5) as resp:
            history = resp.read().decode()
        for (target, module), success in expected.items():
            result = "Success" if success == "1" else "<strong>Failure</strong>"
            assert f"<td>{module}</td><td>{target}</td><td>{result}</td>" in history, history
        # The HTTP probes reached this server from Debian's blackbox_exporter.
        assert agents and all(a.startswith("Blackbox Exporter/0.23") for a in agents), agents
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.timeout(600)  # one playbook run, the monitoring play only
def test_ha_roles_join_an_alertmanager_cluster_and_label_the_replica(
    host_stack: dict[str, Any], tmp_path: Path
) -> None:
    """alertmanager_cluster_peers makes the role's Debian Alertmanager gossip with a second
    member (the same Debian binary, started here on 127.0.0.1): both report a cluster of two.
    prometheus_replica adds the external label replica and drops it from the alerts sent: the
    Watchdog alert reaches the role's Alertmanager with cluster and without replica."""
    ports = host_stack["ports"]
    gossip, peer_gossip, peer_web = free_port(), free_port(), free_port()
    (tmp_path / "am.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    peer_argv = [
        "/usr/bin/prometheus-alertmanager",
        f"--config.file={tmp_path / 'am.yml'}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{peer_web}",
        f"--cluster.listen-address=127.0.0.1:{peer_gossip}",
        f"--cluster.advertise-address=127.0.0.1:{peer_gossip}",
        f"--cluster.peer=127.0.0.1:{gossip}",
    ]
    with ProcessGroup(tmp_path / "logs") as group:
        group.start("peer", peer_argv, ready_url=f"http://127.0.0.1:{peer_web}/-/ready")
        extra = {
            **host_stack["extra"],
            "alertmanager_cluster_port": gossip,
            "alertmanager_cluster_advertise_address": f"127.0.0.1:{gossip}",
            "alertmanager_cluster_peers": [f"127.0.0.1:{peer_gossip}"],
            "prometheus_replica": "replica-a",
        }
        run_monitoring_play(host_stack, extra)

        role_am = f"http://127.0.0.1:{ports['alertmanager']}"

        def cluster_of_two(url: str) -> bool:
            status = get_json(f"{url}/api/v2/status")["cluster"]
            addresses = sorted(p["address"] for p in status.get("peers") or [])
            expected = sorted([f"127.0.0.1:{gossip}", f"127.0.0.1:{peer_gossip}"])
            assert (status["status"], addresses) == ("ready", expected), status
            return True

        wait_until(lambda: cluster_of_two(role_am), timeout=30, interval=0.5)
        cluster_of_two(f"http://127.0.0.1:{peer_web}")

        prom = f"http://127.0.0.1:{ports['prometheus']}"
        config = yaml.safe_load(get_json(f"{prom}/api/v1/status/config")["data"]["yaml"])
        assert config["global"]["external_labels"] == {
            "cluster": "ansible-test",
            "replica": "replica-a",
        }
        assert config["alerting"]["alert_relabel_configs"] == [
            {
                "action": "labeldrop",
                "regex": "replica",
                "separator": ";",
                "replacement": "$1",
            }
        ]

        def watchdog() -> dict[str, str]:
            alerts = get_json(f"{role_am}/api/v2/alerts")
            found = [a["labels"] for a in alerts if a["labels"]["alertname"] == "Watchdog"]
            assert found, [a["labels"]["alertname"] for a in alerts]
            return dict(found[0])

        # The playbook restarts Alertmanager with its cluster flags (an empty alert list) while
        # Prometheus may stay up: an alert it had sent before is sent again only when its resend
        # delay (1 min by default) has passed, at an evaluation (every 30 s), so up to 90 s.
        labels = wait_until(watchdog, timeout=150, interval=0.5)
        assert labels["cluster"] == "ansible-test" and "replica" not in labels, labels


def test_grafana_role_in_check_mode(host_stack: dict[str, Any]) -> None:
    """Check mode only: Grafana's APT repository is unreachable here (see the module docstring)."""
    # A local keyring stands in for the key URL, which the module would fetch even in --check.
    result = run_site(
        host_stack, "--tags", "grafana", "--check",
        "-e", "grafana_admin_password=not-a-real-secret",
        "-e", "grafana_apt_key_url=/usr/share/keyrings/debian-archive-keyring.gpg",
    )  # fmt: skip
    assert result["failed"] == 0 and result["changed"] > 0
    assert not (host_stack["prefix"] / "etc/grafana").exists(), "--check must not write anything"


def test_grafana_role_provisions_alerting_only_when_enabled(host_stack: dict[str, Any]) -> None:
    """Check mode, as above: the alerting files would be copied, and only when asked for."""
    args = (
        "--tags", "grafana", "--check",
        "-e", "grafana_admin_password=not-a-real-secret",
        "-e", "grafana_apt_key_url=/usr/share/keyrings/debian-archive-keyring.gpg",
    )  # fmt: skip
    files = sorted((REPO / "deploy/grafana/provisioning/alerting").glob("*.yml"))
    assert [p.name for p in files] == ["contact-points.yml", "policies.yml", "rules.yml"]
    source = re.escape(f"{REPO}/deploy/grafana/provisioning/alerting/")

    def copied(result: dict[str, Any]) -> list[str]:
        return re.findall(rf"^changed: .*\(item={source}([\w.-]+)\)", result["output"], re.M)

    on = run_site(host_stack, *args, "-e", "grafana_alerting_enabled=true")
    assert on["failed"] == 0
    assert copied(on) == [p.name for p in files]
    off = run_site(host_stack, *args)
    assert off["failed"] == 0 and copied(off) == []


def config_files(etc: Path) -> list[Path]:
    """The config files the host roles install under etc/prometheus."""
    return sorted(
        [
            etc / "prometheus.yml",
            etc / "alertmanager.yml",
            etc / "blackbox.yml",
            *etc.glob("rules/*.yml"),
        ]
    )


def served_configs(ports: dict[str, int]) -> dict[str, Any]:
    """What the running Prometheus and Alertmanager answer: their config and the loaded rules."""
    prom = f"http://127.0.0.1:{ports['prometheus']}"
    return {
        "prometheus": get_json(f"{prom}/api/v1/status/config")["data"]["yaml"],
        "rules": sorted(
            (g["name"], tuple(r["query"] for r in g["rules"]))
            for g in get_json(f"{prom}/api/v1/rules")["data"]["groups"]
        ),
        "alertmanager": get_json(f"http://127.0.0.1:{ports['alertmanager']}/api/v2/status")[
            "config"
        ]["original"],
    }


@pytest.mark.slow
@pytest.mark.timeout(900)  # five playbook runs
def test_host_roles_refuse_a_config_promtool_or_amtool_rejects(host_stack: dict[str, Any]) -> None:
    """A rule file promtool rejects, a prometheus.yml promtool rejects, an alertmanager.yml
    amtool rejects and a blackbox.yml that blackbox_exporter's --config.check rejects each stop
    the play at the validating task; the installed file stays byte for byte, and the running
    server keeps serving the old config (no reload, no restart)."""
    prefix = host_stack["prefix"]
    ports = host_stack["ports"]
    # The roles template from a copy of deploy/, so this test can break one rule file in it.
    deploy = prefix / "deploy"
    for part in ("prometheus", "alertmanager", "blackbox"):
        shutil.copytree(REPO / "deploy" / part, deploy / part)
    good = {**host_stack["extra"], "kubepulse_deploy_dir": str(deploy)}
    (prefix / "vars.json").write_text(json.dumps(good))
    first = run_site(host_stack, "--tags", "hosts", "--skip-tags", "grafana")
    assert first["failed"] == 0 and first["changed"] > 0

    etc = prefix / "etc/prometheus"
    installed = config_files(etc)
    assert len(installed) == 3 + len(list((REPO / "deploy/prometheus/rules").glob("*.yml")))
    before = {path: path.read_bytes() for path in installed}
    pids = {
        unit: (prefix / f"run/kubepulse/{unit}.pid").read_text()
        for unit in ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
    }
    served = served_configs(ports)
    assert "scrape_interval: 1s" in served["prometheus"]
    assert "receiver: team" in served["alertmanager"]
    assert any(name == "targets" for name, _ in served["rules"])

    def refused(task: str, error: str, variables: dict[str, Any] = good) -> None:
        """A hosts run with ``variables`` stops at ``task`` with the validator's ``error``, and
        leaves the installed files and the running servers as they were."""
        (prefix / "vars.json").write_text(json.dumps(variables))
        result = run_site(host_stack, "--tags", "hosts", "--skip-tags", "grafana", check=False)
        assert result["failed"] == 1, result["log"][-4000:]
        assert result["failed_tasks"] == [task], result["log"][-4000:]
        assert "failed to validate" in result["log"] and error in result["log"], result["log"][
            -4000:
        ]
        assert config_files(etc) == installed
        for path, content in before.items():
            assert path.read_bytes() == content, f"{path} changed although validation failed"
        for unit, pid in pids.items():
            assert (prefix / f"run/kubepulse/{unit}.pid").read_text() == pid, f"{unit} restarted"
        assert served_configs(ports) == served

    # amtool: a route to a receiver that does not exist.
    bad_am = {**good, "alertmanager_config_overrides": {"route": {"receiver": "no-such-team"}}}
    refused(
        "alertmanager : Template alertmanager.yml from deploy/alertmanager/alertmanager.yml",
        "undefined receiver",
        bad_am,
    )

    # blackbox_exporter --config.check: a module field this release does not know.
    modules = deploy / "blackbox/blackbox.yml"
    with edited_yaml(modules) as blackbox:
        blackbox["modules"]["http_2xx"]["http"]["no_such_field"] = True
    refused(
        "blackbox_exporter : Install the probe modules from deploy/blackbox/blackbox.yml",
        "field no_such_field not found",
    )
    shutil.copy(REPO / "deploy/blackbox/blackbox.yml", modules)

    # promtool check config: a scrape timeout longer than the scrape interval.
    bad_prom = {**good, "prometheus_scrape_timeout": "5s"}
    refused(
        "prometheus : Template prometheus.yml from deploy/prometheus/prometheus.yml",
        "scrape timeout greater than scrape interval",
        bad_prom,
    )

    # promtool check rules: an installed rule file gains a group whose expression does not parse.
    with edited_yaml(deploy / "prometheus/rules/targets.yml") as rules:
        rules["groups"].append({"name": "broken", "rules": [{"record": "x:y", "expr": "sum(up"}]})
    refused(
        "prometheus : Install the alert and recording rules from deploy/prometheus/rules",
        "unclosed left parenthesis",
    )


# --- the systemd units' limits ------------------------------------------------------------------

EXPORTERS_ROLE = ANSIBLE / "roles" / "kubepulse_exporters"
UNITS = ("kubepulse-system-exporter.service", "kubepulse-textfile.service")


def render_units(prefix: Path, store: Path) -> dict[str, dict[str, str]]:
    """The role's unit templates, rendered by Ansible with the role's defaults and vars: each
    unit's [Service] section (the ``.service`` files are left in ``prefix``)."""
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [
                str(ANSIBLE / "roles/kubepulse/defaults/main.yml"),
                str(EXPORTERS_ROLE / "defaults/main.yml"),
                str(EXPORTERS_ROLE / "vars/main.yml"),
            ],
            "tasks": [
                {
                    "name": "Render the unit",
                    "ansible.builtin.template": {
                        "src": str(EXPORTERS_ROLE / "templates") + "/{{ item }}.j2",
                        "dest": str(prefix) + "/{{ item }}",
                        "mode": "0644",
                    },
                    "loop": list(UNITS),
                }
            ],
        }
    ]
    extra = {
        "ansible_python_interpreter": sys.executable,
        "kubepulse_prefix": str(prefix),
        "kubepulse_listen_host": "127.0.0.1",
        "kubepulse_exporters_venv": str(BIN.parent),
        "kubepulse_exporters_textfile_stores": [str(store)],
    }
    (prefix / "render.yml").write_text(yaml.safe_dump(play))
    (prefix / "render-vars.json").write_text(json.dumps(extra))
    ansible(
        "ansible-playbook", "-i", "localhost,", str(prefix / "render.yml"),
        "-e", f"@{prefix / 'render-vars.json'}",
    )  # fmt: skip
    out: dict[str, dict[str, str]] = {}
    for unit in UNITS:
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string((prefix / unit).read_text())
        out[unit] = dict(parser["Service"])
    return out


@pytest.fixture
def units(tmp_path: Path) -> dict[str, dict[str, str]]:
    store = tmp_path / "store.xml"
    store.write_text('<store><item type="a"/></store>\n')
    return render_units(tmp_path, store)


def test_the_units_set_limits_that_systemd_accepts(
    units: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    exporter, textfile = units[UNITS[0]], units[UNITS[1]]
    assert {k: exporter[k] for k in ("LimitNOFILE", "MemoryMax", "TasksMax", "CPUQuota")} == {
        "LimitNOFILE": "4096",
        "MemoryMax": "256M",
        "TasksMax": "64",
        "CPUQuota": "100%",
    }
    assert {
        k: textfile[k]
        for k in ("LimitNOFILE", "MemoryMax", "TasksMax", "CPUQuota", "TimeoutStartSec")
    } == {
        "LimitNOFILE": "256",
        "MemoryMax": "256M",
        "TasksMax": "16",
        "CPUQuota": "100%",
        "TimeoutStartSec": "300",
    }
    # SIGTERM (systemctl stop, the start timeout) ends a one-shot run with 143.
    assert textfile["SuccessExitStatus"] == "143"
    # The server's default cap and its reserve fit under the unit's open-files limit.
    assert ServerLimits().max_connections + FD_RESERVE <= int(exporter["LimitNOFILE"])
    # systemd's own parser: an unknown key or a bad value is a warning on stderr.
    for unit in UNITS:
        proc = subprocess.run(
            ["systemd-analyze", "verify", str(tmp_path / unit)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), unit


def _status(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: int(v) for k, v in re.findall(r"^(VmHWM|Threads):\s+(\d+)", status, re.M)}


def _http_figures(url: str) -> dict[str, float]:
    """The server's self-metrics in one scrape: open connections, the cap, evictions."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    patterns = {
        "open": r"kubepulse_http_connections\{[^}]*\}",
        "cap": r"kubepulse_http_max_connections\{[^}]*\}",
        "evicted": r'kubepulse_http_connections_closed_total\{[^}]*reason="evicted"\}',
    }
    out = {}
    for key, pattern in patterns.items():
        match = re.search(rf"^{pattern} (\S+)$", text, re.M)
        out[key] = float(match.group(1)) if match else 0.0
    return out


def test_the_system_exporter_keeps_its_cap_and_stays_within_the_unit_s_limits(
    units: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    """The real exporter under the unit's open-files limit (prlimit, as systemd would set it)
    keeps its default cap of 1024, holds 1024 idle connections and still answers a scrape (the
    longest-idle connection is evicted for it), with memory and threads far under MemoryMax and
    TasksMax. Control: under systemd's default soft limit of 1024 the cap is lowered to 960,
    and the log says so."""
    exporter = units[UNITS[0]]
    memory_max_kib = int(exporter["MemoryMax"].removesuffix("M")) * 1024
    with ProcessGroup(tmp_path / "logs") as group:

        def start(name: str, nofile: int | str) -> tuple[int, str, ManagedProcess]:
            port = free_port()
            url = f"http://127.0.0.1:{port}/metrics"
            # Header deadline 120 s, not 10: on a loaded host accepting 1,024 connections can
            # take longer than 10 s, and the first ones would be closed (408) before the last.
            argv = [
                "prlimit", f"--nofile={nofile}", "--",
                str(BIN / "kubepulse"), "exporter", "system",
                f"--web.listen-address=127.0.0.1:{port}", "--web.read-header-timeout=120",
            ]  # fmt: skip
            return port, url, group.start(name, argv, ready_url=url)

        _, url, control = start("control", 1024)
        assert _http_figures(url)["cap"] == 960
        assert "connection cap lowered from 1024 to 960 by the open-files limit 1024" in (
            control.log_path.read_text()
        )
        port, url, proc = start("unit", exporter["LimitNOFILE"])
        assert _http_figures(url)["cap"] == 1024
        assert "connection cap lowered" not in proc.log_path.read_text()
        exporter_proc = psutil.Process(proc.pid)

        def accepted() -> int:
            """Connections the exporter holds (accepted, so an fd each) from the clients."""
            return sum(
                c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
                for c in exporter_proc.net_connections(kind="tcp")
            )

        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1024)]
        try:
            deadline = time.monotonic() + 30
            while accepted() < 1024:  # until it has accepted them all
                assert time.monotonic() < deadline, (
                    f"the exporter accepted {accepted()} of 1024 connections"
                )
                time.sleep(0.1)
            assert _http_figures(url) == {"open": 1024, "cap": 1024, "evicted": 1}
            figures = _status(proc.pid)
        finally:
            for sock in idle:
                sock.close()
    # Measured: about 31 MiB and 9 threads; the unit allows 8x and 7x that.
    assert figures["VmHWM"] < memory_max_kib / 4, figures
    assert figures["Threads"] < int(exporter["TasksMax"]) / 4, figures


def test_the_textfile_command_runs_within_the_unit_s_open_files_limit(
    units: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    """Ten stores in one run, under the unit's LimitNOFILE (prlimit): every .prom written.
    Control: four descriptors are too few (the run needs about six at once)."""
    out = tmp_path / "out"
    out.mkdir()
    stores = []
    for i in range(10):
        store = tmp_path / f"s{i}.xml"
        store.write_text(f'<store><item type="t{i}"/></store>\n')
        stores.append(str(store))

    def run(limit: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["prlimit", f"--nofile={limit}", "--", str(BIN / "kubepulse"), "textfile", *stores,
             "--output-dir", str(out)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    control = run("4")
    assert control.returncode == 1 and "Too many open files" in control.stderr
    assert list(out.iterdir()) == []
    proc = run(units[UNITS[1]]["LimitNOFILE"])
    assert (proc.returncode, proc.stderr) == (0, "")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"s{i}.prom" for i in range(10))


# --- the shared package task ---------------------------------------------------------------------


def test_the_package_task_asks_dpkg_first_and_goes_to_apt_only_for_a_missing_package(
    tmp_path: Path,
) -> None:
    """``roles/kubepulse/tasks/package.yml`` on this host, in check mode: an installed package
    (bash) never reaches the apt module; one dpkg does not have does, and apt's own refusal of a
    name no repository has is what shows it ran (nothing is installed either way)."""
    missing = "kubepulse-no-such-package"
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [
                {
                    "name": f"Package {name}",
                    "ansible.builtin.include_role": {"name": "kubepulse", "tasks_from": "package"},
                    "vars": {"kubepulse_package": name},
                }
                for name in ("bash", missing)
            ],
        }
    ]
    (tmp_path / "package.yml").write_text(yaml.safe_dump(play))
    out = ansible(
        "ansible-playbook", "-i", "localhost,", "--check", str(tmp_path / "package.yml"),
        "-e", f"ansible_python_interpreter={sys.executable}",
        "-e", "kubepulse_apt_update=false",
        check=False,
    )  # fmt: skip
    tasks = dict(re.findall(r"^TASK \[kubepulse : ([^\]]+)\].*\n((?:(?!TASK ).*\n)*)", out, re.M))
    assert tasks["Install bash"].strip().startswith("skipping: [localhost]"), out[-3000:]
    assert "fatal: [localhost]" in tasks[f"Install {missing}"], out[-3000:]
    assert f"No package matching '{missing}'" in tasks[f"Install {missing}"], out[-3000:]
    assert recap(out)["failed"] == 1
