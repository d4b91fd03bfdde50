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

from collections.abc import Iterable, Mapping, Sequence
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
    a replay of a member's period asks for each claim in turn, and indexes each line once."""

    def __init__(self) -> None:
        self.beds: dict[date, list[str]] = {}
        self.by_code: dict[tuple[str, date], dict[str, int]] = {}  # → units per earlier claim
        self.named: dict[tuple[str, date], list[str]] = {}
        self.visits: list[tuple[tuple[datetime, datetime], str]] = []

    def add(self, claimed: Iterable[ClaimedLine], first: date = date.min, last: date = date.max) -> None:
        """``claimed``, after what is already here (only the days from ``first`` to ``last``)."""
        beds, by_code, named = self.beds, self.by_code, self.named
        for earlier in claimed:
            line = earlier.line
            if line.visit is not None:  # the time of a visit counts, whatever date it was billed for
                self.visits.append(((line.visit.check_in, line.visit.check_out), earlier.where))
            if line.last_date < first or line.service_date > last:
                continue
            units = units_on(line)
            for day in days_of(line):
                if is_bed_day(line):
                    beds.setdefault(day, []).append(earlier.where)
                key = (line.service_code, day)
                per_claim = by_code.setdefault(key, {})
                per_claim[earlier.claim] = per_claim.get(earlier.claim, 0) + units
                named.setdefault(key, []).append(earlier.where)

    def repeats(self, lines: Sequence[ClaimLine]) -> dict[int, Repeat]:
        found: dict[int, Repeat] = {}
        for line in lines:
            repeat = _repeat(line, self.beds, self.by_code, self.named, self.visits)
            if repeat is not None:
                found[line.line_no] = repeat
        return found


def _repeat(
    line: ClaimLine,
    beds: Mapping[date, list[str]],
    by_code: Mapping[tuple[str, date], Mapping[str, int]],
    named: Mapping[tuple[str, date], list[str]],
    visits: Sequence[tuple[tuple[datetime, datetime], str]],
) -> Repeat | None:
    where: list[str] = []
    if line.visit is not None:
        span = (line.visit.check_in, line.visit.check_out)
        where = [w for other, w in visits if _overlap(span, other)]
    if where:  # the visit repeats: every unit of it
        whole = tuple(days_of(line)) if line.last_date != line.service_date else ()
        return Repeat(line.quantity, whole, tuple(dict.fromkeys(where)))
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
