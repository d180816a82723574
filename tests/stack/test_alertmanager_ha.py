"""Two Alertmanagers gossiping on loopback, fed by two Prometheus replicas, notify each alert once,
and keep doing so after the member that was sending is killed.

Everything is real: the Alertmanager and Prometheus releases the Helm chart deploys, the stack's
Alertmanager config (its webhook receiver pointed at ``WebhookReceiver``), the stack's Prometheus
config as each replica's (external labels ``cluster`` and ``replica``, ``replica`` dropped from
alerts). The alerts come from a rule file the test writes and reloads, so a new alert can be
raised after the kill. The control test runs the same two Alertmanagers without gossip and sees
every notification twice, so the once-only check can fail.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubepulse.lab.ha import (
    alertmanager_status,
    reload,
    start_alertmanager_cluster,
    start_prometheus_replicas,
)
from kubepulse.lab.processes import ProcessGroup
from kubepulse.lab.receiver import WebhookReceiver
from kubepulse.lab.servers import alertmanager_alerts, wait_until

# Longer than the whole notify path of the slowest member: group_wait 1 s, then 2 s of
# peer-timeout per member ahead of it, plus the replicas' 1 s rule interval. A duplicate would
# arrive within it.
SETTLE_SECONDS = 8.0


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    got = WebhookReceiver()
    yield got
    got.close()


def _write_rules(path: Path, alertnames: list[str]) -> None:
    rules = [
        {
            "alert": name,
            "expr": "vector(1)",
            "labels": {"severity": "warning", "namespace": "shop"},
            "annotations": {"summary": f"{name} fires while the rule exists"},
        }
        for name in alertnames
    ]
    doc = {"groups": [{"name": "failover", "interval": "1s", "rules": rules}]}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")


def _notifications(receiver: WebhookReceiver, alertname: str) -> list[dict[str, str]]:
    """The labels of every firing ``alertname`` alert the webhook received, one per post."""
    return [alert["labels"] for _, alert in receiver.alerts("/webhook", "firing", alertname)]


def _senders(group: ProcessGroup, alertname: str) -> list[str]:
    """The Alertmanagers whose debug log records a successful webhook notification for
    ``alertname``'s group."""
    return [
        p.name
        for p in group.processes
        if p.name.startswith("alertmanager-")
        and any(
            "Notify success" in line and alertname in line and "webhook" in line
            for line in p.log_path.read_text(errors="replace").splitlines()
        )
    ]


def _start_lab(
    group: ProcessGroup, tmp_path: Path, receiver: WebhookReceiver, *, clustered: bool
) -> tuple[list[str], dict[str, str], Path]:
    ams = start_alertmanager_cluster(group, tmp_path, receiver.url, clustered=clustered)
    if clustered:
        wait_until(
            lambda: all(
                alertmanager_status(u)["cluster"]["status"] == "ready"
                and len(alertmanager_status(u)["cluster"]["peers"]) == 2
                for u in ams
            ),
            60,
            what="both Alertmanagers see two peers",
        )
    rules = tmp_path / "failover.yml"
    _write_rules(rules, ["FailoverBefore"])
    proms = start_prometheus_replicas(
        group,
        tmp_path,
        cluster="east",
        replicas=["a", "b"],
        targets={},
        alertmanager_urls=ams,
        rule_files=[rules],
    )
    return ams, proms, rules


def test_killing_the_sending_alertmanager_still_notifies_each_alert_exactly_once(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        ams, proms, rules = _start_lab(group, tmp_path, receiver, clustered=True)
        assert len(proms) == 2

        # Both members hold the alert both replicas send, as one alert: no replica label.
        def held() -> bool:
            return all(
                [a["labels"].get("alertname") for a in alertmanager_alerts(u)] == ["FailoverBefore"]
                for u in ams
            )

        wait_until(held, 30, what="both Alertmanagers hold FailoverBefore once")
        for url in ams:
            (alert,) = alertmanager_alerts(url)
            assert "replica" not in alert["labels"]
            assert alert["labels"]["cluster"] == "east"

        wait_until(lambda: _notifications(receiver, "FailoverBefore"), 30, what="a notification")
        time.sleep(SETTLE_SECONDS)
        assert _notifications(receiver, "FailoverBefore") == [
            {
                "alertname": "FailoverBefore",
                "cluster": "east",
                "namespace": "shop",
                "severity": "warning",
            }
        ]
        (sender,) = _senders(group, "FailoverBefore")

        # Kill the member that sent; the survivor alone must deliver the next alert, once, and
        # must not re-send the first (the notification log it shared says it went out).
        (killed,) = [p for p in group.processes if p.name == sender]
        killed.stop()
        assert not killed.alive()
        _write_rules(rules, ["FailoverBefore", "FailoverAfter"])
        for url in proms.values():
            reload(url)
        wait_until(lambda: _notifications(receiver, "FailoverAfter"), 60, what="FailoverAfter")
        time.sleep(SETTLE_SECONDS)
        assert len(_notifications(receiver, "FailoverAfter")) == 1
        assert len(_notifications(receiver, "FailoverBefore")) == 1
        survivor = {"alertmanager-0", "alertmanager-1"} - {sender}
        assert _senders(group, "FailoverAfter") == sorted(survivor)


def test_without_gossip_two_alertmanagers_notify_twice(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    """Control: the same pair without clustering sends the notification once per member."""
    with ProcessGroup(tmp_path / "logs") as group:
        _start_lab(group, tmp_path, receiver, clustered=False)
        wait_until(
            lambda: len(_notifications(receiver, "FailoverBefore")) >= 2, 30, what="two posts"
        )
        time.sleep(SETTLE_SECONDS)
        assert len(_notifications(receiver, "FailoverBefore")) == 2
        assert sorted(_senders(group, "FailoverBefore")) == ["alertmanager-0", "alertmanager-1"]
