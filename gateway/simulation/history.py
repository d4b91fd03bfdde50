"""A period's claims read in bulk for the replay, streamed member by member. Read-only.

Members are read in shards (a few hundred at a time): each shard costs a handful of queries,
whatever its number of claims, and memory stays flat however long the period is. Everything
the replay needs comes from what production stored: the claims' lines, assessments, providers
and members; the payer steps of every round, with the payments each step recorded; the product
versions the steps ran under.

The order of rounds: first coordinations in the member's coordination order; a revision where
its first recorded payment falls (ids increase with time), between the claims coordinated
before and after it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from gateway.coordination import CaseFacts, ClaimedLine, VisitRecord
from gateway.coordination.duplicates import EarlierClaims
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.catalogue import ServiceCatalogue, default_catalogue
from gateway.domain.claims import ClaimLine, ClaimStatus
from gateway.domain.products import Adjudication, Product
from gateway.domain.providers import Designation
from gateway.simulation.replay import ClaimFact, MemberHistory, RoundFact, StepFact
from gateway.storage.claim_lines import claim_line  # the one mapping of a stored line
from gateway.storage.tables import (
    AssessmentRow,
    ClaimLineRow,
    ClaimRow,
    FixedBenefitRow,
    LinePaymentRow,
    MemberRow,
    MemberVersionRow,
    PayerStepRow,
    ProductVersionRow,
    ProviderRow,
)

SHARD = 400  # members per shard of queries


def _key(column: Any) -> Any:
    """A claim id as the driver gives it, to join a shard's rows by: not made a ``uuid.UUID``
    for every line and payment (the rows of one claim are many; the claim's id is made once)."""
    return type_coerce(column, String).label("key")


# Columns, not rows: a whole row would bring (and decode) what the replay never reads, such as a
# payer step's request (sealed) and response documents.
_CLAIM = (
    ClaimRow.claim_id,
    _key(ClaimRow.claim_id),
    ClaimRow.member_id,
    ClaimRow.provider_code,
    ClaimRow.period_start,
    ClaimRow.period_end,
    ClaimRow.status,
    ClaimRow.round,
)
_LINE = (
    _key(ClaimLineRow.claim_id),
    *(
        getattr(ClaimLineRow, name)
        for name in (
            "line_no",
            "service_code",
            "setting",
            "method",
            "service_date",
            "service_end_date",
            "quantity",
            "unit_price_fen",
            "billed_fen",
            "exclusion",
            "visit",
        )
    ),
)
_STEP = (
    _key(PayerStepRow.claim_id),
    PayerStepRow.round,
    PayerStepRow.seq,
    PayerStepRow.product_code,
    PayerStepRow.product_version,
    PayerStepRow.coverage_start,
    PayerStepRow.coverage_end,
    PayerStepRow.adjudication,
    PayerStepRow.detail,
)
_YIELD = 2000
NOT_COUNTED = ("voided", "replaced", "received")


@dataclass(frozen=True, slots=True)
class Period:
    first: str  # "2026-01"
    last: str  # "2026-12"

    @property
    def start(self) -> date:
        return date(int(self.first[:4]), int(self.first[5:]), 1)

    @property
    def end(self) -> date:
        year, month = int(self.last[:4]), int(self.last[5:])
        return date(year + month // 12, month % 12 + 1, 1)  # exclusive


def products(session: Session) -> dict[tuple[str, int], Product]:
    """Every registered product version (a few dozen documents)."""
    rows = session.execute(
        select(ProductVersionRow.product_code, ProductVersionRow.version, ProductVersionRow.definition)
    )
    return {(code, version): Product.model_validate(definition) for code, version, definition in rows}


def current_definitions(session: Session) -> dict[str, dict[str, Any]]:
    """Each product's latest definition by code: what a draft changes."""
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for code, version, definition in session.execute(
        select(ProductVersionRow.product_code, ProductVersionRow.version, ProductVersionRow.definition)
    ):
        if code not in latest or version > latest[code][0]:
            latest[code] = (version, definition)
    return {code: definition for code, (_, definition) in latest.items()}


def _in_period(period: Period) -> Any:
    return (
        (ClaimRow.period_start >= period.start)
        & (ClaimRow.period_start < period.end)
        & ClaimRow.status.not_in(NOT_COUNTED)
    )


def members(session: Session, period: Period) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(ClaimRow.member_id).where(_in_period(period)).distinct().order_by(ClaimRow.member_id)
        )
    )


def count_lines(session: Session, period: Period) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ClaimLineRow)
            .join(ClaimRow, ClaimRow.claim_id == ClaimLineRow.claim_id)
            .where(_in_period(period), ClaimRow.status == ClaimStatus.COORDINATED.value)
        )
        or 0
    )


def _rows(session: Session, statement: Any) -> Iterator[Any]:
    return iter(session.execute(statement.execution_options(yield_per=_YIELD)))


