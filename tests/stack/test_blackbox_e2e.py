"""Blackbox probing end to end: annotated Services in the local cluster, found by Prometheus's
Kubernetes discovery, probed by the pinned blackbox_exporter at 127.0.0.1 (the local overlay
rewrites every probe target's host), alerting through the stack's Alertmanager to a webhook.

A loopback HTTP server goes down: ProbeFailed fires at the webhook; it comes back: the
notification says resolved. A loopback HTTPS server with a throwaway certificate shows its
expiry in ``probe_ssl_earliest_cert_expiry``. Every panel of the Blackbox dashboard has data, and
the Grafana rule for ProbeFailed (its query, as Grafana runs it) returns the down target.
"""

from __future__ import annotations

import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from kubepulse.lab.blackbox import probed_service, start_blackbox_exporter
from kubepulse.lab.pki import make_loopback_pki
from kubepulse.lab.processes import LOOPBACK, ProcessGroup, free_port
from kubepulse.lab.receiver import WebhookReceiver
from kubepulse.lab.servers import (
    api_get,
    query,
    start_stack_alertmanager,
    start_stack_prometheus,
    wait_until,
)
from kubepulse.stack.dashboards import build_dashboards, panel_queries, substitute, variable_queries
from kubepulse.stack.grafana_alerting import build_alerting

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackSite:
    """An HTTP(S) server on a fixed 127.0.0.1 port that can go down and come back."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        self.port = port
        self._context = context
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        server = ThreadingHTTPServer((LOOPBACK, self.port), _Ok)
        if self._context is not None:
            server.socket = self._context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def notified(hooks: WebhookReceiver, status: str) -> tuple[Any, Any]:
    """The first (notification, alert) of ProbeFailed in ``status`` at the webhook."""
    found: list[tuple[Any, Any]] = wait_until(
        lambda: hooks.alerts("/webhook", status, "ProbeFailed"), 90, what=f"ProbeFailed {status}"
    )
    return found[0]


def test_probe_failed_fires_and_resolves_and_tls_expiry_is_read(
    cluster: Any, namespace: str, tmp_path: Path, hooks: WebhookReceiver
) -> None:
    pki = make_loopback_pki(tmp_path / "pki")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    expiry = x509.load_pem_x509_certificate(pki.server_cert.read_bytes()).not_valid_after_utc
    web = LoopbackSite(free_port())
    secure = LoopbackSite(free_port(), context)
    web.up()
    secure.up()
    manifests = [
        probed_service(namespace, "web", web.port, **{"prometheus.io/probe-path": "/healthz"}),
        probed_service(
            namespace,
            "secure",
            secure.port,
            **{"prometheus.io/probe-module": "tls_expiry", "prometheus.io/probe-scheme": "https"},
        ),
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
    web_instance = f"http://web.{namespace}.svc:{web.port}/healthz"
    try:
        with ProcessGroup(tmp_path / "logs") as group:
            blackbox = start_blackbox_exporter(group)
            am_url = start_stack_alertmanager(group, tmp_path / "am", hooks.url)
            prom_port = free_port()
            prom = start_stack_prometheus(
                group,
                tmp_path / "prometheus",
                port=prom_port,
                targets={
                    "prometheus": f"{LOOPBACK}:{prom_port}",
                    "blackbox-services": urllib.parse.urlsplit(blackbox).netloc,
                },
                alertmanager_url=am_url,
                cluster="e2e",
                kubeconfig=cluster.kubeconfig,
                sd_namespaces=[namespace],
                interval="1s",
                for_overrides={"ProbeFailed": "3s"},
            )

            def probes() -> dict[str, float]:
                got = query(prom, 'probe_success{job="blackbox-services"}')
                return {s["metric"]["service"]: float(s["value"][1]) for s in got}

            assert wait_until(
                lambda: probes() if len(probes()) == 2 else None, 60, what="two probes"
            ) == {"web": 1.0, "secure": 1.0}
            # Every probe went to loopback: the target parameter of each scrape is 127.0.0.1.
            targets = api_get(prom, "/api/v1/targets")["activeTargets"]
            probed = sorted(
                urllib.parse.parse_qs(urllib.parse.urlsplit(t["scrapeUrl"]).query)["target"][0]
                for t in targets
                if t["labels"]["job"] == "blackbox-services"
            )
            assert probed == sorted(
                [
                    f"http://127.0.0.1:{web.port}/healthz",
                    f"https://127.0.0.1:{secure.port}",
                ]
            )
            (labels,) = [t["labels"] for t in targets if t["labels"].get("service") == "web"]
            assert labels["instance"] == web_instance
            assert labels["module"] == "http_2xx"

            # Every panel and variable of the Blackbox dashboard has data.
            board = build_dashboards()["blackbox.json"]
            queries = [*panel_queries(board), *variable_queries(board)]
            assert len(queries) == 10
            assert [q for q in queries if not query(prom, substitute(q[1]))] == []

            # The TLS probe read the throwaway certificate's notAfter (seconds since the epoch).
            (cert,) = query(prom, 'probe_ssl_earliest_cert_expiry{service="secure"}')
            assert float(cert["value"][1]) == expiry.timestamp()

            web.down()
            (fired_body, fired) = notified(hooks, "firing")
            assert fired["labels"]["instance"] == web_instance
            assert fired["labels"]["severity"] == "critical"
            assert fired_body["receiver"] == "oncall"
            assert fired["annotations"]["runbook_url"].endswith("/ProbeFailed.md")
            (grafana_rule,) = [
                r
                for g in build_alerting()["rules.yml"]["groups"]
                for r in g["rules"]
                if r["title"] == "ProbeFailed"
            ]
            (down,) = query(prom, grafana_rule["data"][0]["model"]["expr"])
            assert down["metric"]["instance"] == web_instance
            # The other probe stayed healthy throughout.
            assert all(
                a["labels"]["service"] == "web"
                for _, a in hooks.alerts("/webhook", "firing", "ProbeFailed")
            )

            web.up()
            (_, resolved) = notified(hooks, "resolved")
            assert resolved["labels"]["instance"] == web_instance
    finally:
        web.down()
        secure.down()
