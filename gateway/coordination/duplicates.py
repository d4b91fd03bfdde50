"""Services an earlier claim already claimed for the same member (domain.md section 4).

A member receives a service once: a line that repeats what an earlier claim (of any provider, in
coordination order) claimed is not paid again by any payer. Repeated are

* the days of a bed-day (``per_diem`` in an institution) that another bed-day already covers, of
  any service code: a member occupies one bed a day;
* for the same service code on the same date, min(this line's units, the units already claimed);
  "already claimed" is the most any one earlier claim claimed, since a claim that only repeated
  an earlier one adds no unit the member received;
* every unit of a home visit whose time overlaps a visit already claimed.

Pure: the caller reads the earlier claims' lines (``orchestration.claim_facts``); the engine takes the
repeated units out of the line under ``DUPLICATE_SERVICE`` before any other reason.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from gateway.coordination.reasons import Reason
from gateway.domain.claims import ClaimLine
from gateway.domain.products import Method, Setting

if TYPE_CHECKING:
    from gateway.coordination.eligibility import Terms

_ONE_DAY = timedelta(days=1)
_NAMED = 5  # earlier lines named in a flag; the rest are counted


@dataclass(frozen=True, slots=True)
class ClaimedLine:
    """A line of an earlier claim of the same member."""

    line: ClaimLine
    claim: str  # the earlier claim, as the bureau finds it (its id)

    @property
    def where(self) -> str:
        return f"claim {self.claim} line {self.line.line_no}"


@dataclass(frozen=True, slots=True)
class Repeat:
    """The units of one line that repeat earlier claims."""

    units: int
    days: tuple[date, ...]  # a range over several days: the repeated days (a unit each); else ()
    earlier: tuple[str, ...]  # the lines repeated ("claim <id> line <n>"), earliest first

    def detail(self, line: ClaimLine) -> str:
        named = "; ".join(self.earlier[:_NAMED])
        more = f" and {len(self.earlier) - _NAMED} more" if len(self.earlier) > _NAMED else ""
        return f"{self.units} of {line.quantity} units repeat {named}{more}"


def is_bed_day(line: ClaimLine) -> bool:
    return line.method == Method.PER_DIEM and line.setting == Setting.INSTITUTIONAL


def days_of(line: ClaimLine) -> Iterable[date]:
    first = line.service_date
    return [first + n * _ONE_DAY for n in range((line.last_date - first).days + 1)]


def units_on(line: ClaimLine) -> int:
    """The units a line bills on each of its days: one a day for a range, else its quantity."""
    return 1 if line.last_date != line.service_date else line.quantity


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def repeats(lines: Sequence[ClaimLine], claimed: Iterable[ClaimedLine]) -> dict[int, Repeat]:
    """By line number, the units of ``lines`` that repeat ``claimed`` (lines with none are left out)."""
    if not lines:
        return {}
    first = min(line.service_date for line in lines)
    last = max(line.last_date for line in lines)
    earlier = EarlierClaims()
    earlier.add(claimed, first, last)
    return earlier.repeats(lines)


class EarlierClaims:
    """The lines of a member's earlier claims as ``repeats`` looks them up, added claim by claim:
    a replay of a member's period asks for each claim in turn, and indexes each line once. A line
    in a month no earlier line touches is not looked up day by day, and a visit is compared only
    with the visits that start near it (sorted by check-in), not with all of them."""

    def __init__(self) -> None:
        self.beds: dict[date, list[str]] = {}
        self.by_code: dict[tuple[str, date], dict[str, int]] = {}  # → units per earlier claim
        self.named: dict[tuple[str, date], list[str]] = {}
        self.visits: list[tuple[tuple[datetime, datetime], ClaimedLine]] = []  # in the order added
        self.months: set[tuple[int, int]] = set()  # the months of every day added
        # a month's lines are indexed day by day only when a later line touches that month (in
        # a member's monthly claims most months are never looked up again); a day's lists still
        # come out in the order the lines were added, since only its month's lines fill them
        self._pending: dict[tuple[int, int], list[ClaimedLine]] = {}
        self._starts: list[datetime] = []  # the visits' check-ins, sorted
        self._order: list[int] = []  # indexes into ``visits`` in check-in order
        self._longest = timedelta(0)  # the longest visit: how long before a visit one can start

    def add(self, claimed: Iterable[ClaimedLine], first: date = date.min, last: date = date.max) -> None:
        """``claimed``, after what is already here (only the days from ``first`` to ``last``)."""
        pending, months, visits = self._pending, self.months, self.visits
        bounded = first != date.min or last != date.max
        for earlier in claimed:
            line = earlier.line
            visit = line.visit
            if visit is not None:  # the time of a visit counts, whatever date it was billed for
                span = (visit.check_in, visit.check_out)
                at = bisect.bisect_right(self._starts, span[0])
                self._starts.insert(at, span[0])
                self._order.insert(at, len(visits))
                self._longest = max(self._longest, span[1] - span[0])
                visits.append((span, earlier))  # named only if a later visit overlaps it
            if bounded and (line.last_date < first or line.service_date > last):
                continue
            for month in _months(line):
                months.add(month)
                pending.setdefault(month, []).append(earlier)

    def _index(self, month: tuple[int, int]) -> None:
        """The days in ``month`` of the lines added since it was last looked up."""
        beds, by_code, named = self.beds, self.by_code, self.named
        for earlier in self._pending.pop(month, ()):
            line = earlier.line
            where = earlier.where
            units, bed, code = units_on(line), is_bed_day(line), line.service_code
            for day in days_of(line):
                if (day.year, day.month) != month:
                    continue
                if bed:
                    beds.setdefault(day, []).append(where)
                key = (code, day)
                per_claim = by_code.setdefault(key, {})
                per_claim[earlier.claim] = per_claim.get(earlier.claim, 0) + units
                named.setdefault(key, []).append(where)

    def repeats(self, lines: Sequence[ClaimLine]) -> dict[int, Repeat]:
        found: dict[int, Repeat] = {}
        months, visits = self.months, self.visits
        for line in lines:
            day, until = line.service_date, line.service_end_date
            if (
                (line.visit is None or not visits)
                and (until is None or (until.year == day.year and until.month == day.month))
                and (day.year, day.month) not in months
            ):
                continue  # one month's line, no earlier line in its month: the common case
            repeat = self._repeat(line)
            if repeat is not None:
                found[line.line_no] = repeat
        return found

    def _visits_over(self, span: tuple[datetime, datetime]) -> list[str]:
        """The earlier visits whose time overlaps ``span``, in the order they were added."""
        low = bisect.bisect_left(self._starts, span[0] - self._longest)
        high = bisect.bisect_left(self._starts, span[1])
        visits = self.visits
        return [visits[i][1].where for i in sorted(self._order[low:high]) if _overlap(span, visits[i][0])]

    def _repeat(self, line: ClaimLine) -> Repeat | None:
        where: list[str] = []
        if line.visit is not None and self.visits:
            where = self._visits_over((line.visit.check_in, line.visit.check_out))
        if where:  # the visit repeats: every unit of it
            whole = tuple(days_of(line)) if line.last_date != line.service_date else ()
            return Repeat(line.quantity, whole, tuple(dict.fromkeys(where)))
        months = _months(line)
        if self.months.isdisjoint(months):
            return None  # no earlier line on any of its days
        for month in months:
            if month in self._pending:
                self._index(month)
        beds, by_code, named = self.beds, self.by_code, self.named
        units, days, bed = units_on(line), [], is_bed_day(line)
        total = 0
        for day in days_of(line):
            if bed and day in beds:
                repeated, names = units, beds[day]
            else:
                per_claim = by_code.get((line.service_code, day))
                if not per_claim:
                    continue
                repeated, names = min(units, max(per_claim.values())), named[(line.service_code, day)]
            total += repeated
            days.append(day)
            where.extend(names)
        if not total:
            return None
        spread = line.last_date != line.service_date
        return Repeat(total, tuple(days) if spread else (), tuple(dict.fromkeys(where)))


def _months(line: ClaimLine) -> list[tuple[int, int]]:
    """The calendar months the line's days fall in (one, unless a range crosses a month)."""
    first, last = line.service_date, line.last_date
    if first.month == last.month and first.year == last.year:
        return [(first.year, first.month)]  # most lines
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def take_repeated(
    units: dict[Reason | None, int], line: ClaimLine, repeat: Repeat, terms: Terms, line_reason: Reason | None
) -> None:
    """Move the repeated units from the reason they had (``eligibility.unit_reasons``) to
    ``DUPLICATE_SERVICE``: it comes before every other reason for them."""
    if repeat.days:
        for day in repeat.days:
            units[terms.reason_on(day) or line_reason] -= 1
    else:  # one day: every unit has the same reason
        (reason,) = units
        units[reason] -= repeat.units
    units[Reason.DUPLICATE_SERVICE] = repeat.units
