"""gunicorn hooks and settings for an app instrumented with ``kubepulse.webapp``.

Use them from a gunicorn config file (``examples/gunicorn.conf.py`` does)::

    from kubepulse.webapp.gunicorn import child_exit, on_starting, tls_settings
    certfile, keyfile, ca_certs, cert_reqs = tls_settings()
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from kubepulse.exposition.server import load_web_config
from kubepulse.webapp.multiprocess import clear, multiprocess_dir

__all__ = ["child_exit", "on_starting", "tls_settings"]


def on_starting(server: Any) -> None:
    """Empty ``PROMETHEUS_MULTIPROC_DIR`` before the first worker starts.

    Files left by a previous run would add old counts to new ones and keep an old start time.
    """
    directory = multiprocess_dir()
    if directory is None:
        if getattr(server.cfg, "workers", 1) > 1:
            server.log.warning(
                "PROMETHEUS_MULTIPROC_DIR is not set: with %d workers each /metrics scrape shows "
                "only the worker that answered it",
                server.cfg.workers,
            )
        return
    clear(directory)


def child_exit(server: Any, worker: Any) -> None:
    """Tell ``prometheus_client`` a worker died, so its live gauges stop counting."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def tls_settings(
    web_config: str | os.PathLike[str] | None = None,
) -> tuple[str | None, str | None, str | None, int]:
    """gunicorn's ``certfile, keyfile, ca_certs, cert_reqs`` from an exporter-toolkit web config.

    ``web_config`` defaults to ``$KUBEPULSE_WEB_CONFIG``; without one (or without
    ``tls_server_config``) it returns gunicorn's defaults: plain HTTP.
    """
    path = web_config or os.environ.get("KUBEPULSE_WEB_CONFIG")
    if not path:
        return None, None, None, ssl.CERT_NONE
    tls = load_web_config(path).tls
    if tls is None:
        return None, None, None, ssl.CERT_NONE
    ca = str(tls.client_ca_file) if tls.client_ca_file else None
    reqs = {
        "NoClientCert": ssl.CERT_NONE,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[tls.client_auth_type]
    return str(tls.cert_file), str(tls.key_file), ca, reqs
