"""The one place where a payer's part in a claim is written down: its line payments (with
reasons and visit findings), the fixed benefits it grants, the adjustments a re-coordination
makes, and the flags for the bureau."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from adapters.sdk import AdjustmentNotice, to_wire
from gateway import audit, ledger
from gateway.coordination import FixedBenefitDecision, PayerShare
from gateway.domain.claims import ClaimLine
from gateway.domain.products import ProductKind
from gateway.orchestration.transaction import Transaction
from gateway.storage.tables import (
    AdjustmentRow,
    ClaimRow,
    FixedBenefitRow,
    FlagRow,
    LinePaymentRow,
    OutboxRow,
    PayerStepRow,
    SettlementItemRow,
    utcnow,
)

# A claim's line payments are read back by queries, never as objects: written by one multi-row
# INSERT, with no unit-of-work bookkeeping for each row, they are read unflushed (``transaction``).
# Statements on the tables, not the ORM entities, run on the session's connection: an entity's
# INSERT or DELETE goes through the ORM's bulk-persistence layer (a tenth of a move's CPU in the
# profile, docs/scaling.md), and a table's run through the session flushes the unit of work first
# (SQLAlchemy flushes before every Core statement), which wrote each step's row twice a move.
_PAYMENTS = cast(Table, LinePaymentRow.__table__)
_FIXED = cast(Table, FixedBenefitRow.__table__)
_INSERT_PAYMENTS = insert(_PAYMENTS)


def record_share(
    session: Session,
    claim: ClaimRow,
    step: PayerStepRow,
    share: PayerShare,
    lines: Sequence[ClaimLine],
    *,
    provisional: bool = False,
) -> None:
    """An indemnity payer's payments on every line of the claim, in the claim's current round.

    ``provisional``: a proposal sent for acknowledgement; it holds the period limits until the
    payer answers, and is replaced by the decision or released."""
    release_provisional(session, claim, step)
    by_no = {line.line_no: line for line in lines}
    now, rows = utcnow(), []
    for line in share.lines:
        service = by_no[line.line_no]
        finding = line.visit
        rows.append(
            {
                "claim_id": claim.claim_id,
                "round": claim.round,
                "seq": step.seq,
                "line_no": line.line_no,
                "member_id": claim.member_id,
                "payer_code": step.payer_code,
                "product_code": step.product_code,
                "period_month": service.month,
                "period_year": service.service_date.year,
                "billed_fen": line.billed_fen,
                "remaining_fen": line.remaining_fen,
                "standalone_fen": line.standalone_fen,
                "paid_fen": line.paid_fen,
                "reasons": [[reason.value, amount] for reason, amount in line.reasons],
                "visit": {"verified": finding.verified, "problems": list(finding.problems)}
                if finding
                else None,
                "current": True,
                "provisional": provisional,
                "created_at": now,
            }
        )
        if finding is not None and not finding.verified and not provisional:
            flag(session, claim, "visit_unverified", "; ".join(finding.problems), step, line.line_no)
        if line.repeat is not None and not provisional:  # DUPLICATE_SERVICE: the earlier claim named
            flag(session, claim, "duplicate_service", line.repeat.detail(service), step, line.line_no)
    if rows:
        session.connection().execute(_INSERT_PAYMENTS, rows)
    if not provisional:
        step.detail = {**(step.detail or {}), "paid_fen": share.paid_fen}
        if claim.round == 1:  # later rounds reach the ledger as adjustments
            expect(session, claim, step, "payment", [(line.line_no, line.paid_fen) for line in share.lines])


def settling_party(step: PayerStepRow) -> str:
    """The party that settles the step: a tier-1 share's administrator, else the payer."""
    return step.administrator_code or step.payer_code


def expect(
    session: Session,
    claim: ClaimRow,
    step: PayerStepRow,
    kind: str,
    amounts: Iterable[tuple[int, int]],
    month: str | None = None,
) -> None:
    """What the step's settling party owes for this round of the claim, in the ledger."""
    ledger.expect(
        session,
        payer_code=settling_party(step),
        claim_id=claim.claim_id,
        product_code=step.product_code,
        round_=claim.round,
        kind=kind,
        amounts=amounts,
        month=month,
    )


