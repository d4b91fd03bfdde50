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

import bisect
import operator
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.coordination import CaseFacts, ClaimedLine, VisitRecord
from gateway.coordination.duplicates import EarlierClaims
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.catalogue import ServiceCatalogue, default_catalogue
from gateway.domain.claims import ClaimLine, ClaimStatus
from gateway.domain.products import Adjudication, Product
from gateway.domain.providers import Designation
from gateway.simulation import shard_rows
from gateway.simulation.replay import ClaimFact, MemberHistory, RoundFact, StepFact
from gateway.storage.tables import (
    ClaimLineRow,
    ClaimRow,
    ProductVersionRow,
    ProviderRow,
)

SHARD = 400  # members per shard of queries
NOT_COUNTED = shard_rows.NOT_COUNTED
_COORDINATED = ClaimStatus.COORDINATED.value
_PAYER = Adjudication.PAYER.value
_LINE_NO = operator.attrgetter("line_no")
_DAY = timedelta(days=1)


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


def histories(
    session: Session,
    period: Period,
    catalogue: ServiceCatalogue | None = None,
    shard: Sequence[uuid.UUID] | None = None,
) -> Iterator[MemberHistory]:
    """The period's members (or ``shard`` of them), one history each, in member order."""
    catalogue = catalogue or default_catalogue()
    versions = products(session)
    providers = {
        row.provider_code: (Designation(row.designated, row.designated_from, row.designated_to), row.district)
        for row in session.scalars(select(ProviderRow))
    }
    everyone = sorted(shard) if shard is not None else members(session, period)
    wanted = {str(member) for member in everyone} if shard is not None else None
    for i in range(0, len(everyone), SHARD):
        part = everyone[i : i + SHARD]
        rows = shard_rows.read(session, period.start, period.end, part[0], part[-1])
        claims = rows.claims
        j = 0
        while j < len(claims):  # the claims come in member order: a member's are consecutive
            k = j + 1
            while k < len(claims) and claims[k][0] == claims[j][0]:
                k += 1
            if wanted is None or str(uuid.UUID(claims[j][0])) in wanted:
                yield _history(claims[j][0], claims[j:k], rows, versions, providers, catalogue)
            j = k


def _history(
    member_id: str,
    claim_rows: list[tuple[Any, ...]],
    rows: shard_rows.ShardRows,
    versions: dict[tuple[str, int], Product],
    providers: dict[str, tuple[Designation, str]],
    catalogue: ServiceCatalogue,
) -> MemberHistory:
    claims: list[ClaimFact] = []
    rounds: list[tuple[int | None, RoundFact]] = []
    earlier = EarlierClaims()
    lines, steps, recorded, fixed = rows.lines, rows.steps, rows.recorded, rows.fixed
    visits = _Visits()
    owned = []
    for row in claim_rows:
        key = row[1]
        claim_id = key if len(key) == 36 else str(uuid.UUID(key))  # SQLite keeps the hex digits
        numbered = lines.get(key, [])
        numbered.sort(key=_LINE_NO)
        owned.append((claim_id, tuple(numbered)))
        for line in numbered:
            if line.visit is not None:
                visits.add(key, line, claim_id)
    for row, (claim_id, own) in zip(claim_rows, owned, strict=True):  # own: the claim's lines
        _, key, provider_code, dates, status, last_round, grade, lat, lon, district = row
        start, end, concluded, since = dates
        found = earlier.repeats(own)
        earlier.add([ClaimedLine(line, claim_id) for line in own])
        if status != _COORDINATED:
            continue  # its lines count against later claims; its payments are not final
        designation, provider_district = providers[provider_code]
        case = CaseFacts(
            lines=own,
            period_start=start,
            period_end=end,
            assessment=AssessmentFacts(grade, concluded, since),
            designation=designation,
            member_position=(lat, lon) if lat is not None and lon is not None else None,
            other_visits=visits.besides(key, own),
            catalogue=catalogue,
            repeats=found,
        )
        index = len(claims)
        claim_fixed = fixed.get(key, {})
        claims.append(
            ClaimFact(
                claim_id,
                case,
                district or provider_district,
                dict(rows.actual.get(key, {})),  # the shard's own dicts, read for this claim only
                dict(claim_fixed),
            )
        )
        for round_ in range(1, last_round + 1):
            round_steps = []
            for seq, code, version, cover_from, cover_to, adjudication, detail in steps.get(
                (key, round_), ()
            ):
                round_steps.append(
                    StepFact(
                        seq=seq,
                        product=versions[(code, version)],
                        coverage_start=cover_from,
                        coverage_end=cover_to,
                        recorded=recorded.get((key, round_, seq)),
                        recorded_fixed=claim_fixed.get(code, {}),
                        payer_decided=adjudication == _PAYER or bool(detail.get("revised")),
                        carried="carried_from_round" in detail,
                    )
                )
            if round_steps:
                first = rows.first_payment.get((key, round_))
                rounds.append((first, RoundFact(index, round_, tuple(round_steps))))
    return MemberHistory(f"M-{member_id.replace('-', '')[:8]}", tuple(claims), tuple(_in_order(rounds)))


class _Visits:
    """A member's home visits, to find the other claims' visits near a claim's (as
    ``orchestration.claim_facts`` looks them up): kept sorted by check-in, found by bisection,
    given back in the order they were added. A visit's record is made only when it is given back:
    most visits are never near another claim's."""

    def __init__(self) -> None:
        self.added: list[tuple[str, str, ClaimLine, str]] = []  # claim key, caregiver, line, claim id
        self.check_ins: list[Any] = []
        self.order: list[int] = []  # indexes into ``added`` in check-in order

    def add(self, key: str, line: ClaimLine, claim_id: str) -> None:
        visit = line.visit
        assert visit is not None
        check_in = visit.check_in
        at = bisect.bisect_right(self.check_ins, check_in)
        self.check_ins.insert(at, check_in)
        self.order.insert(at, len(self.added))
        self.added.append((key, visit.caregiver_id, line, claim_id))

    def besides(self, key: str, lines: tuple[ClaimLine, ...]) -> tuple[VisitRecord, ...]:
        """The visits of the member's other claims by the same caregivers within a day of this
        claim's."""
        own = [line.visit for line in lines if line.visit is not None]
        if not own:
            return ()
        caregivers = {v.caregiver_id for v in own}
        earliest = min(v.check_in for v in own) - _DAY
        latest = max(v.check_out for v in own) + _DAY
        first = bisect.bisect_left(self.check_ins, earliest)
        last = bisect.bisect_right(self.check_ins, latest)
        added = self.added
        found = sorted(i for i in self.order[first:last] if added[i][0] != key and added[i][1] in caregivers)
        return tuple(_record(added[i][2], added[i][3]) for i in found)


def _record(line: ClaimLine, claim_id: str) -> VisitRecord:
    v = line.visit
    assert v is not None
    return VisitRecord.of(v, f"claim {claim_id} line {line.line_no}")


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
