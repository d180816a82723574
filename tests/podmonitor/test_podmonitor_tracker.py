"""The recovery state machine, fed pod objects shaped like the API's and chosen receipt times."""

from __future__ import annotations

import re
from typing import Any

from kubepulse.podmonitor.monitor import RecoveryTracker, Selection


def pod(
    name: str,
    uid: str,
    owner: str | None = "rs-1",
    ready: bool = True,
    deleting: bool = False,
    namespace: str = "ns",
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "resourceVersion": "1",
        "creationTimestamp": "2026-01-01T00:00:00Z",
    }
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicaSet"}]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:10Z"
    cond = {"type": "Ready", "status": "True" if ready else "False"}
    cond["lastTransitionTime"] = "2026-01-01T00:00:12Z"
    return {"metadata": meta, "status": {"conditions": [cond]}}


def tracker(timeout: float = 30.0, **sel: Any) -> RecoveryTracker:
    return RecoveryTracker(Selection(**sel), timeout, wall_offset=1000.0)


def test_kill_replacement_ready_is_recovered_with_per_pod_times() -> None:
    t = tracker()
    t.snapshot([pod("web-a", "u1"), pod("web-b", "u2")])
    t.observe(pod("web-a", "u1", deleting=True), now=10.0)
    t.observe_gone("u1", now=10.2)
    t.observe(pod("web-c", "u3", ready=False), now=10.5)
    t.observe(pod("web-b", "u2", deleting=True), now=11.0)
    t.observe(pod("web-d", "u4", ready=False), now=11.25)
    t.observe(pod("web-c", "u3"), now=12.5)
    t.observe(pod("web-d", "u4"), now=14.0)
    status = t.status()
    assert status.error is None and not status.unrecovered
    a, b = status.recovered
    assert (a.pod_name, a.replacement_name) == ("web-a", "web-c")
    assert (a.pod_rescheduling_time, a.pod_readiness_time, a.total_recovery_time) == (
        0.5,
        2.0,
        2.5,
    )
    assert (b.pod_rescheduling_time, b.pod_readiness_time, b.total_recovery_time) == (
        0.25,
        2.75,
        3.0,
    )
    assert a.killed_at == 1010.0 and a.deletion_timestamp == "2026-01-01T00:00:10Z"
    assert a.ready_transition_timestamp == "2026-01-01T00:00:12Z"


def test_replaced_but_never_ready_is_unrecovered_and_late_ready_too() -> None:
    t = tracker(timeout=5.0)
    t.snapshot([pod("a", "u1"), pod("b", "u2", owner="rs-2")])
    t.observe(pod("a", "u1", deleting=True), now=1.0)
    t.observe(pod("a2", "u3", ready=False), now=1.5)
    t.observe(pod("b", "u2", owner="rs-2", deleting=True), now=1.0)
    t.observe(pod("b2", "u4", owner="rs-2", ready=False), now=1.5)
    t.observe(pod("b2", "u4", owner="rs-2"), now=6.5)  # Ready 5.5 s after the kill
    status = t.status()
    assert [p.pod_name for p in status.unrecovered] == ["a", "b"]
    assert status.unrecovered[0].pod_rescheduling_time == 0.5
    assert status.unrecovered[0].pod_readiness_time is None
    assert not status.recovered and status.error is None


def test_bare_pod_and_unreplaced_pod_are_errors_naming_them() -> None:
    t = tracker(timeout=5.0)
    t.snapshot([pod("bare", "u1", owner=None), pod("web", "u2")])
    t.observe_gone("u1", now=1.0)
    t.observe(pod("web", "u2", deleting=True), now=1.0)
    status = t.status()
    assert status.errors == [
        "pod ns/bare was deleted and has no controller, so nothing replaces it",
        "pod ns/web was deleted and was not replaced within 5 s",
    ]


def test_a_late_kill_cut_short_by_the_monitors_end_says_so() -> None:
    """The monitor ends max_timeout after its snapshot; a kill near the end had less time."""
    t = tracker(timeout=5.0)
    t.snapshot([pod("web", "u1"), pod("api", "u2")])
    t.observe(pod("web", "u1", deleting=True), now=0.5)
    t.observe(pod("api", "u2", deleting=True), now=3.75)
    assert t.status(ended_at=5.5).errors == [
        "pod ns/web was deleted and was not replaced within 5 s",
        "pod ns/api was deleted and was not replaced before the monitor ended, 1.8 s later",
    ]


def test_statefulset_same_name_new_uid_is_a_replacement() -> None:
    t = tracker()
    t.snapshot([pod("db-0", "u1", owner="sts"), pod("db-1", "u2", owner="sts")])
    t.observe(pod("db-1", "u2", owner="sts", deleting=True), now=1.0)
    t.observe(pod("db-0", "u1", owner="sts", deleting=True), now=1.0)
    t.observe_gone("u1", now=1.1)
    t.observe_gone("u2", now=1.1)
    # db-0 comes back first although db-1 was killed first: matched by name, not order.
    t.observe(pod("db-0", "u3", owner="sts"), now=2.0)
    t.observe(pod("db-1", "u4", owner="sts"), now=3.0)
    status = t.status()
    assert [(p.pod_name, p.replacement_name) for p in status.recovered] == [
        ("db-1", "db-1"),
        ("db-0", "db-0"),
    ]
    assert status.recovered[0].total_recovery_time == 2.0


