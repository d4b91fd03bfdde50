"""Administrator scorecards (issue 22 §1 item 4): per settling party (a tier-1 administrator, or
the payer itself) and service month of the claim: claims, the median and 95th percentile of
the payer's decision time, how often a decision was refused or a step dead-lettered (the
claims' flags of those kinds, per claim), and reconciliation's mismatches. Grouped queries with
window functions (SQLite and PostgreSQL alike); no rows are brought back one by one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, cast, extract, func, select
from sqlalchemy.orm import Session

from gateway.errors import Invalid
from gateway.storage.tables import ClaimRow, FlagRow, MismatchRow, PayerStepRow

EARLIEST, LATEST = 2000, 2100


def _seconds(session: Session) -> Any:
    """A step's decision time in seconds, in the database's own arithmetic."""
    step = PayerStepRow
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", step.decided_at - step.created_at)
    return (func.julianday(step.decided_at) - func.julianday(step.created_at)) * 86400.0


def scorecards(session: Session, year: int) -> list[dict[str, Any]]:
    if not EARLIEST <= year <= LATEST:
        raise Invalid([("/year", f"a year from {EARLIEST} to {LATEST}")])
    step = PayerStepRow
    party = func.coalesce(step.administrator_code, step.payer_code).label("party")
    month = cast(extract("month", ClaimRow.period_start), Integer).label("month")
    in_year = extract("year", ClaimRow.period_start) == year
    cards: dict[tuple[str, int], dict[str, Any]] = {}

    def card(key: tuple[str, int]) -> dict[str, Any]:
        return cards.setdefault(
            key,
            {
                "party": key[0],
                "month": f"{year:04d}-{key[1]:02d}",
                "claims": 0,
                "median_seconds": None,
                "p95_seconds": None,
                "refused": 0,
                "dead": 0,
                "mismatches": 0,
            },
        )

    for who, m, claims in session.execute(
        select(party, month, func.count(func.distinct(step.claim_id)))
        .join(ClaimRow, ClaimRow.claim_id == step.claim_id)
        .where(in_year)
        .group_by(party, month)
    ):
        card((who, int(m)))["claims"] = int(claims)
    seconds = _seconds(session).label("seconds")
    ranked = (
        select(
            party,
            month,
            seconds,
            func.row_number().over(partition_by=(party, month), order_by=seconds).label("rank"),
            func.count().over(partition_by=(party, month)).label("n"),
        )
        .join(ClaimRow, ClaimRow.claim_id == step.claim_id)
        .where(in_year, step.decided_at.is_not(None))
        .subquery()
    )
    median_rank, p95_rank = (ranked.c.n + 1) // 2, (ranked.c.n * 95 + 99) // 100  # integer ranks
    for who, m, secs, rank, median_at, p95_at in session.execute(
        select(ranked.c.party, ranked.c.month, ranked.c.seconds, ranked.c.rank, median_rank, p95_rank).where(
            (ranked.c.rank == median_rank) | (ranked.c.rank == p95_rank)
        )
    ):
        found = card((who, int(m)))
        if rank == median_at:
            found["median_seconds"] = float(secs)
        if rank == p95_at:
            found["p95_seconds"] = float(secs)
    # a flag names the payer; the step it is about names the administrator that settles for it
    flagged = (
        select(party, month, FlagRow.kind, func.count(func.distinct(FlagRow.id)))
        .join(step, (step.claim_id == FlagRow.claim_id) & (step.product_code == FlagRow.product_code))
        .join(ClaimRow, ClaimRow.claim_id == FlagRow.claim_id)
        .where(in_year, FlagRow.kind.in_(("decision_refused", "step_dead")))
        .group_by(party, month, FlagRow.kind)
    )
    for who, m, kind, n in session.execute(flagged):
        card((who, int(m)))["refused" if kind == "decision_refused" else "dead"] += int(n)
    mismatch_month = cast(extract("month", ClaimRow.period_start), Integer)
    for who, m, n in session.execute(
        select(MismatchRow.payer_code, mismatch_month, func.count())
        .join(ClaimRow, ClaimRow.claim_id == MismatchRow.claim_id)
        .where(in_year)
        .group_by(MismatchRow.payer_code, mismatch_month)
    ):
        card((who, int(m)))["mismatches"] = int(n)
    for found in cards.values():
        claims = found["claims"]
        found["refusal_rate"] = round(found["refused"] / claims * 100, 1) if claims else None
        found["dead_rate"] = round(found["dead"] / claims * 100, 1) if claims else None
    return sorted(cards.values(), key=lambda c: (c["party"], c["month"]))
