"""Raw-JSON pod list, watch and delete over a ``kubernetes.client.ApiClient``'s connection pool.

The generated model classes are skipped on purpose: a watch of a thousand pods is decoded with
orjson at a fraction of the cost. Every open response is registered so that another thread can
``interrupt()`` a blocked read at once (a socket shutdown), which is how ``cancel()`` stays fast
without polling.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Generator, Sequence
from typing import Any
from urllib.parse import quote

import orjson
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config

__all__ = ["ApiError", "GoneError", "KubeApi", "make_api_client"]

# Enough pooled connections for one watch per monitor plus list calls, so 20 monitors do not
# churn through connections ("pool is full, discarding connection").
POOL_SIZE = 64


class ApiError(RuntimeError):
    """The API server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class GoneError(ApiError):
    """410 Gone: the resourceVersion is too old to watch from; list again."""


def make_api_client(client: Any) -> k8s.ApiClient:
    """An ``ApiClient`` as given, or one configured from a kubeconfig path."""
    if isinstance(client, k8s.ApiClient):
        return client
    if isinstance(client, str | os.PathLike):
        path = os.fspath(client)
        if not os.path.isfile(path):
            raise ValueError(f"client: kubeconfig {path!r} does not exist")
        cfg = k8s.Configuration()
        k8s_config.load_kube_config(config_file=path, client_configuration=cfg)  # type: ignore[no-untyped-call]
        cfg.connection_pool_maxsize = POOL_SIZE
        return k8s.ApiClient(cfg)
    raise ValueError(
        f"client: expected a kubernetes ApiClient or a kubeconfig path, got {type(client).__name__}"
    )


def pods_path(namespace: str | None) -> str:
    if namespace is None:
        return "/api/v1/pods"
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"


class KubeApi:
    """Pods over raw JSON. Thread-safe: each call uses its own pooled connection."""

    def __init__(self, client: Any) -> None:
        self.api_client = make_api_client(client)
        self._lock = threading.Lock()
        self._open: dict[int, urllib3.BaseHTTPResponse] = {}

    def _send(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        timeout: tuple[float, float | None],
    ) -> urllib3.BaseHTTPResponse:
        _, url, headers, _, _ = self.api_client.param_serialize(
            method,
            path,
            query_params=list(query),
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        pool: urllib3.PoolManager = self.api_client.rest_client.pool_manager
        resp = pool.request(
            method,
            url,
            headers=headers,
            preload_content=False,
            timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            retries=False,
        )
        if resp.status >= 400:
            body = resp.read()
            resp.release_conn()
            message = body.decode(errors="replace")
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                message = orjson.loads(body).get("message", message)
            cls = GoneError if resp.status == 410 else ApiError
            raise cls(resp.status, f"{method} {path}: {message}")
        return resp

    def _read_json(self, method: str, path: str, query: Sequence[tuple[str, str]]) -> Any:
        resp = self._send(method, path, query, (5.0, 30.0))
        self._register(resp)
        try:
            return orjson.loads(resp.read())
        finally:
            self._unregister(resp)
            resp.release_conn()

    def list_pods(
        self, namespace: str | None, label_selector: str | None
    ) -> tuple[list[dict[str, Any]], str]:
        """Every pod in ``namespace`` (all if None) matching the selector, and the list's RV."""
        query = [("labelSelector", label_selector)] if label_selector else []
        data = self._read_json("GET", pods_path(namespace), query)
        return data.get("items") or [], data["metadata"]["resourceVersion"]

    def watch_pods(
        self,
        namespace: str | None,
        label_selector: str | None,
        resource_version: str,
        timeout_seconds: int,
    ) -> Generator[dict[str, Any], None, None]:
        """Watch events from ``resource_version`` until the server ends the stream.

        Yields decoded event objects (``type``, ``object``), bookmarks included. Raises
        ``GoneError`` for 410, either as the HTTP status or as an ERROR event.
        """
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        # The read timeout guards against a half-open connection; the server ends the stream
        # itself after timeoutSeconds.
        resp = self._send("GET", pods_path(namespace), query, (5.0, timeout_seconds + 30.0))
        self._register(resp)
        finished = False
        try:
            buffer = b""
            for chunk in resp.stream(amt=None, decode_content=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        code = int(status.get("code") or 0)
                        cls = GoneError if code == 410 else ApiError
                        raise cls(code, str(status.get("message", "watch error")))
                    yield event
            finished = True
        finally:
            self._unregister(resp)
            if not finished:
                # Unread data is left on the connection: it cannot go back to the pool.
                resp.close()
            resp.release_conn()

    def delete_pod(self, namespace: str, name: str) -> None:
        """Request deletion of one pod (the pod-kill scenario). 404 is an ``ApiError``."""
        self._read_json("DELETE", f"{pods_path(namespace)}/{quote(name, safe='')}", [])

    def _register(self, resp: urllib3.BaseHTTPResponse) -> None:
        with self._lock:
            self._open[id(resp)] = resp

    def _unregister(self, resp: urllib3.BaseHTTPResponse) -> None:
        with self._lock:
            self._open.pop(id(resp), None)

    def interrupt(self) -> None:
        """Unblock every read in progress on this object: their streams end with an error."""
        with self._lock:
            responses = list(self._open.values())
        for resp in responses:
            try:
                resp.shutdown()
            except (AttributeError, ValueError, RuntimeError, OSError):
                resp.close()
