"""The coordination rule (domain.md section 5): a later payer pays what it would pay alone,
but never more than what is still unpaid.

For one line and payer k:
    remaining  = billed − repeated − Σ payments of indemnity payers before k
                 (repeated: the units an earlier claim already claimed, DUPLICATE_SERVICE for all)
    base       = eligible billed (basis "billed") or min(eligible billed, remaining) (basis "remaining")
    standalone = min(base, unit limit × eligible units) × ratio, half-up to the fen,
                 capped by what is left of the member's monthly and annual limits
    paid       = min(standalone, remaining)
and the reason amounts add up exactly to billed − paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter, itemgetter
from typing import NamedTuple

from gateway.coordination.duplicates import Repeat, take_repeated
from gateway.coordination.eligibility import Overlapping, overlapping_visits, unit_reasons, visit_finding
from gateway.coordination.facts import CaseFacts
from gateway.coordination.fixed import FixedBenefitDecision, fixed_benefits
from gateway.coordination.reasons import REASON_ORDER, Reason
from gateway.coordination.rules import rules_of
from gateway.coordination.visits import VisitFinding
from gateway.domain.claims import ClaimLine
from gateway.domain.coverage import Coverage, payer_order
from gateway.domain.products import ProductKind

Usage = dict[str, int]  # period key ("month:2026-11", "year:2026") → fen this product already paid


class LineShare(NamedTuple):
    """One payer's part of one line. A named tuple, not a frozen dataclass: one is built for every
    line of every payer, and a frozen dataclass costs five times as much to build."""

    line_no: int
    billed_fen: int
    remaining_fen: int  # still unpaid before this payer (repeated units never count)
    standalone_fen: int  # what this payer would pay alone
    paid_fen: int
    reasons: tuple[tuple[Reason, int], ...]  # add up to billed_fen − paid_fen
    visit: VisitFinding | None = None
    repeat: Repeat | None = None  # units an earlier claim already claimed (DUPLICATE_SERVICE)


@dataclass(frozen=True, slots=True)
class PayerShare:
    payer_code: str
    product_code: str
    tier: int
    lines: tuple[LineShare, ...]  # by line_no

    @property
    def paid_fen(self) -> int:
        return sum(line.paid_fen for line in self.lines)


@dataclass(frozen=True, slots=True)
class Coordination:
    shares: tuple[PayerShare, ...]  # indemnity payers, in payer order
    fixed_benefits: tuple[FixedBenefitDecision, ...]
    member_responsibility: Mapping[int, int] = field(default_factory=dict)  # line_no → fen

    @property
    def member_responsibility_fen(self) -> int:
        return sum(self.member_responsibility.values())


def period_keys(line: ClaimLine) -> tuple[str, str]:
    day = line.service_date
    keys = _KEYS.get(day)
    if keys is None:
        if len(_KEYS) >= 10_000:  # a few years of days; never more
            _KEYS.clear()
        keys = _KEYS[day] = (f"month:{line.month}", f"year:{day.year}")
    return keys


_KEYS: dict[date, tuple[str, str]] = {}  # a day → its period keys: formatted once, not for every line


def coordination_order(lines: Sequence[ClaimLine]) -> list[ClaimLine]:
    """Limits are consumed in service-date order, then line number; never in request order."""
    return sorted(lines, key=_COORDINATION_ORDER)


_COORDINATION_ORDER = attrgetter("service_date", "line_no")


# The reductions of an eligible amount, in the order of Reason (PRIOR_PAYER_PAID comes last),
# looked up once: an enum member costs a class attribute lookup each time.
_OVER_UNIT_LIMIT, _COINSURANCE = Reason.OVER_UNIT_LIMIT, Reason.COINSURANCE
_MONTHLY_LIMIT, _ANNUAL_LIMIT = Reason.MONTHLY_LIMIT, Reason.ANNUAL_LIMIT
_PRIOR_PAYER_PAID = Reason.PRIOR_PAYER_PAID
_VISIT_UNVERIFIED = Reason.VISIT_UNVERIFIED
_LINE_NO = itemgetter(0)  # a LineShare's line_no

# A case's lines in coordination order with their period keys: the same for every payer.
Ordered = list[tuple[ClaimLine, str, str]]


def _ordered(lines: Sequence[ClaimLine]) -> Ordered:
    ordered: Ordered = []
    known = _KEYS
    for line in sorted(lines, key=_COORDINATION_ORDER):
        keys = known.get(line.service_date) or period_keys(line)
        ordered.append((line, keys[0], keys[1]))
    return ordered


def ordered_lines(lines: Sequence[ClaimLine]) -> Ordered:
    """A case's lines in coordination order with their period keys, for ``coordinate_payer``'s
    ``ordered``: a caller that asks for many payers' shares of one case works it out once."""
    return _ordered(lines)


def coordinate_payer(
    coverage: Coverage,
    case: CaseFacts,
    prior_paid: Mapping[int, int],
    usage: Mapping[str, int],
    ordered: Ordered | None = None,
) -> tuple[PayerShare, Usage]:
    """One indemnity payer's share of every line, and its limit usage afterwards; ``ordered``:
    ``ordered_lines(case.lines)``, if the caller has it."""
    return _payer_share(coverage, case, ordered or _ordered(case.lines), prior_paid, usage)


