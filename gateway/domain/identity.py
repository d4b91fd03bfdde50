"""The 18-character resident ID number (居民身份证号码, GB 11643) and how it is shown."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"  # ISO 7064 MOD 11-2, indexed by the weighted sum mod 11
_SHAPE = re.compile(r"^\d{17}[\dX]$")


def check_character(first17: str) -> str:
    return _CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def id_number_problem(value: str) -> str | None:
    """Why ``value`` is not a valid resident ID number, or None when it is."""
    if not _SHAPE.match(value):
        return "must be 17 digits followed by a digit or X"
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "characters 7-14 are not a valid birth date"
    if check_character(value[:17]) != value[17]:
        return "check character does not match (ISO 7064 MOD 11-2)"
    return None


def mask_id_number(value: str) -> str:
    """First 6 and last 4 characters, the rest starred: how others see an ID number."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_name(value: str) -> str:
    """Family name kept, given name starred (王秀英 → 王**)."""
    return value[:1] + "*" * (len(value) - 1) if value else value
