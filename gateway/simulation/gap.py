"""The coverage gap after tiers 1 and 2, for insurers designing tier 3 (数据可用不可见). Pure.

What remains for members once the policy layers have paid, by grade, care setting and month, as
aggregates of at least ``k`` members: a cell with fewer is suppressed (shown as such, with no
figure). There are no margins: a published total is the sum of the published cells only, so no
suppressed cell can be recovered by subtracting the others from a total; and every cell is one
month's, so two reports over different periods share the same cells for the months both hold
and their difference holds no partial cell either.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from gateway.simulation.replay import ClaimOutcome

POLICY_TIERS = (1, 2)
Cell = tuple[int, str, str]  # grade, setting, month


@dataclass
class GapTally:
    members: dict[Cell, set[str]] = field(default_factory=lambda: defaultdict(set))
    gap_fen: dict[Cell, int] = field(default_factory=lambda: defaultdict(int))
    billed_fen: dict[Cell, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, member: str, outcome: ClaimOutcome) -> None:
        case = outcome.claim.case
        policy = [
            lines for code, lines in outcome.paid.items() if outcome.products[code].tier in POLICY_TIERS
        ]
        for line in case.lines:
            cell = (case.assessment.grade, str(line.setting), line.month)
            self.members[cell].add(member)
            self.billed_fen[cell] += line.billed_fen
            self.gap_fen[cell] += line.billed_fen - sum(lines.get(line.line_no, 0) for lines in policy)


def gap_report(tally: GapTally, k: int) -> dict[str, Any]:
    cells = []
    published_gap = published_members = 0
    for cell in sorted(tally.members):
        grade, setting, month = cell
        n = len(tally.members[cell])
        if n < k:
            cells.append({"grade": grade, "setting": setting, "month": month, "suppressed": True})
            continue
        gap = tally.gap_fen[cell]
        published_gap += gap
        published_members += n
        cells.append(
            {
                "grade": grade,
                "setting": setting,
                "month": month,
                "suppressed": False,
                "members": n,
                "billed_fen": tally.billed_fen[cell],
                "gap_fen": gap,
                "gap_per_member_fen": gap // n,
            }
        )
    return {
        "minimum_cell_members": k,
        "cells": cells,
        "published_gap_fen": published_gap,  # of the published cells only: no margin to subtract from
        "published_member_months": published_members,
    }
