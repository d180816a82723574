"""``kubepulse monitor pods``: watch pods through a chaos run and say whether they recovered."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from kubepulse.atomic import write_atomic
from kubepulse.podmonitor.models import PodsStatus
from kubepulse.podmonitor.monitor import DEFAULT_SETTLE_SECONDS, Progress

if TYPE_CHECKING:
    from kubepulse.podmonitor.pool import PodsMonitorPool

EXIT_OK, EXIT_UNRECOVERED, EXIT_ERROR = 0, 1, 2
# The pool's ValueErrors name its arguments; the user typed these flags.
_FLAGS = {
    "label_selector": "--label",
    "namespace_pattern": "--namespace-pattern",
    "pod_name_pattern": "--name-pattern",
    "field_selector": "--field-selector",
    "max_timeout": "--timeout",
    "client": "--kubeconfig",
}


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: kubepulse monitor pods --kubeconfig kc.yaml --label app=web --timeout 60",
)
def monitor() -> None:
    """Measure how pods recover after they are killed."""


def _fail(message: str) -> None:
    one_line = " ".join(message.split())
    click.echo(f"kubepulse monitor pods: {one_line}", err=True)
    sys.exit(EXIT_ERROR)


def _check_parent(path: str, flag: str) -> None:
    if path != "-" and not Path(path).resolve().parent.is_dir():
        _fail(f"{flag}: directory of {path!r} does not exist")


def _show(progress: Progress, elapsed: float, tty: bool, last: list[Progress | None]) -> None:
    line = (
        f"[{elapsed:6.1f} s] killed {progress.killed}  replaced {progress.replaced}  "
        f"ready {progress.ready}"
    )
    if tty:
        click.echo(f"\r{line}", err=True, nl=False)
    elif progress != last[0]:
        click.echo(line, err=True)
    last[0] = progress


def exit_code(status: PodsStatus, max_recovery_seconds: float | None) -> int:
    """2 on any error, 1 if a pod is unrecovered or slower than the threshold, else 0."""
    if status.error is not None:
        return EXIT_ERROR
    if status.unrecovered:
        return EXIT_UNRECOVERED
    if max_recovery_seconds is not None and any(
        (p.total_recovery_time or 0.0) > max_recovery_seconds for p in status.recovered
    ):
        return EXIT_UNRECOVERED
    return EXIT_OK


@monitor.command(
    "pods",
    epilog=(
        "Example: kubepulse monitor pods --kubeconfig kc.yaml --label app=web "
        "--namespace-pattern 'shop-.*' --timeout 60 --kill 2 --max-recovery-seconds 30 "
        "--json out.json --textfile /var/lib/node_exporter --report out.html\n\n"
        "Exit codes: 0 all recovered (within --max-recovery-seconds), 1 a pod unrecovered or "
        "too slow, 2 an error (a pod never replaced, bad input, API failure)."
    ),
)
@click.option(
    "--kubeconfig",
    envvar="KUBECONFIG",
    required=True,
    type=click.Path(dir_okay=False),
    help="Kubeconfig file (default: $KUBECONFIG).",
)
@click.option("--label", "label_selector", help="Label selector, e.g. app=web,tier!=db.")
@click.option(
    "--namespace-pattern",
    help="Regex namespace names must match from their start (re.match, as krkn-lib; end it "
    "with $ for whole names).",
)
@click.option(
    "--name-pattern",
    help="Regex pod names must match from their start (re.match, as krkn-lib).",
)
@click.option(
    "--field-selector",
    help="Pod field selector for the initial selection, e.g. status.phase=Running.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds to watch; a pod must be back and Ready within it.",
)
@click.option(
    "--kill",
    type=click.IntRange(min=0),
    default=0,
    help="Delete N random selected pods once the watch is up (a minimal pod-kill scenario).",
)
@click.option(
    "--max-recovery-seconds",
    type=click.FloatRange(min=0),
    help="Exit 1 if any pod took longer than this from kill to Ready.",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=DEFAULT_SETTLE_SECONDS,
    show_default=True,
    help="Stop this long after every disrupted pod has recovered and every killed pod is gone.",
)
@click.option("--json", "json_path", help="Write the PodsStatus as JSON here ('-' for stdout).")
@click.option("--textfile", "textfile_dir", help="node_exporter textfile directory for metrics.")
@click.option("--pushgateway", help="Push metrics to this Pushgateway URL.")
@click.option("--report", "report_path", help="Write a self-contained HTML report here.")
@click.option("--seed", type=int, help="Random seed for choosing pods to kill.")
def pods(
    kubeconfig: str,
    label_selector: str | None,
    namespace_pattern: str | None,
    name_pattern: str | None,
    field_selector: str | None,
    timeout: float,
    kill: int,
    max_recovery_seconds: float | None,
    settle: float,
    json_path: str | None,
    textfile_dir: str | None,
    pushgateway: str | None,
    report_path: str | None,
    seed: int | None,
) -> None:
    """Watch the selected pods, optionally kill some, and report how each one recovered.

    Pods are selected by --label (server-side) and/or --namespace-pattern / --name-pattern
    (regexes matched from the start of names, as krkn-lib matches them) and --field-selector.
    Timings come from watch events, per pod.
    """
    from kubepulse.podmonitor.pool import PodsMonitorPool

    for path, flag in ((json_path, "--json"), (report_path, "--report")):
        if path:
            _check_parent(path, flag)
    if textfile_dir and not Path(textfile_dir).is_dir():
        _fail(f"--textfile: {textfile_dir!r} is not a directory")
    if pushgateway:
        url = urlsplit(pushgateway)
        # Caught now: a typo found only after the run would lose its metrics.
        if url.scheme not in ("http", "https") or not url.hostname:
            _fail(f"--pushgateway: {pushgateway!r} is not an http(s):// URL")
    if not Path(kubeconfig).is_file():
        _fail(f"--kubeconfig: {kubeconfig!r} does not exist")
    try:
        pool = PodsMonitorPool(kubeconfig, settle_seconds=settle)
        pool.select_and_monitor(
            max_timeout=timeout,
            label_selector=label_selector,
            namespace_pattern=namespace_pattern,
            name_pattern=name_pattern,
            field_selector=field_selector,
        )
    except ValueError as exc:
        argument, _, detail = str(exc).partition(":")
        flag = _FLAGS.get(argument, argument)
        _fail(f"{flag}: {detail.strip().removeprefix(flag + ':').strip()}")
    except Exception as exc:
        _fail(f"--kubeconfig: cannot use {kubeconfig!r}: {exc}")

    started = time.monotonic()
    pool.wait_until_watching()
    status_extra = PodsStatus()
    if kill:
        status_extra = _kill(pool, kill, seed)
    tty = sys.stderr.isatty()
    last: list[Progress | None] = [None]
    try:
        while any(t.is_alive() for t in pool.threads):
            _show(pool.progress(), time.monotonic() - started, tty, last)
            pool.threads[0].join(0.5)
    except KeyboardInterrupt:
        pool.cancel()
    _show(pool.progress(), time.monotonic() - started, tty, last)
    if tty:
        click.echo(err=True)
    status = pool.join().merge(status_extra)
    status = _write_outputs(status, json_path, textfile_dir, pushgateway, report_path)
    out_to_stderr = json_path == "-"
    click.echo(_summary(status), err=out_to_stderr)
    sys.exit(exit_code(status, max_recovery_seconds))


def _kill(pool: PodsMonitorPool, count: int, seed: int | None) -> PodsStatus:
    """Delete ``count`` random selected pods; failures become errors in the result."""
    from kubepulse.podmonitor._kube import ApiError, KubeApi

    result = PodsStatus()
    candidates = pool.selected_pods()
    if len(candidates) < count:
        result.add_error(f"--kill {count}: only {len(candidates)} pods are selected")
    api = KubeApi(pool.client)
    for namespace, name in random.Random(seed).sample(candidates, min(count, len(candidates))):
        try:
            api.delete_pod(namespace, name)
            click.echo(f"killed pod {namespace}/{name}", err=True)
        except ApiError as exc:
            result.add_error(f"--kill: deleting pod {namespace}/{name} failed: {exc}")
    return result


def _write_outputs(
    status: PodsStatus,
    json_path: str | None,
    textfile_dir: str | None,
    pushgateway: str | None,
    report_path: str | None,
) -> PodsStatus:
    """Write every requested output; an output that fails adds an error, the others still go."""
    from kubepulse.podmonitor import metrics
    from kubepulse.podmonitor.report import write_report

    failures = PodsStatus()
    if textfile_dir or pushgateway:
        registry = metrics.build_registry(status)
        if textfile_dir:
            try:
                metrics.write_textfile(textfile_dir, registry)
            except (OSError, ValueError) as exc:
                failures.add_error(f"--textfile: {exc}")
        if pushgateway:
            try:
                metrics.push(pushgateway, registry)
            except OSError as exc:
                failures.add_error(f"--pushgateway: push to {pushgateway} failed: {exc}")
    status.merge(failures)
    if report_path:
        try:
            write_report(report_path, status)
        except OSError as exc:
            status.add_error(f"--report: {exc}")
    if json_path == "-":
        click.echo(status.to_json())
    elif json_path:
        try:
            write_atomic(json_path, status.to_json() + "\n")
        except OSError as exc:
            status.add_error(f"--json: {exc}")
    return status


def _summary(status: PodsStatus) -> str:
    lines = [
        f"recovered {len(status.recovered)}, unrecovered {len(status.unrecovered)}, "
        f"errors {len(status.errors)}"
    ]
    for pod in status.recovered:
        lines.append(
            f"  recovered   {pod.namespace}/{pod.killed_pod_name or pod.pod_name} -> "
            f"{pod.pod_name}: rescheduling "
            f"{pod.pod_rescheduling_time:.3f} s, readiness {pod.pod_readiness_time:.3f} s, "
            f"total {pod.total_recovery_time:.3f} s"
        )
    for pod in status.unrecovered:
        lines.append(
            f"  unrecovered {pod.namespace}/{pod.killed_pod_name or pod.pod_name}: replaced by "
            f"{pod.pod_name}, not Ready in time"
        )
    lines += [f"  error       {e}" for e in status.errors]
    return "\n".join(lines)
