"""``--web.config.file``: the Prometheus exporter-toolkit web config (TLS, basic auth, headers).

Relative file paths inside are resolved against the config file's folder, as exporter-toolkit
does; certificates are loaded when the file is read, so a bad one fails at startup. Go-only
cipher settings are refused by name rather than silently ignored.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubepulse.exposition.auth import BasicAuth

__all__ = ["TLSConfig", "WebConfig", "load_web_config"]


@dataclass(frozen=True)
class TLSConfig:
    """``tls_server_config``: paths are absolute (resolved against the config file's folder)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str | None = None
    max_version: str | None = None

    def stamp(self) -> tuple[tuple[int, int, int] | None, ...]:
        """Identity of the files' current contents (inode, size, mtime), to notice rotation."""
        stamps: list[tuple[int, int, int] | None] = []
        for file in (self.cert_file, self.key_file, self.client_ca_file):
            try:
                st = file.stat() if file else None
            except OSError:
                st = None
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns) if st else None)
        return tuple(stamps)

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side context; ``ValueError`` names the file that cannot be loaded."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _TLS_VERSIONS[self.min_version or "TLS12"]
        if self.max_version:
            ctx.maximum_version = _TLS_VERSIONS[self.max_version]
        try:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"tls_server_config: cannot load cert_file {self.cert_file} / key_file "
                f"{self.key_file}: {exc}"
            ) from exc
        if self.client_ca_file is not None:
            try:
                ctx.load_verify_locations(str(self.client_ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"tls_server_config.client_ca_file: cannot load {self.client_ca_file}: {exc}"
                ) from exc
        ctx.verify_mode = _CLIENT_AUTH[self.client_auth_type]
        return ctx


_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Python's ssl module cannot accept a client certificate without verifying it, so the two Go
# modes that do (RequestClientCert, RequireAnyClientCert) are refused rather than weakened.
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


@dataclass(frozen=True)
class WebConfig:
    """A parsed ``--web.config.file``."""

    path: Path
    tls: TLSConfig | None = None
    basic_auth: BasicAuth | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


_TOP_KEYS = {"tls_server_config", "basic_auth_users", "http_server_config"}
_TLS_KEYS = {
    "cert_file",
    "key_file",
    "client_ca_file",
    "client_auth_type",
    "min_version",
    "max_version",
}
# exporter-toolkit fields that name Go crypto/tls settings with no faithful OpenSSL equivalent:
# refused by name rather than silently ignored, since they are security settings.
_GO_ONLY_TLS_KEYS = {
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
}


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Parse an exporter-toolkit web config; ``ValueError`` names the file and the bad field.

    Relative file paths inside are resolved against the config file's folder, as
    exporter-toolkit does. Certificates are loaded here, so a bad one fails at startup.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read web config: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path}:{where} invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: web config must be a mapping")

    def fail(field_name: str, problem: str) -> ValueError:
        return ValueError(f"{path}: {field_name}: {problem}")

    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown field (known: {', '.join(sorted(_TOP_KEYS))})")

    tls: TLSConfig | None = None
    raw_tls = data.get("tls_server_config")
    if raw_tls is not None:
        if not isinstance(raw_tls, dict):
            raise fail("tls_server_config", "must be a mapping")
        go_only = set(raw_tls) & _GO_ONLY_TLS_KEYS
        if go_only:
            raise fail(
                f"tls_server_config.{sorted(go_only)[0]}",
                "a Go crypto/tls setting kubepulse cannot honour; remove it",
            )
        unknown = set(raw_tls) - _TLS_KEYS
        if unknown:
            raise fail(f"tls_server_config.{sorted(unknown)[0]}", "unknown field")

        versions: dict[str, str | None] = {}
        for name in ("min_version", "max_version"):
            value = raw_tls.get(name)
            if value is not None and value not in _TLS_VERSIONS:
                raise fail(
                    f"tls_server_config.{name}", f"{value!r} (use {', '.join(_TLS_VERSIONS)})"
                )
            versions[name] = value

        def file_field(name: str, required: bool) -> Path | None:
            value = raw_tls.get(name)
            if value in (None, ""):
                if required:
                    raise fail(f"tls_server_config.{name}", "required")
                return None
            if not isinstance(value, str):
                raise fail(f"tls_server_config.{name}", "must be a file path")
            file = (path.parent / value).resolve()
            if not file.is_file():
                raise fail(f"tls_server_config.{name}", f"no such file {file}")
            return file

        cert = file_field("cert_file", True)
        key = file_field("key_file", True)
        ca = file_field("client_ca_file", False)
        auth_type = raw_tls.get("client_auth_type") or (
            "RequireAndVerifyClientCert" if ca else "NoClientCert"
        )
        if auth_type not in _CLIENT_AUTH:
            raise fail(
                "tls_server_config.client_auth_type",
                f"{auth_type!r} not supported (use one of {', '.join(_CLIENT_AUTH)})",
            )
        if auth_type != "NoClientCert" and ca is None:
            raise fail("tls_server_config.client_ca_file", f"required by {auth_type}")
        assert cert is not None and key is not None
        tls = TLSConfig(cert, key, ca, auth_type, versions["min_version"], versions["max_version"])
        try:
            tls.ssl_context()
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    auth: BasicAuth | None = None
    users = data.get("basic_auth_users")
    if users is not None:
        if not isinstance(users, dict):
            raise fail("basic_auth_users", "must map user names to bcrypt hashes")
        for user, hashed in users.items():
            if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise fail(f"basic_auth_users.{user}", "not a bcrypt hash ($2a$/$2b$/$2y$...)")
        auth = BasicAuth({str(u): h for u, h in users.items()}) if users else None

    headers: dict[str, str] = {}
    http_cfg = data.get("http_server_config")
    if http_cfg is not None:
        if not isinstance(http_cfg, dict) or set(http_cfg) - {"headers"}:
            raise fail("http_server_config", "only 'headers' is supported")
        raw_headers = http_cfg.get("headers") or {}
        if not isinstance(raw_headers, dict):
            raise fail("http_server_config.headers", "must map header names to values")
        headers = {str(k): str(v) for k, v in raw_headers.items()}
    return WebConfig(path, tls, auth, headers)
