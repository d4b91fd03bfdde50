"""Integers written as text: ids in paths, numbers in query strings and forms, SOAP's integers;
and the ranges every integer the gateway accepts lies in.

``str.isdigit()`` also accepts digits such as "³" that ``int()`` then refuses, so a check with it
let such a path through to a server error; and a number beyond 64 bits fits no column. On
PostgreSQL an ``Integer`` column is 32 bits: an id beyond that was a server error too, so a
caller bounds a number by the column it is compared with."""

from __future__ import annotations

import re

DIGITS = re.compile(r"[0-9]+")
LARGEST = 2**63 - 1  # a BigInteger column
INT32 = 2**31 - 1  # an Integer column (PostgreSQL ``integer``)
MAX_FEN = 10**12  # 10,000,000,000.00 yuan: no amount of one care claim comes near; every *_fen field
MAX_LINE_NO = 9999  # a claim holds at most 2,000 lines; their numbers stay within four digits
MAX_DIGITS = 20  # an integer literal longer than this is no number the gateway takes (2**63 has 19)


def whole_number(text: str, *, signed: bool = False, largest: int = LARGEST) -> int | None:
    """The integer ``text`` writes in ASCII digits (with a leading "-" if ``signed``), or None
    if it writes none or one beyond ``largest`` (by default a 64-bit column)."""
    digits = text[1:] if signed and text.startswith("-") else text
    if not DIGITS.fullmatch(digits) or len(digits) > MAX_DIGITS:
        return None
    value = int(text)
    return value if -largest <= value <= largest else None
