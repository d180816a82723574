"""AppMetrics options and per-view decorators, through Flask's real dev server in a subprocess.

The app (``apps/flask_features.py``) is built by an app factory with ``init_app``, a prefix,
static and per-request labels, custom buckets, excluded paths, ``@untracked``, the four view
decorators with request and response labels, an info metric and a label-value cap of 3.
"""

from __future__ import annotations

import sys
from pathlib import Path

from webapp_helpers import APPS, fetch, quiet_scrape

from kubepulse.lab.processes import ProcessGroup, free_port

T = {"X-Tenant": "acme"}
ITEMS = (
    'shop_http_requests_total{method="GET",region="eu",route="/items/<int:item_id>",'
    'status="%s",tenant="%s"}'
)


def _serve(group: ProcessGroup, metrics_port: int | None = None) -> str:
    port = free_port()
    argv = [sys.executable, str(APPS / "flask_features.py"), str(port)]
    argv += [str(metrics_port)] if metrics_port else []
    group.start(
        "flask",
        argv,
        ready_url=f"http://127.0.0.1:{port}/healthz" if not metrics_port else None,
        ready_port=port,
    )
    return f"http://127.0.0.1:{port}"


def test_prefix_labels_buckets_exclusions_and_view_metrics(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        base = _serve(group)
        assert fetch(f"{base}/items/7")[0] == 203
        for kind in ("a", "b", "a", "c", "d"):
            assert fetch(f"{base}/items/1?kind={kind}", T)[0] == 200
        assert fetch(f"{base}/slow", T) == (200, b"slow")
        assert fetch(f"{base}/ping", T) == (200, b"pong")
        assert fetch(f"{base}/assets/app.css", T) == (200, b"app.css")
        assert fetch(f"{base}/admin", T) == (200, b"admin")
        m = quiet_scrape(base)

    # Default metrics: prefixed, with the static region and the per-request tenant label.
    assert m[ITEMS % ("200", "acme")] == 5
    assert m[ITEMS % ("203", "none")] == 1
    slow = 'method="GET",region="eu",route="/slow",status="200",tenant="acme"'
    # Buckets (0.05, 0.5, 5): /slow sleeps 30 ms, so it lands in the first bucket on an idle host
    # and in a later one under load; the set of bounds is what the option promises.
    bounds = {
        k.split('le="')[1].split('"')[0]
        for k in m
        if k.startswith("shop_http_request_duration_seconds_bucket") and "/slow" in k
    }
    assert bounds == {"0.05", "0.5", "5.0", "+Inf"}
    assert m[f"shop_http_request_duration_seconds_count{{{slow}}}"] == 1
    # Excluded paths and the @untracked view are not counted at all; neither is unprefixed.
    routes = {k for k in m if k.startswith("shop_http_requests_total")}
    assert len(routes) == 3, routes
    assert not any("ping" in k or "assets" in k or "admin" in k for k in m)
    assert not any(k.startswith("http_requests_total") for k in m)
    # View decorators: request label (kind, capped at 3 values: plain, a, b; c and d become other)
    # and response label (code).
    assert m['shop_item_views_total{code="200",kind="a"}'] == 2
    assert m['shop_item_views_total{code="200",kind="b"}'] == 1
    assert m['shop_item_views_total{code="203",kind="plain"}'] == 1
    assert m['shop_item_views_total{code="200",kind="other"}'] == 2
    assert (
        m['shop_http_label_values_dropped_total{label="kind",metric="shop_item_views_total"}'] == 2
    )
    assert m["shop_slow_seconds_count"] == 1 and m['shop_slow_seconds_bucket{le="0.01"}'] == 0
    assert m["shop_slow_summary_seconds_count"] == 1 and m["shop_slow_summary_seconds_sum"] >= 0.03
    assert m['shop_slow_in_progress{view="slow"}'] == 0
    assert m['shop_build_info{commit="abc",version="1.2.3"}'] == 1


def test_route_label_cap_counts_what_it_dropped(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        base = _serve(group)
        for tenant in ("t1", "t2", "t3", "t4", "t5"):
            assert fetch(f"{base}/items/2", {"X-Tenant": tenant})[0] == 200
        m = quiet_scrape(base)
    # The tenant label keeps its first 3 values; t4 and t5 are folded into "other" and counted.
    tenants = {
        k.split('tenant="')[1].split('"')[0] for k in m if k.startswith("shop_http_requests_total")
    }
    assert tenants == {"t1", "t2", "t3", "other"}
    assert m[ITEMS % ("200", "other")] == 2
    assert (
        m['shop_http_label_values_dropped_total{label="tenant",metric="shop_http_requests_total"}']
        == 2
    )


def test_metrics_on_a_separate_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    with ProcessGroup(tmp_path / "logs") as group:
        base = _serve(group, metrics_port)
        assert fetch(f"{base}/items/3", T)[0] == 200
        assert fetch(f"{base}/metrics")[0] == 404  # not mounted on the app
        m = quiet_scrape(f"http://127.0.0.1:{metrics_port}")
    assert m[ITEMS % ("200", "acme")] == 1
    assert (
        m[
            'shop_http_requests_total{method="GET",region="eu",route="unmatched",status="404",tenant="none"}'
        ]
        == 1
    )
