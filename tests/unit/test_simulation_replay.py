"""The replay under draft rules, against figures worked out by hand (domain.md sections 5 and 9).

Every case is the worked example's member (grade 4 unless said, a designated nursing home, 30
bed-days in November 2026 at 150.00 a day = 4,500.00), with the sample products as stored."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from gateway.domain.products import Product
from gateway.errors import Invalid
from gateway.simulation.drafts import draft_products
from gateway.simulation.gap import GapTally, gap_report
from gateway.simulation.replay import ClaimFact, MemberHistory, RoundFact, StepFact, replay
from tests.unit.cases import TIER1, TIER2, bed_days, case, item, sample

DEFINITIONS = {sample(f)["product_code"]: sample(f) for f in (TIER1, TIER2)}
T1, T2 = "CITY-LTCI-2025", "HMB-LTC-2026"


def _product(code: str, **changes: Any) -> Product:
    document = copy.deepcopy(DEFINITIONS[code])
    document.update(changes)
    return Product.model_validate(document)


def _gateway_steps(tier2_start: date = date(2025, 1, 1)) -> tuple[StepFact, ...]:
    """Tier 1 and tier 2, both adjudicated by the gateway's rules (tier 2 as if in gateway mode)."""
    return (
        StepFact(1, _product(T1), date(2020, 1, 1), None),
        StepFact(2, _product(T2, adjudication="gateway"), tier2_start, None),
    )


def _member(*claims: ClaimFact, steps: tuple[StepFact, ...] | None = None) -> MemberHistory:
    rounds = tuple(RoundFact(i, 1, steps or _gateway_steps()) for i in range(len(claims)))
    return MemberHistory("M-test", claims, rounds)


def _drafts(*documents: dict[str, Any]) -> dict[str, Product]:
    return draft_products(list(documents), DEFINITIONS)


def _paid(history: MemberHistory, drafts: dict[str, Product]) -> list[dict[str, int]]:
    return [{code: sum(lines.values()) for code, lines in o.paid.items()} for o in replay(history, drafts)]


def test_unchanged_products_give_the_worked_example_figures() -> None:
    history = _member(ClaimFact("c1", case(bed_days())))
    assert _paid(history, {}) == [{T1: 210000, T2: 120000}]


def test_a_draft_ratio_tier1_at_75_percent_matches_the_hand_computed_figures() -> None:
    # tier 1: min(4,500.00, 100.00 × 30) × 75 % = 2,250.00; tier 2: 50 % of the 2,250.00 left = 1,125.00
    drafts = _drafts(
        {
            "product_code": T1,
            "changes": {"benefits": [{"setting": "institutional", "method": "per_diem", "ratio": "0.75"}]},
        }
    )
    outcome = replay(_member(ClaimFact("c1", case(bed_days()))), drafts)[0]
    assert {code: sum(lines.values()) for code, lines in outcome.paid.items()} == {T1: 225000, T2: 112500}
    assert outcome.responsibility == {1: 112500}


def test_a_draft_monthly_limit_is_carried_across_the_members_claims() -> None:
    # claim 1: tier 1 pays 2,100.00 of a 2,500.00 monthly limit (drafted from 3,000.00); claim 2 in the
    # same month: 5 baths at 100.00 in the community, 85 % = 425.00 alone, but only 400.00 is left
    drafts = _drafts({"product_code": T1, "changes": {"limits": [{"period": "month", "amount_fen": 250000}]}})
    baths = case(*(item(n, date(2026, 11, 10 + n), price=10000) for n in range(1, 6)))
    history = _member(ClaimFact("c1", case(bed_days())), ClaimFact("c2", baths))
    assert [p[T1] for p in _paid(history, {})] == [210000, 42500]
    assert [p[T1] for p in _paid(history, drafts)] == [210000, 40000]


def test_a_draft_grade_threshold_tier1_extended_to_grade_2_pays_moderate_disability() -> None:
    drafts = _drafts({"product_code": T1, "changes": {"eligibility": {"min_grade": 2}}})
    history = _member(ClaimFact("c1", case(bed_days(), grade=2)))
    assert _paid(history, {}) == [{T1: 0, T2: 0}]
    # tier 2 keeps its own threshold (grade 3): only tier 1 pays
    assert _paid(history, drafts) == [{T1: 210000, T2: 0}]


def test_a_draft_waiting_period_leaves_only_the_days_after_it() -> None:
    # tier 2 bought on 2026-06-01; a 180-day wait ends 2026-11-28: only 28–30 November (3 days,
    # 450.00) are payable, 50 % = 225.00 (90 days, as stored: all 30 days, 50 % of 2,400.00 left)
    drafts = _drafts({"product_code": T2, "changes": {"eligibility": {"waiting_days": 180}}})
    history = _member(ClaimFact("c1", case(bed_days())), steps=_gateway_steps(date(2026, 6, 1)))
    assert _paid(history, {}) == [{T1: 210000, T2: 120000}]
    assert _paid(history, drafts) == [{T1: 210000, T2: 22500}]


