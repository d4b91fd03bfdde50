"""A generated night for reconciliation: claims coordinated through the real service layer and
fan-out (payers adjudicated by the gateway), then statements from each payer with every kind of
mismatch planted on purpose, and the exact classification the run must find.

``ltc-gateway reconcile-generate --claims N`` writes one (see docs/reconciliation.md). Each
planted case is a claim of its own member (so limits never interact); every other payer-line of
the night settles exactly and is MATCHED.

The ledger is dated the day coordination happens, so the night's business date is later than
the settlement window (``business_date_for``): expectations not in any statement by then are
MISSING_AT_PAYER.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from examples import example as _example
from examples import example_products
from gateway.bootstrap import Gateway
from gateway.domain.identity import check_character
from gateway.ledger import business_date
from gateway.orchestration.worker import Worker
from gateway.reference import registry
from gateway.services import agencies, assessments, claims, enrollments
from gateway.services.decisions import receive_decision
from gateway.services.keys import Principal, Role
from gateway.storage.tables import ClaimRow, LedgerEntryRow, PayerRow
from reconciliation.matching import ACROSS_PAYERS, MismatchKind
from reconciliation.statements import import_statement

PLANTED = (
    MismatchKind.AMOUNT_MISMATCH,
    MismatchKind.MISSING_AT_PAYER,
    MismatchKind.UNKNOWN_AT_GATEWAY,
    MismatchKind.DUPLICATE_SETTLEMENT,
    MismatchKind.OVER_COORDINATED,
    MismatchKind.STALE_COORDINATION,
)
TIER1, TIER2, TIER3 = "policy-ltci", "huiminbao", "acme-life"


@dataclass
class Night:
    business_date: date
    expected: set[tuple[str, str, str, int]] = field(default_factory=set)  # kind, payer, claim, line
    matched: int = 0
    claims: dict[str, str] = field(default_factory=dict)  # claim_id → what was planted


def _id_number(n: int) -> str:
    first17 = f"330102{1940 + n % 40:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + check_character(first17)


def business_date_for(window_days: int, today: date | None = None) -> date:
    return (today or business_date()) + timedelta(days=window_days + 1)


def generate_night(gateway: Gateway, claims_per_kind: int = 1, matched_claims: int = 2) -> Night:
    night = Night(business_date_for(gateway.settings.settlement_window_days))
    scenario = _example("worked-example.json")
    bureau = Principal("generator", Role.BUREAU, "bureau")
    provider = Principal("generator", Role.PROVIDER, scenario["provider"]["provider_code"])
    agency = Principal("generator", Role.PROVIDER, scenario["assessment"]["agency_code"])
    with gateway.sessions.begin() as session:
        for product in example_products():
            registry.load_product(session, product)
        registry.register_provider(session, scenario["provider"])
        agencies.register_agency(session, scenario["agency"])
        start = _serial(session)
    plan = [kind.value for kind in PLANTED for _ in range(claims_per_kind)]
    plan += [MismatchKind.MATCHED.value] * matched_claims
    made: list[tuple[str, str]] = []
    for i, planted in enumerate(plan):
        n = start + i
        id_number = _id_number(n)
        with gateway.sessions.begin() as session:
            for enrollment in scenario["enrollments"]:
                item = {**enrollment, "id_number": id_number}
                payer = item.pop("payer_code")
                principal = bureau if payer == TIER1 else Principal("generator", Role.PAYER, payer)
                enrollments.enrol(session, principal, payer, {"enrollments": [item]})
            assessment = copy.deepcopy(scenario["assessment"])
            assessment["member"] = {**assessment["member"], "id_number": id_number, "name": f"测试{n}"}
            view, _ = assessments.submit_assessment(
                session, agency, assessment, gateway.grading, gateway.today()
            )
            claim = copy.deepcopy(scenario["claim"])
            claim.update(
                claim_number=f"GEN-{n:06d}", member_id_number=id_number, assessment_id=view["assessment_id"]
            )
            receipt, _ = claims.submit_claim(session, provider, claim, gateway.catalogue)
        made.append((receipt["claim_id"], planted))
    Worker(gateway.sessions, gateway.catalogue).drain()
    for claim_id, planted in made:
        if planted == MismatchKind.STALE_COORDINATION:
            _revise_tier1(gateway, claim_id)
    Worker(gateway.sessions, gateway.catalogue).drain()
    statements: dict[str, list[dict[str, Any]]] = {TIER1: [], TIER2: [], TIER3: []}
    with gateway.sessions.begin() as session:
        for claim_id, planted in made:
            night.claims[claim_id] = planted
            _settle(session, night, statements, uuid.UUID(claim_id), planted)
        for payer_code, entries in statements.items():
            if session.get(PayerRow, payer_code) is not None and entries:
                raw = json.dumps({"entries": entries}, sort_keys=True).encode()
                import_statement(session, payer_code, raw, "application/json")
    return night


def _serial(session: Session) -> int:
    """A fresh member number, so a second night in the same database plants new claims."""
    return int(session.scalar(select(func.count()).select_from(ClaimRow)) or 0) + 1


def _revise_tier1(gateway: Gateway, claim_id: str) -> None:
    """The fund's audit lowers tier 1 by 300.00: later tiers are re-coordinated."""
    revision = {
        "claim_id": claim_id,
        "product_code": "CITY-LTCI-2025",
        "status": "decided",
        "cause": "generated: audit found 2 bed-days not delivered",
        "lines": [
            {
                "line_no": 1,
                "paid_fen": 180000,
                "reasons": [
                    {"code": "OVER_UNIT_LIMIT", "amount_fen": 150000},
                    {"code": "COINSURANCE", "amount_fen": 120000},
                ],
            }
        ],
    }
    with gateway.sessions.begin() as session:
        receive_decision(
            session, Principal("generator", Role.PAYER, TIER1), TIER1, revision, gateway.catalogue
        )


