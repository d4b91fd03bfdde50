"""Money is integer fen; ratios are exact decimals applied with half-up rounding to the fen."""

from __future__ import annotations

import re
from fractions import Fraction

_RATIO = re.compile(r"^(?:0(?:\.\d{1,6})?|1(?:\.0{1,6})?)$")


def parse_ratio(text: str) -> Fraction:
    """A pay ratio written as a decimal string between 0 and 1 ("0.70")."""
    if not _RATIO.match(text):
        raise ValueError(f"ratio must be a decimal string between 0 and 1, got {text!r}")
    return Fraction(text)


def apply_ratio(amount_fen: int, ratio: Fraction) -> int:
    """amount × ratio, rounded half-up to the fen (amount ≥ 0)."""
    if amount_fen < 0:
        raise ValueError("amount must not be negative")
    num, den = ratio.numerator, ratio.denominator
    return (2 * amount_fen * num + den) // (2 * den)


def yuan(fen: int) -> str:
    """4,500.00 for 450000: how amounts are shown to people."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


_YUAN = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?$")


def parse_yuan(text: str, largest_fen: int = 10**12) -> int | None:
    """The fen a person's "12.50" (or "1,234.5", "12") in yuan means; None for anything else
    (a sign, a third decimal, letters) or beyond ``largest_fen``."""
    match = _YUAN.match(text.strip())
    if match is None:
        return None
    fen = int(match.group(1).replace(",", "")) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    return fen if fen <= largest_fen else None
