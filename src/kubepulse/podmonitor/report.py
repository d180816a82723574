"""One self-contained HTML page for a ``PodsStatus``: a timeline per pod and a summary table.

Everything is inline (CSS, SVG, a few lines of JS for sorting), so the file opens offline and
can be attached to a CI run. Every string from the cluster is HTML-escaped.
"""

from __future__ import annotations

import datetime as _dt
import os
from html import escape
from pathlib import Path

from kubepulse.atomic import write_atomic
from kubepulse.podmonitor.models import AffectedPod, PodsStatus

__all__ = ["render_report", "write_report"]

_WIDTH, _HEIGHT, _LEFT, _RIGHT = 760, 46, 10, 20

_CSS = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse} th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3;cursor:pointer} td.num{text-align:right;font-variant-numeric:tabular-nums}
.recovered{color:#1a7f37} .unrecovered{color:#b35900} .error{color:#c62828}
.pod{margin:6px 0} .pod .label{font-family:monospace}
.legend span{margin-right:16px}
"""

_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var body = th.closest('table').tBodies[0];
    var rows = Array.from(body.rows);
    var asc = th.dataset.asc !== 'true'; th.dataset.asc = asc;
    rows.sort(function(a, b){
      var x = a.cells[col].dataset.v || a.cells[col].textContent;
      var y = b.cells[col].dataset.v || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return asc ? c : -c;
    });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});
"""


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _killed(pod: AffectedPod) -> str:
    return pod.killed_pod_name or pod.pod_name


def _timeline(pod: AffectedPod, outcome: str, scale_end: float) -> str:
    """An SVG row: kill at 0, replacement created, Ready (or a dashed 'not Ready' bar)."""
    span = _WIDTH - _LEFT - _RIGHT

    def x(t: float) -> float:
        return _LEFT + span * min(max(t, 0.0), scale_end) / scale_end

    y = 22
    parts = [
        f'<svg width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="timeline of {escape(pod.namespace)}/{escape(_killed(pod))}">',
        f'<line x1="{_LEFT}" y1="{y}" x2="{_WIDTH - _RIGHT}" y2="{y}" stroke="#ddd"/>',
    ]
    resched = pod.pod_rescheduling_time
    if resched is not None:
        parts.append(
            f'<rect x="{x(0):.1f}" y="{y - 5}" width="{x(resched) - x(0):.1f}" height="10" '
            f'fill="#f0ad4e"><title>rescheduling {resched:.3f} s</title></rect>'
        )
        if pod.total_recovery_time is not None and pod.pod_readiness_time is not None:
            parts.append(
                f'<rect x="{x(resched):.1f}" y="{y - 5}" '
                f'width="{x(pod.total_recovery_time) - x(resched):.1f}" height="10" '
                f'fill="#5cb85c"><title>readiness {pod.pod_readiness_time:.3f} s</title></rect>'
            )
        else:
            parts.append(
                f'<line x1="{x(resched):.1f}" y1="{y}" x2="{x(scale_end):.1f}" y2="{y}" '
                f'stroke="#b35900" stroke-width="3" stroke-dasharray="6 4">'
                f"<title>replacement not Ready</title></line>"
            )
    markers = [(0.0, "#c62828", "killed")]
    if resched is not None:
        markers.append((resched, "#f0ad4e", "replacement created"))
    if pod.total_recovery_time is not None:
        markers.append((pod.total_recovery_time, "#1a7f37", "Ready"))
    for t, colour, what in markers:
        parts.append(
            f'<circle cx="{x(t):.1f}" cy="{y}" r="5" fill="{colour}">'
            f"<title>{what} at +{t:.3f} s</title></circle>"
        )
    label = f"{pod.disruption}, {outcome}"
    if pod.total_recovery_time is not None:
        label += f", {pod.total_recovery_time:.3f} s"
    parts.append(
        f'<text x="{_LEFT}" y="{y + 20}" font-size="11" fill="#555">{escape(label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def render_report(status: PodsStatus, title: str = "Pod recovery report") -> str:
    """The whole HTML document as a string."""
    rows = [(p, "recovered") for p in status.recovered] + [
        (p, "unrecovered") for p in status.unrecovered
    ]
    rows.sort(key=lambda r: (r[0].killed_at or 0.0, r[0].namespace, _killed(r[0])))
    scale_end = max(
        [p.total_recovery_time or p.pod_rescheduling_time or 0.0 for p, _ in rows] + [1.0]
    )
    scale_end *= 1.1
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Generated {generated}. Recovered: <b>{len(status.recovered)}</b>, unrecovered: "
        f"<b>{len(status.unrecovered)}</b>, errors: <b>{len(status.errors)}</b>.</p>",
    ]
    if status.errors:
        out.append('<h2>Errors</h2><ul class="errors">')
        out += [f'<li class="error">{escape(e)}</li>' for e in status.errors]
        out.append("</ul>")
    out.append("<h2>Timelines</h2>")
    out.append(
        '<p class="legend"><span style="color:#c62828">● killed</span>'
        '<span style="color:#f0ad4e">● replacement created</span>'
        '<span style="color:#1a7f37">● Ready</span>'
        f"<span>scale: 0 to {scale_end:.2f} s</span></p>"
    )
    if not rows:
        out.append("<p>No pod was disrupted.</p>")
    for pod, outcome in rows:
        out.append(
            f'<div class="pod {outcome}"><div class="label">'
            f"{escape(pod.namespace)}/{escape(_killed(pod))}"
            f"{' → ' + escape(pod.replacement_name) if pod.replacement_name else ''}</div>"
            f"{_timeline(pod, outcome, scale_end)}</div>"
        )
    out.append("<h2>Summary</h2>")
    out.append(
        '<table class="sortable"><thead><tr><th>namespace</th><th>pod</th><th>replacement</th>'
        "<th>disruption</th><th>outcome</th><th>rescheduling s</th><th>readiness s</th>"
        "<th>total s</th><th>deletion timestamp</th><th>Ready timestamp</th></tr></thead><tbody>"
    )
    for pod, outcome in rows:
        out.append(
            f"<tr><td>{escape(pod.namespace)}</td><td>{escape(_killed(pod))}</td>"
            f"<td>{escape(pod.replacement_name or '–')}</td><td>{escape(pod.disruption)}</td>"
            f'<td class="{outcome}">{outcome}</td>'
            f'<td class="num">{_seconds(pod.pod_rescheduling_time)}</td>'
            f'<td class="num">{_seconds(pod.pod_readiness_time)}</td>'
            f'<td class="num">{_seconds(pod.total_recovery_time)}</td>'
            f"<td>{escape(pod.deletion_timestamp or '–')}</td>"
            f"<td>{escape(pod.ready_transition_timestamp or '–')}</td></tr>"
        )
    out.append(f"</tbody></table><script>{_JS}</script></body></html>")
    return "\n".join(out)


def write_report(path: str | os.PathLike[str], status: PodsStatus) -> Path:
    """Write the report atomically (``kubepulse.atomic``); return its path."""
    target = Path(path)
    write_atomic(target, render_report(status))
    return target
