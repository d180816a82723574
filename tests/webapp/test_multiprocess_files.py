"""A multiprocess value file that exists but is still empty must not fail the scrape.

prometheus_client creates a worker's ``*.db`` file and sizes it just after, so for a moment it
is 0 bytes; a worker killed in that moment leaves it so for good. Its ``MultiProcessCollector``
reads every file and raises ``struct.error`` on that one, failing the whole scrape, every other
worker's values with it (upstream: prometheus/client_python#1199, open in 0.26). The full suite
hit the moment under uWSGI (a scrape answered while a respawned worker recorded its first
request). Here the file is made empty on purpose, under uvicorn and under gunicorn.

``kubepulse.webapp.multiprocess`` leaves such files out of the merge: they hold no value yet.
"""

from __future__ import annotations

from pathlib import Path

from webapp_helpers import APPS, BIN, ROOT, fetch, series

from kubepulse.lab.processes import ProcessGroup, free_port


def _scrape_with_an_empty_file(
    tmp_path: Path, argv: list[str], port: int, path: str, env: dict[str, str]
) -> tuple[dict[str, float], str]:
    mp_dir = tmp_path / "mp"
    mp_dir.mkdir()
    base = f"http://127.0.0.1:{port}"
    with ProcessGroup(tmp_path / "logs") as group:
        group.start(
            "server", argv, env={"PROMETHEUS_MULTIPROC_DIR": str(mp_dir), **env}, ready_port=port
        )
        for i in range(3):
            assert fetch(f"{base}{path}{100 + i}")[0] == 200
        assert fetch(f"{base}/metrics")[0] == 200  # the control: scrapes work until then
        (mp_dir / "counter_999999.db").touch()  # pid 999999: a worker that died in the moment
        status, body = fetch(f"{base}/metrics")
    assert status == 200, body[-300:]
    return series(body.decode()), body.decode()


def test_uvicorn_scrape_reads_past_an_empty_value_file(tmp_path: Path) -> None:
    port = free_port()
    argv = [str(BIN / "uvicorn"), "--app-dir", str(APPS), "asgi_features:app"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    m, _ = _scrape_with_an_empty_file(tmp_path, argv, port, "/items/", {})
    assert m['shop_http_requests_total{method="GET",route="/items/{item_id}",status="200"}'] == 3


def test_gunicorn_scrape_reads_past_an_empty_value_file(tmp_path: Path) -> None:
    port = free_port()
    argv = [str(BIN / "gunicorn"), "-c", str(ROOT / "examples/gunicorn.conf.py")]
    argv += ["--pythonpath", str(ROOT / "examples"), "flask_app:app"]
    env = {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"}
    m, _ = _scrape_with_an_empty_file(tmp_path, argv, port, "/items/", env)
    assert m['http_requests_total{method="GET",route="/items/<int:item_id>",status="200"}'] == 3
