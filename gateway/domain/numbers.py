"""Integers written as text: ids in paths, numbers in query strings and forms, SOAP's integers;
and the ranges every integer the gateway accepts lies in.

``str.isdigit()`` also accepts digits such as "³" that ``int()`` then refuses, so a check with it
let such a path through to a server error; and a number beyond 64 bits fits no column. On
PostgreSQL an ``Integer`` column is 32 bits: an id beyond that was a server error too, so a
caller bounds a number by the column it is compared with.

What integer text is (ASCII digits, perhaps after a "-", at most ``MAX_DIGITS`` of them) is said
once, in the SDK's ``INTEGER_TEXT``: payers' answers are read by it, and the SDK may import
nothing of the gateway, so the gateway reads its own integers by the same pattern."""

from __future__ import annotations

from adapters.sdk import INTEGER_TEXT

LARGEST = 2**63 - 1  # a BigInteger column
INT32 = 2**31 - 1  # an Integer column (PostgreSQL ``integer``)
MAX_FEN = 10**12  # 10,000,000,000.00 yuan: no amount of one care claim comes near; every *_fen field
MAX_LINE_NO = 9999  # a claim holds at most 2,000 lines; their numbers stay within four digits
# an integer literal longer than this is no number the gateway takes (2**63 has 19); INTEGER_TEXT's bound
MAX_DIGITS = 20


def integer(text: str) -> int | None:
    """The integer ``text`` writes (``INTEGER_TEXT``: ASCII digits, perhaps after a "-", at most
    ``MAX_DIGITS``), or None. Beyond that ``int()`` is wasted work, and beyond 4,300 digits it
    raises ValueError."""
    return int(text) if INTEGER_TEXT.fullmatch(text) else None


def whole_number(text: str, *, signed: bool = False, largest: int = LARGEST) -> int | None:
    """The integer ``text`` writes in ASCII digits (with a leading "-" if ``signed``), or None
    if it writes none or one beyond ``largest`` (by default a 64-bit column)."""
    value = integer(text) if signed or not text.startswith("-") else None
    return value if value is not None and -largest <= value <= largest else None
