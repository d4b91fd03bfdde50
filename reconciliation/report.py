"""A run as its report says it: phase, progress, counts per kind, and per payer, clearing category
and period whether level 1's totals agreed and what level 2 found (``GET /v1/reconciliation/runs/{id}``,
the CLI's ``reconcile`` and the staff UI's runs page)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.tables import ReconciliationRunRow, ReconciliationTotalsRow

PHASES = ("pull", "totals", "results", "items", "done")


def run_view(
    run: ReconciliationRunRow, groups: list[ReconciliationTotalsRow] | None = None
) -> dict[str, Any]:
    """A run; with ``groups`` (its level-1 rows) the ``levels`` report as well."""
    view = {
        "run_id": run.id,
        "business_date": run.business_date.isoformat(),
        "status": run.status,
        "phase": run.phase,
        "progress": {"done": PHASES.index(run.phase), "of": len(PHASES) - 1},
        "counts": run.counts,
        "totals": run.totals,
        "runs": run.runs,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error": run.error,
    }
    if groups is not None:
        view["levels"] = [level_view(g) for g in groups]
    return view


def level_view(g: ReconciliationTotalsRow) -> dict[str, Any]:
    """One payer, category and period: level 1's figures on both sides, and what level 2 found."""
    return {
        "payer_code": g.payer_code,
        "category": g.category,
        "period": g.period,
        "source": g.source,
        "gateway": {"count": g.gateway_count, "paid_fen": g.gateway_fen, "billed_fen": g.gateway_billed_fen},
        "payer": {"count": g.payer_count, "paid_fen": g.payer_fen, "billed_fen": g.payer_billed_fen},
        "level_1": "agreed" if g.agreed else "differed",
        "level_2": g.line_level,
        "found": dict(g.found),
    }


def levels_of(session: Session, run_id: int) -> list[ReconciliationTotalsRow]:
    return list(
        session.scalars(
            select(ReconciliationTotalsRow)
            .where(ReconciliationTotalsRow.run_id == run_id)
            .order_by(
                ReconciliationTotalsRow.payer_code,
                ReconciliationTotalsRow.period,
                ReconciliationTotalsRow.category,
            )
        )
    )
