"""Prometheus's volume for the demo workload: series, samples per second, bytes per sample on disk.

Starts what ``kubepulse demo`` starts up to its exporters (the local kwok cluster, the sample
workloads, every kubepulse exporter, node_exporter, the Pushgateway, blackbox_exporter, all on
127.0.0.1), then Prometheus servers over the same scrape jobs and the stack's rules, at the
chart's 30 s interval and at 15 s and 1 s. The 1 s one cuts 2-minute blocks
(``--storage.tsdb.{min,max}-block-duration``), so a block holds 120 samples per series: what a
production 2 h block holds at 60 s (and half of what it holds at 30 s: real blocks compress at
least as well). Measured:

- series per cluster: ``prometheus_tsdb_head_series`` once every job has been scraped;
- samples per second: the rate of ``prometheus_tsdb_head_samples_appended_total``, per interval;
- bytes per sample on disk: each block's files over its ``meta.json`` ``numSamples``; and the
  write-ahead log's size over the samples appended while it held them all (before the first
  truncation).

Run: ``python benchmarks/run.py prometheus_volume`` (about 8 minutes; ``VOLUME_SECONDS`` sets how
long the 1 s server runs, at least 300).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import table, write_results
from kubepulse.demo import workloads
from kubepulse.demo.run import Demo, DemoOptions
from kubepulse.lab.processes import free_port
from kubepulse.lab.servers import api_get, start_prometheus
from kubepulse.stack.prometheus import render_prometheus_config, render_rule_files

INTERVALS = ("30s", "15s", "1s")
BLOCK = "2m"
SECONDS = max(300.0, float(os.environ.get("VOLUME_SECONDS", "420")))
CLUSTER = "kubepulse-volume"


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _scalar(url: str, query: str) -> float:
    result = api_get(url, "/api/v1/query", {"query": query})["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _blocks(data: Path) -> list[dict[str, Any]]:
    """Each persisted block's samples, series and bytes (chunks, index, all)."""
    out = []
    for meta in sorted(data.glob("*/meta.json")):
        stats = json.loads(meta.read_text()).get("stats", {})
        if not stats.get("numSamples"):
            continue
        out.append(
            {
                "samples": stats["numSamples"],
                "series": stats["numSeries"],
                "bytes": _dir_bytes(meta.parent),
                "chunks_bytes": _dir_bytes(meta.parent / "chunks"),
            }
        )
    return out


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="kubepulse-volume-"))
    demo = Demo(
        DemoOptions(output=workdir / "demo", duration=None, cluster_name=CLUSTER, render=False),
        echo=lambda line: print(line, flush=True),
    )
    servers: dict[str, str] = {}
    data: dict[str, Path] = {}
    try:
        demo.out.mkdir(parents=True, exist_ok=True)
        demo.start_cluster()
        demo.deploy_workloads()
        targets = demo.start_exporters()
        for interval in INTERVALS:
            port = free_port()
            home = workdir / f"prometheus-{interval}"
            rules = render_rule_files(home / "rules")
            config = render_prometheus_config(
                cluster=CLUSTER,
                scrape_interval=interval,
                evaluation_interval=interval,
                kubeconfig=demo.kubeconfig,
                sd_namespaces=list(workloads.NAMESPACES),
                alertmanagers=[],
                rule_files=rules,
                targets={"prometheus": f"127.0.0.1:{port}", **targets},
            )
            extra = ()
            if interval == "1s":
                extra = (
                    f"--storage.tsdb.min-block-duration={BLOCK}",
                    f"--storage.tsdb.max-block-duration={BLOCK}",
                )
            servers[interval] = start_prometheus(
                demo.group, home, config, port=port, extra_args=extra, name=f"prometheus-{interval}"
            )
            data[interval] = home / "data"
        started = time.monotonic()
        wal: tuple[int, float] | None = None
        print(f"scraping for {SECONDS:.0f} s ...", flush=True)
        while time.monotonic() - started < SECONDS or not _blocks(data["1s"]):
            time.sleep(10)
            elapsed = time.monotonic() - started
            fast = servers["1s"]
            if not _blocks(data["1s"]) and elapsed > 60:
                # The WAL holds every sample appended so far until the first block is cut.
                appended = _scalar(fast, "prometheus_tsdb_head_samples_appended_total")
                wal = (_dir_bytes(data["1s"] / "wal"), appended)
            print(f"  {elapsed:.0f} s, blocks: {len(_blocks(data['1s']))}", flush=True)
            if elapsed > SECONDS + 300:
                raise RuntimeError("the 1 s Prometheus cut no block in time")
        rows = []
        series = {}
        for interval, url in servers.items():
            series[interval] = _scalar(url, "prometheus_tsdb_head_series")
            rate = _scalar(url, "sum(rate(prometheus_tsdb_head_samples_appended_total[2m]))")
            active = api_get(url, "/api/v1/targets")["activeTargets"]
            jobs = len({t["labels"]["job"] for t in active})
            rows.append([interval, jobs, f"{series[interval]:.0f}", f"{rate:.1f}"])
        blocks = _blocks(data["1s"])
        samples = sum(b["samples"] for b in blocks)
        per_sample = sum(b["bytes"] for b in blocks) / samples
        chunk_per_sample = sum(b["chunks_bytes"] for b in blocks) / samples
        assert wal is not None
        wal_per_sample = wal[0] / wal[1]
        s30 = series["30s"]
        # Disk for 15 d at 30 s: blocks for the retention, plus the WAL's ~3 h of samples.
        retention_s = 15 * 86400
        blocks_15d = retention_s * s30 / 30 * per_sample
        wal_3h = 3 * 3600 * s30 / 30 * wal_per_sample
        body = "\n\n".join(
            [
                f"Workload: `kubepulse demo`'s cluster ({demo.options.nodes} kwok nodes, "
                f"{len(workloads.NAMESPACES)} namespaces of sample workloads) and its exporters; "
                f"one Prometheus per scrape interval over the same jobs and the stack's rules, "
                f"run side by side for {time.monotonic() - started:.0f} s. "
                f"Load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}.",
                table(["scrape interval", "jobs", "head series", "samples/s ingested"], rows),
                table(
                    ["on disk", "bytes per sample", "from"],
                    [
                        [
                            "blocks (chunks + index + meta)",
                            f"{per_sample:.2f}",
                            f"{len(blocks)} block(s), {samples} samples, "
                            f"{sum(b['series'] for b in blocks)} series, {BLOCK} at 1 s",
                        ],
                        ["of which chunks", f"{chunk_per_sample:.2f}", "the blocks' chunks/"],
                        [
                            "write-ahead log",
                            f"{wal_per_sample:.2f}",
                            f"{wal[0]} bytes holding {wal[1]:.0f} samples",
                        ],
                    ],
                ),
                "Reading: the series count does not depend on the interval (the same targets "
                "expose the same series; recording rules add theirs), samples per second are "
                "series over the interval, and disk is samples per second times retention times "
                "bytes per sample, plus the write-ahead log's two to three hours. Sizing rule: "
                "`disk_bytes = retention_s x series / scrape_interval_s x "
                f"{per_sample:.1f} + 3 h x series / scrape_interval_s x {wal_per_sample:.1f}`. "
                f"For this cluster at the chart's defaults (30 s, 15 d): {s30:.0f} series, "
                f"{s30 / 30:.0f} samples/s, {blocks_15d / 2**20:.0f} MiB of blocks plus "
                f"{wal_3h / 2**20:.0f} MiB of WAL; halving the interval doubles both, halving "
                "the retention halves the blocks. The blocks' figure is an upper bound: their "
                "index costs bytes per series, not per sample, and a 2-minute block holds 120 "
                "samples per series where compacted production blocks hold thousands, so long "
                f"retention tends to the chunks' {chunk_per_sample:.1f} bytes per sample. Series "
                "grow with objects (pods, containers, nodes) and with the kubelet/cAdvisor "
                "series each node's pods add.",
                f"volume: series {s30:.0f}, bytes per sample {per_sample:.2f}, "
                f"wal bytes per sample {wal_per_sample:.2f}",
            ]
        )
        write_results("prometheus_volume", "Prometheus volume for the demo workload", body)
        return 0
    finally:
        demo.teardown()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
