"""The alerting pipeline's own alerts through a real Alertmanager with the committed routes.

Watchdog must reach the ``heartbeat`` receiver, again and again, and no other receiver; while
InfoInhibitor fires in a namespace, that namespace's info alerts are inhibited and the others'
are not. Alerts are posted to Alertmanager's API as Prometheus would; the rules that raise them
are unit-tested by promtool (deploy/prometheus/tests/general_test.yml).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from kubepulse.lab.processes import ProcessGroup
from kubepulse.lab.receiver import WebhookReceiver
from kubepulse.lab.servers import (
    alertmanager_alerts,
    post_alerts,
    start_stack_alertmanager,
    wait_until,
)
from kubepulse.stack.alertmanager import load_alertmanager_config


def states(url: str) -> dict[str, dict[str, Any]]:
    """Each alert Alertmanager holds, keyed ``alertname/namespace``, with its status."""
    return {
        f"{a['labels']['alertname']}/{a['labels'].get('namespace', '')}": a
        for a in alertmanager_alerts(url)
    }


def alert(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": severity, "cluster": "c1", **labels}}


def test_the_heartbeat_route_repeats_watchdog_every_minute() -> None:
    """The committed timings: a dead man's switch needs a steady beat, not the 4 h default."""
    route = next(
        r
        for r in load_alertmanager_config()["route"]["routes"]
        if r.get("matchers") == ['alertname="Watchdog"']
    )
    assert route["receiver"] == "heartbeat"
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "0s",
        "1m",
        "1m",
    )
    receiver = next(r for r in load_alertmanager_config()["receivers"] if r["name"] == "heartbeat")
    assert [h["send_resolved"] for h in receiver["webhook_configs"]] == [False]


def test_watchdog_reaches_only_the_heartbeat_receiver_repeatedly(
    tmp_path: Path, hooks: WebhookReceiver
) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        url = start_stack_alertmanager(group, tmp_path / "am", hooks.url, repeat_interval="1s")
        post_alerts(
            url, [alert("Watchdog", "none"), alert("KubePodNotReady", "warning", namespace="shop")]
        )

        def beats() -> list[Any]:
            found = [
                body
                for body in hooks.bodies("/webhook")
                if any(a["labels"]["alertname"] == "Watchdog" for a in body["alerts"])
            ]
            return found if len(found) >= 3 else []

        watchdog = wait_until(beats, timeout=30, what="three Watchdog notifications")
        others = wait_until(
            lambda: [b for b in hooks.bodies("/webhook") if b["receiver"] == "team"],
            timeout=15,
            what="the warning's notification",
        )
    # The warning shows the same webhook URL carries other receivers too, so the receiver
    # field is what tells the heartbeat apart.
    assert {b["receiver"] for b in watchdog} == {"heartbeat"}
    assert [[a["labels"]["alertname"] for a in b["alerts"]] for b in watchdog[:3]] == [
        ["Watchdog"]
    ] * 3
    assert all(a["labels"]["alertname"] == "KubePodNotReady" for b in others for a in b["alerts"])


def test_info_alerts_are_inhibited_only_where_info_inhibitor_fires(
    tmp_path: Path, hooks: WebhookReceiver
) -> None:
    """shop: an info alert alone, so InfoInhibitor fires there. web: an info alert beside a
    warning, so it does not. Resolving shop's InfoInhibitor releases shop's info alert (the
    control: the inhibition comes from InfoInhibitor and nothing else)."""
    inhibitor = alert("InfoInhibitor", "none", namespace="shop")
    sent = [
        inhibitor,
        alert("KubeQuotaAlmostFull", "info", namespace="shop"),
        alert("KubeQuotaAlmostFull", "info", namespace="web"),
        alert("KubePodCrashLooping", "warning", namespace="web"),
    ]
    with ProcessGroup(tmp_path / "logs") as group:
        url = start_stack_alertmanager(group, tmp_path / "am", hooks.url, repeat_interval="1s")
        post_alerts(url, sent)

        def inhibited() -> dict[str, dict[str, Any]] | None:
            got = states(url)
            suppressed = [a for a in got.values() if a["status"]["state"] == "suppressed"]
            return got if len(got) == 4 and suppressed else None

        held = wait_until(inhibited, timeout=15, what="inhibition applied")

        def notified() -> list[tuple[str, str, str | None]]:
            return [
                (b["receiver"], a["labels"]["alertname"], a["labels"].get("namespace"))
                for b in hooks.bodies("/webhook")
                for a in b["alerts"]
            ]

        # Web's info alert and its warning can reach the team in separate notifications (their
        # groups flush on their own timers): wait for the info one itself.
        wait_until(
            lambda: ("team", "KubeQuotaAlmostFull", "web") in notified(),
            timeout=15,
            what="web's info alert notified",
        )
        notified_before = notified()

        ended = datetime.datetime.now(datetime.UTC).isoformat()
        post_alerts(url, [{**inhibitor, "endsAt": ended}])

        def active() -> dict[str, dict[str, Any]] | None:
            got = states(url)
            return got if got["KubeQuotaAlmostFull/shop"]["status"]["state"] == "active" else None

        released = wait_until(active, timeout=15, what="shop's info alert released")
        wait_until(
            lambda: any(
                a["labels"]["namespace"] == "shop"
                for b in hooks.bodies("/webhook")
                for a in b["alerts"]
                if a["labels"]["alertname"] == "KubeQuotaAlmostFull"
            ),
            timeout=15,
            what="shop's info alert notified once released",
        )

    assert {k: a["status"]["state"] for k, a in held.items()} == {
        "InfoInhibitor/shop": "active",
        "KubeQuotaAlmostFull/shop": "suppressed",
        "KubeQuotaAlmostFull/web": "active",
        "KubePodCrashLooping/web": "active",
    }
    assert held["KubeQuotaAlmostFull/shop"]["status"]["inhibitedBy"] == [
        held["InfoInhibitor/shop"]["fingerprint"]
    ]
    # InfoInhibitor goes to the null receiver: no notification ever carries it. Shop's info
    # alert was not notified while inhibited; web's was, to its team.
    assert ("team", "KubeQuotaAlmostFull", "web") in notified_before
    assert not [n for n in notified_before if n[1] == "InfoInhibitor" or n[2] == "shop"]
    assert released["KubeQuotaAlmostFull/shop"]["status"]["inhibitedBy"] == []
