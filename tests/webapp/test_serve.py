"""``AppMetrics.serve``: an app's metrics on their own port, with TLS and basic auth from a web
config, in one process (Flask's dev server) and in gunicorn's master for two workers.

Over real TLS: the client trusts only the test CA and checks the server's name (127.0.0.1).
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from webapp_helpers import APPS, BIN, ROOT, fetch, series, stale_multiproc_dir, wait_until

from kubepulse.lab.pki import LoopbackPKI, make_loopback_pki, write_web_config
from kubepulse.lab.processes import ProcessGroup, free_port

GOOD = {"Authorization": "Basic " + base64.b64encode(b"prom:pw").decode()}
WRONG = {"Authorization": "Basic " + base64.b64encode(b"prom:nope").decode()}


def _https(
    port: int, path: str, pki: LoopbackPKI, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """GET over TLS, trusting only the test CA (which also checks the name 127.0.0.1)."""
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20, context=ctx) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _tls_config(tmp_path: Path) -> tuple[LoopbackPKI, Path]:
    pki = make_loopback_pki(tmp_path / "pki")
    return pki, write_web_config(tmp_path / "web.yml", pki, users={"prom": "pw"}, rounds=4)


def test_serve_with_tls_and_basic_auth_from_the_web_config(tmp_path: Path) -> None:
    pki, config = _tls_config(tmp_path)
    app_port, metrics_port = free_port(), free_port()
    argv = [sys.executable, str(APPS / "flask_features.py"), str(app_port), str(metrics_port)]
    with ProcessGroup(tmp_path / "logs") as group:
        group.start("flask", argv, env={"KUBEPULSE_WEB_CONFIG": str(config)}, ready_port=app_port)
        base = f"http://127.0.0.1:{app_port}"
        for i in range(4):
            assert fetch(f"{base}/items/{i}", {"X-Tenant": "acme"})[0] == 200
        assert fetch(f"{base}/metrics")[0] == 404  # not on the app's port
        status, headers, _ = _https(metrics_port, "/metrics", pki)
        assert status == 401 and headers["www-authenticate"].startswith("Basic")
        assert _https(metrics_port, "/metrics", pki, WRONG)[0] == 401
        assert _https(metrics_port, "/healthz", pki)[0] == 401
        assert _https(metrics_port, "/healthz", pki, GOOD)[::2] == (200, b"ok\n")
        # Plain HTTP to the TLS port gets the one-line answer Go servers give.
        plain = fetch(f"http://127.0.0.1:{metrics_port}/metrics")
        assert plain == (400, b"Client sent an HTTP request to an HTTPS server.\n")
        status, headers, body = _https(metrics_port, "/metrics", pki, GOOD)
    assert status == 200 and headers["content-type"].startswith("text/plain")
    m = series(body.decode())
    items = (
        'shop_http_requests_total{method="GET",region="eu",route="/items/<int:item_id>",'
        'status="200",tenant="acme"}'
    )
    assert m[items] == 4
    # The login checks of this port: one wrong password; the right one checked once (healthz),
    # then answered from the cache for /metrics.
    assert m['kubepulse_auth_checks_total{result="failure"}'] == 1
    assert m['kubepulse_auth_checks_total{result="success"}'] == 1


def test_serve_in_the_gunicorn_master_sums_both_workers_over_tls(tmp_path: Path) -> None:
    pki, config = _tls_config(tmp_path)
    mp_dir = stale_multiproc_dir(tmp_path)
    port, metrics_port = free_port(), free_port()
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(mp_dir),
        "HELLO_MAX_LATENCY_SECONDS": "0.05",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "KP_SERVE_ADDRESS": f"127.0.0.1:{metrics_port}",
        "KP_SERVE_WEB_CONFIG": str(config),
    }
    argv = [str(BIN / "gunicorn"), "-c", str(APPS / "gunicorn_serve.conf.py")]
    argv += ["--pythonpath", str(ROOT / "examples"), "flask_app:app"]
    base = f"http://127.0.0.1:{port}"
    with ProcessGroup(tmp_path / "logs") as group:
        master = group.start("gunicorn", argv, env=env, ready_port=port)
        workers = lambda: {p.pid for p in psutil.Process(master.pid).children()}  # noqa: E731
        wait_until(lambda: len(workers()) == 2, 30, "gunicorn did not start 2 workers")
        assert not (mp_dir / "counter_999999.db").exists()  # on_starting emptied the folder
        assert fetch(f"{base}/fail")[0] == 500
        # Slow "/" requests keep both sync workers busy, so both serve the items requests.
        served: set[int] = set()
        made = 0
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            while len(served) < 2:
                assert made < 120, f"one worker served every request: {served}"
                list(pool.map(lambda _: fetch(base + "/"), range(6)))
                bodies = list(pool.map(lambda i: fetch(f"{base}/items/{i}")[1], range(12)))
                served |= {json.loads(b)["pid"] for b in bodies}
                made += 12
        assert served == workers()
        # Each worker creates its value files with its first recorded request, just after that
        # response; a scrape while one is still empty fails (test_multiprocess_files.py).
        sized = lambda: all(  # noqa: E731
            (mp_dir / f"{kind}_{pid}.db").is_file()
            and (mp_dir / f"{kind}_{pid}.db").stat().st_size > 0
            for pid in served
            for kind in ("counter", "histogram")
        )
        wait_until(sized, 10, "the workers' value files were not written")
        assert _https(metrics_port, "/metrics", pki)[0] == 401
        # A request is recorded just after its last byte: the scrape may precede the last one.
        key = 'http_requests_total{method="GET",route="/items/<int:item_id>",status="200"}'
        scrapes: list[dict[str, float]] = []

        def scraped() -> bool:
            status, _, body = _https(metrics_port, "/metrics", pki, GOOD)
            assert status == 200
            scrapes.append(series(body.decode()))
            return scrapes[-1].get(key) == made

        wait_until(scraped, 10, f"{key} did not reach {made}")
    m = scrapes[-1]
    # The master served no request itself: these are both workers' counts, summed.
    assert m[key] == made
    assert m['http_requests_total{method="GET",route="/",status="200"}'] == made // 2
    exc = 'http_request_exceptions_total{exception="RuntimeError",method="GET",route="/fail"}'
    assert m[exc] == 1
    assert m['http_requests_in_progress{method="GET"}'] == 0
    assert 0 < m["app_uptime_seconds_total"] < 120
