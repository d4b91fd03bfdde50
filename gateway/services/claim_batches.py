"""Batch upload: a provider's month of claims as one CSV or XLSX file, each claim checked and
submitted by the same path as ``POST /v1/claims`` (``services.claims.check_claims`` and
``submit_claims``), its faults named by sheet row and column in Chinese and English.

By default a file with any fault accepts nothing (``accept="all"``): a small agency fixes the
file it keeps and sends it again, and the month is then in the gateway whole, rather than half
in and half in a spreadsheet where nobody remembers which half. ``accept="valid"`` takes the
claims without faults and reports the rest.

The same file again (and the same choice) is the same batch: it is found by a keyed hash of its
bytes per provider (HMAC under the look-up key: a plain digest of a file of ID numbers could be
confirmed by guessing). The file itself is never stored: it is read in the request, and a batch
whose worker died (no progress for ``STALE``) is taken up again when the file is sent again,
which is safe because a claim sent twice with the same body is the first claim."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.claim_rows import RowFault, SheetClaim, claims_of
from gateway.errors import Forbidden, Invalid, NotFound, ServiceError
from gateway.services.batch_faults import described
from gateway.services.batch_files import Sheet, read_sheet
from gateway.services.claims import Submission, check_claims, read_claim, submit_claims
from gateway.services.keys import Principal, Role
from gateway.storage.personal import signature
from gateway.storage.tables import ClaimBatchRow, utcnow

ACCEPT = ("all", "valid")
CHUNK = 100  # claims a transaction checks or submits: progress moves at least this often
MAX_FAULTS = 1000  # kept and shown; the count says how many there were
STALE = timedelta(minutes=2)  # a batch this long without progress lost its worker
RUNNING = ("checking", "submitting")


@dataclass(frozen=True, slots=True)
class Work:
    """What is left to do for a batch: its claims and the faults its rows already have."""

    batch_id: uuid.UUID
    principal: Principal
    accept: str
    claims: list[SheetClaim]
    row_faults: list[RowFault]


@dataclass(frozen=True, slots=True)
class Started:
    view: dict[str, Any]
    created: bool  # a new batch (else the same file again: its batch as it stands)
    work: Work | None  # to run (``process``) now or in the background


def file_key(provider_code: str, accept: str, raw: bytes) -> str:
    return signature("claim-batch", f"{provider_code}\0{accept}\0".encode() + raw)


def start(
    session: Session, principal: Principal, raw: bytes, kind: str, accept: str, max_rows: int
) -> Started:
    """Read the file and open its batch; the same file again answers its batch. ``Invalid`` or
    ``TooLarge`` when the file itself cannot be read (its header, its size): no batch then."""
    if principal.role != Role.PROVIDER:
        raise Forbidden("only providers upload claims")
    if accept not in ACCEPT:
        raise Invalid([("/accept", f"must be one of {', '.join(ACCEPT)}")])
    key = file_key(principal.party_code, accept, raw)
    row = session.scalar(
        select(ClaimBatchRow).where(
            ClaimBatchRow.provider_code == principal.party_code, ClaimBatchRow.file_key == key
        )
    )
    if row is not None and not (row.status in RUNNING and utcnow() - row.updated_at > STALE):
        return Started(view(row), False, None)
    sheet: Sheet = read_sheet(raw, kind, max_rows)
    claims, row_faults = claims_of(sheet.rows)
    if not claims and not row_faults:
        raise Invalid([("/file", "holds no claim: the template's header row and then a row a claim line")])
    if row is None:
        row = ClaimBatchRow(provider_code=principal.party_code, file_key=key, kind=kind, accept=accept)
        session.add(row)
    row.status, row.rows_total, row.claims_total = "checking", len(sheet.rows), len(claims)
    row.rows_checked = row.rows_submitted = row.faults_total = 0
    row.claims, row.faults, row.updated_at, row.finished_at = [], None, utcnow(), None
    session.flush()
    work = Work(row.batch_id, principal, accept, claims, row_faults)
    return Started(view(row), True, work)


def process(sessions: sessionmaker[Session], work: Work, catalogue: ServiceCatalogue) -> dict[str, Any]:
    """Check every claim, then (all of them, or the valid ones) submit them, a chunk a transaction,
    the batch's progress moving with each; the batch as it ends."""
    claim_of_row = {row: claim.claim_number for claim in work.claims for row in claim.rows}
    faults = [(f, claim_of_row.get(f.row)) for f in work.row_faults]
    faulty = {claim for _, claim in faults if claim is not None}
    read: dict[str, Submission] = {}  # each claim read once, then checked and submitted as read
    for chunk in _chunks(work.claims):
        submissions = []
        for claim in chunk:
            try:
                read[claim.claim_number] = Submission(
                    work.principal, claim.document, read_claim(claim.document)
                )
            except Invalid as error:
                faults += [(f, claim.claim_number) for f in _row_faults(claim, error)]
                faulty.add(claim.claim_number)
            else:
                submissions.append((claim, read[claim.claim_number]))
        with sessions.begin() as session:
            outcomes = check_claims(session, [s for _, s in submissions], catalogue)
            for (claim, _), outcome in zip(submissions, outcomes, strict=True):
                if outcome is not None:
                    faults += [(f, claim.claim_number) for f in _row_faults(claim, outcome)]
                    faulty.add(claim.claim_number)
            _progress(session, work.batch_id, checked=sum(len(c.rows) for c in chunk))
    rows_faulty = {f.row for f, _ in faults}
    if (faults and work.accept == "all") or len(faulty) == len(work.claims):
        return _finish(sessions, work.batch_id, "rejected", faults)
    valid = [c for c in work.claims if c.claim_number not in faulty and not rows_faulty & set(c.rows)]
    accepted = 0
    for chunk in _chunks(valid):
        with sessions.begin() as session:
            created: list[dict[str, Any]] = []
            receipts = submit_claims(session, [read[c.claim_number] for c in chunk], catalogue)
            for claim, receipt in zip(chunk, receipts, strict=True):
                if isinstance(receipt, ServiceError):  # changed since it was checked: named too
                    faults += [(f, claim.claim_number) for f in _row_faults(claim, receipt)]
                    continue
                answer, new = receipt
                created.append(
                    {"claim_number": claim.claim_number, "claim_id": answer["claim_id"], "new": new}
                )
            accepted += len(created)
            _progress(session, work.batch_id, submitted=sum(len(c.rows) for c in chunk), claims=created)
    status = "accepted" if not faults else "partial" if accepted else "rejected"
    return _finish(sessions, work.batch_id, status, faults)


