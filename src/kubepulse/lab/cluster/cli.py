"""``kubepulse cluster``: build, start, inspect and stop the local Kubernetes test cluster."""

from __future__ import annotations

import click

from kubepulse.lab.cluster import (
    DEFAULT_NAME,
    Cluster,
    ClusterError,
    cluster_workdir,
    find_cluster,
    start_cluster,
)
from kubepulse.lab.cluster.binaries import BuildError, ensure_binaries, ensure_kube_state_metrics


def _check_name(ctx: click.Context, param: click.Parameter, name: str) -> str:
    """Refuse a name that is not a DNS label before anything touches its directory."""
    try:
        cluster_workdir(name)
    except ValueError as exc:
        message = str(exc).removeprefix("name: ")
        click.echo(f"kubepulse cluster {ctx.info_name}: --name: {message}", err=True)
        ctx.exit(2)
    return name


_name_option = click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    callback=_check_name,
    help="Cluster name, a DNS label such as 'dev-1' (one directory each).",
)


def _find(name: str) -> Cluster | None:
    try:
        return find_cluster(name)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(
    epilog="Example: kubepulse cluster up --nodes 3 && kubectl --kubeconfig "
    "$(kubepulse cluster status --kubeconfig-only) get nodes",
)
def cluster() -> None:
    """Local Kubernetes test cluster: kwok nodes over a real control plane built from Go modules.

    Binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok,
    kwokctl) come from KUBEPULSE_K8S_BIN, the cache ~/.cache/kubepulse/k8s-v<version>/bin, or PATH;
    missing ones are built with `go` (10-20 min cold, then cached). Everything binds to 127.0.0.1.
    """


@cluster.command(epilog="Example: kubepulse cluster build")
@click.option("--metrics-server", is_flag=True, help="Also build metrics-server.")
@click.option(
    "--kube-state-metrics",
    "ksm",
    is_flag=True,
    help="Also build kube-state-metrics (the peer the cluster exporter is tested against).",
)
def build(metrics_server: bool, ksm: bool) -> None:
    """Find or build every binary the cluster needs and print where each one is."""
    try:
        binaries = ensure_binaries(metrics_server=metrics_server)
        extra = {"kube-state-metrics": ensure_kube_state_metrics()} if ksm else {}
    except BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    for field, path in vars(binaries).items():
        if path is not None:
            click.echo(f"{field.replace('_', '-')}: {path}")
    for name, path in extra.items():
        click.echo(f"{name}: {path}")


@cluster.command(
    epilog="Example: export KUBECONFIG=$(kubepulse cluster up --nodes 3 | tail -n 1)",
)
@_name_option
@click.option("--nodes", default=1, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--metrics-server", is_flag=True, help="Serve metrics.k8s.io with kwok's simulated usage."
)
def up(name: str, nodes: int, metrics_server: bool) -> None:
    """Start a cluster with NODES Ready kwok nodes; the last line printed is its kubeconfig path.

    The cluster keeps running until `kubepulse cluster down --name NAME`.
    """
    try:
        running = start_cluster(name, nodes, metrics_server=metrics_server)
    except (ClusterError, BuildError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    click.echo(f"cluster {name}: up, {nodes} node(s), API server {running.server}")
    click.echo(str(running.kubeconfig))


@cluster.command(epilog="Example: kubepulse cluster down --name kubepulse")
@_name_option
def down(name: str) -> None:
    """Stop cluster NAME and remove its directory (nothing to do if it does not exist)."""
    found = _find(name)
    if found is None:
        click.echo(f"cluster {name}: not found, nothing to stop", err=True)
        return
    found.down()
    click.echo(f"cluster {name}: down")


@cluster.command(epilog="Example: kubepulse cluster status --name kubepulse")
@_name_option
@click.option("--kubeconfig-only", is_flag=True, help="Print only the kubeconfig path.")
def status(name: str, kubeconfig_only: bool) -> None:
    """Show whether cluster NAME runs: each component, the API server, the nodes.

    Exit code 0 when every component runs and the API is ready, 1 otherwise.
    """
    found = _find(name)
    if found is None:
        raise click.ClickException(f"cluster {name}: not found (start it: kubepulse cluster up)")
    if kubeconfig_only:
        click.echo(str(found.kubeconfig))
        return
    running = found.running()
    for component, alive in sorted(running.items()):
        click.echo(f"{component}: {'running' if alive else 'stopped'}")
    ready = found.ready()
    click.echo(f"api: {'ready' if ready else 'not ready'} {found.server}")
    if ready:
        nodes = found.kubectl("get", "nodes", "--no-headers").splitlines()
        healthy = sum(1 for line in nodes if line.split()[1] == "Ready")
        click.echo(f"nodes: {healthy}/{len(nodes)} Ready")
    click.echo(f"kubeconfig: {found.kubeconfig}")
    if not (ready and running and all(running.values())):
        raise SystemExit(1)
