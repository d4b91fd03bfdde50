"""A batch's faults for people: each at its sheet row and column, in Chinese and English. The
English is the claim rule's own text (the same rules as ``POST /v1/claims``); the Chinese comes
from the documents' catalogue (``gateway/documents/locale/*.json``, keys ``batch.fault.*``), by
the kind of fault the English text names."""

from __future__ import annotations

import re
from typing import Any

from gateway.documents.translations import Translator
from gateway.domain.claim_rows import BY_KEY, RowFault

# (what the English text says, the catalogue key): the first match wins, so specific before general
KINDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"already submitted with a different body", "changed"),
        (r"^differs from row", "differs"),
        (r"not an amount in yuan", "yuan"),
        (r"is required$", "required"),
        (r"is not of type 'integer'", "integer"),
        (r"is not of type 'number'", "number"),
        (r"is not a 'date'$", "date"),
        (r"is not a 'date-time'$", "datetime"),
        (r"is not a 'uuid'$", "uuid"),
        (r"is not one of", "choice"),
        (r"is (less|greater) than the (minimum|maximum)|is (less|greater) than or equal", "range"),
        (r"is too long|is longer than", "too_long"),
        (r"does not match", "pattern"),
        (r"must equal quantity", "billed"),
        (r"is not in the service catalogue", "catalogue"),
        (r"is not provided in setting", "setting"),
        (r"must fall within the claim period", "within_period"),
        (r"same calendar month as period start", "same_month"),
        (r"must not be after today", "future"),
        (r"must not be before period start", "period_order"),
        (r"date range|must not be before service_date|within one calendar month", "range_rule"),
        (r"must equal the \d+ days", "days"),
        (r"visit evidence|must be after check_in", "visit"),
        (r"17 digits|birth date|check character", "id_number"),
        (r"no member with this ID number", "member"),
        (r"no assessment with this id", "assessment"),
        (r"appears twice", "line_twice"),
        (r"\brepeats line\b| bill ", "repeated"),
        (r"not registered with the bureau", "not_provider"),
    )
)
_CLAIM = re.compile(r"claim number (\S+) was already submitted")


def kind_of(detail: str) -> str:
    return next((key for pattern, key in KINDS if pattern.search(detail)), "other")


def described(fault: RowFault, claim_number: str | None) -> dict[str, Any]:
    """A fault as the batch shows it: row, column (key and Chinese header), claim, zh and en."""
    kind = kind_of(fault.detail)
    named = _CLAIM.search(fault.detail)
    values = {"claim_number": named.group(1) if named else claim_number or ""}
    column = BY_KEY.get(fault.column) if fault.column else None
    return {
        "row": fault.row,
        "column": fault.column,
        "header": column.header if column else None,
        "claim_number": claim_number,
        "kind": kind,
        "zh": Translator("zh")(f"batch.fault.{kind}", **values),
        "en": fault.detail,
    }
