"""Kubernetes resource quantities (``500m``, ``1.5Gi``, ``2e3``) as ``Decimal``.

The same values, and the same errors, as ``kubernetes.utils.parse_quantity`` (the official
client's, tested against it case by case in tests/kube/test_quantity.py), without importing the
``kubernetes`` package (~0.4 s, most of the cluster exporter's start-up imports).

Its reading, kept as it is, quirks included:

- an ``int``, ``float`` or ``Decimal`` is converted as it is (``Decimal(0.1)`` is the float's
  exact binary value); anything else goes through ``str()``;
- a trailing ``Ki Mi Gi Ti Pi Ei`` multiplies by 1024**1..6 and ``k K M G T P E`` by 1000**1..6;
  ``n u m`` divide by 1000**3..1 (and so do ``ni ui mi``, by 1024**3..1);
- ``ki`` is an unknown suffix; whatever else remains must be a number ``Decimal()`` reads
  (so ``1e3``, `` 2 ``, ``-1.5``, ``1_000``, ``Infinity`` and ``NaN`` are numbers);
- arithmetic is ``Decimal``'s, in the current decimal context.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["parse_quantity"]

# Suffix letter -> power of the base (1000, or 1024 when an "i" follows).
_POWERS = {"n": -3, "u": -2, "m": -1, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def _split(text: str) -> tuple[str, int, int]:
    """``(number, base, power)``; base 0 when there is no suffix."""
    if len(text) >= 2 and text[-1] == "i":
        # "<n>Xi" is binary when X is a suffix letter; any other "...i" is all number (and so
        # invalid): a lone trailing "i" is never read as no suffix.
        letter = text[-2]
        return (text[:-2], 1024, _POWERS[letter]) if letter in _POWERS else (text, 0, 0)
    letter = text[-1:]
    if letter and letter in _POWERS:
        return text[:-1], 1000, _POWERS[letter]
    return text, 0, 0


def parse_quantity(quantity: object) -> Decimal:
    """``quantity`` as a ``Decimal``: ``"500m"`` -> ``Decimal("0.500")``, ``"1Ki"`` -> 1024.

    Raises ``ValueError`` ("Invalid number format: X", "Q has unknown suffix") when it is not a
    quantity.
    """
    if isinstance(quantity, int | float | Decimal):
        return Decimal(quantity)
    text = str(quantity)
    digits, base, power = _split(text)
    try:
        number = Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"Invalid number format: {digits}") from None
    if not base:
        return number
    if base == 1024 and text[-2] == "k":
        raise ValueError(f"{text} has unknown suffix")
    return number * (base ** Decimal(power))