def _payer_share(
    coverage: Coverage,
    case: CaseFacts,
    ordered: Ordered,
    prior_paid: Mapping[int, int],
    usage: Mapping[str, int],
) -> tuple[PayerShare, Usage]:
    product = coverage.product
    if product.kind != ProductKind.INDEMNITY:
        raise ValueError(f"{product.product_code} is a {product.kind} product; it is not coordinated")
    rules = rules_of(product)
    line_rules, line_rule = rules.lines, rules.line_rule
    month_limit, year_limit, on_remaining = rules.month_limit, rules.year_limit, rules.on_remaining
    used: Usage = dict(usage)
    terms = rules.terms(coverage, case)
    holds_from, holds_to = terms.holds_from, terms.holds_to
    repeats = case.repeats
    shares: list[LineShare] = []
    overlapping: Overlapping | None = None
    for line, month_key, year_key in ordered:
        billed, price, line_no = line.billed_fen, line.unit_price_fen, line.line_no
        remaining = billed - prior_paid.get(line_no, 0)
        rule = line_rules.get((line.setting, line.method, line.service_code, line.exclusion))
        if rule is None:
            rule = line_rule(line)
        line_reason, visit, benefit = rule.reason, None, rule.benefit
        if rule.visit_radius_m is not None:
            if overlapping is None:  # once a payer, for all its lines' findings
                overlapping = overlapping_visits(case)
            visit = visit_finding(line, case, rule.visit_radius_m, overlapping)
            line_reason = None if visit.verified else _VISIT_UNVERIFIED
        repeat = repeats.get(line_no) if repeats else None
        day, end = line.service_date, line.service_end_date
        if repeat is None and (end is None or end == day):  # most lines: one day, one reason
            reason = line_reason if holds_from <= day <= holds_to else terms.reason_on(day) or line_reason
            if reason is None:
                eligible_units, reasons = line.quantity, []
            else:
                eligible_units, amount = 0, line.quantity * price
                reasons = [(reason, amount)] if amount else []
        else:
            units = unit_reasons(line, terms, line_reason)
            if repeat is not None:  # no payer pays them, nor fills their amount as "remaining"
                take_repeated(units, line, repeat, terms, line_reason)
                remaining = max(0, remaining - repeat.units * price)
            eligible_units = units.pop(None, 0)
            # reasons in the order of Reason: ineligible units first, then the reductions
            reasons = [(r, n * price) for r, n in units.items() if r is not None and n * price]
            if len(reasons) > 1:
                reasons.sort(key=lambda item: REASON_ORDER[item[0]])
        eligible = eligible_units * price
        base, standalone = eligible, 0
        if eligible and benefit is not None:
            base = min(eligible, remaining) if on_remaining else eligible
            unit_limit = rule.unit_limit_fen
            within_unit = base if unit_limit is None else min(base, unit_limit * eligible_units)
            if within_unit < 0:
                raise ValueError("amount must not be negative")  # as apply_ratio says
            # apply_ratio, inlined: amount × num / den, half-up to the fen
            after_ratio = (2 * within_unit * rule.ratio_num + rule.ratio_den) // (2 * rule.ratio_den)
            after_month = after_ratio
            if month_limit is not None:
                after_month = min(after_ratio, max(0, month_limit - used.get(month_key, 0)))
            standalone = after_month
            if year_limit is not None:
                standalone = min(after_month, max(0, year_limit - used.get(year_key, 0)))
            if base != within_unit:
                reasons.append((_OVER_UNIT_LIMIT, base - within_unit))
            if within_unit != after_ratio:
                reasons.append((_COINSURANCE, within_unit - after_ratio))
            if after_ratio != after_month:
                reasons.append((_MONTHLY_LIMIT, after_ratio - after_month))
            if after_month != standalone:
                reasons.append((_ANNUAL_LIMIT, after_month - standalone))
        paid = min(standalone, remaining)
        # what earlier payers took off the base and what they leave this payer short of alone
        if prior_reduction := (eligible - base) + (standalone - paid):
            reasons.append((_PRIOR_PAYER_PAID, prior_reduction))
        if paid:
            used[month_key] = used.get(month_key, 0) + paid
            used[year_key] = used.get(year_key, 0) + paid
        shares.append(LineShare(line_no, billed, remaining, standalone, paid, tuple(reasons), visit, repeat))
    shares.sort(key=_LINE_NO)
    share = PayerShare(product.payer_code, product.product_code, product.tier, tuple(shares))
    return share, used


def coordinate(
    case: CaseFacts,
    coverages: Sequence[Coverage],
    usage: Mapping[str, Mapping[str, int]] | None = None,
    granted_months: Mapping[str, frozenset[str]] | None = None,
) -> Coordination:
    """Every payer in order. ``usage`` and ``granted_months`` are keyed by product code and hold
    what other claims already consumed (limits) or received (fixed-benefit months)."""
    usage = usage or {}
    granted_months = granted_months or {}
    prior: dict[int, int] = {}
    ordered = _ordered(case.lines)
    shares: list[PayerShare] = []
    fixed: list[FixedBenefitDecision] = []
    for coverage in payer_order(coverages):
        code = coverage.product.product_code
        if coverage.product.kind == ProductKind.FIXED_BENEFIT:
            fixed.extend(fixed_benefits(coverage, case, granted_months.get(code, frozenset())))
            continue
        share, _ = _payer_share(coverage, case, ordered, prior, usage.get(code, {}))
        shares.append(share)
        for line in share.lines:
            prior[line.line_no] = prior.get(line.line_no, 0) + line.paid_fen
    responsibility = {line.line_no: line.billed_fen - prior.get(line.line_no, 0) for line in case.lines}
    return Coordination(tuple(shares), tuple(fixed), responsibility)
