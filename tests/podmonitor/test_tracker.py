"""The recovery state machine, fed pod objects shaped like the API's and chosen receipt times."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kubepulse.podmonitor.tracker import FieldSelector, RecoveryTracker, Selection


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
    assert (a.killed_pod_name, a.pod_name) == ("web-a", "web-c")
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
    # pod_name is the replacement, as in krkn-lib; the killed pod is killed_pod_name.
    assert [(p.killed_pod_name, p.pod_name) for p in status.unrecovered] == [
        ("a", "a2"),
        ("b", "b2"),
    ]
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
        "pod ns/bare was deleted and was not replaced within 5 s (it has no controller and no "
        "new pod took its place)",
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
    assert [(p.killed_pod_name, p.pod_name) for p in status.recovered] == [
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
    assert [(p.killed_pod_name, p.pod_name, p.total_recovery_time) for p in status.recovered] == [
        ("a", "a2", 1.0),
        ("a2", "a3", 1.0),
    ]
    assert t.progress().killed == 2 and t.progress().ready == 2


def test_patterns_match_from_the_start_as_krkn_lib_and_replacements_follow_the_owner() -> None:
    """``re.match``: ``web-`` selects ``web-1`` but not ``my-web-1``; ``shop`` selects the
    namespaces ``shop`` and ``shop-2`` alike (no ``$``), but not ``myshop``."""
    t = tracker(name_pattern=re.compile("web-"), namespace_pattern=re.compile("shop"))
    t.snapshot(
        [
            pod("web-1", "u1", namespace="shop"),
            pod("web-2", "u5", owner="rs-5", namespace="shop-2"),
            pod("my-web-1", "u2", owner="rs-2", namespace="shop"),
            pod("web-3", "u3", owner="rs-3", namespace="myshop"),
        ]
    )
    assert t.live_pods() == [("shop", "web-1"), ("shop-2", "web-2")]
    t.observe(pod("my-web-1", "u2", owner="rs-2", namespace="shop", deleting=True), now=1.0)
    t.observe(pod("web-1", "u1", namespace="shop", deleting=True), now=1.0)
    t.observe(pod("renamed-x", "u4", namespace="shop"), now=2.0)
    status = t.status()
    assert [(p.killed_pod_name, p.pod_name) for p in status.recovered] == [("web-1", "renamed-x")]


def test_namespace_filter_on_the_server_only_for_a_pattern_that_matches_one_name() -> None:
    def namespace(pattern: str) -> str | None:
        return Selection(namespace_pattern=re.compile(pattern)).namespace

    assert [namespace(p) for p in ("shop$", "^shop$", "shop", "sh.p$", "^shop")] == [
        "shop",
        "shop",
        None,
        None,
        None,
    ]


def test_bare_pod_recreated_with_its_name_is_recovered() -> None:
    """krkn-lib's test fixture: a bare pod deleted and created again by hand, same name."""
    t = tracker(timeout=10.0, label_selector="app=a")
    t.snapshot([pod("a", "u1", owner=None)])
    t.observe(pod("a", "u1", owner=None, deleting=True), now=1.0)
    t.observe_gone("u1", now=1.5)
    t.observe(pod("a", "u2", owner=None, ready=False), now=2.0)
    t.observe(pod("a", "u2", owner=None), now=3.5)
    status = t.status()
    assert status.error is None and not status.unrecovered
    (p,) = status.recovered
    assert (p.killed_pod_name, p.pod_name, p.pod_rescheduling_time) == ("a", "a", 1.0)
    assert (p.pod_readiness_time, p.total_recovery_time) == (1.5, 2.5)


def test_a_bare_pod_recreated_by_name_takes_its_own_kill_not_the_oldest() -> None:
    t = tracker(timeout=10.0, label_selector="app=a")
    t.snapshot([pod("a", "u1", owner=None), pod("b", "u2", owner=None)])
    t.observe_gone("u1", now=1.0)
    t.observe_gone("u2", now=2.0)
    t.observe(pod("b", "u3", owner=None), now=3.0)
    t.observe(pod("a", "u4", owner=None), now=5.0)
    status = t.status()
    assert [(p.killed_pod_name, p.pod_name, p.total_recovery_time) for p in status.recovered] == [
        ("a", "a", 4.0),
        ("b", "b", 1.0),
    ]


def test_a_new_unowned_pod_of_the_selection_replaces_a_bare_pod_but_no_scale_up_does() -> None:
    """krkn-lib's rule for bare pods (any new pod of the selection, after the kill), oldest
    kill first and the same namespace preferred; a pod of a watched controller never takes it."""
    t = tracker(timeout=10.0, label_selector="app=a")
    t.snapshot(
        [
            pod("bare-1", "u1", owner=None),
            pod("bare-2", "u2", owner=None, namespace="other"),
            pod("web-1", "u3"),
        ]
    )
    t.observe(pod("bare-1", "u1", owner=None, deleting=True), now=1.0)
    t.observe(pod("bare-2", "u2", owner=None, namespace="other", deleting=True), now=1.5)
    t.observe(pod("web-2", "u4", ready=True), now=2.0)  # rs-1 scales up: not a replacement
    t.observe(pod("new-other", "u5", owner=None, namespace="other"), now=3.0)
    t.observe(pod("new-ns", "u6", owner=None), now=4.0)
    status = t.status()
    assert status.error is None and not status.unrecovered
    assert [(p.namespace, p.killed_pod_name, p.pod_name) for p in status.recovered] == [
        ("ns", "bare-1", "new-ns"),
        ("other", "bare-2", "new-other"),
    ]
    assert [p.total_recovery_time for p in status.recovered] == [3.0, 1.5]


