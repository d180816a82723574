"""The informer's failure paths against a scripted loopback API (``kube_fake_api``).

These are stand-ins because a real API server cannot be made to do these on demand: answer 410
to one chosen watch, send bookmarks and nothing else, refuse exactly seven watches in a row,
break a stream after its second event, or refuse streamed lists while serving everything else.
The real server's 410 path is also covered against the test cluster
(``tests/exporters/cluster/test_live_cluster.py``, restarting the API server).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import pytest
from kube_fake_api import (
    Reply,
    Request,
    bookmark,
    error,
    event,
    fake_api,
    listing,
    status,
    wait_until,
)

from kubepulse.kube.client import ApiError, KubeClient
from kubepulse.kube.informer import Backoff, Informer, Resource

PODS = Resource("pods", "/api/v1")
HOLD = 30.0  # a watch the server keeps open: the test ends it with stop()


class Events:
    """An EventHandler that records what it is given, names for objects."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.times: list[float] = []

    def listed(
        self, objects: Sequence[dict[str, Any]], gone: AbstractSet[str], received: float
    ) -> None:
        self.calls.append(("LISTED", [o["metadata"]["name"] for o in objects], sorted(gone)))
        self.times.append(received)

    def changed(self, kind: str, obj: dict[str, Any], received: float) -> None:
        meta = obj["metadata"]
        self.calls.append((kind, meta["name"], meta["resourceVersion"]))
        self.times.append(received)


