"""The report's tally and the coverage gap take a claim's lines summed once by month and setting
(``fold``) before adding them to the cells: their cells must be exactly those of adding every
line to every cell, as they first did."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.simulation import _history
from examples import example_products
from gateway.simulation.drafts import draft_products
from gateway.simulation.fold import fold
from gateway.simulation.gap import POLICY_TIERS, GapTally
from gateway.simulation.replay import ClaimOutcome, MemberHistory, replay
from gateway.simulation.report import Tally, report
from gateway.simulation.run import _merge

DRAFT = json.loads(Path("examples/drafts/tier1-75-percent-grade2.json").read_text(encoding="utf-8"))


def _by_every_line(outcomes: list[tuple[str, ClaimOutcome]]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The cells and each member's responsibility, one line and one product at a time."""
    by: dict[str, dict[str, dict[str, list[int]]]] = defaultdict(dict)
    own: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def add(dimension: str, key: str, measure: str, actual: int, simulated: int) -> None:
        pair = by[dimension].setdefault(key, {}).setdefault(measure, [0, 0])
        pair[0] += actual
        pair[1] += simulated

    for member, outcome in outcomes:
        claim = outcome.claim
        tiers = {code: product.tier for code, product in outcome.products.items()}
        left = outcome.responsibility
        for line in claim.case.lines:
            cells = (
                ("month", line.month),
                ("setting", str(line.setting)),
                ("grade", f"grade {claim.case.assessment.grade}"),
                ("district", claim.district),
            )
            actual_left = line.billed_fen - sum(lines.get(line.line_no, 0) for lines in claim.actual.values())
            own[member][0] += actual_left
            own[member][1] += left[line.line_no]
            for code in set(claim.actual) | set(outcome.paid):
                for dimension, key in cells:
                    add(
                        dimension,
                        key,
                        f"tier {tiers.get(code, 0)}",
                        claim.actual.get(code, {}).get(line.line_no, 0),
                        outcome.paid.get(code, {}).get(line.line_no, 0),
                    )
            for dimension, key in cells:
                add(dimension, key, "member_responsibility", actual_left, left[line.line_no])
    return dict(by), dict(own)


def _gap_by_every_line(outcomes: list[tuple[str, ClaimOutcome]]) -> GapTally:
    """The coverage gap's cells, one line at a time."""
    gap = GapTally()
    for member, outcome in outcomes:
        case = outcome.claim.case
        policy = [
            lines for code, lines in outcome.paid.items() if outcome.products[code].tier in POLICY_TIERS
        ]
        for line in case.lines:
            cell = (case.assessment.grade, str(line.setting), line.month)
            gap.members[cell].add(member)
            gap.billed_fen[cell] += line.billed_fen
            gap.gap_fen[cell] += line.billed_fen - sum(lines.get(line.line_no, 0) for lines in policy)
    return gap


def _products_by_every_claim(outcomes: list[tuple[str, ClaimOutcome]]) -> dict[str, list[int]]:
    paid: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, outcome in outcomes:
        for code, lines in outcome.claim.actual.items():
            paid[code][0] += sum(lines.values())
        for code, lines in outcome.paid.items():
            paid[code][1] += sum(lines.values())
    return dict(paid)


def _spread(history: MemberHistory) -> MemberHistory:
    """Every even line moved a month on: claims of two months (and of two settings, or more)."""
    month = timedelta(days=31)
    claims = tuple(
        replace(
            claim,
            case=replace(
                claim.case,
                lines=tuple(
                    line.model_copy(
                        update={
                            "service_date": line.service_date + month,
                            "service_end_date": line.service_end_date and line.service_end_date + month,
                        }
                    )
                    if line.line_no % 2 == 0
                    else line
                    for line in claim.case.lines
                ),
            ),
        )
        for claim in history.claims
    )
    return replace(history, claims=claims)


def _one_setting(history: MemberHistory) -> MemberHistory:
    """Only the lines of the first line's setting: claims of one month and setting."""
    claims = tuple(
        replace(
            claim,
            case=replace(
                claim.case,
                lines=tuple(line for line in claim.case.lines if line.setting == claim.case.lines[0].setting),
            ),
        )
        for claim in history.claims
    )
    return replace(history, claims=claims)


def _with_actual(history: MemberHistory, district: str) -> MemberHistory:
    """The history with what the unchanged rules pay as what production paid (and, on one claim
    in three, a payment of a line the claim does not hold: it counts for its product, in no cell)."""
    paid = replay(history, {})
    claims = tuple(
        replace(
            claim,
            district=district,
            actual={**outcome.paid, "STRAY": {999: 1234}} if i % 3 == 0 else outcome.paid,
            actual_fixed=outcome.fixed,
        )
        for i, (claim, outcome) in enumerate(zip(history.claims, paid, strict=True))
    )
    return replace(history, claims=claims)


