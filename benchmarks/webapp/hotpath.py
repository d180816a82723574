"""Where the Flask copies' time goes: ``python benchmarks/webapp/hotpath.py [REQUESTS]``.

Starts the benchmark's Flask server (``servers.py``) with each copy under its own ``cProfile``
profiler, sends REQUESTS (default 5,000) real requests over loopback to each copy in turn as
``bench.py`` does, and prints each copy's top functions by own time. The profiler adds its own
cost to every Python call, so compare the copies' lists and call counts, not their totals with
``bench.py``'s numbers. Not part of ``make bench``; nothing is written.
"""

from __future__ import annotations

import http.client
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import COPIES, SERVERS, _get

from kubepulse.lab.processes import ProcessGroup, free_port


def main(requests: int) -> int:
    port = free_port()
    with tempfile.TemporaryDirectory() as logs, ProcessGroup(Path(logs)) as group:
        argv = [sys.executable, str(SERVERS), "flask", str(port)]
        group.start("flask", argv, env={"WEBAPP_BENCH_PROFILE": "1"}, ready_port=port, timeout=60)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(requests):
            for copy in COPIES:
                _get(conn, f"/{copy}/items/{i % 50}")
        print(_get(conn, "/profile").decode())
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
