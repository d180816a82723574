"""The command-line options every kubepulse server command shares, and its one-line usage errors.

``web_options`` adds ``--web.listen-address``, ``--web.config.file`` (the exporter-toolkit web
config, ``webconfig``) and the connection limits (``server.ServerLimits``) to a click command;
``fail_usage`` refuses bad input with one line naming the flag, exit 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from kubepulse.exposition.server import (
    FD_RESERVE,
    ServerLimits,
    command_limits,
    parse_listen_address,
)
from kubepulse.exposition.webconfig import WebConfig, load_web_config

__all__ = ["fail_usage", "web_options"]


F = TypeVar("F", bound=Callable[..., Any])


def fail_usage(ctx: click.Context, message: str) -> NoReturn:
    """Refuse bad command-line input: one line ``<command>: message`` on stderr, exit 2.

    click's ``BadParameter`` prints three lines (usage, hint, error); the kubepulse commands
    answer bad input with the one line that says what is wrong, as ``monitor pods`` does.
    """
    click.echo(f"{ctx.command_path}: {' '.join(message.split())}", err=True)
    ctx.exit(2)


def _web_config_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> WebConfig | None:
    if value is None:
        return None
    try:
        return load_web_config(value)
    except ValueError as exc:
        # The message starts with the file's path and names the field.
        fail_usage(ctx, f"--web.config.file: {exc}")


def _listen_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_listen_address(value)
    except ValueError as exc:
        fail_usage(ctx, f"--web.listen-address: {exc}")
    return value


def _positive(
    kind: type[int] | type[float],
) -> Callable[[click.Context, click.Parameter, str], Any]:
    def check(ctx: click.Context, param: click.Parameter, value: str) -> int | float:
        try:
            number = kind(value)
        except ValueError:
            number = 0
        if not number > 0:
            what = "a whole number" if kind is int else "a number of seconds"
            fail_usage(ctx, f"{param.opts[0]}: {value!r}: must be {what} above 0")
        return number

    return check


_LIMIT_OPTIONS: list[tuple[str, str, type[int] | type[float], str, str]] = [
    (
        "--web.max-connections",
        "max_connections",
        int,
        "N",
        "Connections open at once. At the cap the longest-waiting connection without a request "
        "is closed to make room (a new one is refused only if all are being served). Lowered "
        f"to fit the open-files limit, {FD_RESERVE} kept free.",
    ),
    (
        "--web.read-header-timeout",
        "read_header_timeout",
        float,
        "SECONDS",
        "Time a client has for the TLS handshake and a request's headers, from the connect or "
        "a kept-alive request's first byte; then 408 and close (slowloris).",
    ),
    (
        "--web.idle-timeout",
        "idle_timeout",
        float,
        "SECONDS",
        "Close a kept-alive connection idle this long between requests.",
    ),
]
_LIMIT_FLAGS = tuple(option[1] for option in _LIMIT_OPTIONS)


def web_options(default_listen: str | None, listen_help: str | None = None) -> Callable[[F], F]:
    """Add ``--web.listen-address``, ``--web.config.file`` and the server limits to a command.

    The command receives ``listen_address: str`` (``None`` if ``default_listen`` is ``None`` and
    the flag is not given) and ``web_config: WebConfig | None`` (already loaded and validated).
    ``--web.max-connections``, ``--web.read-header-timeout`` and ``--web.idle-timeout`` are not
    passed to it: every ``ExporterServer`` the command creates takes them (``ServerLimits``).
    Bad values are one-line errors naming the flag (and the file and field), exit 2.
    """
    defaults = ServerLimits()

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def with_limits(*args: Any, **kwargs: Any) -> Any:
            limits = ServerLimits(**{name: kwargs.pop(name) for name in _LIMIT_FLAGS})
            token = command_limits.set(limits)
            try:
                return func(*args, **kwargs)
            finally:
                command_limits.reset(token)

        wrapped: Any = with_limits
        for flag, name, kind, metavar, help_text in reversed(_LIMIT_OPTIONS):
            wrapped = click.option(
                flag,
                name,
                default=str(getattr(defaults, name)),
                show_default=True,
                callback=_positive(kind),
                metavar=metavar,
                help=help_text,
            )(wrapped)
        wrapped = click.option(
            "--web.config.file",
            "web_config",
            type=click.Path(dir_okay=False),
            callback=_web_config_option,
            help="Exporter-toolkit web config (YAML): TLS and basic auth.",
        )(wrapped)
        wrapped = click.option(
            "--web.listen-address",
            "listen_address",
            default=default_listen,
            show_default=default_listen is not None,
            callback=_listen_option,
            help=listen_help or "Address to listen on, HOST:PORT (':PORT' for all interfaces).",
        )(wrapped)
        return wrapped  # type: ignore[no-any-return]

    return decorate
