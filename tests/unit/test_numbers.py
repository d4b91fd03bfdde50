"""Integers written as text: ASCII digits only, within 64 bits."""

from __future__ import annotations

import pytest

from gateway.domain.numbers import INT32, LARGEST, whole_number


@pytest.mark.parametrize(
    ("text", "signed", "expected"),
    [
        ("0", False, 0),
        ("0042", False, 42),
        (str(LARGEST), False, LARGEST),
        (str(LARGEST + 1), False, None),
        ("³", False, None),  # str.isdigit() says yes; int() refuses it
        ("٣", False, None),  # an Arabic-Indic three: int() would take it, a path id should not
        ("", False, None),
        (" 1", False, None),
        ("-5", False, None),
        ("-5", True, -5),
        ("--5", True, None),
        ("-", True, None),
        (f"-{LARGEST}", True, -LARGEST),
    ],
)
def test_whole_number(text: str, signed: bool, expected: int | None) -> None:
    assert whole_number(text, signed=signed) == expected


def test_a_number_is_bounded_by_the_column_it_is_compared_with() -> None:
    """A path id of 2**31 was a server error on PostgreSQL, whose ``integer`` is 32 bits."""
    assert whole_number(str(INT32), largest=INT32) == INT32
    assert whole_number(str(INT32 + 1), largest=INT32) is None
    assert whole_number("9" * 5000) is None  # int() of so many digits raises ValueError
    assert whole_number("0" * 30 + "7") is None  # no id of ours is written in 31 digits
