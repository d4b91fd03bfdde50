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
