"""Property tests: every invariant of domain.md section 5, for any input the strategies can build."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.coordination import Coordination, Reason, coordinate
from gateway.coordination.engine import period_keys
from gateway.domain.coverage import Coverage
from gateway.domain.products import Product
from tests.unit.cases import ANNUITY, CARE, TIER1, TIER2, bed_days, case, item, sample, visit

PROPERTY = settings(
    max_examples=int(__import__("os").environ.get("LTC_PROPERTY_EXAMPLES", "150")), deadline=None
)
NOVEMBER = date(2026, 11, 1)


@st.composite
def products(draw: st.DrawFn, file: str) -> Product:
    document = copy.deepcopy(sample(file))
    for benefit in document.get("benefits", []):
        benefit["ratio"] = draw(st.sampled_from(["0", "0.333", "0.5", "0.7", "0.85", "0.999", "1"]))
        benefit["unit_limit_fen"] = draw(st.one_of(st.none(), st.integers(0, 20000)))
    document["limits"] = [
        {"period": period, "amount_fen": draw(st.integers(0, 600000))}
        for period in draw(st.sampled_from([[], ["month"], ["year"], ["month", "year"]]))
    ]
    document["eligibility"]["waiting_days"] = draw(st.sampled_from([0, 10, 90]))
    return Product.model_validate(document)


@st.composite
def lines(draw: st.DrawFn) -> list[Any]:
    count = draw(st.integers(1, 6))
    made = []
    for n in range(1, count + 1):
        kind = draw(st.sampled_from(["bed", "family", "community", "home"]))
        exclusion = draw(st.sampled_from([None, None, None, "medical_insurance", "public_health"]))
        if kind in ("bed", "family"):
            start = draw(st.integers(1, 30))
            days = draw(st.integers(1, 31 - start))
            code, setting = (
                ("INST-BED-DAY", "institutional") if kind == "bed" else ("FAMILY-CARE-DAY", "family")
            )
            made.append(
                bed_days(
                    n,
                    NOVEMBER + timedelta(days=start - 1),
                    days,
                    draw(st.integers(0, 30000)),
                    service_code=code,
                    setting=setting,
                    exclusion=exclusion,
                )
            )
        else:
            extra: dict[str, Any] = {}
            if kind == "home" and draw(st.booleans()):
                extra["visit"] = visit(
                    lat=draw(st.sampled_from([30.2425, 30.2430, 30.30])), caregiver=f"CG-{n}"
                )
            made.append(
                item(
                    n,
                    NOVEMBER + timedelta(days=draw(st.integers(0, 29))),
                    draw(st.integers(1, 5)),
                    draw(st.integers(0, 30000)),
                    setting=kind,
                    exclusion=exclusion,
                    **extra,
                )
            )
    return made


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Any, list[Coverage], dict[str, dict[str, int]]]:
    facts = case(
        *draw(lines()),
        grade=draw(st.integers(0, 5)),
        concluded_on=NOVEMBER + timedelta(days=draw(st.integers(-400, 20))),
        disabled_since=date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 600))),
        designated=draw(st.booleans()),
        earlier=draw(st.one_of(st.just([]), lines())),  # an earlier claim's lines: repeats (section 4)
    )
    coverages = []
    for file in draw(
        st.lists(st.sampled_from([TIER1, TIER2, CARE, ANNUITY]), min_size=1, max_size=4, unique=True)
    ):
        start = NOVEMBER - timedelta(days=draw(st.integers(-20, 400)))
        coverages.append(Coverage(draw(products(file)), start))
    usage = {
        c.product.product_code: {
            "month:2026-11": draw(st.integers(0, 400000)),
            "year:2026": draw(st.integers(0, 800000)),
        }
        for c in coverages
    }
    return facts, coverages, usage


def check_invariants(
    facts: Any, coverages: list[Coverage], usage: dict[str, dict[str, int]], result: Coordination
) -> None:
    billed = {line.line_no: line.billed_fen for line in facts.lines}
    by_no = {line.line_no: line for line in facts.lines}
    total_paid = dict.fromkeys(billed, 0)
    limits = {c.product.product_code: c.product for c in coverages}
    repeated = {n: r.units * by_no[n].unit_price_fen for n, r in facts.repeats.items()}
    for share in result.shares:
        used = dict(usage[share.product_code])
        for line in share.lines:
            assert line.paid_fen >= 0
            assert line.paid_fen <= line.standalone_fen
            assert line.paid_fen <= line.remaining_fen
            # the repeated units are DUPLICATE_SERVICE for every payer, whatever else holds for them
            assert dict(line.reasons).get(Reason.DUPLICATE_SERVICE, 0) == repeated.get(line.line_no, 0)
            assert sum(amount for _, amount in line.reasons) == line.billed_fen - line.paid_fen
            assert all(amount > 0 for _, amount in line.reasons)
            total_paid[line.line_no] += line.paid_fen
        for line in sorted(facts.lines, key=lambda x: (x.service_date, x.line_no)):
            paid = next(s.paid_fen for s in share.lines if s.line_no == line.line_no)
            for key in period_keys(line):
                used[key] = used.get(key, 0) + paid
        product = limits[share.product_code]
        for key, amount in used.items():
            before = usage[share.product_code].get(key, 0)
            limit = product.limit(key.split(":")[0])
            if limit is not None and amount > before:  # this claim paid in the period
                assert amount <= max(limit, before)
    for line_no, amount in billed.items():
        assert total_paid[line_no] <= amount - repeated.get(line_no, 0)
        assert result.member_responsibility[line_no] == amount - total_paid[line_no]
    for decision in result.fixed_benefits:
        assert decision.amount_fen >= 0 and (decision.amount_fen == 0) == (decision.reason is not None)


@PROPERTY
@given(worlds())
def test_every_invariant_holds(world: tuple[Any, list[Coverage], dict[str, dict[str, int]]]) -> None:
    facts, coverages, usage = world
    result = coordinate(facts, coverages, usage)
    check_invariants(facts, coverages, usage, result)


@PROPERTY
@given(worlds(), st.randoms(use_true_random=False))
def test_the_order_lines_arrive_in_does_not_matter(world: Any, random: Any) -> None:
    facts, coverages, usage = world
    shuffled_lines = list(facts.lines)
    random.shuffle(shuffled_lines)
    shuffled = type(facts)(
        **{**{f: getattr(facts, f) for f in facts.__dataclass_fields__}, "lines": tuple(shuffled_lines)}
    )
    assert coordinate(facts, coverages, usage) == coordinate(shuffled, coverages, usage)


@PROPERTY
@given(worlds())
def test_coordinating_again_on_the_same_facts_gives_the_same_result(world: Any) -> None:
    facts, coverages, usage = world
    assert coordinate(facts, coverages, usage) == coordinate(facts, list(reversed(coverages)), usage)


@PROPERTY
@given(worlds())
def test_a_later_payer_never_pays_what_an_earlier_one_paid(world: Any) -> None:
    facts, coverages, usage = world
    result = coordinate(facts, coverages, usage)
    prior: dict[int, int] = {}
    price = {line.line_no: line.unit_price_fen for line in facts.lines}
    repeated = {n: r.units * price[n] for n, r in facts.repeats.items()}
    for share in result.shares:
        for line in share.lines:
            # what is still unpaid leaves out the repeated units: no later payer fills them
            assert line.remaining_fen == line.billed_fen - repeated.get(line.line_no, 0) - prior.get(
                line.line_no, 0
            )
            prior[line.line_no] = prior.get(line.line_no, 0) + line.paid_fen
