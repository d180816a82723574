"""``kubepulse demo``: the whole stack, live, on one machine, with a summary and pictures.

The orchestration is in ``kubepulse.demo.run``; this module is the command line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

__all__ = ["demo"]


def _check_cluster_name(name: str) -> None:
    """A usage error naming --cluster-name if ``name`` cannot name a local cluster."""
    from kubepulse.lab.cluster import cluster_workdir

    try:
        cluster_workdir(name)
    except ValueError as exc:
        detail = str(exc).removeprefix("name: ")
        raise click.BadParameter(detail, param_hint="--cluster-name") from None


@click.command(
    "demo",
    epilog=(
        "Example: kubepulse demo --duration 120 --output demo-out\n\n"
        "Several clusters: kubepulse demo --clusters 2 --duration 60 runs the Thanos global "
        "view instead (two local kwok clusters, CLUSTER-NAME-a with --nodes nodes and "
        "CLUSTER-NAME-b with one fewer, each with its exporters and two Prometheus replicas "
        "with sidecars; a Store Gateway and Query on 127.0.0.1) and prints targets, nodes, "
        "pods and alerts per cluster and the deduplication; --duration counts from when "
        "everything is up.\n\n"
        "Exit codes: 0 the stack came up and every check passed, 1 a step or a check failed, "
        "130 interrupted before the stack was up."
    ),
)
@click.option(
    "--duration",
    type=click.FloatRange(min=10),
    default=120.0,
    show_default=True,
    help="Seconds from start to teardown (at least until the pod-kill run is done).",
)
@click.option("--forever", is_flag=True, help="Run until Ctrl-C instead of --duration.")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Use this cluster instead of starting the local kwok one.",
)
@click.option(
    "--use-current-context",
    is_flag=True,
    help="Use the current context of $KUBECONFIG (or ~/.kube/config) instead of kwok.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Directory for summary.json, recovery-report.html, dashboards/*.png and logs/.",
)
@click.option(
    "--nodes",
    type=click.IntRange(min=1, max=50),
    default=3,
    show_default=True,
    help="kwok nodes in the local cluster.",
)
@click.option(
    "--cluster-name",
    default="kubepulse-demo",
    show_default=True,
    help="Name of the local cluster (two demos at once need two names).",
)
@click.option("--no-render", is_flag=True, help="Skip the dashboard PNGs.")
@click.option(
    "--clusters",
    type=click.IntRange(min=1, max=4),
    default=1,
    show_default=True,
    help="More than 1: the global view over that many clusters through Thanos Query (built "
    "from its Go module on first use) instead of the single-cluster demo.",
)
def demo(
    duration: float,
    forever: bool,
    kubeconfig: Path | None,
    use_current_context: bool,
    output: Path,
    nodes: int,
    cluster_name: str,
    no_render: bool,
    clusters: int,
) -> None:
    """Bring the whole stack up locally and show what it sees.

    Starts a local Kubernetes cluster (kwok nodes over a real control plane) unless a kubeconfig
    is given, deploys sample workloads (one never fully available, a StatefulSet on a tainted
    node, a crash-looping pod), runs every kubepulse exporter, node_exporter with a textfile,
    the Pushgateway, Alertmanager and Prometheus on 127.0.0.1, kills pods and measures their
    recovery, then prints targets, alerts, the recovery table and URLs, and writes OUTPUT/.
    Ctrl-C or the end of --duration tears everything down.
    """
    if clusters > 1:
        if kubeconfig is not None or use_current_context:
            raise click.BadParameter(
                "the global view runs its own clusters: drop --kubeconfig/--use-current-context",
                param_hint="--clusters",
            )
        from kubepulse.demo.global_view import GlobalOptions, run_global_view

        for letter in "abcd"[:clusters]:
            _check_cluster_name(f"{cluster_name}-{letter}")
        options_global = GlobalOptions(
            output=output.resolve(),
            clusters=clusters,
            duration=None if forever else duration,
            nodes=nodes,
            cluster_name=cluster_name,
        )
        sys.exit(run_global_view(options_global, lambda line: click.echo(line)))
    from kubepulse.demo.run import DemoOptions, run_demo

    if kubeconfig is not None and use_current_context:
        raise click.BadParameter("give --kubeconfig or --use-current-context, not both")
    if use_current_context:
        env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
        kubeconfig = Path(env) if env else Path.home() / ".kube" / "config"
        if not kubeconfig.is_file():
            raise click.BadParameter(
                f"{kubeconfig} does not exist", param_hint="--use-current-context"
            )
    if kubeconfig is None:
        _check_cluster_name(cluster_name)
    options = DemoOptions(
        output=output.resolve(),
        duration=None if forever else duration,
        kubeconfig=kubeconfig.resolve() if kubeconfig else None,
        nodes=nodes,
        cluster_name=cluster_name,
        render=not no_render,
    )
    sys.exit(run_demo(options, lambda line: click.echo(line)))
