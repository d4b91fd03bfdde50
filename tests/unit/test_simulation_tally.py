"""The report's tally sums a claim's lines by month and setting before adding them to the cells:
its cells must be exactly those of adding every line to every cell, as the tally first did."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.simulation import _history
from examples import example_products
from gateway.simulation.drafts import draft_products
from gateway.simulation.replay import ClaimOutcome, MemberHistory, replay
from gateway.simulation.report import Tally, report

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


def _with_actual(history: MemberHistory, district: str) -> MemberHistory:
    """The history with what the unchanged rules pay as what production paid."""
    paid = replay(history, {})
    claims = tuple(
        replace(claim, district=district, actual=outcome.paid, actual_fixed=outcome.fixed)
        for claim, outcome in zip(history.claims, paid, strict=True)
    )
    return replace(history, claims=claims)


def test_the_tally_gives_the_cells_of_adding_every_line_with_and_without_a_draft() -> None:
    histories = [_with_actual(_history(m), ("330102", "330105")[m % 2]) for m in range(12)]
    definitions = {p["product_code"]: p for p in example_products()}
    for drafts in ({}, draft_products([DRAFT], definitions)):
        outcomes = [(h.member, o) for h in histories for o in replay(h, drafts)]
        tally = Tally()
        for member, outcome in outcomes:
            tally.add(member, outcome)
        by, own = _by_every_line(outcomes)
        assert tally.by == by
        assert dict(tally.member_responsibility) == own
        changed = report(tally)["by"]["month"]["2026-11"]
        assert (changed["tier 1"][0] != changed["tier 1"][1]) == bool(drafts)
