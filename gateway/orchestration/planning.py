"""Planning a claim's fan-out: a payer step for every product the member holds during the claim
period, in payer order, written when the claim is accepted."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, load_only

from gateway.domain.coverage import Coverage, payer_order
from gateway.orchestration.claim_facts import cited_districts
from gateway.orchestration.steps import StepStatus, step_key
from gateway.reference.registry import holdings
from gateway.reference.routing import NoRoute, administrator_in, district_routes, member_district
from gateway.storage.bulk import insert_rows
from gateway.storage.tables import MemberRow, PayerStepRow, ProviderRow, utcnow

STEPS = cast(Table, PayerStepRow.__table__)


class ToPlan(Protocol):
    """What planning reads of a claim (a ``ClaimRow``, or a ``Planned`` claim being accepted)."""

    @property
    def claim_id(self) -> uuid.UUID: ...
    @property
    def round(self) -> int: ...
    @property
    def provider_code(self) -> str: ...
    @property
    def member_id(self) -> uuid.UUID: ...
    @property
    def assessment_id(self) -> uuid.UUID: ...
    @property
    def period_start(self) -> date: ...
    @property
    def period_end(self) -> date: ...


@dataclass(frozen=True, slots=True)
class Planned:
    """A claim stored in this transaction, as planning reads it (no row loaded back)."""

    claim_id: uuid.UUID
    provider_code: str
    member_id: uuid.UUID
    assessment_id: uuid.UUID
    period_start: date
    period_end: date
    round: int


def plan_steps(
    session: Session,
    claims: Sequence[ToPlan],
    members: Mapping[uuid.UUID, Any] | None = None,
    providers: Mapping[str, Any] | None = None,
) -> int:
    """A step for every product each claim's member holds during the claim period, in payer
    order; how many. Claims are planned on every accept, so the reference data is read once for
    all of them and the steps are written as one batch. ``members`` (by member id, their
    ``district`` loaded) and ``providers`` (by code): rows the caller has read already."""
    held = holdings(session, {claim.member_id for claim in claims})
    tier_one = {h.product.payer_code for hs in held.values() for h in hs if h.product.tier == 1}
    routes = district_routes(session, tier_one)
    # routed by where the member lived as the assessment each claim cites recorded it
    cited = cited_districts(session, {claim.assessment_id for claim in claims})
    # one query each for the batch (held here: the session's identity map keeps no row alive)
    if members is None:
        members = {
            row.member_id: row
            for row in session.scalars(
                select(MemberRow)  # not the sealed columns: decrypting them is most of loading a member
                .options(load_only(MemberRow.member_id, MemberRow.district))
                .where(MemberRow.member_id.in_({claim.member_id for claim in claims}))
            )
        }
    if providers is None:
        codes = {c.provider_code for c in claims}
        providers = _by_key(session, ProviderRow, ProviderRow.provider_code, codes)
    now = utcnow()
    steps: list[dict[str, Any]] = []
    for claim in claims:
        coverages: list[tuple[Coverage, int]] = []
        for holding in held[claim.member_id]:
            coverage = Coverage(holding.product, holding.start_date, holding.end_date)
            if coverage.overlaps(claim.period_start, claim.period_end):
                coverages.append((coverage, holding.version))
        versions = {id(c): v for c, v in coverages}
        district = member_district(
            members[claim.member_id],
            providers[claim.provider_code],
            cited.get(claim.assessment_id),
        )
        for seq, coverage in enumerate(payer_order(c for c, _ in coverages), start=1):
            product = coverage.product
            step: dict[str, Any] = {
                "claim_id": claim.claim_id,
                "round": claim.round,
                "seq": seq,
                "tier": product.tier,
                "payer_code": product.payer_code,
                "administrator_code": None,
                "product_code": product.product_code,
                "product_version": versions[id(coverage)],
                "kind": product.kind.value,
                "adjudication": product.adjudication.value,
                "coverage_start": coverage.start_date,
                "coverage_end": coverage.end_date,
                "status": StepStatus.WAITING.value,
                "idempotency_key": step_key(claim.claim_id, claim.round, seq),
                "last_error": None,
            }
            if product.tier == 1:
                try:
                    # the route in effect on the first day of care (docs/staff-console.md)
                    step["administrator_code"] = administrator_in(
                        routes[product.payer_code], product.payer_code, district, claim.period_start
                    )
                except NoRoute as error:
                    step["status"], step["last_error"] = StepStatus.DEAD.value, str(error)
            steps.append(step)
    # one statement (gateway.storage.bulk), no unit of work
    insert_rows(
        session, STEPS, steps, same={"attempt": 1, "attempts": 0, "created_at": now, "updated_at": now}
    )
    return len(steps)


def _by_key(session: Session, table: type[Any], column: Any, keys: set[Any]) -> dict[Any, Any]:
    return {getattr(row, column.key): row for row in session.scalars(select(table).where(column.in_(keys)))}