# A proposal's rows were written by an earlier transaction, never loaded as objects: the deletes
# need no flush first and need not look for the rows in the session either.
_RELEASE_FIXED = delete(_FIXED).where(
    _FIXED.c.claim_id == bindparam("claim_id"),
    _FIXED.c.product_code == bindparam("product_code"),
    _FIXED.c.provisional.is_(True),
)
_RELEASE_PAYMENTS = delete(_PAYMENTS).where(
    _PAYMENTS.c.claim_id == bindparam("claim_id"),
    _PAYMENTS.c.round == bindparam("round"),
    _PAYMENTS.c.seq == bindparam("seq"),
    _PAYMENTS.c.provisional.is_(True),
)


def release_provisional(session: Session, claim: ClaimRow, step: PayerStepRow) -> None:
    """Give back the limits a proposal held (the payer refused it, or its decision replaces it)."""
    # a step holds line payments (indemnity) or fixed benefits, never both: one statement
    if step.kind == ProductKind.FIXED_BENEFIT.value:
        session.connection().execute(
            _RELEASE_FIXED, {"claim_id": claim.claim_id, "product_code": step.product_code}
        )
        return
    if _asked_to_decide(step):
        return  # it held nothing: no DELETE on every decision
    session.connection().execute(
        _RELEASE_PAYMENTS, {"claim_id": claim.claim_id, "round": claim.round, "seq": step.seq}
    )


def _asked_to_decide(step: PayerStepRow) -> bool:
    """Whether the indemnity step's stored request asked its payer to decide (not a proposal):
    then its round and seq hold no line payments provisionally. They are written only with a
    proposal's request, in its transaction (``moves``), and every step that leaves a round and
    seq (dead, refused, returned, replaced, voided) releases them before another is built.
    Fixed benefits are held by product, across rounds: those are always released."""
    request = step.request
    return isinstance(request, dict) and request.get("adjudication") == "payer"


_HELD = select(FixedBenefitRow).where(
    FixedBenefitRow.claim_id == bindparam("claim_id"),
    FixedBenefitRow.product_code == bindparam("product_code"),
    FixedBenefitRow.provisional.is_(False),
)


def record_fixed_benefits(
    session: Session,
    claim: ClaimRow,
    step: PayerStepRow,
    decisions: Sequence[FixedBenefitDecision],
    *,
    provisional: bool = False,
) -> None:
    """The months a fixed-benefit payer grants; ``provisional`` holds them while a proposal waits."""
    release_provisional(session, claim, step)
    # A month the claim already holds (a void of another claim moved it here while this step was
    # with its payer) is the same grant: its row takes the decision, no second row is added.
    held = {
        row.month: row
        for row in session.scalars(_HELD, {"claim_id": claim.claim_id, "product_code": step.product_code})
    }
    for decision in decisions:
        if decision.amount_fen <= 0:
            continue
        row = held.get(decision.month)
        if row is not None and provisional:
            continue  # held already, firmly: a proposal's hold adds nothing
        if row is None:
            row = FixedBenefitRow(claim_id=claim.claim_id, member_id=claim.member_id, month=decision.month)
            session.add(row)
        row.payer_code, row.product_code = decision.payer_code, decision.product_code
        row.amount_fen, row.payee, row.provisional = decision.amount_fen, decision.payee, provisional
    if provisional:
        return
    expected = ledger.claim_level_expected(
        session, claim.claim_id, step.product_code, (d.month for d in decisions)
    )
    for decision in decisions:
        ledger.reverse(
            session,
            claim_id=claim.claim_id,
            product_code=step.product_code,
            round_=claim.round,
            month=decision.month,
            expected_now=expected.get(decision.month, []),
        )
        expect(
            session, claim, step, "fixed_benefit", [(ledger.CLAIM_LEVEL, decision.amount_fen)], decision.month
        )
    step.detail = {
        **(step.detail or {}),
        "granted": [{"month": d.month, "amount_fen": d.amount_fen} for d in decisions if d.amount_fen > 0],
        "declined": [{"month": d.month, "reason": d.reason.value} for d in decisions if d.reason is not None],
    }


