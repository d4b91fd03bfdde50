"""A product version's rules as the engine reads them for every line, worked out once per version.

The engine asks the same questions of a product for every line of every claim: which benefit a
setting and method take, whether the line's service, setting and exclusion leave it payable,
the limits, the pay ratio as integers. A product is immutable, so the answers are kept beside it
(by identity: hashing a product would cost more than the answers), in a bounded memo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from gateway.coordination.eligibility import Terms
from gateway.coordination.facts import CaseFacts
from gateway.coordination.reasons import EXCLUSION_REASON, Reason
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.claims import ClaimLine
from gateway.domain.coverage import Coverage
from gateway.domain.products import Basis, Benefit, Product, Setting

_KEPT = 512  # product versions remembered; a simulation's drafts add a few each


@dataclass(frozen=True, slots=True)
class LineRule:
    """What a product says of a line of one (setting, method, service code, exclusion)."""

    benefit: Benefit | None
    reason: Reason | None  # the reason that takes the whole line, when the line alone decides it
    visit_radius_m: float | None  # not None: the reason is the home visit's evidence (the case decides)
    unit_limit_fen: int | None
    ratio_num: int  # the pay ratio num/den: amount × num / den, half-up, in integers
    ratio_den: int


@dataclass(slots=True)
class ProductRules:
    product: Product
    on_remaining: bool
    month_limit: int | None
    year_limit: int | None
    lines: dict[tuple[object, ...], LineRule] = field(default_factory=dict)
    last_span: tuple[AssessmentFacts, tuple[date, date]] | None = None
    last_terms: tuple[tuple[object, ...], Terms] | None = None

    def line_rule(self, line: ClaimLine) -> LineRule:
        key = (line.setting, line.method, line.service_code, line.exclusion)
        rule = self.lines.get(key)
        if rule is None:
            rule = self.lines[key] = _line_rule(self.product, line)
        return rule

    def terms(self, coverage: Coverage, case: CaseFacts) -> Terms:
        """``Terms.of`` for a coverage of this product (a member's claims ask it in a row)."""
        key = (coverage.start_date, coverage.end_date, case.assessment, case.designation)
        last = self.last_terms
        if last is not None and last[0] == key:
            return last[1]
        terms = Terms.of(coverage, case, self.effective_span(case.assessment))
        self.last_terms = (key, terms)
        return terms

    def effective_span(self, assessment: AssessmentFacts) -> tuple[date, date]:
        """``assessment.effective_span`` for this product (a member's claims ask it in a row)."""
        last = self.last_span
        if last is not None and last[0] == assessment:
            return last[1]
        span = assessment.effective_span(self.product.eligibility)
        self.last_span = (assessment, span)
        return span


def _line_rule(product: Product, line: ClaimLine) -> LineRule:
    """The reasons that hold for a line as a whole, in the order ``eligibility.line_condition``
    checks them (exclusion, setting, service; then the visit evidence, which the case decides)."""
    benefit = product.benefit_for(line.setting, line.method)
    reason: Reason | None = None
    radius: float | None = None
    if line.exclusion is not None and line.exclusion in product.eligibility.excluded:
        reason = EXCLUSION_REASON[line.exclusion]
    elif not product.covers_setting(line.setting):
        reason = Reason.SETTING_NOT_COVERED
    elif benefit is None or (
        benefit.service_codes is not None and line.service_code not in benefit.service_codes
    ):
        reason = Reason.SERVICE_NOT_COVERED
    elif benefit.requires_visit_evidence and line.setting == Setting.HOME:
        radius = float(benefit.visit_radius_m or 0)
    ratio = benefit.pay_ratio if benefit is not None else None
    return LineRule(
        benefit,
        reason,
        radius,
        benefit.unit_limit_fen if benefit is not None else None,
        ratio.numerator if ratio is not None else 0,
        ratio.denominator if ratio is not None else 1,
    )


_memo: dict[int, ProductRules] = {}


def rules_of(product: Product) -> ProductRules:
    """The product's rules, worked out on first use."""
    rules = _memo.get(id(product))
    if rules is not None and rules.product is product:  # the entry holds the product: its id is its own
        return rules
    if len(_memo) >= _KEPT:
        _memo.clear()
    rules = _memo[id(product)] = ProductRules(
        product,
        product.basis != Basis.BILLED,
        product.limit("month"),
        product.limit("year"),
    )
    return rules
