"""A hello-world Flask app with random latency, instrumented by kubepulse.

Single process (Flask's dev server)::

    python examples/flask_app.py                       # http://127.0.0.1:9999/ and /metrics

gunicorn with 2 workers (multiprocess metrics, TLS and basic auth from a web config)::

    mkdir -p /tmp/kubepulse-mp
    PROMETHEUS_MULTIPROC_DIR=/tmp/kubepulse-mp KUBEPULSE_WEB_CONFIG=web.yml \\
      gunicorn -c examples/gunicorn.conf.py --pythonpath examples flask_app:app

uWSGI, serving the dispatcher app with 4 processes::

    PROMETHEUS_MULTIPROC_DIR=/tmp/kubepulse-mp uwsgi --http 127.0.0.1:9999 \\
      --wsgi-file examples/flask_app.py --callable app_dispatch --processes 4

``HELLO_MAX_LATENCY_SECONDS`` (default 1) bounds the random latency of ``/``.
"""

from __future__ import annotations

import os
import random
import time

from flask import Flask

from kubepulse.webapp import instrument

MAX_LATENCY = float(os.environ.get("HELLO_MAX_LATENCY_SECONDS", "1"))

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    time.sleep(random.random() * MAX_LATENCY)
    return "Hello World!"


@app.route("/items/<int:item_id>")
def item(item_id: int) -> dict[str, int]:
    # Many URLs, one route template: http_requests_total{route="/items/<int:item_id>"}.
    return {"item": item_id, "pid": os.getpid()}


@app.route("/fail")
def fail() -> str:
    raise RuntimeError("this endpoint always fails, to show the error signal")


instrument(app)
# The WSGI dispatcher serving the app, /metrics and /healthz (uWSGI's --callable app_dispatch).
app_dispatch = app.wsgi_app

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=9999)