def test_a_payer_decided_step_is_replayed_from_its_record_unless_a_draft_changes_its_product() -> None:
    steps = (
        StepFact(1, _product(T1), date(2020, 1, 1), None),
        StepFact(2, _product(T2), date(2025, 1, 1), None, recorded={1: 100000}, payer_decided=True),
    )
    history = _member(ClaimFact("c1", case(bed_days())), steps=steps)
    assert _paid(history, {}) == [{T1: 210000, T2: 100000}]
    drafts = _drafts({"product_code": T2, "changes": {"eligibility": {"waiting_days": 0}}})
    assert _paid(history, drafts) == [{T1: 210000, T2: 120000}]  # the gateway's rules stand in


def test_a_draft_that_breaks_the_product_rules_is_refused_naming_the_field() -> None:
    with pytest.raises(Invalid) as refused:
        _drafts({"product_code": T1, "changes": {"eligibility": {"min_grade": 9}}})
    assert refused.value.faults[0][0].startswith("/drafts/0/eligibility/min_grade")
    with pytest.raises(Invalid) as unknown:
        _drafts({"product_code": "NO-SUCH", "changes": {}})
    assert unknown.value.faults[0][0] == "/drafts/0/product_code"


KEY = b"a test key"


def _gap_of(members: dict[str, tuple[int, str]], month: str = "2026-11") -> GapTally:
    """A gap tally of one claim per member: (grade, setting) each, tier 1 only."""
    tally = GapTally()
    t1 = _product(T1)
    for name, (grade, setting) in members.items():
        lines = bed_days() if setting == "institutional" else item(1, price=9000 + len(name), setting=setting)
        outcome = replay(
            MemberHistory(
                name,
                (ClaimFact(name, case(lines, grade=grade)),),
                (RoundFact(0, 1, (StepFact(1, t1, date(2020, 1, 1), None),)),),
            ),
            {},
        )[0]
        tally.add(name, outcome)
    return tally


def test_small_cells_are_suppressed_and_a_lone_member_cannot_be_recovered_from_the_aggregates() -> None:
    crowd = {f"M-{n:03d}": (4, "institutional") for n in range(12)}
    lone = {"M-lone": (5, "community")}
    with_lone = gap_report(_gap_of({**crowd, **lone}), k=10, key=KEY)
    without = gap_report(_gap_of(crowd), k=10, key=KEY)
    lone_gap = next(iter(_gap_of(lone).gap_fen.values()))  # what the attacker is after
    assert lone_gap > 0
    cells = {(c["grade"], c["setting"]): c for c in with_lone["cells"]}
    assert cells[(5, "community")] == {
        "grade": 5,
        "setting": "community",
        "month": "2026-11",
        "suppressed": True,
    }
    assert cells[(4, "institutional")]["members"] == 12
    # the attacker: every published figure, margins and totals, and the differences of two reports
    published = [with_lone["published_gap_fen"], without["published_gap_fen"]]
    published += [c.get("gap_fen", 0) for c in with_lone["cells"] + without["cells"]]
    published += [c.get("gap_per_member_fen", 0) for c in with_lone["cells"] + without["cells"]]
    differences = {abs(a - b) for a in published for b in published}
    assert lone_gap not in set(published) | differences
    assert with_lone["published_gap_fen"] == without["published_gap_fen"]  # the totals give nothing away


def test_a_member_who_joins_a_published_cell_cannot_be_recovered_by_differencing_two_reports() -> None:
    """The attack the suppression alone does not stop: a cell of 12 published before a late claim
    and of 13 after it; the attacker subtracts every published figure of the one from the other's.
    Tried for 30 different members: never the member's figure, and off by a member's size."""
    crowd = {f"M-{n:03d}": (4, "home") for n in range(12)}
    before = gap_report(_gap_of(crowd), k=10, key=KEY)
    assert before == gap_report(_gap_of(crowd), k=10, key=KEY)  # reproducible: asking again gives nothing
    (published,) = before["cells"]
    errors = []
    for n in range(30):
        newcomer = {f"M-new{n:02d}": (4, "home")}
        tally = _gap_of(newcomer)
        (true_gap,), (true_billed,) = tally.gap_fen.values(), tally.billed_fen.values()
        (after,) = gap_report(_gap_of({**crowd, **newcomer}), k=10, key=KEY)["cells"]
        assert after["members"] == 13 and published["members"] == 12
        guesses = {
            after["gap_fen"] - published["gap_fen"],
            after["gap_per_member_fen"] * 13 - published["gap_per_member_fen"] * 12,
        }
        assert true_gap not in guesses, n
        assert after["billed_fen"] - published["billed_fen"] != true_billed, n
        errors.append(abs(after["gap_fen"] - published["gap_fen"] - true_gap) / true_gap)
    # the noise is the size of a member's figure, not a rounding: half the guesses are off by a fifth
    assert sorted(errors)[len(errors) // 2] > 0.2, errors
    # and without the key the offsets cannot be taken off: another key draws others
    assert gap_report(_gap_of(crowd), k=10, key=b"another")["cells"] != before["cells"]
