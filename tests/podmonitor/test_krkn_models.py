"""The krkn-compatible models without a cluster: PodsStatus from a dict, PodsSnapshot JSON, and a
krkn-lib snapshot's timeline replayed through kubepulse's rules, next to krkn-lib's own classes."""

from __future__ import annotations

import json

import pytest
from krkn_lib.models.k8s import AffectedPod as KrknAffectedPod
from krkn_lib.models.k8s import PodsStatus as KrknPodsStatus
from krkn_lib.models.pod_monitor.models import MonitoredPod as KrknMonitoredPod
from krkn_lib.models.pod_monitor.models import PodEvent as KrknPodEvent
from krkn_lib.models.pod_monitor.models import PodsSnapshot as KrknPodsSnapshot
from krkn_lib.models.pod_monitor.models import PodStatus as KrknPodStatus

from kubepulse.podmonitor import AffectedPod, PodsStatus
from kubepulse.podmonitor.krkn import MonitoredPod, PodEvent, PodsSnapshot, PodStatus


def test_pods_status_from_a_dict_reads_what_krkn_lib_reads() -> None:
    """krkn's telemetry dict (``json.dumps(default=__dict__)``) read by both libraries."""
    theirs = KrknPodsStatus()
    theirs.recovered.append(KrknAffectedPod("web-2", "shop", 3.0, 2.0, 1.0))
    theirs.unrecovered.append(KrknAffectedPod("db-1", "shop"))
    data = json.loads(json.dumps(theirs, default=lambda o: o.__dict__))
    data["extra_key"] = "ignored, as krkn-lib ignores it"
    ours = PodsStatus(data)
    assert ours == PodsStatus(
        [AffectedPod("web-2", "shop", 3.0, 2.0, 1.0)], [AffectedPod("db-1", "shop")], None
    )
    # And the other way: kubepulse's status, with its extra fields, read by krkn-lib.
    ours.recovered[0].killed_pod_name = "web-1"
    back = KrknPodsStatus(json.loads(json.dumps(ours, default=lambda o: o.__dict__)))
    assert [(p.pod_name, p.total_recovery_time) for p in back.recovered] == [("web-2", 3.0)]
    with pytest.raises(ValueError, match="give a dict alone"):
        PodsStatus(data, [])


def krkn_lib_snapshot() -> KrknPodsSnapshot:
    """A krkn-lib snapshot: pod a killed at 10 and replaced by a-2 (ADDED 11, READY 12); pod b
    killed at 10 and never replaced."""

    def pod(name: str, *events: tuple[KrknPodStatus, float]) -> KrknMonitoredPod:
        p = KrknMonitoredPod()
        p.name, p.namespace = name, "shop"
        for status, t in events:
            e = KrknPodEvent(timestamp=t)
            e.status = status
            p.status_changes.append(e)
        return p

    snap = KrknPodsSnapshot()
    snap.initial_pods = ["a", "b"]
    snap.added_pods = ["a-2"]
    snap.pods = {
        "a": pod("a", (KrknPodStatus.DELETION_SCHEDULED, 10.0), (KrknPodStatus.DELETED, 10.5)),
        "b": pod("b", (KrknPodStatus.DELETION_SCHEDULED, 10.0)),
        "a-2": pod("a-2", (KrknPodStatus.ADDED, 11.0), (KrknPodStatus.READY, 12.0)),
    }
    return snap


def test_a_krkn_lib_snapshot_is_read_and_replayed_through_kubepulse_rules() -> None:
    snap = krkn_lib_snapshot()
    text = json.dumps(snap.to_dict())
    ours = PodsSnapshot(text)
    assert (ours.initial_pods, ours.added_pods) == (["a", "b"], ["a-2"])
    assert ours.pods["a-2"] == MonitoredPod(
        "shop", "a-2", [PodEvent(PodStatus.ADDED, 11.0), PodEvent(PodStatus.READY, 12.0)]
    )
    status = ours.get_pods_status()
    (recovered,) = status.recovered
    assert (recovered.pod_name, recovered.killed_pod_name) == ("a-2", "a")
    assert (recovered.pod_rescheduling_time, recovered.pod_readiness_time) == (1.0, 1.0)
    assert recovered.total_recovery_time == 2.0
    # Never replaced: unrecovered under its own name (as krkn-lib 7), and the reason in error.
    assert [(p.pod_name, p.replacement_name) for p in status.unrecovered] == [("b", None)]
    assert status.error is not None and "pod shop/b was deleted" in status.error
    # krkn-lib on the same snapshot: same pods; its readiness counts from the deletion (2 s,
    # kubepulse's total) and its total adds the rescheduling again (3 s).
    theirs = snap.get_pods_status()
    assert [
        (p.pod_name, p.pod_rescheduling_time, p.pod_readiness_time) for p in theirs.recovered
    ] == [("a-2", 1.0, 2.0)]
    assert theirs.recovered[0].total_recovery_time == 3.0
    assert [p.pod_name for p in theirs.unrecovered] == ["b"]


def test_kubepulse_snapshot_json_round_trip_keeps_its_status() -> None:
    snap = PodsSnapshot()
    snap.resource_version = "42"
    snap.initial_pods = ["a"]
    snap.pods = {"a": MonitoredPod("shop", "a", [PodEvent(PodStatus.DELETION_SCHEDULED, 5.0)])}
    snap.pods_status = PodsStatus(unrecovered=[AffectedPod("a", "shop", killed_pod_name="a")])
    back = PodsSnapshot(json.dumps(snap.to_dict()))
    assert back.to_dict() == snap.to_dict()
    assert back.get_pods_status() == snap.pods_status
    assert back.get_pods_status() is not back.pods_status  # a copy the caller may change
    # krkn-lib reads it too (it ignores pods_status).
    theirs = KrknPodsSnapshot(json.dumps(snap.to_dict()))
    assert theirs.initial_pods == ["a"] and theirs.pods["a"].status_changes[0].timestamp == 5.0


@pytest.mark.parametrize("text", ["{", "[]", '{"pods": 3}', '{"pods": [], "added_pods": []}'])
def test_a_malformed_snapshot_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^PodsSnapshot: not a pods snapshot"):
        PodsSnapshot(text)