def _chunks(claims: list[SheetClaim]) -> Iterator[list[SheetClaim]]:
    for start_at in range(0, len(claims), CHUNK):
        yield claims[start_at : start_at + CHUNK]


def _row_faults(claim: SheetClaim, error: ServiceError) -> list[RowFault]:
    """A claim's refusal at the rows and columns its pointers name (a refusal of the whole claim,
    such as a changed claim already submitted, at its first row's claim number)."""
    if isinstance(error, Invalid) and error.faults:
        return [RowFault(*claim.locate(pointer), claim.in_rows(detail)) for pointer, detail in error.faults]
    return [RowFault(claim.rows[0], "claim_number", error.detail)]


def _progress(
    session: Session,
    batch_id: uuid.UUID,
    checked: int = 0,
    submitted: int = 0,
    claims: list[dict[str, Any]] | None = None,
) -> None:
    row = session.get(ClaimBatchRow, batch_id, with_for_update=True)
    assert row is not None
    row.rows_checked += checked
    row.rows_submitted += submitted
    if submitted:
        row.status = "submitting"
    if claims:
        row.claims = [*row.claims, *claims]
    row.updated_at = utcnow()


def _finish(
    sessions: sessionmaker[Session],
    batch_id: uuid.UUID,
    status: str,
    faults: list[tuple[RowFault, str | None]],
) -> dict[str, Any]:
    unique: dict[tuple[int, str | None], dict[str, Any]] = {}
    for fault, claim_number in faults:  # one fault a cell: the first (a cell's own before the schema's)
        unique.setdefault((fault.row, fault.column), described(fault, claim_number))
    ordered = sorted(unique.values(), key=lambda f: (f["row"], f["column"] or ""))
    with sessions.begin() as session:
        row = session.get(ClaimBatchRow, batch_id, with_for_update=True)
        assert row is not None
        row.status, row.faults_total = status, len(ordered)
        row.faults = json.dumps(ordered[:MAX_FAULTS], ensure_ascii=False) if ordered else None
        row.updated_at = row.finished_at = utcnow()
        return view(row)


def run_guarded(
    sessions: sessionmaker[Session], work: Work, catalogue: ServiceCatalogue, log: Callable[..., None]
) -> None:
    """``process`` in the background: a failure is logged (no personal data: the batch id) and
    leaves the batch to be taken up again by the same file."""
    try:
        process(sessions, work, catalogue)
    except Exception:
        log("batch %s stopped; sending the same file again resumes it", work.batch_id, exc_info=True)


def batch_view(session: Session, principal: Principal, batch_id: str) -> dict[str, Any]:
    """A batch as its provider (or the bureau) sees it; another provider's is not found."""
    try:
        row = session.get(ClaimBatchRow, uuid.UUID(batch_id))
    except ValueError:
        row = None
    if row is None or (principal.role == Role.PROVIDER and row.provider_code != principal.party_code):
        raise NotFound(f"no claim batch {batch_id}")
    return view(row)


def view(row: ClaimBatchRow) -> dict[str, Any]:
    return {
        "batch_id": str(row.batch_id),
        "provider_code": row.provider_code,
        "status": row.status,
        "accept": row.accept,
        "kind": row.kind,
        "progress": {
            "rows_total": row.rows_total,
            "rows_checked": row.rows_checked,
            "rows_submitted": row.rows_submitted,
        },
        "claims_total": row.claims_total,
        "claims": list(row.claims or []),
        "faults_total": row.faults_total,
        "faults": json.loads(row.faults) if row.faults else [],
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }
