"""The webhook receiver: an HTTP server on 127.0.0.1 standing in for Slack, a pager or a chat hook.

Alertmanager's webhook and Slack URLs point at ``url + "/any-path"``; every JSON body POSTed is
kept with its path. The stack tests read what was sent (``bodies``, ``alerts``); the demo also
prints each alert as it arrives (``on_alert``) and puts ``records()`` in its summary.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubepulse.lab.processes import LOOPBACK

__all__ = ["WebhookReceiver"]


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 recording the JSON bodies POSTed to it, by path.

    A body that is not JSON is answered 400 and not kept; an empty one is kept as ``None``. Each
    alert of an Alertmanager notification is also passed to ``on_alert(path, receiver, alert)``
    when one is given. ``close()`` stops the server and frees its port.
    """

    def __init__(self, on_alert: Callable[[str, str, dict[str, Any]], None] | None = None) -> None:
        self.posts: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with outer._lock:
                    outer.posts.append((self.path, body))
                if on_alert is not None and isinstance(body, dict):
                    for alert in body.get("alerts", []):
                        on_alert(self.path, str(body.get("receiver", "?")), alert)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the posts are the record; no access log on stderr."""

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.port: int = self._server.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook", daemon=True
        )
        self._thread.start()

    def bodies(self, path: str | None = None) -> list[Any]:
        """The bodies posted (to ``path``, if given) so far, oldest first."""
        with self._lock:
            return [body for p, body in self.posts if path is None or p == path]

    def _notifications(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(p, body) for p, body in self.posts if isinstance(body, dict)]

    def alerts(
        self, path: str | None = None, status: str | None = None, alertname: str | None = None
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(notification, alert) pairs from Alertmanager's posts, oldest first, kept only where
        the post went to ``path``, the alert's status is ``status`` (``firing`` or ``resolved``)
        and its ``alertname`` label is ``alertname`` (each only if given)."""
        return [
            (body, alert)
            for p, body in self._notifications()
            if path is None or p == path
            for alert in body.get("alerts", [])
            if (status is None or alert.get("status") == status)
            and (alertname is None or alert.get("labels", {}).get("alertname") == alertname)
        ]

    def records(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every alert received (only ``status`` ones, if given) as one flat record: the path and
        receiver of its notification, then the alert's own fields."""
        return [
            {"path": p, "receiver": body.get("receiver"), **alert}
            for p, body in self._notifications()
            for alert in body.get("alerts", [])
            if status is None or alert.get("status") == status
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
