"""``kubepulse exporter cluster``: kube-state-metrics-compatible metrics, plus CPU by label."""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from kubepulse.exporters.cluster.common import parse_labels_allowlist, sanitize_label_name
from kubepulse.exporters.cluster.custom_resources import (
    ConfigError,
    CustomResourceConfig,
    parse_config,
)
from kubepulse.exporters.cluster.exporter import (
    DEFAULT_RESOURCES,
    KINDS,
    KSM_RESOURCES,
    ClusterExporter,
    Options,
)
from kubepulse.exposition.options import fail_usage, web_options
from kubepulse.exposition.server import (
    ExporterServer,
    Request,
    Response,
    WebConfig,
    format_listen_address,
    parse_listen_address,
    prometheus_client_handler,
)
from kubepulse.kube.client import ApiError, connect
from kubepulse.kube.selectors import validate_label_selector

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _resources(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    chosen = _csv(value) or list(DEFAULT_RESOURCES)
    unknown = [r for r in chosen if r not in KINDS]
    if unknown:
        served = ", ".join(KINDS)
        fail_usage(ctx, f"--resources: unknown resource(s) {', '.join(unknown)}; served: {served}")
    return chosen


def _allowlist(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dict[str, tuple[str, ...]]:
    flag = f"--{(param.name or '').replace('_', '-')}"
    try:
        parsed = parse_labels_allowlist(value or "", flag)
    except ValueError as exc:
        fail_usage(ctx, str(exc))
    unknown = [r for r in parsed if r not in KINDS and r not in KSM_RESOURCES and r != "*"]
    if unknown:
        fail_usage(ctx, f"{flag}: unknown resource(s) {', '.join(unknown)}")
    return parsed


def _patterns(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    """Comma-separated family names or regexes (matched anywhere in the name, as in KSM)."""
    flag = f"--{(param.name or '').replace('_', '-')}"
    patterns = _csv(value)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            fail_usage(ctx, f"{flag}: bad regular expression {pattern!r}: {exc}")
    return patterns


# A flag's callback: its value, checked and parsed.
Parser = Callable[[click.Context, click.Parameter, str | None], Any]
# The family-selection flags: each a list, empty by default, read by its parser. (flag, parser,
# help), in --help order.
_LIST_FLAGS: tuple[tuple[str, Parser, str], ...] = (
    (
        "--metric-labels-allowlist",
        _allowlist,
        "Labels exposed in kube_<resource>_labels: 'pods=[app,team],nodes=[*]'; '*=[...]' "
        "applies to every resource. Without it the _labels families have no series.",
    ),
    (
        "--metric-annotations-allowlist",
        _allowlist,
        "Annotations exposed in kube_<resource>_annotations, in the same form.",
    ),
    (
        "--metric-allowlist",
        _patterns,
        "Serve only these families (comma-separated names or regexes, matched anywhere).",
    ),
    (
        "--metric-denylist",
        _patterns,
        "Serve every family but these (names or regexes; excludes --metric-allowlist).",
    ),
    (
        "--metric-opt-in-list",
        _patterns,
        "Opt-in families to serve as well (e.g. kube_pod_nodeselectors).",
    ),
)


def _list_options(command: F) -> F:
    """The ``_LIST_FLAGS`` options, in that order."""
    for flag, parser, text in reversed(_LIST_FLAGS):
        command = click.option(flag, callback=parser, default="", help=text)(command)
    return command


def _label_keys(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    keys = _csv(value)
    for key in keys:
        try:
            validate_label_selector(key, "--usage-labels")
        except ValueError as exc:
            fail_usage(ctx, str(exc))
        if sanitize_label_name(key) != key and "/" not in key and "." not in key:
            fail_usage(ctx, f"--usage-labels: invalid label key {key!r}")
    return keys


def _custom_resource_state(
    ctx: click.Context, inline: str, path: str
) -> CustomResourceConfig | None:
    """KSM's rule: the inline config wins over the file; neither means no CRS metrics."""
    if inline:
        flag, text = "--custom-resource-state-config", inline
    elif path:
        flag = "--custom-resource-state-config-file"
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            fail_usage(ctx, f"{flag}: cannot read {path}: {exc.strerror or exc}")
    else:
        return None
    try:
        return parse_config(text)
    except ConfigError as exc:
        fail_usage(ctx, f"{flag}: {exc}")


def _ok(_: Request) -> Response:
    return Response(200, b"ok\n", "text/plain; charset=utf-8")


_WILDCARDS = {"0.0.0.0", "::"}


def _addresses(
    ctx: click.Context,
    listen_address: str | None,
    host: str,
    port: int,
    telemetry_host: str,
    telemetry_port: int,
) -> tuple[str, str]:
    """The /metrics and telemetry listen addresses.

    ``--web.listen-address`` (the exporter-toolkit spelling every kubepulse exporter takes) and
    ``--host``/``--port`` (KSM's spelling) name the same address. The former wins over the latter's
    defaults; an explicit ``--host`` or ``--port`` that says otherwise is refused, as is a
    telemetry address that would collide with /metrics.
    """

    def parse(flag: str, address: str) -> tuple[str, int]:
        try:
            return parse_listen_address(address)
        except ValueError as exc:
            fail_usage(ctx, f"{flag}: {exc}")

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)

    main_host, main_port = parse("--host", format_listen_address(host, port))
    if listen_address is not None:
        listen_host, listen_port = parse("--web.listen-address", listen_address)
        if given("port") and port != listen_port:
            fail_usage(ctx, f"--web.listen-address {listen_address} contradicts --port {port}")
        if given("host") and main_host != listen_host:
            fail_usage(ctx, f"--web.listen-address {listen_address} contradicts --host {host}")
        main_host, main_port = listen_host, listen_port
    tel_host, tel_port = parse(
        "--telemetry-host", format_listen_address(telemetry_host, telemetry_port)
    )
    overlap = main_host == tel_host or {main_host, tel_host} & _WILDCARDS
    if main_port == tel_port != 0 and overlap:
        fail_usage(
            ctx,
            f"/metrics and telemetry would both listen on port {main_port}: "
            "give --telemetry-port another port",
        )
    return format_listen_address(main_host, main_port), format_listen_address(tel_host, tel_port)


@click.command(
    epilog=(
        "Example: kubepulse exporter cluster --kubeconfig ~/.kube/config "
        "--web.listen-address 127.0.0.1:8080 --telemetry-port 8081 "
        "--resources pods,deployments,nodes "
        "--metric-labels-allowlist 'pods=[app]' --usage-labels app,team"
    )
)
@click.option(
    "--host", default="0.0.0.0", show_default=True, help="Address for /metrics (KSM's spelling)."
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port for /metrics, /healthz, /readyz (0: any free port).",
)
@click.option(
    "--telemetry-host", default="0.0.0.0", show_default=True, help="Address for the self-metrics."
)
@click.option(
    "--telemetry-port",
    default=8081,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port for self-metrics, /healthz, /readyz.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    help="Kubeconfig (default: in-cluster, then $KUBECONFIG, then ~/.kube/config).",
)
@click.option("--namespaces", default="", help="Only these namespaces (comma-separated).")
@click.option(
    "--namespaces-denylist",
    default="",
    help="Namespaces left out (with --namespaces: those namespaces but these).",
)
@click.option(
    "--resources",
    callback=_resources,
    help=f"Resources to serve (default KSM's: {','.join(DEFAULT_RESOURCES)}; also: "
    f"{','.join(sorted(set(KINDS) - set(DEFAULT_RESOURCES)))}).",
)
@_list_options
@click.option(
    "--shard",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="This instance's shard (KSM: jump hash of fnv64a(UID)).",
)
@click.option(
    "--total-shards", default=1, show_default=True, type=click.IntRange(1), help="Number of shards."
)
@click.option(
    "--usage-labels",
    default="app",
    show_default=True,
    callback=_label_keys,
    help="Pod label keys for the CPU/requests-by-label families ('' disables).",
)
@click.option(
    "--usage-interval",
    default=15.0,
    show_default=True,
    type=click.FloatRange(min=1.0),
    help="Seconds between metrics API polls.",
)
@click.option(
    "--custom-resource-state-config",
    default="",
    help="Inline CustomResourceStateMetrics YAML, as kube-state-metrics takes it (wins over "
    "the file).",
)
@click.option(
    "--custom-resource-state-config-file",
    default="",
    help="Path to a CustomResourceStateMetrics config file.",
)
@click.option(
    "--custom-resource-state-only",
    type=click.BOOL,
    is_flag=False,
    flag_value=True,
    default=False,
    help="Serve only the custom resource state metrics (--resources is then ignored, as in KSM).",
)
@web_options(
    None,
    listen_help="HOST:PORT for /metrics, instead of --host and --port (which it overrides; "
    "an explicit --host or --port must agree with it).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def command(
    host: str,
    port: int,
    telemetry_host: str,
    telemetry_port: int,
    kubeconfig: str | None,
    namespaces: str,
    namespaces_denylist: str,
    resources: Sequence[str],
    metric_labels_allowlist: dict[str, tuple[str, ...]],
    metric_annotations_allowlist: dict[str, tuple[str, ...]],
    metric_allowlist: Sequence[str],
    metric_denylist: Sequence[str],
    metric_opt_in_list: Sequence[str],
    shard: int,
    total_shards: int,
    usage_labels: Sequence[str],
    usage_interval: float,
    custom_resource_state_config: str,
    custom_resource_state_config_file: str,
    custom_resource_state_only: bool,
    listen_address: str | None,
    web_config: WebConfig | None,
    log_level: str,
) -> None:
    """Serve kube-state-metrics-compatible metrics of the cluster's objects.

    /metrics answers 503 until every served resource has completed its first list; after that
    an API outage is survived and the last known state is served. Self-metrics (list/watch
    totals, events, store size, scrape duration) are on the telemetry port.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    ctx = click.get_current_context()
    if shard >= total_shards:
        fail_usage(ctx, f"--shard {shard} must be less than --total-shards {total_shards}")
    if metric_allowlist and metric_denylist:
        fail_usage(ctx, "--metric-allowlist and --metric-denylist are mutually exclusive")
    main_address, telemetry_address = _addresses(
        ctx, listen_address, host, port, telemetry_host, telemetry_port
    )
    custom_resource_state = _custom_resource_state(
        ctx, custom_resource_state_config, custom_resource_state_config_file
    )
    if custom_resource_state_only:
        resources = []
    try:
        client = connect(kubeconfig)
        version = client.check()
    except (ValueError, ApiError) as exc:
        raise click.ClickException(f"cannot use the Kubernetes API: {exc}") from None
    options = Options(
        resources=resources,
        namespaces=_csv(namespaces),
        namespaces_denylist=_csv(namespaces_denylist),
        labels_allowlist=metric_labels_allowlist,
        annotations_allowlist=metric_annotations_allowlist,
        metric_allowlist=metric_allowlist,
        metric_denylist=metric_denylist,
        metric_opt_in=metric_opt_in_list,
        shard=shard,
        total_shards=total_shards,
        usage_labels=usage_labels,
        usage_interval=usage_interval,
        custom_resource_state=custom_resource_state,
    )
    exporter = ClusterExporter(client, options)
    try:
        main = ExporterServer(
            {"/metrics": exporter.metrics, "/readyz": exporter.readyz, "/livez": _ok},
            main_address,
            web_config,
        )
        telemetry = ExporterServer(
            {
                "/metrics": prometheus_client_handler(exporter.telemetry.registry),
                "/readyz": exporter.readyz,
            },
            telemetry_address,
            web_config,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}") from None
    log.info(
        "API server %s (%s); serving %s on %s, telemetry on %s",
        client.server,
        version,
        ",".join(resources),
        main.url,
        telemetry.url,
    )
    exporter.start()
    telemetry.start()

    def _stop(signum: int, _frame: Any) -> None:
        threading.Thread(target=main.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        main.serve_forever()
    finally:
        exporter.stop()
        telemetry.shutdown()
