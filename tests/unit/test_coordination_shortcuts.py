"""The core's shortcuts give what the rules they stand for give, for any input the strategies
build: a product's line rules worked out once (``coordination.rules``) against ``line_condition``
and ``apply_ratio``; the span on which every condition holds against the conditions one by one;
the earlier claims indexed claim by claim against ``repeats`` over all of them; a case's visits
indexed once (``eligibility.overlapping_visits``) against every pair of its lines."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.coordination import ClaimedLine, repeats
from gateway.coordination.duplicates import EarlierClaims
from gateway.coordination.eligibility import Terms, line_condition, overlapping_visits, visit_finding
from gateway.coordination.facts import CaseFacts, VisitRecord
from gateway.coordination.reasons import Reason
from gateway.coordination.rules import rules_of
from gateway.coordination.visits import VisitFinding, check_visit
from gateway.domain.beijing_time import BEIJING
from gateway.domain.claims import ClaimLine
from gateway.domain.coverage import Coverage
from gateway.domain.money import apply_ratio
from gateway.domain.providers import Designation
from tests.unit.cases import case, item, visit
from tests.unit.test_coordination_properties import NOVEMBER, PROPERTY, lines, products, worlds

DAYS = st.integers(-800, 200).map(lambda n: NOVEMBER + timedelta(days=n))


def _reason_one_by_one(terms: Terms, day: date) -> Reason | None:
    """The conditions by date in the order of ``Reason``, none skipped."""
    if not terms.coverage.covers(day):
        return Reason.NOT_COVERED
    if not terms.grade_ok:
        return Reason.GRADE_BELOW_THRESHOLD
    if not terms.effective_from <= day <= terms.valid_to:
        return Reason.ASSESSMENT_NOT_EFFECTIVE
    if day < terms.waiting_ends:
        return Reason.WAITING_PERIOD
    if terms.needs_designation and not terms.designation.on(day):
        return Reason.PROVIDER_NOT_DESIGNATED
    return None


@PROPERTY
@given(
    st.sampled_from(["tier1-policy-ltci", "tier2-huiminbao-ltc", "tier3-commercial-indemnity"]).flatmap(
        products
    ),
    DAYS,
    st.one_of(st.none(), DAYS),
    st.booleans(),
    st.one_of(st.none(), DAYS),
    st.one_of(st.none(), DAYS),
    st.booleans(),
    st.integers(0, 5),
    DAYS,
    st.lists(DAYS, min_size=1, max_size=20),
)
def test_the_span_where_every_condition_holds_gives_the_reasons_of_the_conditions(
    product: Any,
    start: date,
    end: date | None,
    designated: bool,
    designated_from: date | None,
    designated_to: date | None,
    designated_only: bool,
    grade: int,
    concluded_on: date,
    days: list[date],
) -> None:
    eligibility = product.eligibility.model_copy(update={"designated_providers_only": designated_only})
    product = product.model_copy(update={"eligibility": eligibility})
    facts = case(
        grade=grade,
        concluded_on=concluded_on,
        disabled_since=concluded_on - timedelta(days=300),
        designated=designated,
    )
    facts = type(facts)(
        **{
            **{f: getattr(facts, f) for f in facts.__dataclass_fields__},
            "designation": Designation(designated, designated_from, designated_to),
        }
    )
    terms = Terms.of(Coverage(product, start, end), facts)
    for day in [*days, terms.holds_from, terms.holds_to]:
        if date.min < day < date.max:
            assert terms.reason_on(day) == _reason_one_by_one(terms, day)


@PROPERTY
@given(worlds())
def test_a_products_line_rules_say_what_the_line_condition_says(world: Any) -> None:
    facts, coverages, _ = world
    for coverage in coverages:
        product = coverage.product
        if product.kind != "indemnity":
            continue
        rules = rules_of(product)
        for line in facts.lines:
            rule = rules.line_rule(line)
            benefit = product.benefit_for(line.setting, line.method)
            reason, visit = line_condition(line, coverage, facts, benefit)
            assert rule.benefit == benefit
            if rule.visit_radius_m is None:
                assert (rule.reason, None) == (reason, visit)
            else:
                assert rule.reason is None and visit is not None
                assert (reason is None) == visit.verified
            if benefit is not None:
                for amount in (0, 1, 5, line.billed_fen, 10**9 + 7):
                    by_rule = (2 * amount * rule.ratio_num + rule.ratio_den) // (2 * rule.ratio_den)
                    assert by_rule == apply_ratio(amount, benefit.pay_ratio)


@PROPERTY
@given(st.lists(lines(), min_size=1, max_size=5))
def test_earlier_claims_indexed_claim_by_claim_repeat_what_repeats_finds(claims: list[Any]) -> None:
    earlier = EarlierClaims()
    before: list[ClaimedLine] = []
    for n, own in enumerate(claims):
        assert earlier.repeats(own) == repeats(own, before)
        added = [ClaimedLine(line, f"C{n}") for line in own]
        earlier.add(added)
        before.extend(added)


def _finding_pair_by_pair(line: ClaimLine, facts: CaseFacts, radius_m: float) -> VisitFinding:
    """The finding with every other line of the case looked at, as ``visit_finding`` first did."""
    service = facts.catalogue.get(line.service_code)
    minutes = service.standard_minutes * line.quantity if service and service.standard_minutes else None
    own = [
        VisitRecord(
            o.visit.caregiver_id,
            o.visit.check_in,
            o.visit.check_out,
            o.visit.lat,
            o.visit.lon,
            f"line {o.line_no} of this claim",
        )
        for o in facts.lines
        if o.visit is not None
        and line.visit is not None
        and o.line_no != line.line_no
        and o.visit.caregiver_id == line.visit.caregiver_id
        and o.visit.check_in < line.visit.check_out
        and line.visit.check_in < o.visit.check_out
    ]
    return check_visit(
        line,
        radius_m=radius_m,
        billed_minutes=minutes,
        member_position=facts.member_position,
        caregiver_visits=[*own, *facts.other_visits],
    )


VISITS = st.lists(
    st.tuples(
        st.integers(1, 12),  # line_no: now and then twice in a case
        st.one_of(st.none(), st.integers(0, 2)),  # caregiver (None: no visit evidence)
        st.sampled_from([0, 30, 60, 90]),  # check-in, minutes after 09:00: often at another's check-out
        st.sampled_from([-30, 0, 30, 60, 90]),  # minutes stayed: none, or a check-out before the check-in
        st.integers(0, 30),  # how far from home, in thousandths of a degree
    ),
    min_size=1,
    max_size=12,
)


@PROPERTY
@given(VISITS, st.sampled_from([0.0, 500.0, 3000.0]))
def test_a_cases_visits_indexed_once_give_the_findings_of_every_pair(
    visits: list[tuple[int, int | None, int, int, int]], radius_m: float
) -> None:
    start = datetime(2026, 11, 10, 9, 0, tzinfo=BEIJING)
    lines = []
    for line_no, caregiver, at, stayed, away in visits:
        evidence = None
        if caregiver is not None:
            evidence = {
                **visit(lat=30.2425 + away / 1000, caregiver=f"CG-{caregiver}"),
                "check_in": (start + timedelta(minutes=at)).isoformat(),
                "check_out": (start + timedelta(minutes=at + stayed)).isoformat(),
            }
        lines.append(item(line_no, setting="home", visit=evidence))
    facts = case(*lines)
    stranger = item(1, setting="home", visit=visit(caregiver="CG-0"))  # a line the case does not hold
    overlapping = overlapping_visits(facts)
    for line in [*facts.lines, stranger]:
        expected = _finding_pair_by_pair(line, facts, radius_m)
        assert visit_finding(line, facts, radius_m, overlapping) == expected
        assert visit_finding(line, facts, radius_m) == expected