def _expected(session: Session, claim_id: uuid.UUID) -> dict[tuple[str, int], tuple[int, list[int]]]:
    """(payer, line) → (expected now, the expected figure after each earlier entry)."""
    rows = session.execute(
        select(LedgerEntryRow.payer_code, LedgerEntryRow.line_no, LedgerEntryRow.amount_fen)
        .where(LedgerEntryRow.claim_id == claim_id)
        .order_by(LedgerEntryRow.id)
    ).all()
    found: dict[tuple[str, int], tuple[int, list[int]]] = {}
    for payer, line_no, amount in rows:
        total, history = found.get((payer, line_no), (0, []))
        found[(payer, line_no)] = (total + amount, [*history, total + amount])
    return found


def _settle(
    session: Session,
    night: Night,
    statements: dict[str, list[dict[str, Any]]],
    claim_id: uuid.UUID,
    planted: str,
) -> None:
    day = night.business_date.isoformat()
    cid = str(claim_id)

    def entry(payer: str, line_no: int, paid: int, ref: str = "") -> None:
        statements[payer].append(
            {
                "claim_id": cid,
                "line_no": line_no,
                "paid_fen": paid,
                "payer_reference": f"{payer}:{cid[:8]}:{line_no}{ref}",
                "settled_on": day,
            }
        )

    def plant(kind: MismatchKind, payer: str, line_no: int) -> None:
        night.expected.add((kind.value, payer, cid, line_no))

    for (payer, line_no), (amount, history) in sorted(_expected(session, claim_id).items()):
        if amount == 0:
            continue
        if planted == MismatchKind.AMOUNT_MISMATCH and payer == TIER2:
            entry(payer, line_no, amount - 1000)
            plant(MismatchKind.AMOUNT_MISMATCH, payer, line_no)
        elif planted == MismatchKind.MISSING_AT_PAYER and payer == TIER3:
            plant(MismatchKind.MISSING_AT_PAYER, payer, line_no)  # the commercial insurer settled nothing
        elif planted == MismatchKind.DUPLICATE_SETTLEMENT and payer == TIER2:
            entry(payer, line_no, amount, "-a")
            entry(payer, line_no, amount, "-b")
            plant(MismatchKind.DUPLICATE_SETTLEMENT, payer, line_no)
            plant(
                MismatchKind.OVER_COORDINATED, ACROSS_PAYERS, line_no
            )  # the line was fully paid: now beyond billed
        elif planted == MismatchKind.OVER_COORDINATED and payer == TIER3 and line_no == 1:
            entry(payer, line_no, 300000)  # its standalone figure, ignoring what tiers 1–2 paid
            plant(MismatchKind.AMOUNT_MISMATCH, payer, line_no)
            plant(MismatchKind.OVER_COORDINATED, ACROSS_PAYERS, line_no)
        elif planted == MismatchKind.STALE_COORDINATION and payer == TIER2 and len(history) > 1:
            entry(payer, line_no, history[0])  # settled on the first round's figure
            plant(MismatchKind.STALE_COORDINATION, payer, line_no)
        else:
            entry(payer, line_no, amount)
            night.matched += 1
    if planted == MismatchKind.UNKNOWN_AT_GATEWAY:
        stranger = str(uuid.uuid5(uuid.NAMESPACE_URL, f"ltc-gateway:unknown:{cid}"))
        statements[TIER3].append(
            {
                "claim_id": stranger,
                "line_no": 1,
                "paid_fen": 50000,
                "payer_reference": f"{TIER3}:unknown:{cid[:8]}",
                "settled_on": day,
            }
        )
        night.expected.add((MismatchKind.UNKNOWN_AT_GATEWAY.value, TIER3, stranger, 1))
