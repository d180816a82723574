"""A real Alertmanager delivers a critical alert to all three on-call receivers, rendered.

Alertmanager (the release the Helm chart deploys) runs on loopback with the committed config as
the lab renders it for every stack test (``start_stack_alertmanager``), its endpoints pointed at
stand-ins in this test: ``WebhookReceiver`` for the Slack and generic webhooks, and a minimal SMTP
sink (a few lines of the protocol, enough for Alertmanager's client) for the mail relay.
"""

from __future__ import annotations

import email
import socketserver
import threading
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from kubepulse.lab.processes import LOOPBACK, ProcessGroup
from kubepulse.lab.receiver import WebhookReceiver
from kubepulse.lab.servers import post_alerts, start_stack_alertmanager, wait_until

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
        url = start_stack_alertmanager(
            group, tmp_path / "am", hooks.url, smarthost=f"{LOOPBACK}:{smtp.server_address[1]}"
        )
        post_alerts(url, [alert])
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
    html_part = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    payload = html_part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    html = payload.decode()
    assert "<b>CRITICAL</b> Node n1 is not ready." in html
    assert f'<a href="{RUNBOOK}">Runbook</a>' in html
