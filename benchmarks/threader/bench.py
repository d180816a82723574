"""Threader overhead against plain threading.Thread and ThreadPoolExecutor.

Each contender runs N start+join cycles of a trivial target; the best of several interleaved
rounds is kept, so that a noisy neighbour slows one round, not the result.
Target: Threader <= 1.2x Thread.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import table, write_results
from kubepulse.threader import Threader

CYCLES = 10_000
ROUNDS = 5


def work(x: int) -> int:
    return x + 1


def plain_thread() -> None:
    for i in range(CYCLES):
        t = threading.Thread(target=work, args=(i,))
        t.start()
        t.join()


def threader() -> None:
    for i in range(CYCLES):
        t = Threader(target=work, args=(i,))
        t.start()
        t.join()
        t.result()


def executor_fresh() -> None:
    """A new single-worker pool per job: what it costs to get a fresh thread from an executor."""
    for i in range(CYCLES):
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(work, i).result()


def executor_reused() -> None:
    """One pool for all jobs: no thread start per job, shown for scale."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        for i in range(CYCLES):
            pool.submit(work, i).result()


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    contenders = {
        "threading.Thread (baseline)": plain_thread,
        "kubepulse Threader": threader,
        "ThreadPoolExecutor, one per job": executor_fresh,
        "ThreadPoolExecutor, reused": executor_reused,
    }
    # Rounds interleave the contenders so that background load hits them all alike.
    results = {name: float("inf") for name in contenders}
    for _ in range(ROUNDS):
        for name, fn in contenders.items():
            results[name] = min(results[name], timed(fn))
    base = results["threading.Thread (baseline)"]
    rows = [
        (name, f"{secs:.3f}", f"{secs / CYCLES * 1e6:.1f}", f"{secs / base:.2f}x")
        for name, secs in results.items()
    ]
    ratio = results["kubepulse Threader"] / base
    verdict = "met" if ratio <= 1.2 else "MISSED"
    body = (
        f"{CYCLES:,} start+join cycles of a trivial target, best of {ROUNDS} rounds.\n\n"
        + table(["contender", "total s", "us per cycle", "vs Thread"], rows)
        + f"\n\nTarget Threader <= 1.2x Thread: {verdict} ({ratio:.2f}x)."
    )
    write_results("threader", "Threader overhead", body)
    return 0 if ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
