"""The demo's Alertmanager webhook receiver: prints each notification and keeps it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubepulse.lab.processes import LOOPBACK

__all__ = ["Notification", "WebhookReceiver"]

Notification = dict[str, Any]


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 taking Alertmanager's webhook POSTs.

    Each alert in a notification is passed to ``on_alert(path, receiver, alert)`` (the demo
    prints it) and kept in ``notifications``. ``close()`` stops it and frees its port.
    """

    def __init__(self, on_alert: Callable[[str, str, dict[str, Any]], None]) -> None:
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with outer._lock:
                    outer.notifications.append({"path": self.path, "body": body})
                for alert in body.get("alerts", []):
                    on_alert(self.path, str(body.get("receiver", "?")), alert)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints the alerts themselves."""

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.port: int = self._server.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook", daemon=True
        )
        self._thread.start()

    def alerts(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every alert received (optionally only ``firing`` or ``resolved``), with its path."""
        with self._lock:
            return [
                {"path": n["path"], "receiver": n["body"].get("receiver"), **alert}
                for n in self.notifications
                for alert in n["body"].get("alerts", [])
                if status is None or alert.get("status") == status
            ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
