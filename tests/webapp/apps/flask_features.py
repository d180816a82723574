"""A Flask app factory using every WSGI option; the tests serve it with Flask's dev server.

``python flask_features.py PORT [METRICS_PORT]``: with METRICS_PORT, ``/metrics`` is served on
that port only (``metrics_path=None`` + ``serve``). ``gunicorn 'flask_features:wsgi()'`` serves
it under gunicorn; ``/held?gate=NAME`` answers once the file ``$KP_GATES/NAME`` exists.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from flask import Flask, Response, request

from kubepulse.webapp import AppMetrics, untracked


def create_app(metrics_port: int | None = None) -> tuple[Flask, AppMetrics]:
    metrics = AppMetrics(
        prefix="shop",
        labels={"region": "eu", "tenant": lambda r: r.header("x-tenant") or "none"},
        buckets=(0.05, 0.5, 5.0),
        exclude=[r"/assets/", r"/admin$"],
        max_label_values=3,
        metrics_path=None if metrics_port else "/metrics",
    )
    app = Flask("features")

    @app.route("/items/<int:item_id>")
    @metrics.counter(
        "shop_item_views_total",
        "Item views by kind and status.",
        labels={"kind": lambda: request.args.get("kind", "plain"), "code": lambda r: r.status_code},
    )
    def item(item_id: int) -> Response:
        return Response(str(item_id), status=203 if item_id == 7 else 200)

    @app.route("/slow")
    @metrics.histogram("shop_slow_seconds", "Slow view time.", buckets=(0.01, 1.0))
    @metrics.summary("shop_slow_summary_seconds", "Slow view time, as a summary.")
    @metrics.gauge("shop_slow_in_progress", "Slow views running.", labels={"view": "slow"})
    def slow() -> str:
        time.sleep(0.03)
        return "slow"

    @app.route("/held")
    @metrics.gauge(
        "shop_held_in_progress",
        "Held views running.",
        labels={"tenant": lambda: request.headers.get("x-tenant", "none")},
    )
    def held() -> dict[str, int]:
        gate = Path(os.environ.get("KP_GATES", "/nonexistent")) / request.args.get("gate", "open")
        for _ in range(600):  # at most 30 s
            if gate.exists():
                break
            time.sleep(0.05)
        return {"pid": os.getpid()}

    @app.route("/ping")
    @untracked
    def ping() -> str:
        return "pong"

    @app.route("/assets/<path:name>")
    def static_file(name: str) -> str:
        return name

    @app.route("/admin")
    def admin() -> str:
        return "admin"

    metrics.info("shop_build_info", "Build facts.", version="1.2.3", commit="abc")
    metrics.init_app(app)
    return app, metrics


def wsgi() -> Flask:
    """The app alone, for ``gunicorn 'flask_features:wsgi()'``."""
    return create_app()[0]


if __name__ == "__main__":
    port = int(sys.argv[1])
    metrics_port = int(sys.argv[2]) if len(sys.argv) > 2 else None
    flask_app, app_metrics = create_app(metrics_port)
    if metrics_port:
        app_metrics.serve(f"127.0.0.1:{metrics_port}")
    flask_app.run(host="127.0.0.1", port=port)
