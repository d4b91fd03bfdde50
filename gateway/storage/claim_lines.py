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
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import orjson

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


def _same(value: Any) -> Any:
    return value


def stored_lines(
    rows: Iterable[tuple[Any, ...]], day: Callable[[Any], Any] = _same
) -> dict[Any, list[ClaimLine]]:
    """The lines stored rows hold, by the key each row starts with, built without validating them
    again: for reading history in bulk (the simulation). A row is ``(key, line_no, service_code,
    setting, method, service_date, service_end_date, quantity, unit_price_fen, billed_fen,
    exclusion, visit)``, the visit as its stored JSON (text, decoded here, or already decoded);
    ``day`` turns a stored date into a ``date`` (SQLite keeps ISO text). A row was validated as a
    ``ClaimLine`` when its claim was accepted, and only ``line_values`` writes it. One loop with
    the construction inline: at a million lines a call and a dict a line are a second each."""
    settings, methods, exclusions = _SETTINGS, _METHODS, _EXCLUSIONS
    new, put, line_fields, visit_fields = _new, _set, _LINE_FIELDS, _VISIT_FIELDS
    iso, loads = datetime.fromisoformat, orjson.loads
    plain = day is _same
    zones: dict[Any, Any] = {}
    out: dict[Any, list[ClaimLine]] = {}
    for key, no, code, setting, method, served, until, quantity, price, billed, exclusion, visit in rows:
        evidence = None
        if visit is not None and visit != "null":
            if isinstance(visit, str):
                visit = loads(visit)
            check_in, check_out = iso(visit["check_in"]), iso(visit["check_out"])
            # one tzinfo object an offset: aware times compare ten times faster when theirs is the
            # same object, and the rules compare visit times many times a line
            zone = zones.setdefault(check_in.tzinfo, check_in.tzinfo)
            if check_in.tzinfo is not zone:
                check_in = check_in.replace(tzinfo=zone)
            zone = zones.setdefault(check_out.tzinfo, check_out.tzinfo)
            if check_out.tzinfo is not zone:
                check_out = check_out.replace(tzinfo=zone)
            evidence = new(VisitEvidence)
            put(
                evidence,
                "__dict__",
                {
                    "caregiver_id": visit["caregiver_id"],
                    "check_in": check_in,
                    "check_out": check_out,
                    "lat": float(visit["lat"]),
                    "lon": float(visit["lon"]),
                    "method": visit["method"],
                },
            )
            put(evidence, "__pydantic_fields_set__", visit_fields)
            put(evidence, "__pydantic_extra__", None)
            put(evidence, "__pydantic_private__", None)
        line = new(ClaimLine)
        put(
            line,
            "__dict__",
            {
                "line_no": no,
                "service_code": code,
                "setting": settings[setting],
                "method": methods[method],
                "service_date": served if plain else day(served),
                "service_end_date": until if plain else day(until),
                "quantity": quantity,
                "unit_price_fen": price,
                "billed_fen": billed,
                "exclusion": exclusions[exclusion] if exclusion is not None else None,
                "visit": evidence,
            },
        )
        put(line, "__pydantic_fields_set__", line_fields)
        put(line, "__pydantic_extra__", None)
        put(line, "__pydantic_private__", None)
        found = out.get(key)
        if found is None:
            out[key] = [line]
        else:
            found.append(line)
    return out


def wire_line(line: ClaimLine) -> dict[str, Any]:
    """The line as a share request sends it: every field, evidence included."""
    return line.model_dump(mode="json")


def billed_line(line: ClaimLine) -> dict[str, Any]:
    """The line as the claim view shows it: what was billed, without the evidence."""
    return line.model_dump(mode="json", exclude=_EVIDENCE)
