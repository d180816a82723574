"""A plain scrape streams the stored per-object text: no whole-family copy is made or kept, the
length matches what is written, and the text is that of the moment the scrape started."""

from __future__ import annotations

import copy
import gc
import gzip
import tracemalloc
from typing import Any

from helpers_cluster_exporter import CRASHLOOP_POD

from kubepulse.exporters.cluster import pods
from kubepulse.exporters.cluster.store import BATCH_BYTES, KindStore

PODS = 3000


def _pod(i: int, restarts: int = 7) -> dict[str, Any]:
    obj = copy.deepcopy(CRASHLOOP_POD)
    obj["metadata"]["name"] = f"api-{i:05d}"
    obj["metadata"]["uid"] = f"uid-{i:05d}"
    obj["status"]["containerStatuses"][0]["restartCount"] = restarts
    return obj


def _store() -> KindStore:
    store = KindStore("pods", pods.families(None), pods.prefix)
    store.apply([_pod(i) for i in range(PODS)], (), True)
    return store


def test_a_plain_scrape_is_written_in_batches_and_keeps_no_copy() -> None:
    store = _store()
    longest = max(len(v) for family in store._data for v in family.values())
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        stream = store.chunks()
        total = 0
        largest = 0
        for chunk in stream:  # what the server does, one chunk at a time
            total += len(chunk)
            largest = max(largest, len(chunk))
        del stream, chunk
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert total > 4 * BATCH_BYTES  # several MB: the bound below means something
    # No chunk is a whole family joined: each is at most a batch (and one object's text).
    assert largest <= BATCH_BYTES + longest
    # Nothing of the body stays behind once it is written (a cached join would keep ~total).
    assert kept < total / 50, (kept, total)


def test_the_length_and_text_are_those_of_when_the_scrape_started() -> None:
    store = _store()
    before = b"".join(_store().chunks())
    stream = store.chunks()
    # While the scrape is being written, pods change and go.
    store.apply([_pod(i, restarts=123456) for i in range(0, PODS, 2)], ["uid-00001"], False)
    written = b"".join(stream)
    assert written == before
    assert stream.length == len(written)
    after = store.chunks()
    text = b"".join(after)
    assert after.length == len(text)
    assert b"} 123456\n" in text and b'pod="api-00001"' not in text


def test_gzip_members_decode_to_the_streamed_text_in_both_formats() -> None:
    store = _store()
    store.apply([_pod(5, restarts=9)], ["uid-00002"], False)
    for openmetrics in (False, True):
        plain = b"".join(store.chunks(openmetrics))
        assert gzip.decompress(b"".join(store.gzip_chunks(openmetrics))) == plain
