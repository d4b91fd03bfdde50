"""A claim line in its three forms, mapped here and nowhere else: the domain's ``ClaimLine`` (what
the rules read), its row (``ClaimLineRow``) and its wire form (the line of a claim's JSON body, of
the claim view and of a share request).

The wire form is the domain model's JSON: the claim body is parsed into ``ClaimLine`` field for
field, so a line goes back to the wire as ``model_dump(mode="json")`` (fields in the model's order,
enums as their values, dates as ISO text), and a share request a payer receives reads back into
the same ``ClaimLine``. A row keeps the visit evidence whole and its caregiver and times apart,
for the duplicate checks' queries."""

from __future__ import annotations

import uuid
from typing import Any

from gateway.domain.claims import ClaimLine
from gateway.storage.tables import ClaimLineRow

# The evidence a provider attaches to a line: sent to payers, not shown in the claim view.
_EVIDENCE = {"exclusion", "visit"}


def line_values(claim_id: uuid.UUID, line: ClaimLine) -> dict[str, Any]:
    """The values of the line's ``ClaimLineRow``."""
    visit = line.visit
    return {
        "claim_id": claim_id,
        "line_no": line.line_no,
        "service_code": line.service_code,
        "setting": line.setting.value,
        "method": line.method.value,
        "service_date": line.service_date,
        "service_end_date": line.service_end_date,
        "quantity": line.quantity,
        "unit_price_fen": line.unit_price_fen,
        "billed_fen": line.billed_fen,
        "exclusion": line.exclusion.value if line.exclusion else None,
        "visit": visit.model_dump(mode="json") if visit else None,
        "caregiver_id": visit.caregiver_id if visit else None,
        "check_in": visit.check_in if visit else None,
        "check_out": visit.check_out if visit else None,
    }


def claim_line(row: ClaimLineRow | Any) -> ClaimLine:
    """The line a row (or any object with the line's fields as attributes, such as the SDK's
    ``ShareLine`` of a share request) holds."""
    return ClaimLine.model_validate(row, from_attributes=True)


def wire_line(line: ClaimLine) -> dict[str, Any]:
    """The line as a share request sends it: every field, evidence included."""
    return line.model_dump(mode="json")


def billed_line(line: ClaimLine) -> dict[str, Any]:
    """The line as the claim view shows it: what was billed, without the evidence."""
    return line.model_dump(mode="json", exclude=_EVIDENCE)