def histories(
    session: Session,
    period: Period,
    catalogue: ServiceCatalogue | None = None,
    shard: Sequence[uuid.UUID] | None = None,
) -> Iterator[MemberHistory]:
    """The period's members (or ``shard`` of them), one history each, in member order."""
    catalogue = catalogue or default_catalogue()
    versions = products(session)
    providers = {row.provider_code: row for row in session.scalars(select(ProviderRow))}
    everyone = list(shard) if shard is not None else members(session, period)
    for i in range(0, len(everyone), SHARD):
        yield from _shard(session, period, everyone[i : i + SHARD], versions, providers, catalogue)


def _shard(
    session: Session,
    period: Period,
    member_ids: list[uuid.UUID],
    versions: dict[tuple[str, int], Product],
    providers: dict[str, ProviderRow],
    catalogue: ServiceCatalogue,
) -> Iterator[MemberHistory]:
    where = _in_period(period) & ClaimRow.member_id.in_(member_ids)
    claims = session.execute(
        select(
            *_CLAIM,
            AssessmentRow.grade,
            AssessmentRow.concluded_on,
            AssessmentRow.disabled_since,
            # personal data stays sealed: only where the member lives, never who they are
            func.coalesce(MemberVersionRow.lat, MemberRow.lat).label("lat"),
            func.coalesce(MemberVersionRow.lon, MemberRow.lon).label("lon"),
            func.coalesce(MemberVersionRow.district, MemberRow.district).label("district"),
        )
        .join(AssessmentRow, AssessmentRow.assessment_id == ClaimRow.assessment_id)
        .join(MemberRow, MemberRow.member_id == ClaimRow.member_id)
        .outerjoin(
            MemberVersionRow,
            (MemberVersionRow.member_id == AssessmentRow.member_id)
            & (MemberVersionRow.version == AssessmentRow.member_version),
        )
        .where(where)
        .order_by(ClaimRow.member_id, ClaimRow.coordination_seq)
    ).all()
    lines: dict[Any, list[ClaimLine]] = defaultdict(list)
    for row in _rows(
        session,
        select(*_LINE).join(ClaimRow, ClaimRow.claim_id == ClaimLineRow.claim_id).where(where),
    ):
        lines[row.key].append(claim_line(row))
    steps: dict[tuple[Any, int], list[Any]] = defaultdict(list)
    for row in _rows(
        session,
        select(*_STEP)
        .join(ClaimRow, ClaimRow.claim_id == PayerStepRow.claim_id)
        .where(where, PayerStepRow.status == "decided")
        .order_by(PayerStepRow.seq),
    ):
        steps[(row.key, row.round)].append(row)
    recorded: dict[tuple[Any, int, int], dict[int, int]] = defaultdict(dict)
    actual: dict[Any, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    first_payment: dict[tuple[Any, int], int] = {}
    for pid, claim_id, round_, seq, line_no, code, paid, current in _rows(
        session,
        select(
            LinePaymentRow.id,
            _key(LinePaymentRow.claim_id),
            LinePaymentRow.round,
            LinePaymentRow.seq,
            LinePaymentRow.line_no,
            LinePaymentRow.product_code,
            LinePaymentRow.paid_fen,
            LinePaymentRow.current,
        )
        .join(ClaimRow, ClaimRow.claim_id == LinePaymentRow.claim_id)
        .where(where, LinePaymentRow.provisional.is_(False)),
    ):
        recorded[(claim_id, round_, seq)][line_no] = paid
        key = (claim_id, round_)
        first_payment[key] = min(pid, first_payment.get(key, pid))
        if current:
            actual[claim_id][code][line_no] = paid
    fixed: dict[Any, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for claim_id, code, month, amount in _rows(
        session,
        select(
            _key(FixedBenefitRow.claim_id),
            FixedBenefitRow.product_code,
            FixedBenefitRow.month,
            FixedBenefitRow.amount_fen,
        )
        .join(ClaimRow, ClaimRow.claim_id == FixedBenefitRow.claim_id)
        .where(where, FixedBenefitRow.provisional.is_(False)),
    ):
        fixed[claim_id][code][month] = amount
    by_member: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in claims:
        by_member[row.member_id].append(row)
    for member_id in member_ids:
        rows = by_member.get(member_id)
        if rows:
            yield _history(
                member_id,
                rows,
                lines,
                steps,
                recorded,
                actual,
                fixed,
                first_payment,
                versions,
                providers,
                catalogue,
            )


def _history(
    member_id: uuid.UUID,
    rows: list[Any],
    lines: dict[Any, list[ClaimLine]],
    steps: dict[tuple[Any, int], list[Any]],
    recorded: dict[tuple[Any, int, int], dict[int, int]],
    actual: dict[Any, dict[str, dict[int, int]]],
    fixed: dict[Any, dict[str, dict[str, int]]],
    first_payment: dict[tuple[Any, int], int],
    versions: dict[tuple[str, int], Product],
    providers: dict[str, ProviderRow],
    catalogue: ServiceCatalogue,
) -> MemberHistory:
    claims: list[ClaimFact] = []
    rounds: list[tuple[int | None, RoundFact]] = []
    earlier = EarlierClaims()
    visits: list[tuple[Any, VisitRecord]] = []
    for claim in rows:
        for line in lines[claim.key]:
            if line.visit is not None:
                v = line.visit
                record = VisitRecord(
                    v.caregiver_id,
                    v.check_in,
                    v.check_out,
                    v.lat,
                    v.lon,
                    f"claim {claim.claim_id} line {line.line_no}",
                )
                visits.append((claim.key, record))
    for claim in rows:
        grade, concluded_on, disabled_since = claim.grade, claim.concluded_on, claim.disabled_since
        lat, lon, district = claim.lat, claim.lon, claim.district
        own = tuple(sorted(lines[claim.key], key=lambda line: line.line_no))
        found = earlier.repeats(own)
        earlier.add(ClaimedLine(line, str(claim.claim_id)) for line in own)
        if claim.status != ClaimStatus.COORDINATED.value:
            continue  # its lines count against later claims; its payments are not final
        position = (lat, lon) if lat is not None and lon is not None else None
        provider = providers[claim.provider_code]
        case = CaseFacts(
            lines=own,
            period_start=claim.period_start,
            period_end=claim.period_end,
            assessment=AssessmentFacts(grade, concluded_on, disabled_since),
            designation=Designation(provider.designated, provider.designated_from, provider.designated_to),
            member_position=position,
            other_visits=_other_visits(claim.key, own, visits),
            catalogue=catalogue,
            repeats=found,
        )
        index = len(claims)
        claims.append(
            ClaimFact(
                str(claim.claim_id),
                case,
                district or provider.district,
                {code: dict(paid) for code, paid in actual.get(claim.key, {}).items()},
                {code: dict(months) for code, months in fixed.get(claim.key, {}).items()},
            )
        )
        for round_ in range(1, claim.round + 1):
            round_steps = []
            for step in steps.get((claim.key, round_), []):
                detail = step.detail or {}
                round_steps.append(
                    StepFact(
                        seq=step.seq,
                        product=versions[(step.product_code, step.product_version)],
                        coverage_start=step.coverage_start,
                        coverage_end=step.coverage_end,
                        recorded=recorded.get((claim.key, round_, step.seq)),
                        recorded_fixed=fixed.get(claim.key, {}).get(step.product_code, {}),
                        payer_decided=step.adjudication == Adjudication.PAYER.value
                        or bool(detail.get("revised")),
                        carried="carried_from_round" in detail,
                    )
                )
            if not round_steps:
                continue
            first = first_payment.get((claim.key, round_))
            rounds.append((first, RoundFact(index, round_, tuple(round_steps))))
    return MemberHistory(f"M-{member_id.hex[:8]}", tuple(claims), tuple(_in_order(rounds)))


def _other_visits(
    claim_id: Any, lines: tuple[ClaimLine, ...], visits: list[tuple[Any, VisitRecord]]
) -> tuple[VisitRecord, ...]:
    """The member's other claims' visits by the same caregivers within a day of this claim's (as
    ``orchestration.claim_facts`` looks them up, for the member's own claims)."""
    own = [line.visit for line in lines if line.visit is not None]
    if not own:
        return ()
    caregivers = {v.caregiver_id for v in own}
    earliest = min(v.check_in for v in own) - timedelta(days=1)
    latest = max(v.check_out for v in own) + timedelta(days=1)
    return tuple(
        r
        for cid, r in visits
        if cid != claim_id and r.caregiver_id in caregivers and earliest <= r.check_in <= latest
    )


def _in_order(rounds: list[tuple[int | None, RoundFact]]) -> list[RoundFact]:
    """First coordinations in the member's coordination order (``coordination_seq``: a claim is
    placed under the member's lock when its first step's share is worked out, so this is the
    order the first payer's limits were consumed in); each revision after the last of them whose
    first payment was recorded before the revision's."""
    firsts = [(first, r) for first, r in rounds if r.round == 1]  # already in coordination order
    ordered: list[RoundFact] = [r for _, r in firsts]
    revisions = sorted(
        ((first, r) for first, r in rounds if r.round > 1), key=lambda item: (item[0] or 0, item[1].round)
    )
    for first, revision in revisions:
        at = len(ordered)
        if first is not None:
            before = [i for i, r in enumerate(ordered) if r.round == 1 and (_first(firsts, r) or 0) < first]
            later = [i for i, r in enumerate(ordered) if r.round > 1]
            at = max(before + later, default=-1) + 1
        ordered.insert(at, revision)
    return ordered


def _first(firsts: list[tuple[int | None, RoundFact]], round_: RoundFact) -> int | None:
    return next(first for first, r in firsts if r is round_)
