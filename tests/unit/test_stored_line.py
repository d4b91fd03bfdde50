"""A stored line read back without validation (``claim_lines.stored_lines``, the simulation's bulk
read) is the line that was validated and stored: its visit given as the driver gives it (JSON
text, or already decoded), its dates as dates or as SQLite's ISO text."""

from __future__ import annotations

import json
import uuid
from datetime import date

from gateway.domain.claims import ClaimLine
from gateway.storage.claim_lines import line_values, stored_lines


def _iso(value: str | None) -> date | None:
    return date.fromisoformat(value) if value is not None else None


def _read_back(line: ClaimLine) -> ClaimLine:
    row = line_values(uuid.uuid4(), line)
    fields = ("line_no", "service_code", "setting", "method", "service_date", "service_end_date")
    fields += ("quantity", "unit_price_fen", "billed_fen", "exclusion")
    stored = tuple(row[name] for name in fields)
    backs = []
    for visit in (row["visit"], json.dumps(row["visit"]) if row["visit"] is not None else "null"):
        backs.append(stored_lines([("k", *stored, visit)])["k"][0])
    as_text = tuple(v.isoformat() if isinstance(v, date) else v for v in stored)
    backs.append(stored_lines([("k", *as_text, row["visit"])], _iso)["k"][0])
    assert backs[0] == backs[1] == backs[2]
    return backs[0]


def test_rows_are_grouped_by_their_key_in_the_order_read() -> None:
    line = ClaimLine.model_validate(
        {
            "line_no": 1,
            "service_code": "X",
            "setting": "home",
            "method": "per_item",
            "service_date": "2026-03-04",
            "quantity": 1,
            "unit_price_fen": 100,
            "billed_fen": 100,
        }
    )
    row = line_values(uuid.uuid4(), line)
    values = [row[name] for name in list(row)[1:12]]
    rows = [("a", 2, *values[1:]), ("b", 1, *values[1:]), ("a", 1, *values[1:])]
    grouped = stored_lines(rows)
    assert [n.line_no for n in grouped["a"]] == [2, 1] and [n.line_no for n in grouped["b"]] == [1]


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
