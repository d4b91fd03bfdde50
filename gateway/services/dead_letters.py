"""A dead-lettered or refused payer step, or a dead notice, as the bureau reads it: the stored
request (opened through the sealed-fields path, its ID numbers and names masked for the page)
beside the payer's answer, and the lineage: which attempt replaced which. A step's attempts are
rows (``rerun_of``); a notice keeps one row (its key is unique, and the payer must see the same
key and bytes), so its deliveries are told by the audit trail: each ``outbox.resent`` entry
names the delivery it starts, the one it replaces, that one's error and attempts, and who."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.domain.identity import mask_id_number, mask_name
from gateway.errors import NotFound
from gateway.orchestration.outbox import DEAD, redeliver
from gateway.orchestration.steps import FAILED_STEPS
from gateway.storage.tables import AuditEntryRow, ClaimRow, OutboxRow, PayerStepRow

_MASKS = {"id_number": mask_id_number, "member_id_number": mask_id_number, "name": mask_name}


def masked(document: Any) -> Any:
    """A copy with every ID number and name masked (first 6 and last 4; the family name)."""
    if isinstance(document, dict):
        return {
            k: _MASKS[k](v) if k in _MASKS and isinstance(v, str) else masked(v) for k, v in document.items()
        }
    if isinstance(document, list):
        return [masked(v) for v in document]
    return document


def step_letter(session: Session, step_id: int) -> dict[str, Any]:
    step = session.get(PayerStepRow, step_id)
    if step is None:
        raise NotFound(f"no payer step {step_id}", [("/step_id", "no such step")])
    claim = session.get_one(ClaimRow, step.claim_id)
    lineage = session.scalars(
        select(PayerStepRow)
        .where(
            PayerStepRow.claim_id == step.claim_id,
            PayerStepRow.round == step.round,
            PayerStepRow.seq == step.seq,
        )
        .order_by(PayerStepRow.attempt)
    )
    return {
        "step_id": step.step_id,
        "claim_id": str(step.claim_id),
        "claim_number": claim.claim_number,
        "payer_code": step.administrator_code or step.payer_code,
        "product_code": step.product_code,
        "status": step.status,
        "attempt": step.attempt,
        "attempts": step.attempts,
        "error": step.last_error,
        "request": masked(step.request),
        "response": masked(step.response),
        "may_rerun": step.status in FAILED_STEPS and step.round == claim.round,
        "lineage": [
            {
                "step_id": s.step_id,
                "attempt": s.attempt,
                "rerun_of": s.rerun_of,
                "status": s.status,
                "error": s.last_error,
                "updated_at": s.updated_at,
            }
            for s in lineage
        ],
    }


def notice_letter(session: Session, outbox_id: int) -> dict[str, Any]:
    row = session.get(OutboxRow, outbox_id)
    if row is None:
        raise NotFound(f"no notice {outbox_id}", [("/id", "no such notice")])
    return {
        "id": row.id,
        "kind": row.kind,
        "payer_code": row.payer_code,
        "idempotency_key": row.idempotency_key,
        "status": row.status,
        "attempts": row.attempts,
        "error": row.last_error,
        "request": masked(row.payload),
        "claim_id": str(row.claim_id) if row.claim_id else None,
        "may_resend": row.status == DEAD,
        "lineage": _resends(session, outbox_id),
    }


def _resends(session: Session, outbox_id: int) -> list[dict[str, Any]]:
    """Each resend of the notice, oldest first: the delivery it started and the one it replaced."""
    entries = session.scalars(
        select(AuditEntryRow)
        .where(AuditEntryRow.subject == f"outbox:{outbox_id}", AuditEntryRow.action == "outbox.resent")
        .order_by(AuditEntryRow.id)
    )
    return [{**entry.detail, "actor": entry.actor, "at": entry.at} for entry in entries]


def resend_notice(session: Session, outbox_id: int, actor: str) -> dict[str, Any]:
    """Send a dead notice again as it was stored (``outbox.redeliver``): the same key and bytes,
    so the payer takes it once; audited with who, and which delivery replaced which."""
    replaced = redeliver(session, outbox_id)
    row = session.get_one(OutboxRow, outbox_id)
    delivery = len(_resends(session, outbox_id)) + 2  # the first delivery was no resend
    lineage = {
        "delivery": delivery,
        "replaces": delivery - 1,
        "replaced_attempts": replaced["attempts"],
        "replaced_error": replaced["error"],
    }
    audit.record(session, "outbox.resent", f"outbox:{outbox_id}", actor, **lineage)
    return {"notice_id": row.id, "status": row.status, "idempotency_key": row.idempotency_key, **lineage}