def test_the_tally_gives_the_cells_of_adding_every_line_with_and_without_a_draft() -> None:
    histories = [_with_actual(_history(m), ("330102", "330105")[m % 2]) for m in range(12)]
    histories += [_with_actual(_spread(_history(m)), "330106") for m in range(12, 18)]
    histories += [_with_actual(_one_setting(_history(m)), "330108") for m in range(18, 24)]
    definitions = {p["product_code"]: p for p in example_products()}
    for drafts in ({}, draft_products([DRAFT], definitions)):
        outcomes = [(h.member, o) for h in histories for o in replay(h, drafts)]
        assert {min(len(fold(o).cells), 2) for _, o in outcomes} == {1, 2}
        tally, gap = Tally(), GapTally()
        for member, outcome in outcomes:
            folded = fold(outcome)  # as the run gives it to both
            tally.add(member, outcome, folded)
            gap.add(member, outcome, folded)
        by, own = _by_every_line(outcomes)
        assert tally.by == by
        assert dict(tally.member_responsibility) == own
        assert {code: e["paid_fen"] for code, e in tally.products.items()} == _products_by_every_claim(
            outcomes
        )
        assert tally.billed_fen == sum(o.claim.billed_fen for _, o in outcomes)
        assert tally.lines == sum(len(o.claim.case.lines) for _, o in outcomes)
        lines = _gap_by_every_line(outcomes)
        assert (gap.members, gap.billed_fen, gap.gap_fen) == (lines.members, lines.billed_fen, lines.gap_fen)
        changed = report(tally)["by"]["month"]["2026-11"]
        assert (changed["tier 1"][0] != changed["tier 1"][1]) == bool(drafts)


def test_one_line_paid_a_fen_more_moves_its_own_month_and_nothing_else() -> None:
    history = _spread(_history(0))
    outcome = replay(history, {})[0]
    code, no = next((c, n) for c, lines in outcome.paid.items() for n in lines if n % 2 == 0)
    line = next(line for line in outcome.claim.case.lines if line.line_no == no)  # moved a month on
    tier = outcome.products[code].tier
    more = replace(
        outcome, paid={**outcome.paid, code: {**outcome.paid[code], no: outcome.paid[code][no] + 1}}
    )
    tallies, gaps = [], []
    for each in (outcome, more):
        tally, gap = Tally(), GapTally()
        tally.add("M", each)
        gap.add("M", each)
        tallies.append(tally)
        gaps.append(gap)
    month, other = line.month, outcome.claim.case.lines[0].month
    assert month != other
    before, after = tallies[0].by, tallies[1].by
    assert after["month"][month][f"tier {tier}"] == [
        before["month"][month][f"tier {tier}"][0],
        before["month"][month][f"tier {tier}"][1] + 1,
    ]
    assert (
        after["month"][month]["member_responsibility"][1]
        == before["month"][month]["member_responsibility"][1] - 1
    )
    assert after["month"][other] == before["month"][other]
    assert tallies[1].member_responsibility["M"][1] == tallies[0].member_responsibility["M"][1] - 1
    assert tallies[1].products[code]["paid_fen"][1] == tallies[0].products[code]["paid_fen"][1] + 1
    cell = (outcome.claim.case.assessment.grade, str(line.setting), month)
    assert gaps[1].gap_fen[cell] == gaps[0].gap_fen[cell] - (1 if tier in POLICY_TIERS else 0)
    assert gaps[1].billed_fen == gaps[0].billed_fen


def test_tallies_merged_give_the_cells_of_one_tally_whether_or_not_a_part_was_read_first() -> None:
    histories = [_with_actual(_spread(_history(m)), ("330102", "330105")[m % 2]) for m in range(8)]
    outcomes = [(h.member, o) for h in histories for o in replay(h, {})]
    whole, parts = Tally(), [Tally(), Tally(), Tally()]
    for n, (member, outcome) in enumerate(outcomes):
        whole.add(member, outcome)
        parts[n % 3].add(member, outcome)
    assert parts[0].by  # its sums added to its cells before the merge; the others' still pending
    merged = Tally()
    for part in parts:
        _merge(merged, part)
    assert merged.by == whole.by == _by_every_line(outcomes)[0]
    assert merged.member_responsibility == whole.member_responsibility
    assert (merged.claims, merged.lines, merged.billed_fen) == (whole.claims, whole.lines, whole.billed_fen)
