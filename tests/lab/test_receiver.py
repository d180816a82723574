"""The webhook receiver, over real HTTP on loopback: what it keeps, filters and answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from kubepulse.lab.receiver import WebhookReceiver


def post(url: str, data: bytes) -> int:
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def notification(receiver: str, *alerts: tuple[str, str]) -> bytes:
    """An Alertmanager webhook body with one alert per (alertname, status)."""
    body = {
        "version": "4",
        "receiver": receiver,
        "status": alerts[0][1],
        "alerts": [{"status": s, "labels": {"alertname": n}} for n, s in alerts],
    }
    return json.dumps(body).encode()


@pytest.fixture
def seen() -> list[tuple[str, str, dict[str, Any]]]:
    return []


@pytest.fixture
def hooks(seen: list[tuple[str, str, dict[str, Any]]]) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(lambda path, name, alert: seen.append((path, name, alert)))
    try:
        yield receiver
    finally:
        receiver.close()


def test_keeps_bodies_by_path_and_filters_alerts(
    hooks: WebhookReceiver, seen: list[tuple[str, str, dict[str, Any]]]
) -> None:
    assert hooks.url == f"http://127.0.0.1:{hooks.port}"
    assert (
        post(f"{hooks.url}/webhook", notification("team", ("A", "firing"), ("B", "firing"))) == 200
    )
    assert post(f"{hooks.url}/webhook", notification("team", ("A", "resolved"))) == 200
    assert post(f"{hooks.url}/slack", json.dumps({"text": "hi"}).encode()) == 200

    assert hooks.bodies("/slack") == [{"text": "hi"}]
    assert len(hooks.bodies("/webhook")) == 2
    assert len(hooks.bodies()) == 3
    firing_a = hooks.alerts("/webhook", "firing", "A")
    assert [(n["receiver"], a["labels"]["alertname"]) for n, a in firing_a] == [("team", "A")]
    assert [a["status"] for _, a in hooks.alerts(alertname="A")] == ["firing", "resolved"]
    assert len(hooks.alerts(status="firing")) == 2
    assert hooks.alerts("/slack") == []

    records = hooks.records("resolved")
    assert records == [
        {"path": "/webhook", "receiver": "team", "status": "resolved", "labels": {"alertname": "A"}}
    ]
    assert len(hooks.records()) == 3
    # on_alert saw every alert of every notification, in order, with its path and receiver.
    assert [(p, r, a["labels"]["alertname"], a["status"]) for p, r, a in seen] == [
        ("/webhook", "team", "A", "firing"),
        ("/webhook", "team", "B", "firing"),
        ("/webhook", "team", "A", "resolved"),
    ]


def test_a_body_that_is_not_json_is_refused_and_not_kept(
    hooks: WebhookReceiver, seen: list[tuple[str, str, dict[str, Any]]]
) -> None:
    assert post(f"{hooks.url}/webhook", b"{not json") == 400
    assert post(f"{hooks.url}/webhook", b"") == 200
    assert hooks.bodies("/webhook") == [None]
    assert hooks.alerts() == [] and hooks.records() == [] and seen == []


def test_close_frees_the_port() -> None:
    receiver = WebhookReceiver()
    url = receiver.url
    receiver.close()
    with pytest.raises(urllib.error.URLError):
        post(f"{url}/webhook", b"{}")
