"""A simulation's report, side by side with what happened (domain.md section 9). Pure.

``Tally`` takes the replay's outcomes one claim at a time (memory grows with members and
products, not with lines) and ``report`` makes the figures: per tier and product fund paid,
claims and members affected; member responsibility in total, per member and by percentile; the
same by month, grade, care setting and district; the members who gain or lose most (by
pseudonym); fixed benefits; and the funding side. Every amount is fen, as ``[actual, simulated]``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.simulation.fold import ClaimFold, fold
from gateway.simulation.replay import ClaimOutcome

Pair = list[int]  # [actual, simulated]
TOP = 10  # members listed as gaining or losing most


def _pair() -> Pair:
    return [0, 0]


@dataclass(frozen=True, slots=True)
class Funding:
    """Entered by the bureau: a contribution per person and year, the members it is paid for
    (None: the members in the period), and the fund's balance at the start."""

    per_person_year_fen: int = 0
    enrolled_members: int | None = None
    fund_balance_fen: int | None = None


@dataclass
class Tally:
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells: dict[str, dict[str, dict[str, Pair]]] = field(default_factory=lambda: defaultdict(dict))
    member_responsibility: dict[str, Pair] = field(default_factory=lambda: defaultdict(_pair))
    fixed: dict[str, dict[str, Any]] = field(default_factory=dict)
    months: set[str] = field(default_factory=set)
    claims: int = 0
    lines: int = 0
    billed_fen: int = 0
    # (month, setting, grade, district, tiers) → the sums (as ``fold`` gives them) of the claims
    # there, added to the cells when they are read: a claim adds to one entry, not to four cells
    pending: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)

    @property
    def by(self) -> dict[str, dict[str, dict[str, Pair]]]:
        """dimension → key → measure → [actual, simulated]."""
        if self.pending:
            pending, self.pending = self.pending, {}
            for (month, setting, grade, district, tiers), sums in pending.items():
                measures = [f"tier {tier}" for tier in tiers] + ["member_responsibility"]
                self._add_all("month", month, measures, sums)
                self._add_all("setting", str(setting), measures, sums)
                self._add_all("grade", f"grade {grade}", measures, sums)
                self._add_all("district", district, measures, sums)
        return self.cells

    def _add(self, dimension: str, key: str, measure: str, actual: int, simulated: int) -> None:
        cell = self.by[dimension].setdefault(key, {})
        pair = cell.setdefault(measure, [0, 0])
        pair[0] += actual
        pair[1] += simulated

    def _add_all(self, dimension: str, key: str, measures: list[str], sums: list[int]) -> None:
        """``sums``: actual then simulated of each measure in turn."""
        cell = self.cells[dimension].setdefault(key, {})
        for i, measure in enumerate(measures):
            pair = cell.get(measure)
            if pair is None:
                cell[measure] = [sums[2 * i], sums[2 * i + 1]]
            else:
                pair[0] += sums[2 * i]
                pair[1] += sums[2 * i + 1]

    def add(self, member: str, outcome: ClaimOutcome, folded: ClaimFold | None = None) -> None:
        """``folded``: ``fold(outcome)``, if the caller has it (the coverage gap takes it too)."""
        claim, case = outcome.claim, outcome.claim.case
        if folded is None:
            folded = fold(outcome)
        self.claims += 1
        self.lines += len(case.lines)
        codes, tiers = folded.codes, folded.tiers
        products = outcome.products
        paid = folded.paid
        for i, code in enumerate(codes):
            entry = self.products.get(code)
            if entry is None:
                product = products.get(code)
                entry = self.products[code] = {
                    "payer_code": product.payer_code if product else "",
                    "tier": tiers[i],
                    "paid_fen": [0, 0],
                    "claims": [0, 0],
                    "members": [set(), set()],
                }
            for side in (0, 1):
                fen = paid[2 * i + side]
                if fen:
                    entry["paid_fen"][side] += fen
                    entry["claims"][side] += 1
                    entry["members"][side].add(member)
        if case.lines:
            self._add_cells(member, claim.district, case.assessment.grade, folded)
        if claim.actual_fixed or outcome.fixed:
            self._fixed(outcome)

    def _add_cells(self, member: str, district: str, grade: int, folded: ClaimFold) -> None:
        """The claim's sums by month and setting added to those of the claims before it with the
        same month, setting, grade, district and tiers (``by`` adds them to the cells)."""
        tiers = tuple(folded.tiers)
        width = folded.width
        pending, months = self.pending, self.months
        whole = [0, 0, 0]  # responsibility, actual and simulated, and billed
        for (month, setting), sums in folded.cells.items():
            months.add(month)
            key = (month, setting, grade, district, tiers)
            into = pending.get(key)
            if into is None:
                pending[key] = sums.copy()
            else:
                for i, fen in enumerate(sums):
                    into[i] += fen
            whole[0] += sums[width - 3]
            whole[1] += sums[width - 2]
            whole[2] += sums[width - 1]
        own = self.member_responsibility[member]
        own[0] += whole[0]
        own[1] += whole[1]
        self.billed_fen += whole[2]

    def _fixed(self, outcome: ClaimOutcome) -> None:
        claim = outcome.claim
        for code in set(claim.actual_fixed) | set(outcome.fixed):
            entry = self.fixed.setdefault(code, {"paid_fen": [0, 0], "member_months": [0, 0]})
            for i, months in enumerate((claim.actual_fixed.get(code, {}), outcome.fixed.get(code, {}))):
                entry["paid_fen"][i] += sum(months.values())
                entry["member_months"][i] += sum(1 for amount in months.values() if amount)


