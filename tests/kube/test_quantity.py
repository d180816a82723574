"""kubepulse's ``parse_quantity`` against the official client's, case by case.

The truth is ``kubernetes.utils.parse_quantity`` itself (what the exporters used before): for every
input the two give the same ``Decimal`` (same value, same digits and exponent, so ``str()`` is
equal too) or raise the same exception type with the same message.
"""

from __future__ import annotations

import decimal
import itertools
from decimal import Decimal
from typing import Any

import pytest
from kubernetes.utils import parse_quantity as official

from kubepulse.kube.quantity import parse_quantity

SUFFIXES = [
    "",
    *"numkKMGTPE",
    *(f"{s}i" for s in "KMGTPE"),
    # Not quantities, or quirks of the official reading: "ki" refused, "mi" = 1/1024, ...
    "ki",
    "mi",
    "ui",
    "ni",
    "i",
    "ii",
    "Xi",
    "X",
    "e",
    "Mii",
    "iM",
    "MM",
    "KiB",
    "Gb",
    "g",
    " Mi",
    "Mi ",
    "µ",
]

NUMBERS = [
    "0",
    "1",
    "-1",
    "+1",
    "12",
    "100",
    "007",
    "1.5",
    "0.5",
    ".5",
    "5.",
    "-0.25",
    "+0.125",
    "0.1",
    "123456789012345678901234567890",
    "1.000000000000000000000000000001",
    "1e3",
    "1E3",
    "1e-3",
    "-2.5e+2",
    "1e0",
    "1e",
    "e3",
    "1e3.5",
    "0e10",
    "-0",
    "1_000",
    " 7 ",
    "\t8\n",
    "Infinity",
    "-inf",
    "NaN",
    "nan",
    "",
    "-",
    "+",
    ".",
    "1..2",
    "1,5",
    "0x10",
    "1/2",
    "١٢",  # Arabic-Indic digits: Decimal reads them
    "abc",
]

LITERAL_CASES = [
    "500m",
    "100m",
    "1m",
    "250n",
    "3u",
    "2Ki",
    "128Mi",
    "1.5Gi",
    "0.5Gi",
    "3Ti",
    "1Pi",
    "2Ei",
    "1k",
    "1K",
    "4M",
    "2G",
    "1T",
    "1P",
    "1E",
    "8E",
    "1e3",
    "1E3",
    "2e-3",
    "1e3Mi",
    "1.5e2k",
    "-1Gi",
    "+2Mi",
    "16Ei",
    "999999999999999999999999999999Ei",  # beyond 28 digits: rounded by the decimal context
    "12345678901234567890123456789m",
    "0.0000000001n",
    "sNaN",
    "sNaNk",  # multiplying a signalling NaN raises decimal.InvalidOperation (not a ValueError)
    "Infinityk",
    "-InfinityMi",
    "NaNGi",
    "1ki",
    "xki",
    "ki",
    "Ki",
    "k",
    "m",
    "i",
    "",
    " ",
    "1 Gi",
    "1Gi\n",
    "1\nGi",
    "Gi1",
    "1.2.3M",
    "１２",  # fullwidth digits
    "1e99999999999",
    "1e-99999999999",
    "1e999999999999999999",
]

NON_STRING_CASES: list[Any] = [
    0,
    7,
    -3,
    10**30,
    True,
    False,
    0.1,
    1.5,
    -2.25,
    1e300,
    float("inf"),
    float("nan"),
    Decimal("1.50"),
    Decimal("-0"),
    Decimal("NaN"),
    None,
    b"1Ki",
    ["1"],
    (1,),
    3 + 0j,
]


class Quantityish:
    """Not a str: both parse what ``str()`` gives."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def outcome(parse: Any, value: Any) -> tuple[str, ...]:
    try:
        result = parse(value)
    except Exception as exc:  # the comparison is of the exception itself
        return ("raises", type(exc).__qualname__, str(exc))
    assert type(result) is Decimal
    return ("value", repr(result))


GRID = [n + s for n, s in itertools.product(NUMBERS, SUFFIXES)]
ALL_STRINGS = sorted(set(GRID + LITERAL_CASES))


def test_the_table_is_large_and_covers_values_and_errors() -> None:
    """Control: the comparison below is over hundreds of inputs, most parsing, many refused."""
    outcomes = [outcome(official, q) for q in ALL_STRINGS]
    assert len(ALL_STRINGS) > 1000
    assert sum(o[0] == "value" for o in outcomes) > 400
    messages = {o[1:] for o in outcomes if o[0] == "raises"}
    assert ("ValueError", "1ki has unknown suffix") in messages
    assert ("ValueError", "Invalid number format: abc") in messages
    assert any(o[1] == "InvalidOperation" for o in outcomes)  # sNaNk


@pytest.mark.parametrize("quantity", ALL_STRINGS)
def test_strings_parse_as_the_official_client_parses_them(quantity: str) -> None:
    assert outcome(parse_quantity, quantity) == outcome(official, quantity)


@pytest.mark.parametrize("value", NON_STRING_CASES, ids=repr)
def test_non_strings_parse_as_the_official_client_parses_them(value: Any) -> None:
    assert outcome(parse_quantity, value) == outcome(official, value)


@pytest.mark.parametrize("text", ["1Ki", "250m", "bad", "1ki", "0.5Gi"])
def test_objects_are_read_through_str(text: str) -> None:
    assert outcome(parse_quantity, Quantityish(text)) == outcome(official, Quantityish(text))


@pytest.mark.parametrize("quantity", ["1.23456789Gi", "123456789E", "1.1m", "7Ei", "1e3k"])
def test_the_current_decimal_context_rounds_as_it_does_for_the_official_client(
    quantity: str,
) -> None:
    with decimal.localcontext(decimal.Context(prec=5, rounding=decimal.ROUND_DOWN)):
        ours = outcome(parse_quantity, quantity)
        theirs = outcome(official, quantity)
    assert ours == theirs
    # Control, by hand: 1024**6 = 1152921504606846976 is itself rounded to 1.1529E+18, and
    # 7 times that is 8.0703E+18 (the exact 8070450532247928832 would round to 8.0705E+18).
    with decimal.localcontext(decimal.Context(prec=5)):
        assert outcome(parse_quantity, "7Ei") == ("value", "Decimal('8.0703E+18')")


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("500m", "0.500"),
        ("1", "1"),
        ("1k", "1000"),
        ("1Ki", "1024"),
        ("0.5Gi", "536870912.0"),
        ("1.5Gi", "1610612736.0"),
        ("128Mi", "134217728"),
        ("2Ei", "2305843009213693952"),
        ("1E", "1000000000000000000"),
        ("250n", "2.50E-7"),
        ("1e3", "1E+3"),
        ("-2.5e+2", "-2.5E+2"),
        ("1mi", "0.0009765625"),
    ],
)
def test_known_values(quantity: str, expected: str) -> None:
    """The values written out by hand (binary and decimal powers, milli, exponent forms)."""
    assert parse_quantity(quantity) == Decimal(expected)
    assert str(parse_quantity(quantity)) == expected


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("1ki", "1ki has unknown suffix"),
        ("Gi", "Invalid number format: "),
        ("1.2.3M", "Invalid number format: 1.2.3"),
        ("10i", "Invalid number format: 10i"),
        ("12KiB", "Invalid number format: 12KiB"),
    ],
)
def test_refusals_are_value_errors(quantity: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_quantity(quantity)
    assert str(raised.value) == message
