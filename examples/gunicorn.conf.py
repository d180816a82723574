"""gunicorn config for examples/flask_app.py: 2 workers, multiprocess metrics, TLS from web config.

Set PROMETHEUS_MULTIPROC_DIR (an empty, writable folder) and optionally KUBEPULSE_WEB_CONFIG.
"""

import os

from kubepulse.webapp.gunicorn import child_exit, on_starting, tls_settings

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:9999")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
certfile, keyfile, ca_certs, cert_reqs = tls_settings()

__all__ = [
    "bind",
    "ca_certs",
    "cert_reqs",
    "certfile",
    "child_exit",
    "keyfile",
    "on_starting",
    "workers",
]