def percentile(values: list[int], share: float) -> int:
    """Nearest rank (no interpolation: every figure is one member's amount, or more than k's)."""
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, -(-int(share * 100) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def _tier_totals(products: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    tiers: dict[str, dict[str, Any]] = {}
    for entry in products.values():
        tier = tiers.setdefault(
            f"tier {entry['tier']}", {"paid_fen": [0, 0], "claims": [0, 0], "members": [0, 0]}
        )
        for i in (0, 1):
            tier["paid_fen"][i] += entry["paid_fen"][i]
            tier["claims"][i] += entry["claims"][i]
            tier["members"][i] += entry["members"][i]
    return dict(sorted(tiers.items()))


def report(tally: Tally, funding: Funding = Funding()) -> dict[str, Any]:
    products = {
        code: {**entry, "members": [len(entry["members"][0]), len(entry["members"][1])]}
        for code, entry in sorted(tally.products.items(), key=lambda item: (item[1]["tier"], item[0]))
    }
    per_member = tally.member_responsibility
    members = len(per_member)
    sides = [[pair[i] for pair in per_member.values()] for i in (0, 1)]
    responsibility = {
        "total_fen": [sum(side) for side in sides],
        "per_member_fen": [sum(side) // members if members else 0 for side in sides],
        **{f"p{p}_fen": [percentile(side, p / 100) for side in sides] for p in (50, 90, 99)},
    }
    change = sorted(
        ((pair[1] - pair[0], member) for member, pair in per_member.items() if pair[1] != pair[0])
    )
    gains = [{"member": m, "change_fen": d} for d, m in change[:TOP] if d < 0]
    losses = [{"member": m, "change_fen": d} for d, m in reversed(change[-TOP:]) if d > 0]
    tiers = _tier_totals(products)
    return {
        "claims": tally.claims,
        "lines": tally.lines,
        "members": members,
        "billed_fen": tally.billed_fen,
        "tiers": tiers,
        "products": products,
        "member_responsibility": responsibility,
        "by": {dimension: dict(sorted(cells.items())) for dimension, cells in sorted(tally.by.items())},
        "members_gaining_most": gains,
        "members_losing_most": losses,
        "fixed_benefits": dict(sorted(tally.fixed.items())),
        "funding": _funding(
            tiers.get("tier 1", {}).get("paid_fen", [0, 0]), len(tally.months), members, funding
        ),
    }


def _funding(spent: Pair, months: int, members: int, funding: Funding) -> dict[str, Any]:
    enrolled = funding.enrolled_members if funding.enrolled_members is not None else members
    monthly_in = funding.per_person_year_fen * enrolled // 12
    contributions = monthly_in * months
    left: list[float | None] = []
    for fen in spent:
        monthly_out = fen // months if months else 0
        if funding.fund_balance_fen is None or monthly_out <= monthly_in:
            left.append(None)  # the fund does not run down at this rate
        else:
            left.append(round(funding.fund_balance_fen / (monthly_out - monthly_in), 1))
    return {
        "per_person_year_fen": funding.per_person_year_fen,
        "enrolled_members": enrolled,
        "months": months,
        "contributions_fen": contributions,
        "tier1_spending_fen": spent,
        "balance_after_fen": [contributions - fen + (funding.fund_balance_fen or 0) for fen in spent],
        "months_of_payment_left": left,
    }


def tally_all(outcomes: Iterable[tuple[str, ClaimOutcome]]) -> Tally:
    tally = Tally()
    for member, outcome in outcomes:
        tally.add(member, outcome)
    return tally
