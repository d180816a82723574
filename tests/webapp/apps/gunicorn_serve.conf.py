"""gunicorn config whose master serves the workers' metrics on their own port, with TLS and auth.

``AppMetrics.serve`` in the ``when_ready`` hook (the master, before the workers fork): every
scrape there aggregates all workers' multiprocess files. ``KP_SERVE_ADDRESS`` is where it
listens and ``KP_SERVE_WEB_CONFIG`` its web config; the app's own port stays plain HTTP.
"""

import os

from kubepulse.webapp.gunicorn import child_exit, on_starting

bind = os.environ["GUNICORN_BIND"]
workers = 2


def when_ready(server: object) -> None:
    from kubepulse.webapp import AppMetrics

    metrics = AppMetrics(metrics_path=None, web_config=os.environ["KP_SERVE_WEB_CONFIG"])
    metrics.serve(os.environ["KP_SERVE_ADDRESS"])


__all__ = ["bind", "child_exit", "on_starting", "when_ready", "workers"]
