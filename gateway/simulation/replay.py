"""The replay: a member's claims re-coordinated in the order production coordinated them, under
the actual or draft product rules, limits carried across claims (domain.md section 9). Pure.

A member's history is a sequence of coordination rounds (a claim's first coordination, and a
new round each time a payer revised a decision), in the order production ran them. Each round
runs its payer steps in payer order with the production core (``coordinate_payer``,
``fixed_benefits``), unchanged:

* a step of a product the gateway adjudicates, or of any product a draft changes, is recomputed
  from the rules, on the limits the member's other claims hold at that point;
* a step the payer decided itself (``adjudication: payer``, or a revision) is its recorded
  decision, capped at what is still unpaid (a draft of an earlier tier can leave less);
* a step a revision round carried over is what this replay gave it in the round before.

Members are independent of each other, so shards of members replay in parallel processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter

from gateway.coordination import CaseFacts, coordinate_payer, fixed_benefits
from gateway.coordination.engine import Ordered, ordered_lines
from gateway.domain.coverage import Coverage
from gateway.domain.products import Product, ProductKind


@dataclass(frozen=True, slots=True)
class StepFact:
    seq: int
    product: Product  # the version production used
    coverage_start: date
    coverage_end: date | None
    recorded: Mapping[int, int] | None = None  # indemnity: line_no → paid, as decided
    recorded_fixed: Mapping[str, int] | None = None  # fixed benefit: month → amount granted
    payer_decided: bool = False  # the figure is the payer's own (adjudication payer, or a revision)
    carried: bool = False  # a revision round carried it over as decided

    @property
    def product_code(self) -> str:
        return self.product.product_code


@dataclass(frozen=True, slots=True)
class RoundFact:
    claim: int  # index into MemberHistory.claims
    round: int
    steps: tuple[StepFact, ...]  # by seq


@dataclass(frozen=True, slots=True)
class ClaimFact:
    claim_id: str
    case: CaseFacts
    district: str = ""
    # what production paid as it stands: product → line_no → paid; product → month → fixed amount
    actual: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    actual_fixed: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def billed_fen(self) -> int:
        return sum(line.billed_fen for line in self.case.lines)


@dataclass(frozen=True, slots=True)
class MemberHistory:
    member: str  # a pseudonym: the report masks members
    claims: tuple[ClaimFact, ...]
    rounds: tuple[RoundFact, ...]  # in the order production coordinated them


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    """One claim as the replay leaves it (its last round)."""

    claim: ClaimFact
    paid: Mapping[str, Mapping[int, int]]  # product → line_no → paid
    fixed: Mapping[str, Mapping[str, int]]  # product → month → amount
    products: Mapping[str, Product]  # the rules each product's step ran under

    @property
    def responsibility(self) -> dict[int, int]:
        """line_no → what remains for the member."""
        left = {line.line_no: line.billed_fen for line in self.claim.case.lines}
        for lines in self.paid.values():
            for line_no, paid in lines.items():
                left[line_no] -= paid
        return left


_Result = tuple[str, dict[int, int] | None, dict[str, int] | None]  # product, lines, fixed months


class _Member:
    """What the member's claims hold at a point of the replay: limits used, months granted."""

    def __init__(self) -> None:
        self.used: dict[str, dict[str, int]] = {}  # product → period key → paid, all claims
        self.held: dict[int, dict[str, dict[str, int]]] = {}  # claim → product → its part
        self.granted: dict[str, dict[str, set[int]]] = {}  # product → month → claims granting it

    def usage_besides(self, claim: int, code: str) -> dict[str, int]:
        used = self.used.get(code)
        if not used:
            return {}
        own = self.held.get(claim, {}).get(code)
        if not own:
            return dict(used)
        return {key: fen - own.get(key, 0) for key, fen in used.items()}

    def granted_besides(self, claim: int, code: str) -> frozenset[str]:
        months = self.granted.get(code, {})
        return frozenset(m for m, claims in months.items() if claims - {claim})

    def settle(self, claim: int, keys: Mapping[int, tuple[str, str]], results: Iterable[_Result]) -> None:
        """``keys``: line_no → the line's period keys, as ``_keys`` gives them."""
        # the claim's new round replaces what its last one held
        for code, held in self.held.pop(claim, {}).items():
            used = self.used[code]
            for key, fen in held.items():
                used[key] -= fen
        for months in self.granted.values():
            for claims in months.values():
                claims.discard(claim)
        for code, lines, fixed in results:
            if lines is not None:
                part: dict[str, int] = {}
                for line_no, paid in lines.items():
                    if paid:
                        for key in keys[line_no]:
                            part[key] = part.get(key, 0) + paid
                if part:
                    self.held.setdefault(claim, {})[code] = part
                    used = self.used.setdefault(code, {})
                    for key, fen in part.items():
                        used[key] = used.get(key, 0) + fen
            if fixed:
                months = self.granted.setdefault(code, {})
                for month, amount in fixed.items():
                    if amount:
                        months.setdefault(month, set()).add(claim)


