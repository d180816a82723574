"""Pods over the shared raw-JSON client (``kubepulse.kube.client``): list, watch, delete.

Every open watch is registered so that another thread can ``interrupt()`` a blocked read at once
(``WatchStream.close()`` shuts the socket down), which is how ``cancel()`` stays fast without
polling.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator
from typing import Any
from urllib.parse import quote

import orjson
from kubernetes import client as k8s

from kubepulse.kube.client import ApiError, GoneError, KubeClient, WatchStream, connect

__all__ = ["ApiError", "GoneError", "KubeApi", "make_client"]


def make_client(client: Any) -> KubeClient:
    """A ``KubeClient`` from a ``kubernetes.client.ApiClient``, a kubeconfig path or itself."""
    if isinstance(client, KubeClient):
        return client
    if isinstance(client, k8s.ApiClient):
        return KubeClient(client.configuration)
    if isinstance(client, str | os.PathLike):
        path = os.fspath(client)
        if not os.path.isfile(path):
            raise ValueError(f"client: kubeconfig {path!r} does not exist")
        try:
            return connect(path)
        except ValueError as exc:
            raise ValueError(f"client: {exc}") from None
    raise ValueError(
        f"client: expected a kubernetes ApiClient or a kubeconfig path, got {type(client).__name__}"
    )


def pods_path(namespace: str | None) -> str:
    if namespace is None:
        return "/api/v1/pods"
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"


class KubeApi:
    """One monitor's view of the pods API. Thread-safe."""

    def __init__(self, client: Any) -> None:
        self.client = make_client(client)
        self._lock = threading.Lock()
        self._open: set[WatchStream] = set()

    def list_pods(
        self, namespace: str | None, label_selector: str | None
    ) -> tuple[list[dict[str, Any]], str]:
        """Every pod in ``namespace`` (all if None) matching the selector, and the list's RV."""
        params = {"labelSelector": label_selector} if label_selector else None
        data = self.client.get_json(pods_path(namespace), params, timeout=30.0)
        return data.get("items") or [], data["metadata"]["resourceVersion"]

    def watch_pods(
        self,
        namespace: str | None,
        label_selector: str | None,
        resource_version: str,
        timeout_seconds: int,
        *,
        initial: bool = False,
    ) -> Generator[dict[str, Any], None, None]:
        """Watch events from ``resource_version`` until the server ends the stream.

        Yields decoded event objects (``type``, ``object``), bookmarks included. Raises
        ``GoneError`` for 410, either as the HTTP status or as an ERROR event. ``initial``
        asks for a streamed list first (``sendInitialEvents``, a consistent read): an ADDED
        event per existing pod, then a bookmark annotated ``k8s.io/initial-events-end``.
        """
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if initial:
            params["sendInitialEvents"] = "true"
            params["resourceVersionMatch"] = "NotOlderThan"
        if label_selector:
            params["labelSelector"] = label_selector
        # The read timeout guards against a half-open connection; the server ends the stream
        # itself after timeoutSeconds.
        stream = self.client.stream(pods_path(namespace), params, timeout_seconds + 30.0)
        with self._lock:
            self._open.add(stream)
        try:
            for line in stream.lines():
                event = orjson.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    code = int(status.get("code") or 0)
                    cls = GoneError if code == 410 else ApiError
                    raise cls(code, str(status.get("message", "watch error")))
                yield event
        finally:
            with self._lock:
                self._open.discard(stream)
            stream.close()

    def delete_pod(self, namespace: str, name: str) -> None:
        """Request deletion of one pod (the pod-kill scenario); ``ApiError`` if refused."""
        path = f"{pods_path(namespace)}/{quote(name, safe='')}"
        try:
            self.client.send_json("DELETE", path, None, timeout=30.0)
        except ApiError as exc:
            raise ApiError(exc.status, f"DELETE pod {namespace}/{name}: {exc}") from None

    def interrupt(self) -> None:
        """Unblock every watch read in progress on this object: their streams end."""
        with self._lock:
            streams = list(self._open)
        for stream in streams:
            stream.close()
