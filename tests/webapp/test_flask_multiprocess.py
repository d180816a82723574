"""The Flask view decorators and options in multiprocess mode: ``apps/flask_features.py`` under
real gunicorn with three sync workers, every scrape summing all of them exactly.

A sync worker serves one request at a time, so two held requests are held by two different
workers, and the third worker answers the scrapes meanwhile.
"""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path

from webapp_helpers import (
    APPS,
    fetch,
    gunicorn_workers,
    scrape,
    settled_scrape,
    start_gunicorn,
    wait_until,
)

from kubepulse.lab.processes import ProcessGroup

ITEMS = (
    'shop_http_requests_total{method="GET",region="eu",route="/items/<int:item_id>",'
    'status="200",tenant="none"}'
)
HELD_LIVE = 'shop_held_in_progress{tenant="acme"}'
HTTP_LIVE = 'shop_http_requests_in_progress{method="GET"}'


def test_view_decorators_sum_over_three_gunicorn_workers(tmp_path: Path) -> None:
    mp_dir, gates = tmp_path / "mp", tmp_path / "gates"
    mp_dir.mkdir()
    gates.mkdir()
    app = ["--pythonpath", str(APPS), "flask_features:wsgi()"]
    with (
        ProcessGroup(tmp_path / "logs") as group,
        concurrent.futures.ThreadPoolExecutor(6) as pool,
    ):
        base, master = start_gunicorn(group, mp_dir, 3, app, {"KP_GATES": str(gates)})
        try:
            held = [pool.submit(fetch, f"{base}/held?gate=g", {"X-Tenant": "acme"}) for _ in "ab"]
            wait_until(lambda: scrape(base).get(HELD_LIVE) == 2, 20, "held views not live")
            m = scrape(base)
            assert (m[HELD_LIVE], m[HTTP_LIVE]) == (2, 2)  # one in each of two workers, summed
        finally:
            (gates / "g").touch()
        holders = {json.loads(f.result(30)[1])["pid"] for f in held}
        assert len(holders) == 2 and holders <= gunicorn_workers(master)

        kinds = ["a", "b", "a"] * 4
        answers = list(pool.map(lambda k: fetch(f"{base}/items/1?kind={k}")[0], kinds))
        slow = list(pool.map(lambda _: fetch(f"{base}/slow"), range(6)))
        assert answers == [200] * 12 and slow == [(200, b"slow")] * 6
        m = settled_scrape(base, "shop_slow_summary_seconds_count", 6)
        m = settled_scrape(base, ITEMS, 12)
    assert m['shop_item_views_total{code="200",kind="a"}'] == 8
    assert m['shop_item_views_total{code="200",kind="b"}'] == 4
    assert m["shop_slow_seconds_count"] == 6 and m['shop_slow_seconds_bucket{le="0.01"}'] == 0
    assert m["shop_slow_summary_seconds_count"] == 6
    assert m["shop_slow_summary_seconds_sum"] >= 6 * 0.03
    assert (m['shop_slow_in_progress{view="slow"}'], m[HELD_LIVE], m[HTTP_LIVE]) == (0, 0, 0)
    # The info gauge: one series with the value 1, not one per worker nor their sum.
    info = {k: v for k, v in m.items() if k.startswith("shop_build_info")}
    assert info == {'shop_build_info{commit="abc",version="1.2.3"}': 1}
