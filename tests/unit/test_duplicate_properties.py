"""Property test of domain.md section 4: across any set of claims of any providers for one member,
coordinated one after another, no member-day bed and no service-day is paid twice."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.coordination import ClaimedLine, Coordination, Reason, coordinate, repeats
from gateway.domain.claims import ClaimLine, ClaimSubmission, repeated_lines
from gateway.domain.coverage import Coverage
from tests.unit.cases import ANNUITY, CARE, TIER1, TIER2, case
from tests.unit.test_coordination_properties import NOVEMBER, PROPERTY, lines, products


def valid_claim(made: list[ClaimLine]) -> list[ClaimLine]:
    """The lines a claim may hold together: a line that repeats one kept already is left out (a
    claim with both is refused at submission, ``repeated_lines``)."""
    kept: list[ClaimLine] = []
    for line in made:
        claim = ClaimSubmission.model_validate(
            {
                "claim_number": "C",
                "member_id_number": "x",
                "assessment_id": "a",
                "period": {"start": "2026-11-01", "end": "2026-11-30"},
                "lines": [m.model_dump() for m in [*kept, line]],
            }
        )
        if not repeated_lines(claim):
            kept.append(line)
    return kept


@st.composite
def claims(draw: st.DrawFn) -> tuple[list[tuple[list[ClaimLine], bool]], list[Coverage]]:
    """2–5 claims of the member (each of a provider designated or not), and the member's cover."""
    made = [(valid_claim(draw(lines())), draw(st.booleans())) for _ in range(draw(st.integers(2, 5)))]
    coverages = [
        Coverage(draw(products(file)), NOVEMBER - timedelta(days=draw(st.integers(0, 400))))
        for file in draw(
            st.lists(st.sampled_from([TIER1, TIER2, CARE, ANNUITY]), min_size=1, max_size=4, unique=True)
        )
    ]
    return made, coverages


def days(line: ClaimLine) -> list[date]:
    return [
        line.service_date + timedelta(days=n) for n in range((line.last_date - line.service_date).days + 1)
    ]


def is_bed(line: ClaimLine) -> bool:
    return line.setting == "institutional" and line.method == "per_diem"


def each_day_units(line: ClaimLine) -> int:
    return 1 if line.last_date != line.service_date else line.quantity


@PROPERTY
@given(claims())
def test_across_any_claims_no_member_day_bed_and_no_service_day_is_paid_twice(world: Any) -> None:
    made, coverages = world
    earlier: list[ClaimedLine] = []
    coordinated: list[tuple[list[ClaimLine], Coordination]] = []
    for k, (claim_lines, designated) in enumerate(made):
        facts = case(*claim_lines, designated=designated)
        facts = type(facts)(
            **{
                **{f: getattr(facts, f) for f in facts.__dataclass_fields__},
                "repeats": repeats(facts.lines, earlier),
            }
        )
        coordinated.append((list(facts.lines), coordinate(facts, coverages)))
        earlier.extend(ClaimedLine(line, f"K{k}") for line in facts.lines)

    bed_price: dict[date, int] = defaultdict(int)  # the dearest bed-day billed on each date
    service_units: dict[tuple[str, date], int] = defaultdict(int)  # the most one claim billed
    service_price: dict[tuple[str, date], int] = defaultdict(int)
    paid_beds, paid_services = 0, defaultdict(int)
    for claim_lines, result in coordinated:
        paid = defaultdict(int)
        duplicate = defaultdict(set)
        for share in result.shares:
            for share_line in share.lines:
                paid[share_line.line_no] += share_line.paid_fen
                duplicate[share_line.line_no].add(dict(share_line.reasons).get(Reason.DUPLICATE_SERVICE, 0))
        for line in claim_lines:
            assert len(duplicate[line.line_no]) <= 1  # the same repeated amount for every payer
            if is_bed(line):
                paid_beds += paid[line.line_no]
                for day in days(line):
                    bed_price[day] = max(bed_price[day], line.unit_price_fen)
            elif line.visit is None:
                for day in days(line):
                    key = (line.service_code, day)
                    service_units[key] = max(service_units[key], each_day_units(line))
                    service_price[key] = max(service_price[key], line.unit_price_fen)
                if line.last_date == line.service_date:
                    paid_services[(line.service_code, line.service_date)] += paid[line.line_no]

    # One bed a day: all bed-day payments together are at most one (the dearest) day's worth a day.
    assert paid_beds <= sum(bed_price.values())
    # A service-day: paid for at most the units one claim billed (at the dearest price billed).
    for key, amount in paid_services.items():
        assert amount <= service_units[key] * service_price[key]


@PROPERTY
@given(claims())
def test_the_repeated_units_are_the_days_and_units_an_earlier_claim_already_claimed(world: Any) -> None:
    """An independent reading of section 4 against ``repeats``."""
    made, _ = world
    earlier: list[tuple[int, ClaimLine]] = []
    for k, (claim_lines, _) in enumerate(made):
        found = repeats(claim_lines, [ClaimedLine(line, f"K{j}") for j, line in earlier])
        for line in claim_lines:
            expected = 0
            visits = [
                o
                for _, o in earlier
                if o.visit is not None and line.visit is not None
                if o.visit.check_in < line.visit.check_out and line.visit.check_in < o.visit.check_out
            ]
            if visits:
                expected = line.quantity
            else:
                for day in days(line):
                    if is_bed(line) and any(is_bed(o) and day in days(o) for _, o in earlier):
                        expected += each_day_units(line)
                        continue
                    by_claim: dict[int, int] = defaultdict(int)
                    for j, o in earlier:
                        if o.service_code == line.service_code and day in days(o):
                            by_claim[j] += each_day_units(o)
                    expected += min(each_day_units(line), max(by_claim.values(), default=0))
            got = found.get(line.line_no)
            assert (got.units if got else 0) == expected
        earlier.extend((k, line) for line in claim_lines)
