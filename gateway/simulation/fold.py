"""A claim's lines summed once by month and care setting, for both the report's tally
(``report.Tally``) and the coverage gap (``gap.GapTally``). Pure.

Both add a claim to cells of a month and a setting (and of the claim's grade and district), so
the claim's lines are gone over once, here, not once by each of them: each line's billed amount
goes to its month and setting, then each product's payments, actual and simulated, go to the
month and setting of the line they pay. What remains for the member is billed less every
product's payments, so it is worked out a month and setting at a time, not a line at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gateway.simulation.replay import ClaimOutcome

_MONTHS: dict[date, str] = {}  # a day → its month, "YYYY-MM": formatted once, not for every line


def month_of(day: date) -> str:
    month = _MONTHS.get(day)
    if month is None:
        if len(_MONTHS) >= 10_000:  # a few years of days; never more
            _MONTHS.clear()
        month = _MONTHS[day] = f"{day.year:04d}-{day.month:02d}"
    return month


@dataclass(frozen=True, slots=True)
class ClaimFold:
    """``cells``: (month, setting) → the sums of the claim's lines there, in this order: for each
    product of ``codes`` in turn its actual then its simulated payments; then what remains for
    the member, actual then simulated; then the amount billed. ``paid``: each product's actual
    then simulated payments in all, in the same order."""

    codes: list[str]  # the products that paid the claim, actually or in the simulation
    tiers: list[int]  # each code's tier, as the replay ran it (0: a product the replay did not run)
    cells: dict[tuple[str, object], list[int]]
    paid: list[int]

    @property
    def width(self) -> int:
        return 2 * len(self.codes) + 3


def fold(outcome: ClaimOutcome) -> ClaimFold:
    claim = outcome.claim
    actual, simulated, products = claim.actual, outcome.paid, outcome.products
    codes = list(actual)
    for code in simulated:
        if code not in actual:
            codes.append(code)
    tiers = [products[code].tier if code in products else 0 for code in codes]
    n = 2 * len(codes)
    width = n + 3
    cells: dict[tuple[str, object], list[int]] = {}
    at: dict[int, list[int]] = {}  # line_no → the sums of its month and setting
    months = _MONTHS
    sums: list[int] = []
    for line in claim.case.lines:
        day = line.service_date
        key = (months.get(day) or month_of(day), line.setting)
        found = cells.get(key)
        if found is None:
            found = cells[key] = [0] * width
        found[-1] += line.billed_fen
        at[line.line_no] = sums = found
    one = len(cells) == 1  # most claims: one month and setting, whose sums are the claim's
    paid_in_all = [0] * n
    j = 0
    for code in codes:
        for side in (actual, simulated):
            paid = side.get(code)
            if paid:
                total = paid_in_all[j] = sum(paid.values())
                if paid.keys() <= at.keys():
                    if one:
                        sums[j] += total
                    else:
                        for line_no, fen in paid.items():
                            at[line_no][j] += fen
                else:  # a payment of a line the claim does not hold counts in no cell
                    for line_no, fen in paid.items():
                        if line_no in at:
                            at[line_no][j] += fen
            j += 1
    for sums in cells.values():
        billed = sums[-1]
        sums[n] = billed - sum(sums[0:n:2])
        sums[n + 1] = billed - sum(sums[1:n:2])
    return ClaimFold(codes, tiers, cells, paid_in_all)
