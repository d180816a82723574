"""The scale plot of the cluster exporter benchmark and the per-pod sizing rule it gives.

Reads every ``results/cluster_exporter_<pods>.json`` that ``bench.py`` wrote (one per pod count)
and draws peak RSS, initial sync and plain scrape p50 against the pod count for kubepulse and
kube-state-metrics into ``results/cluster_exporter_scale.png``; prints the straight line through
kubepulse's peak RSS points (MiB = a + b x pods), the sizing rule the results quote.

Run: .venv/bin/python benchmarks/cluster_exporter/plot.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import RESULTS

PNG = RESULTS / "cluster_exporter_scale.png"


def points() -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in RESULTS.glob("cluster_exporter_*.json")]
    return sorted(found, key=lambda p: p["pods"])


def series(data: list[dict[str, Any]], prefix: str, key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for point in data:
        for row in point["results"]:
            if row["name"].startswith(prefix) and key in row:
                xs.append(point["pods"])
                ys.append(float(row[key]))
    return xs, ys


def fit(xs: list[int], ys: list[float]) -> tuple[float, float]:
    """Least squares ``y = a + b x``."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - b * mx, b


def main() -> None:
    data = points()
    if len(data) < 2:
        sys.exit(f"need two pod counts in {RESULTS}/cluster_exporter_*.json, have {len(data)}")
    panels = (
        ("rss", "peak RSS after scrapes, MiB", 1.0),
        ("sync", "initial sync, s", 1.0),
        ("p50", "plain scrape p50, ms", 1000.0),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 4))
    for ax, (key, title, scale) in zip(axes, panels, strict=True):
        for prefix, label, style, color in (
            ("kubepulse", "kubepulse", "o-", "tab:blue"),
            ("kube-state-metrics", "kube-state-metrics", "s--", "tab:orange"),
        ):
            xs, ys = series(data, prefix, key)
            ax.plot(xs, [y * scale for y in ys], style, color=color, label=label)
            if key == "rss":
                xs_s, ys_s = series(data, prefix, "rss_synced")
                ax.plot(
                    xs_s, ys_s, style[0] + ":", color=color, alpha=0.5, label=f"{label} at sync"
                )
        ax.set_title(title)
        ax.set_xlabel("pods")
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=8)
    loads = ", ".join(f"{p['pods']}: {p['load'][0][0]}-{p['load'][1][0]}" for p in data)
    fig.suptitle(f"Cluster exporter vs kube-state-metrics (1-min load at start-end: {loads})")
    shapes = "; ".join(
        f"{p['pods']}: {p['deployments']} Deployments, {p['nodes']} nodes, {p['extras']} of each "
        "of 6 other kinds"
        for p in data
    )
    fig.text(0.5, 0.01, shapes, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(PNG, dpi=100)
    a, b = fit(*series(data, "kubepulse", "rss"))
    a_s, b_s = fit(*series(data, "kubepulse", "rss_synced"))
    print(f"wrote {PNG}")
    print(
        f"kubepulse peak RSS after scrapes ~ {a:.0f} MiB + {b * 1000:.1f} MiB per 1,000 pods; "
        f"at sync ~ {a_s:.0f} MiB + {b_s * 1000:.1f} MiB per 1,000 pods"
    )


if __name__ == "__main__":
    main()
