"""Claims: accepted once (202), then coordinated by the workers (the write side; the view of the
result is ``services/claim_view.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.domain.beijing_time import beijing_date
from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.claims import (
    ClaimStatus,
    ClaimSubmission,
    claim_problems,
    period_problems,
    repeated_lines,
)
from gateway.domain.identity import id_number_problem
from gateway.domain.model import Fault
from gateway.errors import Conflict, Forbidden, Invalid, ServiceError
from gateway.orchestration.planning import Planned, plan_steps
from gateway.parsing import digest, parse
from gateway.services.keys import Principal, Role
from gateway.storage.bulk import insert_rows
from gateway.storage.claim_lines import line_values
from gateway.storage.personal import lookup_hash
from gateway.storage.tables import (
    AssessmentRow,
    ClaimLineRow,
    ClaimRow,
    MemberRow,
    ProviderRow,
    utcnow,
)

# the columns the checks and the planning read (never a member's sealed columns: decrypting them
# was most of loading a member)
MEMBER_KEYS = (MemberRow.member_id, MemberRow.id_hash, MemberRow.district)
PROVIDER_KEYS = (ProviderRow.provider_code, ProviderRow.district)
ASSESSMENT_KEYS = (AssessmentRow.assessment_id, AssessmentRow.member_id)
CLAIMS, LINES = cast(Table, ClaimRow.__table__), cast(Table, ClaimLineRow.__table__)
CLAIM_KEY = ("claim_id", "provider_code", "claim_number")


@dataclass(frozen=True, slots=True)
class Submission:
    principal: Principal
    document: Any
    # the document already read by ``read_claim`` (a batch checks, then submits, the same one)
    parsed: ClaimSubmission | None = None


def read_claim(document: Any) -> ClaimSubmission:
    """A claim document read against the claim schema and model (``Invalid`` naming each field)."""
    return parse("claim", ClaimSubmission, document)


Receipt = tuple[dict[str, Any], bool]  # the receipt, and whether the claim is new


def submit_claim(
    session: Session, principal: Principal, document: Any, catalogue: ServiceCatalogue
) -> Receipt:
    """Validate and store a claim with its planned payer steps; (the receipt, whether it is new).

    ``claim_number`` is unique per provider: the same body again returns the first receipt,
    another body under the same number is a conflict."""
    outcome = submit_claims(session, [Submission(principal, document)], catalogue)[0]
    if isinstance(outcome, ServiceError):
        raise outcome
    return outcome


def submit_claims(
    session: Session, submissions: Sequence[Submission], catalogue: ServiceCatalogue
) -> list[Receipt | ServiceError]:
    """``submit_claim`` for many claims in the caller's transaction, each with its own outcome (a
    claim's faults do not touch the others). The database work is per batch, not per claim: one
    query for the providers, the members, the assessments, the members' products and routes, one
    batch of rows for the claims, their lines, their steps and audit entries. Under load the API
    accepts concurrent requests together this way (``gateway.api.endpoint.batched``)."""
    outcomes, accepted, read = _checked(session, submissions, catalogue)
    if accepted:
        _store(session, submissions, accepted, outcomes, read)
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def check_claims(
    session: Session, submissions: Sequence[Submission], catalogue: ServiceCatalogue
) -> list[ServiceError | None]:
    """What ``submit_claims`` would refuse each claim with, writing nothing (a batch upload checks
    a whole file before it accepts any of it): None for a claim it would accept, or has accepted
    already with the same body; a claim number taken with another body is the same Conflict."""
    outcomes, accepted, _ = _checked(session, submissions, catalogue)
    taken = (
        {
            (row.provider_code, row.claim_number): row
            for row in session.scalars(
                select(ClaimRow).where(
                    ClaimRow.provider_code.in_({v["provider_code"] for _, _, v in accepted.values()}),
                    ClaimRow.claim_number.in_({v["claim_number"] for _, _, v in accepted.values()}),
                )
            )
        }
        if accepted
        else {}
    )
    for n, (claim, key, values) in accepted.items():
        row = taken.get((values["provider_code"], claim.claim_number))
        outcomes[n] = _changed(claim.claim_number, row) if row and row.request_digest != key else None
    return [outcome if isinstance(outcome, ServiceError) else None for outcome in outcomes]


Checked = tuple[
    list[Receipt | ServiceError | None],
    dict[int, tuple[ClaimSubmission, str, dict[str, Any]]],
    tuple[dict[Any, Any], dict[Any, Any]],  # the members and providers read, for the planning
]


def _checked(session: Session, submissions: Sequence[Submission], catalogue: ServiceCatalogue) -> Checked:
    """Each claim's refusal (or, for a claim already accepted with the same body, its receipt), the
    values to store of each claim that passes, by position, and the members and providers read."""
    outcomes: list[Receipt | ServiceError | None] = [None] * len(submissions)
    parsed: dict[int, ClaimSubmission] = {}
    for n, submission in enumerate(submissions):
        if submission.principal.role != Role.PROVIDER:
            outcomes[n] = Forbidden("only providers submit claims")
            continue
        try:
            parsed[n] = submission.parsed or read_claim(submission.document)
        except Invalid as error:
            outcomes[n] = error
    codes = {submissions[n].principal.party_code for n in parsed}
    providers = _by(session, ProviderRow.provider_code, codes, PROVIDER_KEYS)
    hashes = {
        n: lookup_hash(c.member_id_number)
        for n, c in parsed.items()
        if not id_number_problem(c.member_id_number)
    }
    members = _by(session, MemberRow.id_hash, set(hashes.values()), MEMBER_KEYS)
    assessment_ids = {uuid.UUID(c.assessment_id) for c in parsed.values()}
    assessments = _by(session, AssessmentRow.assessment_id, assessment_ids, ASSESSMENT_KEYS)
    accepted: dict[int, tuple[ClaimSubmission, str, dict[str, Any]]] = {}
    today = beijing_date(utcnow())
    for n, claim in parsed.items():
        principal = submissions[n].principal
        provider = providers.get(principal.party_code)
        if provider is None:
            outcomes[n] = Forbidden(f"provider {principal.party_code} is not registered with the bureau")
            continue
        key = digest(submissions[n].document)
        faults: list[Fault] = list(claim_problems(claim, catalogue))
        faults.extend(repeated_lines(claim))  # a service billed twice in one claim (domain.md §4)
        faults += period_problems(claim.period, today)
        problem = id_number_problem(claim.member_id_number)
        member = members.get(hashes[n]) if n in hashes else None
        if problem:
            faults.append(("/member_id_number", problem))
        elif member is None:
            faults.append(("/member_id_number", "no member with this ID number is enrolled or assessed"))
        assessment = assessments.get(uuid.UUID(claim.assessment_id))
        if assessment is None or (member is not None and assessment.member_id != member.member_id):
            faults.append(("/assessment_id", "no assessment with this id for this member"))
        if faults or member is None or assessment is None:
            # the same claim sent again is answered with its receipt, even if it would not pass today
            outcomes[n] = _existing_or(
                session, provider.provider_code, claim.claim_number, key, Invalid(faults)
            )
            continue
        accepted[n] = (
            claim,
            key,
            {
                "claim_id": uuid.uuid4(),
                "provider_code": provider.provider_code,
                "claim_number": claim.claim_number,
                "member_id": member.member_id,
                "assessment_id": assessment.assessment_id,
                "period_start": claim.period.start,
                "period_end": claim.period.end,
                "status": ClaimStatus.RECEIVED.value,
                "billed_fen": sum(line.billed_fen for line in claim.lines),
                "request_digest": key,
            },
        )
    return outcomes, accepted, ({m.member_id: m for m in members.values()}, providers)


def _store(
    session: Session,
    submissions: Sequence[Submission],
    accepted: dict[int, tuple[ClaimSubmission, str, dict[str, Any]]],
    outcomes: list[Receipt | ServiceError | None],
    read: tuple[dict[Any, Any], dict[Any, Any]],
) -> None:
    now = utcnow()
    rows = [values for _, _, values in accepted.values()]
    same = {"round": 1, "next_attempt_at": now, "created_at": now, "updated_at": now}
    # A claim number already taken (sent again, concurrently or in this very batch) inserts nothing.
    stored = {
        (row.provider_code, row.claim_number): row.claim_id
        for row in insert_rows(session, CLAIMS, rows, skip_conflicts=True, returning=CLAIM_KEY, same=same)
    }
    new: list[tuple[ClaimSubmission, Planned]] = []
    entries: list[audit.Entry] = []
    for n, (claim, key, values) in accepted.items():
        if stored.get((values["provider_code"], values["claim_number"])) != values["claim_id"]:
            outcomes[n] = _existing_or(session, values["provider_code"], claim.claim_number, key, None)
            continue
        planned = Planned(
            values["claim_id"],
            values["provider_code"],
            values["member_id"],
            values["assessment_id"],
            values["period_start"],
            values["period_end"],
            round=1,
        )
        new.append((claim, planned))
        outcomes[n] = (_receipt_of(values, now), True)
        principal = submissions[n].principal
        entries.append(
            audit.Entry(
                "claim.accepted",
                f"claim:{planned.claim_id}",
                actor=f"{principal.role.value}:{principal.party_code}",
                detail={"claim_number": values["claim_number"], "billed_fen": values["billed_fen"]},
            )
        )
    if not new:
        return
    # one statement each for the batch's lines, steps and audit entries (gateway.storage.bulk)
    lines = [line_values(planned.claim_id, line) for claim, planned in new for line in claim.lines]
    insert_rows(session, LINES, lines)
    members, providers = read
    plan_steps(session, [planned for _, planned in new], members, providers)
    audit.record_many(session, entries)


def _by(session: Session, column: Any, values: set[Any], columns: tuple[Any, ...]) -> dict[Any, Any]:
    """Plain rows of ``columns`` whose ``column`` is one of ``values``, by that value: one query,
    no ORM entities (a batch reads only what its checks and planning use)."""
    if not values:
        return {}
    return {
        getattr(row, column.key): row for row in session.execute(select(*columns).where(column.in_(values)))
    }


def _existing_or(
    session: Session, provider_code: str, claim_number: str, key: str, otherwise: ServiceError | None
) -> Receipt | ServiceError:
    try:
        existing = _existing(session, provider_code, claim_number, key)
    except Conflict as conflict:
        return conflict
    if existing is not None:
        return existing, False
    assert otherwise is not None, "a claim number that inserted nothing is taken"
    return otherwise


def _existing(session: Session, provider_code: str, claim_number: str, key: str) -> dict[str, Any] | None:
    row = session.scalar(
        select(ClaimRow).where(ClaimRow.provider_code == provider_code, ClaimRow.claim_number == claim_number)
    )
    if row is None:
        return None
    if row.request_digest != key:
        raise _changed(claim_number, row)
    return _receipt(row)


def _changed(claim_number: str, row: ClaimRow) -> Conflict:
    return Conflict(
        f"claim number {claim_number} was already submitted with a different body (claim {row.claim_id})"
    )


def _receipt_of(values: dict[str, Any], created_at: datetime) -> dict[str, Any]:
    """The receipt of a claim just stored with ``values``: what ``_receipt`` reads back later."""
    return {
        "claim_id": str(values["claim_id"]),
        "claim_number": values["claim_number"],
        "status": values["status"],
        "received_at": created_at.isoformat(),
    }


def _receipt(row: ClaimRow) -> dict[str, Any]:
    return {
        "claim_id": str(row.claim_id),
        "claim_number": row.claim_number,
        "status": row.status,
        "received_at": row.created_at.isoformat(),
    }
