"""What a work-queue item is about, for the reconciler to judge it: the payer's statement lines
behind it (reference, settlement date, the file each came in), each payer's settlement of the
line, and the coordination it was expected against, round by round, so a stale item shows the
figure it was settled on and the one that replaced it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.tables import LedgerEntryRow, MismatchRow, StatementLineRow, StatementRow
from reconciliation.matching import ACROSS_PAYERS

MOST_LINES = 200  # a line settled more often than this is shown in part (the count says so)


def evidence(session: Session, row: MismatchRow) -> dict[str, Any]:
    across = row.payer_code == ACROSS_PAYERS
    lines = select(StatementLineRow, StatementRow).join(
        StatementRow, StatementRow.id == StatementLineRow.statement_id
    )
    lines = lines.where(StatementLineRow.claim_id == row.claim_id, StatementLineRow.line_no == row.line_no)
    if not across:
        lines = lines.where(StatementLineRow.payer_code == row.payer_code)
    found = session.execute(
        lines.order_by(StatementLineRow.payer_code, StatementLineRow.settled_on).limit(MOST_LINES + 1)
    ).all()
    statement_lines = [
        {
            "payer_code": line.payer_code,
            "payer_reference": line.payer_reference,
            "settled_on": line.settled_on,
            "paid_fen": line.paid_fen,
            "statement_id": line.statement_id,
            "row_no": line.row_no,
            "source": statement.source,
            "media_type": statement.media_type,
            "received_at": statement.received_at,
        }
        for line, statement in found[:MOST_LINES]
    ]
    entries = select(LedgerEntryRow).where(
        LedgerEntryRow.claim_id == row.claim_id, LedgerEntryRow.line_no == row.line_no
    )
    if not across:
        entries = entries.where(LedgerEntryRow.payer_code == row.payer_code)
    ledger = list(session.scalars(entries.order_by(LedgerEntryRow.id)))
    return {
        "statement_lines": statement_lines,
        "more_lines": len(found) > MOST_LINES,
        "payers": _per_payer(statement_lines, ledger),
        "coordinations": _rounds(ledger, row),
    }


def _per_payer(lines: list[dict[str, Any]], ledger: list[LedgerEntryRow]) -> list[dict[str, Any]]:
    """Per payer: what it was expected to settle, what it settled and in how many entries."""
    expected: dict[str, int] = defaultdict(int)
    settled: dict[str, int] = defaultdict(int)
    entries: dict[str, int] = defaultdict(int)
    for entry in ledger:
        expected[entry.payer_code] += entry.amount_fen
    for line in lines:
        settled[line["payer_code"]] += line["paid_fen"]
        entries[line["payer_code"]] += 1
    return [
        {
            "payer_code": payer,
            "expected_fen": expected.get(payer),
            "settled_fen": settled[payer],
            "entries": entries[payer],
        }
        for payer in sorted(set(expected) | set(settled))
    ]


def _rounds(ledger: list[LedgerEntryRow], row: MismatchRow) -> list[dict[str, Any]]:
    """Per payer and coordination round, the expected figure after that round; the last one is
    current, the earlier ones were replaced (a stale item was settled on one of them)."""
    by_payer: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    running: dict[str, int] = defaultdict(int)
    for entry in ledger:
        running[entry.payer_code] += entry.amount_fen
        by_payer[entry.payer_code][entry.round] = {
            "payer_code": entry.payer_code,
            "round": entry.round,
            "expected_fen": running[entry.payer_code],
            "business_date": entry.business_date,
            "product_code": entry.product_code,
        }
    out = []
    for payer in sorted(by_payer):
        rounds = sorted(by_payer[payer].values(), key=lambda r: r["round"])
        for n, figure in enumerate(rounds):
            out.append(
                {
                    **figure,
                    "current": n == len(rounds) - 1,
                    "settled_on_it": payer == row.payer_code and figure["expected_fen"] == row.settled_fen,
                }
            )
    return out
