"""Small builders for the pure core's tests: products, lines and cases in the domain's words."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from typing import Any

from examples import example
from gateway.coordination import CaseFacts, ClaimedLine, repeats
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.beijing_time import BEIJING
from gateway.domain.claims import ClaimLine
from gateway.domain.coverage import Coverage
from gateway.domain.products import Product
from gateway.domain.providers import Designation


def sample(file: str) -> dict[str, Any]:
    document: dict[str, Any] = example(f"products/{file}.json")
    return document


TIER1, TIER2 = "tier1-policy-ltci", "tier2-huiminbao-ltc"
CARE, ANNUITY = "tier3-commercial-indemnity", "tier3-commercial-annuity"


def product(file: str = TIER1, **changes: Any) -> Product:
    """A sample product, with top-level fields (or ``eligibility``/``benefits``…) replaced."""
    document = copy.deepcopy(sample(file))
    for key, value in changes.items():
        if key == "eligibility":
            document["eligibility"] = {**document["eligibility"], **value}
        else:
            document[key] = value
    return Product.model_validate(document)


def coverage(p: Product, start: date = date(2020, 1, 1), end: date | None = None) -> Coverage:
    return Coverage(p, start, end)


def bed_days(
    line_no: int = 1,
    start: date = date(2026, 11, 1),
    days: int = 30,
    price: int = 15000,
    **changes: Any,
) -> ClaimLine:
    fields = {
        "line_no": line_no,
        "service_code": "INST-BED-DAY",
        "setting": "institutional",
        "method": "per_diem",
        "service_date": start,
        "service_end_date": start + timedelta(days=days - 1),
        "quantity": days,
        "unit_price_fen": price,
        "billed_fen": days * price,
    }
    fields.update(changes)
    return ClaimLine.model_validate(fields)


def item(
    line_no: int = 1,
    service_date: date = date(2026, 11, 10),
    quantity: int = 1,
    price: int = 12000,
    setting: str = "community",
    service_code: str = "HYG-BATH",
    **changes: Any,
) -> ClaimLine:
    fields = {
        "line_no": line_no,
        "service_code": service_code,
        "setting": setting,
        "method": "per_item",
        "service_date": service_date,
        "quantity": quantity,
        "unit_price_fen": price,
        "billed_fen": quantity * price,
    }
    fields.update(changes)
    return ClaimLine.model_validate(fields)


def visit(
    lat: float = 30.2425, lon: float = 120.1692, minutes: int = 60, caregiver: str = "CG-1"
) -> dict[str, Any]:
    check_in = datetime(2026, 11, 10, 9, 0, tzinfo=BEIJING)
    return {
        "caregiver_id": caregiver,
        "check_in": check_in.isoformat(),
        "check_out": (check_in + timedelta(minutes=minutes)).isoformat(),
        "lat": lat,
        "lon": lon,
        "method": "gps",
    }


def case(
    *lines: ClaimLine,
    grade: int = 4,
    concluded_on: date = date(2026, 9, 1),
    disabled_since: date = date(2026, 1, 1),
    designated: bool = True,
    designated_from: date | None = date(2024, 1, 1),
    period: tuple[date, date] = (date(2026, 11, 1), date(2026, 11, 30)),
    member_position: tuple[float, float] | None = (30.2425, 120.1692),
    earlier: tuple[ClaimLine, ...] | list[ClaimLine] = (),
) -> CaseFacts:
    """``earlier``: the lines of an earlier claim of the member (claim "EARLIER"), for repeats."""
    lines = tuple(lines) or (bed_days(),)
    return CaseFacts(
        lines=lines,
        period_start=period[0],
        period_end=period[1],
        assessment=AssessmentFacts(grade, concluded_on, disabled_since),
        designation=Designation(designated, designated_from if designated else None, None),
        member_position=member_position,
        repeats=repeats(lines, [ClaimedLine(line, "EARLIER") for line in earlier]),
    )