def test_a_killed_controller_pod_is_not_taken_by_a_hand_made_pod() -> None:
    t = tracker(timeout=5.0, label_selector="app=a")
    t.snapshot([pod("web-1", "u1")])
    t.observe(pod("web-1", "u1", deleting=True), now=1.0)
    t.observe(pod("by-hand", "u2", owner=None), now=2.0)
    t.observe(pod("web-2", "u3"), now=3.0)
    (p,) = t.status().recovered
    assert (p.killed_pod_name, p.pod_name) == ("web-1", "web-2")


def test_field_selector_narrows_the_snapshot_only() -> None:
    """``status.phase=Running`` as krkn's plugins pass it: a Succeeded pod is not watched, and
    the Pending replacement of a Running pod still counts."""
    t = tracker(field_selector=FieldSelector.parse("status.phase=Running,spec.nodeName!=n2"))

    def phased(name: str, uid: str, phase: str, node: str = "n1", **kw: Any) -> dict[str, Any]:
        obj = pod(name, uid, **kw)
        obj["status"]["phase"] = phase
        obj["spec"] = {"nodeName": node}
        return obj

    t.snapshot(
        [
            phased("run", "u1", "Running"),
            phased("done", "u2", "Succeeded", owner="rs-2"),
            phased("elsewhere", "u3", "Running", node="n2", owner="rs-3"),
        ]
    )
    assert t.live_pods() == [("ns", "run")]
    t.observe(phased("done", "u2", "Succeeded", owner="rs-2", deleting=True), now=1.0)
    t.observe(phased("run", "u1", "Running", deleting=True), now=1.0)
    t.observe(phased("run-2", "u4", "Pending", ready=False), now=1.5)
    t.observe(phased("run-2", "u4", "Running"), now=2.0)
    status = t.status()
    assert [(p.killed_pod_name, p.pod_name) for p in status.recovered] == [("run", "run-2")]
    assert status.error is None and not status.unrecovered


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status.phase", "cannot parse requirement 'status.phase'"),
        ("status.phase=Running,", "cannot parse requirement ''"),
        ("metadata.labels=x", "pods have no field 'metadata.labels'"),
        ("status.phase>Running", "cannot parse"),
    ],
)
def test_bad_field_selectors_name_the_argument(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^field_selector: {re.escape(message)}"):
        FieldSelector.parse(text)


def test_timeline_records_each_change_once_with_krkn_lib_statuses() -> None:
    t = tracker()
    t.snapshot([pod("a", "u1")])
    t.observe(pod("a", "u1"), now=0.5)  # no change: no event
    t.observe(pod("a", "u1", deleting=True), now=1.0)
    t.observe(pod("a", "u1", deleting=True), now=1.1)  # replayed
    t.observe_gone("u1", now=1.2)
    t.observe(pod("a2", "u2", ready=False), now=1.5)
    t.observe(pod("a2", "u2"), now=2.0)
    t.observe(pod("a2", "u2", ready=False), now=3.0)
    assert {uid: (e.name, e.initial, e.events) for uid, e in t.timeline.items()} == {
        "u1": ("a", True, [("DELETION_SCHEDULED", 1.0), ("DELETED", 1.2)]),
        "u2": ("a2", False, [("ADDED", 1.5), ("READY", 2.0), ("NOT_READY", 3.0)]),
    }


def test_resolved_at_waits_for_every_disruption() -> None:
    t = tracker()
    t.snapshot([pod("a", "u1"), pod("b", "u2")])
    assert t.resolved_at() is None
    t.observe(pod("a", "u1", deleting=True), now=1.0)
    t.observe(pod("a2", "u3"), now=2.0)
    # Replaced and Ready, but the killed pod is still terminating: krkn's delete_pod is still
    # waiting for it to go before the scenario's next kill.
    assert t.resolved_at() is None
    t.observe_gone("u1", now=2.5)
    assert t.resolved_at() == 2.5
    t.observe(pod("b", "u2", deleting=True), now=3.0)
    assert t.resolved_at() is None
    t.observe_gone("u2", now=3.2)
    assert t.resolved_at() is None  # gone, not yet replaced
    t.observe(pod("b2", "u4"), now=4.0)
    assert t.resolved_at() == 4.0


def test_a_pod_gone_without_a_deletion_seen_resolves_at_its_replacement() -> None:
    """A pod that vanished between two reads (no deletionTimestamp seen) is not terminating:
    the monitor settles from its replacement's Ready."""
    t = tracker()
    t.snapshot([pod("a", "u1")])
    t.observe_gone("u1", now=1.0)
    t.observe(pod("a2", "u2"), now=2.0)
    assert t.resolved_at() == 2.0


def test_relist_matches_replacements_created_during_the_gap() -> None:
    t = tracker()
    t.snapshot([pod("a", "u1"), pod("b", "u2")])
    # While no watch was open, "a" was deleted and replaced, and "b" began terminating; the
    # re-list lists the replacement before "b".
    t.reconcile([pod("a2", "u3"), pod("b", "u2", deleting=True), pod("b2", "u4", ready=False)], 5.0)
    t.reconcile([pod("a2", "u3"), pod("b2", "u4")], 6.0)
    status = t.status()
    assert [(p.killed_pod_name, p.pod_name) for p in status.recovered] == [
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
