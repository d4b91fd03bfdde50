"""The coordination rule of domain.md section 5, worked example first, then one case per reason."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from gateway.coordination import Reason, coordinate, coordinate_payer, fixed_benefits
from gateway.domain.coverage import Coverage
from gateway.domain.products import Product
from tests.unit.cases import (
    ANNUITY,
    CARE,
    TIER1,
    TIER2,
    bed_days,
    case,
    coverage,
    item,
    product,
    sample,
    visit,
)

WORKED_COVERAGES = [
    coverage(product(TIER1), date(2020, 1, 1)),
    coverage(product(TIER2), date(2025, 1, 1)),
    coverage(product(CARE), date(2024, 1, 1)),
    coverage(product(ANNUITY), date(2024, 1, 1)),
]


def reasons(share_line: Any) -> dict[str, int]:
    return {r.value: amount for r, amount in share_line.reasons}


def test_the_worked_example_to_the_fen() -> None:
    result = coordinate(case(bed_days()), WORKED_COVERAGES)
    tier1, tier2, tier3 = (s.lines[0] for s in result.shares)
    assert (tier1.paid_fen, reasons(tier1)) == (210000, {"OVER_UNIT_LIMIT": 150000, "COINSURANCE": 90000})
    assert tier2.remaining_fen == 240000
    assert (tier2.paid_fen, reasons(tier2)) == (120000, {"COINSURANCE": 120000, "PRIOR_PAYER_PAID": 210000})
    assert tier3.remaining_fen == 120000 and tier3.standalone_fen == 300000
    assert (tier3.paid_fen, reasons(tier3)) == (120000, {"MONTHLY_LIMIT": 150000, "PRIOR_PAYER_PAID": 180000})
    assert result.member_responsibility == {1: 0}
    [fixed] = result.fixed_benefits
    assert (fixed.product_code, fixed.month, fixed.amount_fen, fixed.payee) == (
        "ACME-LTC-ANNUITY",
        "2026-11",
        200000,
        "member",
    )


def only(
    p: Product,
    *lines: Any,
    prior: dict[int, int] | None = None,
    usage: dict[str, int] | None = None,
    cover: Coverage | None = None,
    **facts: Any,
) -> Any:
    share, _ = coordinate_payer(cover or coverage(p), case(*lines, **facts), prior or {}, usage or {})
    return share.lines[0]


# --- one case per reason code -------------------------------------------------------------------


def test_not_covered_takes_the_days_before_cover_starts() -> None:
    line = only(product(TIER1), bed_days(), cover=coverage(product(TIER1), date(2026, 11, 16)))
    assert reasons(line)["NOT_COVERED"] == 15 * 15000
    assert line.paid_fen == apply_70(15 * 10000)


def apply_70(fen: int) -> int:
    return (fen * 7 + 5) // 10


def test_grade_below_threshold_takes_everything() -> None:
    line = only(product(TIER1), bed_days(), grade=2)
    assert (line.paid_fen, reasons(line)) == (0, {"GRADE_BELOW_THRESHOLD": 450000})


def test_assessment_not_effective_until_the_day_after_conclusion() -> None:
    line = only(product(TIER1), bed_days(), concluded_on=date(2026, 11, 10))
    assert reasons(line)["ASSESSMENT_NOT_EFFECTIVE"] == 10 * 15000  # 1–10 November


def test_assessment_not_effective_when_disability_has_not_lasted_six_months() -> None:
    line = only(product(TIER1), bed_days(), disabled_since=date(2026, 6, 1))
    assert reasons(line) == {"ASSESSMENT_NOT_EFFECTIVE": 450000}


def test_assessment_not_effective_after_its_validity() -> None:
    p = product(TIER1, eligibility={"assessment_valid_days": 70})  # valid to 10 November
    line = only(p, bed_days())
    assert reasons(line)["ASSESSMENT_NOT_EFFECTIVE"] == 20 * 15000


def test_waiting_period_takes_the_days_before_it_ends() -> None:
    p = product(TIER2)  # 90 days
    line = only(p, bed_days(), cover=coverage(p, date(2026, 8, 10)))  # waiting ends 8 November
    assert reasons(line)["WAITING_PERIOD"] == 7 * 15000


def test_provider_not_designated() -> None:
    line = only(product(TIER1), bed_days(), designated=False)
    assert reasons(line) == {"PROVIDER_NOT_DESIGNATED": 450000}


def test_a_product_without_the_designation_rule_pays_an_undesignated_provider() -> None:
    line = only(product(CARE), bed_days(), designated=False, cover=coverage(product(CARE), date(2024, 1, 1)))
    assert line.paid_fen == 300000


@pytest.mark.parametrize(
    ("exclusion", "code"),
    [
        ("medical_insurance", "EXCLUDED_MEDICAL_INSURANCE"),
        ("work_injury", "EXCLUDED_WORK_INJURY"),
        ("third_party", "EXCLUDED_THIRD_PARTY"),
        ("public_health", "EXCLUDED_PUBLIC_HEALTH"),
    ],
)
def test_exclusions(exclusion: str, code: str) -> None:
    line = only(product(TIER1), bed_days(exclusion=exclusion))
    assert reasons(line) == {code: 450000}


def test_an_exclusion_the_product_does_not_list_is_paid() -> None:
    p = product(CARE)  # does not exclude public health
    line = only(p, bed_days(exclusion="public_health"), cover=coverage(p, date(2024, 1, 1)))
    assert line.paid_fen == 300000


def test_setting_not_covered() -> None:
    p = product(TIER2)  # no family care
    line = only(
        p,
        bed_days(service_code="FAMILY-CARE-DAY", setting="family", price=3000),
        cover=coverage(p, date(2025, 1, 1)),
    )
    assert reasons(line) == {"SETTING_NOT_COVERED": 90000}


def test_service_not_covered() -> None:
    document = copy.deepcopy(sample(TIER1))
    document["benefits"][1]["service_codes"] = ["HYG-HAIR"]
    p = Product.model_validate(document)
    line = only(p, item(service_code="HYG-BATH"))
    assert reasons(line) == {"SERVICE_NOT_COVERED": 12000}


def test_visit_unverified_far_from_home() -> None:
    line = only(product(TIER1), item(setting="home", visit=visit(lat=30.30)))
    assert reasons(line) == {"VISIT_UNVERIFIED": 12000}
    assert line.visit is not None and not line.visit.verified


def test_visit_unverified_without_evidence_and_verified_at_home() -> None:
    assert reasons(only(product(TIER1), item(setting="home"))) == {"VISIT_UNVERIFIED": 12000}
    ok = only(product(TIER1), item(setting="home", visit=visit()))
    assert ok.paid_fen == 10800 and ok.visit.verified


def test_over_unit_limit_and_coinsurance() -> None:
    line = only(product(TIER1), item(price=15000))  # community: limit 120.00, 85 %
    assert (line.paid_fen, reasons(line)) == (10200, {"OVER_UNIT_LIMIT": 3000, "COINSURANCE": 1800})


def test_monthly_limit_counts_what_other_claims_used() -> None:
    line = only(product(TIER1), bed_days(), usage={"month:2026-11": 250000})
    assert (line.paid_fen, reasons(line)["MONTHLY_LIMIT"]) == (50000, 160000)


def test_annual_limit() -> None:
    p = product(TIER2)
    line = only(p, bed_days(), usage={"year:2026": 990000}, cover=coverage(p, date(2025, 1, 1)))
    # 50 % of 4,500.00 is 2,250.00; the monthly limit leaves 1,500.00; the year has 100.00 left
    assert (line.paid_fen, reasons(line)) == (
        10000,
        {"COINSURANCE": 225000, "MONTHLY_LIMIT": 75000, "ANNUAL_LIMIT": 140000},
    )


def test_prior_payer_paid_for_a_billed_basis_product_capped_by_remaining() -> None:
    p = product(CARE)
    line = only(p, bed_days(), prior={1: 400000}, cover=coverage(p, date(2024, 1, 1)))
    assert line.standalone_fen == 300000 and line.paid_fen == 50000
    assert reasons(line) == {"MONTHLY_LIMIT": 150000, "PRIOR_PAYER_PAID": 250000}


def _service_restricted() -> Product:
    document = copy.deepcopy(sample(TIER1))
    document["benefits"][1]["service_codes"] = ["HYG-HAIR"]
    return Product.model_validate(document)


SMALLEST_CASE = {
    Reason.NOT_COVERED: lambda: only(
        product(TIER1), bed_days(), cover=coverage(product(TIER1), date(2026, 11, 16))
    ),
    Reason.GRADE_BELOW_THRESHOLD: lambda: only(product(TIER1), item(), grade=2),
    Reason.ASSESSMENT_NOT_EFFECTIVE: lambda: only(product(TIER1), item(), concluded_on=date(2026, 11, 10)),
    Reason.WAITING_PERIOD: lambda: only(
        product(TIER2), item(), cover=coverage(product(TIER2), date(2026, 10, 1))
    ),
    Reason.PROVIDER_NOT_DESIGNATED: lambda: only(product(TIER1), item(), designated=False),
    Reason.EXCLUDED_MEDICAL_INSURANCE: lambda: only(product(TIER1), item(exclusion="medical_insurance")),
    Reason.EXCLUDED_WORK_INJURY: lambda: only(product(TIER1), item(exclusion="work_injury")),
    Reason.EXCLUDED_THIRD_PARTY: lambda: only(product(TIER1), item(exclusion="third_party")),
    Reason.EXCLUDED_PUBLIC_HEALTH: lambda: only(product(TIER1), item(exclusion="public_health")),
    Reason.SETTING_NOT_COVERED: lambda: only(
        product(TIER2),
        bed_days(service_code="FAMILY-CARE-DAY", setting="family", price=3000),
        cover=coverage(product(TIER2), date(2025, 1, 1)),
    ),
    Reason.SERVICE_NOT_COVERED: lambda: only(_service_restricted(), item()),
    Reason.VISIT_UNVERIFIED: lambda: only(product(TIER1), item(setting="home")),
    Reason.DUPLICATE_SERVICE: lambda: only(product(TIER1), item(), earlier=[item()]),
    Reason.OVER_UNIT_LIMIT: lambda: only(product(TIER1), item(price=15000)),
    Reason.COINSURANCE: lambda: only(product(TIER1), item()),
    Reason.MONTHLY_LIMIT: lambda: only(product(TIER1), item(), usage={"month:2026-11": 300000}),
    Reason.ANNUAL_LIMIT: lambda: only(
        product(TIER2), item(), usage={"year:2026": 1000000}, cover=coverage(product(TIER2), date(2025, 1, 1))
    ),
    Reason.PRIOR_PAYER_PAID: lambda: only(product(TIER1), item(), prior={1: 11000}),
}


def test_there_is_a_smallest_case_for_every_reason_code() -> None:
    assert set(SMALLEST_CASE) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.value)
def test_each_reason_code_on_its_smallest_case(reason: Reason) -> None:
    line = SMALLEST_CASE[reason]()
    explained = reasons(line)
    assert explained.get(reason.value, 0) > 0, explained
    assert sum(explained.values()) == line.billed_fen - line.paid_fen


# --- basis, unit limits per method, order of limits ---------------------------------------------


def test_basis_remaining_pays_a_share_of_what_is_left() -> None:
    p = product(TIER2)
    line = only(p, bed_days(), prior={1: 210000}, cover=coverage(p, date(2025, 1, 1)))
    assert (line.remaining_fen, line.paid_fen) == (240000, 120000)


def test_basis_billed_computes_as_if_alone() -> None:
    p = product(TIER1)
    line = only(p, bed_days(), prior={1: 400000})
    assert line.standalone_fen == 210000 and line.paid_fen == 50000


def test_unit_limits_apply_per_day_and_per_item() -> None:
    p = product(TIER1)
    per_diem = only(p, bed_days(days=10, price=8000))  # under the 100.00/day limit
    assert reasons(per_diem) == {"COINSURANCE": 24000}
    per_item = only(p, item(quantity=3, price=13000))  # 120.00 per item, 3 items
    assert reasons(per_item)["OVER_UNIT_LIMIT"] == 3000
    family = only(p, bed_days(service_code="FAMILY-CARE-DAY", setting="family", days=30, price=2000))
    assert (family.paid_fen, reasons(family)) == (45000, {"OVER_UNIT_LIMIT": 15000})


def test_limits_are_consumed_in_service_date_order_not_request_order() -> None:
    p = product(TIER1)  # 3,000.00 a month
    late = item(line_no=1, service_date=date(2026, 11, 20), quantity=20, price=12000)
    early = item(line_no=2, service_date=date(2026, 11, 5), quantity=20, price=12000)
    share, used = coordinate_payer(coverage(p), case(late, early), {}, {})
    by_no = {line.line_no: line for line in share.lines}
    assert by_no[2].paid_fen == 204000  # the early line is paid in full first
    assert by_no[1].paid_fen == 96000 and reasons(by_no[1])["MONTHLY_LIMIT"] == 108000
    assert used == {"month:2026-11": 300000, "year:2026": 300000}


# --- fixed benefits -----------------------------------------------------------------------------


def test_a_fixed_benefit_is_paid_once_per_month_beside_the_coordination() -> None:
    p = product(ANNUITY)
    # concluded 5 November: not yet effective on 31 October, effective on 30 November
    two_months = case(period=(date(2026, 10, 1), date(2026, 11, 30)), concluded_on=date(2026, 11, 5))
    decisions = fixed_benefits(Coverage(p, date(2024, 1, 1)), two_months)
    assert [(d.month, d.amount_fen) for d in decisions] == [("2026-10", 0), ("2026-11", 200000)]
    assert decisions[0].reason == Reason.ASSESSMENT_NOT_EFFECTIVE
    again = fixed_benefits(Coverage(p, date(2024, 1, 1)), two_months, frozenset({"2026-11"}))
    assert [d.month for d in again] == ["2026-10"]


def test_a_fixed_benefit_waits_for_its_waiting_period_and_grade() -> None:
    p = product(ANNUITY)
    assert fixed_benefits(Coverage(p, date(2026, 7, 1)), case())[0].reason == Reason.WAITING_PERIOD
    assert (
        fixed_benefits(Coverage(p, date(2024, 1, 1)), case(grade=3))[0].reason == Reason.GRADE_BELOW_THRESHOLD
    )


def test_fixed_benefits_do_not_change_the_indemnity_result() -> None:
    with_annuity = coordinate(case(bed_days()), WORKED_COVERAGES)
    without = coordinate(case(bed_days()), WORKED_COVERAGES[:3])
    assert with_annuity.shares == without.shares


def test_the_month_test_day_is_the_last_day_of_the_month_in_the_period() -> None:
    p = product(ANNUITY)
    short = case(period=(date(2026, 11, 1), date(2026, 11, 10)), concluded_on=date(2026, 9, 1))
    [decision] = fixed_benefits(Coverage(p, date(2024, 1, 1)), short)
    assert decision.amount_fen == 200000