def _keys(ordered: Ordered) -> dict[int, tuple[str, str]]:
    return {line.line_no: (month, year) for line, month, year in ordered}


def _unpaid(case: CaseFacts, prior: Mapping[int, int]) -> dict[int, int]:
    if not case.repeats:  # most claims: no line repeats an earlier claim's
        return {line.line_no: max(0, line.billed_fen - prior.get(line.line_no, 0)) for line in case.lines}
    left = {}
    for line in case.lines:
        repeat = case.repeats.get(line.line_no)
        repeated = repeat.units * line.unit_price_fen if repeat is not None else 0
        left[line.line_no] = max(0, line.billed_fen - repeated - prior.get(line.line_no, 0))
    return left


_PAID = itemgetter(0, 4)  # a LineShare's line_no and paid_fen
Covers = dict[tuple[int, date, date | None], Coverage]  # (id(product), start, end) → its coverage


def _coverage(covers: Covers, product: Product, step: StepFact) -> Coverage:
    """The step's coverage, built once for a member's claims under the same product and dates."""
    key = (id(product), step.coverage_start, step.coverage_end)
    coverage = covers.get(key)
    if coverage is None or coverage.product is not product:
        coverage = covers[key] = Coverage(product, step.coverage_start, step.coverage_end)
    return coverage


def _step(
    step: StepFact,
    code: str,
    coverage: Coverage,
    claim: int,
    case: CaseFacts,
    product: Product,
    drafted: bool,
    state: _Member,
    prior: dict[int, int],
    ordered: Ordered,
) -> _Result:
    own = step.payer_decided and not drafted
    if product.kind == ProductKind.FIXED_BENEFIT:
        if own and step.recorded_fixed is not None:
            return code, None, dict(step.recorded_fixed)
        decisions = fixed_benefits(coverage, case, state.granted_besides(claim, code))
        return code, None, {d.month: d.amount_fen for d in decisions if d.amount_fen}
    if own and step.recorded is not None:
        unpaid = _unpaid(case, prior)
        lines = {n: min(step.recorded.get(n, 0), unpaid[n]) for n in unpaid}
    else:
        share, _ = coordinate_payer(coverage, case, prior, state.usage_besides(claim, code), ordered)
        lines = dict(map(_PAID, share.lines))
    return code, lines, None


def replay(history: MemberHistory, drafts: Mapping[str, Product]) -> list[ClaimOutcome]:
    """Every claim of the member as the replay leaves it, in the order of ``history.claims``."""
    state = _Member()
    last: dict[int, dict[int, _Result]] = {}  # claim → seq → its step's result in the last round
    used_rules: dict[int, dict[str, Product]] = {}
    # claim → its lines in coordination order, and their period keys by line_no, once for every step
    orders: dict[int, tuple[Ordered, dict[int, tuple[str, str]]]] = {}
    covers: Covers = {}
    for round_ in history.rounds:
        case = history.claims[round_.claim].case
        order = orders.get(round_.claim)
        if order is None:
            ordered = ordered_lines(case.lines)
            order = orders[round_.claim] = (ordered, _keys(ordered))
        ordered = order[0]
        before = last.get(round_.claim, {})
        prior: dict[int, int] = {}
        results: dict[int, _Result] = {}
        rules: dict[str, Product] = {}
        for step in round_.steps:
            code = step.product.product_code
            product = drafts.get(code, step.product)
            rules[code] = product
            if step.carried and step.seq in before:
                result = before[step.seq]
            else:
                coverage = _coverage(covers, product, step)
                drafted = code in drafts
                result = _step(
                    step, code, coverage, round_.claim, case, product, drafted, state, prior, ordered
                )
            if result[1] is not None:
                for line_no, paid in result[1].items():
                    prior[line_no] = prior.get(line_no, 0) + paid
            results[step.seq] = result
        state.settle(round_.claim, order[1], results.values())
        last[round_.claim] = results
        used_rules[round_.claim] = rules
    outcomes = []
    for i, claim in enumerate(history.claims):
        results = last.get(i, {})
        outcomes.append(
            ClaimOutcome(
                claim,
                {code: lines for code, lines, _ in results.values() if lines is not None},
                {code: fixed for code, _, fixed in results.values() if fixed is not None},
                used_rules.get(i, {}),
            )
        )
    return outcomes


def replay_all(histories: Iterable[MemberHistory], drafts: Mapping[str, Product]) -> Iterator[ClaimOutcome]:
    for history in histories:
        yield from replay(history, drafts)
