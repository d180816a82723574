"""The one client of the Prometheus HTTP API: the renderer's instant and range queries and label
values, and the lab's and the tests' GETs (``kubepulse.lab.servers.api_get``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Prometheus", "RenderError", "Unreachable"]


class RenderError(RuntimeError):
    """The dashboard or Prometheus could not be used; the message names the file/URL and why."""


class Unreachable(RenderError):
    """Prometheus did not answer (connection refused, timeout, not an API): nothing to draw."""


class Prometheus:
    """The Prometheus HTTP API (``query``, ``query_range``, label values) at ``url``."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RenderError(f"--prometheus: {url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, params: Sequence[tuple[str, str]] | Mapping[str, str] = ()) -> Any:
        """GET ``path`` (``/api/v1/...``) with ``params``; the answer's ``data``. A refusal or an
        error answer is a ``RenderError`` (a ``RuntimeError``) naming the server's error type
        and text; no answer at all is ``Unreachable``."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            try:
                body = json.load(exc)
            except ValueError:
                raise RenderError(f"{self.url}{path}: HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise Unreachable(f"{self.url}: {exc}") from None
        if body.get("status") != "success":
            raise RenderError(f"{path}: {body.get('errorType', 'error')}: {body.get('error')}")
        return body.get("data")

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """Instant vector (or scalar as one series) at ``at``: ``[{metric, values: [(t, v)]}]``."""
        data = self.get("/api/v1/query", [("query", expr), ("time", f"{at:.3f}")])
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "values": [data["result"]]}]
        return [{"metric": s["metric"], "values": [s["value"]]} for s in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """Range matrix: ``[{metric, values: [(t, v), ...]}]``."""
        params = [
            ("query", expr),
            ("start", f"{start:.3f}"),
            ("end", f"{end:.3f}"),
            ("step", f"{step:g}"),
        ]
        data = self.get("/api/v1/query_range", params)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "values": [data["result"]]}]
        return list(data["result"])

    def label_values(self, label: str, selector: str | None, start: float, end: float) -> list[str]:
        """Values of ``label`` on series matching ``selector`` in the time range, sorted."""
        params = [("start", f"{start:.3f}"), ("end", f"{end:.3f}")]
        if selector:
            params.append(("match[]", selector))
        path = f"/api/v1/label/{urllib.parse.quote(label, safe='')}/values"
        return sorted(str(v) for v in self.get(path, params))
