"""kubepulse.webapp.asgi under a real uvicorn, and under gunicorn with uvicorn workers.

The apps are in ``apps/asgi_apps.py``: FastAPI (route templates from its router, a per-request
tenant label, response sizes, exemplars, basic auth from a web config) and Starlette (a Mount,
an excluded path, a prefix).
"""

from __future__ import annotations

import base64
import concurrent.futures
import os
import signal
import time
from pathlib import Path

from webapp_helpers import (
    APPS,
    BIN,
    fetch,
    gunicorn_workers,
    item_pids,
    scrape,
    stale_multiproc_dir,
    start_gunicorn,
    wait_replaced,
)

from kubepulse.lab.pki import write_web_config
from kubepulse.lab.processes import ProcessGroup, free_port

TRACE = "0af7651916cd43dd8448eb211c80319c"
OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}


def _uvicorn(group: ProcessGroup, app: str, env: dict[str, str] | None = None) -> str:
    port = free_port()
    argv = [str(BIN / "uvicorn"), "--app-dir", str(APPS), app, "--host", "127.0.0.1"]
    group.start("uvicorn", [*argv, "--port", str(port)], env=env, ready_port=port)
    return f"http://127.0.0.1:{port}"


def test_fastapi_route_templates_labels_sizes_exemplars(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        base = _uvicorn(group, "asgi_apps:fastapi_app")
        parent = f"00-{TRACE}-b7ad6b7169203331-01"
        for i in range(5):
            assert fetch(f"{base}/items/{i}", {"X-Tenant": "acme", "traceparent": parent})[0] == 200
        assert fetch(f"{base}/fail")[0] == 500
        assert fetch(f"{base}/big") == (200, b"x" * 5000)
        assert fetch(f"{base}/nope")[0] == 404
        assert fetch(f"{base}/healthz") == (200, b"ok\n")
        m = scrape(base)
        status, body = fetch(base + "/metrics", OPENMETRICS)
    items = 'method="GET",route="/items/{item_id}",status="200",tenant="acme"'
    assert m[f"http_requests_total{{{items}}}"] == 5
    assert m['http_requests_total{method="GET",route="/fail",status="500",tenant="none"}'] == 1
    assert m['http_requests_total{method="GET",route="unmatched",status="404",tenant="none"}'] == 1
    exc = 'exception="RuntimeError",method="GET",route="/fail",tenant="none"'
    assert m[f"http_request_exceptions_total{{{exc}}}"] == 1
    big = 'method="GET",route="/big",status="200",tenant="none"'
    assert m[f"http_response_size_bytes_sum{{{big}}}"] == 5000
    assert m[f'http_response_size_bytes_bucket{{le="1000.0",{big}}}'] == 0
    assert m[f'http_response_size_bytes_bucket{{le="10000.0",{big}}}'] == 1
    assert m['http_requests_in_progress{method="GET"}'] == 0
    assert not any("/metrics" in k or "/healthz" in k or "/items/3" in k for k in m)
    # Exemplars appear in OpenMetrics only, with the traceparent's trace id.
    assert status == 200
    text = body.decode()
    line = next(
        x for x in text.splitlines() if x.startswith("http_requests_total{") and "acme" in x
    )
    assert f'# {{trace_id="{TRACE}"}} 1.0' in line


def test_starlette_mount_prefix_and_exclusions(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        base = _uvicorn(group, "asgi_apps:starlette_app")
        assert fetch(f"{base}/v1/users/bob") == (200, b"bob")
        assert fetch(f"{base}/v1/users/ann") == (200, b"ann")
        assert fetch(f"{base}/internal/ping") == (200, b"not counted")
        m = scrape(base)
    counted = {k: v for k, v in m.items() if k.startswith("star_http_requests_total")}
    assert counted == {
        'star_http_requests_total{method="GET",route="/v1/users/{name}",status="200"}': 2
    }


def test_basic_auth_limits_wrong_passwords_and_keeps_cached_logins(tmp_path: Path) -> None:
    config = write_web_config(tmp_path / "web.yml", users={"prom": "pw"}, rounds=10)
    with ProcessGroup(tmp_path / "logs") as group:
        base = _uvicorn(group, "asgi_apps:fastapi_app", env={"KP_WEB_CONFIG": str(config)})
        assert fetch(f"{base}/items/1")[0] == 200  # the app stays open
        assert fetch(base + "/metrics")[0] == 401
        good = {"Authorization": "Basic " + base64.b64encode(b"prom:pw").decode()}
        assert fetch(base + "/metrics", good)[0] == 200
        bad = {"Authorization": "Basic " + base64.b64encode(b"prom:wrong").decode()}
        # While wrong-password checks (bcrypt, cost 10) run, the event loop keeps serving the
        # app: each check runs in a thread, and the per-address limit answers 429 once exceeded.
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            bad_results = pool.map(lambda _: fetch(base + "/metrics", bad)[0], range(24))
            app_results = [fetch(f"{base}/items/{i}")[0] for i in range(20)]
            codes = list(bad_results)
        assert app_results == [200] * 20
        assert len(codes) == 24 and set(codes) <= {401, 429, 503} and 429 in codes
        assert codes.count(401) <= 10  # at most max_failures bcrypt failures from one address
        # A login that succeeded before is cached: it passes even from the limited address.
        assert fetch(base + "/healthz", good) == (200, b"ok\n")


def test_gunicorn_uvicorn_workers_multiprocess(tmp_path: Path) -> None:
    mp_dir = stale_multiproc_dir(tmp_path)
    app = ["-k", "uvicorn.workers.UvicornWorker", "--chdir", str(APPS), "asgi_apps:fastapi_app"]
    with ProcessGroup(tmp_path / "logs") as group:
        base, master = start_gunicorn(group, mp_dir, 2, app)
        assert not (mp_dir / "counter_999999.db").exists()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            served = item_pids(base, pool, 0, 60)
        workers = gunicorn_workers(master)
        key = (
            'http_requests_total{method="GET",route="/items/{item_id}",status="200",tenant="none"}'
        )
        for _ in range(6):
            m = scrape(base)
            assert m[key] == 60
            assert m['http_requests_in_progress{method="GET"}'] == 0
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        wait_replaced(mp_dir, master, victim, 2, 30)
        for _ in range(4):
            assert scrape(base)[key] == 60
    # Each worker that served requests wrote its own files; the scrape summed them all.
    assert served <= workers
    assert all((mp_dir / f"counter_{pid}.db").exists() for pid in served)


def test_a_bcrypt_check_does_not_hold_the_event_loop(tmp_path: Path) -> None:
    """Ordering, not speed: an app request sent while a slow bcrypt check (cost 15, seconds on
    this host) runs is answered before that check ends. On the event loop it would wait for it."""
    config = write_web_config(tmp_path / "web.yml", users={"prom": "pw"}, rounds=15)
    with ProcessGroup(tmp_path / "logs") as group:
        base = _uvicorn(group, "asgi_apps:fastapi_app", env={"KP_WEB_CONFIG": str(config)})
        bad = {"Authorization": "Basic " + base64.b64encode(b"prom:wrong").decode()}
        done: dict[str, float] = {}
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            check = pool.submit(lambda: (fetch(base + "/metrics", bad)[0], time.monotonic()))
            time.sleep(0.5)  # the check is under way (cost 15 takes far longer than this)
            assert fetch(f"{base}/items/1")[0] == 200
            done["app"] = time.monotonic()
            status, done["check"] = check.result(timeout=120)
    assert status == 401
    assert done["app"] < done["check"]


def test_label_value_cap_under_uvicorn(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        base = _uvicorn(group, "asgi_apps:fastapi_app", env={"KP_MAX_LABEL_VALUES": "2"})
        for tenant in ("t1", "t2", "t3", "t4", "t1"):
            assert fetch(f"{base}/items/1", {"X-Tenant": tenant})[0] == 200
        m = scrape(base)
    item = 'http_requests_total{method="GET",route="/items/{item_id}",status="200",tenant="%s"}'
    assert (m[item % "t1"], m[item % "t2"], m[item % "other"]) == (2, 1, 2)
    assert not any('tenant="t3"' in k or 'tenant="t4"' in k for k in m)
    dropped = 'http_label_values_dropped_total{label="tenant",metric="http_requests_total"}'
    assert m[dropped] == 2