class Batches:
    """An InformerHandler (the exporter's kind) that records its batches."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str], bool]] = []

    def apply(self, upserts: Sequence[dict[str, Any]], deleted: Any, synced: bool) -> None:
        self.calls.append(([o["metadata"]["name"] for o in upserts], sorted(deleted), synced))


def run_until(inf: Informer, check: Callable[[], Any], timeout: float = 10.0) -> None:
    """Start ``inf``, wait for ``check``, stop it."""
    inf.start()
    try:
        wait_until(check, timeout)
    finally:
        inf.stop()


def by_resource_version(
    lists: Callable[[], Reply], watches: dict[str, Reply]
) -> Callable[[Request], Reply]:
    """A fake API's answers: each list from ``lists``, each watch from ``watches`` by the
    resourceVersion it starts at (any other gets a 500 naming it)."""

    def answer(r: Request) -> Reply:
        if r.kind == "list":
            return lists()
        version = r.query["resourceVersion"]
        return watches.get(version) or status(500, f"unexpected resourceVersion {version}")

    return answer


def informer(client: KubeClient, handler: Any, **kwargs: Any) -> Informer:
    kwargs.setdefault("backoff", Backoff(0.01, 0.05))
    return Informer(client, PODS, handler, namespace="ns", **kwargs)


@pytest.mark.parametrize("form", ["error-event", "http-status"])
def test_gone_on_watch_relists_once_and_converges(form: str) -> None:
    """410 on the resumed watch (as an ERROR event, or as the response's status): exactly one
    re-list, which hands over the new set and the UID that vanished, then a watch from the
    re-list's resourceVersion."""
    lists = iter([listing(10, "a", "b"), listing(20, "b", "c")])
    gone = Reply(events=[error(410, "too old")]) if form == "error-event" else status(410)
    answer = by_resource_version(
        lists.__next__, {"10": gone, "20": Reply(events=[event("MODIFIED", "c", 21)], hold=HOLD)}
    )
    handler = Batches()
    with fake_api(answer) as (api, client):
        inf = informer(client, handler)
        run_until(inf, lambda: len(handler.calls) == 3)
    assert handler.calls == [
        (["a", "b"], [], True),
        (["b", "c"], ["uid-a"], True),
        (["c"], [], False),
    ]
    assert [(r.kind, r.query.get("resourceVersion")) for r in api.requests] == [
        ("list", None),
        ("watch", "10"),
        ("list", None),
        ("watch", "20"),
    ]
    assert (inf.relists, inf.reconnects) == (1, 0)


def test_bookmarks_advance_the_resource_version() -> None:
    """A watch that carries only bookmarks still moves the resourceVersion, so the next watch
    resumes from the last bookmark (not from the list); bookmarks reach no handler."""
    answer = by_resource_version(
        lambda: listing(10, "a"),
        {
            "10": Reply(events=[bookmark(15), bookmark(17)]),
            "17": Reply(events=[event("MODIFIED", "a", 18)], hold=HOLD),
        },
    )
    handler = Events()
    with fake_api(answer) as (api, client):
        inf = informer(client, handler)
        run_until(inf, lambda: len(handler.calls) == 2)
    assert handler.calls == [("LISTED", ["a"], []), ("MODIFIED", "a", "18")]
    assert [r.query.get("resourceVersion") for r in api.of_kind("watch")] == ["10", "17"]
    assert inf.resource_version == "18"


SEED = 3
FAILURES = 7


@pytest.mark.parametrize("failure", ["503", "ends-at-once"])
def test_reconnect_backoff_grows_capped_with_jitter(failure: str) -> None:
    """Seven failed watches in a row (503, or a watch that ends at once with nothing in it):
    the gaps between the watches the server receives are the backoff's delays, capped
    exponential with equal jitter. The jitter comes from a seeded generator, so the expected
    delays are drawn independently from the same seed."""
    base, cap = 0.05, 0.8
    ceilings = [min(cap, base * 2**n) for n in range(FAILURES)]
    rng = random.Random(SEED)
    expected = [rng.uniform(c / 2, c) for c in ceilings]
    # The seed is informative: some delays sit well below their ceiling, so a backoff without
    # jitter (always the ceiling) cannot match them.
    assert max(c - e for c, e in zip(ceilings, expected, strict=True)) > 0.3

    def answer(r: Request) -> Reply:
        if r.kind == "list":
            return listing(10, "a")
        if len(api.of_kind("watch")) <= FAILURES:
            return status(503, "unavailable") if failure == "503" else Reply()
        return Reply(events=[bookmark(11)], hold=HOLD)

    handler = Events()
    with fake_api(answer) as (api, client):
        inf = informer(client, handler, backoff=Backoff(base, cap, random.Random(SEED)))
        run_until(inf, lambda: len(api.of_kind("watch")) == FAILURES + 1, timeout=20)
    watches = [r.at for r in api.of_kind("watch")]
    gaps = [b - a for a, b in itertools.pairwise(watches)]
    assert len(gaps) == FAILURES
    for n, (gap, want) in enumerate(zip(gaps, expected, strict=True)):
        # Never sooner than the delay; later only by a request's handling (generous for a
        # loaded 2-core machine, and still far below the next delay's growth).
        assert want - 0.005 <= gap <= want + 0.2, (n, gaps, expected)
    assert inf.reconnects == (FAILURES if failure == "503" else 0)
    assert handler.calls == [("LISTED", ["a"], [])]


@pytest.mark.parametrize("ending", ["broken", "closed"])
def test_a_stream_ended_mid_way_resumes_from_the_last_event_without_duplicates(
    ending: str,
) -> None:
    """The server replays its event log after the resourceVersion asked for, as a real one
    does, but ends the first watch after two events (a broken chunked stream, or a clean
    close). The next watch asks for the last resourceVersion delivered, so every event reaches
    the handler exactly once, and there is no second list."""
    log = [
        event("ADDED", "b", 11),
        event("MODIFIED", "a", 12),
        event("MODIFIED", "b", 13),
        event("DELETED", "b", 14),
    ]

    def answer(r: Request) -> Reply:
        if r.kind == "list":
            return listing(10, "a")
        since = int(r.query["resourceVersion"])
        later = [e for e in log if int(e["object"]["metadata"]["resourceVersion"]) > since]
        if len(api.of_kind("watch")) == 1:
            return Reply(events=later[:2], cut=ending == "broken")
        return Reply(events=later, hold=HOLD)

    handler = Events()
    with fake_api(answer) as (api, client):
        inf = informer(client, handler)
        # The extra 0.1 s is room for a duplicate to arrive, were one coming.
        run_until(inf, lambda: len(handler.calls) == 5 and time.sleep(0.1) is None)
    assert handler.calls == [
        ("LISTED", ["a"], []),
        ("ADDED", "b", "11"),
        ("MODIFIED", "a", "12"),
        ("MODIFIED", "b", "13"),
        ("DELETED", "b", "14"),
    ]
    assert [(r.kind, r.query.get("resourceVersion")) for r in api.requests] == [
        ("list", None),
        ("watch", "10"),
        ("watch", "12"),
    ]


def test_a_streamed_list_is_one_request_and_starts_over_when_cut_short() -> None:
    """``stream_lists``: the list arrives inside the watch (ADDED events up to the
    initial-events-end bookmark) and reaches the handler as one complete set. A stream broken
    before that bookmark delivers nothing partial: the next request streams the list again."""

    def answer(r: Request) -> Reply:
        if r.kind != "streamed":
            return status(500, f"unexpected {r.kind}")
        initial = [event("ADDED", "a", 5), event("ADDED", "b", 6)]
        if len(api.requests) == 1:
            return Reply(events=initial[:1], cut=True)
        return Reply(
            events=[*initial, bookmark(9, initial_end=True), event("MODIFIED", "a", 10)],
            hold=HOLD,
        )

    handler = Events()
    with fake_api(answer) as (api, client):
        inf = informer(client, handler, stream_lists=True)
        run_until(inf, lambda: len(handler.calls) == 2)
        assert client.streaming_lists is True
    assert handler.calls == [("LISTED", ["a", "b"], []), ("MODIFIED", "a", "10")]
    assert len(api.requests) == 2
    for r in api.requests:
        assert r.kind == "streamed"
        assert (r.query["resourceVersion"], r.query["resourceVersionMatch"]) == ("", "NotOlderThan")
        assert r.query["allowWatchBookmarks"] == "true"
    assert inf.resource_version == "10"


@pytest.mark.parametrize("code", [400, 422])
@pytest.mark.parametrize("form", ["http-status", "error-event"])
def test_a_refused_streamed_list_falls_back_to_list_then_watch(code: int, form: str) -> None:
    """A server without streamed lists (Kubernetes 1.33 and older) refuses ``sendInitialEvents``
    with 422 (400 from older ones), as the response's status or as an ERROR event: the informer
    lists and watches instead, at once, and the client remembers, so the next informer on it
    lists straight away."""

    def answer(r: Request) -> Reply:
        if r.kind == "streamed":
            if form == "http-status":
                return status(code, "sendInitialEvents is forbidden")
            return Reply(events=[error(code, "sendInitialEvents is forbidden")])
        if r.kind == "list":
            return listing(7, "a")
        return Reply(events=[bookmark(8)], hold=HOLD)

    with fake_api(answer) as (api, client):
        first, second = Events(), Events()
        inf = informer(client, first, stream_lists=True)
        run_until(inf, lambda: len(api.requests) == 3)
        assert client.streaming_lists is False
        other = informer(client, second, stream_lists=True)
        run_until(other, lambda: len(api.requests) == 5)
    assert [(r.kind, r.query.get("resourceVersion")) for r in api.requests] == [
        ("streamed", ""),
        ("list", None),
        ("watch", "7"),
        ("list", None),
        ("watch", "7"),
    ]
    assert first.calls == second.calls == [("LISTED", ["a"], [])]
    assert (inf.requests, other.requests, inf.reconnects) == (3, 2, 0)


def test_label_and_field_selectors_reach_every_request() -> None:
    """The streamed attempt, the list and the watch all carry both selectors, exactly."""
    label, fields = "app in (web,db),tier!=cache", "status.phase=Running"

    def answer(r: Request) -> Reply:
        if r.kind == "streamed":
            return status(422)
        if r.kind == "list":
            return listing(7, "a")
        return Reply(events=[bookmark(8)], hold=HOLD)

    with fake_api(answer) as (api, client):
        inf = informer(
            client, Events(), label_selector=label, field_selector=fields, stream_lists=True
        )
        run_until(inf, lambda: len(api.requests) == 3)
    assert [r.kind for r in api.requests] == ["streamed", "list", "watch"]
    for r in api.requests:
        assert r.path == "/api/v1/namespaces/ns/pods"
        assert (r.query["labelSelector"], r.query["fieldSelector"]) == (label, fields)


def test_each_event_is_timed_when_its_line_arrives() -> None:
    """Receipt times come from ``clock`` as each event's line is read: events the server sends
    0.3 s apart are timed 0.3 s apart, not when the watch opened or when the handler ran."""

    def answer(r: Request) -> Reply:
        if r.kind == "list":
            return listing(10, "a")
        return Reply(
            events=[event("MODIFIED", "a", 11), event("MODIFIED", "a", 12)], pause=0.3, hold=HOLD
        )

    handler = Events()
    with fake_api(answer) as (api, client):
        inf = informer(client, handler)
        run_until(inf, lambda: len(handler.calls) == 3)
    listed, first, second = handler.times
    watch_opened = api.of_kind("watch")[0].at
    assert first - watch_opened >= 0.3 - 0.01
    assert second - first >= 0.3 - 0.01
    assert listed <= watch_opened


def test_end_at_closes_the_open_watch_and_bounds_later_ones() -> None:
    """``end_at``: the watch opened after it asks the server to end by then (timeoutSeconds 1
    for 0.3 s left), and the open watch is closed at that time though the server would keep
    it open for 30 s: ``run()`` returns, with no request after it."""
    handler = Events()

    def answer(r: Request) -> Reply:
        if r.kind == "list":
            return listing(10, "a")
        return Reply(events=[bookmark(11)], hold=HOLD)

    with fake_api(answer) as (api, client):
        inf = informer(client, handler)
        real_listed = handler.listed

        def listed(*args: Any) -> None:
            real_listed(*args)
            inf.end_at(inf.clock() + 0.3)

        handler.listed = listed  # type: ignore[method-assign]
        runner = threading.Thread(target=inf.run)
        started = time.monotonic()
        runner.start()
        runner.join(5)
        elapsed = time.monotonic() - started
        alive = runner.is_alive()
        inf.stop()
    assert not alive, "run() did not end at its end time"
    # Only a time shows the watch was closed at its end rather than by the server (30 s).
    assert 0.3 <= elapsed < 3
    assert [(r.kind, r.query.get("timeoutSeconds")) for r in api.requests] == [
        ("list", None),
        ("watch", "1"),
    ]


def test_failures_that_retrying_cannot_cure_end_run() -> None:
    """``fatal_statuses`` end ``run()`` with the error; ``fail_before_sync`` ends it on any
    failure until the first complete list (the pod monitor's snapshot), retrying after."""
    with fake_api(lambda r: status(403, "pods is forbidden")) as (api, client):
        with pytest.raises(ApiError, match="HTTP 403: pods is forbidden"):
            informer(client, Events(), fatal_statuses=(403,)).run()
        assert len(api.requests) == 1
    with fake_api(lambda r: status(503, "unavailable")) as (api, client):
        with pytest.raises(ApiError, match="HTTP 503: unavailable"):
            informer(client, Events(), fail_before_sync=True).run()
        assert len(api.requests) == 1

    def answer(r: Request) -> Reply:
        if r.kind == "list":
            return listing(10, "a")
        if len(api.of_kind("watch")) <= 2:
            return status(503, "unavailable")
        return Reply(events=[bookmark(11)], hold=HOLD)

    with fake_api(answer) as (api, client):
        inf = informer(client, Events(), fail_before_sync=True)
        run_until(inf, lambda: len(api.of_kind("watch")) == 3)
        assert inf.reconnects == 2


def test_stop_ends_a_read_in_progress_at_once() -> None:
    def answer(r: Request) -> Reply:
        if r.kind == "list":
            return listing(10, "a")
        return Reply(events=[bookmark(11)], hold=HOLD)

    with fake_api(answer) as (api, client):
        inf = informer(client, Events()).start()
        wait_until(lambda: len(api.of_kind("watch")) == 1)
        time.sleep(0.1)
        started = time.monotonic()
        inf.stop()
        # Only a time shows it: the server would hold the watch for 30 s.
        assert time.monotonic() - started < 2
        assert inf._thread is not None and not inf._thread.is_alive()
