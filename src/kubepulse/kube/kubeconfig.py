"""Client configuration without the ``kubernetes`` package, for the forms that need no plugin.

Importing the official client costs ~0.4 s, most of the cluster exporter's start-up imports, and
``kubepulse.kube.client`` needs from it only where the API server is and how to authenticate.
This module reads that itself for the common forms, into a ``Configuration`` with the attributes
``KubeClient`` reads (the names of ``kubernetes.client.Configuration``'s):

- a kubeconfig file whose current context's user authenticates by ``token`` / ``tokenFile``,
  client certificate and key (``client-certificate`` / ``client-key``, files or ``-data``),
  ``username`` / ``password``, or not at all; its cluster naming ``server``,
  ``certificate-authority`` (file or ``-data``), ``insecure-skip-tls-verify`` and
  ``tls-server-name``;
- the in-cluster service account (token re-read every minute, as the official client does).

Each is read as ``kubernetes.config`` reads it (relative paths against the kubeconfig's folder,
``-data`` preferred to the file and written to a temporary file removed at exit, the token file's
text unstripped, the first of several same-named entries used, ...). Anything else, an
``exec`` or ``auth-provider`` user, or any irregularity (a missing file, a field of an unexpected
type, bad base64), gives ``None``: the caller then loads the file with ``kubernetes.config``, so
what it accepted still works and what it refused is refused with its own message.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import urllib3
import yaml

__all__ = [
    "ClientConfiguration",
    "ConfigError",
    "Configuration",
    "load_incluster",
    "load_kubeconfig",
]

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REFRESH_SECONDS = 60.0  # the official client re-reads the service account token each minute


class ClientConfiguration(Protocol):
    """What ``KubeClient`` reads: a ``Configuration`` here or a ``kubernetes.client.Configuration``
    (from krkn-lib, an ``ApiClient``, or ``load_configuration``)."""

    host: str
    verify_ssl: bool
    ssl_ca_cert: str | None
    cert_file: str | None
    key_file: str | None
    tls_server_name: str | None
    assert_hostname: Any
    proxy: str | None
    proxy_headers: Any
    username: str | None
    password: str | None

    def get_api_key_with_prefix(self, identifier: str) -> str | None: ...


class ConfigError(Exception):
    """The in-cluster token file became empty (the official client's ``ConfigException``: not a
    ``ValueError`` or ``OSError``, which the informers would retry)."""


def _environment_proxy() -> str | None:
    """The proxy ``kubernetes.client.Configuration`` takes from the environment: the last set of
    HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy (so an HTTP proxy variable wins)."""
    proxy = None
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        proxy = os.environ.get(name) or proxy
    return proxy


class Configuration:
    """The connection settings, under ``kubernetes.client.Configuration``'s attribute names and
    defaults. ``no_proxy`` is None as there (``KubeClient`` reads NO_PROXY from the environment)."""

    def __init__(self) -> None:
        self.host = "http://localhost"
        self.api_key: dict[str, str] = {}
        self.api_key_prefix: dict[str, str] = {}
        self.refresh_api_key_hook: Callable[[Configuration], None] | None = None
        self.username: str | None = None
        self.password: str | None = None
        self.verify_ssl = True
        self.ssl_ca_cert: str | None = None
        self.cert_file: str | None = None
        self.key_file: str | None = None
        self.assert_hostname: Any = None
        self.tls_server_name: str | None = None
        self.proxy = _environment_proxy()
        self.no_proxy: str | None = None
        self.proxy_headers: Any = None

    def get_api_key_with_prefix(self, identifier: str) -> str | None:
        """The key (after the refresh hook), with its prefix if one is set; None if unset."""
        if self.refresh_api_key_hook is not None:
            self.refresh_api_key_hook(self)
        key = self.api_key.get(identifier)
        if not key:
            return None
        prefix = self.api_key_prefix.get(identifier)
        return f"{prefix} {key}" if prefix else key


class _Unsupported(Exception):
    """Not a form read here: the official loader takes over."""


# -data contents written out, by content: each written once per process, removed at exit.
_written: dict[bytes, str] = {}
_written_lock = threading.Lock()


def _remove_written() -> None:
    with _written_lock:
        for name in _written.values():
            with contextlib.suppress(OSError):
                os.remove(name)
        _written.clear()


def _data_file(content: bytes) -> str:
    with _written_lock:
        name = _written.get(content)
        if name is not None and os.path.isfile(name):
            return name
        if not _written:
            atexit.register(_remove_written)
        fd, name = tempfile.mkstemp()
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        _written[content] = name
        return name


def _str(section: Mapping[str, Any], key: str) -> str:
    value = section[key]
    if not isinstance(value, str):
        raise _Unsupported(key)
    return value


def _file_or_data(section: Mapping[str, Any] | None, key: str, base: str) -> str | None:
    """The file ``key`` or ``key-data`` (base64) names, as a path; None if neither is given.
    The data wins when present; an empty one with no file is none."""
    if not section:
        return None
    if f"{key}-data" in section:
        data = _str(section, f"{key}-data")
        if not data:
            return None
        try:
            return _data_file(base64.standard_b64decode(data.encode()))
        except ValueError as exc:  # binascii.Error, UnicodeEncodeError
            raise _Unsupported(key) from exc
    if key in section:
        path = os.path.normpath(os.path.join(base, _str(section, key)))
        if not os.path.isfile(path):
            raise _Unsupported(key)
        return path
    return None


def _named(entries: list[dict[str, Any]], name: object, field: str) -> dict[str, Any] | None:
    """The ``field`` mapping of the first entry named ``name`` (the official merge keeps the
    first of same-named entries); None if none has that name."""
    if not isinstance(name, str):
        raise _Unsupported(field)
    for entry in entries:
        if entry["name"] == name:
            value = entry.get(field)
            if not isinstance(value, dict):
                raise _Unsupported(field)
            return value
    return None


def _required(entries: list[dict[str, Any]], name: object, field: str) -> dict[str, Any]:
    """``_named``, for an entry that must be there."""
    found = _named(entries, name, field)
    if found is None:
        raise _Unsupported(field)
    return found


def _user_token(user: Mapping[str, Any], base: str) -> str | None:
    """``token``, else the text of ``tokenFile`` (unstripped); None when empty or absent."""
    if "token" in user:
        token = _str(user, "token")
    elif "tokenFile" in user:
        path = os.path.normpath(os.path.join(base, _str(user, "tokenFile")))
        token = Path(path).read_text()  # what the official loader does: locale, newline=None
    else:
        return None
    return token or None


def _from_document(doc: Any, path: str) -> Configuration:
    if not isinstance(doc, dict):
        raise _Unsupported("document")
    lists: dict[str, list[dict[str, Any]]] = {}
    for field in ("clusters", "contexts", "users"):
        # The official merge reads a false value as no entries, and needs every entry named.
        entries = doc.get(field) or []
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
        ):
            raise _Unsupported(field)
        lists[field] = entries
    base = os.path.abspath(os.path.dirname(path))
    context = _required(lists["contexts"], doc.get("current-context"), "context")
    user_name = context.get("user")
    user = _named(lists["users"], user_name, "user") if user_name else None
    cluster = _required(lists["clusters"], context.get("cluster"), "cluster")

    cfg = Configuration()
    if user:
        if "exec" in user or "auth-provider" in user:
            raise _Unsupported("plugin")
        token = _user_token(user, base)
        if token is not None:
            cfg.api_key["authorization"] = f"Bearer {token}"
        elif "username" in user and "password" in user:
            basic = urllib3.util.make_headers(
                basic_auth=_str(user, "username") + ":" + _str(user, "password")
            )
            cfg.api_key["authorization"] = basic["authorization"]
    if "server" in cluster:
        cfg.host = _str(cluster, "server").rstrip("/")
        if cfg.host.startswith("https"):
            cfg.ssl_ca_cert = _file_or_data(cluster, "certificate-authority", base)
            cfg.cert_file = _file_or_data(user, "client-certificate", base)
            cfg.key_file = _file_or_data(user, "client-key", base)
    if "insecure-skip-tls-verify" in cluster:
        skip = cluster["insecure-skip-tls-verify"]
        if not isinstance(skip, bool):
            raise _Unsupported("insecure-skip-tls-verify")
        cfg.verify_ssl = not skip
    if "tls-server-name" in cluster:
        cfg.tls_server_name = _str(cluster, "tls-server-name")
    return cfg


def load_kubeconfig(path: str) -> Configuration | None:
    """The configuration of kubeconfig ``path``'s current context; None when it is not a form
    read here, or has anything irregular: then ``kubernetes.config.load_kube_config`` is to load
    it, and gives the result or the error."""
    if os.pathsep in path:  # the official loader splits it as a list of files
        return None
    try:
        with open(path) as f:  # as the official loader reads it (the locale's encoding)
            document = yaml.safe_load(f)
        return _from_document(document, path)
    except Exception:  # _Unsupported, or what the official loader reports in its own words
        return None


def load_incluster(
    environ: Mapping[str, str] | None = None,
    token_path: str | os.PathLike[str] | None = None,
    ca_path: str | os.PathLike[str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Configuration | None:
    """The in-cluster service account's configuration, as ``kubernetes.config
    .load_incluster_config`` gives it; None where that raises ``ConfigException`` (no service
    host or port, a missing or empty token or CA file). Reading errors propagate as there.
    Defaults: ``os.environ`` and the files in ``SERVICE_ACCOUNT``; ``clock`` times the token's
    re-reading."""
    env = os.environ if environ is None else environ
    token_path = SERVICE_ACCOUNT / "token" if token_path is None else token_path
    ca_path = SERVICE_ACCOUNT / "ca.crt" if ca_path is None else ca_path
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    address = f"[{host}]:{port}" if ":" in host or "%" in host else f"{host}:{port}"
    if not os.path.isfile(token_path):
        return None
    token = Path(token_path).read_text()
    if not token:
        return None
    if not os.path.isfile(ca_path) or not Path(ca_path).read_text():
        return None
    cfg = Configuration()
    cfg.host = f"https://{address}"
    cfg.ssl_ca_cert = os.fspath(ca_path)
    cfg.api_key["authorization"] = f"bearer {token}"
    next_read = clock() + TOKEN_REFRESH_SECONDS

    def refresh(configuration: Configuration) -> None:
        """The token file again once a minute has passed (service account tokens rotate)."""
        nonlocal next_read
        if clock() < next_read:
            return
        content = Path(token_path).read_text()
        if not content:
            raise ConfigError("Token file exists but empty.")
        configuration.api_key["authorization"] = f"bearer {content}"
        next_read = clock() + TOKEN_REFRESH_SECONDS

    cfg.refresh_api_key_hook = refresh
    return cfg
