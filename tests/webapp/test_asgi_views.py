"""kubepulse.webapp.asgi's per-endpoint decorators and ``group_by`` under a real uvicorn.

The app is ``apps/asgi_features.py``: FastAPI endpoints (``async def`` and one plain, which
FastAPI runs in a thread), a mounted Starlette endpoint, labels from the request through
``current_request()`` and from the response, a label-value cap of 8.
"""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from webapp_helpers import APPS, BIN, fetch, scrape, wait_until

from kubepulse.lab.processes import ProcessGroup, free_port
from kubepulse.webapp.asgi import AppMetrics, current_request, instrument

ROUTE = 'shop_http_requests_total{method="GET",route="%s",status="%s"}'


def _uvicorn(group: ProcessGroup, env: dict[str, str]) -> str:
    port = free_port()
    argv = [str(BIN / "uvicorn"), "--app-dir", str(APPS), "asgi_features:app"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    group.start("uvicorn", argv, env=env, ready_port=port)
    return f"http://127.0.0.1:{port}"


def test_endpoint_decorators_record_what_each_request_did(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        base = _uvicorn(group, {"KP_GATES": str(tmp_path)})
        assert fetch(f"{base}/items/7")[0] == 203
        kinds = ["a", "b", "a", "c", "d", "e", "f", "g", "h"]
        for kind in kinds:
            assert fetch(f"{base}/items/1?kind={kind}")[0] == 200
        assert fetch(f"{base}/slow")[0] == 200
        assert fetch(f"{base}/lookup/k1") == (200, b'{"key":"k1"}')
        sync = [json.loads(fetch(f"{base}/sync/{n}")[1]) for n in (5, 5, 6)]
        assert fetch(f"{base}/boom")[0] == 500
        assert fetch(f"{base}/v1/users/bob") == (200, b"bob")
        assert fetch(f"{base}/v1/users/bob") == (200, b"bob")
        assert fetch(f"{base}/v1/users/ann") == (200, b"ann")

        # The gauge counts the call while it runs: 1 during the held request, 0 after.
        held = 'shop_held_in_progress{tenant="acme",view="held"}'
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(fetch, f"{base}/held", {"X-Tenant": "acme"})
            wait_until(lambda: scrape(base).get(held) == 1, 20, "the held call was not counted")
            assert scrape(base)['shop_http_requests_in_progress{method="GET"}'] == 1
            (tmp_path / "open").touch()
            assert pending.result(30)[0] == 200
        m = scrape(base)

    # A request label (the query's kind, capped at 8 values: plain and a-g; h becomes other) and
    # a response label (the status code of the Response the endpoint returned).
    views = {k: v for k, v in m.items() if k.startswith("shop_item_views_total{")}
    assert views == {
        'shop_item_views_total{code="203",kind="plain"}': 1,
        'shop_item_views_total{code="200",kind="a"}': 2,
        **{f'shop_item_views_total{{code="200",kind="{k}"}}': 1 for k in "bcdefg"},
        'shop_item_views_total{code="200",kind="other"}': 1,
    }
    dropped = 'shop_http_label_values_dropped_total{label="kind",metric="shop_item_views_total"}'
    assert m[dropped] == 1
    # Histogram and summary of an async endpoint that sleeps 30 ms: timed across its await.
    assert m["shop_slow_seconds_count"] == 1
    assert m['shop_slow_seconds_bucket{le="0.02"}'] == 0
    assert m["shop_slow_summary_seconds_count"] == 1
    assert m["shop_slow_summary_seconds_sum"] >= 0.03
    # An endpoint object with an async __call__ is awaited, and timed, the same way.
    lookup = (m["shop_lookup_seconds_count"], m['shop_lookup_seconds_bucket{le="0.02"}'])
    assert lookup == (1, 0)
    # The plain endpoint ran in FastAPI's thread pool and still saw its request's path params.
    assert [s["main_thread"] for s in sync] == [False] * 3
    assert m['shop_sync_calls_total{n="5"}'] == 2
    assert m['shop_sync_calls_total{n="6"}'] == 1
    # A raising endpoint is not counted, and its gauge went back down.
    assert m["shop_boom_total"] == 0
    assert m["shop_boom_in_progress"] == 0
    assert m[ROUTE % ("/boom", "500")] == 1
    # The mounted Starlette endpoint's path params, read after the inner router matched.
    assert m['shop_user_views_total{name="bob"}'] == 2
    assert m['shop_user_views_total{name="ann"}'] == 1
    assert m[held] == 0
    assert m['shop_build_info{version="1.2.3"}'] == 1
    # The request metrics are still recorded beside them.
    assert m[ROUTE % ("/items/{item_id}", "200")] == 9
    assert m[ROUTE % ("/items/{item_id}", "203")] == 1
    assert m[ROUTE % ("/sync/{n}", "200")] == 3
    assert m[ROUTE % ("/v1/users/{name}", "200")] == 3
    assert m[ROUTE % ("/held", "200")] == 1


def test_group_by_endpoint_names_the_endpoint_function(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        (tmp_path / "open").touch()
        base = _uvicorn(group, {"KP_GROUP_BY": "endpoint", "KP_GATES": str(tmp_path)})
        for path in ("/items/1", "/items/2", "/slow", "/sync/3", "/v1/users/bob", "/held"):
            assert fetch(base + path)[0] == 200
        assert fetch(f"{base}/boom")[0] == 500
        assert fetch(f"{base}/no/such/page")[0] == 404
        m = scrape(base)
    counted = {k: v for k, v in m.items() if k.startswith("shop_http_requests_total{")}
    # Decorated endpoints keep their function's name; the mounted Starlette endpoint is named
    # too; a path no route matched is unmatched, never the raw path.
    assert counted == {
        ROUTE % ("item", "200"): 2,
        ROUTE % ("slow", "200"): 1,
        ROUTE % ("sync_endpoint", "200"): 1,
        ROUTE % ("user", "200"): 1,
        ROUTE % ("held", "200"): 1,
        ROUTE % ("boom", "500"): 1,
        ROUTE % ("unmatched", "404"): 1,
    }
    exc = 'shop_http_request_exceptions_total{exception="RuntimeError",method="GET",route="boom"}'
    assert m[exc] == 1


def test_misuse_is_refused_with_a_message() -> None:
    with pytest.raises(LookupError, match="no request is being served"):
        current_request()
    with pytest.raises(TypeError, match="init_app"):
        AppMetrics(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\['prefix'\]"):
        instrument(object(), metrics=object(), prefix="x")
    misuse = AppMetrics(registry=CollectorRegistry(), prefix="misuse")
    with pytest.raises(ValueError, match="gauge's labels cannot come from the response"):
        misuse.gauge("misuse_running", "x", labels={"code": lambda r: r})
