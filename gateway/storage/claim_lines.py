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
from datetime import date, datetime
from typing import Any

from gateway.domain.claims import ClaimLine, VisitEvidence
from gateway.domain.products import Exclusion, Method, Setting
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


_SETTINGS = {s.value: s for s in Setting}
_METHODS = {m.value: m for m in Method}
_EXCLUSIONS = {e.value: e for e in Exclusion}
_LINE_FIELDS = frozenset(ClaimLine.model_fields)
_VISIT_FIELDS = frozenset(VisitEvidence.model_fields)
_new, _set = object.__new__, object.__setattr__


def _built(model: Any, values: dict[str, Any], fields: frozenset[str]) -> Any:
    """A model instance from values already of its fields' types, as ``model_construct`` makes it
    but without its per-field loop (a fifth of the cost of validating)."""
    built = _new(model)
    _set(built, "__dict__", values)
    _set(built, "__pydantic_fields_set__", fields)
    _set(built, "__pydantic_extra__", None)
    _set(built, "__pydantic_private__", None)
    return built


def stored_line(
    line_no: int,
    service_code: str,
    setting: str,
    method: str,
    service_date: date,
    service_end_date: date | None,
    quantity: int,
    unit_price_fen: int,
    billed_fen: int,
    exclusion: str | None,
    visit: dict[str, Any] | None,
) -> ClaimLine:
    """The line a stored row holds, built without validating it again: for reading history in
    bulk (the simulation). A row was validated as a ``ClaimLine`` when its claim was accepted, and
    only ``line_values`` writes it; the visit is its stored JSON (``model_dump(mode="json")``)."""
    evidence = None
    if visit is not None:
        evidence = _built(
            VisitEvidence,
            {
                "caregiver_id": visit["caregiver_id"],
                "check_in": datetime.fromisoformat(visit["check_in"]),
                "check_out": datetime.fromisoformat(visit["check_out"]),
                "lat": float(visit["lat"]),
                "lon": float(visit["lon"]),
                "method": visit["method"],
            },
            _VISIT_FIELDS,
        )
    values = {
        "line_no": line_no,
        "service_code": service_code,
        "setting": _SETTINGS[setting],
        "method": _METHODS[method],
        "service_date": service_date,
        "service_end_date": service_end_date,
        "quantity": quantity,
        "unit_price_fen": unit_price_fen,
        "billed_fen": billed_fen,
        "exclusion": _EXCLUSIONS[exclusion] if exclusion is not None else None,
        "visit": evidence,
    }
    line: ClaimLine = _built(ClaimLine, values, _LINE_FIELDS)
    return line


def wire_line(line: ClaimLine) -> dict[str, Any]:
    """The line as a share request sends it: every field, evidence included."""
    return line.model_dump(mode="json")


def billed_line(line: ClaimLine) -> dict[str, Any]:
    """The line as the claim view shows it: what was billed, without the evidence."""
    return line.model_dump(mode="json", exclude=_EVIDENCE)
