"""Label selectors and regex patterns, validated before anything talks to the API server.

``validate_label_selector`` accepts exactly the grammar the API server's ``labels.Parse`` accepts
(equality, set-based and existence requirements, comma-separated) and raises ``ValueError`` naming
the argument otherwise, so a typo fails at once instead of as an HTTP 400 inside a thread.
``compile_pattern`` does the same for regular expressions.
"""

from __future__ import annotations

import re

__all__ = ["compile_pattern", "validate_label_selector"]

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = re.compile(
    r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$"
)
_NAME_RE = re.compile(rf"^{_NAME}$")
_VALUE_RE = re.compile(rf"^(?:{_NAME})?$")
_KEY = r"[^\s!=<>(),]+"
_EXISTS = re.compile(rf"^(!?)\s*({_KEY})$")
_BINARY = re.compile(rf"^({_KEY})\s*(==|!=|=|>|<)\s*([^\s!=<>(),]*)$")
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\((.*)\)$")


def _check_key(key: str, argument: str) -> None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise ValueError(f"{argument}: invalid label key prefix {prefix!r} in {key!r}")
    if len(name) > 63 or not _NAME_RE.match(name):
        raise ValueError(f"{argument}: invalid label key {key!r}")


def _check_value(value: str, key: str, argument: str) -> None:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise ValueError(f"{argument}: invalid value {value!r} for label {key!r}")


def _split_requirements(selector: str, argument: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        if ch == "(":
            depth += 1
            if depth > 1:
                raise ValueError(f"{argument}: nested parentheses in {selector!r}")
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"{argument}: unbalanced ')' in {selector!r}")
        elif ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    if depth:
        raise ValueError(f"{argument}: unbalanced '(' in {selector!r}")
    parts.append(selector[start:])
    return parts


def validate_label_selector(
    selector: str, argument: str = "label_selector", *, allow_empty: bool = False
) -> str:
    """Return ``selector`` stripped if the API server would accept it; ``ValueError`` if not.

    The error message starts with ``argument`` so callers can tell which input was wrong. An empty
    selector (which selects every pod) is refused unless ``allow_empty``.
    """
    if not isinstance(selector, str):
        raise ValueError(f"{argument}: expected a string, got {type(selector).__name__}")
    selector = selector.strip()
    if not selector:
        if allow_empty:
            return selector
        raise ValueError(f"{argument}: must not be empty (an empty selector selects every pod)")
    for raw in _split_requirements(selector, argument):
        req = raw.strip()
        if not req:
            raise ValueError(f"{argument}: empty requirement in {selector!r}")
        if m := _SET.match(req):
            key, values = m.group(1), [v.strip() for v in m.group(3).split(",")]
            _check_key(key, argument)
            if values == [""]:
                raise ValueError(f"{argument}: empty value set for {key!r}")
            for value in values:
                if not value:
                    raise ValueError(f"{argument}: empty value in the set for {key!r}")
                _check_value(value, key, argument)
        elif m := _BINARY.match(req):
            key, op, value = m.groups()
            _check_key(key, argument)
            if op in "<>":
                if not re.fullmatch(r"-?[0-9]+", value):
                    raise ValueError(f"{argument}: {key!r} {op} needs an integer, got {value!r}")
            else:
                _check_value(value, key, argument)
        elif m := _EXISTS.match(req):
            _check_key(m.group(2), argument)
        else:
            raise ValueError(f"{argument}: cannot parse requirement {req!r}")
    return selector


def compile_pattern(pattern: str, argument: str) -> re.Pattern[str]:
    """Compile ``pattern``; ``ValueError`` naming ``argument`` if it is not a valid regex.

    The pod monitor matches names with ``re.match``, as krkn-lib does: from the start only, so
    ``web-`` selects ``web-1`` but not ``my-web-1``, and ``shop`` selects ``shop-2`` too.
    """
    if not isinstance(pattern, str):
        raise ValueError(f"{argument}: expected a string, got {type(pattern).__name__}")
    if not pattern:
        raise ValueError(f"{argument}: must not be empty")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{argument}: invalid regular expression {pattern!r}: {exc}") from None
