"""A real Alertmanager delivers a critical alert to all three on-call receivers, rendered.

Alertmanager (the release the Helm chart deploys) runs on loopback with the committed config, its
endpoints pointed at stand-ins in this test: ``WebhookReceiver`` for the Slack and generic
webhooks, and a minimal SMTP sink (a few lines of the protocol, enough for Alertmanager's client)
for the mail relay.
"""

from __future__ import annotations

import email
import json
import socketserver
import threading
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from kubepulse.lab.processes import LOOPBACK, ProcessGroup
from kubepulse.lab.receiver import WebhookReceiver
from kubepulse.lab.servers import start_alertmanager, wait_until
from kubepulse.stack import deploy_dir
from kubepulse.stack.alertmanager import render_alertmanager_config

RUNBOOK = "https://github.com/kubepulse/kubepulse/blob/main/docs/runbooks/KubeNodeNotReady.md"


class SMTPSink(socketserver.ThreadingTCPServer):
    """Accepts mail on 127.0.0.1 without TLS or auth and keeps each message."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self) -> None:
        self.messages: list[Message] = []
        super().__init__((LOOPBACK, 0), _SMTPHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()


class _SMTPHandler(socketserver.StreamRequestHandler):
    server: SMTPSink

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink ESMTP")
        while line := self.rfile.readline():
            verb = line.decode(errors="replace").strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250-sink")
                self.reply("250 8BITMIME")
            elif verb == "DATA":
                self.reply("354 end with .")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append(email.message_from_bytes(data))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self.reply("250 ok")


@pytest.fixture
def sinks() -> Iterator[tuple[WebhookReceiver, SMTPSink]]:
    hooks, smtp = WebhookReceiver(), SMTPSink()
    try:
        yield hooks, smtp
    finally:
        hooks.close()
        smtp.shutdown()
        smtp.server_close()


def test_critical_alert_reaches_slack_webhook_and_mail(
    tmp_path: Path, sinks: tuple[WebhookReceiver, SMTPSink]
) -> None:
    hooks, smtp = sinks
    config = render_alertmanager_config(
        smarthost=f"{LOOPBACK}:{smtp.server_address[1]}",
        smtp_require_tls=False,
        webhook_url=f"{hooks.url}/webhook",
        slack_api_url=f"{hooks.url}/slack",
        templates_dir=deploy_dir() / "alertmanager" / "templates",
        group_wait="1s",
        group_interval="1s",
    )
    alert = {
        "labels": {
            "alertname": "KubeNodeNotReady",
            "severity": "critical",
            "cluster": "prod-eu",
            "node": "n1",
        },
        "annotations": {
            "summary": "Node n1 is not ready.",
            "description": "Node n1 has not reported Ready for more than 5 minutes.",
            "runbook_url": RUNBOOK,
        },
    }
    with ProcessGroup(tmp_path / "logs") as group:
        url = start_alertmanager(group, tmp_path / "am", config)
        request = urllib.request.Request(
            f"{url}/api/v2/alerts",
            data=json.dumps([alert]).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5):
            pass
        wait_until(
            lambda: hooks.bodies("/slack") and hooks.bodies("/webhook") and smtp.messages,
            timeout=20,
            what="Slack, webhook and mail notifications",
        )

    webhook = hooks.bodies("/webhook")[0]
    assert webhook["receiver"] == "oncall" and webhook["status"] == "firing"
    assert webhook["alerts"][0]["labels"] == alert["labels"]
    assert webhook["alerts"][0]["annotations"] == alert["annotations"]

    slack: dict[str, Any] = hooks.bodies("/slack")[0]
    attachment = slack["attachments"][0]
    assert slack["channel"] == "#oncall"
    assert attachment["title"] == "[FIRING:1] KubeNodeNotReady (prod-eu)"
    assert attachment["title_link"] == RUNBOOK
    assert attachment["text"].splitlines()[:3] == [
        "*CRITICAL* Node n1 is not ready.",
        "Node n1 has not reported Ready for more than 5 minutes.",
        f"Runbook: {RUNBOOK}",
    ]

    mail = smtp.messages[0]
    assert mail["To"] == "oncall@example.net"
    assert mail["Subject"] == "[FIRING:1] KubeNodeNotReady (prod-eu)"
    html = next(
        part.get_payload(decode=True).decode()
        for part in mail.walk()
        if part.get_content_type() == "text/html"
    )
    assert "<b>CRITICAL</b> Node n1 is not ready." in html
    assert f'<a href="{RUNBOOK}">Runbook</a>' in html
