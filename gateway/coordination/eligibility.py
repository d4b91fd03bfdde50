"""Which units of a line a product may pay for, and the reason for every unit it may not.

Reasons are checked in the order of ``Reason``; the first that fails takes the unit. Conditions
that change with the date (cover, assessment validity, waiting period, designation) are checked
day by day, so a bed-day range that starts before a waiting period ends loses only those days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import itemgetter

from gateway.coordination.facts import CaseFacts, VisitRecord
from gateway.coordination.reasons import EXCLUSION_REASON, Reason
from gateway.coordination.visits import VisitFinding, check_visit
from gateway.domain.claims import ClaimLine, VisitEvidence
from gateway.domain.coverage import Coverage
from gateway.domain.products import Benefit, Setting
from gateway.domain.providers import Designation

_ONE_DAY = timedelta(days=1)


def line_condition(
    line: ClaimLine, coverage: Coverage, case: CaseFacts, benefit: Benefit | None
) -> tuple[Reason | None, VisitFinding | None]:
    """The reasons that hold for a line as a whole (exclusion, setting, service, visit evidence)."""
    product = coverage.product
    if line.exclusion is not None and line.exclusion in product.eligibility.excluded:
        return EXCLUSION_REASON[line.exclusion], None
    if not product.covers_setting(line.setting):
        return Reason.SETTING_NOT_COVERED, None
    if benefit is None or (
        benefit.service_codes is not None and line.service_code not in benefit.service_codes
    ):
        return Reason.SERVICE_NOT_COVERED, None
    if benefit.requires_visit_evidence and line.setting == Setting.HOME:
        finding = visit_finding(line, case, float(benefit.visit_radius_m or 0))
        return (None if finding.verified else Reason.VISIT_UNVERIFIED), finding
    return None, None


Overlapping = dict[int, tuple[ClaimLine, list[ClaimLine]]]  # id(line) → the line, its overlapping


def visit_finding(
    line: ClaimLine, case: CaseFacts, radius_m: float, overlapping: Overlapping | None = None
) -> VisitFinding:
    """``overlapping``: ``overlapping_visits(case)``, if the caller has it (it asks of many lines)."""
    service = case.catalogue.get(line.service_code)
    minutes = service.standard_minutes * line.quantity if service and service.standard_minutes else None
    visit = line.visit
    # only the claim's other visits by the same caregiver at an overlapping time can be a finding
    # (``check_visit`` passes over the rest): a record each for those alone, not for every pair
    # of the claim's visits (a sixth of the simulation's replay CPU on a generated city)
    known = overlapping.get(id(line)) if overlapping is not None and visit is not None else None
    if visit is None:
        others: list[ClaimLine] = []
    elif known is not None and known[0] is line:
        others = [o for o in known[1] if o.line_no != line.line_no]
    else:
        others = [
            o
            for o in case.lines
            if o.visit is not None
            and o.line_no != line.line_no
            and o.visit.caregiver_id == visit.caregiver_id
            and o.visit.check_in < visit.check_out
            and visit.check_in < o.visit.check_out
        ]
    own = [VisitRecord.of(o.visit, f"line {o.line_no} of this claim") for o in others if o.visit is not None]
    return check_visit(
        line,
        radius_m=radius_m,
        billed_minutes=minutes,
        member_position=case.member_position,
        caregiver_visits=[*own, *case.other_visits],
    )


def overlapping_visits(case: CaseFacts) -> Overlapping:
    """For each line of the case with a visit, the case's other lines with a visit by the same
    caregiver at an overlapping time, in the order of the case's lines: found by sorting each
    caregiver's visits by check-in once, not by looking at every other line for every line.
    Empty for a case that holds the same line twice (``visit_finding`` then looks at them all)."""
    by_caregiver: dict[str, list[tuple[int, ClaimLine, VisitEvidence]]] = {}
    found: dict[int, list[tuple[int, ClaimLine]]] = {}
    for i, o in enumerate(case.lines):
        if o.visit is not None:
            if id(o) in found:
                return {}
            found[id(o)] = []
            by_caregiver.setdefault(o.visit.caregiver_id, []).append((i, o, o.visit))
    for group in by_caregiver.values():
        if len(group) > 1:
            group.sort(key=_check_in)
        for k, (i, a, va) in enumerate(group):
            # in check-in order: the first visit that checks in once ``a`` checked out ends its pairs
            for j, b, vb in group[k + 1 :]:
                if not vb.check_in < va.check_out:
                    break
                if va.check_in < vb.check_out:
                    found[id(a)].append((j, b))
                    found[id(b)].append((i, a))
    overlapping: Overlapping = {}
    for o in case.lines:
        if o.visit is not None:
            pairs = found[id(o)]
            if len(pairs) > 1:
                pairs.sort(key=_POSITION)
            overlapping[id(o)] = (o, [other for _, other in pairs])
    return overlapping


def _check_in(item: tuple[int, ClaimLine, VisitEvidence]) -> datetime:
    return item[2].check_in


_POSITION = itemgetter(0)


@dataclass(frozen=True, slots=True)
class Terms:
    """What eligibility by date depends on, for one payer and one case: worked out once per payer,
    not once per line."""

    coverage: Coverage
    grade_ok: bool
    effective_from: date
    valid_to: date  # the last day the assessment is valid (None-free: "lasted" folds into it)
    waiting_ends: date
    needs_designation: bool
    designation: Designation
    # every condition holds from ``holds_from`` to ``holds_to`` and on no other day (the
    # intersection of the spans above): the engine's one test for most lines
    holds_from: date = date.max
    holds_to: date = date.min

    @classmethod
    def of(cls, coverage: Coverage, case: CaseFacts, span: tuple[date, date] | None = None) -> Terms:
        """``span``: ``case.assessment.effective_span`` for the product, if the caller has it."""
        elig, assessment = coverage.product.eligibility, case.assessment
        effective_from, valid_to = span or assessment.effective_span(elig)
        grade_ok = assessment.grade >= elig.min_grade
        waiting_ends = coverage.waiting_ends
        designation = case.designation
        lows = [coverage.start_date, effective_from, waiting_ends]
        highs = [valid_to]
        if coverage.end_date is not None:
            highs.append(coverage.end_date)
        if elig.designated_providers_only:
            if designation.start is not None:
                lows.append(designation.start)
            if designation.end is not None:
                highs.append(designation.end)
        holds = grade_ok and (designation.designated or not elig.designated_providers_only)
        return cls(
            coverage,
            grade_ok,
            effective_from,
            valid_to,
            waiting_ends,
            elig.designated_providers_only,
            designation,
            max(lows) if holds else date.max,
            min(highs) if holds else date.min,
        )

    def reason_on(self, day: date) -> Reason | None:
        """The first condition by date that fails on ``day`` (None: all hold)."""
        if self.holds_from <= day <= self.holds_to:
            return None
        if not self.coverage.covers(day):
            return Reason.NOT_COVERED
        if not self.grade_ok:
            return Reason.GRADE_BELOW_THRESHOLD
        if not (self.effective_from <= day <= self.valid_to):
            return Reason.ASSESSMENT_NOT_EFFECTIVE
        if day < self.waiting_ends:
            return Reason.WAITING_PERIOD
        if self.needs_designation and not self.designation.on(day):
            return Reason.PROVIDER_NOT_DESIGNATED
        return None


def unit_reasons(line: ClaimLine, terms: Terms, line_reason: Reason | None) -> dict[Reason | None, int]:
    """Units of the line by the first reason that fails for them (None: payable)."""
    first, last = line.service_date, line.last_date
    if first == last:  # one day (a bed-day range of one day bills one unit)
        return {terms.reason_on(first) or line_reason: line.quantity}

    # A bed-day range: evaluate once per stretch of days on which no condition changes.
    coverage, designation = terms.coverage, terms.designation
    effective_from = terms.effective_from if terms.effective_from != date.max else first
    edges = {coverage.start_date, effective_from, terms.valid_to + _ONE_DAY, terms.waiting_ends}
    if coverage.end_date is not None:
        edges.add(coverage.end_date + _ONE_DAY)
    if designation.start is not None:
        edges.add(designation.start)
    if designation.end is not None:
        edges.add(designation.end + _ONE_DAY)
    starts = sorted({first} | {d for d in edges if first < d <= last})
    units: dict[Reason | None, int] = {}
    for i, start in enumerate(starts):
        end = starts[i + 1] - _ONE_DAY if i + 1 < len(starts) else last
        reason = terms.reason_on(start) or line_reason
        units[reason] = units.get(reason, 0) + (end - start).days + 1
    return units