def flag(
    session: Session,
    claim: ClaimRow,
    kind: str,
    detail: str,
    step: PayerStepRow | None = None,
    line_no: int | None = None,
) -> None:
    """Something for the bureau to look at, shown on the claim."""
    session.add(
        FlagRow(
            kind=kind,
            claim_id=claim.claim_id,
            line_no=line_no,
            payer_code=step.payer_code if step else None,
            product_code=step.product_code if step else None,
            detail=detail,
        )
    )


def record_adjustments(
    tx: Transaction, claim: ClaimRow, step: PayerStepRow, notify: bool
) -> list[AdjustmentRow]:
    """After a re-coordination decided this step again: the change on each line against what the
    payer last decided, as a top-up (+) or a recovery (−); with ``notify``, a notice to the payer."""
    session = tx.session
    current = dict(
        session.execute(
            select(LinePaymentRow.line_no, LinePaymentRow.paid_fen).where(
                LinePaymentRow.claim_id == claim.claim_id,
                LinePaymentRow.round == claim.round,
                LinePaymentRow.seq == step.seq,
                LinePaymentRow.provisional.is_(False),
            )
        ).all()
    )
    earlier = session.execute(
        select(LinePaymentRow.line_no, LinePaymentRow.round, LinePaymentRow.paid_fen)
        .where(
            LinePaymentRow.claim_id == claim.claim_id,
            LinePaymentRow.product_code == step.product_code,
            LinePaymentRow.round < claim.round,
            LinePaymentRow.provisional.is_(False),
        )
        .order_by(LinePaymentRow.round)
    )
    previous = {line_no: paid for line_no, _, paid in earlier}  # the latest round wins
    cause = str((step.detail or {}).get("cause", "re-coordination"))
    rows = []
    for line_no in sorted(set(current) | set(previous)):
        before, after = previous.get(line_no, 0), current.get(line_no, 0)
        if before != after:
            rows.append(
                AdjustmentRow(
                    claim_id=claim.claim_id,
                    round=claim.round,
                    payer_code=step.payer_code,
                    product_code=step.product_code,
                    line_no=line_no,
                    previous_paid_fen=before,
                    paid_fen=after,
                    delta_fen=after - before,
                    kind="top_up" if after > before else "recovery",
                    cause=cause,
                )
            )
    session.add_all(rows)
    session.flush()
    if rows:
        audit.record(
            session,
            "adjustments.recorded",
            f"claim:{claim.claim_id}",
            round=claim.round,
            product=step.product_code,
            lines=[{"line_no": r.line_no, "delta_fen": r.delta_fen, "kind": r.kind} for r in rows],
        )
    expect(session, claim, step, "adjustment", [(r.line_no, r.delta_fen) for r in rows])
    session.add_all(
        SettlementItemRow(
            payer_code=settling_party(step),
            claim_id=claim.claim_id,
            line_no=r.line_no,
            amount_fen=r.delta_fen,
            source=f"adjustment:{r.id}",
        )
        for r in rows
    )
    if rows and notify:
        notice = AdjustmentNotice(
            idempotency_key=f"adjustment:{claim.claim_id}:{claim.round}:{step.seq}",
            claim_id=str(claim.claim_id),
            claim_number=claim.claim_number,
            payer_code=step.payer_code,
            product_code=step.product_code,
            round=claim.round,
            cause=cause,
            lines=tuple(
                {
                    "line_no": r.line_no,
                    "previous_paid_fen": r.previous_paid_fen,
                    "paid_fen": r.paid_fen,
                    "delta_fen": r.delta_fen,
                    "kind": r.kind,
                }
                for r in rows
            ),
        )
        session.add(
            OutboxRow(
                kind="adjustment",
                payer_code=settling_party(step),
                claim_id=claim.claim_id,
                idempotency_key=notice.idempotency_key,
                payload=to_wire(notice),
                status="waiting",
            )
        )
        tx.queued = True
    return rows
