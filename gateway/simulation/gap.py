"""The coverage gap after tiers 1 and 2, for insurers designing tier 3 (数据可用不可见). Pure.

What remains for members once the policy layers have paid, by grade, care setting and month, as
aggregates of at least ``k`` members: a cell with fewer is suppressed (shown as such, with no
figure). There are no margins: a published total is the sum of the published cells only, so no
suppressed cell can be recovered by subtracting the others from a total; and every cell is one
month's, so two reports over different periods share the same cells for the months both hold
and their difference holds no partial cell either.

That still leaves differencing across time: a cell of 12 members today and 13 after a late
claim would give the 13th member's figures as the difference of two reports. So every published
amount carries a perturbation (the cell key method): a keyed hash of the cell, its members and
its true figure picks an offset of up to the cell's mean per member either way. The same cell
with the same members and figures always gets the same offset (a report is reproducible, and
asking again averages nothing away); any change to the cell draws a new one, so the difference
of two reports is the member's amount plus the difference of two offsets the size of a member's.
The key is secret (derived from the look-up key), so nobody can take the offsets off.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from gateway.simulation.fold import ClaimFold, fold
from gateway.simulation.replay import ClaimOutcome

POLICY_TIERS = (1, 2)
Cell = tuple[int, str, str]  # grade, setting, month


@dataclass
class GapTally:
    members: dict[Cell, set[str]] = field(default_factory=lambda: defaultdict(set))
    gap_fen: dict[Cell, int] = field(default_factory=lambda: defaultdict(int))
    billed_fen: dict[Cell, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, member: str, outcome: ClaimOutcome, folded: ClaimFold | None = None) -> None:
        """``folded``: ``fold(outcome)``, if the caller has it (the report's tally takes it too)."""
        if folded is None:
            folded = fold(outcome)
        simulated = outcome.paid
        # the simulated payments of the policy tiers, at their places in the fold's sums
        policy = [
            2 * i + 1
            for i, (code, tier) in enumerate(zip(folded.codes, folded.tiers, strict=True))
            if code in simulated and tier in POLICY_TIERS
        ]
        grade = outcome.claim.case.assessment.grade
        members, gap_fen, billed_fen = self.members, self.gap_fen, self.billed_fen
        for (month, setting), sums in folded.cells.items():
            cell = (grade, str(setting), month)
            members[cell].add(member)
            billed = sums[-1]
            billed_fen[cell] += billed
            gap_fen[cell] += billed - sum([sums[i] for i in policy])


def perturbed(key: bytes, cell: Cell, measure: str, members: set[str], fen: int) -> int:
    """``fen`` moved by up to the cell's mean per member, either way, as the cell's key says."""
    spread = max(abs(fen) // max(len(members), 1), 100)
    text = repr((cell, measure, sorted(members), fen)).encode()
    draw = int.from_bytes(hmac.new(key, text, hashlib.sha256).digest()[:8], "big") / 2**64
    return max(0, fen + round((2 * draw - 1) * spread))


def gap_report(tally: GapTally, k: int, key: bytes) -> dict[str, Any]:
    """The published cells (``key``: the secret the perturbations are drawn with)."""
    cells = []
    published_gap = published_members = 0
    for cell in sorted(tally.members):
        grade, setting, month = cell
        n = len(tally.members[cell])
        if n < k:
            cells.append({"grade": grade, "setting": setting, "month": month, "suppressed": True})
            continue
        members = tally.members[cell]
        billed = perturbed(key, cell, "billed", members, tally.billed_fen[cell])
        gap = min(perturbed(key, cell, "gap", members, tally.gap_fen[cell]), billed)
        published_gap += gap
        published_members += n
        cells.append(
            {
                "grade": grade,
                "setting": setting,
                "month": month,
                "suppressed": False,
                "members": n,
                "billed_fen": billed,
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
