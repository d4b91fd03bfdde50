"""A stored line read back without validation (``claim_lines.stored_line``, the simulation's bulk
read) is the line that was validated and stored."""

from __future__ import annotations

import uuid

from gateway.domain.claims import ClaimLine
from gateway.storage.claim_lines import line_values, stored_line


def _read_back(line: ClaimLine) -> ClaimLine:
    row = line_values(uuid.uuid4(), line)
    return stored_line(
        row["line_no"],
        row["service_code"],
        row["setting"],
        row["method"],
        row["service_date"],
        row["service_end_date"],
        row["quantity"],
        row["unit_price_fen"],
        row["billed_fen"],
        row["exclusion"],
        row["visit"],
    )


def test_a_home_visit_with_evidence_reads_back_equal_to_the_validated_line() -> None:
    line = ClaimLine.model_validate(
        {
            "line_no": 3,
            "service_code": "HYG-BATH",
            "setting": "home",
            "method": "per_item",
            "service_date": "2026-03-04",
            "quantity": 1,
            "unit_price_fen": 8000,
            "billed_fen": 8000,
            "exclusion": "third_party",
            "visit": {
                "caregiver_id": "CG-00001",
                "check_in": "2026-03-04T09:00:00+08:00",
                "check_out": "2026-03-04T10:10:00+08:00",
                "lat": 30,
                "lon": 120.2,
                "method": "gps",
            },
        }
    )
    back = _read_back(line)
    assert back == line
    assert back.visit is not None and back.visit.check_in == line.visit.check_in  # type: ignore[union-attr]
    assert back.setting is line.setting and back.exclusion is line.exclusion and back.month == "2026-03"


def test_a_bed_day_range_reads_back_equal_to_the_validated_line() -> None:
    line = ClaimLine.model_validate(
        {
            "line_no": 1,
            "service_code": "INST-BED-DAY",
            "setting": "institutional",
            "method": "per_diem",
            "service_date": "2026-03-01",
            "service_end_date": "2026-03-31",
            "quantity": 31,
            "unit_price_fen": 15000,
            "billed_fen": 465000,
        }
    )
    back = _read_back(line)
    assert back == line and back.last_date == line.last_date and back.visit is None
