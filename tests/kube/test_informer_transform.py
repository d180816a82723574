"""The informer's ``transform`` hook, page by page, against the scripted loopback API.

A stand-in for the API server because the test must see which list page had been requested at
the moment each object was transformed (the real server gives no such view), and must choose
the pages' sizes and continue tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from kube_fake_api import Reply, Request, event, fake_api, pod, status, wait_until

from kubepulse.kube.informer import Backoff, Informer, Resource

PODS = Resource("pods", "/api/v1")
HOLD = 30.0  # the watch stays open: the test ends it with stop()
PAGES = {
    "": (["a", "b"], "t1"),
    "t1": (["c", "drop-d"], "t2"),
    "t2": (["e"], ""),
}


class Batches:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], list[str], bool]] = []

    def apply(self, upserts: Sequence[dict[str, Any]], deleted: Any, synced: bool) -> None:
        self.calls.append(([o["metadata"] for o in upserts], sorted(deleted), synced))


def test_each_page_is_kept_and_transformed_before_the_one_after_next_is_requested() -> None:
    """Objects are filtered by ``keep`` and transformed as their page arrives (at most one page
    ahead is in flight), so no page's JSON waits for the list to end; the handler gets the
    transformed objects, ``keep``'s rejects are never transformed, watch events are transformed
    and a DELETED one is handed over as decoded."""
    seen: list[tuple[str, int]] = []  # (object, list requests made when it was transformed)
    lock = threading.Lock()

    def answer(r: Request) -> Reply:
        if r.kind == "list":
            names, token = PAGES[r.query.get("continue", "")]
            meta = {"resourceVersion": "10", **({"continue": token} if token else {})}
            return Reply(body={"items": [pod(n, 10) for n in names], "metadata": meta})
        if r.query["resourceVersion"] == "10":
            return Reply(events=[event("MODIFIED", "a", 11), event("DELETED", "b", 12)], hold=HOLD)
        return status(500, f"unexpected resourceVersion {r.query['resourceVersion']}")

    handler = Batches()
    with fake_api(answer) as (api, client):

        def transform(obj: dict[str, Any]) -> dict[str, Any]:
            name = obj["metadata"]["name"]
            with lock:
                seen.append((name, len(api.of_kind("list"))))
            return {"metadata": {"uid": obj["metadata"]["uid"], "digest": f"<{name}>"}}

        inf = Informer(
            client,
            PODS,
            handler,
            namespace="ns",
            keep=lambda o: not o["metadata"]["name"].startswith("drop-"),
            transform=transform,
            backoff=Backoff(0.01, 0.05),
        )
        inf.start()
        try:
            wait_until(lambda: len(handler.calls) == 3, 10.0)
        finally:
            inf.stop()
    names = [name for name, _ in seen]
    assert names == ["a", "b", "c", "e", "a"]
    # Page 1's objects were transformed before page 3 was asked for, page 2's before the watch.
    assert [requests <= 2 for _, requests in seen[:2]] == [True, True]
    assert [requests <= 3 for _, requests in seen[2:4]] == [True, True]
    assert handler.calls == [
        (
            [
                {"uid": "uid-a", "digest": "<a>"},
                {"uid": "uid-b", "digest": "<b>"},
                {"uid": "uid-c", "digest": "<c>"},
                {"uid": "uid-e", "digest": "<e>"},
            ],
            [],
            True,
        ),
        ([{"uid": "uid-a", "digest": "<a>"}], [], False),
        ([], ["uid-b"], False),
    ]
    assert [r.query.get("continue") for r in api.of_kind("list")] == [None, "t1", "t2"]
    assert inf.requests == 4
