"""One configured HTTP session to the Kubernetes API, speaking raw JSON (orjson dicts).

Requests go through one ``urllib3.PoolManager`` and are decoded with orjson, skipping the
official client's generated model classes (a 10,000-pod list decodes in ~80 ms instead of
~2.7 s). The configuration (in-cluster service account, ``$KUBECONFIG``, ``~/.kube/config``) is
read by ``kubepulse.kube.kubeconfig`` for the common forms (token, client certificate, basic
auth, CA, ``insecure-skip-tls-verify``), without importing the ``kubernetes`` package (~0.4 s);
only exec and auth-provider plugins, and files it does not read, go to ``kubernetes.config``,
imported then. ``KubeClient`` also takes a ``kubernetes.client.Configuration`` (krkn-lib's, an
``ApiClient``'s); ``load_configuration`` gives one, through ``kubernetes.config`` as before.

API::

    client = connect(kubeconfig_path_or_None)
    client.get_json("/api/v1/pods", {"limit": "500"})          # -> dict, raises ApiError
    with client.stream("/api/v1/pods", {"watch": "1", ...}) as watch:
        for line in watch.lines():                              # one JSON document per line
            ...
    watch.close()   # from any thread: unblocks lines() at once
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import orjson
import urllib3
import yaml

from kubepulse.kube.kubeconfig import ClientConfiguration, load_incluster, load_kubeconfig

if TYPE_CHECKING:
    from kubernetes import client as k8s

__all__ = [
    "ApiError",
    "GoneError",
    "KubeClient",
    "WatchStream",
    "connect",
    "load_configuration",
    "watch_error",
]

# Enough for one watch per resource kind and namespace plus concurrent lists.
POOL_SIZE = 32
CONNECT_TIMEOUT = 5.0


class ApiError(RuntimeError):
    """The API server answered with an error status (or could not be reached: status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


class GoneError(ApiError):
    """410 Gone: the resourceVersion is too old; list again."""


def watch_error(status: Mapping[str, Any]) -> ApiError:
    """The error an ``ERROR`` watch event carries (its object is a ``Status``): ``GoneError``
    for 410, else ``ApiError`` with the Status's code and message."""
    code = int(status.get("code") or 0)
    cls = GoneError if code == 410 else ApiError
    return cls(code, str(status.get("message") or "watch error"))


def load_configuration(kubeconfig: str | os.PathLike[str] | None = None) -> k8s.Configuration:
    """The client configuration as a ``kubernetes.client.Configuration`` (for the official
    client's ``ApiClient``), found as kube-state-metrics finds it; imports ``kubernetes``.

    ``kubeconfig`` given: that file. Otherwise the in-cluster service account when running in a
    pod, then ``$KUBECONFIG``, then ``~/.kube/config``. Raises ``ValueError`` with a one-line
    message naming what was tried.
    """
    return _find_configuration(kubeconfig, official=True)


def _official_kubeconfig(path: str) -> ClientConfiguration:
    """``path`` loaded by ``kubernetes.config`` (imported now) into a new configuration."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    cfg: ClientConfiguration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=path, client_configuration=cfg)  # type: ignore[no-untyped-call]
    return cfg


def _official_incluster() -> ClientConfiguration | None:
    """The in-cluster configuration by ``kubernetes.config`` (imported now); None where it
    refuses (``ConfigException``)."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    cfg: ClientConfiguration = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        return None
    return cfg


def _find_configuration(
    kubeconfig: str | os.PathLike[str] | None, official: bool
) -> ClientConfiguration:
    """The lookup of ``load_configuration``. ``official``: everything through
    ``kubernetes.config``; else ``kubepulse.kube.kubeconfig`` reads what it can, and hands the
    rest (exec and auth-provider users, files it does not read) to ``kubernetes.config``."""

    def from_file(path: str) -> ClientConfiguration:
        own = None if official else load_kubeconfig(path)
        return own if own is not None else _official_kubeconfig(path)

    if kubeconfig is not None:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise ValueError(f"--kubeconfig: {path} does not exist")
        _check_kubeconfig(path)
        try:
            return from_file(str(path))
        except Exception as exc:  # the loader raises many types for a bad file
            raise ValueError(f"--kubeconfig: {path}: {exc}") from None
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        in_cluster = _official_incluster() if official else load_incluster()
        if in_cluster is not None:
            return in_cluster
    candidates = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    candidates.append(str(Path("~/.kube/config").expanduser()))
    for candidate in candidates:
        if Path(candidate).is_file():
            try:
                return from_file(candidate)
            except Exception as exc:
                raise ValueError(f"kubeconfig {candidate}: {exc}") from None
    raise ValueError(
        "no Kubernetes configuration: not in a cluster, $KUBECONFIG unset and ~/.kube/config "
        "missing (pass --kubeconfig)"
    )


def _check_kubeconfig(path: Path) -> None:
    """A one-line ``ValueError`` naming the field when ``path`` is not a kubeconfig; the
    loader's own errors for these cases are Python internals ("'str' object does not support
    item assignment")."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"--kubeconfig: {path}: not YAML: {first}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"--kubeconfig: {path}: not a kubeconfig (expected a mapping)")
    for field in ("clusters", "contexts", "users"):
        entries = doc.get(field)
        if field != "users" and not entries:
            raise ValueError(f"--kubeconfig: {path}: field {field!r} is missing or empty")
        if entries is not None and not (
            isinstance(entries, list) and all(isinstance(e, dict) for e in entries)
        ):
            raise ValueError(f"--kubeconfig: {path}: field {field!r} must be a list of mappings")


def _error_message(body: bytes) -> str:
    try:
        status = orjson.loads(body)
        return str(status.get("message") or status)
    except (orjson.JSONDecodeError, AttributeError):
        return body[:200].decode("utf-8", "replace").strip()


class WatchStream:
    """An open streaming response (a watch). ``close()`` may be called from another thread."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._closed = threading.Event()

    def lines(self) -> Iterator[bytes]:
        """Complete lines as they arrive; ends when the server closes or ``close()`` is called."""
        buffer = b""
        try:
            for chunk in self._response.stream(64 * 1024, decode_content=True):
                buffer += chunk
                if b"\n" not in buffer:
                    continue
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    if line:
                        yield line
        # close() from another thread can land mid-read: urllib3 then fails on the file it just
        # dropped (AttributeError on None, ValueError on a closed file). Only then is it an end.
        except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError):
            if not self._closed.is_set():
                raise
        if buffer.strip() and not self._closed.is_set():
            yield buffer

    def close(self) -> None:
        """Unblock a reader at once (socket shutdown) and drop the connection (never pooled)."""
        self._closed.set()
        # shutdown() refuses once the connection went back to the pool: nothing to unblock then.
        with contextlib.suppress(OSError, AttributeError, RuntimeError, ValueError):
            self._response.shutdown()  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            self._response.close()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pool_manager(
    configuration: ClientConfiguration, kwargs: dict[str, Any]
) -> urllib3.PoolManager:
    """Connections through ``configuration.proxy`` unless ``no_proxy`` exempts the server, as
    the kubernetes client itself does (its ``Configuration`` reads HTTPS_PROXY and HTTP_PROXY;
    krkn-lib's ``KrknKubernetes`` sets the proxy from ``http_proxy``)."""
    proxy = configuration.proxy
    host = (urlsplit(configuration.host).hostname or "").lower()
    # The kubernetes Configuration reads NO_PROXY and then resets no_proxy to None; read it here.
    no_proxy = getattr(configuration, "no_proxy", None)
    if no_proxy is None:
        no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    if proxy and not _no_proxy_matches(host, no_proxy):
        return urllib3.ProxyManager(proxy, proxy_headers=configuration.proxy_headers, **kwargs)
    return urllib3.PoolManager(**kwargs)


