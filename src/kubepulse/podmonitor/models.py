"""What a pod monitor reports: ``AffectedPod`` per kill and ``PodsStatus`` per monitor or pool.

Durations are float seconds measured from watch-event receipt times (sub-second); the API's own
timestamps, which have one-second granularity, are kept alongside as RFC 3339 strings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["AffectedPod", "PodsStatus"]


@dataclass
class AffectedPod:
    """One disruption of one pod (a kill, or a Ready→NotReady flip) and how it ended.

    The first five fields are krkn-lib's, with its meanings: ``pod_name`` is the pod that came
    back (the replacement, for a kill that was replaced; the killed pod otherwise);
    ``pod_rescheduling_time``: kill → replacement seen (0 for an in-place restart);
    ``pod_readiness_time``: replacement seen → Ready (None if it never was);
    ``total_recovery_time``: kill → Ready, their sum (None if not recovered).
    The rest is kubepulse's detail: ``killed_pod_name`` (the pod that was disrupted),
    ``replacement_name`` (the pod that took its place, None if none did); ``*_at`` fields are
    Unix times from event receipt, ``*_timestamp`` fields are the API's.
    """

    pod_name: str
    namespace: str
    total_recovery_time: float | None = None
    pod_readiness_time: float | None = None
    pod_rescheduling_time: float | None = None
    disruption: str = "deleted"
    killed_pod_name: str | None = None
    replacement_name: str | None = None
    killed_at: float | None = None
    replaced_at: float | None = None
    ready_at: float | None = None
    deletion_timestamp: str | None = None
    replacement_creation_timestamp: str | None = None
    ready_transition_timestamp: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AffectedPod:
        """Build from ``to_dict()`` output; unknown keys raise ``ValueError`` naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"AffectedPod: unknown field(s) {', '.join(unknown)}")
        for required in ("pod_name", "namespace"):
            if not isinstance(data.get(required), str):
                raise ValueError(f"AffectedPod: field {required!r} must be a string")
        return cls(**data)


@dataclass(init=False)
class PodsStatus:
    """Recovered and unrecovered pods plus every error message, from one monitor or merged.

    ``error`` is ``None`` when nothing went wrong, else the messages joined by newlines; merging
    keeps every message and every pod, so one failing monitor never hides another's results.

    ``PodsStatus(a_dict)`` reads a dict as krkn-lib's ``PodsStatus(json_object)`` does (the
    ``json.dumps(status, default=lambda o: o.__dict__)`` of either library's status): keys it
    does not know are ignored. ``from_dict`` is the strict reader of ``to_dict()`` output.
    ``PodsStatus(recovered, unrecovered, error)`` with lists builds one directly.
    """

    recovered: list[AffectedPod]
    unrecovered: list[AffectedPod]
    error: str | None

    def __init__(
        self,
        recovered: list[AffectedPod] | dict[str, Any] | None = None,
        unrecovered: list[AffectedPod] | None = None,
        error: str | None = None,
    ) -> None:
        if isinstance(recovered, dict):
            if unrecovered is not None or error is not None:
                raise ValueError("PodsStatus: give a dict alone, or the lists and the error")
            parsed = self._from_krkn_dict(recovered)
            recovered, unrecovered, error = parsed.recovered, parsed.unrecovered, parsed.error
        self.recovered = list(recovered or [])
        self.unrecovered = list(unrecovered or [])
        self.error = error

    @classmethod
    def _from_krkn_dict(cls, data: dict[str, Any]) -> PodsStatus:
        names = {f.name for f in dataclasses.fields(AffectedPod)}
        lists: dict[str, list[AffectedPod]] = {}
        for key in ("recovered", "unrecovered"):
            items = data.get(key) or []
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ValueError(f"PodsStatus: field {key!r} must be a list of objects")
            lists[key] = [AffectedPod.from_dict({k: i[k] for k in i if k in names}) for i in items]
        error = data.get("error")
        return cls(lists["recovered"], lists["unrecovered"], None if error is None else str(error))

    def add_error(self, message: str) -> None:
        self.error = message if self.error is None else f"{self.error}\n{message}"

    def merge(self, other: PodsStatus) -> PodsStatus:
        """Add ``other``'s pods and errors to this status, in place; return ``self``."""
        self.recovered.extend(other.recovered)
        self.unrecovered.extend(other.unrecovered)
        if other.error is not None:
            self.add_error(other.error)
        return self

    @property
    def errors(self) -> list[str]:
        return [] if self.error is None else self.error.split("\n")

    def to_dict(self) -> dict[str, Any]:
        return {
            "recovered": [p.to_dict() for p in self.recovered],
            "unrecovered": [p.to_dict() for p in self.unrecovered],
            "error": self.error,
        }

    def to_json(self, *, indent: bool = True) -> str:
        option = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(self.to_dict(), option=option).decode()

    @classmethod
    def from_dict(cls, data: Any) -> PodsStatus:
        """Build from ``to_dict()`` output; a malformed document raises ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError("PodsStatus: expected a JSON object")
        unknown = sorted(set(data) - {"recovered", "unrecovered", "error"})
        if unknown:
            raise ValueError(f"PodsStatus: unknown field(s) {', '.join(unknown)}")
        lists: dict[str, list[AffectedPod]] = {}
        for key in ("recovered", "unrecovered"):
            items = data.get(key, [])
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ValueError(f"PodsStatus: field {key!r} must be a list of objects")
            lists[key] = [AffectedPod.from_dict(i) for i in items]
        error = data.get("error")
        if error is not None and not isinstance(error, str):
            raise ValueError("PodsStatus: field 'error' must be a string or null")
        return cls(lists["recovered"], lists["unrecovered"], error)

    @classmethod
    def from_json(cls, text: str | bytes) -> PodsStatus:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"PodsStatus: not valid JSON: {exc}") from None
        return cls.from_dict(data)
