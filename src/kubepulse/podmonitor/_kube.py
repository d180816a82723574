"""Pods over the shared raw-JSON client (``kubepulse.kube.client``): the client from what a
caller passes, a one-off list, and a delete. Watching goes through ``kubepulse.kube.informer``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from kubernetes import client as k8s

from kubepulse.kube.client import ApiError, GoneError, KubeClient, connect
from kubepulse.kube.informer import Resource

__all__ = ["PODS", "ApiError", "GoneError", "KubeApi", "make_client"]

PODS = Resource("pods", "/api/v1")


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


class KubeApi:
    """The pods API on one client. Thread-safe."""

    def __init__(self, client: Any) -> None:
        self.client = make_client(client)

    def list_pods(
        self, namespace: str | None, label_selector: str | None
    ) -> tuple[list[dict[str, Any]], str]:
        """Every pod in ``namespace`` (all if None) matching the selector, and the list's RV."""
        params = {"labelSelector": label_selector} if label_selector else None
        data = self.client.get_json(PODS.path(namespace), params, timeout=30.0)
        return data.get("items") or [], data["metadata"]["resourceVersion"]

    def delete_pod(self, namespace: str, name: str) -> None:
        """Request deletion of one pod (the pod-kill scenario); ``ApiError`` if refused."""
        path = f"{PODS.path(namespace)}/{quote(name, safe='')}"
        try:
            self.client.send_json("DELETE", path, None, timeout=30.0)
        except ApiError as exc:
            raise ApiError(exc.status, f"DELETE pod {namespace}/{name}: {exc}") from None