def _no_proxy_matches(host: str, no_proxy: str) -> bool:
    """NO_PROXY's usual reading: ``*``, a host name or IP, or a domain suffix (``.example.com``
    or ``example.com``) exempts ``host``."""
    for entry in (e.strip().lstrip(".").lower() for e in no_proxy.split(",")):
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return True
    return False


class KubeClient:
    """Raw-JSON access to one API server. Thread-safe; connections are pooled."""

    def __init__(self, configuration: ClientConfiguration) -> None:
        """``configuration``: from ``connect``'s lookup, or a ``kubernetes.client.Configuration``
        (``load_configuration``'s, krkn-lib's, an ``ApiClient``'s)."""
        self.configuration = configuration
        self.base_url: str = configuration.host.rstrip("/")
        kwargs: dict[str, Any] = {
            "maxsize": POOL_SIZE,
            "block": False,
            "retries": False,
        }
        if self.base_url.startswith("https"):
            kwargs["cert_reqs"] = "CERT_REQUIRED" if configuration.verify_ssl else "CERT_NONE"
            if configuration.ssl_ca_cert:
                kwargs["ca_certs"] = configuration.ssl_ca_cert
            if configuration.cert_file:
                kwargs["cert_file"] = configuration.cert_file
            if configuration.key_file:
                kwargs["key_file"] = configuration.key_file
            if configuration.tls_server_name:
                kwargs["server_hostname"] = configuration.tls_server_name
            if configuration.assert_hostname is not None:
                kwargs["assert_hostname"] = configuration.assert_hostname
        self._pool = _pool_manager(configuration, kwargs)
        # Whether the server streams lists in a watch (sendInitialEvents, on by default since
        # Kubernetes 1.34 and in 1.32): None until a watch has found out.
        self.streaming_lists: bool | None = None

    @property
    def server(self) -> str:
        return self.base_url

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "kubepulse"}
        # get_api_key_with_prefix runs the refresh hook, so exec-plugin tokens stay valid.
        token = self.configuration.get_api_key_with_prefix("authorization")
        if token:
            headers["Authorization"] = token
        elif self.configuration.username and self.configuration.password:
            headers.update(
                urllib3.util.make_headers(
                    basic_auth=f"{self.configuration.username}:{self.configuration.password}"
                )
            )
        return headers

    def url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        return f"{self.base_url}{path}" + (f"?{urlencode(params)}" if params else "")

    def _request(
        self,
        path: str,
        params: Mapping[str, str] | None,
        timeout: urllib3.Timeout,
        preload: bool,
        method: str = "GET",
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> urllib3.BaseHTTPResponse:
        headers = self._headers()
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            response = self._pool.request(
                method,
                self.url(path, params),
                body=body,
                headers=headers,
                timeout=timeout,
                preload_content=preload,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(0, f"cannot reach {self.base_url}: {exc}") from None
        if response.status >= 400:
            body = response.data if preload else response.read()
            response.release_conn()
            cls = GoneError if response.status == 410 else ApiError
            raise cls(response.status, _error_message(body))
        return response

    def get_bytes(
        self, path: str, params: Mapping[str, str] | None = None, timeout: float = 60.0
    ) -> bytes:
        """The body of a GET; ``ApiError`` on an error status or a connection failure."""
        response = self._request(
            path, params, urllib3.Timeout(connect=CONNECT_TIMEOUT, read=timeout), True
        )
        return response.data

    def get_json(
        self, path: str, params: Mapping[str, str] | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        """A GET decoded with orjson; ``ApiError`` on an error status or a connection failure."""
        data: dict[str, Any] = orjson.loads(self.get_bytes(path, params, timeout))
        return data

    def send_json(
        self,
        method: str,
        path: str,
        body: Any,
        content_type: str = "application/json",
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """POST/PUT/PATCH/DELETE with an orjson-encoded body, or none if ``body`` is None
        (``content_type`` picks the patch flavour, e.g. ``application/merge-patch+json``); the
        decoded answer, ``ApiError``."""
        response = self._request(
            path,
            None,
            urllib3.Timeout(connect=CONNECT_TIMEOUT, read=timeout),
            True,
            method,
            None if body is None else orjson.dumps(body),
            content_type,
        )
        data: dict[str, Any] = orjson.loads(response.data)
        return data

    def stream(
        self, path: str, params: Mapping[str, str] | None = None, read_timeout: float | None = None
    ) -> WatchStream:
        """Open a streaming GET (``watch=1``); the caller iterates ``lines()`` and closes it."""
        response = self._request(
            path, params, urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout), False
        )
        return WatchStream(response)

    def check(self, timeout: float = 5.0) -> str:
        """The server's ``gitVersion``; ``ApiError`` when it cannot be reached or refuses us."""
        version = self.get_json("/version", timeout=timeout)
        return str(version.get("gitVersion", "unknown"))

    def close(self) -> None:
        self._pool.clear()


def connect(kubeconfig: str | os.PathLike[str] | None = None) -> KubeClient:
    """A ``KubeClient`` for ``kubeconfig`` (or the default lookup, see ``load_configuration``);
    the ``kubernetes`` package is imported only for exec and auth-provider kubeconfigs (and
    files ``kubepulse.kube.kubeconfig`` leaves to it)."""
    return KubeClient(_find_configuration(kubeconfig, official=False))
