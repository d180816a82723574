"""Pods over the shared raw-JSON client (``kubepulse.kube.client``): the client from what a
caller passes, a one-off list, and a delete. Watching goes through ``kubepulse.kube.informer``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from kubepulse.kube.client import ApiError, GoneError, KubeClient, connect
from kubepulse.kube.informer import Resource

__all__ = ["PODS", "ApiError", "GoneError", "KubeApi", "kube_client"]

PODS = Resource("pods", "/api/v1")


def kube_client(client: Any) -> KubeClient:
    """The ``KubeClient`` for what a caller passes, with its TLS, credentials and proxy.

    Accepted: a ``krkn_lib.k8s.KrknKubernetes`` (its ``api_client``, configured with the proxy
    krkn-lib takes from ``http_proxy``), a ``kubernetes.client.ApiClient`` or anything with one
    in ``api_client`` (``CoreV1Api``), a kubeconfig path, or a ``KubeClient``. The kubernetes
    client's configuration reads HTTPS_PROXY and HTTP_PROXY, so a proxy from the environment is
    used the same way; NO_PROXY naming the server bypasses it.
    """
    if isinstance(client, KubeClient):
        return client
    if isinstance(client, str | os.PathLike):
        path = os.fspath(client)
        if not os.path.isfile(path):
            raise ValueError(f"client: kubeconfig {path!r} does not exist")
        try:
            return connect(path)
        except ValueError as exc:
            raise ValueError(f"client: {exc}") from None
    # Only now: a kubeconfig path or a KubeClient needs no ``kubernetes`` import (~0.4 s).
    from kubernetes import client as k8s

    api_client = client if isinstance(client, k8s.ApiClient) else None
    # KrknKubernetes, CoreV1Api and the other generated APIs carry theirs in ``api_client``.
    api_client = api_client or getattr(client, "api_client", None)
    if isinstance(api_client, k8s.ApiClient):
        return KubeClient(api_client.configuration)
    raise ValueError(
        "client: expected a KrknKubernetes, a kubernetes ApiClient or CoreV1Api, or a "
        f"kubeconfig path, got {type(client).__name__}"
    )


class KubeApi:
    """The pods API on one client. Thread-safe."""

    def __init__(self, client: Any) -> None:
        self.client = kube_client(client)

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
