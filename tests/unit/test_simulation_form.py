"""The simulation page's form as the API's body (reconciliation/ui/simulation.py): the draft the
bureau types is the draft the CLI and the API take; faults name the form's fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.errors import Invalid
from reconciliation.ui.simulation import document_of

DRAFT = Path(__file__).parents[2] / "examples" / "drafts" / "tier1-75-percent-grade2.json"


def test_tier_1_at_75_percent_and_grade_2_typed_in_the_form_is_the_example_draft() -> None:
    form = {
        "product_code": "CITY-LTCI-2025",
        "benefit": "institutional/per_diem",
        "ratio_percent": "75",
        "min_grade": "2",
        "contribution_yuan": "90",
        "enrolled_members": "2000",
        "fund_balance_yuan": "1,000,000.00",
        "generated_members": "100",
    }
    document = document_of(form)
    assert document["drafts"] == [json.loads(DRAFT.read_text())]
    assert document["funding"] == {
        "per_person_year_fen": 9000,
        "enrolled_members": 2000,
        "fund_balance_fen": 100_000_000,
    }
    assert document["generated"] == {"members": 100, "seed": 1}
    plain = document_of({"period_from": "2026-01", "period_to": "2026-06", "monthly_limit_yuan": "2500"})
    assert plain["period"] == {"from": "2026-01", "to": "2026-06"}
    assert plain["drafts"][0]["changes"] == {"limits": [{"period": "month", "amount_fen": 250000}]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ratio_percent", "七十五"),
        ("ratio_percent", "120"),
        ("ratio_percent", "NaN"),
        ("min_grade", "9"),
        ("monthly_limit_yuan", "-1"),
        ("contribution_yuan", "1.005"),
        ("enrolled_members", "２"),
        ("generated_members", "0"),
    ],
)
def test_a_bad_value_is_refused_naming_the_form_field(field: str, value: str) -> None:
    with pytest.raises(Invalid) as refused:
        document_of({field: value})
    assert [pointer for pointer, _ in refused.value.faults] == [field]