def test_restart_without_deletion_recovers_with_zero_rescheduling() -> None:
    t = tracker()
    t.snapshot([pod("a", "u1")])
    t.observe(pod("a", "u1", ready=False), now=3.0)
    t.observe(pod("a", "u1"), now=4.5)
    (p,) = t.status().recovered
    assert (p.disruption, p.pod_rescheduling_time, p.pod_readiness_time) == ("restart", 0.0, 1.5)


def test_replayed_events_do_not_double_count_and_repeat_kills_count_per_kill() -> None:
    t = tracker()
    t.snapshot([pod("a", "u1")])
    for now in (1.0, 1.1):  # the same deletion delivered twice (reconnect replay)
        t.observe(pod("a", "u1", deleting=True), now=now)
    t.observe_gone("u1", now=1.2)
    t.observe_gone("u1", now=1.3)
    for now in (2.0, 2.5):
        t.observe(pod("a2", "u2"), now=now)
    # The replacement is killed in turn and replaced again: a second, separate measurement.
    t.observe(pod("a2", "u2", deleting=True), now=5.0)
    t.observe(pod("a3", "u3"), now=6.0)
    status = t.status()
    assert [(p.pod_name, p.total_recovery_time) for p in status.recovered] == [
        ("a", 1.0),
        ("a2", 1.0),
    ]
    assert t.progress().killed == 2 and t.progress().ready == 2


def test_selection_patterns_filter_snapshot_but_replacements_follow_the_owner() -> None:
    t = tracker(name_pattern=re.compile("web-.*"), namespace_pattern=re.compile("shop-.*"))
    t.snapshot(
        [
            pod("web-1", "u1", namespace="shop-1"),
            pod("api-1", "u2", owner="rs-2", namespace="shop-1"),
            pod("web-2", "u3", owner="rs-3", namespace="other"),
        ]
    )
    assert t.live_pods() == [("shop-1", "web-1")]
    t.observe(pod("api-1", "u2", owner="rs-2", namespace="shop-1", deleting=True), now=1.0)
    t.observe(pod("web-1", "u1", namespace="shop-1", deleting=True), now=1.0)
    t.observe(pod("renamed-x", "u4", namespace="shop-1"), now=2.0)
    status = t.status()
    assert [(p.pod_name, p.replacement_name) for p in status.recovered] == [("web-1", "renamed-x")]


def test_resolved_at_waits_for_every_disruption() -> None:
    t = tracker()
    t.snapshot([pod("a", "u1"), pod("b", "u2")])
    assert t.resolved_at() is None
    t.observe(pod("a", "u1", deleting=True), now=1.0)
    t.observe(pod("a2", "u3"), now=2.0)
    assert t.resolved_at() == 2.0
    t.observe(pod("b", "u2", deleting=True), now=3.0)
    assert t.resolved_at() is None


def test_relist_matches_replacements_created_during_the_gap() -> None:
    t = tracker()
    t.snapshot([pod("a", "u1"), pod("b", "u2")])
    # While no watch was open, "a" was deleted and replaced, and "b" began terminating; the
    # re-list lists the replacement before "b".
    t.reconcile([pod("a2", "u3"), pod("b", "u2", deleting=True), pod("b2", "u4", ready=False)], 5.0)
    t.reconcile([pod("a2", "u3"), pod("b2", "u4")], 6.0)
    status = t.status()
    assert [(p.pod_name, p.replacement_name) for p in status.recovered] == [
        ("a", "a2"),
        ("b", "b2"),
    ]
    assert status.recovered[1].total_recovery_time == 1.0 and status.error is None


def test_replacement_killed_before_ready_continues_the_first_kill() -> None:
    t = tracker()
    t.snapshot([pod("db-1", "u1", owner="sts")])
    t.observe(pod("db-1", "u1", owner="sts", deleting=True), now=1.0)
    t.observe_gone("u1", now=1.1)
    t.observe(pod("db-1", "u2", owner="sts", ready=False), now=1.5)
    t.observe(pod("db-1", "u2", owner="sts", ready=False, deleting=True), now=1.6)
    t.observe_gone("u2", now=1.7)
    t.observe(pod("db-1", "u3", owner="sts", ready=False), now=2.0)
    t.observe(pod("db-1", "u3", owner="sts"), now=3.0)
    status = t.status()
    assert not status.unrecovered and status.error is None
    (p,) = status.recovered
    assert (p.pod_rescheduling_time, p.pod_readiness_time, p.total_recovery_time) == (1.0, 1.0, 2.0)
    assert t.progress() == type(t.progress())(killed=1, replaced=1, ready=1)
