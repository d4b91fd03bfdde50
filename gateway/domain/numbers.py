"""Integers written as text: ids in paths, numbers in query strings and forms, SOAP's integers.

``str.isdigit()`` also accepts digits such as "³" that ``int()`` then refuses, so a check with it
let such a path through to a server error; and a number beyond 64 bits fits no column."""

from __future__ import annotations

import re

DIGITS = re.compile(r"[0-9]+")
LARGEST = 2**63 - 1


def whole_number(text: str, *, signed: bool = False) -> int | None:
    """The integer ``text`` writes in ASCII digits (with a leading "-" if ``signed``), or None
    if it writes none or one beyond a 64-bit column."""
    digits = text[1:] if signed and text.startswith("-") else text
    if not DIGITS.fullmatch(digits):
        return None
    value = int(text)
    return value if -LARGEST <= value <= LARGEST else None


LARGEST_ID = 2**31 - 1  # the tables' integer ids are 32-bit on PostgreSQL


def row_id(text: str) -> int | None:
    """A table row's id written in ``text``, or None if it writes none that a row could have (a
    larger one made PostgreSQL refuse the query: a server error instead of a 404)."""
    number = whole_number(text)
    return number if number is not None and 1 <= number <= LARGEST_ID else None
