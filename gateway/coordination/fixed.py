"""Fixed benefits (定额给付): a sum per month while the trigger holds, whatever the cost.

They are not coordinated with the indemnity payers; they are reported beside the result. Our
rule: the trigger is tested on the last day of each month the claim period covers (or the period's
last day, if earlier), and a member receives a product's benefit for a month once, whichever claim
first shows it. A benefit is paid for a month only once the month has ended (never in advance):
a claim accepted before its month's last day (Beijing date) carries no benefit for that month; the
first claim of the month accepted after it ended does.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from gateway.coordination.facts import CaseFacts
from gateway.coordination.reasons import Reason
from gateway.domain.coverage import Coverage


@dataclass(frozen=True, slots=True)
class FixedBenefitDecision:
    payer_code: str
    product_code: str
    month: str  # "2026-11"
    amount_fen: int
    payee: str
    reason: Reason | None = None  # why it is not due (amount 0)


def months_of(start: date, end: date) -> Iterator[tuple[str, date]]:
    """Each month the period touches, with the day its trigger is tested on."""
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        last = date(year, month, monthrange(year, month)[1])
        yield f"{year:04d}-{month:02d}", min(last, end)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def due_months(start: date, end: date, accepted_on: date | None) -> Iterator[tuple[str, date]]:
    """``months_of`` the months that had ended before ``accepted_on`` (all of them if None)."""
    for month, day in months_of(start, end):
        if accepted_on is not None and _month_end(day) >= accepted_on:
            return  # this month and every later one are still running
        yield month, day


def _month_end(day: date) -> date:
    return date(day.year, day.month, monthrange(day.year, day.month)[1])


def trigger_reason(coverage: Coverage, case: CaseFacts, day: date) -> Reason | None:
    elig, assessment = coverage.product.eligibility, case.assessment
    if not coverage.covers(day):
        return Reason.NOT_COVERED
    if assessment.grade < elig.min_grade:
        return Reason.GRADE_BELOW_THRESHOLD
    effective_from, valid_to = assessment.effective_span(elig)
    if not effective_from <= day <= valid_to:
        return Reason.ASSESSMENT_NOT_EFFECTIVE
    if day < coverage.waiting_ends:
        return Reason.WAITING_PERIOD
    return None


def fixed_benefits(
    coverage: Coverage, case: CaseFacts, already_granted: frozenset[str] = frozenset()
) -> list[FixedBenefitDecision]:
    product = coverage.product
    if product.fixed_benefit is None:
        raise ValueError(f"{product.product_code} has no fixed benefit")
    decisions = []
    for month, test_day in due_months(case.period_start, case.period_end, case.accepted_on):
        if month in already_granted:
            continue
        reason = trigger_reason(coverage, case, test_day)
        amount = product.fixed_benefit.monthly_fen if reason is None else 0
        decisions.append(
            FixedBenefitDecision(
                product.payer_code, product.product_code, month, amount, product.fixed_benefit.payee, reason
            )
        )
    return decisions
