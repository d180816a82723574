"""Per-view metrics for Flask: ``@metrics.counter``, ``histogram``, ``summary``, ``gauge``.

A label value is a string, a callable with no argument (called in the request context, so it
can read ``flask.request``) or a callable with one argument (called with the view's response).
Views that raise record nothing here (``http_request_exceptions_total`` counts them); a gauge
still goes back down.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram, Summary

from kubepulse.webapp._core import LabelGuard

__all__ = ["view_metric"]

F = TypeVar("F", bound=Callable[..., Any])
LabelSpec = Mapping[str, str | Callable[[], Any] | Callable[[Any], Any]]


def _split(labels: LabelSpec) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    static: dict[str, str] = {}
    from_request: dict[str, Any] = {}
    from_response: dict[str, Any] = {}
    for name, value in labels.items():
        if isinstance(value, str):
            static[name] = value
        elif not callable(value):
            raise ValueError(f"labels: {name!r} must be a string or a callable")
        elif len(inspect.signature(value).parameters) == 0:
            from_request[name] = value
        else:
            from_response[name] = value
    return static, from_request, from_response


def view_metric(
    metric: Counter | Histogram | Summary | Gauge,
    labels: LabelSpec,
    guard: LabelGuard,
) -> Callable[[F], F]:
    """A decorator recording ``metric`` for each call of a Flask view."""
    static, from_request, from_response = _split(labels)
    if isinstance(metric, Gauge) and from_response:
        raise ValueError("labels: a gauge's labels cannot come from the response")

    def values(extra: dict[str, str]) -> dict[str, str]:
        out = dict(static)
        for name, value in extra.items():
            out[name] = guard.admit(name, value)
        return out

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            dynamic = {name: str(fn()) for name, fn in from_request.items()}
            if isinstance(metric, Gauge):
                child = metric.labels(**values(dynamic)) if labels else metric
                child.inc()
                try:
                    return view(*args, **kwargs)
                finally:
                    child.dec()
            start = time.perf_counter()
            response = view(*args, **kwargs)
            elapsed = time.perf_counter() - start
            if from_response:
                from flask import make_response

                response = make_response(response)
                dynamic.update({name: str(fn(response)) for name, fn in from_response.items()})
            observed: Any = metric.labels(**values(dynamic)) if labels else metric
            if isinstance(observed, Counter):
                observed.inc()
            else:
                observed.observe(elapsed)
            return response

        return wrapper  # type: ignore[return-value]

    return decorator
