"""Duplicate services (domain.md section 4): refused within a claim, not paid again across claims."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from gateway.coordination import ClaimedLine, coordinate, coordinate_payer, repeats
from gateway.domain.claims import ClaimLine, ClaimSubmission, repeated_lines
from tests.unit.cases import CARE, TIER1, TIER2, bed_days, case, coverage, item, product, visit

COVERAGES = [
    coverage(product(TIER1), date(2020, 1, 1)),
    coverage(product(TIER2), date(2025, 1, 1)),
    coverage(product(CARE), date(2024, 1, 1)),
]


def submission(*lines: ClaimLine) -> ClaimSubmission:
    return ClaimSubmission.model_validate(
        {
            "claim_number": "C-1",
            "member_id_number": "x",
            "assessment_id": "a",
            "period": {"start": "2026-11-01", "end": "2026-11-30"},
            "lines": [line.model_dump() for line in lines],
        }
    )


def reasons_of(line: Any) -> dict[str, int]:
    return {r.value: amount for r, amount in line.reasons}


# --- within one claim: refused at submission, naming both lines -----------------------------------


def test_two_lines_of_one_claim_with_the_same_service_code_and_date_are_refused_naming_both() -> None:
    faults = repeated_lines(submission(item(1), item(2, setting="home"), item(3, service_code="HYG-HAIR")))
    pointers = sorted(pointer for pointer, _ in faults)
    assert pointers == ["/lines/0", "/lines/1"]
    assert all("/lines/" in text and "HYG-BATH" in text for _, text in faults)


def test_overlapping_bed_day_ranges_of_one_claim_are_refused_whatever_their_codes() -> None:
    first = bed_days(1, date(2026, 11, 1), 10)
    other_bed = bed_days(2, date(2026, 11, 10), 5, service_code="INST-NURSING-DAY")
    faults = repeated_lines(submission(first, other_bed))
    assert sorted(p for p, _ in faults) == ["/lines/0", "/lines/1"]
    assert any("one bed a day" in text for _, text in faults)
    # adjacent ranges do not overlap
    assert repeated_lines(submission(first, bed_days(2, date(2026, 11, 11), 5))) == []


def test_overlapping_visit_times_of_one_claim_are_refused() -> None:
    bath = item(1, setting="home", visit=visit(minutes=60))
    hair = item(2, setting="home", service_code="HYG-HAIR", visit=visit(minutes=30, caregiver="CG-2"))
    faults = repeated_lines(submission(bath, hair))
    assert sorted(p for p, _ in faults) == ["/lines/0", "/lines/1"]
    assert any("overlapping visit times" in text for _, text in faults)


def test_different_services_on_one_date_are_accepted() -> None:
    assert repeated_lines(submission(item(1), item(2, service_code="HYG-HAIR"), bed_days(3))) == []


# --- across claims: the repeated units are not paid again -----------------------------------------


def test_the_same_bath_on_the_same_date_is_not_paid_again_by_any_payer() -> None:
    result = coordinate(case(item(1), earlier=[item(7)]), COVERAGES)
    for share in result.shares:
        (line,) = share.lines
        assert line.paid_fen == 0 and line.remaining_fen == 0
        assert reasons_of(line) == {"DUPLICATE_SERVICE": 12000}
        assert line.repeat is not None and line.repeat.earlier == ("claim EARLIER line 7",)


def test_for_the_same_code_and_date_only_the_units_already_claimed_repeat() -> None:
    (share, *_) = coordinate(case(item(1, quantity=3), earlier=[item(1, quantity=2)]), COVERAGES).shares
    line = share.lines[0]
    assert line.repeat is not None and line.repeat.units == 2
    assert reasons_of(line)["DUPLICATE_SERVICE"] == 2 * 12000
    assert line.remaining_fen == 12000 and 0 < line.paid_fen <= 12000


def test_units_already_claimed_are_the_most_one_earlier_claim_claimed() -> None:
    claimed = [ClaimedLine(item(1), "A"), ClaimedLine(item(1), "B")]  # B only repeated A
    found = repeats((item(1, quantity=2),), claimed)
    assert found[1].units == 1 and found[1].earlier == ("claim A line 1", "claim B line 1")


def test_fourteen_bed_days_of_which_five_overlap_are_paid_for_at_most_nine_days() -> None:
    fourteen = bed_days(1, date(2026, 11, 1), 14, price=15000)
    earlier = bed_days(3, date(2026, 11, 10), 10, price=9000, service_code="INST-NURSING-DAY")
    result = coordinate(case(fourteen, earlier=[earlier]), COVERAGES)
    paid = sum(share.lines[0].paid_fen for share in result.shares)
    assert paid <= 9 * 15000
    for share in result.shares:
        line = share.lines[0]
        assert reasons_of(line)["DUPLICATE_SERVICE"] == 5 * 15000
        assert line.remaining_fen <= 9 * 15000
        assert line.repeat is not None and line.repeat.days == tuple(
            date(2026, 11, 10) + timedelta(days=n) for n in range(5)
        )


def test_a_repeated_day_takes_duplicate_service_first_and_the_other_days_keep_their_reasons() -> None:
    # cover starts on the 6th: days 1–5 are NOT_COVERED, but days 1–3 were an earlier claim's bed-days
    p = product(TIER1)
    earlier = bed_days(1, date(2026, 11, 1), 3)
    share, _ = coordinate_payer(
        coverage(p, date(2026, 11, 6)), case(bed_days(1, date(2026, 11, 1), 10), earlier=[earlier]), {}, {}
    )
    got = reasons_of(share.lines[0])
    assert got["DUPLICATE_SERVICE"] == 3 * 15000
    assert got["NOT_COVERED"] == 2 * 15000
    assert sum(got.values()) == share.lines[0].billed_fen - share.lines[0].paid_fen


def test_an_overlapping_home_visit_is_not_paid_again_whatever_its_service() -> None:
    earlier = item(2, setting="home", service_code="HYG-HAIR", visit=visit(minutes=60))
    later = item(1, setting="home", visit=visit(minutes=30, caregiver="CG-9"))
    found = repeats((later,), [ClaimedLine(earlier, "A")])
    assert found[1].units == 1 and found[1].earlier == ("claim A line 2",)
    assert repeats((later,), [ClaimedLine(item(2, setting="home", service_code="HYG-HAIR"), "A")]) == {}


def test_a_line_that_repeats_nothing_is_coordinated_as_before() -> None:
    alone = coordinate(case(bed_days(1)), COVERAGES)
    beside = coordinate(case(bed_days(1), earlier=[item(1, service_code="HYG-HAIR")]), COVERAGES)
    assert alone == beside


def test_lines_at_the_end_of_the_calendar_are_checked_without_overflow() -> None:
    last = date.max
    line = item(1, last)
    claim = ClaimSubmission.model_construct(
        claim_number="C", member_id_number="x", assessment_id="a", period=None, lines=(line, item(2, last))
    )
    assert sorted(p for p, _ in repeated_lines(claim)) == ["/lines/0", "/lines/1"]
    assert repeats((line,), [ClaimedLine(item(2, last), "A")])[1].units == 1
